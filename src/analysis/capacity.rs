//! Capacity and growth planning. Growth is measured on the last 30 days' daily totals, with
//! holidays and event days left out, as a Theil–Sen slope of log demand over pairs of days a
//! whole number of weeks apart (so the weekly cycle cancels and one odd day cannot tilt it: the
//! seasonal Kendall slope), with its 80% confidence interval. The peak is the busiest
//! weekday-hour of the last four weeks; projections grow it (and the whole weekly profile) by
//! the rate, with the rate's interval and the 10th-90th percentiles of the peak hour's weekly
//! values as the interval.
//!
//! A month's rate compounded over a quarter or a year turns a season into a trend (a bike-share
//! series in December, falling 3% a day, projected a year ahead at 0). With a year of history
//! the quarter and the year are projected from the same weeks a year before them (52 weeks, so
//! weekdays line up) grown by the year-over-year change, measured on the last four weeks'
//! days against the same weekdays 364 days earlier. Pure: the caller reads the store.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use serde::Serialize;

use crate::scaling::recommend::instances_for;
use crate::scaling::targets::Target;

/// Growth per day (log scale) with its 80% confidence interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Growth {
    /// e^rate - 1 per day.
    pub daily_rate: f64,
    pub daily_rate_lo: f64,
    pub daily_rate_hi: f64,
    /// The same, compounded over 30 days.
    pub monthly_pct: f64,
    pub days_used: usize,
    /// Holidays and event days left out.
    pub days_excluded: usize,
}

/// z of a two-sided 80% interval.
const Z80: f64 = 1.2816;

/// The value of rank `r` in `sorted` (counted from 1; a fractional rank interpolates, and a rank
/// outside the values takes the nearest end): the bounds of an order-statistic interval.
fn at_rank(sorted: &[f64], r: f64) -> f64 {
    let last = (sorted.len().max(2) - 1) as f64;
    quantile(sorted, ((r - 1.0) / last).clamp(0.0, 1.0))
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos.fract());
    if i + 1 < sorted.len() {
        sorted[i] * (1.0 - f) + sorted[i + 1] * f
    } else {
        sorted[i]
    }
}

/// Growth from daily totals `(date, total, special)` (special: a holiday or event day). Uses
/// the last 30 days; needs at least two same-weekday pairs.
pub fn growth(daily: &[(NaiveDate, f64, bool)]) -> Option<Growth> {
    let last = daily.iter().map(|d| d.0).max()?;
    let from = last - chrono::Duration::days(29);
    let window: Vec<&(NaiveDate, f64, bool)> = daily.iter().filter(|d| d.0 >= from).collect();
    let used: Vec<(i64, f64)> = window
        .iter()
        .filter(|d| !d.2 && d.1 > 0.0)
        .map(|d| ((d.0 - from).num_days(), d.1.ln()))
        .collect();
    let mut slopes = Vec::new();
    for (i, a) in used.iter().enumerate() {
        for b in &used[i + 1..] {
            let gap = b.0 - a.0;
            if gap > 0 && gap % 7 == 0 {
                slopes.push((b.1 - a.1) / gap as f64);
            }
        }
    }
    if slopes.len() < 2 {
        return None;
    }
    slopes.sort_by(f64::total_cmp);
    // The 80% confidence interval of the median slope (Sen 1968, for the seasonal Kendall
    // statistic of Hirsch, Slack and Smith 1982: each weekday is a season and contributes
    // n(n-1)(2n+5)/18 to the variance): the slopes of ranks (N -/+ z sqrt(var)) / 2, counted
    // from 1. Not the spread of the slopes themselves, which is day-to-day noise: its 10th-90th
    // percentiles compounded over a year put nyc-taxi's peak anywhere from 42 to 65 million.
    let mut per_weekday = [0usize; 7];
    for (day, _) in &used {
        per_weekday[day.rem_euclid(7) as usize] += 1;
    }
    let var: f64 = per_weekday
        .iter()
        .map(|&n| {
            let n = n as f64;
            n * (n - 1.0) * (2.0 * n + 5.0) / 18.0
        })
        .sum();
    let n = slopes.len() as f64;
    let c = Z80 * var.sqrt();
    let (m, lo, hi) = (
        quantile(&slopes, 0.5),
        at_rank(&slopes, (n - c) / 2.0),
        at_rank(&slopes, (n + c) / 2.0 + 1.0),
    );
    Some(Growth {
        daily_rate: m.exp() - 1.0,
        daily_rate_lo: lo.exp() - 1.0,
        daily_rate_hi: hi.exp() - 1.0,
        monthly_pct: ((m * 30.0).exp() - 1.0) * 100.0,
        days_used: used.len(),
        days_excluded: window.len() - used.len(),
    })
}

