//! Exponential smoothing of demand over a plain seasonal profile (multiplicative; `mstl` is the
//! decomposition by loess):
//! each hour's seasonal reference is the mean of the same hour over the previous `cycles`
//! periods; demand over its reference is smoothed hour by hour into a level (simple exponential
//! smoothing, weight `alpha`); a forecast is the reference times that level, its distance from 1
//! shrunk by `phi` per hour ahead. Where the profile alone lags (a warm week, a level that moved
//! this morning) the level follows the last hours. `alpha` and `phi` are chosen at fit time by the
//! MAE of forecasts from the last days before the fit's end.

use serde::{Deserialize, Serialize};

use super::naive;

/// Hours of smoothing before an origin (the level forgets faster than this for every `alpha` of
/// the grid but the smallest).
const BURN_IN: usize = 24 * 14;
/// Days whose forecasts choose `alpha` and `phi`.
const FIT_DAYS: usize = 14;
const ALPHAS: [f64; 8] = [0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9];
const PHIS: [f64; 4] = [0.9, 0.95, 0.98, 1.0];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ets {
    pub period: u16,
    pub cycles: u8,
    pub alpha: f64,
    pub phi: f64,
}

/// The seasonal reference of hour `t` known at origin `p`: the mean of the last `cycles`
/// observed values a whole number of periods back and before `p` (NaN: none).
fn reference(y: &[f64], p: usize, t: usize, period: usize, cycles: usize) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    let mut back = period;
    while n < cycles && back <= t {
        let s = t - back;
        if s < p && !y[s].is_nan() {
            sum += y[s];
            n += 1;
        }
        back += period;
    }
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// Demand over its reference for the hours before origin `p` that smoothing reads (NaN where
/// either is missing or the reference is not positive).
fn ratios(y: &[f64], p: usize, period: usize, cycles: usize) -> Vec<f64> {
    (p.saturating_sub(BURN_IN)..p)
        .map(|t| {
            let r = reference(y, t, t, period, cycles);
            if y[t].is_nan() || r.is_nan() || r <= 0.0 {
                f64::NAN
            } else {
                y[t] / r
            }
        })
        .collect()
}

/// The smoothed level at the end of `ratios`, starting from 1 (demand as its reference).
fn level(ratios: &[f64], alpha: f64) -> f64 {
    ratios
        .iter()
        .filter(|r| !r.is_nan())
        .fold(1.0, |l, r| l + alpha * (r - l))
}

/// One day of fitting: the ratios before its origin, and each target's lead, reference and
/// demand.
struct Day {
    ratios: Vec<f64>,
    targets: Vec<(usize, f64, f64)>,
}

impl Ets {
    /// Chooses `alpha` and `phi` on the forecasts from each of the last `FIT_DAYS` days' same
    /// hour before `end` (leads 1-24, targets before `end`).
    pub fn fit(y: &[f64], end: usize, period: u16, cycles: u8) -> Self {
        let (per, cyc) = (usize::from(period), usize::from(cycles));
        let days: Vec<Day> = (1..=FIT_DAYS)
            .filter_map(|d| end.checked_sub(24 * d))
            .filter(|&o| o >= per)
            .map(|o| Day {
                ratios: ratios(y, o, per, cyc),
                targets: (o..(o + 24).min(end))
                    .filter(|&t| !y[t].is_nan())
                    .map(|t| (t - o + 1, reference(y, o, t, per, cyc), y[t]))
                    .filter(|(_, r, _)| !r.is_nan())
                    .collect(),
            })
            .collect();
        let mut best = (f64::INFINITY, 0.2, 0.95);
        for alpha in ALPHAS {
            let levels: Vec<f64> = days.iter().map(|d| level(&d.ratios, alpha)).collect();
            for phi in PHIS {
                let err: f64 = days
                    .iter()
                    .zip(&levels)
                    .flat_map(|(d, l)| {
                        d.targets.iter().map(move |&(h, r, v)| {
                            (r * (1.0 + phi.powi(h as i32) * (l - 1.0)) - v).abs()
                        })
                    })
                    .sum();
                if err < best.0 {
                    best = (err, alpha, phi);
                }
            }
        }
        Self {
            period,
            cycles,
            alpha: best.1,
            phi: best.2,
        }
    }

