//! Actuators: one file per kind of target, each following its API's contract in ACTUATORS.md.
//! Every actuator answers three questions: what the target is set to now ([`read`]), what to
//! send for a recommended value ([`desired`]), and how to send it ([`write`](fn@write)), always as
//! absolute values so that a retried or repeated write converges to the same state.

pub mod cache_warmup;
pub mod cloud_armor;
pub mod cloud_functions;
pub mod cloud_run;
pub mod google;
pub mod http;
pub mod k8s_hpa;
pub mod keda;
pub mod kube;
pub mod kubeconfig;
pub mod log;
pub mod memorystore;
pub mod rate_limit_redis;
pub mod webhook;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tokio::sync::Mutex;

pub use http::{ActuatorError, RetryPolicy, Sent};

use super::targets::{GoogleSettings, Kind, KubernetesSettings, Target};

/// What the change is for: carried into payloads (webhooks, warm-ups, rate-limit overrides).
#[derive(Debug, Clone, Serialize)]
pub struct Note {
    pub series: String,
    /// The forecast hour the value is for.
    pub hour: crate::domain::Hour,
    pub expected_rps: f64,
    pub lower_rps: f64,
    pub upper_rps: f64,
    pub confidence: f64,
    pub model_version: Option<i64>,
    /// `forecast`, `event`, `safety_net`, `rollback`.
    pub cause: String,
}

/// The base URLs of the Google APIs (ACTUATORS.md 1.6): a target's `endpoint` wins, then
/// PRESCALE_*_ENDPOINT, then the real host.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub run: String,
    pub functions: String,
    pub redis: String,
    pub compute: String,
    pub pubsub: String,
}

impl Endpoints {
    pub fn from_env(env: &impl Fn(&str) -> Option<String>) -> Self {
        let get = |var: &str, default: &str| {
            env(var)
                .unwrap_or_else(|| default.to_owned())
                .trim_end_matches('/')
                .to_owned()
        };
        Self {
            run: get("PRESCALE_RUN_ENDPOINT", "https://run.googleapis.com"),
            functions: get(
                "PRESCALE_FUNCTIONS_ENDPOINT",
                "https://cloudfunctions.googleapis.com",
            ),
            redis: get(
                "PRESCALE_REDIS_ADMIN_ENDPOINT",
                "https://redis.googleapis.com",
            ),
            compute: get(
                "PRESCALE_COMPUTE_ENDPOINT",
                "https://compute.googleapis.com",
            ),
            pubsub: get("PRESCALE_PUBSUB_ENDPOINT", "https://pubsub.googleapis.com"),
        }
    }
}

/// What actuators share in a process: HTTP clients, credentials, Redis connections.
#[derive(Debug, Clone)]
pub struct Context {
    pub http: reqwest::Client,
    pub google: google::Google,
    pub kube: kube::Kube,
    pub endpoints: Endpoints,
    redis: Arc<Mutex<HashMap<String, redis::aio::MultiplexedConnection>>>,
    /// Waits (polls, backoff) are divided by this: 1 in production.
    pub speedup: u32,
}

/// The HTTP client every actuator uses: rustls on ring, 30 s per request.
///
/// # Errors
/// When the TLS setup fails.
pub fn http_client() -> Result<reqwest::Client, ActuatorError> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("prescale/", env!("CARGO_PKG_VERSION")))
        .timeout(std::time::Duration::from_secs(30))
        .connect_timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| ActuatorError::Invalid(format!("HTTP client: {e}")))
}

impl Context {
    /// From the settings and the environment.
    ///
    /// # Errors
    /// When the HTTP clients cannot be built (a Kubernetes CA file that does not read).
    pub fn new(
        google_settings: &GoogleSettings,
        kube_settings: &KubernetesSettings,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ActuatorError> {
        let http = http_client()?;
        let auth = google::GoogleAuth::from_env(google_settings, &env, http.clone());
        Ok(Self {
            google: google::Google {
                http: http.clone(),
                auth,
                speedup: 1,
            },
            kube: kube::Kube::new(kube_settings, &env)?,
            endpoints: Endpoints::from_env(&env),
            http,
            redis: Arc::new(Mutex::new(HashMap::new())),
            speedup: 1,
        })
    }

    /// From the settings and the process environment; a Kubernetes CA file that does not read
    /// is logged and left out (Kubernetes targets then fail with the TLS error).
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        let env = |k: &str| std::env::var(k).ok();
        Self::new(&settings.google, &settings.kubernetes, env).unwrap_or_else(|e| {
            tracing::error!(error = %e, "actuator set-up");
            Self::new(
                &settings.google,
                &KubernetesSettings::default(),
                |k: &str| std::env::var(k).ok(),
            )
            .expect("the default HTTP client builds")
        })
    }

