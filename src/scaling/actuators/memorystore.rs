//! Memorystore for Redis API v1 (ACTUATORS.md 4.2): `memorySizeGb` by
//! `PATCH .../instances/{instance}?updateMask=memorySizeGb`, one field per request, retried after
//! a busy `400 FAILED_PRECONDITION` (another operation running) once the instance is `READY`,
//! the operation polled (minutes). A resize resets connections, so targets of this kind stay
//! recommend-only unless `apply = true`, and the cycle only grows them ahead of a peak.

use std::time::Duration;

use serde_json::{Value, json};

use super::google::{Patch, api_base, int, located};
use super::{ActuatorError, Context, Written};
use crate::scaling::targets::Target;

const DEADLINE: Duration = Duration::from_secs(30 * 60);

fn base(t: &Target, ctx: &Context) -> String {
    api_base(t, &ctx.endpoints.redis, "v1")
}

fn name(t: &Target) -> String {
    located(t, "instances", t.instance.as_deref())
}

async fn get(t: &Target, ctx: &Context) -> Result<Value, ActuatorError> {
    ctx.google.get(&base(t, ctx), &name(t)).await
}

/// `{"memorySizeGb": n}`.
///
/// # Errors
/// When the instance cannot be read.
pub async fn read(t: &Target, ctx: &Context) -> Result<Value, ActuatorError> {
    Ok(json!({ "memorySizeGb": int(&get(t, ctx).await?, "/memorySizeGb") }))
}

pub fn desired(value: u32) -> Value {
    json!({ "memorySizeGb": value })
}

/// Waits (bounded) for `READY`, then says whether the size is already the desired one.
async fn ready_holds(t: &Target, ctx: &Context, desired: &Value) -> bool {
    let wait = Duration::from_secs(5) / ctx.speedup;
    for _ in 0..360 {
        match get(t, ctx).await {
            Ok(i) if i.get("state").and_then(Value::as_str) == Some("READY") => {
                return super::holds(
                    &json!({ "memorySizeGb": int(&i, "/memorySizeGb") }),
                    desired,
                );
            }
            Ok(_) => tokio::time::sleep(wait).await,
            Err(_) => return false,
        }
    }
    false
}

pub async fn write(
    t: &Target,
    ctx: &Context,
    desired: &Value,
) -> (Written, Result<(), ActuatorError>) {
    let size = desired.get("memorySizeGb").cloned().unwrap_or(Value::Null);
    let patch = Patch {
        url: format!("{}/{}?updateMask=memorySizeGb", base(t, ctx), name(t)),
        body: json!({ "memorySizeGb": size }),
        base: base(t, ctx),
        deadline: DEADLINE,
        busy_retries: true,
        what: "instance",
    };
    let done = || ready_holds(t, ctx, desired);
    ctx.google
        .patch_verified(patch, desired, done, || read(t, ctx))
        .await
}
