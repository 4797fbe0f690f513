//! Cloud Armor (Compute Engine API v1, ACTUATORS.md 5.2): a rate-limit rule's
//! `rateLimitOptions.rateLimitThreshold.count`. The rule is read with `getRule?priority=N`, its
//! threshold changed, and the whole rule sent back with `POST patchRule?priority=N`; the Compute
//! operation (`status` PENDING → RUNNING → DONE, errors in `error.errors[]`) is polled.

use std::time::Duration;

use serde_json::{Value, json};

use super::google::int;
use super::{ActuatorError, Context, Sent, Written};
use crate::scaling::targets::Target;

const DEADLINE: Duration = Duration::from_secs(5 * 60);

/// `.../compute/v1/projects/{p}/{global|regions/r}`.
fn scope(t: &Target, ctx: &Context) -> String {
    let host = t.endpoint.as_deref().unwrap_or(&ctx.endpoints.compute);
    let project = t.project.as_deref().unwrap_or_default();
    match &t.region {
        Some(r) => format!(
            "{}/compute/v1/projects/{project}/regions/{r}",
            host.trim_end_matches('/')
        ),
        None => format!(
            "{}/compute/v1/projects/{project}/global",
            host.trim_end_matches('/')
        ),
    }
}

fn policy_url(t: &Target, ctx: &Context) -> String {
    format!(
        "{}/securityPolicies/{}",
        scope(t, ctx),
        t.policy.as_deref().unwrap_or_default()
    )
}

async fn get_rule(t: &Target, ctx: &Context) -> Result<Value, ActuatorError> {
    let url = format!(
        "{}/getRule?priority={}",
        policy_url(t, ctx),
        t.priority.unwrap_or_default()
    );
    Ok(ctx
        .google
        .call(reqwest::Method::GET, &url, None)
        .await?
        .body)
}

/// `{"count": n, "intervalSec": s}`.
///
/// # Errors
/// When the rule cannot be read.
pub async fn read(t: &Target, ctx: &Context) -> Result<Value, ActuatorError> {
    let rule = get_rule(t, ctx).await?;
    Ok(json!({
        "count": int(&rule, "/rateLimitOptions/rateLimitThreshold/count"),
        "intervalSec": int(&rule, "/rateLimitOptions/rateLimitThreshold/intervalSec"),
    }))
}

/// `value` is requests per second (with headroom); the rule counts per `interval_sec`, within
/// the API's bounds (1 ... 1,000,000).
pub fn desired(t: &Target, value: u32) -> Value {
    let count = (u64::from(value) * u64::from(t.interval_sec)).clamp(1, 1_000_000);
    json!({ "count": count, "intervalSec": t.interval_sec })
}

async fn wait_compute(t: &Target, ctx: &Context, op: &Value) -> Result<(), ActuatorError> {
    let started = tokio::time::Instant::now();
    let mut op = op.clone();
    let mut wait = Duration::from_secs(1) / ctx.speedup;
    loop {
        if op.get("status").and_then(Value::as_str) == Some("DONE") {
            if let Some(e) = op.pointer("/error/errors/0") {
                return Err(ActuatorError::Operation {
                    code: op
                        .get("httpErrorStatusCode")
                        .and_then(Value::as_i64)
                        .unwrap_or(0),
                    message: format!(
                        "{}: {}",
                        e.get("code").and_then(Value::as_str).unwrap_or(""),
                        e.get("message").and_then(Value::as_str).unwrap_or("")
                    ),
                });
            }
            return Ok(());
        }
        let name = op
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| ActuatorError::Invalid("operation without a name".into()))?
            .to_owned();
        if started.elapsed() + wait > DEADLINE / ctx.speedup {
            return Err(ActuatorError::Invalid(format!(
                "operation {name} not DONE in time"
            )));
        }
        tokio::time::sleep(wait).await;
        wait = wait.mul_f64(1.5).min(Duration::from_secs(10) / ctx.speedup);
        let url = format!("{}/operations/{name}", scope(t, ctx));
        op = ctx
            .google
            .call(reqwest::Method::GET, &url, None)
            .await?
            .body;
    }
}

pub async fn write(
    t: &Target,
    ctx: &Context,
    desired: &Value,
) -> (Written, Result<(), ActuatorError>) {
    let url = format!(
        "{}/patchRule?priority={}",
        policy_url(t, ctx),
        t.priority.unwrap_or_default()
    );
    let mut w = Written::default();
    let r = async {
        let mut rule = get_rule(t, ctx).await?;
        let opts = rule
            .get_mut("rateLimitOptions")
            .filter(|o| o.is_object())
            .ok_or_else(|| ActuatorError::Invalid("the rule has no rateLimitOptions".into()))?;
        opts["rateLimitThreshold"] = desired.clone();
        // Output-only fields are not sent back.
        if let Some(o) = rule.as_object_mut() {
            o.remove("kind");
            o.remove("ruleTupleCount");
        }
        w.requests.push(Sent {
            method: "POST".into(),
            url: url.clone(),
            body: Some(rule.clone()),
        });
        let done = || async { read(t, ctx).await.is_ok_and(|c| super::holds(&c, desired)) };
        match ctx
            .google
            .mutate(reqwest::Method::POST, &url, &rule, DEADLINE, false, done)
            .await?
        {
            None => {
                w.already = true;
                Ok(())
            }
            Some(op) => {
                w.http_status = Some(op.status);
                wait_compute(t, ctx, &op.body).await?;
                let now = read(t, ctx).await?;
                if super::holds(&now, desired) {
                    Ok(())
                } else {
                    Err(ActuatorError::Invalid(format!(
                        "after the operation the rule has {now}, not {desired}"
                    )))
                }
            }
        }
    }
    .await;
    (w, r)
}
