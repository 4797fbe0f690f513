//! Ridge regression through linfa: one-hot hour, weekday and hour-by-weekend, holiday flags,
//! recent demand by lead bucket, and scaled lags, predicting demand as a multiple of the level.
//! Ridge on standardized features: linfa-linear's least squares solves the normal equations
//! `(XᵀX + λI) β = Xᵀy`; linfa-elasticnet's coordinate descent is far slower.

use linfa::prelude::*;
use linfa_linear::LinearRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use super::ScaledRows;
use super::boosted::training_rows;
use super::naive;
use crate::forecast::features::{self, BASE_FEATURES, Windows};
use crate::forecast::frame::Frame;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Linear {
    mean: Vec<f64>,
    scale: Vec<f64>,
    coef: Vec<f64>,
    intercept: f64,
}

fn at(name: &str) -> usize {
    BASE_FEATURES
        .iter()
        .position(|n| *n == name)
        .expect("a base feature")
}

/// The linear design of one feature row (see the module doc); NaN ratios become 1 (no change).
fn design(row: &[f64], exog: usize, out: &mut Vec<f64>) {
    out.clear();
    let get = |name: &str| row[at(name)];
    let ratio = |name: &str| if get(name).is_nan() { 1.0 } else { get(name) };
    let hour = get("hour") as usize;
    let weekend = get("weekend") > 0.5;
    for hr in 1..24 {
        out.push(f64::from(u8::from(hour == hr)));
    }
    for wd in 1..7 {
        out.push(f64::from(u8::from(get("weekday") as usize == wd)));
    }
    for hr in 0..24 {
        out.push(f64::from(u8::from(weekend && hour == hr)));
    }
    for name in ["holiday", "day_before", "day_after", "bridge"] {
        out.push(get(name));
    }
    let lead = get("lead");
    let last = ratio("last");
    for (lo, hi) in [(1.0, 3.0), (4.0, 8.0), (9.0, 16.0), (17.0, 24.0)] {
        out.push(if lead >= lo && lead <= hi { last } else { 0.0 });
    }
    for name in [
        "lag24",
        "lag168",
        "same_hour_4w",
        "mean168_lag24",
        "trend_week",
    ] {
        out.push(ratio(name));
    }
    out.push(get("event_active"));
    out.push(if get("event_since_end").is_nan() {
        0.0
    } else {
        get("event_last_size")
    });
    for e in 0..exog {
        let v = row[BASE_FEATURES.len() + e];
        out.push(if v.is_nan() { 0.0 } else { v });
    }
}

impl Linear {
    pub fn fit(frame: &Frame, w: &Windows, end: usize, penalty: f64) -> Self {
        let exog = frame.exog.len();
        // A year of hours, one lead each: linfa's least squares grows with rows x columns².
        let ScaledRows { x, y, .. } = training_rows(frame, w, end, 1, 24 * 365);
        let n = y.len();
        let width = BASE_FEATURES.len() + exog;
        let mut d = Vec::new();
        let mut rows: Vec<f64> = Vec::new();
        for r in 0..n {
            design(&x[r * width..(r + 1) * width], exog, &mut d);
            rows.extend_from_slice(&d);
        }
        let k = d.len();
        if n < k + 10 {
            return Self {
                mean: vec![0.0; k],
                scale: vec![1.0; k],
                coef: vec![0.0; k],
                intercept: 1.0,
            };
        }
        // Standardize the features and center the target, so the intercept is the mean.
        let mut mean = vec![0.0; k];
        let mut scale = vec![0.0; k];
        for r in 0..n {
            for j in 0..k {
                mean[j] += rows[r * k + j] / n as f64;
            }
        }
        for r in 0..n {
            for j in 0..k {
                scale[j] += (rows[r * k + j] - mean[j]).powi(2) / n as f64;
            }
        }
        for s in &mut scale {
            *s = if *s > 1e-12 { s.sqrt() } else { 1.0 };
        }
        let y_mean = y.iter().sum::<f64>() / n as f64;
        let mut x = Array2::<f64>::zeros((n, k));
        let mut yc = Array1::<f64>::zeros(n);
        for r in 0..n {
            for j in 0..k {
                x[[r, j]] = (rows[r * k + j] - mean[j]) / scale[j];
            }
            yc[r] = y[r] - y_mean;
        }
        // The normal equations (XᵀX + λI) β = Xᵀy are square and full rank: least squares on
        // them (linfa) is the ridge solution, at k² cost per solve instead of n·k².
        let mut a = x.t().dot(&x);
        for j in 0..k {
            a[[j, j]] += penalty.max(1e-9);
        }
        let b = x.t().dot(&yc);
        let fitted = LinearRegression::new()
            .with_intercept(false)
            .fit(&Dataset::new(a, b));
        let coef = fitted.map_or_else(|_| vec![0.0; k], |m| m.params().to_vec());
        Self {
            mean,
            scale,
            coef,
            intercept: y_mean,
        }
    }

    pub fn forecast(&self, frame: &Frame, w: &Windows, p: usize, end: usize) -> Vec<f64> {
        let exog = frame.exog.len();
        let (mut row, mut d) = (Vec::new(), Vec::new());
        (p..end)
            .map(|t| {
                let lvl = features::row(frame, w, p, t, &mut row);
                if lvl.is_nan() {
                    return naive::seasonal(w.values(), p, t, 168);
                }
                design(&row, exog, &mut d);
                let z: f64 = d
                    .iter()
                    .enumerate()
                    .map(|(j, v)| self.coef[j] * (v - self.mean[j]) / self.scale[j])
                    .sum();
                lvl * (self.intercept + z)
            })
            .collect()
    }
}
