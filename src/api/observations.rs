//! Observations of a series: add a batch (JSON array or the import CSV), read a time range.
//! A JSON batch goes through the import's own checks (it is turned into the import CSV), so a
//! bad item rejects the whole batch and nothing is written.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use chrono::DateTime;
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{AppPath, AppQuery};
use crate::domain::{Hour, Observation, SeriesId};
use crate::import::{
    ImportFailure, ImportOptions, ImportReport, Resample, import_with, parse_demand_bytes,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Item {
    #[serde(alias = "timestamp")]
    hour: String,
    demand: serde_json::Value,
}

/// A JSON batch as the import CSV; an item's line in it is its index + 2.
fn json_to_csv(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let items: Vec<Item> =
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("body: {e}")))?;
    let mut csv = String::from("timestamp,y\n");
    for (i, item) in items.iter().enumerate() {
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
        csv.push_str(&item.hour);
        csv.push(',');
        csv.push_str(&demand);
        csv.push('\n');
    }
    Ok(csv.into_bytes())
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
    if state.store.series(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!(
            "series {id} does not exist: create it with POST /v1/series"
        )));
    }
    let bytes = if is_csv {
        body.to_vec()
    } else {
        json_to_csv(&body)?
    };
    let d = &state.settings.series_defaults;
    let opts = ImportOptions {
        series: id,
        time_zone: None,
        calendar: None,
        resample: Resample::Sum,
        default_time_zone: d.time_zone,
        default_calendar: d.calendar,
        default_tolerance: d.tolerance,
    };
    let label = if is_csv { "body" } else { "items" };
    let result = import_with(&state.store, &opts, label, |zone, naive| {
        parse_demand_bytes(label, bytes, zone, naive, Resample::Sum)
    })
    .await;
    match result {
        Ok(report) => Ok(Json(report)),
        Err(ImportFailure::Row(e)) if !is_csv => {
            // Name the item and field, not the line of the CSV it was turned into.
            let field = match e.column.as_str() {
                "y" => "demand",
                "timestamp" => "hour",
                other => other,
            };
            Err(ApiError::BadRequest(format!(
                "item {}: field {field:?}: {}",
                e.line.saturating_sub(2),
                e.problem
            )))
        }
        Err(e) => Err(e.into()),
    }
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
) -> Result<Json<Vec<Observation>>, ApiError> {
    if state.store.series(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("series {id} does not exist")));
    }
    let from = parse_hour("from", range.from.as_deref(), -3600 << 28)?;
    let to = parse_hour("to", range.to.as_deref(), 3600 << 28)?;
    Ok(Json(state.store.observations(&id, from, to).await?))
}
