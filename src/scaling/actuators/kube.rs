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
    /// A token given in a kubeconfig (else the token file is read before each request).
    token: Option<crate::config::Secret>,
    http: reqwest::Client,
    pub speedup: u32,
}

impl Kube {
    /// From `[kubernetes]` (`api_server`, `token_file`, `ca_file`), else a kubeconfig
    /// (`[kubernetes] kubeconfig`, else `KUBECONFIG` when not in a cluster), else the in-cluster
    /// environment and the service account's files.
    ///
    /// # Errors
    /// When a CA file, a kubeconfig or a client certificate cannot be read or parsed.
    pub fn new(
        s: &KubernetesSettings,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ActuatorError> {
        let in_cluster = env("KUBERNETES_SERVICE_HOST").is_some();
        let kubeconfig = s.kubeconfig.clone().or_else(|| {
            (!in_cluster && s.api_server.is_none())
                .then(|| env("KUBECONFIG"))
                .flatten()
                .and_then(|v| v.split(':').next().map(PathBuf::from))
                .filter(|p| p.is_file())
        });
        let from_file = kubeconfig
            .as_deref()
            .map(|p| super::kubeconfig::load(p, s.context.as_deref()))
            .transpose()
            .map_err(ActuatorError::Invalid)?;
        let api_server = s
            .api_server
            .clone()
            .or_else(|| from_file.as_ref().map(|k| k.server.clone()))
            .or_else(|| {
                let host = env("KUBERNETES_SERVICE_HOST")?;
                let port = env("KUBERNETES_SERVICE_PORT").unwrap_or_else(|| "443".into());
                Some(format!("https://{host}:{port}"))
            });
        let ca_pem = match (
            &s.ca_file,
            from_file.as_ref().and_then(|k| k.ca_pem.clone()),
        ) {
            (Some(f), _) => Some((
                std::fs::read(f)
                    .map_err(|e| ActuatorError::Invalid(format!("CA file {}: {e}", f.display())))?,
                f.display().to_string(),
            )),
            (None, Some(pem)) => Some((pem, "the kubeconfig's certificate authority".to_owned())),
            (None, None) => {
                let f = PathBuf::from(SA).join("ca.crt");
                std::fs::read(&f)
                    .ok()
                    .map(|pem| (pem, f.display().to_string()))
            }
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::Client::builder()
            .user_agent(concat!("prescale/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30));
        if let Some((pem, what)) = ca_pem {
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| ActuatorError::Invalid(format!("CA {what}: {e}")))?;
            b = b.add_root_certificate(cert);
        }
        if let Some(id) = from_file.as_ref().and_then(|k| k.identity_pem.as_ref()) {
            let identity = reqwest::Identity::from_pem(id).map_err(|e| {
                ActuatorError::Invalid(format!("the kubeconfig's client certificate: {e}"))
            })?;
            b = b.identity(identity);
        }
        let token_file = s
            .token_file
            .clone()
            .or_else(|| from_file.as_ref().and_then(|k| k.token_file.clone()))
            .unwrap_or_else(|| PathBuf::from(SA).join("token"));
        Ok(Self {
            api_server: api_server.map(|u| u.trim_end_matches('/').to_owned()),
            token: from_file
                .and_then(|k| k.token)
                .filter(|_| s.token_file.is_none())
                .map(crate::config::Secret::new),
            token_file,
            http: b
                .build()
                .map_err(|e| ActuatorError::Invalid(format!("HTTP client: {e}")))?,
            speedup: 1,
        })
    }

    fn token(&self) -> Result<String, ActuatorError> {
        if let Some(t) = &self.token {
            return Ok(t.expose().to_owned());
        }
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
