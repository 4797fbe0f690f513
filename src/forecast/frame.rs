//! The hourly grid a model sees: demand per UTC hour (NaN where missing), the local calendar of
//! each hour, exogenous columns aligned on the grid, and special events. Built from a CSV by the
//! backtest protocol (`../shared/bench/peers/PROTOCOL.md`, sections 1-2), or from the store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chrono::{
    Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone as _, Timelike,
};
use serde::Serialize;

use crate::domain::{Calendar, Hour, SpecialEvent, TimeZone};
use crate::import::ImportFailure;
use crate::import::table::{CsvTable, parse_number};

/// Local calendar facts of one grid hour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LocalHour {
    pub wall: NaiveDateTime,
    pub hour: u8,
    /// Monday = 0.
    pub weekday: u8,
    pub month: u8,
    pub holiday: bool,
    pub day_before: bool,
    pub day_after: bool,
    pub bridge: bool,
}

impl LocalHour {
    pub fn weekend(&self) -> bool {
        self.weekday >= 5
    }

    pub fn date(&self) -> NaiveDate {
        self.wall.date()
    }
}

/// An exogenous column on the grid: numeric (interpolated) or categorical (category index).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Exog {
    pub name: String,
    pub categorical: bool,
    pub values: Vec<f64>,
    /// A categorical column from the store: the sorted distinct stored codes its indexes are
    /// ranks in (empty otherwise). A model keeps its training's (see
    /// [`Frame::rank_categories_as`]).
    #[serde(skip)]
    pub codes: Vec<f64>,
}

/// Event features per grid hour: what is on, what is about to start, what just ended.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EventTrack {
    /// Expected attendance of events in progress, in units of 10,000 people.
    pub active: Vec<f64>,
    /// Hours until the next start within 48 h (NaN if none), and its attendance / 10,000.
    pub to_start: Vec<f64>,
    pub next_size: Vec<f64>,
    /// Hours since the last end within 12 h (NaN if none), and its attendance / 10,000.
    pub since_end: Vec<f64>,
    pub last_size: Vec<f64>,
}

/// The grid.
#[derive(Debug, Clone, Serialize)]
pub struct Frame {
    pub name: String,
    pub start: Hour,
    pub y: Vec<f64>,
    pub local: Vec<LocalHour>,
    pub exog: Vec<Exog>,
    pub events: EventTrack,
    pub ignored_columns: Vec<String>,
}

/// Columns the protocol treats as exogenous (`--exog auto`); others are parts of y or labels.
fn is_exog(name: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "temp",
        "dewpoint",
        "dew_point",
        "feels_like",
        "apparent_temp",
        "humidity",
        "precip",
        "rain",
        "snow",
        "wind",
        "visibility",
        "pressure",
        "cloud",
        "solar",
        "sun",
    ];
    let n = name.to_ascii_lowercase();
    matches!(n.as_str(), "workingday" | "weather") || PREFIXES.iter().any(|p| n.starts_with(p))
}

impl Frame {
    pub fn len(&self) -> usize {
        self.y.len()
    }

    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    pub fn hour(&self, pos: usize) -> Hour {
        self.start.plus(pos as i64)
    }

    /// The position of `hour` in the grid, when it is there.
    pub fn position(&self, hour: Hour) -> Option<usize> {
        usize::try_from((hour.unix() - self.start.unix()) / 3600)
            .ok()
            .filter(|&pos| pos < self.len())
    }

    /// The exogenous columns as a model trained on `names` reads them: in that order, a column
    /// this frame lacks as missing values (NaN) throughout, a column it has beyond them dropped.
    /// Models read exogenous columns by position, and a frame from the store has the weather
    /// variables seen in its own span: serving's weeks may lack one that training's history held
    /// (a season without snow), which would shift every later column into the wrong feature.
    /// Returns the names of the columns that were missing.
    pub fn align_exog(&mut self, names: &[String]) -> Vec<String> {
        let n = self.len();
        let mut have: BTreeMap<String, Exog> =
            self.exog.drain(..).map(|e| (e.name.clone(), e)).collect();
        let mut missing = Vec::new();
        self.exog = names
            .iter()
            .map(|name| {
                have.remove(name).unwrap_or_else(|| {
                    missing.push(name.clone());
                    Exog {
                        name: name.clone(),
                        categorical: name.eq_ignore_ascii_case("weather"),
                        values: vec![f64::NAN; n],
                        codes: Vec::new(),
                    }
                })
            })
            .collect();
        missing
    }

