//! KEDA `ScaledObject` `spec.minReplicaCount` (keda.sh/v1alpha1, ACTUATORS.md 7.2), by merge
//! patch (custom resources reject strategic merge patches with 415). KEDA reconciles its own
//! HPA from this object, so this is the one to patch when KEDA is in charge.

use serde_json::{Value, json};

use super::http::ActuatorError;
use super::{Context, Written};
use crate::scaling::targets::Target;

fn path(t: &Target) -> String {
    format!(
        "/apis/keda.sh/v1alpha1/namespaces/{}/scaledobjects/{}",
        t.namespace.as_deref().unwrap_or_default(),
        t.resource.as_deref().unwrap_or_default()
    )
}

/// `{"minReplicaCount": n, "maxReplicaCount": m}` (KEDA's defaults 0 and 100 when unset).
///
/// # Errors
/// When the ScaledObject cannot be read.
pub async fn read(t: &Target, ctx: &Context) -> Result<Value, ActuatorError> {
    let so = ctx.kube.get(&path(t)).await?;
    Ok(json!({
        "minReplicaCount": so.pointer("/spec/minReplicaCount").and_then(Value::as_u64).unwrap_or(0),
        "maxReplicaCount": so.pointer("/spec/maxReplicaCount").and_then(Value::as_u64).unwrap_or(100),
    }))
}

/// Never above `maxReplicaCount` (KEDA oscillates when min > max).
pub fn desired(value: u32, current: &Value) -> Value {
    let mut v = u64::from(value);
    if let Some(max) = current.get("maxReplicaCount").and_then(Value::as_u64)
        && v > max
    {
        tracing::warn!(
            wanted = v,
            max,
            "minReplicaCount clamped to maxReplicaCount"
        );
        v = max;
    }
    json!({ "minReplicaCount": v })
}

pub async fn write(
    t: &Target,
    ctx: &Context,
    desired: &Value,
) -> (Written, Result<(), ActuatorError>) {
    let done = || async { read(t, ctx).await.is_ok_and(|c| super::holds(&c, desired)) };
    ctx.kube.write_spec(&path(t), desired, done).await
}
