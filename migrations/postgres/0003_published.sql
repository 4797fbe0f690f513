-- Every forecast published by the serving loop, kept so that accuracy can be scored later.
-- issued_at is the hour the forecast was published for (its first target hour), lead counts
-- from 1 at that hour.
CREATE TABLE published (
    series        TEXT NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    issued_at     BIGINT NOT NULL,
    model_version BIGINT NOT NULL,
    hour          BIGINT NOT NULL,
    lead          BIGINT NOT NULL,
    expected      DOUBLE PRECISION NOT NULL,
    lower80       DOUBLE PRECISION NOT NULL,
    upper80       DOUBLE PRECISION NOT NULL,
    lower95       DOUBLE PRECISION NOT NULL,
    upper95       DOUBLE PRECISION NOT NULL,
    confidence    DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (series, issued_at, hour)
);
CREATE INDEX published_by_hour ON published (series, hour);
