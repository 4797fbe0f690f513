//! A series is one service's hourly demand; these types carry its rules so inner code never
//! checks them again.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, TimeZone as _, Utc};
use serde::{Deserialize, Serialize};

use super::{CalendarName, DomainError};

/// One service's hourly demand: `trips`, or `trips/lima-norte` for one region.
///
/// ```
/// use prescale::domain::SeriesId;
/// assert!(SeriesId::parse("trips/lima-norte").is_ok());
/// assert!(SeriesId::parse("Trips").is_err());
/// assert!(SeriesId::parse("trips//x").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SeriesId(String);

impl SeriesId {
    /// # Errors
    /// [`DomainError::SeriesId`] unless `raw` is 1-64 characters of `a-z0-9-` parts joined by `/`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-';
        if !raw.is_empty()
            && raw.len() <= 64
            && raw.split('/').all(|p| !p.is_empty() && p.bytes().all(ok))
        {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::SeriesId(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SeriesId {
    type Error = DomainError;
    fn try_from(raw: String) -> Result<Self, DomainError> {
        Self::parse(&raw)
    }
}

impl From<SeriesId> for String {
    fn from(id: SeriesId) -> Self {
        id.0
    }
}

impl FromStr for SeriesId {
    type Err = DomainError;
    fn from_str(raw: &str) -> Result<Self, DomainError> {
        Self::parse(raw)
    }
}

impl fmt::Display for SeriesId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The start of a UTC hour, as epoch seconds divisible by 3600.
///
/// ```
/// use prescale::domain::Hour;
/// assert!(Hour::from_unix(3600).is_ok());
/// assert!(Hour::from_unix(3601).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hour(i64);

/// JSON and TOML write an hour as ISO-8601 UTC (`2026-07-28T19:00:00Z`) and read that, any
/// ISO-8601 instant on an hour boundary, or epoch seconds.
impl Serialize for Hour {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Hour {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(i64),
            Text(String),
        }
        let secs = match Raw::deserialize(d)? {
            Raw::Secs(n) => n,
            Raw::Text(t) => DateTime::parse_from_rfc3339(&t)
                .map_err(|_| serde::de::Error::custom(format!("{t:?} is not an ISO-8601 instant")))?
                .timestamp(),
        };
        Hour::from_unix(secs).map_err(serde::de::Error::custom)
    }
}

impl Hour {
    pub const SECONDS: i64 = 3600;

    /// # Errors
    /// [`DomainError::Hour`] when `secs` is not on an hour boundary.
    pub fn from_unix(secs: i64) -> Result<Self, DomainError> {
        if secs.rem_euclid(Self::SECONDS) == 0 {
            Ok(Self(secs))
        } else {
            Err(DomainError::Hour(secs))
        }
    }

    /// The hour that contains `instant` (floor).
    pub fn containing(instant: DateTime<Utc>) -> Self {
        Self(instant.timestamp().div_euclid(Self::SECONDS) * Self::SECONDS)
    }

    pub fn unix(self) -> i64 {
        self.0
    }

    pub fn to_utc(self) -> DateTime<Utc> {
        Utc.timestamp_opt(self.0, 0)
            .single()
            .expect("an hour is a valid instant")
    }

    /// The hour `n` hours later (earlier for negative `n`).
    #[must_use]
    pub fn plus(self, n: i64) -> Self {
        Self(self.0 + n * Self::SECONDS)
    }

    /// Whole hours from `self` to `later` (negative if `later` is earlier).
    pub fn hours_until(self, later: Hour) -> i64 {
        (later.0 - self.0) / Self::SECONDS
    }
}

impl TryFrom<i64> for Hour {
    type Error = DomainError;
    fn try_from(secs: i64) -> Result<Self, DomainError> {
        Self::from_unix(secs)
    }
}

impl From<Hour> for i64 {
    fn from(hour: Hour) -> Self {
        hour.0
    }
}

impl fmt::Display for Hour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_utc().format("%Y-%m-%dT%H:00:00Z"))
    }
}

/// Demand in one hour: requests, trips, rentals. Finite and never negative.
///
/// ```
/// use prescale::domain::Demand;
/// assert_eq!(Demand::new(12.5).unwrap().get(), 12.5);
/// assert!(Demand::new(-1.0).is_err());
/// assert!(Demand::new(f64::NAN).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Demand(f64);

