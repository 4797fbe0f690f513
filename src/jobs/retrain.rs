//! Retraining: fit the candidates on a series' stored history, write the artifact, and promote
//! it only if it does at least as well as the champion on the same recent weeks; otherwise it is
//! kept as a challenger with the reason. A retrain that fails leaves the champion in service.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::Utc;
use serde::Serialize;

use crate::config::Settings;
use crate::domain::SeriesId;
use crate::forecast::features::FeatureSet;
use crate::forecast::features::Windows;
use crate::forecast::registry::{Artifact, FORMAT, Registry};
use crate::forecast::trainer::{Points, TrainOptions, train, validate};
use crate::forecast::{Frame, ModelSpec};
use crate::store::{ModelRecord, ModelStatus, Store};

/// What one retrain did.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub series: SeriesId,
    pub version: i64,
    pub status: ModelStatus,
    pub chosen: String,
    pub reason: String,
    pub validation_mae: f64,
    pub path: String,
    pub seconds: f64,
}

/// How the new model stands against the champion.
#[derive(Debug, Clone, PartialEq)]
enum Comparison {
    /// Both scored out of sample on the same recent origins: (new MAE, champion MAE, origins).
    Scored(f64, f64, usize),
    /// The champion cannot take today's inputs (a weather column came or went).
    InputsChanged,
    /// The champion was trained on (nearly) all of the recent weeks: nothing fair to compare on.
    NothingNew,
}

/// The new model's validation forecasts against the champion's forecasts of the same recent
/// origins, counting only origins after the champion's training data, so both are out of sample.
fn compare(
    frame: &Frame,
    w: &Windows,
    end: usize,
    new_points: &Points,
    champion: &Artifact,
    opts: &TrainOptions,
) -> Comparison {
    if champion.features != FeatureSet::for_frame(frame).names {
        return Comparison::InputsChanged;
    }
    let champ_end = (frame.start.hours_until(champion.train_end) + 1).max(0) as usize;
    let mut origins: Vec<usize> = new_points
        .iter()
        .map(|p| p.0)
        .filter(|&q| q >= champ_end)
        .collect();
    origins.dedup();
    if origins.len() < 3 {
        return Comparison::NothingNew;
    }
    let champ = validate(&champion.model, frame, w, &origins, end, opts.horizon);
    let new: Vec<_> = new_points
        .iter()
        .filter(|p| origins.contains(&p.0))
        .collect();
    let mae = |pts: &mut dyn Iterator<Item = (f64, f64)>| {
        let (s, n) = pts.fold((0.0, 0usize), |(s, n), (y, f)| (s + (f - y).abs(), n + 1));
        if n > 0 { s / n as f64 } else { f64::NAN }
    };
    Comparison::Scored(
        mae(&mut new.iter().map(|p| (p.2, p.3))),
        mae(&mut champ.iter().map(|p| (p.2, p.3))),
        origins.len(),
    )
}