    /// The stored codes of each categorical column from the store, sorted: what its category
    /// indexes are ranks in.
    pub fn categories(&self) -> BTreeMap<String, Vec<f64>> {
        self.exog
            .iter()
            .filter(|e| e.categorical && !e.codes.is_empty())
            .map(|e| (e.name.clone(), e.codes.clone()))
            .collect()
    }

    /// Re-indexes categorical columns from the store as ranks in `categories` (a model's
    /// training codes) instead of in this frame's own. A frame's indexes rank the codes its
    /// span holds: served weeks without the lowest code a training year held would shift every
    /// category by one. A code training never saw takes the index of the next higher one it did.
    pub fn rank_categories_as(&mut self, categories: &BTreeMap<String, Vec<f64>>) {
        for e in self.exog.iter_mut().filter(|e| e.categorical) {
            let (Some(to), false) = (categories.get(&e.name), e.codes.is_empty()) else {
                continue;
            };
            for v in &mut e.values {
                if let Some(&code) = (v.is_finite()).then(|| e.codes.get(*v as usize)).flatten() {
                    *v = to.partition_point(|c| *c < code) as f64;
                }
            }
            e.codes = to.clone();
        }
    }

    /// True when every observed demand is >= 0 (forecasts are then clipped at 0).
    pub fn non_negative(&self) -> bool {
        self.y.iter().all(|v| v.is_nan() || *v >= 0.0)
    }

    /// Reads a dataset CSV by the protocol: a UTC grid from the first to the last row, local time
    /// from each row's offset (or `zone` when given), `holiday` per local date, exogenous columns
    /// interpolated (numeric) or carried (categorical).
    ///
    /// # Errors
    /// A timestamp or a demand value that does not parse, or a file that cannot be read, named
    /// by file, line and column.
    pub fn from_csv(
        path: &Path,
        zone: Option<TimeZone>,
        events: &[SpecialEvent],
    ) -> Result<Self, ImportFailure> {
        let mut csv = CsvTable::open(path)?;
        let (ts, yc) = (csv.require(&["timestamp"])?, csv.require(&["y"])?);
        let headers = csv.headers.clone();
        let holiday_col = headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case("holiday"));
        let exog_cols: Vec<usize> = (0..headers.len())
            .filter(|&i| i != ts && i != yc && is_exog(&headers[i]))
            .collect();
        let ignored: Vec<String> = (0..headers.len())
            .filter(|&i| i != ts && i != yc && Some(i) != holiday_col && !exog_cols.contains(&i))
            .map(|i| headers[i].to_owned())
            .collect();

