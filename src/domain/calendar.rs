//! Holiday calendars and local time: which local day an hour falls on, and whether that day
//! is a holiday, the day before or after one, or a bridge day. The only place where local
//! time is computed from an [`Hour`].

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Weekday};
use serde::{Deserialize, Serialize};

use super::{DomainError, Hour, TimeZone, holidays};

/// A built-in holiday calendar, or none.
///
/// ```
/// use prescale::domain::CalendarName;
/// assert_eq!(CalendarName::parse("pe").unwrap(), CalendarName::Pe);
/// assert!(CalendarName::parse("FR").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum CalendarName {
    /// Peru's national public holidays.
    Pe,
    /// US federal holidays, with observed days.
    Us,
    /// No built-in holidays: only the series' custom ones.
    None,
}

impl CalendarName {
    /// # Errors
    /// [`DomainError::Calendar`] for anything but `PE`, `US` or `none` (any case).
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw.to_ascii_lowercase().as_str() {
            "pe" => Ok(Self::Pe),
            "us" => Ok(Self::Us),
            "none" => Ok(Self::None),
            _ => Err(DomainError::Calendar(raw.to_owned())),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pe => "PE",
            Self::Us => "US",
            Self::None => "none",
        }
    }

    /// The built-in holidays of `year`, sorted by date.
    pub fn holidays(self, year: i32) -> Vec<Holiday> {
        let days = match self {
            Self::Pe => holidays::peru(year),
            Self::Us => holidays::united_states(year),
            Self::None => Vec::new(),
        };
        days.into_iter()
            .map(|(date, name)| Holiday {
                date,
                name: name.to_owned(),
            })
            .collect()
    }
}

impl TryFrom<String> for CalendarName {
    type Error = DomainError;
    fn try_from(raw: String) -> Result<Self, DomainError> {
        Self::parse(&raw)
    }
}

impl From<CalendarName> for String {
    fn from(c: CalendarName) -> Self {
        c.as_str().to_owned()
    }
}

impl FromStr for CalendarName {
    type Err = DomainError;
    fn from_str(raw: &str) -> Result<Self, DomainError> {
        Self::parse(raw)
    }
}

impl fmt::Display for CalendarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One holiday: a local calendar date and its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: String,
}

/// What kind of day a local date is, for demand that follows the calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct DayKind {
    pub holiday: bool,
    pub day_before_holiday: bool,
    pub day_after_holiday: bool,
    /// A working day squeezed between a holiday and a weekend (or another holiday), which
    /// many people take off: Monday before a Tuesday holiday, Friday after a Thursday one.
    pub bridge: bool,
    pub weekend: bool,
}

/// A series' calendar: a time zone, a built-in holiday table and the series' custom holidays,
/// which are added to the built-in ones (use [`CalendarName::None`] to replace them).
#[derive(Debug, Clone)]
pub struct Calendar {
    time_zone: TimeZone,
    name: CalendarName,
    days: BTreeMap<NaiveDate, String>,
}

/// Built-in holidays are expanded once for these years; other years are computed on demand.
const EXPANDED_YEARS: std::ops::RangeInclusive<i32> = 1970..=2100;

impl Calendar {
    pub fn new(
        time_zone: TimeZone,
        name: CalendarName,
        custom: impl IntoIterator<Item = Holiday>,
    ) -> Self {
        let mut days = BTreeMap::new();
        for year in EXPANDED_YEARS {
            for h in name.holidays(year) {
                days.entry(h.date).or_insert(h.name);
            }
        }
        for h in custom {
            days.insert(h.date, h.name);
        }
        Self {
            time_zone,
            name,
            days,
        }
    }

    pub fn time_zone(&self) -> TimeZone {
        self.time_zone
    }

    pub fn name(&self) -> CalendarName {
        self.name
    }

    /// The local wall-clock start of `hour` in this calendar's time zone.
    pub fn local(&self, hour: Hour) -> NaiveDateTime {
        hour.to_utc()
            .with_timezone(&self.time_zone.tz())
            .naive_local()
    }

    /// The holiday on `date`, if any (custom holidays win over built-in names).
    pub fn holiday(&self, date: NaiveDate) -> Option<&str> {
        if EXPANDED_YEARS.contains(&date.year()) {
            return self.days.get(&date).map(String::as_str);
        }
        self.days.get(&date).map(String::as_str).or_else(|| {
            // Outside the expanded years: look the built-in table up directly.
            self.name
                .holidays(date.year())
                .into_iter()
                .find(|h| h.date == date)
                .map(|_| "holiday")
        })
    }

    pub fn is_holiday(&self, date: NaiveDate) -> bool {
        self.holiday(date).is_some()
    }

    fn is_off(&self, date: NaiveDate) -> bool {
        is_weekend(date) || self.is_holiday(date)
    }

