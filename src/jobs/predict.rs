//! Forecasting a series from the store with its champion: the next hours' expected demand,
//! 80% and 95% bounds and confidence.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Settings;
use crate::domain::{Hour, SeriesId};
use crate::forecast::ForecastPoint;
use crate::forecast::confidence::{Adaptive, Band, Conditions};
use crate::forecast::features::{Windows, level};
use crate::forecast::models::LOOKBACK_HOURS;
use crate::forecast::registry::Registry;
use crate::forecast::trainer::{RECALIBRATION_DAYS, recalibrate};
use crate::store::{PublishedPoint, Store};

/// Hours of history a forecast reads: the weeks of the model's own forecasts that recalibrate it
/// (and the day-back forecast that measures recent errors), each with what the models read.
const HISTORY_HOURS: usize = LOOKBACK_HOURS + 24 * (RECALIBRATION_DAYS + 1);

/// A forecast of one series.
#[derive(Debug, Clone, Serialize)]
pub struct Forecast {
    pub series: SeriesId,
    pub model_version: i64,
    pub model: String,
    pub issued_at: DateTime<Utc>,
    /// The first forecast hour: the hour after the last observation (or `--at`).
    pub origin: Hour,
    pub points: Vec<ForecastPoint>,
}

/// Forecasts `horizon` hours from `origin` (default: the hour after the last observation).
///
/// # Errors
/// No such series, no champion yet, an unreadable artifact, or a store failure.
pub async fn forecast(
    store: &Store,
    settings: &Settings,
    id: &SeriesId,
    horizon: usize,
    origin: Option<Hour>,
) -> Result<Forecast> {
    let series = store
        .series(id)
        .await?
        .with_context(|| format!("series {id} does not exist"))?;
    let champion = store.champion(id).await?.with_context(|| {
        format!("series {id} has no model yet: run prescale train --series {id}")
    })?;
    let artifact = Registry::read(std::path::Path::new(&champion.path))?;
    let last = origin.map(|o| o.plus(-1));
    let (frame, p) =
        super::history::load(store, settings, &series, last, horizon, Some(HISTORY_HOURS)).await?;
    let w = Windows::new(&frame.y);
    let clip = frame.non_negative();
    let yhat = artifact.model.forecast(&frame, &w, p, horizon);
    let lvl = level(&w, p);
    // Intervals and confidence: the model's validation errors with those of its own forecasts
    // since its training data ended, as the backtest recalibrates at every origin.
    let since = (artifact.train_end.unix() - frame.hour(0).unix()) / 3600 + 1;
    let trained_until = usize::try_from(since).unwrap_or(0).min(p);
    let calibration = recalibrate(
        &frame,
        &w,
        &artifact.model,
        &artifact.calibration,
        trained_until,
        p,
    );
    let origin_cond = Conditions::at_origin_for(&frame, &w, &artifact.model, &calibration, p, clip);
    let tol = series.tolerance.get();
    // The online corrections, replayed from what was published for the last days' hours and
    // what came, as the backtest does at every origin.
    let window = 24 * RECALIBRATION_DAYS as i64;
    let published = store
        .published_between(id, frame.hour(p).plus(-window), frame.hour(p).plus(-1))
        .await?;
    let adapt = adaptive(&frame.y, frame.hour(p), p, &published, tol);
    let points = yhat
        .into_iter()
        .enumerate()
        .map(|(i, f)| {
            let pos = p + i;
            let f = if clip { f.max(0.0) } else { f };
            let b = calibration
                .band_adapted(f, lvl, i + 1, tol, &origin_cond.at(&frame, pos), &adapt)
                .ordered(f, clip);
            ForecastPoint {
                hour: frame.hour(pos),
                expected: f,
                lower80: b.lo80,
                upper80: b.hi80,
                lower95: b.lo95,
                upper95: b.hi95,
                confidence: b.confidence,
            }
        })
        .collect();
    Ok(Forecast {
        series: id.clone(),
        model_version: champion.version,
        model: artifact.chosen,
        issued_at: Utc::now(),
        origin: frame.hour(p),
        points,
    })
}

/// [`Adaptive::replay`] of `published` points (ordered by hour) whose target hour is observed in
/// `y`, where position `p` is hour `origin`: each hour's outcome against every band published
/// for it, a hit being within `tolerance` of the expected demand.
fn adaptive(
    y: &[f64],
    origin: Hour,
    p: usize,
    published: &[PublishedPoint],
    tolerance: f64,
) -> Adaptive {
    let mut hours: Vec<(f64, Vec<(Band, bool)>)> = Vec::new();
    let mut last = None;
    for pp in published {
        let pt = &pp.point;
        let back = usize::try_from(pt.hour.hours_until(origin)).unwrap_or(0);
        let Some(&actual) = (back > 0 && back <= p).then(|| &y[p - back]) else {
            continue;
        };
        if actual.is_nan() {
            continue;
        }
        if last != Some(pt.hour) {
            hours.push((actual, Vec::new()));
            last = Some(pt.hour);
        }
        let band = Band {
            lo80: pt.lower80,
            hi80: pt.upper80,
            lo95: pt.lower95,
            hi95: pt.upper95,
            confidence: pt.confidence,
        };
        let hit = (actual - pt.expected).abs() <= tolerance * pt.expected.abs();
        if let Some(h) = hours.last_mut() {
            h.1.push((band, hit));
        }
    }
    Adaptive::replay(hours.iter().map(|(y, b)| (*y, b.as_slice())))
}
