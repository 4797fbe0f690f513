//! Custom holidays of a series from CSV: `date,name` with ISO dates (`2026-03-14,Concierto`).

use std::fs::File;
use std::path::Path;

use chrono::NaiveDate;

use super::{ImportError, ImportFailure};
use crate::domain::{Holiday, SeriesId};
use crate::store::Store;

/// Reads and checks a holidays CSV.
///
/// # Errors
/// The first bad cell, named by file, line and column.
pub fn parse_holidays_csv(path: &Path) -> Result<Vec<Holiday>, ImportFailure> {
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
    let (Some(date_col), Some(name_col)) = (
        headers.iter().position(|h| h == "date"),
        headers.iter().position(|h| h == "name"),
    ) else {
        return Err(fail(
            1,
            "(header)",
            "the header needs columns \"date\" and \"name\"".to_owned(),
        )
        .into());
    };
    let mut out: Vec<Holiday> = Vec::new();
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
        let raw = &record[date_col];
        let date = raw.parse::<NaiveDate>().map_err(|_| {
            fail(
                line,
                "date",
                format!("value {raw:?} is not a date (expected YYYY-MM-DD)"),
            )
        })?;
        let name = record[name_col].to_owned();
        if name.is_empty() {
            return Err(fail(line, "name", "empty holiday name".to_owned()).into());
        }
        if out.iter().any(|h| h.date == date) {
            return Err(fail(line, "date", format!("date {date} appears twice")).into());
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
