//! What every Google actuator shares: the access token (ACTUATORS.md 6: a configured or
//! environment token, else the metadata server, cached until five minutes before it expires),
//! authorized requests with one token refresh on 401, the retry loop for mutations (a fresh read
//! before each retry, skipped when the resource already has the desired values), and polling of
//! long-running operations (1 s for 10 s, then ×1.5 up to 10 s, within the target's deadline).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Mutex;

use super::http::{ActuatorError, Answer, RetryPolicy, send};
use crate::config::Secret;

/// Where access tokens come from.
#[derive(Debug, Clone)]
enum Source {
    Static(Secret),
    File(std::path::PathBuf),
    Metadata(String),
}

#[derive(Debug)]
struct Cached {
    token: Secret,
    expires: tokio::time::Instant,
}

/// Google access tokens, shared by all Google targets of a process.
#[derive(Debug, Clone)]
pub struct GoogleAuth {
    source: Source,
    http: reqwest::Client,
    cache: Arc<Mutex<Option<Cached>>>,
}

const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

impl GoogleAuth {
    /// Precedence: PRESCALE_GCP_ACCESS_TOKEN (or GOOGLE_OAUTH_ACCESS_TOKEN), then
    /// PRESCALE_GCP_ACCESS_TOKEN_FILE, then `[google] access_token`, then the metadata server at
    /// GCE_METADATA_HOST, `[google] metadata_endpoint`, or metadata.google.internal.
    pub fn from_env(
        settings: &super::super::targets::GoogleSettings,
        env: impl Fn(&str) -> Option<String>,
        http: reqwest::Client,
    ) -> Self {
        let source = if let Some(t) =
            env("PRESCALE_GCP_ACCESS_TOKEN").or_else(|| env("GOOGLE_OAUTH_ACCESS_TOKEN"))
        {
            tracing::info!("Google token from the environment: static, never refreshed");
            Source::Static(Secret::new(t))
        } else if let Some(f) = env("PRESCALE_GCP_ACCESS_TOKEN_FILE") {
            Source::File(f.into())
        } else if let Some(t) = &settings.access_token {
            Source::Static(t.clone())
        } else {
            let host = env("GCE_METADATA_HOST")
                .map(|h| format!("http://{h}"))
                .or_else(|| settings.metadata_endpoint.clone())
                .unwrap_or_else(|| "http://metadata.google.internal".to_owned());
            Source::Metadata(host.trim_end_matches('/').to_owned())
        };
        Self {
            source,
            http,
            cache: Arc::new(Mutex::new(None)),
        }
    }

    /// The current token; `refresh` drops the cached one first (after a 401).
    ///
    /// # Errors
    /// When no token can be had (the metadata server is unreachable or refuses).
    pub async fn token(&self, refresh: bool) -> Result<Secret, ActuatorError> {
        match &self.source {
            Source::Static(t) => Ok(t.clone()),
            Source::File(p) => std::fs::read_to_string(p)
                .map(|s| Secret::new(s.trim()))
                .map_err(|e| ActuatorError::Invalid(format!("token file {}: {e}", p.display()))),
            Source::Metadata(host) => {
                let mut cache = self.cache.lock().await;
                if let Some(c) = cache.as_ref()
                    && !refresh
                    && tokio::time::Instant::now() < c.expires
                {
                    return Ok(c.token.clone());
                }
                let url = format!(
                    "{host}/computeMetadata/v1/instance/service-accounts/default/token?scopes={}",
                    SCOPE.replace(':', "%3A").replace('/', "%2F")
                );
                let a = send(self.http.get(url).header("Metadata-Flavor", "Google")).await?;
                let token = a
                    .body
                    .get("access_token")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        ActuatorError::Invalid("metadata server: no access_token".into())
                    })?;
                let expires_in = a
                    .body
                    .get("expires_in")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                // Refresh when fewer than 5 minutes remain; a token that lives less than that is
                // used once and fetched again next time.
                let keep = Duration::from_secs(expires_in.saturating_sub(300));
                let token = Secret::new(token);
                *cache = Some(Cached {
                    token: token.clone(),
                    expires: tokio::time::Instant::now() + keep,
                });
                Ok(token)
            }
        }
    }
}

