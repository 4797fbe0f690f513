-- Every forecast published by the serving loop, kept so that accuracy can be scored later.
-- issued_at is the hour the forecast was published for (its first target hour), lead counts
-- from 1 at that hour.
CREATE TABLE published (
    series        TEXT NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    issued_at     INTEGER NOT NULL,
    model_version INTEGER NOT NULL,
    hour          INTEGER NOT NULL,
    lead          INTEGER NOT NULL,
    expected      REAL NOT NULL,
    lower80       REAL NOT NULL,
    upper80       REAL NOT NULL,
    lower95       REAL NOT NULL,
    upper95       REAL NOT NULL,
    confidence    REAL NOT NULL,
    PRIMARY KEY (series, issued_at, hour)
);
CREATE INDEX published_by_hour ON published (series, hour);