    pub fn forecast(&self, y: &[f64], p: usize, end: usize) -> Vec<f64> {
        let (per, cyc) = (usize::from(self.period), usize::from(self.cycles));
        let l = level(&ratios(y, p, per, cyc), self.alpha);
        (p..end)
            .map(|t| {
                let r = reference(y, p, t, per, cyc);
                if r.is_nan() {
                    naive::seasonal(y, p, t, per)
                } else {
                    r * (1.0 + self.phi.powi((t - p + 1) as i32) * (l - 1.0))
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly(alpha: f64, phi: f64) -> Ets {
        Ets {
            period: 168,
            cycles: 4,
            alpha,
            phi,
        }
    }

    /// A weekly pattern whose level steps up by 30% a few hours before the origin.
    fn stepped(weeks: usize, step_at: usize) -> Vec<f64> {
        (0..weeks * 168)
            .map(|t| {
                let base = 100.0 + 40.0 * ((t % 24) as f64 / 4.0).sin() + (t % 168 / 24) as f64;
                if t >= step_at { 1.3 * base } else { base }
            })
            .collect()
    }

    #[test]
    fn a_pure_weekly_pattern_is_forecast_exactly() {
        let y = stepped(8, usize::MAX);
        let p = y.len() - 48;
        let m = Ets::fit(&y, p, 168, 4);
        let f = m.forecast(&y, p, p + 24);
        for (k, v) in f.iter().enumerate() {
            assert!(
                (v - y[p + k]).abs() < 1e-9,
                "lead {}: {v} vs {}",
                k + 1,
                y[p + k]
            );
        }
    }

    #[test]
    fn the_level_follows_a_step_the_profile_has_not_seen() {
        // Demand is 30% up since 6 hours before the origin: the smoothed level carries most of
        // it into the next hours; the bare profile (alpha 0) does not.
        let p = 7 * 168;
        let y = stepped(8, p - 6);
        let follow = weekly(0.5, 1.0);
        let f = follow.forecast(&y, p, p + 3);
        let still = Ets {
            alpha: 0.0,
            ..follow
        }
        .forecast(&y, p, p + 3);
        for k in 0..3 {
            let truth = y[p + k];
            assert!((f[k] - truth).abs() < 0.05 * truth, "{} vs {truth}", f[k]);
            assert!((still[k] - truth / 1.3).abs() < 1e-9);
        }
    }

    /// A weekly pattern times a multiplicative disturbance that persists hour to hour with
    /// `rho` (0: independent noise).
    fn disturbed(weeks: usize, rho: f64) -> Vec<f64> {
        let mut s = 11u64;
        let mut m = 1.0;
        stepped(weeks, usize::MAX)
            .into_iter()
            .map(|v| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
                let e = 0.1 * ((s >> 11) as f64 / (1u64 << 53) as f64 - 0.5);
                m = 1.0 + rho * (m - 1.0) + e;
                v * m
            })
            .collect()
    }

    #[test]
    fn smoothing_is_chosen_when_disturbances_persist_and_not_when_they_do_not() {
        let mae = |m: &Ets, y: &[f64], from: usize| {
            let mut e = 0.0;
            for o in (from..from + 7 * 24).step_by(24) {
                for (k, v) in m.forecast(y, o, o + 24).iter().enumerate() {
                    e += (v - y[o + k]).abs();
                }
            }
            e
        };
        let y = disturbed(12, 0.97);
        let p = 10 * 168;
        let m = Ets::fit(&y, p, 168, 4);
        assert!(m.alpha >= 0.2, "{m:?}");
        let bare = Ets {
            alpha: 0.0,
            phi: 1.0,
            ..m
        };
        assert!(mae(&m, &y, p) < 0.8 * mae(&bare, &y, p), "{m:?}");
        let noise = disturbed(12, 0.0);
        assert!(Ets::fit(&noise, p, 168, 4).alpha <= 0.1);
    }

    #[test]
    fn gaps_are_skipped_and_a_missing_reference_falls_back_to_seasonal_naive() {
        let mut y = stepped(3, usize::MAX);
        let p = 2 * 168 + 10;
        y[p - 1] = f64::NAN;
        let m = weekly(0.3, 0.9);
        let f = m.forecast(&y, p, p + 24);
        assert!(f.iter().all(|v| v.is_finite()));
        // Nothing a whole week back before the origin: seasonal naive's answer.
        let short = &y[..100];
        let g = m.forecast(short, 90, 100);
        for (k, v) in g.iter().enumerate() {
            assert_eq!(*v, naive::seasonal(short, 90, 90 + k, 168));
        }
    }

    #[test]
    fn nothing_at_or_after_the_origin_is_read() {
        // Leads past a week too, where the reference steps back more than one period.
        let y = disturbed(8, 0.9);
        let p = 6 * 168 + 7;
        let m = Ets::fit(&y, p, 168, 4);
        let f = m.forecast(&y, p, p + 200);
        let mut changed = y;
        for v in &mut changed[p..] {
            *v = 3.0 * *v + 1000.0;
        }
        assert_eq!(Ets::fit(&changed, p, 168, 4), m);
        assert_eq!(m.forecast(&changed, p, p + 200), f);
    }
}