impl Demand {
    /// # Errors
    /// [`DomainError::Demand`] for NaN, infinities and negative values.
    pub fn new(value: f64) -> Result<Self, DomainError> {
        if value.is_finite() && value >= 0.0 {
            // -0.0 would print as "-0"; store it as 0.
            Ok(Self(value + 0.0))
        } else {
            Err(DomainError::Demand(value))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for Demand {
    type Error = DomainError;
    fn try_from(value: f64) -> Result<Self, DomainError> {
        Self::new(value)
    }
}

impl From<Demand> for f64 {
    fn from(d: Demand) -> Self {
        d.0
    }
}

/// An IANA time zone; local time (hour of day, weekday, holidays) is always taken in it.
///
/// ```
/// use prescale::domain::TimeZone;
/// assert_eq!(TimeZone::parse("America/Lima").unwrap().name(), "America/Lima");
/// assert!(TimeZone::parse("Mars/Olympus").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone(chrono_tz::Tz);

impl TimeZone {
    pub const LIMA: TimeZone = TimeZone(chrono_tz::America::Lima);

    /// # Errors
    /// [`DomainError::TimeZone`] for a name that is not in the IANA database.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        raw.parse::<chrono_tz::Tz>()
            .map(Self)
            .map_err(|_| DomainError::TimeZone(raw.to_owned()))
    }

    pub fn tz(self) -> chrono_tz::Tz {
        self.0
    }

    pub fn name(self) -> &'static str {
        self.0.name()
    }
}

impl Default for TimeZone {
    fn default() -> Self {
        Self::LIMA
    }
}

impl TryFrom<String> for TimeZone {
    type Error = DomainError;
    fn try_from(raw: String) -> Result<Self, DomainError> {
        Self::parse(&raw)
    }
}

impl From<TimeZone> for String {
    fn from(tz: TimeZone) -> Self {
        tz.name().to_owned()
    }
}

impl FromStr for TimeZone {
    type Err = DomainError;
    fn from_str(raw: &str) -> Result<Self, DomainError> {
        Self::parse(raw)
    }
}

impl fmt::Display for TimeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How close to the forecast counts as "right" for confidence: a fraction of the forecast.
///
/// ```
/// use prescale::domain::Tolerance;
/// assert!(Tolerance::new(0.2).is_ok());
/// assert!(Tolerance::new(0.0).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Tolerance(f64);

impl Tolerance {
    pub const DEFAULT: Tolerance = Tolerance(0.2);

    /// # Errors
    /// [`DomainError::Tolerance`] outside (0, 1].
    pub fn new(value: f64) -> Result<Self, DomainError> {
        if value > 0.0 && value <= 1.0 {
            Ok(Self(value))
        } else {
            Err(DomainError::Tolerance(value))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl Default for Tolerance {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<f64> for Tolerance {
    type Error = DomainError;
    fn try_from(value: f64) -> Result<Self, DomainError> {
        Self::new(value)
    }
}

impl From<Tolerance> for f64 {
    fn from(t: Tolerance) -> Self {
        t.0
    }
}

/// A series and the settings that give its hours a local meaning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub id: SeriesId,
    pub time_zone: TimeZone,
    pub calendar: CalendarName,
    /// What the demand counts (`requests`, `trips`, ...).
    pub unit: String,
    pub tolerance: Tolerance,
    /// The named location whose weather applies; the series id unless set.
    pub weather_location: String,
    pub created_at: DateTime<Utc>,
}

/// One hour's demand of one series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    pub hour: Hour,
    pub demand: Demand,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_id_with_uppercase_or_empty_parts_is_rejected() {
        for bad in [
            "",
            "Trips",
            "trips/",
            "/trips",
            "a b",
            "trips_x",
            &"a".repeat(65),
        ] {
            assert!(SeriesId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        for good in ["trips", "trips/lima-norte", "a1/b2/c-3", &"a".repeat(64)] {
            assert!(SeriesId::parse(good).is_ok(), "{good:?} should be accepted");
        }
    }

    #[test]
    fn series_ids_go_through_parse_when_deserialized() {
        assert!(serde_json::from_str::<SeriesId>("\"Bad Id\"").is_err());
        let id: SeriesId = serde_json::from_str("\"matching\"").unwrap();
        assert_eq!(id.as_str(), "matching");
    }

    #[test]
    fn an_hour_floors_an_instant_and_rejects_unaligned_seconds() {
        let t = DateTime::parse_from_rfc3339("2026-07-28T14:59:59-05:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(Hour::containing(t).to_string(), "2026-07-28T19:00:00Z");
        assert!(Hour::from_unix(-3600).is_ok());
        assert!(Hour::from_unix(-1).is_err());
        assert_eq!(
            Hour::from_unix(0)
                .unwrap()
                .plus(3)
                .hours_until(Hour::from_unix(0).unwrap()),
            -3
        );
    }

    #[test]
    fn hours_are_written_as_iso_utc_and_read_from_iso_or_epoch_seconds() {
        let h = Hour::from_unix(1_785_207_600).unwrap();
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            "\"2026-07-28T03:00:00Z\""
        );
        assert_eq!(
            serde_json::from_str::<Hour>("\"2026-07-27T22:00:00-05:00\"").unwrap(),
            h
        );
        assert_eq!(serde_json::from_str::<Hour>("1785207600").unwrap(), h);
        assert!(serde_json::from_str::<Hour>("\"2026-07-28T03:30:00Z\"").is_err());
    }

    #[test]
    fn demand_rejects_nan_infinity_and_negatives_and_normalises_negative_zero() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.5] {
            assert!(Demand::new(bad).is_err());
        }
        assert!(Demand::new(-0.0).unwrap().get().is_sign_positive());
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(TimeZone::default().name(), "America/Lima");
        assert!(TimeZone::parse("Europe/Paris").is_ok());
        assert!(TimeZone::parse("GMT+5").is_err());
    }
}
