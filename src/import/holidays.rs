//! Custom holidays of a series from CSV: `date,name` with ISO dates (`2026-03-14,Concierto`).

use std::path::Path;

use chrono::NaiveDate;

use super::ImportFailure;
use super::table::CsvTable;
use crate::domain::{Holiday, SeriesId};
use crate::store::Store;

/// Reads and checks a holidays CSV.
///
/// # Errors
/// The first bad cell, named by file, line and column.
pub fn parse_holidays_csv(path: &Path) -> Result<Vec<Holiday>, ImportFailure> {
    let mut csv = CsvTable::open(path)?;
    let (date_col, name_col) = (csv.require(&["date"])?, csv.require(&["name"])?);
    let mut out: Vec<Holiday> = Vec::new();
    while let Some(line) = csv.advance()? {
        let (rec, place) = (&csv.record, &csv.place);
        let raw = &rec[date_col];
        let date = raw.parse::<NaiveDate>().map_err(|_| {
            place.fail(
                line,
                "date",
                format!("value {raw:?} is not a date (expected YYYY-MM-DD)"),
            )
        })?;
        let name = rec[name_col].to_owned();
        if name.is_empty() {
            return Err(place.fail(line, "name", "empty holiday name").into());
        }
        if out.iter().any(|h| h.date == date) {
            return Err(place
                .fail(line, "date", format!("date {date} appears twice"))
                .into());
        }
        out.push(Holiday { date, name });
    }
    Ok(out)
}

/// Reads a holidays CSV and adds its days to the series' custom holidays in one transaction.
///
/// # Errors
/// As [`parse_holidays_csv`], or the series does not exist; nothing is written then.
pub async fn import_holidays(
    store: &Store,
    id: &SeriesId,
    path: &Path,
) -> Result<usize, ImportFailure> {
    let holidays = parse_holidays_csv(path)?;
    store.put_custom_holidays(id, &holidays, "csv").await?;
    Ok(holidays.len())
}
