//! Special events from CSV (`event_id,name,venue,city,starts_at,ends_at,expected_attendance`,
//! optional `latitude`, `longitude`, `series`), as in `worldcup98_events.csv`.

use std::path::Path;

use super::table::CsvTable;
use super::{ImportFailure, timestamp};
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
    let mut csv = CsvTable::open(path)?;
    let id_col = csv.require(&["event_id", "id"])?;
    let name_col = csv.require(&["name"])?;
    let start_col = csv.require(&["starts_at", "start"])?;
    let end_col = csv.require(&["ends_at", "end"])?;
    let att_col = csv.require(&["expected_attendance", "attendance"])?;
    let (venue_col, city_col, series_col) = (
        csv.column(&["venue"]),
        csv.column(&["city"]),
        csv.column(&["series"]),
    );
    let (lat_col, lon_col) = (
        csv.column(&["latitude", "lat"]),
        csv.column(&["longitude", "lon", "lng"]),
    );

    let mut events: Vec<SpecialEvent> = Vec::new();
    while let Some(line) = csv.advance()? {
        let (rec, place, headers) = (&csv.record, &csv.place, &csv.headers);
        let get = |c: Option<usize>| c.map(|c| &rec[c]).filter(|v| !v.is_empty());
        let id = EventId::parse(&rec[id_col])
            .map_err(|e| place.fail(line, &headers[id_col], e.to_string()))?;
        if events.iter().any(|e| e.id == id) {
            return Err(place
                .fail(
                    line,
                    &headers[id_col],
                    format!("event id {id} appears twice"),
                )
                .into());
        }
        let instant = |c: usize| {
            timestamp::parse(&rec[c], None, None)
                .map(|s| s.instant)
                .map_err(|p| place.fail(line, &headers[c], p))
        };
        let coord = |c: Option<usize>| {
            let Some(col) = c else { return Ok(None) };
            let Some(raw) = get(c) else { return Ok(None) };
            raw.parse::<f64>().map(Some).map_err(|_| {
                place.fail(
                    line,
                    &headers[col],
                    format!("value {raw:?} is not a number"),
                )
            })
        };
        let raw_att = &rec[att_col];
        let expected_attendance = raw_att.parse::<u32>().map_err(|_| {
            place.fail(
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
            let id = SeriesId::parse(s).map_err(|e| place.fail(line, "series", e.to_string()))?;
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
            name: rec[name_col].to_owned(),
            venue,
            latitude: coord(lat_col)?,
            longitude: coord(lon_col)?,
            starts_at: instant(start_col)?,
            ends_at: instant(end_col)?,
            expected_attendance,
            series: linked,
        }
        .validate()
        .map_err(|e| place.fail(line, "(row)", e.to_string()))?;
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
