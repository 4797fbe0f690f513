//! The generic webhook (ACTUATORS.md 8, our own contract, signed as Standard Webhooks 1.0): a
//! JSON POST of the recommendation with `webhook-id` (the same on every retry of one delivery),
//! `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`.
//! 2xx is delivered; 409 and 422 are final rejections, as is any other 4xx but 408 and 429;
//! 408, 429 (after `Retry-After`), 5xx and transport errors are retried with backoff.

use base64::Engine;
use hmac::{KeyInit, Mac};
use serde_json::{Value, json};

use super::http::{ActuatorError, RetryPolicy, Sent, retrying, send};
use super::{Context, Note, Written};
use crate::scaling::targets::Target;

pub fn desired(value: u32) -> Value {
    json!({ "minReplicas": value })
}

/// `v1,<signature>` for one attempt. The secret is `whsec_<base64 key>` (or a raw string).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let key = secret
        .strip_prefix("whsec_")
        .and_then(|k| base64::engine::general_purpose::STANDARD.decode(k).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec());
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let sig = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    format!("v1,{sig}")
}

/// A delivery id stable for one (target, hour, cause, value): a retried or repeated delivery of
/// the same decision carries the same id, so receivers can drop duplicates.
pub fn delivery_id(t: &Target, note: &Note, payload: &Value) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        t.name.as_str(),
        note.hour.unix(),
        note.cause.as_str(),
        payload.to_string(),
    )
        .hash(&mut h);
    format!("msg_{}_{}_{:016x}", t.name, note.hour.unix(), h.finish())
}

/// Posts one signed JSON body, retrying as the contract says; returns the final status.
///
/// # Errors
/// A final rejection, or the last error when retries run out.
pub async fn deliver(
    ctx: &Context,
    url: &str,
    secret: Option<&str>,
    id: &str,
    body: &Value,
    policy: RetryPolicy,
) -> Result<u16, ActuatorError> {
    let raw = body.to_string();
    retrying(
        policy,
        |_| {
            let raw = raw.clone();
            async move {
                let ts = chrono::Utc::now().timestamp();
                let mut req = ctx
                    .http
                    .post(url)
                    .header("content-type", "application/json")
                    .header("webhook-id", id)
                    .header("webhook-timestamp", ts.to_string())
                    .timeout(std::time::Duration::from_secs(10));
                if let Some(s) = secret {
                    req = req.header("webhook-signature", sign(s, id, ts, &raw));
                }
                send(req.body(raw)).await.map(|a| a.status)
            }
        },
        |e| {
            let go = match e {
                ActuatorError::Transport(_) => true,
                ActuatorError::Api { http, .. } => matches!(http, 408 | 429) || *http >= 500,
                _ => false,
            };
            async move { go }
        },
    )
    .await
}

/// The `prescale.scale.v1` body for a recommendation.
pub fn payload(t: &Target, desired: &Value, note: &Note, id: &str) -> Value {
    let start = note.hour.to_utc();
    json!({
        "type": "prescale.scale.v1",
        "id": id,
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "target": {"kind": t.kind.as_str(), "name": t.name},
        "series": note.series,
        "window": {
            "start": start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "end": (start + chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        },
        "desired": desired,
        "forecast": {
            "expectedRps": note.expected_rps,
            "lower": note.lower_rps,
            "upper": note.upper_rps,
            "confidence": note.confidence,
            "modelVersion": note.model_version.map(|v| format!("{}-v{v}", note.series)),
        },
        "validUntil": (start + chrono::Duration::minutes(90)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "cause": note.cause,
        "dryRun": false,
    })
}

pub async fn write(
    t: &Target,
    ctx: &Context,
    desired: &Value,
    note: &Note,
) -> (Written, Result<(), ActuatorError>) {
    let url = t.url.clone().unwrap_or_default();
    let id = delivery_id(t, note, desired);
    let body = payload(t, desired, note, &id);
    let mut w = Written {
        requests: vec![Sent {
            method: "POST".into(),
            url: url.clone(),
            body: Some(body.clone()),
        }],
        ..Written::default()
    };
    let secret = t.secret.as_ref().map(|s| s.expose().to_owned());
    let r = deliver(
        ctx,
        &url,
        secret.as_deref(),
        &id,
        &body,
        RetryPolicy::webhook().scaled(ctx.speedup),
    )
    .await
    .map(|status| w.http_status = Some(status));
    (w, r)
}

#[cfg(test)]
mod tests {
    #[test]
    fn signatures_follow_standard_webhooks() {
        // The example of the Standard Webhooks specification.
        let s = super::sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(s, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }
}
