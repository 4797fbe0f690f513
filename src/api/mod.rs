//! The HTTP API (axum): series, observations, forecasts and models under `/v1`, plus health,
//! readiness and Prometheus metrics. Handlers extract typed input, call the store or the jobs,
//! and return JSON or an [`error::ApiError`]. Writes need a bearer token.

mod error;
mod events;
mod extract;
mod health;
mod jobs;
mod metrics;
mod observations;
mod openapi;
mod scaling;
mod series;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};

pub use error::ApiError;
pub use metrics::Metrics;

use crate::config::Settings;
use crate::store::Store;

/// What every handler can reach; every field is a cheap handle.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    /// Serialized published forecasts of the current hour, by series and horizon.
    pub forecasts: Arc<ForecastCache>,
    /// Background work started by requests (training): waited for on shutdown.
    pub tasks: tokio_util::task::TaskTracker,
    /// Clients and credentials of the actuators.
    pub actuators: Arc<crate::scaling::actuators::Context>,
}

impl AppState {
    pub fn new(store: Store, settings: Settings) -> Self {
        Self {
            store,
            metrics: Arc::default(),
            forecasts: Arc::default(),
            tasks: tokio_util::task::TaskTracker::new(),
            actuators: Arc::new(crate::scaling::actuators::Context::from_settings(&settings)),
            settings: Arc::new(settings),
        }
    }
}

/// The forecast bodies of one hour: a request for a fresh forecast is answered from memory
/// without touching the database. Entries of a past hour are never served. A published body
/// stays for its hour; a computed one (the hour's publication is not out yet) for
/// [`COMPUTED_TTL`] at most, and until this process publishes: between the top of the hour and
/// the publication, polls do not each compute the same forecast again.
#[derive(Debug, Default)]
pub struct ForecastCache {
    entries:
        std::sync::RwLock<std::collections::HashMap<(crate::domain::SeriesId, usize), CacheEntry>>,
}

/// An entry's hour and body, and when a computed one expires.
#[derive(Debug, Clone)]
struct CacheEntry {
    hour: crate::domain::Hour,
    body: axum::body::Bytes,
    expires: Option<Instant>,
}

/// How long a computed forecast is served again: other replicas learn of a publication no later.
pub const COMPUTED_TTL: Duration = Duration::from_secs(60);

impl ForecastCache {
    pub(crate) fn get(
        &self,
        id: &crate::domain::SeriesId,
        horizon: usize,
        hour: crate::domain::Hour,
    ) -> Option<axum::body::Bytes> {
        let map = self.entries.read().expect("cache lock");
        map.get(&(id.clone(), horizon))
            .filter(|e| e.hour == hour && e.expires.is_none_or(|t| Instant::now() < t))
            .map(|e| e.body.clone())
    }

    /// Keeps a published body for its hour.
    pub(crate) fn put(
        &self,
        id: &crate::domain::SeriesId,
        horizon: usize,
        hour: crate::domain::Hour,
        body: axum::body::Bytes,
    ) {
        self.insert(id, horizon, hour, body, None);
    }

    /// Keeps a computed body for `ttl` at most.
    pub(crate) fn put_computed(
        &self,
        id: &crate::domain::SeriesId,
        horizon: usize,
        hour: crate::domain::Hour,
        body: axum::body::Bytes,
        ttl: Duration,
    ) {
        self.insert(id, horizon, hour, body, Some(Instant::now() + ttl));
    }

    fn insert(
        &self,
        id: &crate::domain::SeriesId,
        horizon: usize,
        hour: crate::domain::Hour,
        body: axum::body::Bytes,
        expires: Option<Instant>,
    ) {
        let mut map = self.entries.write().expect("cache lock");
        map.retain(|_, e| e.hour == hour); // drop the past hours'
        map.insert(
            (id.clone(), horizon),
            CacheEntry {
                hour,
                body,
                expires,
            },
        );
    }

    /// Forgets the computed bodies: a publication has come out and answers from now on.
    pub fn drop_computed(&self) {
        self.entries
            .write()
            .expect("cache lock")
            .retain(|_, e| e.expires.is_none());
    }
}

/// Serves the API on `listener` until `stop` resolves, then finishes in-flight requests.
///
/// # Errors
/// When serving fails (the listener breaks).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(stop)
        .await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// The whole API: the routes of the table that `/openapi.json` is made from, each with its
