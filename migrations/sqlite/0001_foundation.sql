-- prescale foundation schema (SQLite). Times are UTC epoch seconds; dates are 'YYYY-MM-DD'.
-- The PostgreSQL twin is migrations/postgres/0001_foundation.sql: keep them in step.

CREATE TABLE series (
    id               TEXT PRIMARY KEY,
    time_zone        TEXT NOT NULL,
    calendar         TEXT NOT NULL,
    unit             TEXT NOT NULL,
    tolerance        REAL NOT NULL,
    weather_location TEXT NOT NULL,
    created_at       INTEGER NOT NULL
);

CREATE TABLE observations (
    series TEXT NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    hour   INTEGER NOT NULL,
    demand REAL NOT NULL,
    PRIMARY KEY (series, hour)
) WITHOUT ROWID;

-- Hourly weather per named location (a series' own id unless it names another location), one
-- row per hour: `vars` is a JSON object of the hour's variables named as in the import CSV,
-- e.g. {"temp_c": 18.5, "precip_mm": 0.2, "weather": 2}. A row per variable would triple the rows
-- of a typical file and its import time. kind 'observed' has issued_at = hour; kind 'forecast'
-- has the time the forecast was issued.
CREATE TABLE weather (
    location  TEXT NOT NULL,
    hour      INTEGER NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('observed', 'forecast')),
    issued_at INTEGER NOT NULL,
    vars      TEXT NOT NULL,
    PRIMARY KEY (location, hour, kind, issued_at)
) WITHOUT ROWID;

CREATE TABLE events (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    venue               TEXT NOT NULL,
    latitude            REAL,
    longitude           REAL,
    starts_at           INTEGER NOT NULL,
    ends_at             INTEGER NOT NULL,
    expected_attendance INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
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
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    series      TEXT NOT NULL REFERENCES series (id) ON DELETE CASCADE,
    source      TEXT NOT NULL,
    rows_read   INTEGER NOT NULL,
    hours       INTEGER NOT NULL,
    inserted    INTEGER NOT NULL,
    updated     INTEGER NOT NULL,
    first_hour  INTEGER NOT NULL,
    last_hour   INTEGER NOT NULL,
    imported_at INTEGER NOT NULL
);
