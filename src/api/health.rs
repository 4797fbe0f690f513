//! `/healthz` (the process answers), `/readyz` (it can serve: store, migrations, models) and
//! `/metrics`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::AppState;

pub(super) async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Ready when the store answers (migrations ran when it opened) and every series with the week
/// of history training needs has a champion model; otherwise 503 naming the check that failed.
/// A younger series cannot have a model yet: it is listed as `pending`, and does not take every
/// replica out of service (a readiness probe failing on all of them) until it has a week.
pub(super) async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if !state.store.ping().await {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "ready": false, "failed": "store", "detail": "the database does not answer" }),
            ),
        );
    }
    // Two queries whatever the number of series: a probe must answer within its timeout.
    let (series, unmodelled) = match tokio::try_join!(
        state.store.all_series(),
        state.store.series_without_champion()
    ) {
        Ok(both) => both,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "ready": false, "failed": "store", "detail": e.to_string() })),
            );
        }
    };
    let (mut without, mut pending) = (Vec::new(), Vec::new());
    for (id, observations) in unmodelled {
        if crate::jobs::retrain::old_enough(observations) {
            without.push(id.to_string());
        } else {
            pending.push(id.to_string());
        }
    }
    if without.is_empty() {
        (
            StatusCode::OK,
            Json(json!({ "ready": true, "series": series.len(), "pending": pending })),
        )
    } else {
        let detail = format!("no champion model for: {}", without.join(", "));
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "ready": false, "failed": "models", "detail": detail, "series": without, "pending": pending }),
            ),
        )
    }
}

pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