/// The change of daily demand over a year, with its 80% confidence interval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct YearOverYear {
    /// Median over the compared days of (day ÷ the same weekday 364 days before) - 1.
    pub change: f64,
    pub change_lo: f64,
    pub change_hi: f64,
    /// Days compared (the last 28, holidays and event days on either side left out).
    pub days_compared: usize,
}

/// Days of the last four weeks a year-over-year change needs to compare.
const MIN_YEARLY_DAYS: usize = 14;

/// The year-over-year change from daily totals `(date, total, special)`: each of the last 28
/// days against the same weekday 364 days before, both ordinary days; `None` with fewer than
/// `MIN_YEARLY_DAYS` such pairs.
pub fn yearly(daily: &[(NaiveDate, f64, bool)]) -> Option<YearOverYear> {
    let last = daily.iter().map(|d| d.0).max()?;
    let by_date: std::collections::HashMap<NaiveDate, (f64, bool)> =
        daily.iter().map(|d| (d.0, (d.1, d.2))).collect();
    let ok = |d: NaiveDate| by_date.get(&d).filter(|(v, special)| !special && *v > 0.0);
    let mut logs: Vec<f64> = (0..28)
        .filter_map(|k| {
            let d = last - chrono::Duration::days(k);
            let (now, _) = ok(d)?;
            let (then, _) = ok(d - chrono::Duration::days(364))?;
            Some((now / then).ln())
        })
        .collect();
    if logs.len() < MIN_YEARLY_DAYS {
        return None;
    }
    logs.sort_by(f64::total_cmp);
    // The median's 80% confidence interval: the order statistics of ranks (m + 1) / 2 -/+
    // z sqrt(m) / 2 (the binomial's normal approximation), counted from 1.
    let m = logs.len() as f64;
    let half = Z80 * m.sqrt() / 2.0;
    Some(YearOverYear {
        change: quantile(&logs, 0.5).exp() - 1.0,
        change_lo: at_rank(&logs, (m + 1.0) / 2.0 - half).exp() - 1.0,
        change_hi: at_rank(&logs, (m + 1.0) / 2.0 + half).exp() - 1.0,
        days_compared: logs.len(),
    })
}

/// The busiest weekday-hour and the weekly profile it sits in.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Peak {
    /// `Fri 19:00` in the series' local time.
    pub when: String,
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
}

/// Mean demand per (weekday, hour) of the given hours, and the peak cell with the spread of
/// its weekly values.
pub fn profile(hours: &[(NaiveDateTime, f64)]) -> (Vec<f64>, Option<Peak>) {
    let mut cells: Vec<Vec<f64>> = vec![Vec::new(); 168];
    for (t, d) in hours {
        let i = t.weekday().num_days_from_monday() as usize * 24 + t.hour() as usize;
        cells[i].push(*d);
    }
    let means: Vec<f64> = cells
        .iter()
        .map(|c| {
            if c.is_empty() {
                0.0
            } else {
                c.iter().sum::<f64>() / c.len() as f64
            }
        })
        .collect();
    let best = (0..168)
        .filter(|&i| !cells[i].is_empty())
        .max_by(|&a, &b| means[a].total_cmp(&means[b]));
    let peak = best.map(|i| {
        let mut v = cells[i].clone();
        v.sort_by(f64::total_cmp);
        const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        Peak {
            when: format!("{} {:02}:00", DAYS[i / 24], i % 24),
            mean: means[i],
            lo: quantile(&v, 0.1),
            hi: quantile(&v, 0.9),
        }
    });
    (means, peak)
}

