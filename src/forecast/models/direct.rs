//! The direct model: gradient-boosted trees on features of the target hour alone (calendar,
//! weather, events and demand at least a day back), so one row per observed hour and the same
//! features for every lead up to 24 h. It complements `boosted`, whose rows depend on the origin:
//! with no lead to learn, every training hour teaches the daily and weekly shape at full weight.
//!
//! Leakage rule: a lag of `k` hours is read only when `t - k` is before the origin. For leads past
//! 24 h the daily lags step back whole days (and the weekly one whole weeks) until they are known.

use serde::{Deserialize, Serialize};

use super::gbm::{Gbm, GbmParams};
use super::{Holdout, ScaledRows, scaled_forecast};
use crate::forecast::features::Windows;
use crate::forecast::frame::Frame;

/// Training hours kept at most (the most recent).
const MAX_HOURS: usize = 24 * 7 * 104;

/// Names of the features, in row order (exogenous columns follow under their own names).
const DIRECT_FEATURES: &[&str] = &[
    "hour",
    "weekday",
    "month",
    "holiday",
    "day_before",
    "day_after",
    "bridge",
    "lag24",
    "lag48",
    "lag168",
    "mean24_lag24",
    "level_168",
    "event_active",
    "event_to_start",
    "event_next_size",
    "event_since_end",
    "event_last_size",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Direct {
    pub features: Vec<String>,
    gbm: Gbm,
}

/// Writes the features of target `t` known at origin `p` into `row` (cleared first). Returns the
/// scale demand is divided by: the mean of the week up to the most recent known day (NaN when
/// under half of it is observed). The scale itself is a feature too, so trees can tell a busy
/// season from a quiet one while the target stays scale-free.
fn row(frame: &Frame, w: &Windows, p: usize, t: usize, row: &mut Vec<f64>) -> f64 {
    row.clear();
    let h = t + 1 - p;
    let days = h.div_ceil(24).max(1);
    let weeks = h.div_ceil(168).max(1);
    let (ti, d) = (t as i64, 24 * days as i64);
    let y = |k: i64| {
        let s = ti - k;
        if s >= 0 && (s as usize) < p {
            w.for_target(frame, t, s as usize)
        } else {
            f64::NAN
        }
    };
    let (m24, c24) = w.mean(ti - d - 23, ti - d + 1);
    let (m168, c168) = w.mean(ti - d - 167, ti - d + 1);
    let scale = if c168 >= 84 && m168 > 0.0 {
        m168
    } else {
        f64::NAN
    };
    let l = frame.local[t];
    let flag = |b: bool| if b { 1.0 } else { 0.0 };
    let ev = &frame.events;
    row.extend([
        f64::from(l.hour),
        f64::from(l.weekday),
        f64::from(l.month),
        flag(l.holiday),
        flag(l.day_before),
        flag(l.day_after),
        flag(l.bridge),
        y(d) / scale,
        y(d + 24) / scale,
        y(168 * weeks as i64) / scale,
        if c24 >= 12 { m24 / scale } else { f64::NAN },
        m168,
        ev.active[t],
        ev.to_start[t],
        ev.next_size[t],
        ev.since_end[t],
        ev.last_size[t],
    ]);
    row.extend(frame.exog.iter().map(|e| e.values[t]));
    scale
}

impl Direct {
    pub fn fit(
        frame: &Frame,
        w: &Windows,
        end: usize,
        params: &GbmParams,
        holdout: Option<&Holdout>,
    ) -> Self {
        let mut features: Vec<String> = DIRECT_FEATURES.iter().map(|s| (*s).to_owned()).collect();
        features.extend(frame.exog.iter().map(|e| e.name.clone()));
        let mut rows = ScaledRows::default();
        let mut r = Vec::with_capacity(features.len());
        for t in end.saturating_sub(MAX_HOURS).max(192)..end {
            if frame.y[t].is_nan() {
                continue;
            }
            // Lead 1: every lag is a day back or more, as for any lead up to 24 h.
            let s = row(frame, w, t, t, &mut r);
            if !s.is_nan() {
                rows.push(&r, frame.y[t], s);
            }
        }
        let held = holdout
            .map(|h| h.rows(frame, |q, t, r| row(frame, w, q, t, r)))
            .unwrap_or_default();
        let gbm = rows.fit_gbm(features.len(), params, &held);
        Self { features, gbm }
    }

    /// The number of trees.
    pub fn trees(&self) -> u16 {
        self.gbm.trees()
    }

    pub fn forecast(&self, frame: &Frame, w: &Windows, p: usize, end: usize) -> Vec<f64> {
        scaled_forecast(&self.gbm, w.values(), p, end, |t, r| row(frame, w, p, t, r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::features::testing::{check_no_leak, frame};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Rewriting demand from the origin on must not change any feature of any lead.
        #[test]
        fn no_feature_reads_demand_at_or_after_the_origin(p in 400usize..700, h in 1usize..=48, seed in 0u64..1000) {
            prop_assume!(p + h - 1 < 800);
            let checked = check_no_leak(row, DIRECT_FEATURES, p, h, seed);
            prop_assert!(checked.is_ok(), "{:?}", checked);
        }
    }

    #[test]
    fn past_a_day_the_daily_lags_step_back_whole_days() {
        let f = frame((0..800).map(|i| i as f64 + 1.0).collect());
        let w = Windows::new(&f.y);
        let mut r = Vec::new();
        let at =
            |r: &[f64], name: &str| r[DIRECT_FEATURES.iter().position(|n| *n == name).unwrap()];
        // Lead 24 from origin 500: target 523, lag24 reads 499 (the last hour before the origin).
        let s = row(&f, &w, 500, 523, &mut r);
        let close = |a: f64, b: f64| assert!((a - b).abs() < 1e-9, "{a} vs {b}");
        close(at(&r, "lag24") * s, f.y[499]);
        close(at(&r, "lag168") * s, f.y[523 - 168]);
        // Lead 30: target 529; a day back (505) is not known, two days back (481) is.
        let s = row(&f, &w, 500, 529, &mut r);
        close(at(&r, "lag24") * s, f.y[481]);
        close(at(&r, "lag48") * s, f.y[457]);
        assert_eq!(at(&r, "level_168"), s);
    }
}
