-- Versioned models per series (artifacts in models/<series>/<version>.json). status is one of
-- champion (the one in service; at most one per series), challenger (trained, not promoted, with
-- the reason), retired (a former champion).
CREATE TABLE models (
    series         TEXT NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    version        BIGINT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('champion', 'challenger', 'retired')),
    chosen         TEXT NOT NULL,
    path           TEXT NOT NULL,
    train_start    BIGINT NOT NULL,
    train_end      BIGINT NOT NULL,
    validation_mae DOUBLE PRECISION,
    compared_mae   DOUBLE PRECISION,
    champion_mae   DOUBLE PRECISION,
    reason         TEXT NOT NULL,
    trained_at     BIGINT NOT NULL,
    PRIMARY KEY (series, version)
);
