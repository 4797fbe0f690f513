//! The standard demand CSV: `timestamp,y` plus optional columns. Known exogenous columns go to
//! weather and holidays; the rest are reported as ignored. Sub-hourly rows are summed (or
//! averaged) into hours. Pure apart from reading the file: nothing touches the store here.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Offset, TimeZone as _, Utc};
use serde::Serialize;

use super::table::{CsvTable, parse_number};
use super::timestamp;
use super::{ImportFailure, Progress};
use crate::domain::{Demand, Holiday, Hour, TimeZone, WeatherHour, WeatherVariable};

/// How sub-hourly rows become one hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resample {
    /// Counts add up (requests per minute -> requests per hour).
    #[default]
    Sum,
    /// Rates or levels are averaged.
    Mean,
}

impl FromStr for Resample {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "sum" => Ok(Self::Sum),
            "mean" => Ok(Self::Mean),
            _ => Err(format!("unknown resample {raw:?}: use sum or mean")),
        }
    }
}

/// What a CSV column was used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnRole {
    Timestamp,
    Demand,
    Holiday,
    Weather,
    Ignored,
}

/// One header column and its role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub name: String,
    pub role: ColumnRole,
}

/// A demand file read whole and checked.
#[derive(Debug, Clone, Default)]
pub struct ParsedDemand {
    /// Demand per UTC hour, ascending.
    pub hours: BTreeMap<Hour, f64>,
    pub weather: Vec<WeatherHour>,
    /// Local dates the `holiday` column flags.
    pub holidays: Vec<Holiday>,
    pub rows_read: u64,
    pub columns: Vec<Column>,
    pub warnings: Vec<String>,
}

/// Weather columns are known by their name's start (as in the shared datasets).
const WEATHER_PREFIXES: &[&str] = &[
    "temp",
    "feels_like",
    "apparent_temp",
    "dewpoint",
    "precip",
    "rain",
    "snow",
    "humidity",
    "wind",
    "visibility",
    "pressure",
    "cloud",
];

fn role_of(name: &str) -> ColumnRole {
    match name {
        "timestamp" => ColumnRole::Timestamp,
        "y" => ColumnRole::Demand,
        "holiday" => ColumnRole::Holiday,
        "weather" => ColumnRole::Weather,
        _ if WEATHER_PREFIXES.iter().any(|p| name.starts_with(p)) => ColumnRole::Weather,
        _ => ColumnRole::Ignored,
    }
}

/// A running sum for one hour (or one hour and weather variable).
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    sum: f64,
    n: u32,
}

impl Acc {
    fn add(&mut self, v: f64) {
        self.sum += v;
        self.n += 1;
    }

    fn value(self, sum: bool) -> f64 {
        if sum {
            self.sum
        } else {
            self.sum / f64::from(self.n)
        }
    }
}

/// Reads and checks a demand CSV. `zone` gives local dates (holidays) and, when `naive_ok`,
/// reads timestamps that carry no offset.
///
/// # Errors
/// The first bad cell or row, named by file, line and column; or the file cannot be read.
pub fn parse_demand_csv(
    path: &Path,
    zone: TimeZone,
    naive_ok: bool,
    resample: Resample,
    progress: &mut dyn FnMut(Progress),
) -> Result<ParsedDemand, ImportFailure> {
    parse_table(CsvTable::open(path)?, zone, naive_ok, resample, progress)
}

/// As [`parse_demand_csv`], for a CSV held in memory (a request body) named `label` in errors.
///
/// # Errors
/// As [`parse_demand_csv`].
pub fn parse_demand_bytes(
    label: &str,
    bytes: Vec<u8>,
    zone: TimeZone,
    naive_ok: bool,
    resample: Resample,
) -> Result<ParsedDemand, ImportFailure> {
    parse_table(
        CsvTable::from_bytes(label, bytes)?,
        zone,
        naive_ok,
        resample,
        &mut |_| {},
    )
}

