//! Retraining: fit the candidates on a series' stored history, write the artifact, and promote
//! it only if it does at least as well as the champion on the same recent weeks; otherwise it is
//! kept as a challenger with the reason. A retrain that fails leaves the champion in service.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::Utc;
use serde::Serialize;

use crate::config::Settings;
use crate::domain::{Hour, SeriesId};
use crate::forecast::features::FeatureSet;
use crate::forecast::features::Windows;
use crate::forecast::registry::{Artifact, FORMAT, Registry};
use crate::forecast::trainer::{MIN_HISTORY_DAYS, Points, TrainOptions, chooses, train, validate};
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
    // The champion reads the weather's categories as its training ranked them.
    let mut ranked;
    let frame = if champion.categories.is_empty() || champion.categories == frame.categories() {
        frame
    } else {
        ranked = frame.clone();
        ranked.rank_categories_as(&champion.categories);
        &ranked
    };
    let champ_end = (frame.start.hours_until(champion.train_end) + 1).max(0) as usize;
    let mut origins: Vec<usize> = new_points
        .iter()
        .map(|p| p.0)
        .filter(|&q| q >= champ_end && chooses(frame, q))
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

/// Hours of history training reads: the last two years (every dataset here fits). Memory stays
/// bounded however far back observations go: a stray one from years ago once made training
/// allocate every hour since.
pub const TRAINING_HOURS: usize = 24 * 731;

/// Less history than training needs (`MIN_HISTORY_DAYS` of observed hours): a new series, not a
/// broken one. A scheduled retrain counts it as skipped, not failed, and `train --all` lists it
/// apart.
#[derive(Debug, thiserror::Error)]
#[error(
    "series {series} has {hours} observed hours; training needs at least {MIN_HISTORY_DAYS} days"
)]
pub struct TooLittleHistory {
    pub series: SeriesId,
    pub hours: usize,
}