    /// Holiday, day-before, day-after, bridge and weekend flags of a local date.
    pub fn day_kind(&self, date: NaiveDate) -> DayKind {
        let (prev, next) = (date - Duration::days(1), date + Duration::days(1));
        let holiday = self.is_holiday(date);
        let weekend = is_weekend(date);
        let bridge = !holiday
            && !weekend
            && self.is_off(prev)
            && self.is_off(next)
            && (self.is_holiday(prev) || self.is_holiday(next));
        DayKind {
            holiday,
            day_before_holiday: self.is_holiday(next),
            day_after_holiday: self.is_holiday(prev),
            bridge,
            weekend,
        }
    }

    /// The day kind of the local date that `hour` starts on.
    pub fn day_kind_at(&self, hour: Hour) -> DayKind {
        self.day_kind(self.local(hour).date())
    }

    /// All holidays of a calendar year (built-in and custom), sorted by date.
    pub fn holidays_in(&self, year: i32) -> Vec<Holiday> {
        let (Some(first), Some(last)) = (
            NaiveDate::from_ymd_opt(year, 1, 1),
            NaiveDate::from_ymd_opt(year, 12, 31),
        ) else {
            return Vec::new();
        };
        if !EXPANDED_YEARS.contains(&year) {
            let mut all = self.name.holidays(year);
            all.extend(self.days.range(first..=last).map(|(d, n)| Holiday {
                date: *d,
                name: n.clone(),
            }));
            all.sort();
            all.dedup_by(|a, b| a.date == b.date);
            return all;
        }
        self.days
            .range(first..=last)
            .map(|(d, n)| Holiday {
                date: *d,
                name: n.clone(),
            })
            .collect()
    }
}