/// One horizon's projection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Projection {
    pub horizon: String,
    pub days: i64,
    pub peak_hour: String,
    pub peak: f64,
    pub peak_lo: f64,
    pub peak_hi: f64,
    /// Mean demand per hour over a week of the profile, grown.
    pub mean_hour: f64,
    /// What it is projected from: `recent growth` (the last four weeks grown by the 30-day
    /// rate) or `a year before` (the same weeks a year earlier, grown by the year-over-year
    /// change).
    pub basis: String,
    pub targets: Vec<TargetNeed>,
}

/// What a target needs for a projection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetNeed {
    pub target: String,
    pub unit: String,
    /// For the projected peak (its upper bound in `peak_hi`).
    pub peak: u32,
    pub peak_hi: u32,
    /// Instance-hours a month over the grown weekly profile, and their cost at the target's
    /// price (when it has one).
    pub monthly_instance_hours: f64,
    pub monthly_cost: Option<f64>,
    pub within_max: bool,
}

/// Where a target stands now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Headroom {
    pub target: String,
    /// The current peak's need ÷ max.
    pub utilization: f64,
    /// max − the current peak's need.
    pub headroom: i64,
    /// Days until the peak needs more than max at the measured growth (None: not growing, or
    /// already past).
    pub days_to_max: Option<f64>,
    /// The growth it assumes: `year over year` when there is a year of history (a trend
    /// without the season), else `recent growth` (the 30-day rate).
    pub growth_basis: String,
}

/// The seed's growth phases.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Phase {
    pub phase: String,
    pub users: Option<u64>,
    pub daily_trips: Option<f64>,
    pub basis: String,
}

const PHASES: [(&str, f64, f64); 4] = [
    ("MVP", 1_000.0, 100.0),
    ("early growth", 10_000.0, 1_000.0),
    ("scale-up", 100_000.0, 10_000.0),
    ("enterprise", 1_000_000.0, 100_000.0),
];

/// The phase for users and daily trips (the higher of the two when both are known).
pub fn phase(users: Option<u64>, daily_trips: Option<f64>, basis: &str) -> Option<Phase> {
    let rank = |v: f64, col: usize| {
        PHASES
            .iter()
            .position(|p| v < if col == 0 { p.1 } else { p.2 })
            .unwrap_or(PHASES.len())
    };
    let r = [
        users.map(|u| rank(u as f64, 0)),
        daily_trips.map(|t| rank(t, 1)),
    ]
    .into_iter()
    .flatten()
    .max()?;
    Some(Phase {
        phase: PHASES.get(r).map_or("market leader", |p| p.0).to_owned(),
        users,
        daily_trips,
        basis: basis.to_owned(),
    })
}

/// The horizons projected, in days.
pub const HORIZONS: [(&str, i64); 4] = [
    ("next week", 7),
    ("next month", 30),
    ("next quarter", 91),
    ("next year", 365),
];

/// Projects the peak and each target's needs for next week, month, quarter and year from the
/// last four weeks' `profile` and `peak`, grown by the 30-day rate.
pub fn project(g: &Growth, profile: &[f64], peak: &Peak, targets: &[Target]) -> Vec<Projection> {
    HORIZONS
        .into_iter()
        .map(|(name, days)| recent(name, days, g, profile, peak, targets))
        .collect()
}

/// One horizon from the recent weeks and the 30-day rate.
fn recent(
    name: &str,
    days: i64,
    g: &Growth,
    profile: &[f64],
    peak: &Peak,
    targets: &[Target],
) -> Projection {
    let d = days as f64;
    let grow = |rate: f64| ((1.0 + rate).ln() * d).exp();
    let factors = (
        grow(g.daily_rate),
        grow(g.daily_rate_lo),
        grow(g.daily_rate_hi),
    );
    grown(name, days, "recent growth", profile, peak, factors, targets)
}

