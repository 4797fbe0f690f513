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
        .all_series()
        .await?
        .into_iter()
        .map(|s| s.id)
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
            lead: i as i64 + 1,
            point: *p,
        })
        .collect();
    store.publish(id, &points).await?;
    Ok(())
}

/// Whether a cycle is due: with an hourly interval, once per hour from `minute_offset`; with a
/// shorter one, every `interval_seconds`. Pure: the clock is an argument.
pub fn due(
    now: chrono::DateTime<chrono::Utc>,
    last: Option<chrono::DateTime<chrono::Utc>>,
    interval_seconds: u64,
    minute_offset: u32,
) -> bool {
    use chrono::Timelike;
    if interval_seconds >= 3600 {
        let hour = Hour::containing(now);
        now.minute() >= minute_offset && last.is_none_or(|l| Hour::containing(l) < hour)
    } else {
        last.is_none_or(|l| (now - l).num_seconds() >= interval_seconds as i64)
    }
}

/// The serving loop: while this process leads, publish every series each cycle and run the
/// retraining schedule. A cycle in
/// flight finishes before the loop stops; a missed cycle (the process was down) is not replayed,
/// and a slow one does not pile up (the next is simply due later).
pub async fn run(state: crate::api::AppState, stop: tokio_util::sync::CancellationToken) {
    let cfg = state.settings.serving.clone();
    let mut leader: Option<crate::store::Leadership> = None;
    let mut last: Option<chrono::DateTime<chrono::Utc>> = None;
    let mut retrain_checked = chrono::Utc::now();
    // The hour last pruned: at most once an hour, however short the cycle.
    let mut pruned: Option<Hour> = None;
    let check =
        std::time::Duration::from_secs(cfg.leader_check_seconds.min(cfg.interval_seconds).max(1));
    loop {
        let lost = match leader.as_mut() {
            Some(l) => !l.alive().await,
            None => false,
        };
        if lost {
            tracing::warn!("lost the lead (its connection closed)");
            leader = None;
        }
        if leader.is_none() {
            match state.store.try_lead().await {
                Ok(Some(l)) => {
                    tracing::info!("leading: this process runs the serving loop");
                    leader = Some(l);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not ask for the lead"),
            }
        }
        state.metrics.set(
            "prescale_leader",
            "",
            if leader.is_some() { 1.0 } else { 0.0 },
        );
        let now = chrono::Utc::now();
        if leader.is_some() && due(now, last, cfg.interval_seconds, cfg.minute_offset) {
            last = Some(now);
            let parallel = std::thread::available_parallelism().map_or(2, usize::from) * 2;
            match publish_once(
                &state.store,
                &state.settings,
                Hour::containing(now),
                cfg.horizon,
                parallel,
            )
            .await
            {
                Ok(r) => {
                    state.forecasts.drop_computed();
                    state.metrics.add(
                        "prescale_forecasts_published_total",
                        "",
                        r.published.len() as f64,
                    );
                    state.metrics.set(
                        "prescale_last_publish_timestamp_seconds",
                        "",
                        now.timestamp() as f64,
                    );
                    state.metrics.set("prescale_publish_seconds", "", r.seconds);
                    tracing::info!(
                        published = r.published.len(),
                        skipped = r.skipped.len(),
                        seconds = r.seconds,
                        "published"
                    );
                    let interval = chrono::Duration::seconds(cfg.interval_seconds as i64);
                    match crate::scaling::cycle::run(
                        &state.store,
                        &state.settings,
                        &state.actuators,
                        &r.published,
                        now,
                        interval,
                    )
                    .await
                    {
                        Ok(outcomes) => {
                            for o in outcomes.iter().filter(|o| {
                                matches!(o.status.as_str(), "applied" | "unchanged" | "dry_run")
                            }) {
                                if let Some(v) = o.value {
                                    state.metrics.set(
                                        "prescale_target_value",
                                        &format!("{{target=\"{}\"}}", o.target),
                                        f64::from(v),
                                    );
                                }
                            }
                            for o in &outcomes {
                                state.metrics.add(
                                    "prescale_scaling_decisions_total",
                                    &format!("{{target=\"{}\",status=\"{}\"}}", o.target, o.status),
                                    1.0,
                                );
                            }
                        }
                        Err(e) => tracing::error!(error = %format!("{e:#}"), "scaling failed"),
                    }
                    if pruned.is_none_or(|h| h < Hour::containing(now)) {
                        pruned = Some(Hour::containing(now));
                        prune(&state, now).await;
                    }
                }
                Err(e) => tracing::error!(error = %format!("{e:#}"), "publishing failed"),
            }
        }
        if leader.is_some() {
            let now = chrono::Utc::now();
            super::retrain::run_due(&state, retrain_checked, now).await;
            retrain_checked = now;
            check_misses(&state, Hour::containing(now)).await;
        }
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(check) => {}
        }
    }
    if let Some(l) = leader {
        l.release().await;
    }
}

