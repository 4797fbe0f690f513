//! The built-in holiday tables: Peru's national public holidays and US federal holidays,
//! each rule with the first year it applies. Exact (and tested) for 2000-2035.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

use super::easter::easter_sunday;

/// Peru's fixed-date national holidays: (month, day, name, first year).
/// Sources: Decreto Legislativo 713 and its amendments; Ley 31788 (7 June, from 2024),
/// Ley 31822 (23 July, from 2023), Ley 31541 (6 August and 9 December, from 2022).
const PE_FIXED: &[(u32, u32, &str, i32)] = &[
    (1, 1, "Año Nuevo", i32::MIN),
    (5, 1, "Día del Trabajo", i32::MIN),
    (6, 7, "Batalla de Arica y Día de la Bandera", 2024),
    (6, 29, "San Pedro y San Pablo", i32::MIN),
    (7, 23, "Día de la Fuerza Aérea del Perú", 2023),
    (7, 28, "Fiestas Patrias: Día de la Independencia", i32::MIN),
    (7, 29, "Fiestas Patrias: Gran Parada Militar", i32::MIN),
    (8, 6, "Batalla de Junín", 2022),
    (8, 30, "Santa Rosa de Lima", i32::MIN),
    (10, 8, "Combate de Angamos", i32::MIN),
    (11, 1, "Día de Todos los Santos", i32::MIN),
    (12, 8, "Inmaculada Concepción", i32::MIN),
    (12, 9, "Batalla de Ayacucho", 2022),
    (12, 25, "Navidad", i32::MIN),
];

/// Peru's holidays of `year`, sorted by date. Easter Sunday is not a public holiday in
/// Peru's official list (it is a Sunday anyway), so it is not here.
pub(crate) fn peru(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let easter = easter_sunday(year);
    let mut days: Vec<_> = PE_FIXED
        .iter()
        .filter(|(_, _, _, since)| year >= *since)
        .map(|&(m, d, name, _)| (ymd(year, m, d), name))
        .collect();
    days.push((easter - Duration::days(3), "Jueves Santo"));
    days.push((easter - Duration::days(2), "Viernes Santo"));
    days.sort();
    days
}

/// US federal holidays of `year` with their observed days (a Saturday holiday is observed
/// on the Friday before, a Sunday one on the Monday after), sorted by date. New Year's Day
/// of the next year observed on 31 December belongs to this year's list.
pub(crate) fn united_states(year: i32) -> Vec<(NaiveDate, &'static str)> {
    let mut days = Vec::with_capacity(16);
    let mut fixed = |m: u32, d: u32, name: &'static str, observed: &'static str| {
        let date = ymd(year, m, d);
        days.push((date, name));
        if let Some(shifted) = observed_on(date) {
            days.push((shifted, observed));
        }
    };
    fixed(1, 1, "New Year's Day", "New Year's Day (observed)");
    if year >= 2021 {
        fixed(
            6,
            19,
            "Juneteenth National Independence Day",
            "Juneteenth National Independence Day (observed)",
        );
    }
    fixed(7, 4, "Independence Day", "Independence Day (observed)");
    fixed(11, 11, "Veterans Day", "Veterans Day (observed)");
    fixed(12, 25, "Christmas Day", "Christmas Day (observed)");
    if year >= 1986 {
        days.push((
            nth_weekday(year, 1, Weekday::Mon, 3),
            "Martin Luther King Jr. Day",
        ));
    }
    days.push((
        nth_weekday(year, 2, Weekday::Mon, 3),
        "Washington's Birthday",
    ));
    days.push((last_weekday(year, 5, Weekday::Mon), "Memorial Day"));
    days.push((nth_weekday(year, 9, Weekday::Mon, 1), "Labor Day"));
    days.push((nth_weekday(year, 10, Weekday::Mon, 2), "Columbus Day"));
    days.push((nth_weekday(year, 11, Weekday::Thu, 4), "Thanksgiving Day"));
    // New Year's Day observed in the previous year: it falls on 31 December of this one.
    days.retain(|(d, _)| d.year() == year);
    if ymd(year + 1, 1, 1).weekday() == Weekday::Sat {
        days.push((ymd(year, 12, 31), "New Year's Day (observed)"));
    }
    days.sort();
    days
}

fn observed_on(date: NaiveDate) -> Option<NaiveDate> {
    match date.weekday() {
        Weekday::Sat => Some(date - Duration::days(1)),
        Weekday::Sun => Some(date + Duration::days(1)),
        _ => None,
    }
}

fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("holiday tables hold valid dates")
}

fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u8) -> NaiveDate {
    NaiveDate::from_weekday_of_month_opt(year, month, weekday, n)
        .expect("every month has 4 of each weekday")
}

fn last_weekday(year: i32, month: u32, weekday: Weekday) -> NaiveDate {
    let first_next = if month == 12 {
        ymd(year + 1, 1, 1)
    } else {
        ymd(year, month + 1, 1)
    };
    let last = first_next - Duration::days(1);
    let back = (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
    last - Duration::days(i64::from(back))
}
