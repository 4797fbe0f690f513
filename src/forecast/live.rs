//! Live accuracy: published forecasts scored against the observations that arrived for their
//! hours: MAE, MAPE, MASE, bias, interval coverage, by lead bucket and by local hour of day, and
//! the calibration of the published confidence (what the scaling gate reads).

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::metrics::{Brier, DoubtCalibration, ReliabilityBin, brier_of, by_doubt, reliability_of};
use crate::domain::{Calendar, Hour};
use crate::store::PublishedPoint;

/// Accuracy of one group of scored points.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Score {
    pub n: usize,
    pub mae: f64,
    pub mape_pct: f64,
    pub bias: f64,
    pub coverage80: f64,
    pub coverage95: f64,
}

/// The live accuracy report of a series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LiveAccuracy {
    pub overall: Score,
    /// MAE over the MAE of the weekly seasonal naive forecast in the weeks before the window.
    pub mase: Option<f64>,
    pub by_lead_bucket: BTreeMap<String, Score>,
    pub by_hour_of_day: BTreeMap<u8, Score>,
    /// Expected calibration error of the published confidence (10 bins, as the backtest's): a
    /// hit is demand within the series' tolerance of the expected value.
    pub calibration_error: f64,
    pub reliability: Vec<ReliabilityBin>,
    /// The Brier score of the published confidence, with its decomposition.
    pub brier: Brier,
    /// The published confidence against the hit rate, of the points without doubts and of
    /// those with each doubt (see [`Metrics::by_doubt`](super::metrics::Metrics::by_doubt)).
    pub by_doubt: Vec<DoubtCalibration>,
}

fn score<'a>(pairs: impl Iterator<Item = (&'a PublishedPoint, f64)>) -> Score {
    let (mut n, mut abs, mut pct, mut pct_n, mut bias, mut in80, mut in95) =
        (0usize, 0.0, 0.0, 0usize, 0.0, 0usize, 0usize);
    for (p, y) in pairs {
        n += 1;
        let e = p.point.expected - y;
        abs += e.abs();
        bias += e;
        if y != 0.0 {
            pct += (e / y).abs();
            pct_n += 1;
        }
        in80 += usize::from(p.point.lower80 <= y && y <= p.point.upper80);
        in95 += usize::from(p.point.lower95 <= y && y <= p.point.upper95);
    }
    if n == 0 {
        return Score::default();
    }
    let nf = n as f64;
    Score {
        n,
        mae: abs / nf,
        mape_pct: if pct_n > 0 {
            100.0 * pct / pct_n as f64
        } else {
            f64::NAN
        },
        bias: bias / nf,
        coverage80: in80 as f64 / nf,
        coverage95: in95 as f64 / nf,
    }
}

