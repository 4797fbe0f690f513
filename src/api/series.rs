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
    for (field, v) in [
        ("unit", &new.unit),
        ("weather_location", &new.weather_location),
    ] {
        crate::domain::check_text(field, v.as_deref().unwrap_or_default())?;
    }
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
    state
        .store
        .series_stats(&id)
        .await?
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
    /// `published` when served from the serving loop's publication for this hour, `computed`
    /// when forecast on demand.
    source: &'static str,
    #[serde(flatten)]
    forecast: Forecast,
}

/// The latest publication as a forecast, if it was issued for the current hour and covers
/// `horizon` hours.
async fn fresh_published(
    state: &AppState,
    id: &SeriesId,
    horizon: usize,
) -> Result<Option<Forecast>, ApiError> {
    let points = state.store.latest_published(id).await?;
    let now = crate::domain::Hour::containing(Utc::now());
    let Some(first) = points
        .first()
        .filter(|p| p.issued_at == now && points.len() >= horizon)
    else {
        return Ok(None);
    };
    let model = state
        .store
        .models(id)
        .await?
        .into_iter()
        .find(|m| m.version == first.model_version)
        .map_or_else(String::new, |m| m.chosen);
    Ok(Some(Forecast {
        series: id.clone(),
        model_version: first.model_version,
        model,
        issued_at: first.issued_at.to_utc(),
        origin: first.issued_at,
        points: points.iter().take(horizon).map(|p| p.point).collect(),
    }))
}

pub(super) async fn forecast_get(
    State(state): State<AppState>,
    AppPath(id): AppPath<SeriesId>,
    AppQuery(q): AppQuery<ForecastQuery>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let horizon = q.horizon.unwrap_or(24);
    if !(1..=168).contains(&horizon) {
        return Err(ApiError::BadRequest(format!(
            "horizon {horizon} is outside 1..=168"
        )));
    }
    let hour = crate::domain::Hour::containing(Utc::now());
    let json = |bytes: axum::body::Bytes| {
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response()
    };
    if let Some(body) = state.forecasts.get(&id, horizon, hour) {
        return Ok(json(body));
    }
    if state.store.series(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("series {id} does not exist")));
    }
    if state.store.champion(&id).await?.is_none() {
        return Err(ApiError::Conflict(format!(
            "series {id} has no model yet: train it first"
        )));
    }
    if let Some(f) = fresh_published(&state, &id, horizon).await? {
        let body = axum::body::Bytes::from(
            serde_json::to_vec(&ForecastBody {
                source: "published",
                forecast: f,
            })
            .map_err(anyhow::Error::from)?,
        );
        state.forecasts.put(&id, horizon, hour, body.clone());
        return Ok(json(body));
    }
    // Not published for this hour yet (the serving loop publishes a little after its top):
    // computed once, then served from memory for a minute or until this process publishes.
    let f = forecast(&state.store, &state.settings, &id, horizon, None).await?;
    let body = axum::body::Bytes::from(
        serde_json::to_vec(&ForecastBody {
            source: "computed",
            forecast: f,
        })
        .map_err(anyhow::Error::from)?,
    );
    state
        .forecasts
        .put_computed(&id, horizon, hour, body.clone(), super::COMPUTED_TTL);
    Ok(json(body))
}

#[derive(Debug, Deserialize)]
pub(super) struct AccuracyQuery {
    days: Option<i64>,
    /// `all` or `daily` (default: all while retention keeps every forecast of the window).
    issues: Option<crate::store::Issues>,
}

#[derive(Debug, Serialize)]
pub(super) struct AccuracyBody {
    series: SeriesId,
    from: crate::domain::Hour,
    to: crate::domain::Hour,
    /// Which published forecasts were scored.
    issues: crate::store::Issues,
    #[serde(flatten)]
    accuracy: crate::forecast::live::LiveAccuracy,
}

