//! Cloud Run Admin API v2 (ACTUATORS.md 2): the service-level `scaling.minInstanceCount` (and,
//! with `raise_max`, `scaling.maxInstanceCount` when the need passes the current ceiling), by
//! `PATCH .../services/{service}?updateMask=...` with a body holding only the masked fields (no
//! `template`, so no revision and no revision-name clash), the operation polled to `done`, then
//! the service read back to verify.

use std::time::Duration;

use serde_json::{Value, json};

use super::google::{Patch, api_base, instance_counts, located, mask};
use super::{ActuatorError, Context, Written};
use crate::scaling::targets::Target;

const DEADLINE: Duration = Duration::from_secs(5 * 60);

fn base(t: &Target, ctx: &Context) -> String {
    api_base(t, &ctx.endpoints.run, "v2")
}

fn name(t: &Target) -> String {
    located(t, "services", t.service.as_deref())
}

/// `{"minInstanceCount": n, "maxInstanceCount": m}` (max omitted when unset).
///
/// # Errors
/// When the service cannot be read.
pub async fn read(t: &Target, ctx: &Context) -> Result<Value, ActuatorError> {
    Ok(instance_counts(
        &ctx.google.get(&base(t, ctx), &name(t)).await?,
        "/scaling",
    ))
}

pub fn desired(t: &Target, value: u32, current: &Value) -> Value {
    let mut d = json!({ "minInstanceCount": value });
    if t.raise_max
        && let Some(max) = current.get("maxInstanceCount").and_then(Value::as_u64)
        && u64::from(value) > max
    {
        d["maxInstanceCount"] = json!(value.min(t.max));
    }
    d
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
            mask("scaling", &fields)
        ),
        body: json!({ "scaling": fields }),
        base: base(t, ctx),
        deadline: DEADLINE,
        busy_retries: false,
        what: "service",
    };
    let done = || async { read(t, ctx).await.is_ok_and(|c| super::holds(&c, desired)) };
    ctx.google
        .patch_verified(patch, desired, done, || read(t, ctx))
        .await
}
