//! Training on request: `POST /v1/series/{id}/train` starts a job and answers at once with its
//! id; `GET /v1/jobs/{id}` tells how it is going and how it ended.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::AppPath;
use crate::domain::SeriesId;
use crate::store::JobRecord;

pub(super) async fn train_start(
    State(state): State<AppState>,
    AppPath(id): AppPath<SeriesId>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if state.store.series(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("series {id} does not exist")));
    }
    let job = state.store.start_job("train", &id).await?;
    let tasks = state.tasks.clone();
    tasks.spawn(async move { crate::jobs::retrain::run_job(&state, job, &id).await });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "job": job, "status": "running", "url": format!("/v1/jobs/{job}") })),
    ))
}

pub(super) async fn job_get(
    State(state): State<AppState>,
    AppPath(id): AppPath<i64>,
) -> Result<Json<JobRecord>, ApiError> {
    state
        .store
        .job(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("job {id} does not exist")))
}