    /// Waits shortened `factor` times (tests).
    pub fn with_speedup(mut self, factor: u32) -> Self {
        self.speedup = factor.max(1);
        self.google.speedup = self.speedup;
        self.kube.speedup = self.speedup;
        self
    }

    /// A multiplexed connection to the Redis at `url`, opened once.
    ///
    /// # Errors
    /// When Redis cannot be reached.
    pub async fn redis(
        &self,
        url: &str,
    ) -> Result<redis::aio::MultiplexedConnection, ActuatorError> {
        let mut map = self.redis.lock().await;
        if let Some(c) = map.get(url) {
            return Ok(c.clone());
        }
        let client = redis::Client::open(url)
            .map_err(|e| ActuatorError::Invalid(format!("redis_url: {e}")))?;
        let c = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| ActuatorError::Transport(format!("redis: {e}")))?;
        map.insert(url.to_owned(), c.clone());
        Ok(c)
    }
}

/// What a write sent and how it ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Written {
    pub requests: Vec<Sent>,
    /// The HTTP status of the last mutating answer.
    pub http_status: Option<u16>,
    /// The change was already in place (a retry found it done): nothing more was sent.
    pub already: bool,
}

/// What the target is set to now (`null` for targets without state: webhooks, warm-ups, log).
///
/// # Errors
/// When the target cannot be read.
pub async fn read(t: &Target, ctx: &Context) -> Result<Value, ActuatorError> {
    match t.kind {
        Kind::CloudRun => cloud_run::read(t, ctx).await,
        Kind::CloudFunctions => cloud_functions::read(t, ctx).await,
        Kind::Memorystore => memorystore::read(t, ctx).await,
        Kind::RateLimitRedis => rate_limit_redis::read(t, ctx).await,
        Kind::CloudArmor => cloud_armor::read(t, ctx).await,
        Kind::K8sHpa => k8s_hpa::read(t, ctx).await,
        Kind::Keda => keda::read(t, ctx).await,
        Kind::CacheWarmup | Kind::Webhook | Kind::Log => Ok(Value::Null),
    }
}

/// The absolute values to send for a recommended `value`, given what is set now.
pub fn desired(t: &Target, value: u32, current: &Value) -> Value {
    match t.kind {
        Kind::CloudRun => cloud_run::desired(t, value, current),
        Kind::CloudFunctions => cloud_functions::desired(t, value, current),
        Kind::Memorystore => memorystore::desired(value),
        Kind::RateLimitRedis => rate_limit_redis::desired(t, value),
        Kind::CloudArmor => cloud_armor::desired(t, value),
        Kind::K8sHpa => k8s_hpa::desired(value, current),
        Kind::Keda => keda::desired(value, current),
        Kind::CacheWarmup => cache_warmup::desired(t, value),
        Kind::Webhook => webhook::desired(value),
        Kind::Log => serde_json::json!({ "value": value }),
    }
}

/// Whether `current` already holds every field of `desired`.
pub fn holds(current: &Value, desired: &Value) -> bool {
    match desired {
        Value::Object(d) => d.iter().all(|(k, v)| {
            current
                .get(k)
                .is_some_and(|c| c == v || c.as_f64().zip(v.as_f64()).is_some_and(|(a, b)| a == b))
        }),
        _ => false,
    }
}

/// Sends `desired`. The requests are returned even when the write fails, for the audit.
pub async fn write(
    t: &Target,
    ctx: &Context,
    desired: &Value,
    note: &Note,
) -> (Written, Result<(), ActuatorError>) {
    match t.kind {
        Kind::CloudRun => cloud_run::write(t, ctx, desired).await,
        Kind::CloudFunctions => cloud_functions::write(t, ctx, desired).await,
        Kind::Memorystore => memorystore::write(t, ctx, desired).await,
        Kind::RateLimitRedis => rate_limit_redis::write(t, ctx, desired, note).await,
        Kind::CloudArmor => cloud_armor::write(t, ctx, desired).await,
        Kind::K8sHpa => k8s_hpa::write(t, ctx, desired).await,
        Kind::Keda => keda::write(t, ctx, desired).await,
        Kind::CacheWarmup => cache_warmup::write(t, ctx, desired, note).await,
        Kind::Webhook => webhook::write(t, ctx, desired, note).await,
        Kind::Log => log::write(t, desired),
    }
}

/// Whether the kind has state that a rollback can restore.
pub fn restorable(kind: Kind) -> bool {
    !matches!(kind, Kind::CacheWarmup | Kind::Webhook | Kind::Log)
}
