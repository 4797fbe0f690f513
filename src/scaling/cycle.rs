//! One scaling cycle against the store, run by the serving loop's leader after it publishes:
//! for every target of a published series, recommend from the forecast (with event stages,
//! the reactive floor and the confidence penalty of a recent miss), publish the
//! recommendations, and act on the one due before the next cycle: apply it when the gate says
//! so and the target has `apply = true`, else record the dry run. Every attempt lands in the
//! audit trail, successful or not; one target failing does not stop the others.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use serde_json::Value;

use super::actuators::{self, Context, Note};
use super::recommend::{
    Decision, EventWindow, HoldReason, Recommendation, instances_for, recommend,
};
use super::targets::{Kind, Target};
use crate::config::Settings;
use crate::domain::{Hour, SeriesId};
use crate::forecast::ForecastPoint;
use crate::store::{ActionRecord, NewAction, RecommendationRecord, Store};

/// What a cycle did for one target.
#[derive(Debug, Clone, Serialize)]
pub struct TargetOutcome {
    pub target: String,
    pub kind: Kind,
    pub series: SeriesId,
    /// The hour acted for, its value, decision and reason.
    pub hour: Option<Hour>,
    pub value: Option<u32>,
    pub confidence: Option<f64>,
    pub decision: String,
    pub reason: String,
    /// `applied`, `unchanged`, `dry_run`, `failed`, `held`, `skipped`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<i64>,
}

/// The primary number of a target's state: what `value` a recommendation sets.
pub fn primary(kind: Kind, v: &Value) -> Option<u32> {
    let key = match kind {
        Kind::CloudRun | Kind::CloudFunctions => "minInstanceCount",
        Kind::Memorystore => "memorySizeGb",
        Kind::RateLimitRedis => "rate",
        Kind::CloudArmor => {
            let count = v.get("count")?.as_f64()?;
            let interval = v.get("intervalSec")?.as_f64()?.max(1.0);
            return Some((count / interval).round() as u32);
        }
        Kind::K8sHpa | Kind::Webhook => "minReplicas",
        Kind::Keda => "minReplicaCount",
        Kind::CacheWarmup => "expectedRps",
        Kind::Log => "value",
    };
    v.get(key)?.as_f64().map(|x| x.round().max(0.0) as u32)
}

fn reason_of(r: &Recommendation) -> String {
    match &r.decision {
        Decision::Hold(HoldReason::LowConfidence {
            confidence,
            threshold,
        }) => {
            let mut reason =
                format!("confidence {confidence:.3} is below the threshold {threshold:.3}");
            if !r.doubts.is_empty() {
                reason += &format!(" (lowered by: {})", r.doubts);
            }
            reason
        }
        Decision::Apply => r
            .stage
            .clone()
            .map_or_else(|| "forecast".to_owned(), |s| format!("event {s}")),
    }
}

/// The events of a series that overlap `[from, to]`, as hour windows.
async fn event_windows(
    store: &Store,
    id: &SeriesId,
    from: Hour,
    to: Hour,
) -> anyhow::Result<Vec<EventWindow>> {
    Ok(store
        .events(Some(id))
        .await?
        .iter()
        .map(EventWindow::from)
        .filter(|w| w.end >= from && w.start <= to)
        .collect())
}

/// The penalty factor in force for a series (1 when none); lifted once the series has been
/// retrained after the miss (whether the new version became champion or not: either way the
/// model has seen the data that it missed).
pub async fn confidence_factor(store: &Store, id: &SeriesId) -> anyhow::Result<f64> {
    let Some(crate::store::Penalty {
        factor,
        since_version: since,
        ..
    }) = store.penalty(id).await?
    else {
        return Ok(1.0);
    };
    if store.models(id).await?.iter().any(|m| m.version > since) {
        store.clear_penalty(id).await?;
        return Ok(1.0);
    }
    Ok(factor)
}

/// The last value this target was set to (or recorded as set to in dry run).
async fn last_value(store: &Store, t: &Target) -> anyhow::Result<Option<u32>> {
    Ok(store
        .actions(Some(&t.name), 50)
        .await?
        .into_iter()
        .find(|a| matches!(a.status.as_str(), "applied" | "unchanged" | "dry_run"))
        .and_then(|a| primary(t.kind, &a.after)))
}

