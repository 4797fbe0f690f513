-- prescale foundation schema (PostgreSQL). Times are UTC epoch seconds; dates are 'YYYY-MM-DD'.
-- The SQLite twin is migrations/sqlite/0001_foundation.sql: keep them in step.

CREATE TABLE series (
    id               TEXT PRIMARY KEY,
    time_zone        TEXT NOT NULL,
    calendar         TEXT NOT NULL,
    unit             TEXT NOT NULL,
    tolerance        DOUBLE PRECISION NOT NULL,
    weather_location TEXT NOT NULL,
    created_at       BIGINT NOT NULL
);

CREATE TABLE observations (
    series TEXT NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    hour   BIGINT NOT NULL,
    demand DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (series, hour)
);

-- Hourly weather per named location (a series' own id unless it names another location), one
-- row per hour: `vars` is a JSON object of the hour's variables named as in the import CSV,
-- e.g. {"temp_c": 18.5, "precip_mm": 0.2, "weather": 2}. A row per variable would triple the rows
-- of a typical file and its import time. kind 'observed' has issued_at = hour; kind 'forecast'
-- has the time the forecast was issued.
CREATE TABLE weather (
    location  TEXT NOT NULL,
    hour      BIGINT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('observed', 'forecast')),
    issued_at BIGINT NOT NULL,
    vars      TEXT NOT NULL,
    PRIMARY KEY (location, hour, kind, issued_at)
);

CREATE TABLE events (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    venue               TEXT NOT NULL,
    latitude            DOUBLE PRECISION,
    longitude           DOUBLE PRECISION,
    starts_at           BIGINT NOT NULL,
    ends_at             BIGINT NOT NULL,
    expected_attendance BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL
);

-- The series an event moves; a series may be registered after its events.
CREATE TABLE event_series (
    event  TEXT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    series TEXT NOT NULL,
    PRIMARY KEY (event, series)
);
CREATE INDEX event_series_by_series ON event_series (series);

-- Holidays of one series on top of (or, with calendar 'none', instead of) its built-in calendar.
CREATE TABLE custom_holidays (
    series TEXT NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    day    TEXT NOT NULL,
    name   TEXT NOT NULL,
    source TEXT NOT NULL,
    PRIMARY KEY (series, day)
);

-- One row per import that changed something: what came in and what it did.
CREATE TABLE imports (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    series      TEXT NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    rows_read   BIGINT NOT NULL,
    hours       BIGINT NOT NULL,
    inserted    BIGINT NOT NULL,
    updated     BIGINT NOT NULL,
    first_hour  BIGINT NOT NULL,
    last_hour   BIGINT NOT NULL,
    imported_at BIGINT NOT NULL
);