/// handler, so that what is served and what is documented are one list.
pub fn router(state: AppState) -> Router {
    let limit = state.settings.api.max_body_bytes;
    let mut paths: Vec<(&str, MethodRouter<AppState>)> = Vec::new();
    for r in openapi::ROUTES {
        let h = handler(r.path, r.method);
        match paths.iter_mut().find(|(p, _)| *p == r.path) {
            Some((_, m)) => *m = std::mem::take(m).merge(h),
            None => paths.push((r.path, h)),
        }
    }
    let mut router = Router::new();
    for (path, methods) in paths {
        router = router.route(path, methods);
    }
    router
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(state.clone(), authorize))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// The handler of one documented route.
///
/// # Panics
/// When the route table lists a route without a handler here (every test that starts the
/// server would fail).
fn handler(path: &str, method: &str) -> MethodRouter<AppState> {
    use axum::routing::{delete, post, put};
    match (path, method) {
        ("/healthz", "get") => get(health::healthz),
        ("/readyz", "get") => get(health::readyz),
        ("/metrics", "get") => get(health::metrics),
        ("/openapi.json", "get") => get(openapi::openapi),
        ("/v1/series", "get") => get(series::series_list),
        ("/v1/series", "post") => post(series::series_create),
        ("/v1/series/{id}", "get") => get(series::series_get),
        ("/v1/series/{id}/observations", "get") => get(observations::observations_list),
        ("/v1/series/{id}/observations", "post") => post(observations::observations_add),
        ("/v1/series/{id}/forecast", "get") => get(series::forecast_get),
        ("/v1/series/{id}/accuracy", "get") => get(series::accuracy_get),
        ("/v1/series/{id}/holidays", "get") => get(series::holidays_list),
        ("/v1/series/{id}/holidays", "post") => post(series::holidays_add),
        ("/v1/series/{id}/train", "post") => post(jobs::train_start),
        ("/v1/jobs/{id}", "get") => get(jobs::job_get),
        ("/v1/models", "get") => get(series::models_list),
        ("/v1/recommendations", "get") => get(scaling::recommendations),
        ("/v1/series/{id}/recommendations", "get") => get(scaling::series_recommendations),
        ("/v1/series/{id}/patterns", "get") => get(scaling::patterns),
        ("/v1/series/{id}/capacity", "get") => get(scaling::capacity),
        ("/v1/actions", "get") => get(scaling::actions),
        ("/v1/events", "get") => get(events::events_list),
        ("/v1/events", "post") => post(events::events_create),
        ("/v1/events/{id}", "get") => get(events::events_get),
        ("/v1/events/{id}", "put") => put(events::events_put),
        ("/v1/events/{id}", "delete") => delete(events::events_delete),
        ("/v1/weather", "get") => get(events::weather_list),
        ("/v1/weather", "post") => post(events::weather_add),
        other => panic!("the route table lists {other:?}, which has no handler"),
    }
}

/// Writes need `Authorization: Bearer <token>` (reads too with `protect_reads`): missing is 401,
/// a token not configured is 403.
async fn authorize(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let api = &state.settings.api;
    let writes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let open = matches!(
        req.uri().path(),
        "/healthz" | "/readyz" | "/metrics" | "/openapi.json"
    );
    if open || !(writes || api.protect_reads) {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        None => ApiError::Unauthorized.into_response(),
        Some(t)
            if api
                .tokens
                .iter()
                .any(|k| constant_time_eq(k.expose().as_bytes(), t.trim().as_bytes())) =>
        {
            next.run(req).await
        }
        Some(_) => ApiError::Forbidden.into_response(),
    }
}

/// Compares without an early exit, so timing does not tell how much of a token was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Times out slow requests (408) and counts every request by route and status.
async fn observe(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("(unmatched)", MatchedPath::as_str)
        .to_owned();
    let method = req.method().clone();
    let started = Instant::now();
    let timeout = Duration::from_secs(state.settings.api.timeout_seconds.max(1));
    let response = match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::Timeout.into_response(),
    };
    state.metrics.observe_request(
        method.as_str(),
        &route,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_computed_forecast_is_served_until_it_expires_or_a_publication_comes_out() {
        let cache = ForecastCache::default();
        let id = crate::domain::SeriesId::parse("trips").unwrap();
        let hour = crate::domain::Hour::from_unix(3600 * 500_000).unwrap();
        let body = |s: &'static str| axum::body::Bytes::from_static(s.as_bytes());
        cache.put_computed(&id, 24, hour, body("computed"), COMPUTED_TTL);
        assert_eq!(cache.get(&id, 24, hour), Some(body("computed")));
        assert_eq!(cache.get(&id, 6, hour), None);
        assert_eq!(cache.get(&id, 24, hour.plus(1)), None, "another hour");
        cache.drop_computed();
        assert_eq!(cache.get(&id, 24, hour), None, "dropped on publishing");
        cache.put_computed(&id, 24, hour, body("computed"), Duration::ZERO);
        assert_eq!(cache.get(&id, 24, hour), None, "expired");
        cache.put(&id, 24, hour, body("published"));
        cache.drop_computed();
        assert_eq!(cache.get(&id, 24, hour), Some(body("published")));
    }
}
