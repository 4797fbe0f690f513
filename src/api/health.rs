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
    let series = match state.store.list_series().await {
        Ok(s) => s,
        Err(e) => {
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "ready": false, "failed": "store", "detail": e.to_string() })),
            );
        }
    };
    let (mut without, mut pending) = (Vec::new(), Vec::new());
    for s in &series {
        match state.store.champion(&s.series.id).await {
            Ok(Some(_)) => {}
            Ok(None) if !crate::jobs::retrain::old_enough(s) => {
                pending.push(s.series.id.to_string());
            }
            Ok(None) => without.push(s.series.id.to_string()),
            Err(e) => {
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({ "ready": false, "failed": "store", "detail": e.to_string() })),
                );
            }
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
