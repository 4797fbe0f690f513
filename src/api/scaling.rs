//! Scaling routes: the latest recommendations (all, or of one series), the audit trail of
//! actions, and a series' traffic patterns.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{AppPath, AppQuery};
use crate::domain::{Hour, SeriesId};
use crate::store::{ActionRecord, RecommendationRecord};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RecQuery {
    target: Option<String>,
    decision: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct RecBody {
    recommendations: Vec<RecommendationRecord>,
}

/// A `target` query filter, checked before it reaches the database.
fn target(q: Option<&str>) -> Result<Option<&str>, ApiError> {
    if let Some(t) = q {
        crate::domain::check_text("target", t)?;
    }
    Ok(q)
}

fn filter(recs: Vec<RecommendationRecord>, decision: Option<&str>) -> Result<RecBody, ApiError> {
    if let Some(d) = decision
        && d != "apply"
        && d != "hold"
    {
        return Err(ApiError::BadRequest(format!(
            "decision {d:?} is not apply or hold"
        )));
    }
    Ok(RecBody {
        recommendations: recs
            .into_iter()
            .filter(|r| decision.is_none_or(|d| r.decision == d))
            .collect(),
    })
}

pub(super) async fn recommendations(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<RecQuery>,
) -> Result<Json<RecBody>, ApiError> {
    let recs = state
        .store
        .latest_recommendations(None, target(q.target.as_deref())?)
        .await?;
    Ok(Json(filter(recs, q.decision.as_deref())?))
}

pub(super) async fn series_recommendations(
    State(state): State<AppState>,
    AppPath(id): AppPath<SeriesId>,
    AppQuery(q): AppQuery<RecQuery>,
) -> Result<Json<RecBody>, ApiError> {
    if state.store.series(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("series {id} does not exist")));
    }
    let recs = state
        .store
        .latest_recommendations(Some(&id), target(q.target.as_deref())?)
        .await?;
    Ok(Json(filter(recs, q.decision.as_deref())?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ActionsQuery {
    target: Option<String>,
    limit: Option<i64>,
}

pub(super) async fn actions(
    State(state): State<AppState>,
    AppQuery(q): AppQuery<ActionsQuery>,
) -> Result<Json<Vec<ActionRecord>>, ApiError> {
    let limit = q.limit.unwrap_or(100);
    if !(1..=10_000).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit {limit} is outside 1..=10000"
        )));
    }
    Ok(Json(
        state
            .store
            .actions(target(q.target.as_deref())?, limit)
            .await?,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PatternsQuery {
    weeks: Option<i64>,
}

pub(super) async fn patterns(
    State(state): State<AppState>,
    AppPath(id): AppPath<SeriesId>,
    AppQuery(q): AppQuery<PatternsQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let weeks = q.weeks.unwrap_or(8);
    if !(1..=104).contains(&weeks) {
        return Err(ApiError::BadRequest(format!(
            "weeks {weeks} is outside 1..=104"
        )));
    }
    let series = state
        .store
        .series(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("series {id} does not exist")))?;
    let last = state
        .store
        .last_observed_hour(&id)
        .await?
        .ok_or_else(|| ApiError::Conflict(format!("series {id} has no observations yet")))?;
    let from = last.plus(-weeks * 168 + 1);
    let obs = state.store.observations(&id, from, last).await?;
    let events: Vec<(Hour, Hour)> = state
        .store
        .events(Some(&id))
        .await?
        .iter()
        .map(crate::domain::SpecialEvent::hours)
        .collect();
    let tz = series.time_zone.tz();
    let local: Vec<(chrono::NaiveDateTime, f64)> = obs
        .iter()
        .map(|o| {
            (
                o.hour.to_utc().with_timezone(&tz).naive_local(),
                o.demand.get(),
            )
        })
        .collect();
    let p = crate::scaling::patterns::measure(&local, |i| {
        let h = obs[i].hour;
        events.iter().any(|(s, e)| h >= *s && h <= *e)
    });
    Ok(Json(serde_json::json!({
        "series": id,
        "time_zone": series.time_zone,
        "from": from,
        "to": last,
        "patterns": p,
    })))
}

pub(super) async fn capacity(
    State(state): State<AppState>,
    AppPath(id): AppPath<SeriesId>,
) -> Result<Json<crate::analysis::capacity::Plan>, ApiError> {
    if state.store.series(&id).await?.is_none() {
        return Err(ApiError::NotFound(format!("series {id} does not exist")));
    }
    crate::analysis::capacity::plan(&state.store, &state.settings, &id)
        .await
        .map(Json)
        .map_err(|e| ApiError::Conflict(format!("{e:#}")))
}
