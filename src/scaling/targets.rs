//! What prescale scales: the `[[targets]]` of `prescale.toml`, each tied to a series, with its
//! kind, where it lives, its capacity model and whether changes are applied (`apply = true`) or
//! only recorded (the default: every target starts in dry run).

use serde::{Deserialize, Serialize};

use super::recommend::{Capacity, EventStage, Quantile};
use crate::domain::SeriesId;

/// The kinds of target, one actuator each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    CloudRun,
    CloudFunctions,
    Memorystore,
    CacheWarmup,
    RateLimitRedis,
    CloudArmor,
    K8sHpa,
    Keda,
    Webhook,
    Log,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CloudRun => "cloud_run",
            Self::CloudFunctions => "cloud_functions",
            Self::Memorystore => "memorystore",
            Self::CacheWarmup => "cache_warmup",
            Self::RateLimitRedis => "rate_limit_redis",
            Self::CloudArmor => "cloud_armor",
            Self::K8sHpa => "k8s_hpa",
            Self::Keda => "keda",
            Self::Webhook => "webhook",
            Self::Log => "log",
        }
    }

    /// The unit of the value a recommendation sets.
    pub fn unit(self) -> &'static str {
        match self {
            Self::Memorystore => "GB",
            Self::RateLimitRedis => "requests/s",
            Self::CloudArmor => "requests/interval",
            Self::CacheWarmup => "warm-up",
            _ => "instances",
        }
    }
}

fn default_threshold() -> f64 {
    0.8
}
fn default_lead() -> u32 {
    10
}
fn default_stabilization() -> u32 {
    60
}
fn default_stages() -> Vec<EventStage> {
    vec![
        EventStage {
            hours_before: 24,
            share: 0.5,
        },
        EventStage {
            hours_before: 2,
            share: 1.0,
        },
    ]
}
fn default_headroom() -> f64 {
    1.2
}
fn default_interval() -> u32 {
    60
}
fn default_ttl() -> u32 {
    90
}
fn default_peak_ratio() -> f64 {
    1.5
}

