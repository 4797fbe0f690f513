//! The serving loop's step: at an hour, forecast every series that has a champion from that
//! hour on, and publish (persist) each forecast whole so that its accuracy can be scored when the
//! observations arrive. `prescale tick` runs one step; `prescale serve` will run it hourly.

use std::time::Instant;

use anyhow::Result;
use serde::Serialize;

use crate::config::Settings;
use crate::domain::{Hour, SeriesId};
use crate::store::{PublishedPoint, Store};

/// What one publish step did.
#[derive(Debug, Clone, Serialize)]
pub struct PublishReport {
    pub at: Hour,
    pub published: Vec<SeriesId>,
    /// Series not published, with why (no model yet, no observations, ...).
    pub skipped: Vec<(SeriesId, String)>,
    pub seconds: f64,
}

/// Publishes `horizon` hours from `at` for every series with a champion, `parallel` at a time.
///
/// # Errors
/// When the series cannot be listed; a failing series is skipped with its reason instead.
pub async fn publish_once(
    store: &Store,
    settings: &Settings,
    at: Hour,
    horizon: usize,
    parallel: usize,
) -> Result<PublishReport> {
    let started = Instant::now();
    let ids: Vec<SeriesId> = store
        .list_series()
        .await?
        .into_iter()
        .map(|s| s.series.id)
        .collect();
    let mut report = PublishReport {
        at,
        published: Vec::new(),
        skipped: Vec::new(),
        seconds: 0.0,
    };
    let mut set = tokio::task::JoinSet::new();
    let mut next = 0;
    loop {
        while set.len() < parallel.max(1) && next < ids.len() {
            let (store, settings, id) = (store.clone(), settings.clone(), ids[next].clone());
            set.spawn(async move {
                let r = publish_series(&store, &settings, &id, at, horizon).await;
                (id, r)
            });
            next += 1;
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        match joined {
            Ok((id, Ok(()))) => report.published.push(id),
            Ok((id, Err(e))) => report.skipped.push((id, format!("{e:#}"))),
            Err(e) => anyhow::bail!("a publish task failed: {e}"),
        }
    }
    report.published.sort();
    report.skipped.sort();
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

async fn publish_series(
    store: &Store,
    settings: &Settings,
    id: &SeriesId,
    at: Hour,
    horizon: usize,
) -> Result<()> {
    if store.champion(id).await?.is_none() {
        anyhow::bail!("no model yet");
    }
    let f = super::predict::forecast(store, settings, id, horizon, Some(at)).await?;
    let points: Vec<PublishedPoint> = f
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| PublishedPoint {
            issued_at: f.origin,
            model_version: f.model_version,
            hour: p.hour,
            lead: i as i64 + 1,
            expected: p.expected,
            lower80: p.lower80,
            upper80: p.upper80,
            lower95: p.lower95,
            upper95: p.upper95,
            confidence: p.confidence,
        })
        .collect();
    store.publish(id, &points).await?;
    Ok(())
}
