//! Traffic patterns: the demand profile by weekday and hour of the series' local time, relative
//! to the mean hour, and the named peaks measured on it beside what the seed expected (morning
//! 6-9 h ×3.5, evening 18-22 h ×4, Friday/Saturday nights ×5, events ×10). Pure: observations
//! (in local time) and event hours are arguments.

use chrono::{Datelike, NaiveDateTime, Timelike};
use serde::Serialize;

/// One named peak: the mean demand of its hours relative to the mean hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peak {
    pub name: String,
    pub hours: String,
    pub measured: Option<f64>,
    pub seed_expected: f64,
}

/// The profile and its peaks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Patterns {
    pub hours_used: usize,
    pub mean_hour: f64,
    /// `profile[weekday][hour]`, weekday 0 = Monday: mean demand ÷ the mean hour.
    pub profile: Vec<Vec<Option<f64>>>,
    /// Mean demand ÷ the mean hour, by hour of day over all days.
    pub by_hour: Vec<Option<f64>>,
    pub peaks: Vec<Peak>,
    /// The three busiest weekday-hours.
    pub busiest: Vec<(String, u32, f64)>,
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

/// Measures the patterns. `obs` are (local time, demand); `in_event` says whether an hour was
/// during a registered event (those hours are left out of the profile and measured apart).
pub fn measure(obs: &[(NaiveDateTime, f64)], in_event: impl Fn(usize) -> bool) -> Patterns {
    let regular: Vec<(NaiveDateTime, f64)> = obs
        .iter()
        .enumerate()
        .filter(|(i, _)| !in_event(*i))
        .map(|(_, o)| *o)
        .collect();
    let mean_hour = mean(regular.iter().map(|(_, d)| *d)).unwrap_or(0.0);
    let rel = |x: f64| if mean_hour > 0.0 { x / mean_hour } else { 0.0 };
    let mut sums = vec![vec![(0.0, 0usize); 24]; 7];
    for (t, d) in &regular {
        let c = &mut sums[t.weekday().num_days_from_monday() as usize][t.hour() as usize];
        c.0 += d;
        c.1 += 1;
    }
    let profile: Vec<Vec<Option<f64>>> = sums
        .iter()
        .map(|day| {
            day.iter()
                .map(|(s, n)| (*n > 0).then(|| rel(s / *n as f64)))
                .collect()
        })
        .collect();
    let by_hour: Vec<Option<f64>> = (0..24)
        .map(|h| {
            mean(
                regular
                    .iter()
                    .filter(|(t, _)| t.hour() == h)
                    .map(|(_, d)| *d),
            )
            .map(rel)
        })
        .collect();
    let window = |f: &dyn Fn(&NaiveDateTime) -> bool| {
        mean(regular.iter().filter(|(t, _)| f(t)).map(|(_, d)| *d)).map(rel)
    };
    let weekday = |t: &NaiveDateTime| t.weekday().num_days_from_monday() < 5;
    let night = |t: &NaiveDateTime| {
        let (d, h) = (t.weekday().num_days_from_monday(), t.hour());
        // Friday and Saturday from 20 h, and the small hours after them (Sat, Sun before 2 h).
        ((d == 4 || d == 5) && h >= 20) || ((d == 5 || d == 6) && h < 2)
    };
    let event = mean(
        obs.iter()
            .enumerate()
            .filter(|(i, _)| in_event(*i))
            .map(|(_, (_, d))| *d),
    )
    .map(rel);
    let peaks = vec![
        Peak {
            name: "morning".into(),
            hours: "Mon-Fri 6-9 h".into(),
            measured: window(&|t| weekday(t) && (6..=9).contains(&t.hour())),
            seed_expected: 3.5,
        },
        Peak {
            name: "evening".into(),
            hours: "every day 18-22 h".into(),
            measured: window(&|t| (18..=22).contains(&t.hour())),
            seed_expected: 4.0,
        },
        Peak {
            name: "weekend_nights".into(),
            hours: "Fri and Sat 20-2 h".into(),
            measured: window(&night),
            seed_expected: 5.0,
        },
        Peak {
            name: "events".into(),
            hours: "hours of registered events".into(),
            measured: event,
            seed_expected: 10.0,
        },
    ];
    let mut cells: Vec<(String, u32, f64)> = profile
        .iter()
        .enumerate()
        .flat_map(|(d, day)| {
            day.iter()
                .enumerate()
                .filter_map(move |(h, v)| v.map(|v| (DAYS[d].to_owned(), h as u32, v)))
        })
        .collect();
    cells.sort_by(|a, b| b.2.total_cmp(&a.2));
    cells.truncate(3);
    Patterns {
        hours_used: regular.len(),
        mean_hour,
        profile,
        by_hour,
        peaks,
        busiest: cells,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn peaks_are_measured_relative_to_the_mean_hour() {
        // Four weeks: 10 an hour, 40 at 7-8 h on weekdays, and one event hour of 200.
        let start = NaiveDate::from_ymd_opt(2026, 3, 2)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let obs: Vec<(NaiveDateTime, f64)> = (0..28 * 24)
            .map(|i| {
                let t = start + chrono::Duration::hours(i);
                let d = if t.weekday().num_days_from_monday() < 5 && (7..=8).contains(&t.hour()) {
                    40.0
                } else {
                    10.0
                };
                (t, if i == 100 { 200.0 } else { d })
            })
            .collect();
        let p = measure(&obs, |i| i == 100);
        let total: f64 = obs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 100)
            .map(|(_, (_, d))| d)
            .sum();
        let mean = total / (obs.len() - 1) as f64;
        assert!((p.mean_hour - mean).abs() < 1e-9);
        let morning = p.peaks[0].measured.unwrap();
        // 6-9 h on weekdays: two hours of 40, two of 10.
        assert!((morning - 25.0 / mean).abs() < 1e-9, "{morning}");
        assert!((p.peaks[3].measured.unwrap() - 200.0 / mean).abs() < 1e-9);
        assert_eq!(p.busiest[0].1, 7);
        assert!((p.profile[0][7].unwrap() - 40.0 / mean).abs() < 1e-9);
    }
}