/// Whether a retrain failed only because the series is too young to train.
pub fn too_young(e: &anyhow::Error) -> bool {
    e.downcast_ref::<TooLittleHistory>().is_some()
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
    let (frame, end) =
        super::history::load(store, settings, &series, None, 0, Some(TRAINING_HOURS)).await?;
    let observed = frame.y[..end].iter().filter(|v| !v.is_nan()).count();
    if observed < 24 * MIN_HISTORY_DAYS {
        return Err(TooLittleHistory {
            series: id.clone(),
            hours: observed,
        }
        .into());
    }
    let (replaces, champion) = match store.champion(id).await? {
        Some(rec) => (
            Some(rec.version),
            Some(
                Registry::read(std::path::Path::new(&rec.path))
                    .with_context(|| format!("reading the champion of {id}"))?,
            ),
        ),
        None => (None, None),
    };
    let specs = specs.to_vec();
    let opts = TrainOptions::default();
    // Fitting is CPU work: off the async threads.
    let frame = Arc::new(frame);
    let (trained, comparison) = tokio::task::spawn_blocking({
        let frame = Arc::clone(&frame);
        move || {
            let w = Windows::of(&frame);
            let t = train(&frame, &w, end, &specs, &opts);
            let cmp = champion
                .as_ref()
                .map(|c| compare(&frame, &w, end, &t.points, c, &opts));
            (t, cmp)
        }
    })
    .await?;

    let (mut status, mut reason, compared, champ_mae) = match comparison {
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
    let mut artifact = Artifact {
        format: FORMAT,
        series: id.clone(),
        version: store.next_model_version(id).await?,
        trained_at: Utc::now(),
        train_start: frame.start,
        train_end: frame.hour(end - 1),
        candidates: trained.specs.clone(),
        chosen: trained.chosen.clone(),
        reason: reason.clone(),
        validation: trained.validation.clone(),
        validation_mae: trained.validation_mae,
        features: FeatureSet::for_frame(&frame).names,
        categories: frame.categories(),
        calibration: trained.calibration.clone(),
        model: trained.model,
    };
    // Another retrain of this series (the API's beside a scheduled one, or another replica's)
    // may take the version or the champion first: then this one takes the next free version,
    // or stays a challenger. A version's file is created only if absent and removed if its
    // registration fails, so no retrain replaces or deletes another's artifact.
    let registry = Registry::new(&settings.models_dir);
    for _ in 0..REGISTRATION_ATTEMPTS {
        artifact.reason.clone_from(&reason);
        let path = match registry.write(&artifact) {
            Ok(path) => path,
            Err(crate::forecast::registry::RegistryError::Exists { .. }) => {
                artifact.version += 1;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let record = ModelRecord {
            series: id.clone(),
            version: artifact.version,
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
        match store.register_model(&record, replaces).await {
            Ok(()) => {
                return Ok(Outcome {
                    series: id.clone(),
                    version: artifact.version,
                    status,
                    chosen: trained.chosen,
                    reason,
                    validation_mae: trained.validation_mae,
                    path: path.display().to_string(),
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
            Err(e) => {
                let _ = std::fs::remove_file(&path);
                if !e.is_conflict() {
                    return Err(
                        anyhow::Error::new(e).context(format!("registering {}", path.display()))
                    );
                }
            }
        }
        let taken = store
            .models(id)
            .await?
            .iter()
            .any(|m| m.version == artifact.version);
        if taken {
            artifact.version = store
                .next_model_version(id)
                .await?
                .max(artifact.version + 1);
        } else {
            status = ModelStatus::Challenger;
            reason = format!(
                "kept as challenger: another retrain of {id} registered a champion while this one \
                 trained; {reason}"
            );
        }
    }
    anyhow::bail!(
        "series {id}: no version could be registered in {REGISTRATION_ATTEMPTS} attempts (other \
         retrains of it kept taking them); nothing is registered"
    )
}

/// Attempts at registering a version when other retrains of the series take them first.
const REGISTRATION_ATTEMPTS: usize = 16;

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

/// The series whose retraining schedule fires in `(after, upto]`, each in its own time zone.
/// Pure: the clock is an argument.
pub fn due_retrains<'a>(
    series: &'a [crate::domain::Series],
    retrain: &crate::config::RetrainSettings,
    after: chrono::DateTime<chrono::Utc>,
    upto: chrono::DateTime<chrono::Utc>,
) -> Vec<&'a SeriesId> {
    series
        .iter()
        .filter(|s| {
            let Some(cron) = retrain.schedule_of(&s.id).cron() else {
                return false;
            };
            let local = after.with_timezone(&s.time_zone.tz());
            cron.find_next_occurrence(&local, false)
                .is_ok_and(|next| next.with_timezone(&chrono::Utc) <= upto)
        })
        .map(|s| &s.id)
        .collect()
}

/// Runs the scheduled retrains due since `after`, one after the other, each recorded as a job.
/// At the first check of every hour, a series that has no model yet is due too as soon as it has
/// a week of history (and a retraining schedule): its first model does not wait for the
/// schedule (up to a week by default), during which it has no forecasts and `/readyz` is 503.
pub async fn run_due(
    state: &crate::api::AppState,
    after: chrono::DateTime<chrono::Utc>,
    upto: chrono::DateTime<chrono::Utc>,
) {
    // This runs at every leader check (every few seconds): the series alone, not their
    // statistics, which read every observation.
    let series = match state.store.all_series().await {
        Ok(all) => all,
        Err(e) => {
            tracing::warn!(error = %e, "listing series for retraining failed");
            return;
        }
    };
    let retrain = &state.settings.retrain;
    let mut due: Vec<SeriesId> = due_retrains(&series, retrain, after, upto)
        .into_iter()
        .cloned()
        .collect();
    if Hour::containing(after) != Hour::containing(upto) {
        match state.store.series_without_champion().await {
            Ok(unmodelled) => {
                for (id, observations) in unmodelled {
                    if old_enough(observations)
                        && retrain.schedule_of(&id).cron().is_some()
                        && !due.contains(&id)
                    {
                        due.push(id);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "listing series without a model failed"),
        }
    }
    for id in due {
        match state.store.start_job("retrain", &id).await {
            Ok(job) => run_job(state, job, &id).await,
            Err(e) => {
                tracing::warn!(series = %id, error = %e, "could not record a scheduled retrain")
            }
        }
    }
}

/// Whether a series with this many observed hours has what training needs
/// (`MIN_HISTORY_DAYS`).
pub fn old_enough(observations: i64) -> bool {
    observations >= 24 * MIN_HISTORY_DAYS as i64
}

/// Runs one recorded training job to its end: the retrain, its metrics, its log line, and how
/// the job ended. A failure leaves the champion in service.
pub async fn run_job(state: &crate::api::AppState, job: i64, id: &SeriesId) {
    let started = Instant::now();
    let r = retrain(&state.store, &state.settings, id, &ModelSpec::candidates()).await;
    let seconds = started.elapsed().as_secs_f64();
    let m = &state.metrics;
    m.add("prescale_training_seconds_total", "", seconds);
    let outcome = match &r {
        Ok(o) => {
            m.add(
                "prescale_training_runs_total",
                "{outcome=\"succeeded\"}",
                1.0,
            );
            m.set(
                "prescale_model_validation_mae",
                &format!("{{series=\"{id}\"}}"),
                o.validation_mae,
            );
            tracing::info!(series = %id, job, status = ?o.status, seconds, "trained");
            Ok(serde_json::to_value(o).unwrap_or_default())
        }
        Err(e) if too_young(e) => {
            m.add("prescale_training_runs_total", "{outcome=\"skipped\"}", 1.0);
            tracing::info!(series = %id, job, reason = %e, "not trained yet");
            Err(format!("{e:#}"))
        }
        Err(e) => {
            m.add("prescale_training_runs_total", "{outcome=\"failed\"}", 1.0);
            tracing::warn!(series = %id, job, error = %format!("{e:#}"), "training failed; the champion is unchanged");
            Err(format!("{e:#}"))
        }
    };
    if let Err(e) = state.store.finish_job(job, outcome, seconds).await {
        tracing::error!(job, error = %e, "recording the end of a job failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RetrainSettings, Schedule, SeriesSchedule};
    use crate::domain::{CalendarName, Series, TimeZone, Tolerance};
    use chrono::{DateTime, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    fn series(id: &str, tz: &str) -> Series {
        Series {
            id: SeriesId::parse(id).unwrap(),
            time_zone: TimeZone::parse(tz).unwrap(),
            calendar: CalendarName::Pe,
            unit: "trips".into(),
            tolerance: Tolerance::DEFAULT,
            weather_location: id.into(),
            created_at: Utc::now(),
        }
    }

    #[test]
    fn sunday_three_in_the_morning_is_taken_in_each_series_time_zone() {
        let all = [
            series("lima", "America/Lima"),
            series("ny", "America/New_York"),
            series("own", "America/Lima"),
        ];
        let r = RetrainSettings {
            schedule: Schedule::try_from("0 3 * * Sun".to_owned()).unwrap(),
            series: vec![SeriesSchedule {
                id: SeriesId::parse("own").unwrap(),
                schedule: Schedule::try_from(String::new()).unwrap(),
            }],
        };
        // 2026-12-06 is a Sunday: 03:00 in Lima is 08:00 UTC; in New York (EST) it is 08:00 UTC too.
        let ids = |a: &str, b: &str| {
            due_retrains(&all, &r, t(a), t(b))
                .into_iter()
                .map(SeriesId::as_str)
                .collect::<Vec<_>>()
        };
        assert!(ids("2026-12-06T07:00:00Z", "2026-12-06T07:59:00Z").is_empty());
        assert_eq!(
            ids("2026-12-06T07:00:00Z", "2026-12-06T08:00:30Z"),
            ["lima", "ny"],
            "an empty schedule turns a series off"
        );
        assert!(
            ids("2026-12-06T08:01:00Z", "2026-12-06T09:00:00Z").is_empty(),
            "once, not again"
        );
        // In July New York is on EDT: its 03:00 is 07:00 UTC, Lima's still 08:00 UTC.
        assert_eq!(ids("2026-07-05T06:30:00Z", "2026-07-05T07:30:00Z"), ["ny"]);
    }
}
