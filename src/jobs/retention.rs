//! Retention: the serving loop's records older than `[retention]` allows are deleted, hourly by
//! the leader and on demand by `prescale prune`. Without it `published` alone grows by a
//! horizon's rows per series every hour (576 a day at 24 hours: about 210 million rows a year
//! for 1,000 series), and the queries that read the latest rows slow down with it.

use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::config::Settings;
use crate::domain::Hour;
use crate::store::Store;

/// The rows one pruning deleted, by table.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PruneReport {
    pub published: u64,
    pub recommendations: u64,
    pub actions: u64,
    pub partial_readings: u64,
    pub seconds: f64,
}

impl PruneReport {
    /// (table, rows deleted) pairs, for metrics and printing.
    pub fn tables(&self) -> [(&'static str, u64); 4] {
        [
            ("published", self.published),
            ("recommendations", self.recommendations),
            ("actions", self.actions),
            ("partial_readings", self.partial_readings),
        ]
    }
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
    let started = Instant::now();
    let r = settings.retention;
    let hour = Hour::containing(now);
    let mut report = PruneReport::default();
    if let Some(whole) = cutoff(hour, r.published_days.days()) {
        let daily = cutoff(hour, r.daily_published_days.days());
        for s in store.list_series().await? {
            report.published += store
                .prune_published(&s.series.id, s.series.time_zone, Some(whole), daily)
                .await?;
        }
    }
    if let Some(before) = cutoff(hour, r.recommendations_days.days()) {
        report.recommendations = store.prune_recommendations(before).await?;
    }
    if let Some(before) = cutoff(hour, r.actions_days.days()) {
        report.actions = store.prune_actions(before.unix() * 1000).await?;
    }
    if let Some(before) = cutoff(hour, r.partial_readings_days.days()) {
        report.partial_readings = store.prune_partial_readings(before).await?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}
