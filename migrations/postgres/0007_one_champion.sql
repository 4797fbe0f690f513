-- At most one champion per series, enforced by the database: two retrains of one series that
-- finish together (the API's and a scheduled one, or two replicas) cannot both promote theirs;
-- the second is registered as a challenger instead. Should such a race have left two champions
-- already, the newest stays champion and the others are retired.
UPDATE models SET status = 'retired'
WHERE status = 'champion'
  AND version < (SELECT MAX(m.version) FROM models m
                 WHERE m.series = models.series AND m.status = 'champion');
CREATE UNIQUE INDEX models_one_champion ON models (series) WHERE status = 'champion';
