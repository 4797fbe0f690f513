//! The Kubernetes API as the HPA and KEDA actuators use it (ACTUATORS.md 7): `GET` and a JSON
//! merge patch (`application/merge-patch+json`, `?fieldManager=prescale`) with the service
//! account's token (re-read before every request: projected tokens rotate) over TLS with the
//! cluster's CA. 401 re-reads the token once; 409 Conflict reads again and retries; 429 (after
//! `Retry-After`), 500, 503 and 504 are retried with backoff; 403, 404, 415 and 422 are final.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use super::http::{ActuatorError, Answer, RetryPolicy, retrying, send};
use crate::scaling::targets::KubernetesSettings;

const SA: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// The API server and how to authenticate to it.
#[derive(Debug, Clone)]
pub struct Kube {
    pub api_server: Option<String>,
    token_file: PathBuf,
    http: reqwest::Client,
    pub speedup: u32,
}

impl Kube {
    /// From `[kubernetes]`, else the in-cluster environment and files.
    ///
    /// # Errors
    /// When a configured CA file cannot be read or parsed.
    pub fn new(
        s: &KubernetesSettings,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ActuatorError> {
        let api_server = s.api_server.clone().or_else(|| {
            let host = env("KUBERNETES_SERVICE_HOST")?;
            let port = env("KUBERNETES_SERVICE_PORT").unwrap_or_else(|| "443".into());
            Some(format!("https://{host}:{port}"))
        });
        let ca = s
            .ca_file
            .clone()
            .or_else(|| Some(PathBuf::from(SA).join("ca.crt")).filter(|p| p.is_file()));
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("prescale/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30));
        if let Some(ca) = ca {
            let pem = std::fs::read(&ca)
                .map_err(|e| ActuatorError::Invalid(format!("CA file {}: {e}", ca.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| ActuatorError::Invalid(format!("CA file {}: {e}", ca.display())))?;
            b = b.add_root_certificate(cert);
        }
        Ok(Self {
            api_server: api_server.map(|u| u.trim_end_matches('/').to_owned()),
            token_file: s
                .token_file
                .clone()
                .unwrap_or_else(|| PathBuf::from(SA).join("token")),
            http: b
                .build()
                .map_err(|e| ActuatorError::Invalid(format!("HTTP client: {e}")))?,
            speedup: 1,
        })
    }

    fn token(&self) -> Result<String, ActuatorError> {
        std::fs::read_to_string(&self.token_file)
            .map(|t| t.trim().to_owned())
            .map_err(|e| {
                ActuatorError::Invalid(format!("token file {}: {e}", self.token_file.display()))
            })
    }

    fn url(&self, path: &str) -> Result<String, ActuatorError> {
        let base = self.api_server.as_deref().ok_or_else(|| {
            ActuatorError::Invalid(
                "no Kubernetes API server: set [kubernetes] api_server or run in a cluster".into(),
            )
        })?;
        Ok(format!("{base}{path}"))
    }

    async fn once(
        &self,
        method: reqwest::Method,
        url: &str,
        patch: Option<&Value>,
    ) -> Result<Answer, ActuatorError> {
        let mut refreshed = false;
        loop {
            let mut req = self
                .http
                .request(method.clone(), url)
                .bearer_auth(self.token()?)
                .header("accept", "application/json");
            if let Some(p) = patch {
                req = req
                    .header("content-type", "application/merge-patch+json")
                    .body(p.to_string());
            }
            match send(req).await {
                Err(ActuatorError::Api { http: 401, .. }) if !refreshed => refreshed = true,
                other => return other,
            }
        }
    }

    /// GET `path`, retried on transient errors.
    ///
    /// # Errors
    /// The last error.
    pub async fn get(&self, path: &str) -> Result<Value, ActuatorError> {
        let url = self.url(path)?;
        retrying(
            RetryPolicy::google(Duration::from_secs(60)).scaled(self.speedup),
            |_| self.once(reqwest::Method::GET, &url, None),
            |e| {
                let go = e.transient();
                async move { go }
            },
        )
        .await
        .map(|a| a.body)
    }

    /// Merge-patches `path`; on 409 Conflict (and transient errors) reads first and retries only
    /// if `done` says the change is not in place yet.
    ///
    /// # Errors
    /// The last error.
    pub async fn merge_patch<D, DFut>(
        &self,
        path: &str,
        patch: &Value,
        done: D,
    ) -> Result<Option<Answer>, ActuatorError>
    where
        D: Fn() -> DFut,
        DFut: Future<Output = bool>,
    {
        let url = format!("{}?fieldManager=prescale", self.url(path)?);
        let converged = std::sync::atomic::AtomicBool::new(false);
        let r = retrying(
            RetryPolicy::google(Duration::from_secs(120)).scaled(self.speedup),
            |n| {
                let (done, converged, url) = (&done, &converged, &url);
                async move {
                    if n > 1 && done().await {
                        converged.store(true, std::sync::atomic::Ordering::Relaxed);
                        return Ok(None);
                    }
                    self.once(reqwest::Method::PATCH, url, Some(patch))
                        .await
                        .map(Some)
                }
            },
            |e| {
                let go = e.transient() || e.http_status() == Some(409);
                async move { go }
            },
        )
        .await;
        if converged.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(None);
        }
        r
    }
}

/// Warns when an object is owned by a controller that would revert the change (KEDA's HPA,
/// Argo CD or Flux).
pub fn warn_if_owned(obj: &Value, what: &str) {
    let owners = obj
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let gitops = obj
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .is_some_and(|a| {
            a.keys().any(|k| {
                k.starts_with("argocd.argoproj.io/")
                    || k.starts_with("kustomize.toolkit.fluxcd.io/")
            })
        });
    if owners > 0 || gitops {
        tracing::warn!(
            what,
            "the object is owned by a controller (ownerReferences or GitOps annotations) that may revert prescale's change: patch its owner instead"
        );
    }
}

impl Kube {
    /// Merge-patches `{"spec": desired}` into the object at `path`, with `done` deciding whether
    /// a retry is still needed, and records what was sent.
    pub async fn write_spec<D, DFut>(
        &self,
        path: &str,
        desired: &Value,
        done: D,
    ) -> (super::Written, Result<(), ActuatorError>)
    where
        D: Fn() -> DFut,
        DFut: Future<Output = bool>,
    {
        let patch = serde_json::json!({ "spec": desired });
        let mut w = super::Written {
            requests: vec![super::Sent {
                method: "PATCH".into(),
                url: format!("{path}?fieldManager=prescale"),
                body: Some(patch.clone()),
            }],
            ..super::Written::default()
        };
        let r = self.merge_patch(path, &patch, done).await.map(|a| match a {
            Some(a) => w.http_status = Some(a.status),
            None => w.already = true,
        });
        (w, r)
    }
}
