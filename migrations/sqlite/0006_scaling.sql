-- Scaling: the recommendations each cycle published per target, every action attempted on a
-- target (the audit trail that rollback reads), partial-hour readings as they arrived (the
-- forecast-miss check), and a series' confidence penalty after a miss (until it is retrained).
CREATE TABLE recommendations (
    target     TEXT NOT NULL,
    series     TEXT NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    hour       INTEGER NOT NULL,
    apply_at   INTEGER NOT NULL,
    needed     INTEGER NOT NULL,
    value      INTEGER NOT NULL,
    confidence REAL NOT NULL,
    decision   TEXT NOT NULL,
    reason     TEXT NOT NULL,
    PRIMARY KEY (target, issued_at, hour)
);
CREATE INDEX recommendations_by_series ON recommendations (series, issued_at);

CREATE TABLE actions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    target      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    series      TEXT NOT NULL,
    at_ms       INTEGER NOT NULL,
    cause       TEXT NOT NULL,
    hour        INTEGER,
    confidence  REAL,
    value_before TEXT,
    value_after TEXT NOT NULL,
    request     TEXT,
    status      TEXT NOT NULL,
    http_status INTEGER,
    error       TEXT,
    rollback_of INTEGER
);
CREATE INDEX actions_by_target ON actions (target, id);

CREATE TABLE partial_readings (
    series TEXT NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    hour   INTEGER NOT NULL,
    at_ms  INTEGER NOT NULL,
    demand REAL NOT NULL,
    PRIMARY KEY (series, hour, at_ms)
);

CREATE TABLE confidence_penalties (
    series   TEXT PRIMARY KEY REFERENCES series (id) ON DELETE CASCADE,
    since_ms INTEGER NOT NULL,
    -- The newest model version at the miss: a newer one lifts the penalty.
    since_version INTEGER NOT NULL,
    -- The hour of the miss: the safety net responds once per series and hour.
    miss_hour INTEGER NOT NULL,
    factor   REAL NOT NULL,
    reason   TEXT NOT NULL
);
