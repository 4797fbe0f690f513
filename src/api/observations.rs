//! Observations of a series: add a batch (JSON array or the import CSV), read a time range.
//! A JSON batch goes through the import's own checks (it is turned into the import CSV), so a
//! bad item rejects the whole batch and nothing is written. Counts of hours in progress are
//! stored as partial until the complete count replaces them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use chrono::DateTime;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{AppPath, AppQuery};
use crate::domain::{Demand, Hour, Observation, SeriesId};
use crate::import::{
    ImportFailure, ImportOptions, ImportReport, Resample, import_with, parse_demand_bytes,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    #[serde(alias = "timestamp")]
    hour: String,
    demand: serde_json::Value,
    /// The count of an hour not complete yet; by default, true for the current (or a later)
    /// hour. Partial hours are kept apart: models neither train nor forecast on them.
    partial: Option<bool>,
}

/// Items with their index in the request.
type Numbered<'a> = Vec<(usize, &'a Item)>;

/// Items as the import CSV; returns it with each CSV row's item index (row `k` is line `k + 2`).
fn to_csv(items: &[(usize, &Item)]) -> Result<Vec<u8>, ApiError> {
    let mut csv = String::from("timestamp,y\n");
    for (i, item) in items {
        let demand = match &item.demand {
            serde_json::Value::Number(n) => n.to_string(),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "item {i}: field \"demand\": {other} is not a number"
                )));
            }
        };
        if item.hour.contains([',', '\n', '"']) {
            return Err(ApiError::BadRequest(format!(
                "item {i}: field \"hour\": {:?} is not a timestamp",
                item.hour
            )));
        }
        csv.push_str(&format!("{},{demand}\n", item.hour));
    }
    Ok(csv.into_bytes())
}

/// A row error of the CSV made from `items`, named by the item and field it came from.
fn item_error(e: ImportFailure, items: &[(usize, &Item)]) -> ApiError {
    match e {
        ImportFailure::Row(e) => {
            let field = match e.column.as_str() {
                "y" => "demand",
                "timestamp" => "hour",
                other => other,
            };
            let index = items
                .get(e.line.saturating_sub(2) as usize)
                .map_or(0, |(i, _)| *i);
            ApiError::BadRequest(format!("item {index}: field {field:?}: {}", e.problem))
        }
        other => other.into(),
    }
}

fn is_partial(item: &Item, now: Hour) -> bool {
    item.partial.unwrap_or_else(|| {
        DateTime::parse_from_rfc3339(&item.hour).is_ok_and(|t| Hour::containing(t.to_utc()) >= now)
    })
}

pub(super) async fn observations_add(
    State(state): State<AppState>,
    AppPath(id): AppPath<SeriesId>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ImportReport>, ApiError> {
    let is_csv = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/csv"));
    let Some(series) = state.store.series(&id).await? else {
        return Err(ApiError::NotFound(format!(
            "series {id} does not exist: create it with POST /v1/series"
        )));
    };
    let d = &state.settings.series_defaults;
    let opts = ImportOptions {
        series: id.clone(),
        time_zone: None,
        calendar: None,
        resample: Resample::Sum,
        default_time_zone: d.time_zone,
        default_calendar: d.calendar,
        default_tolerance: d.tolerance,
    };
    if is_csv {
        let bytes = body.to_vec();
        let report = import_with(&state.store, &opts, "body", |zone, naive| {
            parse_demand_bytes("body", bytes, zone, naive, Resample::Sum)
        })
        .await?;
        return Ok(Json(report));
    }
    let items: Vec<Item> =
        serde_json::from_slice(&body).map_err(|e| ApiError::BadRequest(format!("body: {e}")))?;
    let now = Hour::containing(chrono::Utc::now());
    let (partial, complete): (Numbered<'_>, Numbered<'_>) = items
        .iter()
        .enumerate()
        .partition(|(_, it)| is_partial(it, now));
    // Check everything before writing anything.
    let partial_csv = to_csv(&partial)?;
    let complete_csv = to_csv(&complete)?;
    let partial_hours = if partial.is_empty() {
        Vec::new()
    } else {
        let parsed =
            parse_demand_bytes("items", partial_csv, series.time_zone, false, Resample::Sum)
                .map_err(|e| item_error(e, &partial))?;
        parsed
            .hours
            .iter()
            .map(|(h, y)| Observation {
                hour: *h,
                demand: Demand::new(*y).expect("parse checked demand"),
            })
            .collect()
    };
    let complete_parsed = if complete.is_empty() {
        None
    } else {
        Some(
            parse_demand_bytes(
                "items",
                complete_csv,
                series.time_zone,
                false,
                Resample::Sum,
            )
            .map_err(|e| item_error(e, &complete))?,
        )
    };
    let report = match complete_parsed {
        Some(parsed) => import_with(&state.store, &opts, "items", |_, _| Ok(parsed))
            .await
            .map_err(|e| item_error(e, &complete))?,
        None => ImportReport::empty(id.clone(), "items"),
    };
    state.store.put_partial(&id, &partial_hours).await?;
    // Readings of the running hour, with when they arrived, feed the forecast-miss check.
    let now_ms = chrono::Utc::now().timestamp_millis();
    for o in partial_hours.iter().filter(|o| o.hour == now) {
        state
            .store
            .put_partial_reading(&id, o.hour, now_ms, o.demand.get())
            .await?;
    }
    Ok(Json(ImportReport {
        partial: partial_hours.len() as u64,
        ..report
    }))
}

#[derive(Debug, Serialize)]
pub(super) struct Marked {
    #[serde(flatten)]
    observation: Observation,
    partial: bool,
}

#[derive(Debug, Deserialize)]
pub(super) struct Range {
    from: Option<String>,
    to: Option<String>,
}

fn parse_hour(field: &str, raw: Option<&str>, default: i64) -> Result<Hour, ApiError> {
    match raw {
        None => Hour::from_unix(default).map_err(ApiError::from),
        Some(r) => DateTime::parse_from_rfc3339(r)
            .map(|t| Hour::containing(t.to_utc()))
            .map_err(|_| {
                ApiError::BadRequest(format!(
                    "query {field}: {r:?} is not an ISO-8601 timestamp with an offset"
                ))
            }),
    }
}

pub(super) async fn observations_list(
    State(state): State<AppState>,
    AppPath(id): AppPath<SeriesId>,
    AppQuery(range): AppQuery<Range>,
) -> Result<Json<Vec<Marked>>, ApiError> {
    if state.store.series(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("series {id} does not exist")));
    }
    let from = parse_hour("from", range.from.as_deref(), -3600 << 28)?;
    let to = parse_hour("to", range.to.as_deref(), 3600 << 28)?;
    let marked = state.store.observations_marked(&id, from, to).await?;
    Ok(Json(
        marked
            .into_iter()
            .map(|(observation, partial)| Marked {
                observation,
                partial,
            })
            .collect(),
    ))
}
