//! Cloud Functions API v2 (ACTUATORS.md 3): `serviceConfig.minInstanceCount` (and
//! `maxInstanceCount` with `raise_max`) by `PATCH .../functions/{function}?updateMask=...`, the
//! operation polled (minutes: a patch rebuilds the function). A `409 ABORTED` "unable to queue
//! the operation" is not resent blindly: the function is polled until it is `ACTIVE` again,
//! re-read, and the patch sent again only if it still differs.

use std::time::Duration;

use serde_json::{Value, json};

use super::google::{Patch, api_base, instance_counts, located, mask};
use super::{ActuatorError, Context, Written};
use crate::scaling::targets::Target;

const DEADLINE: Duration = Duration::from_secs(15 * 60);

fn base(t: &Target, ctx: &Context) -> String {
    api_base(t, &ctx.endpoints.functions, "v2")
}

fn name(t: &Target) -> String {
    located(t, "functions", t.function.as_deref())
}

async fn get(t: &Target, ctx: &Context) -> Result<Value, ActuatorError> {
    ctx.google.get(&base(t, ctx), &name(t)).await
}

/// `{"minInstanceCount": n, "maxInstanceCount": m}`.
///
/// # Errors
/// When the function cannot be read.
pub async fn read(t: &Target, ctx: &Context) -> Result<Value, ActuatorError> {
    Ok(instance_counts(&get(t, ctx).await?, "/serviceConfig"))
}

pub fn desired(t: &Target, value: u32, current: &Value) -> Value {
    super::cloud_run::desired(t, value, current)
}

/// Waits (bounded) while the function is `DEPLOYING`, then says whether it holds `desired`.
async fn settled_holds(t: &Target, ctx: &Context, desired: &Value) -> bool {
    let wait = Duration::from_secs(2) / ctx.speedup;
    for _ in 0..150 {
        match get(t, ctx).await {
            Ok(f) if f.get("state").and_then(Value::as_str) == Some("DEPLOYING") => {
                tokio::time::sleep(wait).await;
            }
            Ok(f) => return super::holds(&instance_counts(&f, "/serviceConfig"), desired),
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
    let fields = desired.as_object().cloned().unwrap_or_default();
    let patch = Patch {
        url: format!(
            "{}/{}?updateMask={}",
            base(t, ctx),
            name(t),
            mask("serviceConfig", &fields)
        ),
        body: json!({ "serviceConfig": fields }),
        base: base(t, ctx),
        deadline: DEADLINE,
        busy_retries: false,
        what: "function",
    };
    let done = || settled_holds(t, ctx, desired);
    ctx.google
        .patch_verified(patch, desired, done, || read(t, ctx))
        .await
}
