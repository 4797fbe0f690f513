//! MSTL + exponential smoothing, the decomposition model for smooth multi-seasonal series.
//!
//! At each origin the last `weeks` weeks of demand are decomposed by MSTL (Bandara, Hyndman &
//! Bergmeir 2021: STL by loess for the daily, then the weekly period, twice over; STL in `stl.rs`,
//! held to `stlrs`'s) into a trend, one seasonal component per period and a remainder. The
//! seasonally adjusted series (trend + remainder) is smoothed by Holt's damped-trend method and
//! each seasonal component repeats its last cycle: the peers' MSTL + AutoETS, except that the
//! smoothing weights are chosen by the MAE of forecasts from the last days before the fit's end
//! (what the trainer compares candidates by) instead of by likelihood.
//!
//! Unlike the profile and ratio-smoothing models, the seasonal shape comes from loess across all
//! the window's days and weeks and evolves with them, so one odd week moves it little.

use serde::{Deserialize, Serialize};

use super::{naive, stl};

const PERIODS: [usize; 2] = [24, 168];
/// Days whose forecasts choose the smoothing weights.
const FIT_DAYS: usize = 14;
const ALPHAS: [f64; 7] = [0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9];
/// (beta, phi): no trend, or a damped one.
const TRENDS: [(f64, f64); 5] = [
    (0.0, 1.0),
    (0.02, 0.9),
    (0.02, 0.98),
    (0.1, 0.8),
    (0.1, 0.9),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mstl {
    /// Weeks of history decomposed at each origin.
    pub weeks: u8,
    /// Level smoothing weight.
    pub alpha: f64,
    /// Trend smoothing weight (0: no trend).
    pub beta: f64,
    /// Trend damping per hour.
    pub phi: f64,
}

/// A decomposition of the hours before an origin.
struct Parts {
    /// Trend + remainder, oldest first.
    adjusted: Vec<f64>,
    /// Each period's seasonal component over the same hours.
    seasonal: Vec<Vec<f64>>,
}

impl Parts {
    /// Decomposes the `hours` before origin `p`, gaps filled from a week back, a day back or the
    /// hour before (None: fewer than two weeks, or nothing observed).
    fn of(y: &[f64], p: usize, hours: usize) -> Option<Self> {
        let start = p.saturating_sub(hours);
        let mut x = y[start..p].to_vec();
        if x.len() < 2 * PERIODS[1] {
            return None;
        }
        let first = x.iter().copied().find(|v| !v.is_nan())?;
        for i in 0..x.len() {
            if x[i].is_nan() {
                x[i] = [168, 24, 1]
                    .iter()
                    .filter_map(|&b| i.checked_sub(b).map(|j| x[j]))
                    .find(|v| !v.is_nan())
                    .unwrap_or(first);
            }
        }
        let (adjusted, seasonal) = mstl(&x);
        Some(Self { adjusted, seasonal })
    }

    /// The seasonal part of the hour `k` hours past the decomposed ones (k = 0: the origin):
    /// each component's value at the same point of its last cycle.
    fn seasonal_at(&self, k: usize) -> f64 {
        let n = self.adjusted.len();
        PERIODS
            .iter()
            .zip(&self.seasonal)
            .map(|(&period, s)| s[n - period + k % period])
            .sum()
    }
}

/// MSTL (Bandara, Hyndman & Bergmeir 2021, algorithm 1, with its defaults: two passes over the
/// periods, seasonal windows 11 and 15, STL's own defaults otherwise): STL of the series less the
/// other seasons, period by period. Returns the seasonally adjusted series (trend + remainder)
/// and each period's seasonal component (at least two weeks of `x`).
fn mstl(x: &[f64]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut adjusted = x.to_vec();
    let mut seasonal = vec![vec![0.0; x.len()]; PERIODS.len()];
    for _ in 0..2 {
        for (i, &period) in PERIODS.iter().enumerate() {
            for (a, s) in adjusted.iter_mut().zip(&seasonal[i]) {
                *a += s;
            }
            (seasonal[i], _) = stl::decompose(&adjusted, period, 7 + 4 * (i + 1));
            for (a, s) in adjusted.iter_mut().zip(&seasonal[i]) {
                *a -= s;
            }
        }
    }
    (adjusted, seasonal)
}

/// Holt's damped-trend smoothing: level and trend after observing `v`.
fn step(level: f64, trend: f64, v: f64, alpha: f64, beta: f64, phi: f64) -> (f64, f64) {
    let next = alpha * v + (1.0 - alpha) * (level + phi * trend);
    (next, beta * (next - level) + (1.0 - beta) * phi * trend)
}

/// Level and trend after smoothing all of `a`, starting flat at its first value.
fn smooth(a: &[f64], alpha: f64, beta: f64, phi: f64) -> (f64, f64) {
    a[1..]
        .iter()
        .fold((a[0], 0.0), |(l, b), &v| step(l, b, v, alpha, beta, phi))
}

/// The adjusted forecasts for leads 1..=h from level and trend.
fn ahead(level: f64, trend: f64, phi: f64, h: usize) -> impl Iterator<Item = f64> {
    let mut damp = 0.0;
    let mut pow = 1.0;
    (0..h).map(move |_| {
        pow *= phi;
        damp += pow;
        level + damp * trend
    })
}

impl Mstl {
    /// Chooses the smoothing weights on one decomposition of the hours before `end`: by the MAE
    /// of the adjusted series' forecasts (leads 1-24, observed hours) from each of the last
    /// `FIT_DAYS` days' same hour. The seasonal components are the decomposition's own there,
    /// so the weights are judged on what they forecast, the level and trend.
    pub fn fit(y: &[f64], end: usize, weeks: u8) -> Self {
        let hours = 168 * usize::from(weeks);
        let mut best = (f64::INFINITY, 0.2, 0.0, 1.0);
        let Some(parts) = Parts::of(y, end, hours) else {
            return Self::with(weeks, best);
        };
        let a = &parts.adjusted;
        let start = end - a.len();
        let first = a.len().saturating_sub(24 * FIT_DAYS).max(1);
        for alpha in ALPHAS {
            for (beta, phi) in TRENDS {
                // One pass: the state at each origin forecasts the next day.
                let mut err = 0.0;
                let (mut level, mut trend) = (a[0], 0.0);
                for (i, &v) in a.iter().enumerate().skip(1) {
                    if i >= first && (a.len() - i) % 24 == 0 {
                        for (k, f) in ahead(level, trend, phi, 24).enumerate() {
                            if i + k < a.len() && !y[start + i + k].is_nan() {
                                err += (f - a[i + k]).abs();
                            }
                        }
                    }
                    (level, trend) = step(level, trend, v, alpha, beta, phi);
                }
                if err < best.0 {
                    best = (err, alpha, beta, phi);
                }
            }
        }
        Self::with(weeks, best)
    }

    fn with(weeks: u8, (_, alpha, beta, phi): (f64, f64, f64, f64)) -> Self {
        Self {
            weeks,
            alpha,
            beta,
            phi,
        }
    }

    /// Forecasts for hours `p..end`; with under two weeks of history, seasonal naive (a week).
    pub fn forecast(&self, y: &[f64], p: usize, end: usize) -> Vec<f64> {
        let Some(parts) = Parts::of(y, p, 168 * usize::from(self.weeks)) else {
            return (p..end).map(|t| naive::seasonal(y, p, t, 168)).collect();
        };
        let (level, trend) = smooth(&parts.adjusted, self.alpha, self.beta, self.phi);
        ahead(level, trend, self.phi, end.saturating_sub(p))
            .enumerate()
            .map(|(k, a)| a + parts.seasonal_at(k))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Daily and weekly cycles, a slow drift, and noise that persists hour to hour with `rho`.
    fn series(weeks: usize, rho: f64, noise: f64) -> Vec<f64> {
        let mut s = 5u64;
        let mut e = 0.0;
        (0..weeks * 168)
            .map(|t| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                e = rho * e + noise * ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5);
                let day = 40.0 * (std::f64::consts::TAU * (t % 24) as f64 / 24.0).sin();
                let week = if t % 168 >= 120 { -25.0 } else { 10.0 };
                200.0 + 0.01 * t as f64 + day + week + e
            })
            .collect()
    }

    fn mae(f: &[f64], y: &[f64]) -> f64 {
        f.iter().zip(y).map(|(a, b)| (a - b).abs()).sum::<f64>() / f.len() as f64
    }

    #[test]
    fn a_clean_multi_seasonal_series_is_forecast_closely() {
        let y = series(10, 0.0, 0.0);
        let p = y.len() - 48;
        let m = Mstl::fit(&y, p, 6);
        let f = m.forecast(&y, p, p + 24);
        let e = mae(&f, &y[p..p + 24]);
        assert!(e < 1.0, "MAE {e} on a series of amplitude 40 ({m:?})");
    }

    #[test]
    fn it_beats_weekly_naive_when_noise_hides_the_week() {
        // Independent noise: the last week repeats it; loess across weeks averages it out.
        let y = series(12, 0.0, 40.0);
        let (mut ours, mut naive_err) = (0.0, 0.0);
        let p0 = 10 * 168;
        let m = Mstl::fit(&y, p0, 6);
        for o in (p0..p0 + 7 * 24).step_by(24) {
            let truth = &y[o..o + 24];
            ours += mae(&m.forecast(&y, o, o + 24), truth);
            let nv: Vec<f64> = (o..o + 24)
                .map(|t| naive::seasonal(&y, o, t, 168))
                .collect();
            naive_err += mae(&nv, truth);
        }
        assert!(ours < 0.85 * naive_err, "{ours} vs naive {naive_err}");
    }

    #[test]
    fn smoothing_follows_a_persistent_disturbance_and_ignores_noise() {
        let persistent = series(10, 0.98, 30.0);
        let m = Mstl::fit(&persistent, 9 * 168, 6);
        assert!(m.alpha >= 0.35, "{m:?}");
        let noise = series(10, 0.0, 30.0);
        let n = Mstl::fit(&noise, 9 * 168, 6);
        assert!(n.alpha <= 0.2, "{n:?}");
    }

    #[test]
    fn gaps_and_a_short_history_are_handled() {
        let mut y = series(8, 0.5, 10.0);
        let p = y.len() - 24;
        for t in (p - 100..p - 90).chain([p - 1, 3]) {
            y[t] = f64::NAN;
        }
        let m = Mstl::fit(&y, p, 6);
        let f = m.forecast(&y, p, p + 24);
        assert!(f.iter().all(|v| v.is_finite()));
        // Under two weeks: seasonal naive's answer.
        let short = &y[..300];
        let g = m.forecast(short, 250, 274);
        for (k, v) in g.iter().enumerate() {
            assert_eq!(*v, naive::seasonal(short, 250, 250 + k, 168));
        }
    }

    #[test]
    fn the_decomposition_is_stlrs_mstl() {
        let x = series(8, 0.7, 30.0);
        let (adjusted, seasonal) = mstl(&x);
        let reference = stlrs::MstlParams::new().fit(&x, &PERIODS).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());
        for (mine, theirs) in seasonal.iter().zip(reference.seasonal()) {
            assert!(mine.iter().zip(theirs).all(|(a, b)| close(*a, *b)));
        }
        let theirs = reference.trend().iter().zip(reference.remainder());
        assert!(
            adjusted
                .iter()
                .zip(theirs)
                .all(|(a, (t, r))| close(*a, t + r))
        );
    }

    #[test]
    fn nothing_at_or_after_the_origin_is_read() {
        let y = series(9, 0.9, 20.0);
        let p = 8 * 168 + 5;
        let m = Mstl::fit(&y, p, 6);
        let f = m.forecast(&y, p, p + 200);
        let mut changed = y;
        for v in &mut changed[p..] {
            *v = 3.0 * *v + 1000.0;
        }
        assert_eq!(Mstl::fit(&changed, p, 6), m);
        assert_eq!(m.forecast(&changed, p, p + 200), f);
    }
}
