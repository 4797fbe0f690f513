//! A stateful fake of the Google APIs prescale calls, following ACTUATORS.md section 11: the
//! metadata server, Cloud Run v2 services and operations, Cloud Functions v2, Memorystore for
//! Redis v1, Compute (Cloud Armor rules, Compute operations) and Pub/Sub publish. It checks
//! what the real APIs check (bearer tokens it issued, exact paths, update masks with AIP-134
//! semantics, field validation, one operation at a time, the revision-name and etag 409s),
//! answers with the real shapes (Operations, google.rpc.Status errors, proto3 JSON), records
//! every request, and injects scripted faults.

// Handlers take axum's extractors by value, and answer errors as whole responses.
#![allow(clippy::needless_pass_by_value, clippy::result_large_err)]

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// A request as the fake received it.
#[derive(Debug, Clone)]
pub(crate) struct Recorded {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: HashMap<String, String>,
    pub(crate) body: Value,
}

/// A scripted answer that replaces the next real one on a route.
#[derive(Debug, Clone)]
pub(crate) enum Fault {
    /// HTTP status, canonical status name, Retry-After seconds, RetryInfo delay.
    Status(u16, &'static str, Option<u64>, Option<&'static str>),
    /// Answer normally, after this many milliseconds.
    Slow(u64),
}

#[derive(Debug, Clone)]
enum Finish {
    Run(String),
    Function(String, Map<String, Value>),
    Redis(String, i64),
    Rule(String, u32, Value),
}

#[derive(Debug, Clone)]
struct Op {
    polls_left: u32,
    body: Value,
    response: Value,
    error: Option<Value>,
    finish: Option<Finish>,
    compute: bool,
    persisted: bool,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) requests: Vec<Recorded>,
    faults: HashMap<String, VecDeque<Fault>>,
    pub(crate) services: HashMap<String, Value>,
    pub(crate) functions: HashMap<String, Value>,
    pub(crate) instances: HashMap<String, Value>,
    /// (policy path, priority) → rule.
    pub(crate) rules: HashMap<(String, u32), Value>,
    pub(crate) published: Vec<Value>,
    ops: HashMap<String, Op>,
    tokens_issued: u32,
    /// Seconds a metadata token lives.
    pub(crate) token_lifetime: u64,
    /// Polls before an operation is done.
    pub(crate) op_polls: u32,
    /// Largest max instances the "regional quota" allows.
    pub(crate) quota_max: i64,
    /// Operations that end in this error (numeric code, message) instead of succeeding.
    pub(crate) fail_ops: Option<(i64, String)>,
    next_id: u64,
}

/// The fake server: its base URL and state.
#[derive(Debug, Clone)]
pub(crate) struct FakeGoogle {
    pub(crate) url: String,
    pub(crate) state: Arc<Mutex<State>>,
}

pub(crate) const PROJECT: &str = "ridehail-prod";
pub(crate) const REGION: &str = "southamerica-west1";