/// A Google API endpoint with its token.
#[derive(Debug, Clone)]
pub struct Google {
    pub http: reqwest::Client,
    pub auth: GoogleAuth,
    /// Polling and retry waits are divided by this (1 in production; tests speed them up).
    pub speedup: u32,
}

impl Google {
    /// One authorized request; on 401 the token is refreshed and the request sent once more.
    ///
    /// # Errors
    /// As [`send`].
    pub async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Answer, ActuatorError> {
        let mut refresh = false;
        loop {
            let token = self.auth.token(refresh).await?;
            let mut req = self
                .http
                .request(method.clone(), url)
                .bearer_auth(token.expose());
            if let Some(b) = body {
                req = req.json(b);
            }
            match send(req).await {
                Err(ActuatorError::Api { http: 401, .. }) if !refresh => refresh = true,
                other => return other,
            }
        }
    }

    /// A mutation under the common rules: retried on transient errors, `ABORTED` and a busy
    /// `FAILED_PRECONDITION` (when `busy_retries`); before each retry `done` reads the resource
    /// and a retry is skipped when it already holds the desired values.
    ///
    /// # Errors
    /// The last error when the call fails for good.
    pub async fn mutate<D, DFut>(
        &self,
        method: reqwest::Method,
        url: &str,
        body: &Value,
        deadline: Duration,
        busy_retries: bool,
        done: D,
    ) -> Result<Option<Answer>, ActuatorError>
    where
        D: Fn() -> DFut,
        DFut: Future<Output = bool>,
    {
        let policy = RetryPolicy::google(deadline).scaled(self.speedup);
        let converged = std::sync::atomic::AtomicBool::new(false);
        let r = super::http::retrying(
            policy,
            |n| {
                let converged = &converged;
                let done = &done;
                let method = method.clone();
                async move {
                    if n > 1 && done().await {
                        converged.store(true, std::sync::atomic::Ordering::Relaxed);
                        return Ok(None);
                    }
                    self.call(method, url, Some(body)).await.map(Some)
                }
            },
            |e| {
                let go = e.transient()
                    || e.status() == Some("ABORTED")
                    || (busy_retries && e.status() == Some("FAILED_PRECONDITION"));
                async move { go }
            },
        )
        .await;
        if converged.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(None);
        }
        r
    }

    /// Polls `GET {base}/{name}` until `done`, then returns `response` or the operation's error.
    ///
    /// # Errors
    /// The operation's error, a poll failure, or the deadline.
    pub async fn wait_operation(
        &self,
        base: &str,
        op: &Value,
        deadline: Duration,
    ) -> Result<Value, ActuatorError> {
        let started = tokio::time::Instant::now();
        let mut op = op.clone();
        let mut wait = Duration::from_secs(1) / self.speedup.max(1);
        let cap = Duration::from_secs(10) / self.speedup.max(1);
        let fast_until = Duration::from_secs(10) / self.speedup.max(1);
        loop {
            if op.get("done").and_then(Value::as_bool).unwrap_or(false) {
                if let Some(e) = op.get("error") {
                    return Err(ActuatorError::Operation {
                        code: e.get("code").and_then(Value::as_i64).unwrap_or(2),
                        message: e
                            .get("message")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_owned(),
                    });
                }
                return Ok(op.get("response").cloned().unwrap_or(Value::Null));
            }
            let name = op
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| ActuatorError::Invalid("operation without a name".into()))?
                .to_owned();
            if started.elapsed() + wait > deadline / self.speedup.max(1) {
                return Err(ActuatorError::Invalid(format!(
                    "operation {name} not done within {deadline:?}"
                )));
            }
            tokio::time::sleep(wait).await;
            if started.elapsed() >= fast_until {
                wait = wait.mul_f64(1.5).min(cap);
            }
            let url = format!("{base}/{name}");
            op = super::http::retrying(
                RetryPolicy::google(deadline).scaled(self.speedup),
                |_| self.call(reqwest::Method::GET, &url, None),
                |e| {
                    let go = e.transient();
                    async move { go }
                },
            )
            .await?
            .body;
        }
    }
}