        // instant -> (offset, y, holiday, exog raw strings); the first row of an instant wins.
        let mut rows: BTreeMap<i64, (FixedOffset, f64, bool, Vec<String>)> = BTreeMap::new();
        while let Some(line) = csv.advance()? {
            let (record, place) = (&csv.record, &csv.place);
            let raw = &record[ts];
            let t = chrono::DateTime::parse_from_rfc3339(raw).map_err(|_| {
                place.fail(
                    line,
                    "timestamp",
                    format!("timestamp {raw:?} is not ISO-8601 with an offset"),
                )
            })?;
            // An empty cell or NaN is a missing hour; anything else must be a finite number.
            let raw_y = &record[yc];
            let y = if raw_y.is_empty() {
                f64::NAN
            } else {
                let v = parse_number(raw_y).map_err(|p| place.fail(line, "y", p))?;
                if v.is_infinite() {
                    return Err(place
                        .fail(line, "y", format!("value {raw_y:?} is not finite"))
                        .into());
                }
                v
            };
            let holiday =
                holiday_col.is_some_and(|c| record[c].parse::<f64>().is_ok_and(|v| v > 0.0));
            let ex = exog_cols.iter().map(|&c| record[c].to_owned()).collect();
            rows.entry(t.timestamp())
                .or_insert((*t.offset(), y, holiday, ex));
        }
        let (Some(&first), Some(&last)) = (rows.keys().next(), rows.keys().next_back()) else {
            return Err(ImportFailure::Empty {
                path: path.to_path_buf(),
            });
        };
        let start =
            Hour::containing(chrono::DateTime::from_timestamp(first, 0).expect("a parsed instant"));
        let n = ((last - first) / 3600 + 1) as usize;
        let mut y = vec![f64::NAN; n];
        let mut offsets: Vec<Option<FixedOffset>> = vec![None; n];
        let mut raw_exog: Vec<Vec<Option<String>>> = vec![vec![None; n]; exog_cols.len()];
        let mut holiday_rows = Vec::new();
        for (instant, (offset, value, holiday, ex)) in &rows {
            if (instant - first) % 3600 != 0 {
                continue; // not on the grid of the first row: dropped, as the protocol does
            }
            let i = ((instant - first) / 3600) as usize;
            y[i] = *value;
            offsets[i] = Some(*offset);
            for (k, v) in ex.iter().enumerate() {
                raw_exog[k][i] = Some(v.clone()).filter(|s| !s.is_empty());
            }
            holiday_rows.push((i, *holiday));
        }
        // A missing hour takes the offset of the next present row (the last row is present).
        let mut next = offsets[n - 1].expect("the last row is present");
        for o in offsets.iter_mut().rev() {
            match o {
                Some(v) => next = *v,
                None => *o = Some(next),
            }
        }
        let walls: Vec<NaiveDateTime> = (0..n)
            .map(|i| {
                let utc = start.plus(i as i64).to_utc();
                match zone {
                    Some(z) => utc.with_timezone(&z.tz()).naive_local(),
                    None => {
                        utc.naive_utc()
                            + Duration::seconds(i64::from(
                                offsets[i].expect("filled").local_minus_utc(),
                            ))
                    }
                }
            })
            .collect();
        let holiday_dates: BTreeSet<NaiveDate> = holiday_rows
            .iter()
            .filter(|(_, h)| *h)
            .map(|(i, _)| walls[*i].date())
            .collect();
        let local = local_hours(&walls, |d| holiday_dates.contains(&d));
        let exog = exog_cols
            .iter()
            .enumerate()
            .map(|(k, &c)| column(&headers[c], &raw_exog[k]))
            .collect();
        let name = path
            .file_stem()
            .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
        let events = EventTrack::build(start, n, events);
        Ok(Self {
            name,
            start,
            y,
            local,
            exog,
            events,
            ignored_columns: ignored,
        })
    }

    /// A frame from stored data: observations on the UTC grid from `start` for `n` hours, the
    /// series' calendar, weather columns, and events.
    pub fn from_parts(
        name: &str,
        start: Hour,
        y: Vec<f64>,
        calendar: &Calendar,
        exog: Vec<Exog>,
        events: &[SpecialEvent],
    ) -> Self {
        let n = y.len();
        let tz = calendar.time_zone().tz();
        let walls: Vec<NaiveDateTime> = (0..n)
            .map(|i| {
                let utc = start.plus(i as i64).to_utc();
                utc.naive_utc()
                    + Duration::seconds(i64::from(
                        tz.offset_from_utc_datetime(&utc.naive_utc())
                            .fix()
                            .local_minus_utc(),
                    ))
            })
            .collect();
        let local = local_hours(&walls, |d| calendar.is_holiday(d));
        Self {
            name: name.to_owned(),
            start,
            y,
            local,
            exog,
            events: EventTrack::build(start, n, events),
            ignored_columns: Vec::new(),
        }
    }
}