impl FakeGoogle {
    pub(crate) async fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            token_lifetime: 3599,
            op_polls: 2,
            quota_max: 1000,
            ..State::default()
        }));
        let s2 = state.clone();
        let app = axum::Router::new().fallback(move |m: Method, u: Uri, h: HeaderMap, b: Bytes| {
            let s = s2.clone();
            async move { handle(&s, m, u, h, b).await }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, state }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Scripts faults for a route key: `"PATCH run"`, `"GET run"`, `"PATCH functions"`,
    /// `"PATCH redis"`, `"POST patchRule"`, `"GET getRule"`, `"POST publish"`, `"GET op"`,
    /// `"GET metadata"`.
    pub(crate) fn fault(&self, route: &str, faults: &[Fault]) {
        self.lock()
            .faults
            .entry(route.to_owned())
            .or_default()
            .extend(faults.iter().cloned());
    }

    pub(crate) fn service_name(service: &str) -> String {
        format!("projects/{PROJECT}/locations/{REGION}/services/{service}")
    }

    pub(crate) fn add_service(&self, service: &str, min: i64, max: Option<i64>) {
        let name = Self::service_name(service);
        let mut scaling = json!({});
        if min > 0 {
            scaling["minInstanceCount"] = json!(min);
        }
        if let Some(m) = max {
            scaling["maxInstanceCount"] = json!(m);
        }
        let svc = json!({
            "name": name,
            "uid": "3f1d2c4b-5a69-4e7f-8a1b-2c3d4e5f6a7b",
            "generation": "42",
            "observedGeneration": "42",
            "scaling": scaling,
            "template": {
                "revision": format!("{service}-00042-vok"),
                "scaling": {"maxInstanceCount": 100},
                "serviceAccount": format!("{service}-run@{PROJECT}.iam.gserviceaccount.com"),
                "containers": [{"image": "southamerica-west1-docker.pkg.dev/x/app@sha256:7d9e"}],
                "maxInstanceRequestConcurrency": 80
            },
            "terminalCondition": {"type": "Ready", "state": "CONDITION_SUCCEEDED"},
            "reconciling": false,
            "latestReadyRevision": format!("{name}/revisions/{service}-00042-vok"),
            "latestCreatedRevision": format!("{name}/revisions/{service}-00042-vok"),
            "etag": "\"etag-42\""
        });
        self.lock().services.insert(name, svc);
    }

    pub(crate) fn add_function(&self, function: &str, min: i64, max: i64) {
        let name = format!("projects/{PROJECT}/locations/{REGION}/functions/{function}");
        let mut sc = json!({"maxInstanceCount": max, "availableMemory": "256M"});
        if min > 0 {
            sc["minInstanceCount"] = json!(min);
        }
        self.lock().functions.insert(
            name.clone(),
            json!({"name": name, "state": "ACTIVE", "environment": "GEN_2", "serviceConfig": sc}),
        );
    }

    pub(crate) fn add_instance(&self, instance: &str, gb: i64) {
        let name = format!("projects/{PROJECT}/locations/{REGION}/instances/{instance}");
        self.lock().instances.insert(
            name.clone(),
            json!({"name": name, "tier": "STANDARD_HA", "memorySizeGb": gb, "state": "READY",
                   "host": "10.0.0.3", "port": 6379, "replicaCount": 1, "readReplicasMode": "READ_REPLICAS_DISABLED"}),
        );
    }

    pub(crate) fn add_rule(&self, policy: &str, priority: u32, count: i64) {
        let path = format!("projects/{PROJECT}/global/securityPolicies/{policy}");
        self.lock().rules.insert(
            (path, priority),
            json!({
                "kind": "compute#securityPolicyRule",
                "priority": priority,
                "action": "throttle",
                "preview": false,
                "match": {"versionedExpr": "SRC_IPS_V1", "config": {"srcIpRanges": ["*"]}},
                "rateLimitOptions": {
                    "rateLimitThreshold": {"count": count, "intervalSec": 60},
                    "conformAction": "allow",
                    "exceedAction": "deny(429)",
                    "enforceOnKey": "IP"
                }
            }),
        );
    }

    /// Requests whose method is `method` and path contains `part`.
    pub(crate) fn requests(&self, method: &str, part: &str) -> Vec<Recorded> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method == method && r.path.contains(part))
            .cloned()
            .collect()
    }

    /// Requests that would change something (anything but GET, the metadata server aside).
    pub(crate) fn mutations(&self) -> usize {
        self.lock()
            .requests
            .iter()
            .filter(|r| r.method != "GET" && !r.path.ends_with(":wait"))
            .count()
    }
}

