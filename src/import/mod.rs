//! Demand history in, as domain values: the standard CSV (`timestamp,y` plus exogenous
//! columns), special events and custom holidays. A file is read and checked whole before
//! anything is written; an error names file, line, column and value; the write is one
//! transaction, so a bad file leaves the store as it was.

mod csv_demand;
mod error;
mod events;
mod holidays;
pub(crate) mod table;
mod timestamp;

pub use csv_demand::{
    Column, ColumnRole, ParsedDemand, Resample, parse_demand_bytes, parse_demand_csv,
};
pub use error::{ImportError, ImportFailure};
pub use events::{import_events, parse_events_csv};
pub use holidays::{import_holidays, parse_holidays_csv};

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use chrono::Utc;
use serde::Serialize;

use crate::domain::{
    CalendarName, Demand, Hour, Observation, Series, SeriesId, TimeZone, Tolerance, WeatherKind,
};
use crate::store::{ImportBatch, Store, merge_weather};

/// How to read a demand file and what to call the series.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub series: SeriesId,
    /// The series' time zone (new series), and how to read timestamps without an offset.
    pub time_zone: Option<TimeZone>,
    pub calendar: Option<CalendarName>,
    pub resample: Resample,
    /// Used for a new series when the flags do not say.
    pub default_time_zone: TimeZone,
    pub default_calendar: CalendarName,
    pub default_tolerance: Tolerance,
}

/// Progress of a long import, for a bar: bytes read of the total.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// Missing hours in a span of hours.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct GapReport {
    pub missing_hours: u64,
    pub runs: u64,
    /// The longest run of missing hours: its first hour and length.
    pub longest: Option<(Hour, u64)>,
}

impl GapReport {
    /// Gaps between consecutive hours of an ascending list.
    pub fn of(hours: impl IntoIterator<Item = Hour>) -> Self {
        let mut report = Self::default();
        let mut prev: Option<Hour> = None;
        for h in hours {
            if let Some(p) = prev {
                let gap = u64::try_from(p.hours_until(h) - 1).unwrap_or(0);
                if gap > 0 {
                    report.missing_hours += gap;
                    report.runs += 1;
                    if report.longest.is_none_or(|(_, n)| gap > n) {
                        report.longest = Some((p.plus(1), gap));
                    }
                }
            }
            prev = Some(h);
        }
        report
    }
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub series: SeriesId,
    pub file: String,
    pub created_series: bool,
    pub rows_read: u64,
    pub hours: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Values of the weather hours written (new or changed hours, counted whole).
    pub weather_values: u64,
    pub holidays: u64,
    pub first_hour: Hour,
    pub last_hour: Hour,
    pub gaps: GapReport,
    pub columns: Vec<Column>,
    pub warnings: Vec<String>,
    /// Hours stored as partial counts (API batches only).
    pub partial: u64,
}

impl ImportReport {
    /// The report of a batch with no complete hours.
    pub fn empty(series: SeriesId, file: &str) -> Self {
        let zero = Hour::from_unix(0).expect("epoch is an hour");
        Self {
            series,
            file: file.to_owned(),
            created_series: false,
            rows_read: 0,
            hours: 0,
            inserted: 0,
            updated: 0,
            unchanged: 0,
            weather_values: 0,
            holidays: 0,
            first_hour: zero,
            last_hour: zero,
            gaps: GapReport::default(),
            columns: Vec::new(),
            warnings: Vec::new(),
            partial: 0,
        }
    }

    /// True when the store already held exactly this data.
    pub fn is_noop(&self) -> bool {
        !self.created_series
            && self.inserted == 0
            && self.updated == 0
            && self.weather_values == 0
            && self.holidays == 0
    }
}

