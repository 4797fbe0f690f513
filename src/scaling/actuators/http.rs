//! One HTTP exchange and the retry rules shared by every actuator (ACTUATORS.md 1.3, 1.5):
//! errors parsed from Google's `google.rpc.Status` or Kubernetes' `Status`, exponential backoff
//! with full jitter, `Retry-After` and `RetryInfo.retryDelay` honoured, and a bounded number of
//! attempts.

use std::time::Duration;

use serde_json::Value;

/// A request as recorded in the audit trail (no credentials).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Sent {
    pub method: String,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// What went wrong, with what the server said.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ActuatorError {
    /// The server answered with an error: HTTP status, canonical status name when given
    /// (`ABORTED`, `FAILED_PRECONDITION`, ...; Kubernetes: its `reason`), the message.
    #[error("{http} {}: {message}", status.as_deref().unwrap_or("error"))]
    Api {
        http: u16,
        status: Option<String>,
        message: String,
        /// Wait at least this long before a retry (Retry-After or RetryInfo).
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused, reset, timed out.
    #[error("transport: {0}")]
    Transport(String),
    /// A long-running operation finished with an error (numeric canonical code).
    #[error("operation failed (code {code}): {message}")]
    Operation { code: i64, message: String },
    /// The answer did not make sense, or the change did not take.
    #[error("{0}")]
    Invalid(String),
    /// Attempts or the deadline ran out; the last error.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        attempts: u32,
        last: Box<ActuatorError>,
    },
}

impl ActuatorError {
    /// The HTTP status, when there was one.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Self::Api { http, .. } => Some(*http),
            Self::GaveUp { last, .. } => last.http_status(),
            _ => None,
        }
    }

    /// The canonical status name (Google) or reason (Kubernetes).
    pub fn status(&self) -> Option<&str> {
        match self {
            Self::Api { status, .. } => status.as_deref(),
            Self::GaveUp { last, .. } => last.status(),
            _ => None,
        }
    }

    /// Worth another attempt: transport errors, 408, 429, 500, 502, 503, 504. Callers add
    /// their API's own cases (`ABORTED` after a fresh read, a busy `FAILED_PRECONDITION`).
    pub fn transient(&self) -> bool {
        match self {
            Self::Transport(_) => true,
            Self::Api { http, .. } => matches!(http, 408 | 429 | 500 | 502 | 503 | 504),
            _ => false,
        }
    }
}

/// Backoff: `initial` doubling up to `cap`, full jitter, at most `attempts` tries and no retry
/// that would start after `deadline`.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub initial: Duration,
    pub cap: Duration,
    pub attempts: u32,
    pub deadline: Duration,
}

impl RetryPolicy {
    /// Google APIs (ACTUATORS.md 1.5): 1 s, ×2, cap 32 s, 6 attempts.
    pub fn google(deadline: Duration) -> Self {
        Self {
            initial: Duration::from_secs(1),
            cap: Duration::from_secs(32),
            attempts: 6,
            deadline,
        }
    }

    /// Webhooks (section 8): 1 s, ×2, cap 60 s, give up after 15 minutes.
    pub fn webhook() -> Self {
        Self {
            initial: Duration::from_secs(1),
            cap: Duration::from_secs(60),
            attempts: 20,
            deadline: Duration::from_secs(15 * 60),
        }
    }

    /// Same shape, every backoff wait divided by `factor` (tests). The deadline stays: a
    /// server's `Retry-After` is honoured as it is.
    pub fn scaled(self, factor: u32) -> Self {
        let f = factor.max(1);
        Self {
            initial: self.initial / f,
            cap: self.cap / f,
            ..self
        }
    }

    /// The wait before attempt `n + 1` (n from 1): full jitter in `[0, min(cap, initial·2^(n-1))]`,
    /// but never less than the server's hint.
    pub fn wait(&self, n: u32, hint: Option<Duration>) -> Duration {
        let exp = self
            .initial
            .saturating_mul(1 << (n.saturating_sub(1)).min(20));
        let ceiling = exp.min(self.cap);
        let jittered = ceiling.mul_f64(jitter());
        jittered.max(hint.unwrap_or_default())
    }
}