fn parse_table(
    mut csv: CsvTable,
    zone: TimeZone,
    naive_ok: bool,
    resample: Resample,
    progress: &mut dyn FnMut(Progress),
) -> Result<ParsedDemand, ImportFailure> {
    let total = csv.total_bytes;
    let place = csv.place.clone();
    let fail = |line: u64, column: &str, problem: String| place.fail(line, column, problem);
    let headers = csv.headers.clone();
    let mut columns = Vec::with_capacity(headers.len());
    for (i, name) in headers.iter().enumerate() {
        if headers.iter().take(i).any(|n| n == name) {
            return Err(fail(1, name, "column appears twice in the header".to_owned()).into());
        }
        columns.push(Column {
            name: name.to_owned(),
            role: role_of(name),
        });
    }
    let find = |role: ColumnRole| columns.iter().position(|c| c.role == role);
    let (Some(ts_col), Some(y_col)) = (find(ColumnRole::Timestamp), find(ColumnRole::Demand))
    else {
        let problem = format!(
            "the header needs columns \"timestamp\" and \"y\"; it has {:?}",
            headers.iter().collect::<Vec<_>>()
        );
        return Err(fail(1, "(header)", problem).into());
    };
    let holiday_col = find(ColumnRole::Holiday);
    let mut weather_cols = Vec::new();
    for (i, c) in columns
        .iter()
        .enumerate()
        .filter(|(_, c)| c.role == ColumnRole::Weather)
    {
        let var = WeatherVariable::parse(&c.name).map_err(|e| fail(1, &c.name, e.to_string()))?;
        weather_cols.push((i, var));
    }

    let local = naive_ok.then_some(zone);
    let mut hours: BTreeMap<Hour, Acc> = BTreeMap::new();
    let mut seen: HashMap<i64, (f64, u64)> = HashMap::new();
    // Per hour: one accumulator per weather column.
    let mut weather: BTreeMap<Hour, Vec<Acc>> = BTreeMap::new();
    let mut holiday_dates = BTreeSet::new();
    let (mut rows_read, mut empty_y, mut repeated) = (0u64, 0u64, 0u64);
    let mut offset_mismatch: Option<(u64, u64, String)> = None; // (count, first line, value)
    let mut previous: Option<DateTime<Utc>> = None;

    while let Some(line) = csv.advance()? {
        let record = &csv.record;
        rows_read += 1;
        if rows_read.is_multiple_of(8192) {
            progress(Progress {
                done: csv.bytes_read(),
                total,
            });
        }

        let raw_ts = &record[ts_col];
        let stamp =
            timestamp::parse(raw_ts, local, previous).map_err(|p| fail(line, "timestamp", p))?;
        previous = Some(stamp.instant);
        if let Some(offset) = stamp.offset {
            let expected = zone
                .tz()
                .offset_from_utc_datetime(&stamp.instant.naive_utc())
                .fix();
            if offset != expected {
                let m = offset_mismatch.get_or_insert((0, line, raw_ts.to_owned()));
                m.0 += 1;
            }
        }

        let raw_y = &record[y_col];
        if raw_y.is_empty() {
            empty_y += 1; // an empty cell is a missing value: the hour stays missing
            continue;
        }
        let y = parse_number(raw_y).map_err(|p| fail(line, "y", p))?;
        let demand =
            Demand::new(y).map_err(|e| fail(line, "y", format!("value {raw_y:?}: {e}")))?;

        let instant = stamp.instant.timestamp();
        if let Some(&(old, old_line)) = seen.get(&instant) {
            if old == demand.get() {
                repeated += 1;
                continue;
            }
            let problem = format!(
                "timestamp {raw_ts:?} appears twice with different values: y = {raw_y} here, y = {old} at line {old_line}"
            );
            return Err(fail(line, "timestamp", problem).into());
        }
        seen.insert(instant, (demand.get(), line));
        let hour = Hour::containing(stamp.instant);
        hours.entry(hour).or_default().add(demand.get());

        for (k, (col, var)) in weather_cols.iter().enumerate() {
            let raw = &record[*col];
            if raw.is_empty() {
                continue;
            }
            let v = parse_number(raw).map_err(|p| fail(line, var.as_str(), p))?;
            if !v.is_finite() {
                return Err(fail(
                    line,
                    var.as_str(),
                    format!("value {raw:?} is not a finite number"),
                )
                .into());
            }
            weather
                .entry(hour)
                .or_insert_with(|| vec![Acc::default(); weather_cols.len()])[k]
                .add(v);
        }
        if let Some(col) = holiday_col {
            match &record[col] {
                "1" | "true" | "True" | "TRUE" => {
                    holiday_dates.insert(stamp.instant.with_timezone(&zone.tz()).date_naive());
                }
                "0" | "false" | "False" | "FALSE" | "" => {}
                other => {
                    return Err(
                        fail(line, "holiday", format!("value {other:?} is not 0 or 1")).into(),
                    );
                }
            }
        }
    }
    progress(Progress { done: total, total });

    let mut warnings = Vec::new();
    let sum = resample == Resample::Sum;
    let mut out_hours = BTreeMap::new();
    for (&hour, acc) in &hours {
        let v = acc.value(sum);
        if !v.is_finite() {
            let problem = format!("the hour {hour} adds up to {v}, which is not a finite demand");
            return Err(fail(0, "y", problem).into());
        }
        out_hours.insert(hour, v);
    }
    note_partial_hours(&hours, &mut warnings);
    if empty_y > 0 {
        warnings.push(format!(
            "{empty_y} rows have an empty y and were left as missing hours"
        ));
    }
    if repeated > 0 {
        warnings.push(format!(
            "{repeated} rows repeat an earlier timestamp with the same value and were skipped"
        ));
    }
    if let Some((n, line, raw)) = offset_mismatch {
        warnings.push(format!(
            "{n} timestamps carry a UTC offset that {zone} does not use at that instant (first at line {line}: {raw}); \
             local hours and holidays are taken in {zone}: is that the series' time zone?"
        ));
    }

    let readings: Vec<WeatherHour> = weather
        .into_iter()
        .map(|(hour, accs)| {
            let values = weather_cols
                .iter()
                .zip(accs)
                .filter(|(_, acc)| acc.n > 0)
                .map(|((_, var), acc)| (var.clone(), acc.value(var.sums_over_time())))
                .collect();
            WeatherHour { hour, values }
        })
        .collect();
    let source = csv
        .place
        .path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let holidays = holiday_dates
        .into_iter()
        .map(|date| Holiday {
            date,
            name: format!("holiday ({source})"),
        })
        .collect();
    Ok(ParsedDemand {
        hours: out_hours,
        weather: readings,
        holidays,
        rows_read,
        columns,
        warnings,
    })
}

/// With sub-hourly rows, an hour with fewer rows than most is probably partial: say so.
fn note_partial_hours(hours: &BTreeMap<Hour, Acc>, warnings: &mut Vec<String>) {
    let mut freq: BTreeMap<u32, usize> = BTreeMap::new();
    for acc in hours.values() {
        *freq.entry(acc.n).or_default() += 1;
    }
    let Some((&modal, _)) = freq
        .iter()
        .max_by_key(|(n, count)| (**count, std::cmp::Reverse(**n)))
    else {
        return;
    };
    if modal <= 1 {
        return;
    }
    let short: Vec<_> = hours
        .iter()
        .filter(|(_, a)| a.n < modal)
        .map(|(h, _)| *h)
        .collect();
    if let Some(first) = short.first() {
        warnings.push(format!(
            "{} hours have fewer than the usual {modal} sub-hourly rows (first: {first}); their demand may be partial",
            short.len()
        ));
    }
}
