//! Training on request: `POST /v1/series/{id}/train` starts a job and answers at once with its
//! id; `GET /v1/jobs/{id}` tells how it is going and how it ended.

use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::AppPath;
use crate::domain::SeriesId;
use crate::forecast::ModelSpec;
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
    tasks.spawn(async move {
        let started = Instant::now();
        let r = crate::jobs::retrain::retrain(
            &state.store,
            &state.settings,
            &id,
            &ModelSpec::candidates(),
        )
        .await;
        let seconds = started.elapsed().as_secs_f64();
        let outcome = match &r {
            Ok(o) => {
                state.metrics.add(
                    "prescale_training_runs_total",
                    "{outcome=\"succeeded\"}",
                    1.0,
                );
                state
                    .metrics
                    .add("prescale_training_seconds_total", "", seconds);
                state.metrics.set(
                    "prescale_model_validation_mae",
                    &format!("{{series=\"{id}\"}}"),
                    o.validation_mae,
                );
                Ok(serde_json::to_value(o).unwrap_or(Value::Null))
            }
            Err(e) => {
                state
                    .metrics
                    .add("prescale_training_runs_total", "{outcome=\"failed\"}", 1.0);
                tracing::warn!(series = %id, error = %format!("{e:#}"), "training failed; the champion is unchanged");
                Err(format!("{e:#}"))
            }
        };
        if let Err(e) = state.store.finish_job(job, outcome, seconds).await {
            tracing::error!(job, error = %e, "recording the end of a job failed");
        }
    });
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
