-- Versioned models per series (artifacts in models/<series>/<version>.json). status is one of
-- champion (the one in service; at most one per series), challenger (trained, not promoted, with
-- the reason), retired (a former champion).
CREATE TABLE models (
    series         TEXT NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    version        INTEGER NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('champion', 'challenger', 'retired')),
    chosen         TEXT NOT NULL,
    path           TEXT NOT NULL,
    train_start    INTEGER NOT NULL,
    train_end      INTEGER NOT NULL,
    validation_mae REAL,
    compared_mae   REAL,
    champion_mae   REAL,
    reason         TEXT NOT NULL,
    trained_at     INTEGER NOT NULL,
    PRIMARY KEY (series, version)
);