fn local_hours(walls: &[NaiveDateTime], is_holiday: impl Fn(NaiveDate) -> bool) -> Vec<LocalHour> {
    let off = |d: NaiveDate| is_holiday(d) || d.weekday().num_days_from_monday() >= 5;
    let mut cache: BTreeMap<NaiveDate, (bool, bool, bool, bool)> = BTreeMap::new();
    walls
        .iter()
        .map(|w| {
            let d = w.date();
            let &mut (holiday, day_before, day_after, bridge) =
                cache.entry(d).or_insert_with(|| {
                    let (prev, next) = (d - Duration::days(1), d + Duration::days(1));
                    let h = is_holiday(d);
                    let weekend = d.weekday().num_days_from_monday() >= 5;
                    let bridge = !h
                        && !weekend
                        && off(prev)
                        && off(next)
                        && (is_holiday(prev) || is_holiday(next));
                    (h, is_holiday(next), is_holiday(prev), bridge)
                });
            LocalHour {
                wall: *w,
                hour: w.hour() as u8,
                weekday: w.weekday().num_days_from_monday() as u8,
                month: w.month() as u8,
                holiday,
                day_before,
                day_after,
                bridge,
            }
        })
        .collect()
}

/// A column by the protocol: `weather` and non-numeric columns are categorical (sorted distinct
/// strings; a gap takes the previous value, else the next); numeric ones are interpolated
/// linearly along the grid with constant ends.
fn column(name: &str, raw: &[Option<String>]) -> Exog {
    let numeric: Vec<Option<f64>> = raw
        .iter()
        .map(|v| v.as_ref().map(|s| s.parse::<f64>().ok()))
        .map(Option::flatten)
        .collect();
    let all_numeric = raw
        .iter()
        .zip(&numeric)
        .all(|(r, n)| r.is_none() || n.is_some());
    if name.eq_ignore_ascii_case("weather") || !all_numeric {
        return Exog {
            name: name.to_owned(),
            categorical: true,
            values: categories(raw),
            codes: Vec::new(),
        };
    }
    Exog {
        name: name.to_owned(),
        categorical: false,
        values: interpolate(&numeric),
        codes: Vec::new(),
    }
}

impl Exog {
    /// A stored weather variable on the grid: the condition category (`weather`) carries its last
    /// value over gaps (else the next); every other variable is interpolated linearly.
    pub fn from_values(name: &str, values: &[Option<f64>]) -> Self {
        if name == "weather" {
            let mut codes: Vec<f64> = values.iter().flatten().copied().collect();
            codes.sort_by(f64::total_cmp);
            codes.dedup();
            return Self {
                name: name.to_owned(),
                categorical: true,
                values: categories(values),
                codes,
            };
        }
        Self {
            name: name.to_owned(),
            categorical: false,
            values: interpolate(values),
            codes: Vec::new(),
        }
    }
}

/// Each value's rank among the sorted distinct values; a gap takes the previous value, else the
/// next (the protocol's rule for categorical columns).
fn categories<T: PartialOrd>(raw: &[Option<T>]) -> Vec<f64> {
    let mut distinct: Vec<&T> = raw.iter().flatten().collect();
    distinct.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    distinct.dedup_by(|a, b| a == b);
    let mut values: Vec<f64> = raw
        .iter()
        .map(|v| {
            v.as_ref()
                .map_or(f64::NAN, |x| distinct.partition_point(|d| *d < x) as f64)
        })
        .collect();
    let mut prev = f64::NAN;
    for v in &mut values {
        if v.is_nan() { *v = prev } else { prev = *v }
    }
    let mut next = f64::NAN;
    for v in values.iter_mut().rev() {
        if v.is_nan() { *v = next } else { next = *v }
    }
    values
}