/// A number in [0, 1) from the clock (jitter only needs to differ between processes).
fn jitter() -> f64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = STATE.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed) ^ seed;
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Runs `attempt` until it succeeds, fails for good (`retry` says no), or the policy runs out.
/// `retry` sees each error and may do work first (a fresh read); it returns whether to go on.
pub async fn retrying<T, F, Fut, R, RFut>(
    policy: RetryPolicy,
    mut attempt: F,
    mut retry: R,
) -> Result<T, ActuatorError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, ActuatorError>>,
    R: FnMut(&ActuatorError) -> RFut,
    RFut: Future<Output = bool>,
{
    let started = tokio::time::Instant::now();
    let mut n = 0;
    loop {
        n += 1;
        let err = match attempt(n).await {
            Ok(v) => return Ok(v),
            Err(e) => e,
        };
        let hint = match &err {
            ActuatorError::Api { retry_after, .. } => *retry_after,
            _ => None,
        };
        let wait = policy.wait(n, hint);
        if n >= policy.attempts || started.elapsed() + wait > policy.deadline {
            return Err(if n > 1 {
                ActuatorError::GaveUp {
                    attempts: n,
                    last: Box::new(err),
                }
            } else {
                err
            });
        }
        if !retry(&err).await {
            return Err(err);
        }
        tracing::debug!(attempt = n, error = %err, ?wait, "retrying");
        tokio::time::sleep(wait).await;
    }
}

/// The body of a response, as JSON (an empty body is `null`).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// Sends one request; a non-2xx answer becomes [`ActuatorError::Api`] with the error parsed.
///
/// # Errors
/// Transport failures and error answers.
pub async fn send(req: reqwest::RequestBuilder) -> Result<Answer, ActuatorError> {
    let resp = req
        .send()
        .await
        .map_err(|e| ActuatorError::Transport(without_url(&e)))?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_retry_after);
    let text = resp
        .text()
        .await
        .map_err(|e| ActuatorError::Transport(without_url(&e)))?;
    let body: Value = if text.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text.clone()))
    };
    if (200..300).contains(&status) {
        return Ok(Answer { status, body });
    }
    Err(parse_error(status, &body, retry_after))
}

fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(src) = std::error::Error::source(e) {
        s = format!("{s}: {src}");
    }
    s
}

/// Retry-After as seconds (an HTTP date is read as "a second").
fn parse_retry_after(v: &str) -> Option<Duration> {
    match v.trim().parse::<u64>() {
        Ok(s) => Some(Duration::from_secs(s)),
        Err(_) => Some(Duration::from_secs(1)),
    }
}

/// `"2s"`, `"0.5s"` → a duration.
pub fn parse_duration(v: &str) -> Option<Duration> {
    let secs: f64 = v.strip_suffix('s')?.parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// Google `{"error": {code, message, status, details}}`, Compute's `errors[]`, Kubernetes'
/// `Status` (`reason`), or plain text.
fn parse_error(http: u16, body: &Value, retry_after: Option<Duration>) -> ActuatorError {
    let google = body.get("error");
    let (status, message, hint) = if let Some(e) = google.filter(|e| e.is_object()) {
        let status = e
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| {
                e.pointer("/errors/0/reason")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        let hint = e
            .get("details")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|d| {
                d.get("@type").and_then(Value::as_str)
                    == Some("type.googleapis.com/google.rpc.RetryInfo")
            })
            .and_then(|d| d.get("retryDelay").and_then(Value::as_str))
            .and_then(parse_duration);
        let message = e
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        (status, message, hint)
    } else if body.get("kind").and_then(Value::as_str) == Some("Status") {
        (
            body.get("reason")
                .and_then(Value::as_str)
                .map(str::to_owned),
            body.get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            None,
        )
    } else {
        let text = match body {
            Value::String(s) => s.chars().take(300).collect(),
            Value::Null => String::new(),
            other => other.to_string().chars().take(300).collect(),
        };
        (None, text, None)
    };
    ActuatorError::Api {
        http,
        status,
        message,
        retry_after: match (retry_after, hint) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn google_errors_are_read_by_status_name_and_retry_hint() {
        let body = serde_json::json!({"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"}]}});
        let e = parse_error(429, &body, Some(Duration::from_secs(1)));
        assert_eq!(e.status(), Some("RESOURCE_EXHAUSTED"));
        assert!(e.transient());
        match e {
            ActuatorError::Api { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(2)));
            }
            other => panic!("{other:?}"),
        }
        let k8s = serde_json::json!({"kind": "Status", "status": "Failure", "reason": "Conflict", "message": "modified", "code": 409});
        let e = parse_error(409, &k8s, None);
        assert_eq!(e.status(), Some("Conflict"));
        assert!(!e.transient());
        let compute = serde_json::json!({"error": {"code": 400, "message": "Invalid value", "errors": [{"reason": "invalid"}]}});
        assert_eq!(parse_error(400, &compute, None).status(), Some("invalid"));
    }

    #[test]
    fn backoff_doubles_to_the_cap_with_jitter_and_honours_hints() {
        let p = RetryPolicy::google(Duration::from_secs(300));
        for n in 1..10 {
            let w = p.wait(n, None);
            let ceiling = Duration::from_secs(1 << (n - 1).min(5));
            assert!(w <= ceiling.min(Duration::from_secs(32)), "{n}: {w:?}");
        }
        assert!(p.wait(1, Some(Duration::from_secs(5))) >= Duration::from_secs(5));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("x"), None);
    }
}
