//! Gregorian Easter Sunday (the anonymous "Meeus/Jones/Butcher" algorithm).

use chrono::NaiveDate;

/// Easter Sunday of `year` in the Gregorian calendar.
pub(crate) fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("easter is a valid date")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Weekday};

    #[test]
    fn easter_matches_known_dates_and_is_always_a_sunday_in_march_or_april() {
        let known = [
            (2000, 4, 23),
            (2015, 4, 5),
            (2019, 4, 21),
            (2024, 3, 31),
            (2026, 4, 5),
            (2035, 3, 25),
        ];
        for (y, m, d) in known {
            assert_eq!(easter_sunday(y), NaiveDate::from_ymd_opt(y, m, d).unwrap());
        }
        for y in 1900..=2100 {
            let e = easter_sunday(y);
            assert_eq!(e.weekday(), Weekday::Sun, "{e}");
            assert!(
                (e.month() == 3 && e.day() >= 22) || (e.month() == 4 && e.day() <= 25),
                "{e}"
            );
        }
    }
}