fn interpolate(values: &[Option<f64>]) -> Vec<f64> {
    let known: Vec<(usize, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .collect();
    if known.is_empty() {
        return vec![f64::NAN; values.len()];
    }
    let mut out = vec![0.0; values.len()];
    let mut k = 0;
    for (i, o) in out.iter_mut().enumerate() {
        while k + 1 < known.len() && known[k + 1].0 <= i {
            k += 1;
        }
        let (i0, v0) = known[k];
        *o = if i <= i0 || k + 1 == known.len() {
            if i < known[0].0 { known[0].1 } else { v0 }
        } else {
            let (i1, v1) = known[k + 1];
            v0 + (v1 - v0) * (i - i0) as f64 / (i1 - i0) as f64
        };
    }
    out
}

/// How many hours after an event's end its crowd is still leaving: those hours are the event's.
pub const LEAVING_HOURS: f64 = 3.0;

impl EventTrack {
    /// Whether hour `t` is within [`LEAVING_HOURS`] after an event's end.
    pub fn leaving(&self, t: usize) -> bool {
        self.since_end[t] <= LEAVING_HOURS
    }

    /// Whether hour `t` is an event's: one in progress, or its crowd leaving (see
    /// [`LEAVING_HOURS`]).
    pub fn on(&self, t: usize) -> bool {
        self.active[t] > 0.0 || self.leaving(t)
    }

    fn build(start: Hour, n: usize, events: &[SpecialEvent]) -> Self {
        let mut t = Self {
            active: vec![0.0; n],
            to_start: vec![f64::NAN; n],
            next_size: vec![0.0; n],
            since_end: vec![f64::NAN; n],
            last_size: vec![0.0; n],
        };
        for e in events {
            let size = f64::from(e.expected_attendance) / 10_000.0;
            let s = (e.starts_at.timestamp() - start.unix()) as f64 / 3600.0;
            let end = (e.ends_at.timestamp() - start.unix()) as f64 / 3600.0;
            let lo = (s - 48.0).floor().max(0.0) as usize;
            let hi = ((end + 12.0).ceil().max(0.0) as usize).min(n);
            for i in lo..hi {
                let (h0, h1) = (i as f64, i as f64 + 1.0);
                if s < h1 && end > h0 {
                    t.active[i] += size;
                }
                let until = s - h0;
                if until > 0.0 && until <= 48.0 && (t.to_start[i].is_nan() || until < t.to_start[i])
                {
                    t.to_start[i] = until;
                    t.next_size[i] = size;
                }
                let since = h0 - end;
                if (0.0..=12.0).contains(&since)
                    && (t.since_end[i].is_nan() || since < t.since_end[i])
                {
                    t.since_end[i] = since;
                    t.last_size[i] = size;
                }
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads `body` as a dataset file; the error, if any, as its message.
    fn read(body: &str) -> Result<Frame, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        std::fs::write(&path, body).unwrap();
        Frame::from_csv(&path, None, &[]).map_err(|e| e.to_string())
    }

    #[test]
    fn an_hour_has_a_position_only_within_the_grid() {
        let f = read(
            "timestamp,y\n2024-01-01T00:00:00+00:00,1\n2024-01-01T01:00:00+00:00,2\n\
             2024-01-01T02:00:00+00:00,3\n",
        )
        .unwrap();
        assert_eq!(f.len(), 3);
        for pos in 0..3 {
            assert_eq!(f.position(f.hour(pos)), Some(pos));
        }
        assert_eq!(
            f.position(f.hour(0).plus(-1)),
            None,
            "before the first hour"
        );
        assert_eq!(f.position(f.hour(2).plus(1)), None, "after the last");
    }

    #[test]
    fn an_empty_or_nan_demand_is_a_missing_hour_and_anything_else_not_a_number_is_an_error() {
        let rows = |y3: &str| {
            format!(
                "timestamp,y\r\n2020-01-01T00:00:00+00:00,5\r\n2020-01-01T01:00:00+00:00,{y3}\r\n2020-01-01T02:00:00+00:00,7\r\n"
            )
        };
        for missing in ["", "NaN"] {
            let f = read(&rows(missing)).unwrap();
            assert_eq!(f.y.len(), 3);
            assert!(f.y[1].is_nan() && f.y[2] == 7.0, "{missing:?}: {:?}", f.y);
        }
        // The place is the file's line 3 (CRLF endings counted as the file has them).
        for (bad, problem) in [("abc", "is not a number"), ("inf", "is not finite")] {
            let e = read(&rows(bad)).unwrap_err();
            assert!(
                e.contains("d.csv:3") && e.contains("column \"y\"") && e.contains(problem),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn interpolation_is_linear_inside_and_constant_at_the_ends() {
        let v = interpolate(&[None, Some(1.0), None, None, Some(4.0), None]);
        assert_eq!(v, vec![1.0, 1.0, 2.0, 3.0, 4.0, 4.0]);
    }

    #[test]
    fn exogenous_columns_align_to_a_models_names_missing_ones_as_nan() {
        let cal = Calendar::new(TimeZone::LIMA, crate::domain::CalendarName::None, []);
        let col = |name: &str, v: f64| Exog {
            name: name.into(),
            values: vec![v; 3],
            ..Exog::default()
        };
        let mut f = Frame::from_parts(
            "t",
            Hour::from_unix(1_767_225_600).unwrap(),
            vec![1.0; 3],
            &cal,
            vec![col("humidity_pct", 80.0), col("temp_c", 20.0)],
            &[],
        );
        let names: Vec<String> = ["temp_c", "weather", "wind_kmh"].map(String::from).into();
        let missing = f.align_exog(&names);
        assert_eq!(missing, ["weather", "wind_kmh"]);
        let got: Vec<(&str, bool, f64)> = f
            .exog
            .iter()
            .map(|e| (e.name.as_str(), e.categorical, e.values[1]))
            .collect();
        assert_eq!(got[0], ("temp_c", false, 20.0));
        assert!(got[1].1 && got[1].2.is_nan() && got[2].2.is_nan() && !got[2].1);
        assert_eq!(
            got.len(),
            3,
            "humidity, which the model never read, is dropped"
        );
    }

    #[test]
    fn stored_categories_rank_as_a_models_training_codes() {
        // Served weeks with codes 2 and 3 only, gaps carried; training had 1, 2, 3 and 4.
        let served = Exog::from_values("weather", &[Some(3.0), None, Some(2.0), Some(5.0)]);
        assert_eq!(served.values, vec![1.0, 1.0, 0.0, 2.0]);
        assert_eq!(served.codes, vec![2.0, 3.0, 5.0]);
        let cal = Calendar::new(TimeZone::LIMA, crate::domain::CalendarName::None, []);
        let mut f = Frame::from_parts(
            "t",
            Hour::from_unix(1_767_225_600).unwrap(),
            vec![1.0; 4],
            &cal,
            vec![served],
            &[],
        );
        let training = BTreeMap::from([("weather".to_owned(), vec![1.0, 2.0, 3.0, 4.0])]);
        f.rank_categories_as(&training);
        // 3 and 2 as training indexed them; 5, never seen, after every code it saw.
        assert_eq!(f.exog[0].values, vec![2.0, 2.0, 1.0, 4.0]);
        assert_eq!(f.categories(), training);
        // A model with no codes of its own (an artifact written before) leaves the frame's.
        let mut g = f.clone();
        g.rank_categories_as(&BTreeMap::new());
        assert_eq!(g.exog, f.exog);
    }

    #[test]
    fn a_stored_condition_category_is_ranked_like_the_csv_one() {
        let stored = Exog::from_values("weather", &[None, Some(2.0), None, Some(1.0)]);
        let raw: Vec<Option<String>> = [None, Some("2"), None, Some("1")]
            .into_iter()
            .map(|v| v.map(str::to_owned))
            .collect();
        assert_eq!(stored.values, column("weather", &raw).values);
        assert!(stored.categorical);
    }

    #[test]
    fn categorical_gaps_take_the_previous_value_else_the_next() {
        let raw: Vec<Option<String>> = [None, Some("2"), None, Some("1")]
            .into_iter()
            .map(|v| v.map(str::to_owned))
            .collect();
        let c = column("weather", &raw);
        assert!(c.categorical);
        assert_eq!(c.values, vec![1.0, 1.0, 1.0, 0.0]);
    }
}
