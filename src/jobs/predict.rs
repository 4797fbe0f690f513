//! Forecasting a series from the store with its champion: the next hours' expected demand,
//! 80% and 95% bounds and confidence.

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Settings;
use crate::domain::{Hour, SeriesId};
use crate::forecast::ForecastPoint;
use crate::forecast::confidence::{Conditions, Corrections};
use crate::forecast::features::{BASE_FEATURES, Windows, level};
use crate::forecast::models::LOOKBACK_HOURS;
use crate::forecast::registry::Registry;
use crate::forecast::trainer::{RECALIBRATION_DAYS, recalibrate};
use crate::store::Store;

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
    let (mut frame, p) =
        super::history::load(store, settings, &series, last, horizon, Some(HISTORY_HOURS)).await?;
    // The champion reads the weather columns it was trained on, in their order, and their
    // categories ranked as in training, whatever these weeks hold.
    let base = BASE_FEATURES.len();
    anyhow::ensure!(
        artifact.features.len() >= base
            && artifact.features[..base].iter().eq(BASE_FEATURES.iter()),
        "model {} of series {id} was trained on features this version does not compute: \
         retrain it (prescale train --series {id})",
        champion.version
    );
    let missing = frame.align_exog(&artifact.features[base..]);
    frame.rank_categories_as(&artifact.categories);
    if !missing.is_empty() {
        tracing::warn!(
            series = %id,
            missing = ?missing,
            "weather variables the model was trained on have no values in the weeks it reads: \
             they are read as missing"
        );
    }
    let w = Windows::of(&frame);
    let clip = frame.non_negative();
    let yhat = artifact.model.forecast_spread(&frame, &w, p, horizon);
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
    // what came, as the backtest does at every origin: each group of hours from its own. The
    // frame holds those days whole (see `HISTORY_HOURS`).
    let window = 24 * RECALIBRATION_DAYS as i64;
    let published = store
        .published_outcomes(id, frame.hour(p).plus(-window), frame.hour(p).plus(-1), tol)
        .await?;
    let corrections = Corrections::replay(
        &frame,
        published
            .into_iter()
            .filter_map(|(hour, o)| Some((frame.position(hour)?, o))),
    );
    let points = calibration
        .bands(&frame, &yhat, p, lvl, tol, &origin_cond, &corrections, clip)
        .into_iter()
        .enumerate()
        .map(|(i, (f, b, doubts))| {
            let pos = p + i;
            ForecastPoint {
                hour: frame.hour(pos),
                expected: f,
                lower80: b.lo80,
                upper80: b.hi80,
                lower95: b.lo95,
                upper95: b.hi95,
                confidence: b.confidence,
                doubts,
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
