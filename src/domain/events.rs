//! Special events (a stadium concert, a football match): when and where they happen, how many
//! people are expected, and which series they move.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{DomainError, Hour, SeriesId};

/// An event's id, chosen by whoever registers it (`wc98-01`, `estadio-nacional-2026-03-14`).
///
/// ```
/// use prescale::domain::EventId;
/// assert!(EventId::parse("wc98-01").is_ok());
/// assert!(EventId::parse("two words").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventId(String);

impl EventId {
    /// # Errors
    /// [`DomainError::EventId`] unless 1-64 characters of `A-Za-z0-9-_.`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if !raw.is_empty() && raw.len() <= 64 && raw.bytes().all(ok) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::EventId(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EventId {
    type Error = DomainError;
    fn try_from(raw: String) -> Result<Self, DomainError> {
        Self::parse(&raw)
    }
}

impl From<EventId> for String {
    fn from(id: EventId) -> Self {
        id.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A special event that brings extra demand around its time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecialEvent {
    pub id: EventId,
    pub name: String,
    pub venue: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub expected_attendance: u32,
    /// The series whose demand the event moves.
    pub series: Vec<SeriesId>,
}

impl SpecialEvent {
    /// The hours it touches: from the hour it starts in to the hour of its last second.
    pub fn hours(&self) -> (Hour, Hour) {
        let start = Hour::containing(self.starts_at);
        let end = Hour::containing(self.ends_at - chrono::Duration::seconds(1)).max(start);
        (start, end)
    }

    /// Whether any of it falls on the local date `day` of `tz`.
    pub fn on_local_date(&self, tz: chrono_tz::Tz, day: NaiveDate) -> bool {
        self.starts_at.with_timezone(&tz).date_naive() <= day
            && day <= self.ends_at.with_timezone(&tz).date_naive()
    }

    /// Checks the rules that span fields: it ends after it starts, coordinates are on Earth.
    ///
    /// # Errors
    /// [`DomainError::Event`] naming the event and the broken rule.
    pub fn validate(self) -> Result<Self, DomainError> {
        let fail = |problem: String| {
            Err(DomainError::Event {
                id: self.id.to_string(),
                problem,
            })
        };
        if self.ends_at <= self.starts_at {
            return fail(format!(
                "ends_at {} is not after starts_at {}",
                self.ends_at, self.starts_at
            ));
        }
        if let Some(lat) = self.latitude.filter(|l| !(-90.0..=90.0).contains(l)) {
            return fail(format!("latitude {lat} is outside [-90, 90]"));
        }
        if let Some(lon) = self.longitude.filter(|l| !(-180.0..=180.0).contains(l)) {
            return fail(format!("longitude {lon} is outside [-180, 180]"));
        }
        if self.name.trim().is_empty() {
            return fail("name is empty".to_owned());
        }
        for (field, text) in [("name", &self.name), ("venue", &self.venue)] {
            if let Err(e) = super::check_text(field, text) {
                return fail(e.to_string());
            }
        }
        Ok(self)
    }
}