/// Deletes what `[retention]` no longer keeps, after the cycle's work.
async fn prune(state: &crate::api::AppState, now: chrono::DateTime<chrono::Utc>) {
    match super::retention::prune(&state.store, &state.settings, now).await {
        Ok(r) => {
            for (table, n) in r.tables() {
                state.metrics.add(
                    "prescale_pruned_rows_total",
                    &format!("{{table=\"{table}\"}}"),
                    n as f64,
                );
            }
            state.metrics.add(
                "prescale_pruned_model_artifacts_total",
                "",
                r.model_artifacts as f64,
            );
            tracing::info!(
                model_artifacts = r.model_artifacts,
                published = r.published,
                recommendations = r.recommendations,
                actions = r.actions,
                partial_readings = r.partial_readings,
                jobs = r.jobs,
                imports = r.imports,
                observations = r.observations,
                weather = r.weather,
                seconds = r.seconds,
                "pruned"
            );
            for f in &r.failed {
                tracing::warn!(error = %f, "pruning a model artifact failed");
            }
        }
        Err(e) => tracing::error!(error = %format!("{e:#}"), "pruning failed"),
    }
}

/// The safety net over every series with targets, for the running hour.
pub async fn check_misses(state: &crate::api::AppState, hour: Hour) {
    let mut seen = std::collections::HashSet::new();
    for t in &state.settings.targets {
        if !seen.insert(t.series.clone()) {
            continue;
        }
        if let Err(e) = crate::scaling::safety::check_series(
            &state.store,
            &state.settings,
            &state.actuators,
            &t.series,
            hour,
            Some(&state.metrics),
        )
        .await
        {
            tracing::error!(series = %t.series, error = %format!("{e:#}"), "forecast-miss check failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().to_utc()
    }

    #[test]
    fn an_hourly_cycle_is_due_once_per_hour_after_the_offset() {
        assert!(due(t("2026-07-28T14:00:30Z"), None, 3600, 0));
        assert!(
            !due(t("2026-07-28T14:02:00Z"), None, 3600, 5),
            "before the offset"
        );
        assert!(due(t("2026-07-28T14:05:00Z"), None, 3600, 5));
        assert!(
            !due(
                t("2026-07-28T14:59:00Z"),
                Some(t("2026-07-28T14:05:00Z")),
                3600,
                5
            ),
            "done this hour"
        );
        assert!(due(
            t("2026-07-28T15:05:00Z"),
            Some(t("2026-07-28T14:05:00Z")),
            3600,
            5
        ));
        // A missed hour is not replayed: two hours later it is simply due once.
        assert!(due(
            t("2026-07-28T17:05:00Z"),
            Some(t("2026-07-28T14:05:00Z")),
            3600,
            5
        ));
    }

    #[test]
    fn a_short_cycle_is_due_every_interval() {
        assert!(!due(
            t("2026-07-28T14:00:01Z"),
            Some(t("2026-07-28T14:00:00Z")),
            2,
            0
        ));
        assert!(due(
            t("2026-07-28T14:00:02Z"),
            Some(t("2026-07-28T14:00:00Z")),
            2,
            0
        ));
    }
}
