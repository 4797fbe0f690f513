//! Hourly weather at a named location: observed, or forecast with the time it was issued.
//! Variables are named by the CSV column they came from (`temp_c`, `precip_mm`, `weather`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{DomainError, Hour};

/// Observed weather, or a forecast issued at some time before the hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeatherKind {
    Observed,
    /// Issued at this hour (forecasts of later hours).
    Forecast {
        issued: Hour,
    },
}

impl WeatherKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Observed => "observed",
            Self::Forecast { .. } => "forecast",
        }
    }
}

/// The name of a weather variable: lower-case letters, digits and `_`.
///
/// ```
/// use prescale::domain::WeatherVariable;
/// assert!(WeatherVariable::parse("temp_c").is_ok());
/// assert!(WeatherVariable::parse("Temp C").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WeatherVariable(String);

impl WeatherVariable {
    /// # Errors
    /// [`DomainError::WeatherVariable`] unless 1-64 characters of `a-z0-9_`.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let ok = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_';
        if !raw.is_empty() && raw.len() <= 64 && raw.bytes().all(ok) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(DomainError::WeatherVariable(raw.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Precipitation adds up over an hour; temperature and the rest are averaged.
    pub fn sums_over_time(&self) -> bool {
        self.0.starts_with("precip") || self.0.starts_with("rain") || self.0.starts_with("snowfall")
    }
}

/// Whether a weather column or variable is an hour's precipitation: `precip*` or `rain*`
/// (whatever the case), but not a sum over the last 6 or 24 hours (`precip_6h_mm`).
/// Reports sum it by day; confidence reads it as rain (see `forecast::confidence::Regime`).
pub fn is_hourly_precipitation(name: &str) -> bool {
    let starts = |p: &str| {
        name.get(..p.len())
            .is_some_and(|head| head.eq_ignore_ascii_case(p))
    };
    let holds = |s: &[u8]| {
        name.as_bytes()
            .windows(s.len())
            .any(|w| w.eq_ignore_ascii_case(s))
    };
    (starts("precip") || starts("rain")) && !holds(b"6h") && !holds(b"24h")
}

impl TryFrom<String> for WeatherVariable {
    type Error = DomainError;
    fn try_from(raw: String) -> Result<Self, DomainError> {
        Self::parse(&raw)
    }
}

impl From<WeatherVariable> for String {
    fn from(v: WeatherVariable) -> Self {
        v.0
    }
}

impl fmt::Display for WeatherVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The weather of one hour: a value per variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeatherHour {
    pub hour: Hour,
    pub values: BTreeMap<WeatherVariable, f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hourly_precipitation_is_named_precip_or_rain_and_is_not_a_sum_of_hours() {
        for yes in ["precip_mm", "Precip_MM", "rain_mm", "precipitation"] {
            assert!(is_hourly_precipitation(yes), "{yes}");
        }
        for no in [
            "precip_6h_mm",
            "precip_24h_mm",
            "RAIN_24H",
            "temp_c",
            "snow_depth_cm",
            "pr",
        ] {
            assert!(!is_hourly_precipitation(no), "{no}");
        }
    }
}
