-- At most one champion per series, enforced by the database: two retrains of one series that
-- finish together (the API's and a scheduled one, or two replicas) cannot both promote theirs;
-- the second is registered as a challenger instead.
CREATE UNIQUE INDEX models_one_champion ON models (series) WHERE status = 'champion';
