-- Background jobs (training runs started by the API or the retraining schedule).
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    series      TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    created_at  INTEGER NOT NULL,
    finished_at INTEGER,
    seconds     REAL,
    outcome     TEXT,
    error       TEXT
);