/// What the last complete hour before `at` needed: the floor a forecast cannot scale in below.
async fn reactive_floor(store: &Store, t: &Target, at: Hour) -> anyhow::Result<u32> {
    let obs = store
        .observations(&t.series, at.plus(-3), at.plus(-1))
        .await?;
    Ok(obs
        .last()
        .map_or(0, |o| instances_for(o.demand.get(), &t.capacity())))
}

fn note_for(t: &Target, p: &ForecastPoint, model_version: Option<i64>, cause: &str) -> Note {
    Note {
        series: t.series.to_string(),
        hour: p.hour,
        expected_rps: p.expected / 3600.0,
        lower_rps: p.lower80 / 3600.0,
        upper_rps: p.upper80 / 3600.0,
        confidence: p.confidence,
        model_version,
        cause: cause.to_owned(),
    }
}

/// Runs the cycle for every target whose series is in `series`; `now` is the cycle's time and
/// `interval` the time to the next cycle (a change due before then is made now).
///
/// # Errors
/// Only when the store fails; a target's own failure is in its outcome.
pub async fn run(
    store: &Store,
    settings: &Settings,
    ctx: &Context,
    series: &[SeriesId],
    now: DateTime<Utc>,
    interval: Duration,
) -> anyhow::Result<Vec<TargetOutcome>> {
    let mut out = Vec::new();
    for t in settings
        .targets
        .iter()
        .filter(|t| series.contains(&t.series))
    {
        out.push(target_cycle(store, ctx, t, now, interval).await?);
    }
    Ok(out)
}

async fn target_cycle(
    store: &Store,
    ctx: &Context,
    t: &Target,
    now: DateTime<Utc>,
    interval: Duration,
) -> anyhow::Result<TargetOutcome> {
    let mut outcome = TargetOutcome {
        target: t.name.clone(),
        kind: t.kind,
        series: t.series.clone(),
        hour: None,
        value: None,
        confidence: None,
        decision: String::new(),
        reason: String::new(),
        status: "skipped".into(),
        error: None,
        action: None,
    };
    // The publication of this cycle's hour; the latest one when there is none (a cycle run
    // apart from its publish).
    let mut published = store.published_at(&t.series, Hour::containing(now)).await?;
    if published.is_empty() {
        published = store.latest_published(&t.series).await?;
    }
    let Some(first) = published.first() else {
        outcome.reason = "no published forecast".into();
        return Ok(outcome);
    };
    let (issued_at, model_version) = (first.issued_at, first.model_version);
    let factor = confidence_factor(store, &t.series).await?;
    let points: Vec<ForecastPoint> = published
        .iter()
        .map(|p| ForecastPoint {
            confidence: p.point.confidence * factor,
            doubts: p.point.doubts.with_forecast_miss(factor < 1.0),
            ..p.point
        })
        .collect();
    let cap = t.capacity();
    let current = last_value(store, t).await?.unwrap_or(t.min);
    let floor = reactive_floor(store, t, issued_at).await?;
    let last = points.last().map_or(issued_at, |p| p.hour);
    let events = event_windows(store, &t.series, issued_at.plus(-1), last).await?;
    let recs = recommend(&points, &cap, current, floor, &events);
    let records: Vec<RecommendationRecord> = recs
        .iter()
        .map(|r| RecommendationRecord {
            target: t.name.clone(),
            series: t.series.to_string(),
            issued_at,
            hour: r.hour,
            apply_at: r.apply_at,
            needed: i64::from(r.needed),
            value: i64::from(r.instances),
            confidence: r.confidence,
            decision: match r.decision {
                Decision::Apply => "apply".into(),
                Decision::Hold(_) => "hold".into(),
            },
            reason: reason_of(r),
        })
        .collect();
    store
        .put_recommendations(&t.name, issued_at, &records)
        .await?;

    // The change that must land before the next cycle: the latest hour due by then.
    let Some((i, due)) = recs
        .iter()
        .enumerate()
        .rfind(|(_, r)| r.apply_at <= now + interval)
    else {
        outcome.reason = "nothing due before the next cycle".into();
        return Ok(outcome);
    };
    let point = points[i];
    outcome.hour = Some(due.hour);
    outcome.value = Some(due.instances);
    outcome.confidence = Some(due.confidence);
    outcome.reason = reason_of(due);
    if let Decision::Hold(_) = due.decision {
        outcome.decision = "hold".into();
        outcome.status = "held".into();
        return Ok(outcome);
    }
    outcome.decision = "apply".into();
    let mean = points.iter().map(|p| p.expected).sum::<f64>() / points.len() as f64;
    match t.kind {
        Kind::CacheWarmup => {
            if point.expected < t.peak_ratio * mean {
                outcome.reason = format!(
                    "no peak: {:.0} expected is below {} × the forecast mean {mean:.0}",
                    point.expected, t.peak_ratio
                );
                return Ok(outcome);
            }
            let sent = store
                .actions(Some(&t.name), 50)
                .await?
                .into_iter()
                .any(|a| {
                    a.hour == Some(due.hour) && matches!(a.status.as_str(), "applied" | "dry_run")
                });
            if sent {
                outcome.reason = "warm-up already sent for this hour".into();
                return Ok(outcome);
            }
        }
        Kind::Memorystore if due.instances < current && point.expected >= mean => {
            outcome.reason = "a cache shrinks only in a trough".into();
            return Ok(outcome);
        }
        _ => {}
    }
    let cause = if due.stage.is_some() {
        "event"
    } else {
        "forecast"
    };
    let note = note_for(t, &point, Some(model_version), cause);
    let a = act(store, ctx, t, due.instances, &note, None).await?;
    outcome.status.clone_from(&a.status);
    outcome.error.clone_from(&a.error);
    outcome.action = Some(a.id);
    Ok(outcome)
}

