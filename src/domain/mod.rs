//! The values prescale reasons about, each with its rule in its type: series, hours, demand,
//! time zones, holiday calendars, weather and special events. Pure: no I/O, no clock.

pub mod calendar;
mod easter;
pub mod events;
mod holidays;
pub mod series;
pub mod weather;

pub use calendar::{Calendar, CalendarName, DayKind, Holiday};
pub(crate) use easter::easter_sunday;
pub use events::{EventId, SpecialEvent};
pub use series::{Demand, Hour, Observation, Series, SeriesId, TimeZone, Tolerance};
pub use weather::{WeatherHour, WeatherKind, WeatherVariable, is_hourly_precipitation};

/// A value that broke its type's rule; the message names the value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    #[error(
        "invalid series id {0:?}: use 1-64 characters a-z, 0-9 and '-', with '/' between parts (e.g. trips/lima-norte)"
    )]
    SeriesId(String),
    #[error("invalid demand {0}: demand must be a finite number >= 0")]
    Demand(f64),
    #[error("invalid hour {0}: an hour is a whole UTC hour (epoch seconds divisible by 3600)")]
    Hour(i64),
    #[error("unknown time zone {0:?}: use an IANA name such as America/Lima")]
    TimeZone(String),
    #[error("unknown holiday calendar {0:?}: use PE, US or none")]
    Calendar(String),
    #[error("invalid tolerance {0}: use a fraction in (0, 1], e.g. 0.2 for 20%")]
    Tolerance(f64),
    #[error("invalid event id {0:?}: use 1-64 characters a-z, A-Z, 0-9, '-', '_' or '.'")]
    EventId(String),
    #[error("invalid event {id}: {problem}")]
    Event { id: String, problem: String },
    #[error("unknown weather kind {0:?}: use observed or forecast")]
    WeatherKind(String),
    #[error("invalid weather variable {0:?}: use 1-64 characters a-z, 0-9 and '_'")]
    WeatherVariable(String),
    #[error(
        "field {0}: contains a NUL character (U+0000), which no name needs and PostgreSQL cannot store"
    )]
    Nul(String),
}

/// Checks a free-text value that will be stored or looked up: no NUL character. SQLite would
/// keep one, PostgreSQL refuses it; either way it is a client's mistake, told as such.
///
/// # Errors
/// [`DomainError::Nul`] naming `field`.
pub fn check_text(field: &str, value: &str) -> Result<(), DomainError> {
    if value.contains('\0') {
        Err(DomainError::Nul(field.to_owned()))
    } else {
        Ok(())
    }
}