/// One horizon from the weeks a year before it (`profile`, `peak`), grown by `y`.
pub fn a_year_before(
    name: &str,
    days: i64,
    y: &YearOverYear,
    profile: &[f64],
    peak: &Peak,
    targets: &[Target],
) -> Projection {
    let factors = (1.0 + y.change, 1.0 + y.change_lo, 1.0 + y.change_hi);
    grown(name, days, "a year before", profile, peak, factors, targets)
}

/// A projection: `profile` and `peak` times the factors (expected, low, high), and what each
/// target needs for it.
fn grown(
    name: &str,
    days: i64,
    basis: &str,
    profile: &[f64],
    peak: &Peak,
    (f, flo, fhi): (f64, f64, f64),
    targets: &[Target],
) -> Projection {
    let (p, plo, phi) = (peak.mean * f, peak.lo * flo, peak.hi * fhi);
    let needs = targets
        .iter()
        .map(|t| {
            let cap = t.capacity();
            let hours: f64 = profile
                .iter()
                .map(|c| f64::from(instances_for(c * f, &cap).clamp(t.min, u32::MAX)))
                .sum::<f64>()
                * 730.0
                / 168.0;
            let peak_n = instances_for(p, &cap).max(t.min);
            TargetNeed {
                target: t.name.clone(),
                unit: t.kind.unit().to_owned(),
                peak: peak_n,
                peak_hi: instances_for(phi.max(p), &cap).max(t.min),
                monthly_instance_hours: hours,
                monthly_cost: t.price_per_instance_hour.map(|price| hours * price),
                within_max: peak_n <= t.max,
            }
        })
        .collect();
    Projection {
        horizon: name.to_owned(),
        days,
        peak_hour: peak.when.clone(),
        peak: p,
        peak_lo: plo.min(p),
        peak_hi: phi.max(p),
        mean_hour: profile.iter().sum::<f64>() / 168.0 * f,
        basis: basis.to_owned(),
        targets: needs,
    }
}

