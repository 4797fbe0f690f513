//! Retention: the records older than `[retention]` allows, and model artifact files beyond the
//! newest few per series, are deleted, hourly by the leader and on demand by `prescale prune`
//! (and `prescale tick`). Without it `published` alone grows by a horizon's rows per series
//! every hour (576 a day at 24 hours: about 210 million rows a year for 1,000 series), the
//! queries that read the latest rows slow down with it, and weekly retrains write an artifact
//! of 0.2-1.2 MB per series each (about 25 GB a year for 1,000). Observations and weather, the
//! history itself, are kept for ever unless `history_days` is set (at least the two years
//! training reads); events and holidays always.

use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::config::Settings;
use crate::domain::Hour;
use crate::store::{ModelRecord, ModelStatus, PruneMode, Store};

/// The rows one pruning deleted (or, in a dry run, would delete), by table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PruneReport {
    /// Nothing was deleted: the counts are what a pruning at the same time would delete.
    pub dry_run: bool,
    pub published: u64,
    pub recommendations: u64,
    pub actions: u64,
    pub partial_readings: u64,
    pub jobs: u64,
    pub imports: u64,
    pub observations: u64,
    pub weather: u64,
    /// Model artifact files deleted, and their bytes.
    pub model_artifacts: u64,
    pub model_bytes: u64,
    /// Files that could not be deleted, with why (they are tried again at the next pruning;
    /// a dry run tries none).
    pub failed: Vec<String>,
    pub seconds: f64,
}

impl PruneReport {
    /// (table, rows deleted) pairs, for metrics and printing.
    pub fn tables(&self) -> [(&'static str, u64); 8] {
        [
            ("published", self.published),
            ("recommendations", self.recommendations),
            ("actions", self.actions),
            ("partial_readings", self.partial_readings),
            ("jobs", self.jobs),
            ("imports", self.imports),
            ("observations", self.observations),
            ("weather", self.weather),
        ]
    }
}

/// The versions (newest first in `models`) whose artifact files go: every one but the champion
/// and the `keep` newest others. Only a path that ends in its own `<version>.json` is named, so
/// a stored path can never point the deletion elsewhere.
fn old_artifacts(models: &[ModelRecord], keep: usize) -> impl Iterator<Item = &ModelRecord> {
    models
        .iter()
        .filter(|m| m.status != ModelStatus::Champion)
        .skip(keep)
        .filter(|m| {
            std::path::Path::new(&m.path)
                .file_name()
                .is_some_and(|n| n.to_string_lossy() == format!("{}.json", m.version))
        })
}

/// The hour `days` days before the hour of `now`; `None` (keep for ever) without days.
fn cutoff(now: Hour, days: Option<u32>) -> Option<Hour> {
    days.map(|d| now.plus(-24 * i64::from(d)))
}

/// Deletes what `settings.retention` no longer keeps at `now`.
///
/// # Errors
/// On database failure; what was deleted before it stays deleted (each delete is whole).
pub async fn prune(
    store: &Store,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<PruneReport> {
    run(store, settings, now, PruneMode::Delete).await
}

/// What [`prune`] would delete at `now`, deleting nothing: the same conditions, counted.
///
/// # Errors
/// On database failure.
pub async fn dry_run(
    store: &Store,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<PruneReport> {
    run(store, settings, now, PruneMode::Count).await
}

async fn run(
    store: &Store,
    settings: &Settings,
    now: chrono::DateTime<chrono::Utc>,
    mode: PruneMode,
) -> Result<PruneReport> {
    let started = Instant::now();
    let r = settings.retention;
    let hour = Hour::containing(now);
    let mut report = PruneReport {
        dry_run: mode == PruneMode::Count,
        ..PruneReport::default()
    };
    let series = store.all_series().await?;
    if let Some(whole) = cutoff(hour, r.published_days.days()) {
        let daily = cutoff(hour, r.daily_published_days.days());
        for s in &series {
            report.published += store
                .prune_published(&s.id, s.time_zone, Some(whole), daily, mode)
                .await?;
        }
    }
    if let Some(before) = cutoff(hour, r.recommendations_days.days()) {
        report.recommendations = store.prune_recommendations(before, mode).await?;
    }
    if let Some(before) = cutoff(hour, r.actions_days.days()) {
        report.actions = store.prune_actions(before.unix() * 1000, mode).await?;
    }
    if let Some(before) = cutoff(hour, r.partial_readings_days.days()) {
        report.partial_readings = store.prune_partial_readings(before, mode).await?;
    }
    if let Some(before) = cutoff(hour, r.jobs_days.days()) {
        report.jobs = store.prune_jobs(before.unix(), mode).await?;
    }
    if let Some(before) = cutoff(hour, r.imports_days.days()) {
        report.imports = store.prune_imports(before.unix(), mode).await?;
    }
    if let Some(before) = cutoff(hour, r.history_days.days()) {
        for s in &series {
            report.observations += store.prune_observations(&s.id, before, mode).await?;
        }
        report.weather = store.prune_weather(before, mode).await?;
    }
    if r.model_artifacts_kept > 0 {
        for s in &series {
            let models = store.models(&s.id).await?;
            for m in old_artifacts(&models, r.model_artifacts_kept as usize) {
                let path = std::path::Path::new(&m.path);
                let Ok(meta) = std::fs::metadata(path) else {
                    continue;
                };
                if mode == PruneMode::Count {
                    if !meta.is_file() {
                        report
                            .failed
                            .push(format!("cannot delete {}: not a file", path.display()));
                        continue;
                    }
                    report.model_artifacts += 1;
                    report.model_bytes += meta.len();
                    continue;
                }
                match std::fs::remove_file(path) {
                    Ok(()) => {
                        report.model_artifacts += 1;
                        report.model_bytes += meta.len();
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => report
                        .failed
                        .push(format!("cannot delete {}: {e}", path.display())),
                }
            }
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
