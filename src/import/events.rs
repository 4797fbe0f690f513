//! Special events from CSV (`event_id,name,venue,city,starts_at,ends_at,expected_attendance`,
//! optional `latitude`, `longitude`, `series`), as in `worldcup98_events.csv`.

use std::fs::File;
use std::path::Path;

use super::timestamp;
use super::{ImportError, ImportFailure};
use crate::domain::{EventId, SeriesId, SpecialEvent};
use crate::store::Store;

/// Reads and checks an events CSV; every event moves `series` plus those its `series` column
/// names (separated by `;` or spaces).
///
/// # Errors
/// The first bad cell, named by file, line and column.
pub fn parse_events_csv(
    path: &Path,
    series: &[SeriesId],
) -> Result<Vec<SpecialEvent>, ImportFailure> {
    let file = File::open(path).map_err(|error| ImportFailure::Io {
        path: path.to_path_buf(),
        error,
    })?;
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(file);
    let fail = |line: u64, column: &str, problem: String| ImportError {
        path: path.to_path_buf(),
        line,
        column: column.to_owned(),
        problem,
    };
    let headers = rdr
        .headers()
        .map_err(|e| fail(1, "(header)", e.to_string()))?
        .clone();
    let col = |names: &[&str]| headers.iter().position(|h| names.contains(&h));
    let required = |names: &[&str]| {
        col(names).ok_or_else(|| {
            fail(
                1,
                "(header)",
                format!("the header needs a column {:?}", names[0]),
            )
        })
    };
    let id_col = required(&["event_id", "id"])?;
    let name_col = required(&["name"])?;
    let start_col = required(&["starts_at", "start"])?;
    let end_col = required(&["ends_at", "end"])?;
    let att_col = required(&["expected_attendance", "attendance"])?;
    let (venue_col, city_col, lat_col, lon_col, series_col) = (
        col(&["venue"]),
        col(&["city"]),
        col(&["latitude", "lat"]),
        col(&["longitude", "lon", "lng"]),
        col(&["series"]),
    );

    let mut events: Vec<SpecialEvent> = Vec::new();
    for record in rdr.records() {
        let record = record.map_err(|e| {
            fail(
                e.position().map_or(0, csv::Position::line),
                "(row)",
                e.to_string(),
            )
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        if record.len() != headers.len() {
            return Err(fail(
                line,
                "(row)",
                format!(
                    "row has {} fields, the header has {}",
                    record.len(),
                    headers.len()
                ),
            )
            .into());
        }
        let get = |c: Option<usize>| c.map(|c| &record[c]).filter(|v| !v.is_empty());
        let id = EventId::parse(&record[id_col])
            .map_err(|e| fail(line, &headers[id_col], e.to_string()))?;
        if let Some(dup) = events.iter().find(|e| e.id == id) {
            return Err(fail(
                line,
                &headers[id_col],
                format!("event id {} appears twice", dup.id),
            )
            .into());
        }
        let instant = |c: usize| {
            timestamp::parse(&record[c], None, None)
                .map(|s| s.instant)
                .map_err(|p| fail(line, &headers[c], p))
        };
        let coord = |c: Option<usize>| {
            get(c)
                .map(|raw| {
                    raw.parse::<f64>().map_err(|_| {
                        fail(
                            line,
                            &headers[c.unwrap_or(0)],
                            format!("value {raw:?} is not a number"),
                        )
                    })
                })
                .transpose()
        };
        let raw_att = &record[att_col];
        let expected_attendance = raw_att.parse::<u32>().map_err(|_| {
            fail(
                line,
                &headers[att_col],
                format!("value {raw_att:?} is not a whole number of people"),
            )
        })?;
        let mut linked = series.to_vec();
        for s in get(series_col)
            .unwrap_or("")
            .split([';', ' '])
            .filter(|s| !s.is_empty())
        {
            let id = SeriesId::parse(s).map_err(|e| fail(line, "series", e.to_string()))?;
            if !linked.contains(&id) {
                linked.push(id);
            }
        }
        let venue = match (get(venue_col), get(city_col)) {
            (Some(v), Some(c)) => format!("{v}, {c}"),
            (Some(v), None) => v.to_owned(),
            (None, Some(c)) => c.to_owned(),
            (None, None) => String::new(),
        };
        let event = SpecialEvent {
            id,
            name: record[name_col].to_owned(),
            venue,
            latitude: coord(lat_col)?,
            longitude: coord(lon_col)?,
            starts_at: instant(start_col)?,
            ends_at: instant(end_col)?,
            expected_attendance,
            series: linked,
        }
        .validate()
        .map_err(|e| fail(line, "(row)", e.to_string()))?;
        events.push(event);
    }
    if events.is_empty() {
        return Err(ImportFailure::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(events)
}

/// Reads an events CSV and stores every event in one transaction. Returns how many.
///
/// # Errors
/// As [`parse_events_csv`], or a store failure; nothing is written then.
pub async fn import_events(
    store: &Store,
    path: &Path,
    series: &[SeriesId],
) -> Result<usize, ImportFailure> {
    let events = parse_events_csv(path, series)?;
    store.put_events(&events).await?;
    Ok(events.len())
}
