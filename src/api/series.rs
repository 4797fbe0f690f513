//! Series: create, list, one; and what is derived from a series: its models and forecast.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{AppJson, AppPath, AppQuery};
use crate::domain::{CalendarName, Series, SeriesId, TimeZone, Tolerance};
use crate::jobs::predict::{Forecast, forecast};
use crate::store::{ModelRecord, SeriesStats};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewSeries {
    id: SeriesId,
    time_zone: Option<TimeZone>,
    calendar: Option<CalendarName>,
    tolerance: Option<Tolerance>,
    unit: Option<String>,
    weather_location: Option<String>,
}

pub(super) async fn series_create(
    State(state): State<AppState>,
    AppJson(new): AppJson<NewSeries>,
) -> Result<(StatusCode, Json<Series>), ApiError> {
    let d = &state.settings.series_defaults;
    let series = Series {
        weather_location: new.weather_location.unwrap_or_else(|| new.id.to_string()),
        id: new.id,
        time_zone: new.time_zone.unwrap_or(d.time_zone),
        calendar: new.calendar.unwrap_or(d.calendar),
        unit: new.unit.unwrap_or_else(|| "requests".to_owned()),
        tolerance: new.tolerance.unwrap_or(d.tolerance),
        created_at: Utc::now(),
    };
    if !state.store.create_series(&series).await? {
        return Err(ApiError::Conflict(format!(
            "series {} already exists",
            series.id
        )));
    }
    Ok((StatusCode::CREATED, Json(series)))
}

pub(super) async fn series_list(
    State(state): State<AppState>,
) -> Result<Json<Vec<SeriesStats>>, ApiError> {
    Ok(Json(state.store.list_series().await?))
}

pub(super) async fn series_get(
    State(state): State<AppState>,
    AppPath(id): AppPath<SeriesId>,
) -> Result<Json<SeriesStats>, ApiError> {
    let all = state.store.list_series().await?;
    all.into_iter()
        .find(|s| s.series.id == id)
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("series {id} does not exist")))
}

#[derive(Debug, Deserialize)]
pub(super) struct ModelsQuery {
    series: SeriesId,
}

pub(super) async fn models_list(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<ModelsQuery>,
) -> Result<Json<Vec<ModelRecord>>, ApiError> {
    if state.store.series(&q.series).await?.is_none() {
        return Err(ApiError::NotFound(format!(
            "series {} does not exist",
            q.series
        )));
    }
    Ok(Json(state.store.models(&q.series).await?))
}

#[derive(Debug, Deserialize)]
pub(super) struct ForecastQuery {
    horizon: Option<usize>,
}

#[derive(Debug, Serialize)]
pub(super) struct ForecastBody {
    #[serde(flatten)]
    forecast: Forecast,
}

pub(super) async fn forecast_get(
    State(state): State<AppState>,
    AppPath(id): AppPath<SeriesId>,
    AppQuery(q): AppQuery<ForecastQuery>,
) -> Result<Json<ForecastBody>, ApiError> {
    let horizon = q.horizon.unwrap_or(24);
    if !(1..=168).contains(&horizon) {
        return Err(ApiError::BadRequest(format!(
            "horizon {horizon} is outside 1..=168"
        )));
    }
    if state.store.series(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("series {id} does not exist")));
    }
    if state.store.champion(&id).await?.is_none() {
        return Err(ApiError::Conflict(format!(
            "series {id} has no model yet: train it first"
        )));
    }
    let f = forecast(&state.store, &state.settings, &id, horizon, None).await?;
    Ok(Json(ForecastBody { forecast: f }))
}