fn is_weekend(date: NaiveDate) -> bool {
    matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn dates(name: CalendarName, year: i32) -> Vec<String> {
        name.holidays(year)
            .iter()
            .map(|h| h.date.to_string())
            .collect()
    }

    #[test]
    fn peru_matches_the_official_calendar_in_the_reference_years() {
        let table: &[(i32, &[&str])] = &[
            (
                2000,
                &[
                    "01-01", "04-20", "04-21", "05-01", "06-29", "07-28", "07-29", "08-30",
                    "10-08", "11-01", "12-08", "12-25",
                ],
            ),
            (
                2015,
                &[
                    "01-01", "04-02", "04-03", "05-01", "06-29", "07-28", "07-29", "08-30",
                    "10-08", "11-01", "12-08", "12-25",
                ],
            ),
            (
                2022,
                &[
                    "01-01", "04-14", "04-15", "05-01", "06-29", "07-28", "07-29", "08-06",
                    "08-30", "10-08", "11-01", "12-08", "12-09", "12-25",
                ],
            ),
            (
                2023,
                &[
                    "01-01", "04-06", "04-07", "05-01", "06-29", "07-23", "07-28", "07-29",
                    "08-06", "08-30", "10-08", "11-01", "12-08", "12-09", "12-25",
                ],
            ),
            (
                2024,
                &[
                    "01-01", "03-28", "03-29", "05-01", "06-07", "06-29", "07-23", "07-28",
                    "07-29", "08-06", "08-30", "10-08", "11-01", "12-08", "12-09", "12-25",
                ],
            ),
            (
                2026,
                &[
                    "01-01", "04-02", "04-03", "05-01", "06-07", "06-29", "07-23", "07-28",
                    "07-29", "08-06", "08-30", "10-08", "11-01", "12-08", "12-09", "12-25",
                ],
            ),
            (
                2035,
                &[
                    "01-01", "03-22", "03-23", "05-01", "06-07", "06-29", "07-23", "07-28",
                    "07-29", "08-06", "08-30", "10-08", "11-01", "12-08", "12-09", "12-25",
                ],
            ),
        ];
        for (year, expected) in table {
            let expected: Vec<String> = expected.iter().map(|md| format!("{year}-{md}")).collect();
            assert_eq!(dates(CalendarName::Pe, *year), expected, "PE {year}");
        }
    }

    #[test]
    fn us_federal_holidays_include_observed_days_in_the_reference_years() {
        let table: &[(i32, &[&str])] = &[
            (
                2000,
                &[
                    "01-01", "01-17", "02-21", "05-29", "07-04", "09-04", "10-09", "11-10",
                    "11-11", "11-23", "12-25",
                ],
            ),
            (
                2015,
                &[
                    "01-01", "01-19", "02-16", "05-25", "07-03", "07-04", "09-07", "10-12",
                    "11-11", "11-26", "12-25",
                ],
            ),
            (
                2021,
                &[
                    "01-01", "01-18", "02-15", "05-31", "06-18", "06-19", "07-04", "07-05",
                    "09-06", "10-11", "11-11", "11-25", "12-24", "12-25", "12-31",
                ],
            ),
            (
                2022,
                &[
                    "01-01", "01-17", "02-21", "05-30", "06-19", "06-20", "07-04", "09-05",
                    "10-10", "11-11", "11-24", "12-25", "12-26",
                ],
            ),
            (
                2024,
                &[
                    "01-01", "01-15", "02-19", "05-27", "06-19", "07-04", "09-02", "10-14",
                    "11-11", "11-28", "12-25",
                ],
            ),
            (
                2026,
                &[
                    "01-01", "01-19", "02-16", "05-25", "06-19", "07-03", "07-04", "09-07",
                    "10-12", "11-11", "11-26", "12-25",
                ],
            ),
            (
                2035,
                &[
                    "01-01", "01-15", "02-19", "05-28", "06-19", "07-04", "09-03", "10-08",
                    "11-11", "11-12", "11-22", "12-25",
                ],
            ),
        ];
        for (year, expected) in table {
            let expected: Vec<String> = expected.iter().map(|md| format!("{year}-{md}")).collect();
            assert_eq!(dates(CalendarName::Us, *year), expected, "US {year}");
        }
    }

    #[test]
    fn easter_based_days_fall_on_the_thursday_and_friday_before_easter_sunday_every_year() {
        for year in 2000..=2035 {
            let easter = crate::domain::easter::easter_sunday(year);
            let hs = CalendarName::Pe.holidays(year);
            let find = |name: &str| hs.iter().find(|h| h.name == name).unwrap().date;
            assert_eq!(find("Jueves Santo").weekday(), Weekday::Thu);
            assert_eq!(find("Viernes Santo").weekday(), Weekday::Fri);
            assert_eq!(easter - find("Jueves Santo"), Duration::days(3), "{year}");
            assert_eq!(easter - find("Viernes Santo"), Duration::days(2), "{year}");
        }
    }

    #[test]
    fn peru_days_added_by_law_apply_only_from_their_first_year() {
        for (md, since) in [
            ("08-06", 2022),
            ("12-09", 2022),
            ("07-23", 2023),
            ("06-07", 2024),
        ] {
            for year in 2000..=2035 {
                let date = d(&format!("{year}-{md}"));
                let cal = Calendar::new(TimeZone::LIMA, CalendarName::Pe, []);
                assert_eq!(cal.is_holiday(date), year >= since, "{date}");
            }
        }
    }

    #[test]
    fn every_us_observed_day_is_a_weekday_next_to_its_weekend_holiday() {
        for year in 2000..=2035 {
            for h in CalendarName::Us
                .holidays(year)
                .iter()
                .filter(|h| h.name.ends_with("(observed)"))
            {
                assert!(!is_weekend(h.date), "{h:?}");
                let next_or_prev_is_weekend = is_weekend(h.date + Duration::days(1))
                    || is_weekend(h.date - Duration::days(1));
                assert!(next_or_prev_is_weekend, "{h:?}");
            }
        }
    }

    #[test]
    fn a_monday_before_a_tuesday_holiday_is_a_bridge_day() {
        // 2024-10-08 (Combate de Angamos) is a Tuesday.
        let cal = Calendar::new(TimeZone::LIMA, CalendarName::Pe, []);
        let monday = cal.day_kind(d("2024-10-07"));
        assert!(monday.bridge && monday.day_before_holiday && !monday.holiday);
        let tuesday = cal.day_kind(d("2024-10-08"));
        assert!(tuesday.holiday && !tuesday.bridge);
        assert!(cal.day_kind(d("2024-10-09")).day_after_holiday);
        assert!(!cal.day_kind(d("2024-10-10")).bridge);
    }

    #[test]
    fn custom_holidays_add_to_the_built_in_ones_and_none_replaces_them() {
        let concert = Holiday {
            date: d("2026-03-14"),
            name: "Concierto".into(),
        };
        let pe = Calendar::new(TimeZone::LIMA, CalendarName::Pe, [concert.clone()]);
        assert_eq!(pe.holiday(d("2026-03-14")), Some("Concierto"));
        assert!(pe.is_holiday(d("2026-12-25")));
        let only = Calendar::new(TimeZone::LIMA, CalendarName::None, [concert]);
        assert!(only.is_holiday(d("2026-03-14")));
        assert!(!only.is_holiday(d("2026-12-25")));
        assert_eq!(only.holidays_in(2026).len(), 1);
    }

    #[test]
    fn local_time_in_lima_is_five_hours_behind_utc() {
        let cal = Calendar::new(TimeZone::LIMA, CalendarName::Pe, []);
        // 2026-07-28 03:00 UTC is 2026-07-27 22:00 in Lima: the evening before Fiestas Patrias.
        let hour = Hour::from_unix(1_785_207_600).unwrap();
        assert_eq!(cal.local(hour).to_string(), "2026-07-27 22:00:00");
        assert!(cal.day_kind_at(hour).day_before_holiday);
    }
}