fn google_error(http: u16, status: &str, message: &str, details: Vec<Value>) -> Response {
    let body =
        json!({"error": {"code": http, "message": message, "status": status, "details": details}});
    (
        StatusCode::from_u16(http).unwrap(),
        [("content-type", "application/json; charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

fn bad_request(field: &str, message: &str) -> Response {
    google_error(
        400,
        "INVALID_ARGUMENT",
        message,
        vec![
            json!({"@type": "type.googleapis.com/google.rpc.BadRequest", "fieldViolations": [{"field": field, "description": message}]}),
        ],
    )
}

fn ok(v: &Value) -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json; charset=UTF-8")],
        v.to_string(),
    )
        .into_response()
}

fn query_map(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// snake_case → lowerCamelCase (proto3 JSON accepts both on input).
fn camel(path: &str) -> String {
    path.split('.')
        .map(|seg| {
            let mut out = String::new();
            let mut up = false;
            for c in seg.chars() {
                if c == '_' {
                    up = true;
                } else if up {
                    out.extend(c.to_uppercase());
                    up = false;
                } else {
                    out.push(c);
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The body with snake_case keys turned camelCase, recursively.
fn camel_body(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (camel(k), camel_body(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(camel_body).collect()),
        other => other.clone(),
    }
}

/// The update mask as camelCase paths, or an error naming it.
fn parse_mask(
    q: &HashMap<String, String>,
    allowed: &[&str],
) -> Result<Option<Vec<String>>, Response> {
    let Some(raw) = q.get("updateMask").or_else(|| q.get("update_mask")) else {
        return Ok(None);
    };
    let paths: Vec<String> = raw
        .split(',')
        .map(|p| camel(p.trim()))
        .filter(|p| !p.is_empty())
        .collect();
    for p in &paths {
        if p != "*" && !allowed.contains(&p.as_str()) {
            return Err(bad_request(
                "update_mask",
                &format!("Invalid field mask path: {p}"),
            ));
        }
    }
    Ok(Some(paths))
}

fn get_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// AIP-134: copy each masked path from body to resource; a path absent from the body clears it.
fn apply_mask(resource: &mut Value, body: &Value, paths: &[String]) {
    for p in paths {
        let segs: Vec<&str> = p.split('.').collect();
        let mut cur = &mut *resource;
        for s in &segs[..segs.len() - 1] {
            if cur.get(*s).is_none() {
                cur[*s] = json!({});
            }
            cur = cur.get_mut(*s).unwrap();
        }
        let last = segs[segs.len() - 1];
        match get_path(body, p) {
            Some(v) if !(v.is_number() && v.as_i64() == Some(0)) => cur[last] = v.clone(),
            _ => {
                // Defaults are omitted on output.
                if let Some(o) = cur.as_object_mut() {
                    o.remove(last);
                }
            }
        }
    }
}

fn int_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

impl State {
    fn new_op(
        &mut self,
        prefix: &str,
        compute: bool,
        metadata: Value,
        response: Value,
        finish: Option<Finish>,
        persisted: bool,
    ) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let (name, body) = if compute {
            let name = format!("operation-1746093600{id:03}-62f1a2b3c4d5e-1a2b3c4d-5e6f7a8b");
            let body = json!({
                "kind": "compute#operation", "id": format!("44556677889900{id}"), "name": name,
                "operationType": "patchRule", "status": "RUNNING", "progress": 0,
                "targetLink": format!("https://www.googleapis.com/compute/v1/{prefix}"),
                "selfLink": format!("https://www.googleapis.com/compute/v1/projects/{PROJECT}/global/operations/{name}"),
            });
            (name, body)
        } else {
            let name = format!(
                "projects/{PROJECT}/locations/{REGION}/operations/{prefix}-{id:08x}-8a2b-4c7d-9e61"
            );
            (
                name.clone(),
                json!({"name": name, "metadata": metadata, "done": false}),
            )
        };
        let error = self
            .fail_ops
            .clone()
            .map(|(code, message)| json!({"code": code, "message": message}));
        self.ops.insert(
            name,
            Op {
                polls_left: self.op_polls,
                body: body.clone(),
                response,
                error,
                finish,
                compute,
                persisted,
            },
        );
        body
    }

    fn finish(&mut self, f: Finish) {
        match f {
            Finish::Run(name) => {
                if let Some(s) = self.services.get_mut(&name) {
                    s["observedGeneration"] = s["generation"].clone();
                    s["reconciling"] = json!(false);
                }
            }
            Finish::Function(name, sc) => {
                if let Some(f) = self.functions.get_mut(&name) {
                    for (k, v) in sc {
                        if v.as_i64() == Some(0) || v.is_null() {
                            f["serviceConfig"].as_object_mut().unwrap().remove(&k);
                        } else {
                            f["serviceConfig"][&k] = v;
                        }
                    }
                    f["state"] = json!("ACTIVE");
                }
            }
            Finish::Redis(name, gb) => {
                if let Some(i) = self.instances.get_mut(&name) {
                    i["memorySizeGb"] = json!(gb);
                    i["state"] = json!("READY");
                }
            }
            Finish::Rule(path, prio, rule) => {
                self.rules.insert((path, prio), rule);
            }
        }
    }

    /// operations.get: one poll closer to done.
    fn poll(&mut self, name: &str) -> Option<Value> {
        let op = self.ops.get_mut(name)?;
        if !op.persisted {
            return None;
        }
        if op.polls_left > 0 {
            op.polls_left -= 1;
        }
        if op.polls_left == 0 {
            let done_already = if op.compute {
                op.body["status"] == "DONE"
            } else {
                op.body["done"] == true
            };
            if !done_already {
                if op.compute {
                    op.body["status"] = json!("DONE");
                    op.body["progress"] = json!(100);
                    if let Some(e) = &op.error {
                        op.body["error"] =
                            json!({"errors": [{"code": "INVALID_USAGE", "message": e["message"]}]});
                        op.body["httpErrorStatusCode"] = json!(400);
                    }
                } else {
                    op.body["done"] = json!(true);
                    match &op.error {
                        Some(e) => op.body["error"] = e.clone(),
                        None => op.body["response"] = op.response.clone(),
                    }
                }
                let failed = op.error.is_some();
                let finish = op.finish.take();
                let body = op.body.clone();
                if let Some(f) = finish.filter(|_| !failed) {
                    self.finish(f);
                } else if failed {
                    // A failed function update leaves it ACTIVE with its old values.
                    for f in self.functions.values_mut() {
                        if f["state"] == "DEPLOYING" {
                            f["state"] = json!("ACTIVE");
                        }
                    }
                    for i in self.instances.values_mut() {
                        i["state"] = json!("READY");
                    }
                }
                return Some(body);
            }
        }
        Some(op.body.clone())
    }
}

async fn handle(
    state: &Arc<Mutex<State>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let q = query_map(&query);
    let json_body: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .unwrap_or(Value::String(String::from_utf8_lossy(&body).into_owned()))
    };
    let hdrs: HashMap<String, String> = headers
        .iter()
        .map(|(k, v)| {
            let v = v.to_str().unwrap_or("").to_owned();
            let v = if k.as_str() == "authorization" {
                v.split_whitespace().next().unwrap_or("").to_owned() + " <redacted>"
            } else {
                v
            };
            (k.as_str().to_owned(), v)
        })
        .collect();
    let route = route_key(&method, &path);
    let fault = {
        let mut s = state.lock().unwrap();
        s.requests.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            headers: hdrs,
            body: json_body.clone(),
        });
        s.faults.get_mut(&route).and_then(VecDeque::pop_front)
    };
    match fault {
        Some(Fault::Status(http, status, retry_after, retry_info)) => {
            let details = retry_info.map(|d| vec![json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": d})]).unwrap_or_default();
            let mut r = google_error(http, status, &format!("injected {status}"), details);
            if let Some(s) = retry_after {
                r.headers_mut()
                    .insert("retry-after", s.to_string().parse().unwrap());
            }
            return r;
        }
        Some(Fault::Slow(ms)) => tokio::time::sleep(std::time::Duration::from_millis(ms)).await,
        None => {}
    }

    if let Some(rest) = path.strip_prefix("/computeMetadata/v1/") {
        return metadata(state, rest, &headers);
    }
    // Every API call needs a token this fake's metadata server issued.
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let issued = state.lock().unwrap().tokens_issued;
    let valid = auth
        .strip_prefix("Bearer ya29.FAKE-")
        .and_then(|n| n.parse::<u32>().ok())
        .is_some_and(|n| n >= 1 && n <= issued);
    if !valid {
        return google_error(
            401,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials.",
            vec![
                json!({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "ACCESS_TOKEN_EXPIRED", "domain": "googleapis.com"}),
            ],
        );
    }
    if !json_body.is_null()
        && !headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("application/json"))
    {
        return bad_request("body", "Content-Type must be application/json");
    }
    let mut s = state.lock().unwrap();
    // Operations (Cloud Run, Functions, Redis share the long-running shape).
    if let Some(name) = path
        .strip_prefix("/v2/")
        .or_else(|| path.strip_prefix("/v1/"))
        .filter(|p| p.contains("/operations/"))
    {
        let (name, wait) = match name.strip_suffix(":wait") {
            Some(n) => (n, true),
            None => (name, false),
        };
        if wait && method != Method::POST || !wait && method != Method::GET {
            return google_error(405, "METHOD_NOT_ALLOWED", "method not allowed", vec![]);
        }
        return match s.poll(name) {
            Some(op) => ok(&op),
            None => google_error(
                404,
                "NOT_FOUND",
                &format!("Operation '{name}' not found."),
                vec![],
            ),
        };
    }
    if let Some(rest) = path.strip_prefix("/compute/v1/") {
        return compute(&mut s, &method, rest, &q, &json_body);
    }
    if let Some(rest) = path.strip_prefix("/v2/projects/") {
        let name = format!("projects/{rest}");
        if rest.contains("/services/") {
            return cloud_run(&mut s, &method, &name, &q, &json_body);
        }
        if rest.contains("/functions/") {
            return functions(&mut s, &method, &name, &q, &json_body);
        }
    }
    if let Some(rest) = path.strip_prefix("/v1/projects/") {
        let name = format!("projects/{rest}");
        if rest.contains("/instances/") {
            return redis_admin(&mut s, &method, &name, &q, &json_body);
        }
        if let Some(topic) = name.strip_suffix(":publish") {
            return publish(&mut s, &method, topic, &json_body);
        }
    }
    google_error(404, "NOT_FOUND", &format!("no route {path}"), vec![])
}

fn route_key(method: &Method, path: &str) -> String {
    let kind = if path.starts_with("/computeMetadata") {
        "metadata"
    } else if path.contains("/operations/") {
        "op"
    } else if path.contains("/services/") {
        "run"
    } else if path.contains("/functions/") {
        "functions"
    } else if path.contains("/instances/") {
        "redis"
    } else if path.ends_with("/patchRule") {
        "patchRule"
    } else if path.ends_with("/getRule") {
        "getRule"
    } else if path.ends_with(":publish") {
        "publish"
    } else {
        "other"
    };
    format!("{method} {kind}")
}

fn metadata(state: &Arc<Mutex<State>>, rest: &str, headers: &HeaderMap) -> Response {
    let flavor = headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) == Some("Google");
    if !flavor || headers.contains_key("x-forwarded-for") {
        return (
            StatusCode::FORBIDDEN,
            [("metadata-flavor", "Google")],
            "Missing required header: Metadata-Flavor",
        )
            .into_response();
    }
    let mut s = state.lock().unwrap();
    let (body, ctype) = match rest {
        "instance/service-accounts/default/token" => {
            s.tokens_issued += 1;
            (json!({"access_token": format!("ya29.FAKE-{}", s.tokens_issued), "expires_in": s.token_lifetime, "token_type": "Bearer"}).to_string(), "application/json")
        }
        "project/project-id" => (PROJECT.to_owned(), "application/text"),
        "instance/service-accounts/default/email" => (
            format!("prescale@{PROJECT}.iam.gserviceaccount.com"),
            "application/text",
        ),
        "universe/universe-domain" => ("googleapis.com".to_owned(), "application/text"),
        "instance/service-accounts/default/identity" => (
            "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.c2ln".to_owned(),
            "application/text",
        ),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                [("metadata-flavor", "Google")],
                "not found",
            )
                .into_response();
        }
    };
    (
        StatusCode::OK,
        [("metadata-flavor", "Google"), ("content-type", ctype)],
        body,
    )
        .into_response()
}

const RUN_FIELDS: &[&str] = &[
    "name",
    "scaling",
    "etag",
    "template",
    "labels",
    "annotations",
    "description",
    "traffic",
    "ingress",
];
const RUN_MASK: &[&str] = &[
    "scaling.minInstanceCount",
    "scaling.maxInstanceCount",
    "scaling.scalingMode",
    "scaling.manualInstanceCount",
    "template",
    "labels",
];

fn cloud_run(
    s: &mut State,
    method: &Method,
    name: &str,
    q: &HashMap<String, String>,
    body: &Value,
) -> Response {
    let Some(svc) = s.services.get(name).cloned() else {
        let short = name.rsplit('/').next().unwrap_or("");
        return google_error(
            404,
            "NOT_FOUND",
            &format!(
                "Resource '{short}' of kind 'SERVICE' in region '{REGION}' in project '{PROJECT}' does not exist."
            ),
            vec![],
        );
    };
    if *method == Method::GET {
        return ok(&svc);
    }
    if *method != Method::PATCH {
        return google_error(405, "METHOD_NOT_ALLOWED", "method not allowed", vec![]);
    }
    let mask = match parse_mask(q, RUN_MASK) {
        Ok(m) => m,
        Err(r) => return r,
    };
    let body = camel_body(body);
    let Some(obj) = body.as_object() else {
        return bad_request("service", "body must be a Service object");
    };
    for k in obj.keys() {
        if !RUN_FIELDS.contains(&k.as_str())
            && ![
                "uid",
                "generation",
                "observedGeneration",
                "reconciling",
                "terminalCondition",
                "conditions",
                "uri",
                "createTime",
                "updateTime",
                "creator",
                "lastModifier",
                "latestReadyRevision",
                "latestCreatedRevision",
                "trafficStatuses",
                "launchStage",
            ]
            .contains(&k.as_str())
        {
            return bad_request(
                k,
                &format!(
                    "Invalid JSON payload received. Unknown name \"{k}\" at 'service': Cannot find field."
                ),
            );
        }
    }
    if let Some(n) = obj.get("name").and_then(Value::as_str)
        && n != name
    {
        return bad_request("service.name", "name in the body must match the path");
    }
    // AIP-154: a stale etag is ABORTED; no etag, no check.
    if let Some(e) = obj.get("etag").and_then(Value::as_str)
        && Some(e) != svc["etag"].as_str()
    {
        return google_error(
            409,
            "ABORTED",
            "The etag does not match the current service.",
            vec![],
        );
    }
    // The revision-name echo: an existing revision's name with a different template.
    if let Some(rev) = get_path(&body, "template.revision").and_then(Value::as_str)
        && svc["template"]["revision"].as_str() == Some(rev)
    {
        let mut sent = body["template"].clone();
        let cur = svc["template"].clone();
        sent.as_object_mut().map(|o| o.remove("revision"));
        let mut cur2 = cur;
        cur2.as_object_mut().map(|o| o.remove("revision"));
        let masked_template = mask
            .as_ref()
            .is_none_or(|m| m.iter().any(|p| p == "template" || p == "*"));
        if sent != cur2 && (masked_template || mask.is_some()) {
            return google_error(
                409,
                "ALREADY_EXISTS",
                &format!("Revision named '{rev}' with different configuration already exists."),
                vec![],
            );
        }
    }
    let paths = mask.unwrap_or_else(|| obj.keys().cloned().collect());
    let mut new = svc.clone();
    apply_mask(&mut new, &body, &paths);
    let sc = &new["scaling"];
    let min = int_of(sc.get("minInstanceCount")).unwrap_or(0);
    let max = int_of(sc.get("maxInstanceCount"));
    if min < 0 || max.is_some_and(|m| m < 0) {
        return bad_request("service.scaling", "instance counts must not be negative");
    }
    if let Some(m) = max
        && min > m
    {
        return bad_request(
            "service.scaling.min_instance_count",
            "min_instance_count must be less than or equal to max_instance_count",
        );
    }
    if let Some(m) = max
        && m > s.quota_max
    {
        return bad_request(
            "service.scaling.max_instance_count",
            &format!(
                "Max instances must be set to {} or fewer to set the requested total CPU. Quota violated: CpuAllocPerProjectRegion requested: {} allowed: {}",
                s.quota_max,
                m * 1000,
                s.quota_max * 1000
            ),
        );
    }
    if let Some(mode) = sc.get("scalingMode") {
        let m = match mode {
            Value::String(x) => x.clone(),
            Value::Number(n) => {
                if n.as_i64() == Some(2) {
                    "MANUAL".into()
                } else {
                    "AUTOMATIC".into()
                }
            }
            _ => String::new(),
        };
        if !["AUTOMATIC", "MANUAL", "SCALING_MODE_UNSPECIFIED"].contains(&m.as_str()) {
            return bad_request("service.scaling.scaling_mode", "unknown enum value");
        }
        let was_manual = svc["scaling"]["scalingMode"].as_str() == Some("MANUAL");
        if was_manual && m == "AUTOMATIC" {
            let given_min = paths.iter().any(|p| p == "scaling.minInstanceCount");
            let given_max = paths.iter().any(|p| p == "scaling.maxInstanceCount");
            if given_min != given_max {
                return bad_request(
                    "service.scaling",
                    "switching to AUTOMATIC needs both min and max instance counts, or neither",
                );
            }
        }
    }
    let validate_only = q.get("validateOnly").is_some_and(|v| v == "true");
    let mut meta = new.clone();
    meta["@type"] = json!("type.googleapis.com/google.cloud.run.v2.Service");
    if validate_only {
        let op = s.new_op("validate", false, meta, Value::Null, None, false);
        return ok(&op);
    }
    let generation = int_of(svc.get("generation")).unwrap_or(0) + 1;
    new["generation"] = json!(generation.to_string());
    new["reconciling"] = json!(true);
    new["etag"] = json!(format!("\"etag-{generation}\""));
    if paths.iter().any(|p| p == "template") {
        let short = name.rsplit('/').next().unwrap_or("");
        let rev = format!("{short}-{generation:05}-abc");
        new["latestCreatedRevision"] = json!(format!("{name}/revisions/{rev}"));
        new["template"]
            .as_object_mut()
            .map(|o| o.remove("revision"));
    }
    s.services.insert(name.to_owned(), new.clone());
    meta["generation"] = json!(generation.to_string());
    let mut response = new.clone();
    response["@type"] = json!("type.googleapis.com/google.cloud.run.v2.Service");
    response["observedGeneration"] = json!(generation.to_string());
    response["reconciling"] = json!(false);
    let op = s.new_op(
        "5d3c1f0e",
        false,
        meta,
        response,
        Some(Finish::Run(name.to_owned())),
        true,
    );
    ok(&op)
}

const FN_MASK: &[&str] = &[
    "serviceConfig.minInstanceCount",
    "serviceConfig.maxInstanceCount",
    "serviceConfig.maxInstanceRequestConcurrency",
    "serviceConfig.availableMemory",
    "serviceConfig.availableCpu",
];

fn functions(
    s: &mut State,
    method: &Method,
    name: &str,
    q: &HashMap<String, String>,
    body: &Value,
) -> Response {
    let Some(f) = s.functions.get(name).cloned() else {
        return google_error(
            404,
            "NOT_FOUND",
            &format!("Function {name} does not exist"),
            vec![],
        );
    };
    if *method == Method::GET {
        return ok(&f);
    }
    if *method != Method::PATCH {
        return google_error(405, "METHOD_NOT_ALLOWED", "method not allowed", vec![]);
    }
    if f["state"] == "DEPLOYING" {
        return google_error(409, "ABORTED", "unable to queue the operation", vec![]);
    }
    let mask = match parse_mask(q, FN_MASK) {
        Ok(Some(m)) => m,
        Ok(None) => FN_MASK
            .iter()
            .filter(|p| get_path(&camel_body(body), p).is_some())
            .map(|p| (*p).to_owned())
            .collect(),
        Err(r) => return r,
    };
    let body = camel_body(body);
    let mut next = f;
    apply_mask(&mut next, &body, &mask);
    let sc = &next["serviceConfig"];
    let min = int_of(sc.get("minInstanceCount")).unwrap_or(0);
    let max = int_of(sc.get("maxInstanceCount")).unwrap_or(0);
    if min < 0 || max < 0 || (max > 0 && min > max) {
        return bad_request(
            "function.service_config",
            "Could not update Cloud Run service: min instances must be ≤ max instances and not negative",
        );
    }
    let mut changes = Map::new();
    for p in &mask {
        let k = p.trim_start_matches("serviceConfig.").to_owned();
        changes.insert(k, get_path(&body, p).cloned().unwrap_or(json!(0)));
    }
    s.functions.get_mut(name).unwrap()["state"] = json!("DEPLOYING");
    let meta = json!({
        "@type": "type.googleapis.com/google.cloud.functions.v2.OperationMetadata",
        "target": name, "verb": "update", "cancelRequested": false, "apiVersion": "v2",
        "requestResource": {"@type": "type.googleapis.com/google.cloud.functions.v2.Function", "name": name, "serviceConfig": body["serviceConfig"]},
        "stages": [{"name": "BUILD", "state": "NOT_STARTED"}, {"name": "SERVICE", "state": "NOT_STARTED"}]
    });
    let mut response = next.clone();
    response["state"] = json!("ACTIVE");
    response["@type"] = json!("type.googleapis.com/google.cloud.functions.v2.Function");
    let op = s.new_op(
        "operation-1746093600000",
        false,
        meta,
        response,
        Some(Finish::Function(name.to_owned(), changes)),
        true,
    );
    ok(&op)
}

const REDIS_MASK: &[&str] = &[
    "displayName",
    "labels",
    "memorySizeGb",
    "redisConfig",
    "replicaCount",
];

fn redis_admin(
    s: &mut State,
    method: &Method,
    name: &str,
    q: &HashMap<String, String>,
    body: &Value,
) -> Response {
    let Some(i) = s.instances.get(name).cloned() else {
        return google_error(
            404,
            "NOT_FOUND",
            &format!("Instance {name} not found"),
            vec![],
        );
    };
    if *method == Method::GET {
        return ok(&i);
    }
    if *method != Method::PATCH {
        return google_error(405, "METHOD_NOT_ALLOWED", "method not allowed", vec![]);
    }
    let mask = match parse_mask(q, REDIS_MASK) {
        Ok(Some(m)) => m,
        Ok(None) => return bad_request("update_mask", "update_mask is required"),
        Err(r) => return r,
    };
    if mask.len() != 1 {
        return bad_request("update_mask", "only one field can be updated at a time");
    }
    if i["state"] != "READY" {
        return google_error(
            400,
            "FAILED_PRECONDITION",
            "Unable to update due to ongoing operations. Please wait until instance is in READY state.",
            vec![],
        );
    }
    let body = camel_body(body);
    if mask[0] == "replicaCount" && i["readReplicasMode"] != "READ_REPLICAS_ENABLED" {
        return google_error(
            400,
            "FAILED_PRECONDITION",
            "Read Replicas mode must be enabled on the instance in order to update replica count",
            vec![],
        );
    }
    let mut gb = int_of(i.get("memorySizeGb")).unwrap_or(1);
    if mask[0] == "memorySizeGb" {
        gb = match int_of(body.get("memorySizeGb")) {
            Some(v) if (1..=300).contains(&v) => v,
            _ => {
                return bad_request(
                    "instance.memory_size_gb",
                    "memory_size_gb must be between 1 and 300",
                );
            }
        };
    }
    s.instances.get_mut(name).unwrap()["state"] = json!("UPDATING");
    let meta = json!({"@type": "type.googleapis.com/google.cloud.redis.v1.OperationMetadata", "target": name, "verb": "update", "cancelRequested": false, "apiVersion": "v1"});
    let mut response = i;
    response["memorySizeGb"] = json!(gb);
    response["@type"] = json!("type.googleapis.com/google.cloud.redis.v1.Instance");
    let op = s.new_op(
        "operation-1746093600123",
        false,
        meta,
        response,
        Some(Finish::Redis(name.to_owned(), gb)),
        true,
    );
    ok(&op)
}

fn compute_error(http: u16, reason: &str, message: &str) -> Response {
    let body = json!({"error": {"code": http, "message": message, "errors": [{"message": message, "domain": "global", "reason": reason}]}});
    (
        StatusCode::from_u16(http).unwrap(),
        [("content-type", "application/json; charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

const INTERVALS: [i64; 13] = [
    10, 30, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600,
];

fn compute(
    s: &mut State,
    method: &Method,
    rest: &str,
    q: &HashMap<String, String>,
    body: &Value,
) -> Response {
    if let Some((_, op)) = rest.split_once("/global/operations/") {
        let (name, wait) = match op.strip_suffix("/wait") {
            Some(n) => (n, true),
            None => (op, false),
        };
        if (wait && *method != Method::POST) || (!wait && *method != Method::GET) {
            return compute_error(405, "methodNotAllowed", "method not allowed");
        }
        return match s.poll(name) {
            Some(op) => ok(&op),
            None => compute_error(
                404,
                "notFound",
                &format!(
                    "The resource 'projects/{PROJECT}/global/operations/{name}' was not found"
                ),
            ),
        };
    }
    let Some((policy, verb)) = rest.rsplit_once('/') else {
        return compute_error(404, "notFound", "not found");
    };
    let Some(priority) = q.get("priority").and_then(|p| p.parse::<u32>().ok()) else {
        return compute_error(400, "required", "Required field 'priority' not specified");
    };
    let key = (policy.to_owned(), priority);
    let Some(rule) = s.rules.get(&key).cloned() else {
        return compute_error(
            404,
            "notFound",
            &format!("Invalid value for field 'priority': '{priority}'. The rule does not exist."),
        );
    };
    match (method.as_str(), verb) {
        ("GET", "getRule") => ok(&rule),
        ("POST", "patchRule") => {
            let body = camel_body(body);
            let Some(rlo) = body.get("rateLimitOptions") else {
                return compute_error(
                    400,
                    "invalid",
                    "rateLimitOptions is required for a throttle rule",
                );
            };
            let count = int_of(get_path(rlo, "rateLimitThreshold.count")).unwrap_or(0);
            let interval = int_of(get_path(rlo, "rateLimitThreshold.intervalSec")).unwrap_or(0);
            let action = body.get("action").and_then(Value::as_str).unwrap_or("");
            let limit = if action == "rate_based_ban" {
                10_000
            } else {
                1_000_000
            };
            if !(1..=limit).contains(&count) {
                return compute_error(
                    400,
                    "invalid",
                    &format!(
                        "Invalid value for field 'resource.rateLimitOptions.rateLimitThreshold.count': '{count}'."
                    ),
                );
            }
            if !INTERVALS.contains(&interval) {
                return compute_error(
                    400,
                    "invalid",
                    &format!(
                        "Invalid value for field 'resource.rateLimitOptions.rateLimitThreshold.intervalSec': '{interval}'. Must be one of {INTERVALS:?}"
                    ),
                );
            }
            let exceed = rlo
                .get("exceedAction")
                .and_then(Value::as_str)
                .unwrap_or("");
            if ![
                "deny(403)",
                "deny(404)",
                "deny(429)",
                "deny(502)",
                "redirect",
            ]
            .contains(&exceed)
            {
                return compute_error(
                    400,
                    "invalid",
                    &format!(
                        "Invalid value for field 'resource.rateLimitOptions.exceedAction': '{exceed}'."
                    ),
                );
            }
            if rlo.get("conformAction").and_then(Value::as_str) != Some("allow") {
                return compute_error(400, "invalid", "conformAction must be 'allow'");
            }
            if rule["action"] == "rate_based_ban" && action == "throttle" {
                return compute_error(
                    400,
                    "invalid",
                    "A rate_based_ban rule cannot be changed to throttle",
                );
            }
            let mut new = rule;
            for (k, v) in body.as_object().unwrap() {
                new[k] = v.clone();
            }
            new["priority"] = json!(priority);
            if q.get("validateOnly").is_some_and(|v| v == "true") {
                return ok(&s.new_op(policy, true, Value::Null, Value::Null, None, false));
            }
            let op = s.new_op(
                policy,
                true,
                Value::Null,
                Value::Null,
                Some(Finish::Rule(policy.to_owned(), priority, new)),
                true,
            );
            ok(&op)
        }
        _ => compute_error(405, "methodNotAllowed", "method not allowed"),
    }
}

fn publish(s: &mut State, method: &Method, topic: &str, body: &Value) -> Response {
    if *method != Method::POST {
        return google_error(405, "METHOD_NOT_ALLOWED", "method not allowed", vec![]);
    }
    if !topic.ends_with("/topics/cache-warmup") {
        return google_error(
            404,
            "NOT_FOUND",
            &format!("Resource not found (resource={topic})."),
            vec![],
        );
    }
    let Some(msgs) = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
    else {
        return bad_request("messages", "The request must contain at least one message.");
    };
    let mut ids = Vec::new();
    for m in msgs {
        let data = m.get("data").and_then(Value::as_str);
        let attrs = m
            .get("attributes")
            .and_then(Value::as_object)
            .filter(|a| !a.is_empty());
        if data.is_none_or(str::is_empty) && attrs.is_none() {
            return bad_request(
                "messages.data",
                "A message must have non-empty data or at least one attribute.",
            );
        }
        if let Some(d) = data {
            use base64::Engine;
            let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(d) else {
                return bad_request(
                    "messages.data",
                    "Invalid value at 'messages[0].data' (TYPE_BYTES), Base64 decoding failed",
                );
            };
            s.published.push(json!({"data": serde_json::from_slice::<Value>(&raw).unwrap_or(Value::Null), "attributes": m.get("attributes")}));
        }
        s.next_id += 1;
        ids.push(format!("109283746550{}", s.next_id));
    }
    ok(&json!({"messageIds": ids}))
}
