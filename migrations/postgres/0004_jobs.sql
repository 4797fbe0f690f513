-- Background jobs (training runs started by the API or the retraining schedule).
CREATE TABLE jobs (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT NOT NULL,
    series      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    created_at  BIGINT NOT NULL,
    finished_at BIGINT,
    seconds     DOUBLE PRECISION,
    outcome     TEXT,
    error       TEXT
);