/// Each target's utilization, headroom and time to its max at the current peak and growth: the
/// year-over-year change spread over 364 days when `yearly` is known (a December decline is the
/// season, not the trend), else the 30-day rate.
pub fn headroom(
    g: &Growth,
    yearly: Option<&YearOverYear>,
    peak: &Peak,
    targets: &[Target],
) -> Vec<Headroom> {
    let (rate, basis) = match yearly {
        Some(y) => ((1.0 + y.change).ln() / 364.0, "year over year"),
        None => ((1.0 + g.daily_rate).ln(), "recent growth"),
    };
    targets
        .iter()
        .map(|t| {
            let cap = t.capacity();
            let need = instances_for(peak.mean, &cap);
            // Demand the max serves in an hour.
            let at_max = f64::from(t.max) * cap.requests_per_instance_per_second * 3600.0;
            let days = (rate > 0.0 && peak.mean > 0.0 && at_max > peak.mean)
                .then(|| (at_max / peak.mean).ln() / rate);
            Headroom {
                target: t.name.clone(),
                utilization: if t.max > 0 {
                    f64::from(need) / f64::from(t.max)
                } else {
                    f64::INFINITY
                },
                headroom: i64::from(t.max) - i64::from(need),
                days_to_max: days,
                growth_basis: basis.to_owned(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(n: i64, f: impl Fn(i64) -> f64, special: &[i64]) -> Vec<(NaiveDate, f64, bool)> {
        let start = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        (0..n)
            .map(|i| {
                (
                    start + chrono::Duration::days(i),
                    f(i),
                    special.contains(&i),
                )
            })
            .collect()
    }

    #[test]
    fn growth_is_found_through_the_weekly_cycle_and_ignores_special_days() {
        // 1% a day, weekends at half, a holiday at ten times and an event day at zero.
        let g = growth(&days(
            40,
            |i| {
                let weekly = if i % 7 >= 5 { 0.5 } else { 1.0 };
                if i == 33 {
                    1e6
                } else {
                    1000.0 * 1.01f64.powi(i as i32) * weekly
                }
            },
            &[33, 35],
        ))
        .unwrap();
        assert!((g.daily_rate - 0.01).abs() < 1e-9, "{g:?}");
        assert!(g.daily_rate_lo <= g.daily_rate && g.daily_rate <= g.daily_rate_hi);
        assert_eq!((g.days_used, g.days_excluded), (28, 2));
        assert!((g.monthly_pct - (1.01f64.powi(30) - 1.0) * 100.0).abs() < 1e-6);
        // Flat: no growth.
        let g = growth(&days(30, |_| 500.0, &[])).unwrap();
        assert!(g.daily_rate.abs() < 1e-12);
        assert!(
            growth(&days(7, |_| 1.0, &[])).is_none(),
            "a week is not enough"
        );
    }

    #[test]
    fn the_growth_interval_covers_the_true_rate_about_as_often_as_it_says() {
        // 400 series of 30 days: 0.5% a day, a weekly cycle, independent noise of 10% a day.
        let mut s = 11u64;
        let mut normal = || crate::bench::normal(&mut s);
        let (mut covered, mut width, mut spread) = (0, 0.0, 0.0);
        for _ in 0..400 {
            let noise: Vec<f64> = (0..30).map(|_| 0.1 * normal()).collect();
            let g = growth(&days(
                30,
                |i| {
                    let weekly = if i % 7 >= 5 { 0.6 } else { 1.0 };
                    1000.0 * weekly * (0.005 * i as f64 + noise[i as usize]).exp()
                },
                &[],
            ))
            .unwrap();
            let (lo, hi) = ((1.0 + g.daily_rate_lo).ln(), (1.0 + g.daily_rate_hi).ln());
            covered += usize::from(lo <= 0.005 && 0.005 <= hi);
            width += hi - lo;
            // The 10th-90th percentiles of single slopes, for comparison.
            spread += 2.0 * Z80 * 0.1 * 2f64.sqrt() / 7.0;
        }
        let coverage = covered as f64 / 400.0;
        assert!((0.72..=0.90).contains(&coverage), "coverage {coverage}");
        assert!(width < 0.6 * spread, "{width} against {spread}");

        // The same for the year-over-year change: 10% a year, the same noise.
        let mut covered = 0;
        for _ in 0..400 {
            let noise: Vec<f64> = (0..400).map(|_| 0.1 * normal()).collect();
            let y = yearly(&days(
                400,
                |i| 1000.0 * (0.1f64.ln_1p() * i as f64 / 364.0 + noise[i as usize]).exp(),
                &[],
            ))
            .unwrap();
            covered += usize::from(y.change_lo <= 0.1 && 0.1 <= y.change_hi);
        }
        let coverage = covered as f64 / 400.0;
        assert!(
            (0.72..=0.90).contains(&coverage),
            "year over year: coverage {coverage}"
        );
    }

    #[test]
    fn the_year_over_year_change_compares_the_same_weekdays_and_skips_special_days() {
        // 10% a year, weekends at half; in the last four weeks a holiday at ten times, and a
        // day whose counterpart a year before was an event.
        let n = 400;
        let special = [n - 5, n - 9 - 364];
        let g = yearly(&days(
            n,
            |i| {
                let weekly = if i % 7 >= 5 { 0.5 } else { 1.0 };
                let v = 1000.0 * 1.1f64.powf(i as f64 / 364.0) * weekly;
                if i == n - 5 { v * 10.0 } else { v }
            },
            &special,
        ))
        .unwrap();
        assert!((g.change - 0.1).abs() < 1e-9, "{g:?}");
        assert!(g.change_lo <= g.change && g.change <= g.change_hi);
        assert_eq!(g.days_compared, 26);
        assert!(
            yearly(&days(364 + 13, |_| 1.0, &[])).is_none(),
            "13 days with a counterpart are not enough"
        );
    }

    #[test]
    fn phases_follow_the_seed() {
        assert_eq!(phase(Some(500), None, "config").unwrap().phase, "MVP");
        assert_eq!(
            phase(Some(500), Some(150.0), "config").unwrap().phase,
            "early growth",
            "the higher of the two"
        );
        assert_eq!(
            phase(None, Some(99_999.0), "series").unwrap().phase,
            "enterprise"
        );
        assert_eq!(
            phase(Some(2_000_000), None, "config").unwrap().phase,
            "market leader"
        );
        assert!(phase(None, None, "").is_none());
    }

    #[test]
    fn projections_grow_the_peak_and_size_the_targets() {
        let g = Growth {
            daily_rate: 0.01,
            daily_rate_lo: 0.0,
            daily_rate_hi: 0.02,
            monthly_pct: 0.0,
            days_used: 28,
            days_excluded: 0,
        };
        let peak = Peak {
            when: "Fri 19:00".into(),
            mean: 36_000.0,
            lo: 30_000.0,
            hi: 40_000.0,
        };
        let profile = vec![3600.0; 168];
        let t: Target = toml::from_str("name = \"m\"\nkind = \"cloud_run\"\nseries = \"m\"\nproject = \"p\"\nlocation = \"l\"\nservice = \"s\"\nrequests_per_instance_per_second = 1\nmin = 1\nmax = 20\nprice_per_instance_hour = 0.1\n").unwrap();
        let p = project(&g, &profile, &peak, std::slice::from_ref(&t));
        assert_eq!(p.len(), 4);
        let week = &p[0];
        assert!((week.peak - 36_000.0 * 1.01f64.powi(7)).abs() < 1e-6);
        assert!(week.peak_lo <= week.peak && week.peak <= week.peak_hi);
        // 36,000 × 1.0721 per hour = 10.72 req/s: 11 instances; the flat profile needs 2 (1.07 req/s).
        assert_eq!(week.targets[0].peak, 11);
        assert!((week.targets[0].monthly_instance_hours - 2.0 * 730.0).abs() < 1e-6);
        assert!((week.targets[0].monthly_cost.unwrap() - 146.0).abs() < 1e-6);
        assert!(
            !p[3].targets[0].within_max,
            "a year of 1% a day passes max 20"
        );
        let h = headroom(&g, None, &peak, std::slice::from_ref(&t));
        // Need 10 of 20 now; 20 serve 72,000 an hour, reached after ln(2)/ln(1.01) days.
        assert_eq!((h[0].headroom, h[0].utilization), (10, 0.5));
        assert!((h[0].days_to_max.unwrap() - 2f64.ln() / 1.01f64.ln()).abs() < 1e-9);
        assert_eq!(h[0].growth_basis, "recent growth");
        // With a year of history, the year-over-year change sets the pace, whatever the month.
        let y = YearOverYear {
            change: 0.5,
            change_lo: 0.4,
            change_hi: 0.6,
            days_compared: 28,
        };
        let falling = Growth {
            daily_rate: -0.03,
            ..g
        };
        let h = headroom(&falling, Some(&y), &peak, std::slice::from_ref(&t));
        assert_eq!(h[0].growth_basis, "year over year");
        assert!((h[0].days_to_max.unwrap() - 2f64.ln() / (1.5f64.ln() / 364.0)).abs() < 1e-9);
        assert!(
            headroom(&falling, None, &peak, std::slice::from_ref(&t))[0]
                .days_to_max
                .is_none()
        );
    }
}

/// The whole planning view of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub series: String,
    pub time_zone: String,
    pub as_of: String,
    pub growth: Option<Growth>,
    pub yearly: Option<YearOverYear>,
    pub peak: Option<Peak>,
    pub projections: Vec<Projection>,
    pub headroom: Vec<Headroom>,
    pub phase: Option<Phase>,
}

/// Reads the series' last weeks from the store and plans.
///
/// # Errors
/// When the series does not exist or has no observations.
pub async fn plan(
    store: &crate::store::Store,
    settings: &crate::config::Settings,
    id: &crate::domain::SeriesId,
) -> anyhow::Result<Plan> {
    use anyhow::Context;
    let series = store
        .series(id)
        .await?
        .with_context(|| format!("series {id} does not exist"))?;
    let last = store
        .last_observed_hour(id)
        .await?
        .with_context(|| format!("series {id} has no observations yet"))?;
    let tz = series.time_zone.tz();
    // The last 30 days for the growth, and 400 for the year-over-year change (the last 28 days
    // against 364 before) and the weeks a year before a quarter ahead.
    let obs = store
        .observations(id, last.plus(-24 * 400 + 1), last)
        .await?;
    let calendar = crate::domain::Calendar::new(
        series.time_zone,
        series.calendar,
        store.custom_holidays(id).await?,
    );
    let events = store.events(Some(id)).await?;
    let special =
        |d: NaiveDate| calendar.is_holiday(d) || events.iter().any(|e| e.on_local_date(tz, d));
    let local: Vec<(NaiveDateTime, f64)> = obs
        .iter()
        .map(|o| {
            (
                o.hour.to_utc().with_timezone(&tz).naive_local(),
                o.demand.get(),
            )
        })
        .collect();
    // Whole days only: the last local date may be partial.
    let mut totals: std::collections::BTreeMap<NaiveDate, (f64, usize)> =
        std::collections::BTreeMap::new();
    for (t, d) in &local {
        let e = totals.entry(t.date()).or_insert((0.0, 0));
        e.0 += d;
        e.1 += 1;
    }
    let daily: Vec<(NaiveDate, f64, bool)> = totals
        .iter()
        .filter(|(_, (_, n))| *n >= 23)
        .map(|(d, (s, _))| (*d, *s, special(*d)))
        .collect();
    let g = growth(&daily);
    let recent = last.to_utc().with_timezone(&tz).naive_local() - chrono::Duration::days(28);
    let hours: Vec<(NaiveDateTime, f64)> = local
        .iter()
        .copied()
        .filter(|(t, _)| *t > recent && !special(t.date()))
        .collect();
    let (prof, peak) = profile(&hours);
    let targets: Vec<Target> = settings
        .targets
        .iter()
        .filter(|t| &t.series == id)
        .cloned()
        .collect();
    let y = yearly(&daily);
    let now = last.to_utc().with_timezone(&tz).naive_local();
    let (mut projections, head) = match (&g, &peak) {
        (Some(g), Some(p)) => (
            project(g, &prof, p, &targets),
            headroom(g, y.as_ref(), p, &targets),
        ),
        _ => (Vec::new(), Vec::new()),
    };
    // A quarter or a year ahead: the four weeks up to the same date a year before (for the
    // year, the last four weeks), when three weeks of them are ordinary observed hours.
    if let Some(y) = &y {
        for pr in projections.iter_mut().filter(|pr| pr.days >= 91) {
            let end = (now + chrono::Duration::days(pr.days - 364)).min(now);
            let from = end - chrono::Duration::days(28);
            let window: Vec<(NaiveDateTime, f64)> = local
                .iter()
                .copied()
                .filter(|(t, _)| *t > from && *t <= end && !special(t.date()))
                .collect();
            if window.len() >= 24 * 21
                && let (prof_y, Some(peak_y)) = profile(&window)
            {
                *pr = a_year_before(&pr.horizon, pr.days, y, &prof_y, &peak_y, &targets);
            }
        }
    }
    let pl = &settings.planning;
    let mut basis = "configuration ([planning])".to_owned();
    let mut trips = pl.daily_trips;
    let trips_series = pl
        .trips_series
        .clone()
        .or_else(|| (series.unit == "trips").then(|| id.clone()));
    if trips.is_none()
        && let Some(ts) = trips_series
    {
        let o = store
            .observations(&ts, last.plus(-24 * 7 + 1), last)
            .await?;
        if !o.is_empty() {
            trips = Some(o.iter().map(|o| o.demand.get()).sum::<f64>() / (o.len() as f64 / 24.0));
            basis = format!("daily trips from series {ts} (last 7 days)");
        }
    }
    Ok(Plan {
        series: id.to_string(),
        time_zone: series.time_zone.to_string(),
        as_of: last.to_string(),
        growth: g,
        yearly: y,
        peak,
        projections,
        headroom: head,
        phase: phase(pl.users, trips, &basis),
    })
}

/// The plan for a terminal.
pub fn text(p: &Plan) -> String {
    use std::fmt::Write;
    // The last observed hour in the series' local time, as the other commands show hours.
    let as_of = match (
        crate::domain::TimeZone::parse(&p.time_zone),
        chrono::DateTime::parse_from_rfc3339(&p.as_of),
    ) {
        (Ok(tz), Ok(t)) => t
            .with_timezone(&tz.tz())
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        _ => p.as_of.clone(),
    };
    let mut o = format!(
        "capacity plan for {} ({}), data to {as_of}\n",
        p.series, p.time_zone
    );
    match &p.growth {
        Some(g) => {
            let _ = writeln!(
                o,
                "growth: {:+.2}% a day ({:+.2}% .. {:+.2}%), {:+.1}% a month; {} days used, {} holiday/event days left out",
                g.daily_rate * 100.0,
                g.daily_rate_lo * 100.0,
                g.daily_rate_hi * 100.0,
                g.monthly_pct,
                g.days_used,
                g.days_excluded
            );
        }
        None => o.push_str("growth: not enough whole days (needs two weeks of the last 30)\n"),
    }
    if let Some(y) = &p.yearly {
        let _ = writeln!(
            o,
            "year over year: {:+.1}% ({:+.1}% .. {:+.1}%), {} days of the last four weeks against 364 days before",
            y.change * 100.0,
            y.change_lo * 100.0,
            y.change_hi * 100.0,
            y.days_compared
        );
    }
    if let Some(pk) = &p.peak {
        let _ = writeln!(
            o,
            "peak hour now: {} at {:.0} ({:.0} .. {:.0})",
            pk.when, pk.mean, pk.lo, pk.hi
        );
    }
    for pr in &p.projections {
        let _ = writeln!(
            o,
            "{:<13} peak {:.0} ({:.0} .. {:.0}) at {}, mean hour {:.0} (from {})",
            pr.horizon, pr.peak, pr.peak_lo, pr.peak_hi, pr.peak_hour, pr.mean_hour, pr.basis
        );
        for t in &pr.targets {
            let cost = t
                .monthly_cost
                .map_or_else(String::new, |c| format!(", {c:.2} a month"));
            let _ = writeln!(
                o,
                "    {}: {} {} at the peak (up to {}), {:.0} instance-hours a month{cost}{}",
                t.target,
                t.peak,
                t.unit,
                t.peak_hi,
                t.monthly_instance_hours,
                if t.within_max { "" } else { "  ABOVE MAX" }
            );
        }
    }
    if p.projections
        .iter()
        .any(|pr| pr.days >= 91 && pr.basis == "recent growth")
    {
        o.push_str(
            "  (a quarter or a year of the 30-day rate compounded: with a year of history they \
             are projected from the same weeks a year before)\n",
        );
    }
    for h in &p.headroom {
        let days = h.days_to_max.map_or_else(
            || format!("not at this growth ({})", h.growth_basis),
            |d| format!("in {d:.0} days ({})", h.growth_basis),
        );
        let _ = writeln!(
            o,
            "{}: utilization {:.0}% of max at the peak, headroom {}, max reached {days}",
            h.target,
            h.utilization * 100.0,
            h.headroom
        );
    }
    match &p.phase {
        Some(ph) => {
            let _ = writeln!(o, "growth phase: {} ({})", ph.phase, ph.basis);
        }
        None => o.push_str(
            "growth phase: unknown (set [planning] users or daily_trips, or trips_series)\n",
        ),
    }
    o
}
