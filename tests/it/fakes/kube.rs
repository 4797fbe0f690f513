//! A fake Kubernetes API server (ACTUATORS.md 7.5): GET and PATCH of an HPA
//! (autoscaling/v2) and a KEDA ScaledObject (keda.sh/v1alpha1). Merge patch (RFC 7386) and JSON
//! patch for both, strategic merge for the HPA only (415 for the custom resource);
//! `resourceVersion` incremented on every write and checked when the patch carries one (409);
//! HPA validation (422 with causes); bearer token (401 `Status`); `fieldManager` recorded; the
//! `?&` query kube-rs sends tolerated; scripted 429 (Retry-After) and 503.

// Handlers take axum's extractors by value.
#![allow(clippy::needless_pass_by_value)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub(crate) const TOKEN: &str = "sa-token-1";

#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) content_type: String,
    pub(crate) body: Value,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) objects: HashMap<String, Value>,
    pub(crate) requests: Vec<Recorded>,
    pub(crate) field_managers: Vec<String>,
    /// Scripted statuses for the next PATCHes (429 carries Retry-After: 1).
    pub(crate) patch_faults: VecDeque<u16>,
    rv: u64,
}

#[derive(Debug, Clone)]
pub(crate) struct FakeKube {
    pub(crate) url: String,
    pub(crate) state: Arc<Mutex<State>>,
}

pub(crate) fn hpa_path(ns: &str, name: &str) -> String {
    format!("/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers/{name}")
}

pub(crate) fn so_path(ns: &str, name: &str) -> String {
    format!("/apis/keda.sh/v1alpha1/namespaces/{ns}/scaledobjects/{name}")
}

impl FakeKube {
    pub(crate) async fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let s2 = state.clone();
        let app = axum::Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| {
            let s = s2.clone();
            async move { handle(&s, m, u, h, b) }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, state }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub(crate) fn add_hpa(&self, ns: &str, name: &str, min: u64, max: u64) {
        let mut s = self.lock();
        s.rv += 1;
        let rv = s.rv.to_string();
        s.objects.insert(
            hpa_path(ns, name),
            json!({
                "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": name, "namespace": ns, "resourceVersion": rv, "generation": 1},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                         "minReplicas": min, "maxReplicas": max,
                         "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 65}}}]},
                "status": {"currentReplicas": min, "desiredReplicas": min}
            }),
        );
    }

    pub(crate) fn add_scaled_object(&self, ns: &str, name: &str, min: u64, max: u64) {
        let mut s = self.lock();
        s.rv += 1;
        let rv = s.rv.to_string();
        s.objects.insert(
            so_path(ns, name),
            json!({
                "apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                "metadata": {"name": name, "namespace": ns, "resourceVersion": rv},
                "spec": {"scaleTargetRef": {"name": name}, "minReplicaCount": min, "maxReplicaCount": max,
                         "triggers": [{"type": "prometheus", "metadata": {"threshold": "100"}}]}
            }),
        );
    }
}

fn status(code: u16, reason: &str, message: &str, causes: Vec<Value>) -> Response {
    let mut body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code});
    if !causes.is_empty() {
        body["details"] = json!({"causes": causes});
    }
    (
        StatusCode::from_u16(code).unwrap(),
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// RFC 7386.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn handle(
    state: &Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let ctype = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut s = state.lock().unwrap();
    s.requests.push(Recorded {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        content_type: ctype.clone(),
        body: parsed.clone(),
    });
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {TOKEN}"))
    {
        return status(401, "Unauthorized", "Unauthorized", vec![]);
    }
    let Some(obj) = s.objects.get(&path).cloned() else {
        return status(
            404,
            "NotFound",
            &format!("the server could not find the requested resource ({path})"),
            vec![],
        );
    };
    let is_so = path.contains("/scaledobjects/");
    match method {
        Method::GET => (
            StatusCode::OK,
            [("content-type", "application/json")],
            obj.to_string(),
        )
            .into_response(),
        Method::PATCH => {
            if let Some(code) = s.patch_faults.pop_front() {
                let mut r = status(
                    code,
                    if code == 429 {
                        "TooManyRequests"
                    } else {
                        "ServiceUnavailable"
                    },
                    "injected",
                    vec![],
                );
                if code == 429 {
                    r.headers_mut().insert("retry-after", "1".parse().unwrap());
                }
                return r;
            }
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                if let Some(fm) = pair.strip_prefix("fieldManager=") {
                    s.field_managers.push(fm.to_owned());
                }
            }
            let mut new = obj.clone();
            match ctype.split(';').next().unwrap_or("").trim() {
                "application/merge-patch+json" => {
                    if !parsed.is_object() {
                        return status(
                            400,
                            "BadRequest",
                            "the body of the request was not a JSON object",
                            vec![],
                        );
                    }
                    merge(&mut new, &parsed);
                }
                "application/strategic-merge-patch+json" if !is_so => merge(&mut new, &parsed),
                "application/json-patch+json" => {
                    for op in parsed.as_array().cloned().unwrap_or_default() {
                        let p = op["path"].as_str().unwrap_or("");
                        if op["op"] != "replace" && op["op"] != "add" {
                            return status(
                                422,
                                "Invalid",
                                "only replace/add are supported by this fake",
                                vec![],
                            );
                        }
                        if let Some(slot) = new.pointer_mut(p) {
                            *slot = op["value"].clone();
                        } else {
                            return status(
                                422,
                                "Invalid",
                                &format!("path {p} does not exist"),
                                vec![],
                            );
                        }
                    }
                }
                _ => {
                    return status(
                        415,
                        "UnsupportedMediaType",
                        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                        vec![],
                    );
                }
            }
            if let Some(rv) = parsed.pointer("/metadata/resourceVersion")
                && rv != &obj["metadata"]["resourceVersion"]
            {
                return status(
                    409,
                    "Conflict",
                    "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again",
                    vec![],
                );
            }
            if !is_so {
                let min = new["spec"]["minReplicas"].as_i64().unwrap_or(1);
                let max = new["spec"]["maxReplicas"].as_i64().unwrap_or(0);
                let name = obj["metadata"]["name"].as_str().unwrap_or("");
                if min < 1 {
                    return status(
                        422,
                        "Invalid",
                        &format!(
                            "HorizontalPodAutoscaler.autoscaling \"{name}\" is invalid: spec.minReplicas: Invalid value: {min}: must be greater than or equal to 1"
                        ),
                        vec![json!({"reason": "FieldValueInvalid", "field": "spec.minReplicas"})],
                    );
                }
                if max < min {
                    return status(
                        422,
                        "Invalid",
                        &format!(
                            "HorizontalPodAutoscaler.autoscaling \"{name}\" is invalid: spec.maxReplicas: Invalid value: {max}: must be greater than or equal to `minReplicas`"
                        ),
                        vec![json!({"reason": "FieldValueInvalid", "field": "spec.maxReplicas"})],
                    );
                }
            }
            s.rv += 1;
            new["metadata"]["resourceVersion"] = json!(s.rv.to_string());
            s.objects.insert(path, new.clone());
            (
                StatusCode::OK,
                [("content-type", "application/json")],
                new.to_string(),
            )
                .into_response()
        }
        _ => status(405, "MethodNotAllowed", "method not allowed", vec![]),
    }
}