/// A field mask from the keys of a flat object under `prefix` (`scaling.minInstanceCount`).
pub fn mask(prefix: &str, fields: &serde_json::Map<String, Value>) -> String {
    fields
        .keys()
        .map(|k| {
            if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A JSON integer that may be missing (proto3 omits defaults: missing is 0).
pub fn int(v: &Value, pointer: &str) -> i64 {
    match v.pointer(pointer) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// A PATCH of a resource whose changes are long-running operations.
#[derive(Debug, Clone)]
pub struct Patch<'a> {
    /// The full URL, update mask included.
    pub url: String,
    pub body: Value,
    /// Where operation names are resolved (`https://run.googleapis.com/v2`).
    pub base: String,
    pub deadline: Duration,
    /// Retry a busy `FAILED_PRECONDITION` (Memorystore).
    pub busy_retries: bool,
    /// The resource, for messages (`service`, `function`, `instance`).
    pub what: &'a str,
}

impl Google {
    /// Sends `p` under the common rules ([`Google::mutate`], with `done` deciding whether a
    /// retry is still needed), polls its operation to done, then reads the resource back with
    /// `read` and checks that it holds `desired`.
    pub async fn patch_verified<D, DFut, R, RFut>(
        &self,
        p: Patch<'_>,
        desired: &Value,
        done: D,
        read: R,
    ) -> (super::Written, Result<(), ActuatorError>)
    where
        D: Fn() -> DFut,
        DFut: Future<Output = bool>,
        R: Fn() -> RFut,
        RFut: Future<Output = Result<Value, ActuatorError>>,
    {
        let mut w = super::Written {
            requests: vec![super::Sent {
                method: "PATCH".into(),
                url: p.url.clone(),
                body: Some(p.body.clone()),
            }],
            ..super::Written::default()
        };
        let r = async {
            let op = self
                .mutate(
                    reqwest::Method::PATCH,
                    &p.url,
                    &p.body,
                    p.deadline,
                    p.busy_retries,
                    done,
                )
                .await?;
            let Some(op) = op else {
                w.already = true;
                return Ok(());
            };
            w.http_status = Some(op.status);
            self.wait_operation(&p.base, &op.body, p.deadline).await?;
            let now = read().await?;
            if super::holds(&now, desired) {
                Ok(())
            } else {
                Err(ActuatorError::Invalid(format!(
                    "after the operation the {} has {now}, not {desired}",
                    p.what
                )))
            }
        }
        .await;
        (w, r)
    }
}

/// `{endpoint}/{version}`: the target's endpoint, else `default` (the real host or its
/// PRESCALE_*_ENDPOINT override).
pub fn api_base(t: &crate::scaling::Target, default: &str, version: &str) -> String {
    let host = t.endpoint.as_deref().unwrap_or(default);
    format!("{}/{version}", host.trim_end_matches('/'))
}

/// `projects/{project}/locations/{location}/{collection}/{id}`.
pub fn located(t: &crate::scaling::Target, collection: &str, id: Option<&str>) -> String {
    format!(
        "projects/{}/locations/{}/{collection}/{}",
        t.project.as_deref().unwrap_or_default(),
        t.location.as_deref().unwrap_or_default(),
        id.unwrap_or_default()
    )
}

impl Google {
    /// GET of a resource under `base`, its JSON.
    ///
    /// # Errors
    /// As [`Google::call`].
    pub async fn get(&self, base: &str, name: &str) -> Result<Value, ActuatorError> {
        let url = format!("{base}/{name}");
        Ok(self.call(reqwest::Method::GET, &url, None).await?.body)
    }
}

/// `{"minInstanceCount": n, "maxInstanceCount": m}` of the object at `pointer` (`/scaling`,
/// `/serviceConfig`): a missing minimum is 0 (proto3 omits defaults), a missing maximum is left out.
pub fn instance_counts(resource: &Value, pointer: &str) -> Value {
    let mut v = serde_json::json!({ "minInstanceCount": int(resource, &format!("{pointer}/minInstanceCount")) });
    if let Some(max) = resource.pointer(&format!("{pointer}/maxInstanceCount")) {
        v["maxInstanceCount"] = max.clone();
    }
    v
}