/// Sets `value` on a target (or records the dry run) and audits it. `rollback_of` marks a
/// rollback; then `restore` is the exact state to write back instead of `value`.
async fn act(
    store: &Store,
    ctx: &Context,
    t: &Target,
    value: u32,
    note: &Note,
    rollback: Option<(i64, Option<Value>)>,
) -> anyhow::Result<ActionRecord> {
    let mut a = NewAction {
        target: t.name.clone(),
        kind: t.kind.as_str().into(),
        series: t.series.to_string(),
        cause: note.cause.clone(),
        hour: Some(note.hour),
        confidence: Some(note.confidence),
        rollback_of: rollback.as_ref().map(|(id, _)| *id),
        ..NewAction::default()
    };
    if !t.apply || t.kind == Kind::Log {
        // Dry run: nothing is sent, not even a read.
        a.after = match &rollback {
            Some((_, restore)) => restore.clone().unwrap_or(Value::Null),
            None => actuators::desired(t, value, &Value::Null),
        };
        a.status = "dry_run".into();
        if t.kind == Kind::Log {
            let _ = actuators::write(t, ctx, &a.after, note).await;
        }
        return Ok(store.record_action(&a).await?);
    }
    let before = match actuators::read(t, ctx).await {
        Ok(v) => v,
        Err(e) => {
            a.after = actuators::desired(t, value, &Value::Null);
            a.status = "failed".into();
            a.http_status = e.http_status().map(i64::from);
            a.error = Some(format!("reading the current state: {e}"));
            tracing::warn!(target_name = %t.name, error = %e, "scaling failed");
            return Ok(store.record_action(&a).await?);
        }
    };
    let desired = match &rollback {
        Some((_, restore)) => restore.clone().unwrap_or(Value::Null),
        None => actuators::desired(t, value, &before),
    };
    a.before = Some(before.clone());
    a.after = desired.clone();
    // A value already in place is not sent again, except a rate-limit override: rewriting it is
    // what extends its TTL (its version rule keeps the rewrite harmless).
    if actuators::restorable(t.kind)
        && t.kind != Kind::RateLimitRedis
        && (before == desired || actuators::holds(&before, &desired))
    {
        a.status = "unchanged".into();
        return Ok(store.record_action(&a).await?);
    }
    let (written, r) = actuators::write(t, ctx, &desired, note).await;
    a.request = serde_json::to_value(&written.requests).ok();
    a.http_status = written.http_status.map(i64::from);
    match r {
        Ok(()) => {
            a.status = if written.already {
                "unchanged"
            } else {
                "applied"
            }
            .into();
            tracing::info!(target_name = %t.name, %desired, "scaled");
        }
        Err(e) => {
            a.status = "failed".into();
            a.http_status = a.http_status.or(e.http_status().map(i64::from));
            a.error = Some(e.to_string());
            tracing::warn!(target_name = %t.name, error = %e, "scaling failed");
        }
    }
    Ok(store.record_action(&a).await?)
}

