//! HorizontalPodAutoscaler `spec.minReplicas` (autoscaling/v2, ACTUATORS.md 7.1), by merge
//! patch. `minReplicas` stays ≥ 1 and ≤ the HPA's `maxReplicas` (clamped, with a warning,
//! rather than sending a patch the API server rejects with 422).

use serde_json::{Value, json};

use super::http::ActuatorError;
use super::{Context, Written};
use crate::scaling::targets::Target;

fn path(t: &Target) -> String {
    format!(
        "/apis/autoscaling/v2/namespaces/{}/horizontalpodautoscalers/{}",
        t.namespace.as_deref().unwrap_or_default(),
        t.resource.as_deref().unwrap_or_default()
    )
}

/// `{"minReplicas": n, "maxReplicas": m}`.
///
/// # Errors
/// When the HPA cannot be read.
pub async fn read(t: &Target, ctx: &Context) -> Result<Value, ActuatorError> {
    let hpa = ctx.kube.get(&path(t)).await?;
    super::kube::warn_if_owned(&hpa, "HorizontalPodAutoscaler");
    Ok(json!({
        "minReplicas": hpa.pointer("/spec/minReplicas").and_then(Value::as_u64).unwrap_or(1),
        "maxReplicas": hpa.pointer("/spec/maxReplicas").and_then(Value::as_u64),
    }))
}

pub fn desired(value: u32, current: &Value) -> Value {
    let mut v = u64::from(value.max(1));
    if let Some(max) = current.get("maxReplicas").and_then(Value::as_u64)
        && v > max
    {
        tracing::warn!(
            wanted = v,
            max,
            "minReplicas clamped to the HPA's maxReplicas"
        );
        v = max;
    }
    json!({ "minReplicas": v })
}

pub async fn write(
    t: &Target,
    ctx: &Context,
    desired: &Value,
) -> (Written, Result<(), ActuatorError>) {
    let done = || async { read(t, ctx).await.is_ok_and(|c| super::holds(&c, desired)) };
    ctx.kube.write_spec(&path(t), desired, done).await
}
