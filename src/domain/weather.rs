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
