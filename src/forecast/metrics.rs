//! Accuracy metrics of the backtest protocol (PROTOCOL.md section 4) and confidence calibration.

use serde::Serialize;

/// One scored forecast point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scored {
    pub lead: usize,
    pub y: f64,
    pub yhat: f64,
    pub lo80: f64,
    pub hi80: f64,
    pub lo95: f64,
    pub hi95: f64,
    pub confidence: f64,
    /// Whether `y` fell within the tolerance of `yhat` (what confidence predicts).
    pub hit: bool,
}

/// The protocol's metrics over scored points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub n_points: usize,
    pub mae: f64,
    pub rmse: f64,
    pub smape_pct: f64,
    pub mape_pct: f64,
    pub mape_n_skipped_zero: usize,
    pub mase: f64,
    pub mase_scale: f64,
    pub bias: f64,
    pub coverage80: f64,
    pub coverage95: f64,
    pub width80: f64,
    pub width95: f64,
    pub mae_by_lead_bucket: Vec<(String, f64)>,
    pub mae_by_lead: Vec<f64>,
    pub calibration_error: f64,
    pub reliability: Vec<ReliabilityBin>,
}

/// One bin of a reliability table: points whose confidence fell in `[lo, hi)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReliabilityBin {
    pub lo: f64,
    pub hi: f64,
    pub n: usize,
    pub mean_confidence: f64,
    pub hit_rate: f64,
}

/// MASE scale: mean |y(t) - y(t-168)| over `168 <= t < first_origin` where both are observed.
pub fn mase_scale(y: &[f64], first_origin: usize) -> f64 {
    let d: Vec<f64> = (168..first_origin.min(y.len()))
        .filter(|&t| !y[t].is_nan() && !y[t - 168].is_nan())
        .map(|t| (y[t] - y[t - 168]).abs())
        .collect();
    if d.is_empty() {
        f64::NAN
    } else {
        d.iter().sum::<f64>() / d.len() as f64
    }
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

/// Reliability table (10 equal-width bins) and expected calibration error.
pub fn reliability(points: &[Scored]) -> (Vec<ReliabilityBin>, f64) {
    let mut bins = Vec::new();
    let mut ece = 0.0;
    for b in 0..10 {
        let (lo, hi) = (f64::from(b) / 10.0, f64::from(b + 1) / 10.0);
        let inside: Vec<&Scored> = points
            .iter()
            .filter(|p| {
                p.confidence >= lo && (p.confidence < hi || (b == 9 && p.confidence <= 1.0))
            })
            .collect();
        if inside.is_empty() {
            continue;
        }
        let mc = mean(inside.iter().map(|p| p.confidence));
        let hr = mean(inside.iter().map(|p| f64::from(u8::from(p.hit))));
        ece += inside.len() as f64 / points.len() as f64 * (mc - hr).abs();
        bins.push(ReliabilityBin {
            lo,
            hi,
            n: inside.len(),
            mean_confidence: mc,
            hit_rate: hr,
        });
    }
    (bins, ece)
}

/// All metrics of a set of scored points, with the MASE scale of the series.
pub fn metrics(points: &[Scored], scale: f64, horizon: usize) -> Metrics {
    let e = |p: &Scored| p.yhat - p.y;
    let mae = mean(points.iter().map(|p| e(p).abs()));
    let nonzero: Vec<&Scored> = points.iter().filter(|p| p.y != 0.0).collect();
    let bucket = |lo: usize, hi: usize| {
        mean(
            points
                .iter()
                .filter(|p| p.lead >= lo && p.lead <= hi)
                .map(|p| e(p).abs()),
        )
    };
    let (reliability, calibration_error) = reliability(points);
    Metrics {
        n_points: points.len(),
        mae,
        rmse: mean(points.iter().map(|p| e(p).powi(2))).sqrt(),
        smape_pct: 100.0
            * mean(points.iter().map(|p| {
                let d = p.y.abs() + p.yhat.abs();
                if d == 0.0 { 0.0 } else { 2.0 * e(p).abs() / d }
            })),
        mape_pct: 100.0 * mean(nonzero.iter().map(|p| e(p).abs() / p.y.abs())),
        mape_n_skipped_zero: points.len() - nonzero.len(),
        mase: mae / scale,
        mase_scale: scale,
        bias: mean(points.iter().map(e)),
        coverage80: mean(
            points
                .iter()
                .map(|p| f64::from(u8::from(p.lo80 <= p.y && p.y <= p.hi80))),
        ),
        coverage95: mean(
            points
                .iter()
                .map(|p| f64::from(u8::from(p.lo95 <= p.y && p.y <= p.hi95))),
        ),
        width80: mean(points.iter().map(|p| p.hi80 - p.lo80)),
        width95: mean(points.iter().map(|p| p.hi95 - p.lo95)),
        mae_by_lead_bucket: vec![
            ("1-6".into(), bucket(1, 6)),
            ("7-12".into(), bucket(7, 12)),
            ("13-24".into(), bucket(13, 24)),
        ],
        mae_by_lead: (1..=horizon).map(|h| bucket(h, h)).collect(),
        calibration_error,
        reliability,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(lead: usize, y: f64, yhat: f64) -> Scored {
        Scored {
            lead,
            y,
            yhat,
            lo80: yhat - 1.0,
            hi80: yhat + 1.0,
            lo95: yhat - 2.0,
            hi95: yhat + 2.0,
            confidence: 0.5,
            hit: true,
        }
    }

    #[test]
    fn metrics_match_a_hand_computation() {
        let pts = [point(1, 10.0, 11.0), point(2, 0.0, 1.0), point(7, 4.0, 1.0)];
        let m = metrics(&pts, 2.0, 24);
        assert!((m.mae - 5.0 / 3.0).abs() < 1e-12);
        assert!((m.mase - 5.0 / 6.0).abs() < 1e-12);
        assert!((m.rmse - (11.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((m.bias - (-1.0 / 3.0)).abs() < 1e-12);
        assert_eq!(m.mape_n_skipped_zero, 1);
        assert!((m.mape_pct - 100.0 * (0.1 + 0.75) / 2.0).abs() < 1e-9);
        assert!(
            (m.coverage80 - 2.0 / 3.0).abs() < 1e-12,
            "only the 3-off point is outside ±1"
        );
        assert!((m.smape_pct - 100.0 * (2.0 / 21.0 + 2.0 + 6.0 / 5.0) / 3.0).abs() < 1e-9);
        assert_eq!(m.mae_by_lead_bucket[0].1, 1.0);
    }

    #[test]
    fn a_calibrated_confidence_has_no_calibration_error() {
        let mut pts = Vec::new();
        for i in 0..100 {
            let mut p = point(1, 0.0, 0.0);
            p.confidence = 0.25;
            p.hit = i % 4 == 0;
            pts.push(p);
        }
        let (bins, ece) = reliability(&pts);
        assert_eq!(bins.len(), 1);
        assert!(ece.abs() < 1e-12);
    }

    #[test]
    fn the_mase_scale_is_the_in_sample_weekly_naive_error() {
        let mut y: Vec<f64> = (0..400).map(|i| f64::from(i % 168)).collect();
        y[200] = f64::NAN;
        assert_eq!(mase_scale(&y, 400), 0.0);
        y[300] += 2.0;
        assert!(mase_scale(&y, 400) > 0.0);
    }
}