/// One `[[targets]]` entry as written. Fields that only some kinds use are optional here and
/// checked per kind by [`Target::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub name: String,
    pub kind: Kind,
    pub series: SeriesId,
    /// false (the default): record what would be done, send nothing that changes anything.
    #[serde(default)]
    pub apply: bool,
    #[serde(default = "default_threshold")]
    pub confidence_threshold: f64,
    /// Requests one instance serves per second at the target utilization (for memorystore:
    /// per GB; for rate limits: 1, the value is the rate itself).
    #[serde(default, alias = "requests_per_gb_per_second")]
    pub requests_per_instance_per_second: Option<f64>,
    #[serde(default)]
    pub min: u32,
    pub max: u32,
    /// Largest change up / down in one step (default: no limit).
    #[serde(default)]
    pub max_step_up: Option<u32>,
    #[serde(default)]
    pub max_step_down: Option<u32>,
    #[serde(default = "default_lead")]
    pub lead_minutes: u32,
    #[serde(default = "default_stabilization")]
    pub scale_in_stabilization_minutes: u32,
    #[serde(default)]
    pub quantile: Quantile,
    /// Pre-scaling ahead of a registered event: from `hours_before` its start until its end,
    /// at least `share` of the event's peak need.
    #[serde(default = "default_stages")]
    pub event_stages: Vec<EventStage>,
    /// Base URL of the API (tests point it at local servers); the real host by default.
    #[serde(default)]
    pub endpoint: Option<String>,

    // Google resources.
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub location: Option<String>,
    /// cloud_run: the service.
    #[serde(default)]
    pub service: Option<String>,
    /// cloud_run / cloud_functions: also raise `maxInstanceCount` when the forecast needs more
    /// than the current ceiling (never above `max`).
    #[serde(default)]
    pub raise_max: bool,
    /// cloud_functions: the function.
    #[serde(default)]
    pub function: Option<String>,
    /// memorystore: the instance; cache_warmup: the cache named in the payload.
    #[serde(default)]
    pub instance: Option<String>,
    /// cloud_armor: the security policy, the rule's priority and its interval.
    #[serde(default)]
    pub policy: Option<String>,
    #[serde(default)]
    pub priority: Option<u32>,
    #[serde(default = "default_interval")]
    pub interval_sec: u32,
    /// cloud_armor: a regional policy's region (global when absent).
    #[serde(default)]
    pub region: Option<String>,

    // Rate limits.
    /// rate_limit_redis: the route (`[a-z0-9._-]{1,128}`) and the Redis URL.
    #[serde(default)]
    pub route: Option<String>,
    #[serde(default)]
    pub redis_url: Option<String>,
    /// Limit = forecast requests/s × headroom.
    #[serde(default = "default_headroom")]
    pub headroom: f64,
    /// rate_limit_redis: burst = rate × burst_seconds (default 1).
    #[serde(default)]
    pub burst_seconds: Option<f64>,
    /// rate_limit_redis: how long an override lives before the base limit is back.
    #[serde(default = "default_ttl")]
    pub ttl_minutes: u32,

    // Kubernetes.
    #[serde(default)]
    pub namespace: Option<String>,
    /// k8s_hpa: the HPA; keda: the ScaledObject.
    #[serde(default)]
    pub resource: Option<String>,

    // Webhooks and warm-ups.
    #[serde(default)]
    pub url: Option<String>,
    /// `whsec_<base64 key>`; better given as `PRESCALE_TARGET_<NAME>_SECRET`.
    #[serde(default)]
    pub secret: Option<crate::config::Secret>,
    /// cache_warmup by Pub/Sub: the topic (otherwise `url`, the webhook transport).
    #[serde(default)]
    pub topic: Option<String>,
    #[serde(default)]
    pub keyspace: Option<String>,
    #[serde(default)]
    pub top_n: Option<u64>,
    /// cache_warmup: warm ahead of hours whose expected demand is at least this many times the
    /// forecast's mean.
    #[serde(default = "default_peak_ratio")]
    pub peak_ratio: f64,
    /// Price of one instance-hour (cost reports).
    #[serde(default)]
    pub price_per_instance_hour: Option<f64>,
}

