//! The backtest on a shipped dataset: its schedule is the protocol's and its metrics are what
//! its own forecasts file says.

use prescale::forecast::Frame;
use prescale::forecast::backtest::{Protocol, origins, run};

use crate::helpers::repo_file;

#[test]
fn the_backtest_metrics_are_recomputed_from_its_forecasts() {
    let frame = Frame::from_csv(
        &repo_file("datasets/nasa_http_requests_hourly.csv"),
        None,
        &[],
    )
    .unwrap();
    let specs = crate::helpers::quick_specs();
    let p = Protocol::default();
    let result = run(&frame, &p, &specs, 0.2);
    // The protocol: 28 local midnights from 1995-08-04, 24 leads each, 4 refits.
    assert_eq!(result.n_origins, 28);
    assert_eq!(result.first_origin, "1995-08-04T00:00:00-04:00");
    assert_eq!(result.rows.len(), 28 * 24);
    assert_eq!(result.refits.len(), 4);
    assert_eq!(origins(&frame, &p).len(), 28);
    // Independence Day, three days into the history, has no week before it: read as it was.
    assert!(result.holidays_read_as_ordinary.is_empty());
    assert_eq!(
        result.holidays_read_as_they_were,
        ["1995-07-04".parse::<chrono::NaiveDate>().unwrap()]
    );

    // Recompute from the rows alone.
    let scored: Vec<_> = result.rows.iter().filter(|r| r.y.is_some()).collect();
    let n = scored.len() as f64;
    let mae = scored
        .iter()
        .map(|r| (r.yhat - r.y.unwrap()).abs())
        .sum::<f64>()
        / n;
    let cov80 = scored
        .iter()
        .filter(|r| r.lo80 <= r.y.unwrap() && r.y.unwrap() <= r.hi80)
        .count() as f64
        / n;
    let cov95 = scored
        .iter()
        .filter(|r| r.lo95 <= r.y.unwrap() && r.y.unwrap() <= r.hi95)
        .count() as f64
        / n;
    // The MASE scale from the CSV: in-sample weekly naive before the first origin.
    let y = &frame.y;
    let first = (0..frame.len())
        .find(|&i| crate::helpers::local_label(&frame, i) == result.first_origin)
        .unwrap();
    let d: Vec<f64> = (168..first)
        .filter(|&t| !y[t].is_nan() && !y[t - 168].is_nan())
        .map(|t| (y[t] - y[t - 168]).abs())
        .collect();
    let scale = d.iter().sum::<f64>() / d.len() as f64;
    let m = &result.metrics;
    assert_eq!(m.n_points as f64, n);
    assert!((m.mae - mae).abs() < 1e-9, "{} vs {mae}", m.mae);
    assert!((m.mase - mae / scale).abs() < 1e-9);
    assert!((m.coverage80 - cov80).abs() < 1e-12 && (m.coverage95 - cov95).abs() < 1e-12);
    // The confidence's Brier score: hits within the 20% tolerance.
    let brier = scored
        .iter()
        .map(|r| {
            let hit = (r.y.unwrap() - r.yhat).abs() <= 0.2 * r.yhat.abs();
            (r.confidence - f64::from(u8::from(hit))).powi(2)
        })
        .sum::<f64>()
        / n;
    assert!((m.brier.score - brier).abs() < 1e-12, "{:?}", m.brier);
    assert!(
        m.brier.skill > 0.0,
        "no better than stating the hit rate: {:?}",
        m.brier
    );
    // And it beats the yardstick it is scaled by on this series.
    assert!(m.mase < 1.0, "MASE {}", m.mase);
    // One shock per origin for the calibration floor: one origin a day.
    assert_eq!(m.calibration_error_floor.unwrap().origin_days, 28);
    // Every point says the online correction it was published with; the first origin's had
    // no outcomes to learn from (a scale of 1), and later ones moved.
    let by = &m.by_correction;
    assert_eq!(by.iter().map(|g| g.n).sum::<usize>(), m.n_points);
    let untouched = by
        .iter()
        .find(|g| g.from == Some(1.0))
        .expect("the 1.0-1.1 group");
    assert!(untouched.n >= 24, "{by:?}");
    assert!(by.len() >= 2, "the correction never moved: {by:?}");
    for r in &result.rows {
        assert!(
            r.lo95 <= r.lo80 && r.lo80 <= r.yhat && r.yhat <= r.hi80 && r.hi80 <= r.hi95,
            "{r:?}"
        );
        assert!((0.0..=1.0).contains(&r.confidence));
    }
}

#[test]
fn hourly_origins_share_one_shock_per_day_in_the_calibration_floor() {
    let frame = Frame::from_csv(
        &repo_file("datasets/nasa_http_requests_hourly.csv"),
        None,
        &[],
    )
    .unwrap();
    let p = Protocol {
        test_days: 6,
        origin_every: 1,
        ..Protocol::default()
    };
    let result = run(&frame, &p, &crate::helpers::quick_specs(), 0.2);
    assert_eq!(result.n_origins, 6 * 24);
    // 144 overlapping forecasts, made on 6 local days: 6 groups, not 144 independent ones.
    let floor = result.metrics.calibration_error_floor.unwrap();
    assert_eq!(floor.origin_days, 6);
}