/// Raises `t` to `value` now, bypassing the gate (the safety net), and audits it. Never lowers:
/// when the target is already at or above `value`, nothing is done (`None`).
///
/// # Errors
/// When the store fails.
pub async fn act_now(
    store: &Store,
    ctx: &Context,
    t: &Target,
    value: u32,
    note: &Note,
) -> anyhow::Result<Option<ActionRecord>> {
    let value = value.clamp(t.min, t.max);
    let current = last_value(store, t).await?.unwrap_or(t.min);
    if value <= current {
        return Ok(None);
    }
    Ok(Some(act(store, ctx, t, value, note, None).await?))
}

/// Restores what the target's actions changed, newest first: with `to`, every action from that
/// one on; without it, the last one. Actions already rolled back, failed ones and ones that
/// changed nothing are skipped; each restore is itself recorded (cause `rollback`).
///
/// # Errors
/// When the target is unknown or has no state to restore, or the store fails.
pub async fn rollback(
    store: &Store,
    settings: &Settings,
    ctx: &Context,
    target: &str,
    to: Option<i64>,
) -> anyhow::Result<Vec<ActionRecord>> {
    let t = settings
        .targets
        .iter()
        .find(|t| t.name == target)
        .ok_or_else(|| anyhow::anyhow!("no target {target:?} in the configuration"))?;
    anyhow::ensure!(
        actuators::restorable(t.kind),
        "target {target:?} ({}) has no state to restore",
        t.kind.as_str()
    );
    let all = store.actions(Some(target), 100_000).await?;
    let undone: std::collections::HashSet<i64> = all.iter().filter_map(|a| a.rollback_of).collect();
    let candidates: Vec<&ActionRecord> = all
        .iter()
        .filter(|a| {
            a.rollback_of.is_none()
                && !undone.contains(&a.id)
                && matches!(a.status.as_str(), "applied" | "dry_run")
        })
        .collect();
    let chosen: Vec<&ActionRecord> = match to {
        Some(id) => {
            anyhow::ensure!(
                all.iter().any(|a| a.id == id),
                "target {target:?} has no action {id}"
            );
            candidates.into_iter().filter(|a| a.id >= id).collect()
        }
        None => candidates.into_iter().take(1).collect(),
    };
    anyhow::ensure!(
        !chosen.is_empty(),
        "nothing to roll back on target {target:?}"
    );
    let mut done = Vec::new();
    for a in chosen {
        let note = Note {
            series: t.series.to_string(),
            hour: a.hour.unwrap_or_else(|| Hour::containing(Utc::now())),
            expected_rps: 0.0,
            lower_rps: 0.0,
            upper_rps: 0.0,
            confidence: 1.0,
            model_version: None,
            cause: "rollback".into(),
        };
        let restore = match (&a.before, a.status.as_str()) {
            (Some(b), _) => Some(b.clone()),
            // A dry run recorded no state before it: restore the one recorded before it.
            (None, "dry_run") => all
                .iter()
                .find(|b| {
                    b.id < a.id && matches!(b.status.as_str(), "dry_run" | "applied" | "unchanged")
                })
                .map_or_else(
                    || Some(actuators::desired(t, t.min, &Value::Null)),
                    |b| Some(b.after.clone()),
                ),
            (None, _) => None,
        };
        let value = restore
            .as_ref()
            .and_then(|r| primary(t.kind, r))
            .unwrap_or(t.min);
        let r = act(store, ctx, t, value, &note, Some((a.id, restore))).await?;
        let failed = r.status == "failed";
        done.push(r);
        if failed {
            // Stop at the first failure: the ones before it stay restored and recorded.
            break;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::confidence::Doubts;

    #[test]
    fn a_hold_names_what_lowered_the_confidence() {
        let rec = |doubts: Doubts| Recommendation {
            hour: Hour::from_unix(1_785_207_600).unwrap(),
            apply_at: Utc::now(),
            needed: 3,
            instances: 3,
            confidence: 0.62,
            doubts,
            decision: crate::scaling::policy::gate(0.62, 0.8),
            stage: None,
        };
        assert_eq!(
            reason_of(&rec(Doubts::default())),
            "confidence 0.620 is below the threshold 0.800"
        );
        let doubts = serde_json::from_value(serde_json::json!([
            "missing_recent_data",
            "unseen_special_day"
        ]))
        .unwrap();
        assert_eq!(
            reason_of(&rec(doubts)),
            "confidence 0.620 is below the threshold 0.800 \
             (lowered by: unseen_special_day, missing_recent_data)"
        );
        // Applied, the doubts are not a reason.
        let applied = Recommendation {
            decision: Decision::Apply,
            ..rec(doubts)
        };
        assert_eq!(reason_of(&applied), "forecast");
    }
}
