//! Special events and weather: what the forecasts take as known about the future.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{AppJson, AppPath, AppQuery};
use crate::domain::{EventId, Hour, SeriesId, SpecialEvent, WeatherHour, WeatherKind};
use crate::store::EventAgainstHistory;

pub(super) async fn events_create(
    State(state): State<AppState>,
    AppJson(event): AppJson<SpecialEvent>,
) -> Result<(StatusCode, Json<SpecialEvent>), ApiError> {
    let event = event.validate()?;
    if state.store.event(&event.id).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "event {} already exists: PUT /v1/events/{} replaces it",
            event.id, event.id
        )));
    }
    state.store.put_events(std::slice::from_ref(&event)).await?;
    Ok((StatusCode::CREATED, Json(event)))
}

#[derive(Debug, Deserialize)]
pub(super) struct EventsQuery {
    series: Option<SeriesId>,
}

/// The events; of one series (`?series=`), each with `unlike_history`: whether it will be unlike
/// the series' history when it starts (its forecasts then name `unseen_event`).
pub(super) async fn events_list(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<EventsQuery>,
) -> Result<Json<Listed>, ApiError> {
    Ok(Json(match &q.series {
        Some(id) => Listed::OfSeries(state.store.events_against_history(id).await?),
        None => Listed::All(state.store.events(None).await?),
    }))
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum Listed {
    All(Vec<SpecialEvent>),
    OfSeries(Vec<EventAgainstHistory>),
}

pub(super) async fn events_get(
    State(state): State<AppState>,
    AppPath(id): AppPath<EventId>,
) -> Result<Json<SpecialEvent>, ApiError> {
    state
        .store
        .event(&id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("event {id} does not exist")))
}

pub(super) async fn events_put(
    State(state): State<AppState>,
    AppPath(id): AppPath<EventId>,
    AppJson(event): AppJson<SpecialEvent>,
) -> Result<Json<SpecialEvent>, ApiError> {
    if event.id != id {
        return Err(ApiError::BadRequest(format!(
            "field id: {} differs from the path's {id}",
            event.id
        )));
    }
    let event = event.validate()?;
    state.store.put_events(std::slice::from_ref(&event)).await?;
    Ok(Json(event))
}

pub(super) async fn events_delete(
    State(state): State<AppState>,
    AppPath(id): AppPath<EventId>,
) -> Result<StatusCode, ApiError> {
    if state.store.delete_event(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(format!("event {id} does not exist")))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WeatherBatch {
    location: String,
    /// `observed` (default) or `forecast`, with `issued_at`.
    kind: Option<String>,
    issued_at: Option<Hour>,
    hours: Vec<WeatherHour>,
}

fn kind(raw: Option<&str>, issued: Option<Hour>) -> Result<WeatherKind, ApiError> {
    match (raw.unwrap_or("observed"), issued) {
        ("observed", _) => Ok(WeatherKind::Observed),
        ("forecast", Some(issued)) => Ok(WeatherKind::Forecast { issued }),
        ("forecast", None) => Err(ApiError::BadRequest(
            "field issued_at: a forecast needs the hour it was issued".into(),
        )),
        (other, _) => Err(ApiError::BadRequest(format!(
            "field kind: {other:?} is not observed or forecast"
        ))),
    }
}

pub(super) async fn weather_add(
    State(state): State<AppState>,
    AppJson(batch): AppJson<WeatherBatch>,
) -> Result<StatusCode, ApiError> {
    if batch.location.is_empty() {
        return Err(ApiError::BadRequest("field location: empty".into()));
    }
    crate::domain::check_text("location", &batch.location)?;
    let k = kind(batch.kind.as_deref(), batch.issued_at)?;
    if let Some((i, (var, v))) = batch.hours.iter().enumerate().find_map(|(i, h)| {
        h.values
            .iter()
            .find(|(_, v)| !v.is_finite())
            .map(|x| (i, x))
    }) {
        return Err(ApiError::BadRequest(format!(
            "hours[{i}].values.{var}: {v} is not a finite number"
        )));
    }
    state
        .store
        .put_weather(&batch.location, k, &batch.hours)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub(super) struct WeatherQuery {
    location: String,
    from: Hour,
    to: Hour,
    kind: Option<String>,
    issued_at: Option<Hour>,
}

pub(super) async fn weather_list(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<WeatherQuery>,
) -> Result<Json<Vec<WeatherHour>>, ApiError> {
    crate::domain::check_text("location", &q.location)?;
    let k = kind(q.kind.as_deref(), q.issued_at)?;
    Ok(Json(
        state.store.weather(&q.location, q.from, q.to, k).await?,
    ))
}