/// Published forecasts of the last `days` days before the latest observation, scored.
pub(super) async fn accuracy_get(
    State(state): State<AppState>,
    AppPath(id): AppPath<SeriesId>,
    AppQuery(q): AppQuery<AccuracyQuery>,
) -> Result<Json<AccuracyBody>, ApiError> {
    let days = q.days.unwrap_or(28);
    if !(1..=366).contains(&days) {
        return Err(ApiError::BadRequest(format!(
            "days {days} is outside 1..=366"
        )));
    }
    let series = state
        .store
        .series(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("series {id} does not exist")))?;
    let Some(to) = state.store.last_observed_hour(&id).await? else {
        return Err(ApiError::Conflict(format!(
            "series {id} has no observations yet"
        )));
    };
    let from = to.plus(1 - 24 * days);
    let obs = state
        .store
        .observations(&id, from.plus(-24 * 7 * 5), to)
        .await?;
    let observed: std::collections::HashMap<_, _> = obs
        .iter()
        .filter(|o| o.hour >= from)
        .map(|o| (o.hour, o.demand.get()))
        .collect();
    let before: std::collections::HashMap<_, _> = obs
        .iter()
        .filter(|o| o.hour < from)
        .map(|o| (o.hour, o.demand.get()))
        .collect();
    let diffs: Vec<f64> = before
        .iter()
        .filter_map(|(h, y)| before.get(&h.plus(-168)).map(|b| (y - b).abs()))
        .collect();
    let scale = (!diffs.is_empty()).then(|| diffs.iter().sum::<f64>() / diffs.len() as f64);
    let issues = q.issues.unwrap_or_else(|| {
        crate::store::Issues::default_for(days, state.settings.retention.published_days.days())
    });
    let published = state
        .store
        .published_scored(&id, series.time_zone, from, to, issues)
        .await?;
    let calendar = state.store.calendar(&series).await?;
    let accuracy = crate::forecast::live::live_accuracy(
        &published,
        &observed,
        &calendar,
        scale,
        series.tolerance.get(),
    );
    Ok(Json(AccuracyBody {
        series: id,
        from,
        to,
        issues,
        accuracy,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewHoliday {
    date: chrono::NaiveDate,
    name: String,
}

/// Adds custom holidays to a series (all or none), on top of its built-in calendar.
pub(super) async fn holidays_add(
    State(state): State<AppState>,
    AppPath(id): AppPath<SeriesId>,
    AppJson(days): AppJson<Vec<NewHoliday>>,
) -> Result<(StatusCode, Json<Vec<crate::domain::Holiday>>), ApiError> {
    if state.store.series(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("series {id} does not exist")));
    }
    let mut out: Vec<crate::domain::Holiday> = Vec::with_capacity(days.len());
    for (i, d) in days.into_iter().enumerate() {
        if d.name.trim().is_empty() {
            return Err(ApiError::BadRequest(format!(
                "item {i}: field \"name\": empty"
            )));
        }
        crate::domain::check_text(&format!("item {i}: name"), &d.name)?;
        if out.iter().any(|h| h.date == d.date) {
            return Err(ApiError::BadRequest(format!(
                "item {i}: field \"date\": {} appears twice",
                d.date
            )));
        }
        out.push(crate::domain::Holiday {
            date: d.date,
            name: d.name,
        });
    }
    state.store.put_custom_holidays(&id, &out, "api").await?;
    Ok((StatusCode::CREATED, Json(out)))
}

#[derive(Debug, Deserialize)]
pub(super) struct YearQuery {
    year: Option<i32>,
}

/// The full calendar of a series for a year: built-in, imported and configured holidays.
pub(super) async fn holidays_list(
    State(state): State<AppState>,
    AppPath(id): AppPath<SeriesId>,
    AppQuery(q): AppQuery<YearQuery>,
) -> Result<Json<Vec<crate::domain::Holiday>>, ApiError> {
    use chrono::Datelike;
    let series = state
        .store
        .series(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("series {id} does not exist")))?;
    let year = q.year.unwrap_or_else(|| Utc::now().year());
    if !(1..=9999).contains(&year) {
        return Err(ApiError::BadRequest(format!(
            "year {year} is outside 1..=9999"
        )));
    }
    let mut custom = state.store.custom_holidays(&id).await?;
    custom.extend(state.settings.holidays_of(&id));
    let calendar = crate::domain::Calendar::new(series.time_zone, series.calendar, custom);
    Ok(Json(calendar.holidays_in(year)))
}