/// Retrains one series from the store.
///
/// # Errors
/// A missing series, too little history, a store or registry failure; the champion is unchanged.
pub async fn retrain(
    store: &Store,
    settings: &Settings,
    id: &SeriesId,
    specs: &[ModelSpec],
) -> Result<Outcome> {
    let started = Instant::now();
    let series = store
        .series(id)
        .await?
        .with_context(|| format!("series {id} does not exist"))?;
    let (frame, end) = super::history::load(store, settings, &series, None, 0, None).await?;
    anyhow::ensure!(
        end >= 24 * 28,
        "series {id} has {end} hours of history; training needs at least 4 weeks"
    );
    let champion = match store.champion(id).await? {
        Some(rec) => Some(
            Registry::read(std::path::Path::new(&rec.path))
                .with_context(|| format!("reading the champion of {id}"))?,
        ),
        None => None,
    };
    let specs = specs.to_vec();
    let opts = TrainOptions::default();
    // Fitting is CPU work: off the async threads.
    let frame = Arc::new(frame);
    let (trained, comparison) = tokio::task::spawn_blocking({
        let frame = Arc::clone(&frame);
        move || {
            let w = Windows::new(&frame.y);
            let t = train(&frame, &w, end, &specs, &opts);
            let cmp = champion
                .as_ref()
                .map(|c| compare(&frame, &w, end, &t.points, c, &opts));
            (t, cmp)
        }
    })
    .await?;

    let version = store.next_model_version(id).await?;
    let (status, reason, compared, champ_mae) = match comparison {
        None => (ModelStatus::Champion, format!("first model: {}", trained.reason), None, None),
        Some(Comparison::InputsChanged) => {
            (ModelStatus::Champion, format!("the champion cannot take today's inputs: {}", trained.reason), None, None)
        }
        Some(Comparison::NothingNew) => (
            ModelStatus::Challenger,
            "kept as challenger: the champion was trained on nearly all of the recent weeks, so there is nothing to \
             compare them on out of sample; the champion stays"
                .to_owned(),
            None,
            None,
        ),
        Some(Comparison::Scored(new, old, n)) if new <= old => (
            ModelStatus::Champion,
            format!("MAE {new:.2} on the last {n} origins, no worse than the champion's {old:.2}: {}", trained.reason),
            Some(new),
            Some(old),
        ),
        Some(Comparison::Scored(new, old, n)) => (
            ModelStatus::Challenger,
            format!("rejected: MAE {new:.2} on the last {n} origins is worse than the champion's {old:.2}"),
            Some(new),
            Some(old),
        ),
    };
    let artifact = Artifact {
        format: FORMAT,
        series: id.clone(),
        version,
        trained_at: Utc::now(),
        train_start: frame.start,
        train_end: frame.hour(end - 1),
        candidates: ModelSpec::candidates(),
        chosen: trained.chosen.clone(),
        reason: reason.clone(),
        validation: trained.validation.clone(),
        validation_mae: trained.validation_mae,
        features: FeatureSet::for_frame(&frame).names,
        calibration: trained.calibration.clone(),
        model: trained.model,
    };
    let path = Registry::new(&settings.models_dir).write(&artifact)?;
    let record = ModelRecord {
        series: id.clone(),
        version,
        status,
        chosen: trained.chosen.clone(),
        path: path.display().to_string(),
        train_start: artifact.train_start,
        train_end: artifact.train_end,
        validation_mae: trained
            .validation_mae
            .is_finite()
            .then_some(trained.validation_mae),
        compared_mae: compared,
        champion_mae: champ_mae,
        reason: reason.clone(),
        trained_at: artifact.trained_at,
    };
    store
        .register_model(&record)
        .await
        .with_context(|| format!("registering {}", path.display()))?;
    Ok(Outcome {
        series: id.clone(),
        version,
        status,
        chosen: trained.chosen,
        reason,
        validation_mae: trained.validation_mae,
        path: path.display().to_string(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Retrains many series, `parallel` at a time (frames in memory are bounded by that), reporting
/// each result as it lands.
pub async fn retrain_many(
    store: &Store,
    settings: &Settings,
    ids: &[SeriesId],
    parallel: usize,
    on_done: &mut dyn FnMut(&SeriesId, &Result<Outcome>),
) -> Vec<(SeriesId, Result<Outcome>)> {
    let specs = ModelSpec::candidates();
    let mut out = Vec::with_capacity(ids.len());
    let mut set = tokio::task::JoinSet::new();
    let mut next = 0;
    loop {
        while set.len() < parallel.max(1) && next < ids.len() {
            let (store, settings, id, specs) = (
                store.clone(),
                settings.clone(),
                ids[next].clone(),
                specs.clone(),
            );
            set.spawn(async move {
                let r = retrain(&store, &settings, &id, &specs).await;
                (id, r)
            });
            next += 1;
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        let (id, r) = joined.unwrap_or_else(|e| {
            (
                SeriesId::parse("unknown").expect("valid"),
                Err(anyhow::anyhow!("training task failed: {e}")),
            )
        });
        on_done(&id, &r);
        out.push((id, r));
    }
    out
}
