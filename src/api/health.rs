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

/// Ready when the store answers (migrations ran when it opened) and every series has a
/// champion model; otherwise 503 naming the check that failed.
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
    let mut without = Vec::new();
    for s in &series {
        match state.store.champion(&s.series.id).await {
            Ok(Some(_)) => {}
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
            Json(json!({ "ready": true, "series": series.len() })),
        )
    } else {
        let detail = format!("no champion model for: {}", without.join(", "));
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                json!({ "ready": false, "failed": "models", "detail": detail, "series": without }),
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