/// Reads `path` whole, checks it, and writes what is new or changed in one transaction.
///
/// # Errors
/// [`ImportFailure`] naming the file, line, column and value of the first bad cell; nothing
/// is written then.
pub async fn import_demand(
    store: &Store,
    path: &Path,
    opts: &ImportOptions,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportReport, ImportFailure> {
    let label = path.display().to_string();
    let resample = opts.resample;
    import_with(store, opts, &label, |zone, naive_ok| {
        parse_demand_csv(path, zone, naive_ok, resample, progress)
    })
    .await
}

/// Imports what `parse` reads (a file, a request body, a JSON batch), given the series' time
/// zone and whether timestamps without an offset may be read in it. `label` names the source.
///
/// # Errors
/// As [`import_demand`].
pub async fn import_with(
    store: &Store,
    opts: &ImportOptions,
    label: &str,
    parse: impl FnOnce(TimeZone, bool) -> Result<ParsedDemand, ImportFailure>,
) -> Result<ImportReport, ImportFailure> {
    let existing = store.series(&opts.series).await?;
    let series = settle_series(existing.as_ref(), opts)?;
    let parsed = parse(series.time_zone, opts.time_zone.is_some())?;
    let (Some(first), Some(last)) = (
        parsed.hours.keys().next().copied(),
        parsed.hours.keys().next_back().copied(),
    ) else {
        return Err(ImportFailure::Empty { path: label.into() });
    };

    let stored: HashMap<Hour, f64> = store
        .observations(&series.id, first, last)
        .await?
        .into_iter()
        .map(|o| (o.hour, o.demand.get()))
        .collect();
    let (mut inserted, mut updated) = (0, 0);
    let mut changed = Vec::new();
    for (&hour, &value) in &parsed.hours {
        match stored.get(&hour) {
            Some(&old) if same(old, value) => continue,
            Some(_) => updated += 1,
            None => inserted += 1,
        }
        changed.push(Observation {
            hour,
            demand: Demand::new(value).expect("parse checked demand"),
        });
    }

    let stored_weather = store
        .weather(&series.weather_location, first, last, WeatherKind::Observed)
        .await?;
    let weather = merge_weather(&stored_weather, &parsed.weather);
    let weather_values = weather.iter().map(|w| w.values.len() as u64).sum();

    let stored_holidays: BTreeSet<_> = store
        .custom_holidays(&series.id)
        .await?
        .into_iter()
        .collect();
    let holidays: Vec<_> = parsed
        .holidays
        .iter()
        .filter(|h| !stored_holidays.contains(*h))
        .cloned()
        .collect();

    let report = ImportReport {
        series: series.id.clone(),
        file: label.to_owned(),
        created_series: existing.is_none(),
        rows_read: parsed.rows_read,
        hours: parsed.hours.len() as u64,
        inserted,
        updated,
        unchanged: parsed.hours.len() as u64 - inserted - updated,
        weather_values,
        holidays: holidays.len() as u64,
        first_hour: first,
        last_hour: last,
        gaps: GapReport::of(parsed.hours.keys().copied()),
        columns: parsed.columns.clone(),
        warnings: parsed.warnings.clone(),
        partial: 0,
    };
    if !report.is_noop() {
        let batch = ImportBatch {
            series,
            source: file_name(Path::new(label)),
            rows_read: parsed.rows_read,
            hours: report.hours,
            observations: changed,
            inserted,
            updated,
            weather,
            holidays,
            first_hour: first,
            last_hour: last,
        };
        store.import(&batch).await?;
    }
    Ok(report)
}

/// The series as stored, or as it will be created; flags that contradict a stored series are
/// an error rather than a silent change.
fn settle_series(existing: Option<&Series>, opts: &ImportOptions) -> Result<Series, ImportFailure> {
    if let Some(s) = existing {
        if let Some(tz) = opts.time_zone.filter(|tz| *tz != s.time_zone) {
            return Err(ImportFailure::Conflict(format!(
                "series {} is stored with time zone {}, not {tz}; drop --tz or import under another series id",
                s.id, s.time_zone
            )));
        }
        if let Some(cal) = opts.calendar.filter(|c| *c != s.calendar) {
            return Err(ImportFailure::Conflict(format!(
                "series {} is stored with calendar {}, not {cal}; drop --calendar or import under another series id",
                s.id, s.calendar
            )));
        }
        return Ok(s.clone());
    }
    Ok(Series {
        id: opts.series.clone(),
        time_zone: opts.time_zone.unwrap_or(opts.default_time_zone),
        calendar: opts.calendar.unwrap_or(opts.default_calendar),
        unit: "requests".to_owned(),
        tolerance: opts.default_tolerance,
        weather_location: opts.series.to_string(),
        created_at: Utc::now(),
    })
}

/// Equal as stored numbers: the database keeps f64, so a round trip is exact, but allow for
/// the last bit of a sum computed in another order.
fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_counted_in_runs_with_the_longest_named() {
        let h = |n: i64| Hour::from_unix(n * 3600).unwrap();
        let report = GapReport::of([h(0), h(1), h(4), h(5), h(6), h(8)]);
        assert_eq!(report.missing_hours, 3);
        assert_eq!(report.runs, 2);
        assert_eq!(report.longest, Some((h(2), 2)));
        assert_eq!(GapReport::of([h(0), h(1)]), GapReport::default());
    }
}

