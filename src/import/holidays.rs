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
        if crate::domain::check_text("name", &name).is_err() {
            return Err(place
                .fail(line, "name", "contains a NUL character (U+0000)")
                .into());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bad_holiday_row_is_named_by_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let ok = file("ok.csv", "date,name\n2026-06-29,San Pedro y San Pablo\n");
        assert_eq!(
            parse_holidays_csv(&ok).unwrap()[0].name,
            "San Pedro y San Pablo"
        );
        for (text, place, why) in [
            ("date,name\n2026-06-29,a\u{0}b\n", ":2", "NUL"),
            ("date,name\n2026-06-29,\n", ":2", "empty holiday name"),
            (
                "date,name\n2026-06-29,a\n2026-06-29,b\n",
                ":3",
                "appears twice",
            ),
            ("date,name\n29/06/2026,a\n", ":2", "is not a date"),
        ] {
            let e = parse_holidays_csv(&file("bad.csv", text))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains(&format!("bad.csv{place}")) && e.contains(why),
                "{e}"
            );
        }
    }
}
