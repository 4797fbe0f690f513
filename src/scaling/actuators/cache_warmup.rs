//! Cache warm-up triggers (ACTUATORS.md 4.3): ahead of a predicted peak, a
//! `prescale.cache.warmup.v1` payload with a `warmupId` the warmers dedupe on, sent by Pub/Sub
//! (`POST .../topics/{topic}:publish`, base64 data plus attributes) or by the signed webhook.
//! A publish is not idempotent (a retry may deliver twice): the id is what makes it safe, and
//! the cycle sends one warm-up per (target, hour).

use base64::Engine;
use serde_json::{Value, json};

use super::http::{ActuatorError, RetryPolicy, Sent, retrying};
use super::{Context, Note, Written};
use crate::scaling::targets::Target;

pub fn desired(t: &Target, value: u32) -> Value {
    json!({ "expectedRps": value, "topN": t.top_n })
}

/// `wu-<hour>-<series>-<target>`: one per target and hour.
pub fn warmup_id(t: &Target, note: &Note) -> String {
    format!(
        "wu-{}-{}-{}",
        note.hour.to_utc().format("%Y-%m-%dT%H:%MZ"),
        note.series,
        t.name
    )
}

pub fn payload(t: &Target, note: &Note) -> Value {
    let start = note.hour.to_utc();
    let fmt =
        |d: chrono::DateTime<chrono::Utc>| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    json!({
        "warmupId": warmup_id(t, note),
        "cache": t.instance,
        "scope": {"keyspace": t.keyspace, "topN": t.top_n},
        "reason": note.cause,
        "forecast": {"series": note.series, "hourStart": fmt(start), "expectedRps": note.expected_rps, "confidence": note.confidence},
        "notBefore": fmt(start - chrono::Duration::minutes(i64::from(t.lead_minutes))),
        "deadline": fmt(start - chrono::Duration::minutes(5)),
        "dryRun": false,
    })
}

pub async fn write(
    t: &Target,
    ctx: &Context,
    _desired: &Value,
    note: &Note,
) -> (Written, Result<(), ActuatorError>) {
    let body = payload(t, note);
    let id = warmup_id(t, note);
    let mut w = Written::default();
    let r = if let Some(topic) = &t.topic {
        let host = t.endpoint.as_deref().unwrap_or(&ctx.endpoints.pubsub);
        let url = format!(
            "{}/v1/projects/{}/topics/{topic}:publish",
            host.trim_end_matches('/'),
            t.project.as_deref().unwrap_or_default()
        );
        let data = base64::engine::general_purpose::STANDARD.encode(body.to_string());
        let msg = json!({"messages": [{
            "data": data,
            "attributes": {"warmupId": id, "type": "prescale.cache.warmup.v1"},
        }]});
        w.requests.push(Sent {
            method: "POST".into(),
            url: url.clone(),
            body: Some(msg.clone()),
        });
        let policy = RetryPolicy::google(std::time::Duration::from_secs(120)).scaled(ctx.speedup);
        retrying(
            policy,
            |_| ctx.google.call(reqwest::Method::POST, &url, Some(&msg)),
            |e| {
                let go = e.transient();
                async move { go }
            },
        )
        .await
        .and_then(|a| {
            w.http_status = Some(a.status);
            match a.body.pointer("/messageIds/0") {
                Some(_) => Ok(()),
                None => Err(ActuatorError::Invalid(format!(
                    "publish answered without messageIds: {}",
                    a.body
                ))),
            }
        })
    } else {
        let url = t.url.clone().unwrap_or_default();
        let mut hook = body.clone();
        hook["type"] = json!("prescale.cache.warmup.v1");
        hook["id"] = json!(id);
        w.requests.push(Sent {
            method: "POST".into(),
            url: url.clone(),
            body: Some(hook.clone()),
        });
        let secret = t.secret.as_ref().map(|s| s.expose().to_owned());
        super::webhook::deliver(
            ctx,
            &url,
            secret.as_deref(),
            &id,
            &hook,
            RetryPolicy::webhook().scaled(ctx.speedup),
        )
        .await
        .map(|s| w.http_status = Some(s))
    };
    (w, r)
}