/// Tables of plausible and hostile cells under plausible and hostile headers: every parser either
/// reads them or refuses them with an error that names the file (or request body); none panics.
#[cfg(test)]
mod hostile_input {
    use super::*;
    use crate::domain::TimeZone;
    use proptest::prelude::*;

    /// Cells no column accepts, or only some: out-of-range and malformed timestamps, numbers
    /// that are not finite, quoted commas, a byte-order mark, printable noise.
    fn hostile() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just("+262143-12-31T23:59:59Z".to_owned()),
            Just("9999-12-31T23:00:00+14:00".to_owned()),
            Just("0000-01-01T00:00:00-12:00".to_owned()),
            Just("1e308".to_owned()),
            Just("-5".to_owned()),
            Just("NaN".to_owned()),
            Just("inf".to_owned()),
            Just("\"a,b\"".to_owned()),
            Just("a;b c".to_owned()),
            Just("\u{feff}".to_owned()),
            "[ -~]{0,12}",
        ]
    }

    /// A timestamp at a minute step within `minutes` after 2026-01-01: with an offset, in UTC,
    /// or naive when `naive` (then read in the zone, across its DST gaps and overlaps).
    fn timestamp(minutes: std::ops::Range<i64>, naive: bool) -> impl Strategy<Value = String> {
        const SHAPES: [&str; 3] = [
            "%Y-%m-%dT%H:%M:%S%:z",
            "%Y-%m-%d %H:%MZ",
            "%Y-%m-%dT%H:%M:%S",
        ];
        let shapes = &SHAPES[..if naive { 3 } else { 2 }];
        (minutes, prop::sample::select(shapes)).prop_map(|(m, shape)| {
            chrono::DateTime::from_timestamp(1_767_225_600 + m * 60, 0)
                .unwrap()
                .format(shape)
                .to_string()
        })
    }

    /// A cell that `column` accepts.
    fn valid(column: &str) -> BoxedStrategy<String> {
        match column {
            "timestamp" => timestamp(0..600_000, true).boxed(),
            // Most events end after they start; about one in twelve does not.
            "starts_at" => timestamp(0..300_000, false).boxed(),
            "ends_at" => timestamp(150_000..600_000, false).boxed(),
            "date" => (0u64..3000)
                .prop_map(|d| {
                    (chrono::NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Days::new(d))
                        .to_string()
                })
                .boxed(),
            "holiday" => prop::sample::select(&["0", "1"][..])
                .prop_map(str::to_owned)
                .boxed(),
            "expected_attendance" => (0u32..100_000).prop_map(|v| v.to_string()).boxed(),
            "latitude" | "longitude" => (-900i32..900)
                .prop_map(|v| f64::from(v) / 10.0)
                .prop_map(|v| v.to_string())
                .boxed(),
            "event_id" | "name" | "venue" | "series" => "[a-z][a-z0-9-]{0,8}".boxed(),
            _ => (0u32..100_000)
                .prop_map(|v| (f64::from(v) / 10.0).to_string())
                .boxed(),
        }
    }

    /// A CSV text. Usually its header has the `required` columns with some of `optional`,
    /// shuffled; sometimes any of them, repeats allowed. Half the tables are clean: every cell
    /// valid for its column. In the others a cell is hostile one time in ten, and a row may be
    /// a cell short or long.
    fn table(
        required: &'static [&'static str],
        optional: &'static [&'static str],
    ) -> impl Strategy<Value = String> {
        let all: Vec<&'static str> = required.iter().chain(optional).copied().collect();
        let usual = prop::sample::subsequence(optional, 0..=optional.len())
            .prop_map(move |o| required.iter().copied().chain(o).collect::<Vec<_>>())
            .prop_shuffle();
        let odd = prop::collection::vec(prop::sample::select(all), 0..required.len() + 3);
        (prop_oneof![9 => usual, 1 => odd], any::<bool>())
            .prop_flat_map(|(header, clean)| {
                let hostility = if clean { 0 } else { 1 };
                let row = header
                    .iter()
                    .map(|c| prop_oneof![10 => valid(c), hostility => hostile()])
                    .collect::<Vec<_>>();
                let ragged = (0..if clean { 1usize } else { 20 }, hostile());
                (Just(header), prop::collection::vec((row, ragged), 0..30))
            })
            .prop_map(|(header, rows)| {
                let mut text = header.join(",") + "\n";
                for (mut cells, (ragged, extra)) in rows {
                    match ragged {
                        1 => {
                            cells.pop();
                        }
                        2 => cells.push(extra),
                        _ => {}
                    }
                    text.push_str(&cells.join(","));
                    text.push('\n');
                }
                text
            })
    }

    /// `text` written to a file `name` and parsed: what was read, or `None` once the refusal is
    /// seen to name the file.
    fn read_as_file<T>(
        name: &str,
        text: &str,
        parse: impl Fn(&Path) -> Result<T, ImportFailure>,
    ) -> Result<Option<T>, TestCaseError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        match parse(&path) {
            Ok(read) => Ok(Some(read)),
            Err(e) => {
                let m = e.to_string();
                prop_assert!(m.contains(name), "{m}\n{text}");
                Ok(None)
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn a_demand_table_is_read_or_refused_by_place(
            text in table(&["timestamp", "y"],
                &["holiday", "temperature_c", "rain_mm", "humidity", "wind_kmh", "foo"]),
            zone in prop::sample::select(&["America/Lima", "America/New_York",
                "Australia/Lord_Howe", "Asia/Kathmandu"][..]),
            naive in any::<bool>(),
            sum in any::<bool>(),
        ) {
            let zone = TimeZone::parse(zone).unwrap();
            let resample = if sum { Resample::Sum } else { Resample::Mean };
            let bytes = text.clone().into_bytes();
            match parse_demand_bytes("body", bytes, zone, naive, resample) {
                Ok(d) => prop_assert!(
                    d.hours.values().all(|v| v.is_finite() && *v >= 0.0),
                    "a demand that is not a finite count was read from\n{text}"
                ),
                Err(e) => {
                    let m = e.to_string();
                    prop_assert!(m.starts_with("body:"), "{m}\n{text}");
                }
            }
        }

        #[test]
        fn an_events_file_is_read_or_refused_by_place(
            text in table(&["event_id", "name", "starts_at", "ends_at", "expected_attendance"],
                &["venue", "series", "latitude", "longitude"]),
        ) {
            if let Some(events) = read_as_file("events.csv", &text, |p| parse_events_csv(p, &[]))? {
                prop_assert!(
                    events.iter().all(|e| e.ends_at > e.starts_at),
                    "an event that ends before it starts was read from\n{text}"
                );
            }
        }

        #[test]
        fn a_holidays_file_is_read_or_refused_by_place(
            text in table(&["date", "name"], &["venue"]),
        ) {
            if let Some(holidays) = read_as_file("holidays.csv", &text, parse_holidays_csv)? {
                let dates: std::collections::BTreeSet<_> = holidays.iter().map(|h| h.date).collect();
                prop_assert!(
                    dates.len() == holidays.len() && holidays.iter().all(|h| !h.name.is_empty()),
                    "a repeated date or an empty name was read from\n{text}"
                );
            }
        }
    }
}