/// Scores `published` points that have an observation in `observed`. `scale` is the in-sample
/// weekly naive MAE (for MASE), when known; `tolerance` the series' (a hit is within it).
pub fn live_accuracy(
    published: &[PublishedPoint],
    observed: &HashMap<Hour, f64>,
    calendar: &Calendar,
    scale: Option<f64>,
    tolerance: f64,
) -> LiveAccuracy {
    let scored: Vec<(&PublishedPoint, f64)> = published
        .iter()
        .filter_map(|p| observed.get(&p.point.hour).map(|y| (p, *y)))
        .collect();
    let overall = score(scored.iter().copied());
    let buckets = [
        ("1-6", 1, 6),
        ("7-12", 7, 12),
        ("13-24", 13, 24),
        ("25+", 25, i64::MAX),
    ];
    let by_lead_bucket = buckets
        .iter()
        .map(|(name, lo, hi)| {
            (
                (*name).to_owned(),
                score(
                    scored
                        .iter()
                        .copied()
                        .filter(|(p, _)| p.lead >= *lo && p.lead <= *hi),
                ),
            )
        })
        .filter(|(_, s)| s.n > 0)
        .collect();
    let mut by_hour: BTreeMap<u8, Vec<(&PublishedPoint, f64)>> = BTreeMap::new();
    for (p, y) in &scored {
        by_hour
            .entry(
                calendar
                    .local(p.point.hour)
                    .format("%H")
                    .to_string()
                    .parse()
                    .unwrap_or(0),
            )
            .or_default()
            .push((p, *y));
    }
    let by_hour_of_day = by_hour
        .into_iter()
        .map(|(h, v)| (h, score(v.into_iter())))
        .collect();
    let mase = scale
        .filter(|s| *s > 0.0 && overall.n > 0)
        .map(|s| overall.mae / s);
    let hits = || {
        scored.iter().map(|(p, y)| {
            let e = p.point.expected;
            (p.point.confidence, (y - e).abs() <= tolerance * e.abs())
        })
    };
    let (reliability, calibration_error) = reliability_of(hits());
    LiveAccuracy {
        overall,
        mase,
        by_lead_bucket,
        by_hour_of_day,
        calibration_error,
        brier: brier_of(hits(), &reliability),
        reliability,
        by_doubt: by_doubt(
            &hits()
                .zip(&scored)
                .map(|((c, hit), (p, _))| (c, hit, p.point.doubts))
                .collect::<Vec<_>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CalendarName, TimeZone};

    fn point(hour: i64, lead: i64, expected: f64) -> PublishedPoint {
        PublishedPoint {
            issued_at: Hour::from_unix(hour * 3600 - (lead - 1) * 3600).unwrap(),
            model_version: 1,
            lead,
            point: crate::forecast::ForecastPoint {
                hour: Hour::from_unix(hour * 3600).unwrap(),
                expected,
                lower80: expected - 10.0,
                upper80: expected + 10.0,
                lower95: expected - 20.0,
                upper95: expected + 20.0,
                confidence: 0.5,
                doubts: Default::default(),
            },
        }
    }

    #[test]
    fn only_hours_with_observations_are_scored_and_the_numbers_are_exact() {
        let cal = Calendar::new(TimeZone::LIMA, CalendarName::None, []);
        let pubs = [
            point(10, 1, 100.0),
            point(10, 8, 90.0),
            point(11, 1, 50.0),
            point(12, 1, 70.0),
        ];
        let obs: HashMap<Hour, f64> = [(10, 105.0), (11, 35.0)]
            .into_iter()
            .map(|(h, y)| (Hour::from_unix(h * 3600).unwrap(), y))
            .collect();
        let a = live_accuracy(&pubs, &obs, &cal, Some(10.0), 0.1);
        assert_eq!(a.overall.n, 3);
        assert!((a.overall.mae - (5.0 + 15.0 + 15.0) / 3.0).abs() < 1e-12);
        assert!((a.overall.bias - (-5.0 - 15.0 + 15.0) / 3.0).abs() < 1e-12);
        assert!(
            (a.overall.coverage80 - 1.0 / 3.0).abs() < 1e-12,
            "only the error of -5 is within ±10"
        );
        assert!((a.overall.coverage95 - 1.0).abs() < 1e-12);
        assert!((a.mase.unwrap() - a.overall.mae / 10.0).abs() < 1e-12);
        assert_eq!(a.by_lead_bucket["1-6"].n, 2);
        assert_eq!(a.by_lead_bucket["7-12"].n, 1);
        assert_eq!(a.by_hour_of_day.values().map(|s| s.n).sum::<usize>(), 3);
        // Confidence 0.5 everywhere; within 10%: only 100 against 105 is a hit.
        assert_eq!(a.reliability.len(), 1);
        assert_eq!((a.reliability[0].n, a.reliability[0].lo), (3, 0.5));
        assert!((a.reliability[0].hit_rate - 1.0 / 3.0).abs() < 1e-12);
        assert!((a.calibration_error - (0.5 - 1.0 / 3.0)).abs() < 1e-12);
        assert!((a.brier.score - (0.25 + 0.25 + 0.25) / 3.0).abs() < 1e-12);
        // No point says what widened it: all three are `none`.
        assert_eq!(a.by_doubt.len(), 1);
        assert_eq!((a.by_doubt[0].doubt, a.by_doubt[0].n), ("none", 3));
        assert!((a.by_doubt[0].hit_rate - 1.0 / 3.0).abs() < 1e-12);
    }
}
