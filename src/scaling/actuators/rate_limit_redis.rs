//! Token-bucket overrides in Redis (ACTUATORS.md 5.1): prescale writes
//! `rl:v1:lim:{<route>}:ovr` (rate, burst, version, expires_at_ms, forecast_id, reason,
//! written_by) with a TTL, so the gateway falls back to the base limit by itself if prescale
//! stops. One Lua script does it atomically on keys of one hash tag: only a higher `version`
//! writes (a late retry of an older decision is a no-op), then the audit stream and the
//! `rl:v1:changed` notification. Restoring "no override" deletes the key.

use redis::AsyncCommands;
use serde_json::{Value, json};

use super::http::ActuatorError;
use super::{Context, Note, Sent, Written};
use crate::scaling::targets::Target;

const WRITE: &str = r"
local cur = tonumber(redis.call('HGET', KEYS[1], 'version') or '0')
if tonumber(ARGV[3]) <= cur then return 0 end
local old = redis.call('HGET', KEYS[1], 'rate') or ''
redis.call('HSET', KEYS[1], 'rate', ARGV[1], 'burst', ARGV[2], 'version', ARGV[3],
  'expires_at_ms', ARGV[4], 'forecast_id', ARGV[5], 'reason', ARGV[6], 'written_by', 'prescale')
redis.call('PEXPIREAT', KEYS[1], ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '10000', '*', 'field', 'rate', 'old', old,
  'new', ARGV[1], 'by', 'prescale', 'forecast_id', ARGV[5])
redis.call('PUBLISH', 'rl:v1:changed', ARGV[7] .. ' ' .. ARGV[3])
return 1
";

fn route(t: &Target) -> &str {
    t.route.as_deref().unwrap_or_default()
}

pub fn override_key(route: &str) -> String {
    format!("rl:v1:lim:{{{route}}}:ovr")
}

fn audit_key(route: &str) -> String {
    format!("rl:v1:audit:{{{route}}}")
}

/// `{"rate": r, "burst": b}` of the live override, or `null` when there is none.
///
/// # Errors
/// When Redis cannot be reached.
pub async fn read(t: &Target, ctx: &Context) -> Result<Value, ActuatorError> {
    let mut c = ctx
        .redis(t.redis_url.as_deref().unwrap_or_default())
        .await?;
    let h: std::collections::HashMap<String, String> = c
        .hgetall(override_key(route(t)))
        .await
        .map_err(|e| ActuatorError::Transport(format!("redis: {e}")))?;
    if h.is_empty() {
        return Ok(Value::Null);
    }
    let num = |k: &str| h.get(k).and_then(|v| v.parse::<f64>().ok());
    Ok(json!({ "rate": num("rate"), "burst": num("burst") }))
}

/// `value` is the rate in requests per second (forecast × headroom).
pub fn desired(t: &Target, value: u32) -> Value {
    let burst = (f64::from(value) * t.burst_seconds.unwrap_or(1.0))
        .ceil()
        .max(1.0);
    json!({ "rate": f64::from(value), "burst": burst })
}

pub async fn write(
    t: &Target,
    ctx: &Context,
    desired: &Value,
    note: &Note,
) -> (Written, Result<(), ActuatorError>) {
    let key = override_key(route(t));
    let mut w = Written::default();
    let r = async {
        let mut c = ctx.redis(t.redis_url.as_deref().unwrap_or_default()).await?;
        let now_ms = chrono::Utc::now().timestamp_millis();
        if desired.is_null() {
            // Back to the base limit.
            w.requests.push(Sent { method: "DEL".into(), url: key.clone(), body: None });
            let _: () = redis::pipe()
                .del(&key)
                .publish("rl:v1:changed", format!("{} {now_ms}", route(t)))
                .query_async(&mut c)
                .await
                .map_err(|e| ActuatorError::Transport(format!("redis: {e}")))?;
            return Ok(());
        }
        let expires = now_ms + i64::from(t.ttl_minutes) * 60_000;
        let forecast_id = format!("{}@{}", note.series, note.hour);
        let rate = desired.get("rate").and_then(Value::as_f64).unwrap_or(0.0);
        let burst = desired.get("burst").and_then(Value::as_f64).unwrap_or(1.0);
        w.requests.push(Sent {
            method: "EVAL".into(),
            url: key.clone(),
            body: Some(json!({"rate": rate, "burst": burst, "version": now_ms, "expires_at_ms": expires, "forecast_id": forecast_id})),
        });
        let written: i64 = redis::Script::new(WRITE)
            .key(&key)
            .key(audit_key(route(t)))
            .arg(rate.to_string())
            .arg(format!("{burst}"))
            .arg(now_ms)
            .arg(expires)
            .arg(&forecast_id)
            .arg(&note.cause)
            .arg(route(t))
            .invoke_async(&mut c)
            .await
            .map_err(|e| ActuatorError::Transport(format!("redis: {e}")))?;
        w.already = written == 0;
        Ok(())
    }
    .await;
    (w, r)
}

/// Writes an override with an explicit `version` (tests of the version rule and of TTLs).
///
/// # Errors
/// When Redis cannot be reached.
pub async fn write_version(
    ctx: &Context,
    redis_url: &str,
    route: &str,
    rate: f64,
    burst: f64,
    version: i64,
    expires_at_ms: i64,
) -> Result<bool, ActuatorError> {
    let mut c = ctx.redis(redis_url).await?;
    let n: i64 = redis::Script::new(WRITE)
        .key(override_key(route))
        .key(audit_key(route))
        .arg(rate.to_string())
        .arg(burst.to_string())
        .arg(version)
        .arg(expires_at_ms)
        .arg("test")
        .arg("test")
        .arg(route)
        .invoke_async(&mut c)
        .await
        .map_err(|e| ActuatorError::Transport(format!("redis: {e}")))?;
    Ok(n == 1)
}