impl Target {
    /// Checks what this kind needs; the error names the target and the field.
    ///
    /// # Errors
    /// A message `target "NAME" (KIND): FIELD ...`.
    pub fn validate(&self) -> Result<(), String> {
        let at = |m: String| format!("target {:?} ({}): {m}", self.name, self.kind.as_str());
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(at("name must be letters, digits, '-', '_' or '.'".into()));
        }
        if !(0.0..=1.0).contains(&self.confidence_threshold) {
            return Err(at(format!(
                "confidence_threshold {} is not in [0, 1]",
                self.confidence_threshold
            )));
        }
        if self.min > self.max {
            return Err(at(format!("min {} is above max {}", self.min, self.max)));
        }
        if let Some(r) = self.requests_per_instance_per_second
            && !(r.is_finite() && r > 0.0)
        {
            return Err(at(format!(
                "requests_per_instance_per_second {r} must be > 0"
            )));
        }
        for s in &self.event_stages {
            if !(s.share.is_finite() && s.share > 0.0) {
                return Err(at(format!("event_stages: share {} must be > 0", s.share)));
            }
        }
        let need = |field: &str, v: &Option<String>| match v {
            Some(s) if !s.is_empty() => Ok(()),
            _ => Err(at(format!("missing field `{field}`"))),
        };
        match self.kind {
            Kind::CloudRun => {
                need("project", &self.project)?;
                need("location", &self.location)?;
                need("service", &self.service)?;
            }
            Kind::CloudFunctions => {
                need("project", &self.project)?;
                need("location", &self.location)?;
                need("function", &self.function)?;
            }
            Kind::Memorystore => {
                need("project", &self.project)?;
                need("location", &self.location)?;
                need("instance", &self.instance)?;
                if self.min == 0 {
                    return Err(at("min must be at least 1 GB".into()));
                }
            }
            Kind::CacheWarmup => {
                if self.topic.is_some() {
                    need("project", &self.project)?;
                } else {
                    need("url (or topic)", &self.url)?;
                }
            }
            Kind::RateLimitRedis => {
                need("route", &self.route)?;
                need("redis_url", &self.redis_url)?;
                let route = self.route.as_deref().unwrap_or_default();
                if route.len() > 128
                    || !route
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
                {
                    return Err(at(format!(
                        "route {route:?} must match [a-z0-9._-]{{1,128}}"
                    )));
                }
            }
            Kind::CloudArmor => {
                need("project", &self.project)?;
                need("policy", &self.policy)?;
                if self.priority.is_none() {
                    return Err(at("missing field `priority`".into()));
                }
                const ALLOWED: [u32; 13] = [
                    10, 30, 60, 120, 180, 240, 300, 600, 900, 1200, 1800, 2700, 3600,
                ];
                if !ALLOWED.contains(&self.interval_sec) {
                    return Err(at(format!(
                        "interval_sec {} is not one of {ALLOWED:?}",
                        self.interval_sec
                    )));
                }
            }
            Kind::K8sHpa | Kind::Keda => {
                need("namespace", &self.namespace)?;
                need("resource", &self.resource)?;
                if self.kind == Kind::K8sHpa && self.min == 0 {
                    return Err(at(
                        "min must be at least 1 (an HPA's minReplicas ≥ 1)".into()
                    ));
                }
            }
            Kind::Webhook => need("url", &self.url)?,
            Kind::Log => {}
        }
        Ok(())
    }

    /// The capacity model the recommendation math uses.
    pub fn capacity(&self) -> Capacity {
        let per = match self.kind {
            // A rate limit's value is requests per second itself.
            Kind::RateLimitRedis | Kind::CloudArmor | Kind::CacheWarmup => {
                1.0 / self.headroom.max(1e-9)
            }
            _ => self.requests_per_instance_per_second.unwrap_or(1.0),
        };
        Capacity {
            requests_per_instance_per_second: per,
            min: self.min,
            max: self.max,
            max_step_up: self.max_step_up.unwrap_or(u32::MAX),
            max_step_down: self.max_step_down.unwrap_or(u32::MAX),
            lead_minutes: self.lead_minutes,
            scale_in_stabilization_minutes: self.scale_in_stabilization_minutes,
            quantile: self.quantile,
            confidence_threshold: self.confidence_threshold,
            event_stages: self.event_stages.clone(),
        }
    }
}

/// `[google]`: where tokens come from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleSettings {
    /// The metadata server (`GCE_METADATA_HOST` overrides it, as Google's libraries do).
    #[serde(default)]
    pub metadata_endpoint: Option<String>,
    /// A literal access token (better: PRESCALE_GCP_ACCESS_TOKEN); never refreshed.
    #[serde(default)]
    pub access_token: Option<crate::config::Secret>,
}

/// `[kubernetes]`: the API server and its credentials (in-cluster paths by default).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSettings {
    /// `https://HOST:PORT`; default from KUBERNETES_SERVICE_HOST / _PORT.
    #[serde(default)]
    pub api_server: Option<String>,
    /// Re-read before every request (projected tokens rotate).
    #[serde(default)]
    pub token_file: Option<std::path::PathBuf>,
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// A kubeconfig file (default: KUBECONFIG outside a cluster, when `api_server` is not set):
    /// its current context's server, CA and token or client certificate.
    #[serde(default)]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// The kubeconfig context to use (default: its current-context).
    #[serde(default)]
    pub context: Option<String>,
}
