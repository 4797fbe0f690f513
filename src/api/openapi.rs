//! The OpenAPI 3 document served at `/openapi.json`, from one table of the routes. A test calls
//! every route listed here on the real server, so the document cannot list a route that is not
//! served.

use axum::Json;
use serde_json::{Map, Value, json};

/// (path, method, summary, needs a token, query parameters)
pub(super) const ROUTES: &[(&str, &str, &str, bool, &[&str])] = &[
    ("/healthz", "get", "The process is alive", false, &[]),
    (
        "/readyz",
        "get",
        "Store reachable, migrations done, a champion for every series with a week of history (younger ones listed as pending); 503 names the failed check",
        false,
        &[],
    ),
    (
        "/metrics",
        "get",
        "Prometheus metrics (text format)",
        false,
        &[],
    ),
    ("/openapi.json", "get", "This document", false, &[]),
    (
        "/v1/series",
        "get",
        "Every series with observation count, span and missing hours",
        false,
        &[],
    ),
    (
        "/v1/series",
        "post",
        "Create a series: id, time_zone, calendar, tolerance, unit, weather_location",
        true,
        &[],
    ),
    ("/v1/series/{id}", "get", "One series", false, &[]),
    (
        "/v1/series/{id}/observations",
        "get",
        "Observations in a time range",
        false,
        &["from", "to"],
    ),
    (
        "/v1/series/{id}/observations",
        "post",
        "Add observations: a JSON array of {hour, demand} or the import CSV (text/csv); all or nothing",
        true,
        &[],
    ),
    (
        "/v1/series/{id}/forecast",
        "get",
        "Forecast: points {hour, expected, lower80, upper80, lower95, upper95, confidence}",
        false,
        &["horizon"],
    ),
    (
        "/v1/series/{id}/accuracy",
        "get",
        "Live accuracy of published forecasts: MAE, MAPE, MASE, bias, coverage, by lead and hour",
        false,
        &["days"],
    ),
    (
        "/v1/series/{id}/train",
        "post",
        "Start training; answers 202 with the job id",
        true,
        &[],
    ),
    (
        "/v1/jobs/{id}",
        "get",
        "A job's status and outcome",
        false,
        &[],
    ),
    (
        "/v1/models",
        "get",
        "Model versions of a series: champion, challengers and why",
        false,
        &["series"],
    ),
    (
        "/v1/recommendations",
        "get",
        "The latest recommendations of every target: hour, needed, value, confidence, decision (apply/hold), reason",
        false,
        &["target", "decision"],
    ),
    (
        "/v1/series/{id}/recommendations",
        "get",
        "The latest recommendations of one series' targets",
        false,
        &["target", "decision"],
    ),
    (
        "/v1/series/{id}/patterns",
        "get",
        "Demand profile by weekday and hour relative to the mean hour, named peaks beside the seed's expectations",
        false,
        &["weeks"],
    ),
    (
        "/v1/series/{id}/capacity",
        "get",
        "Capacity planning: growth over the last 30 days, projected peaks (week, month, quarter, year) per target with cost, headroom, growth phase",
        false,
        &[],
    ),
    (
        "/v1/actions",
        "get",
        "The audit trail of scaling actions, newest first",
        false,
        &["target", "limit"],
    ),
    (
        "/v1/events",
        "get",
        "Special events (of one series with ?series=)",
        false,
        &["series"],
    ),
    ("/v1/events", "post", "Register a special event", true, &[]),
    ("/v1/events/{id}", "get", "One event", false, &[]),
    ("/v1/events/{id}", "put", "Replace an event", true, &[]),
    ("/v1/events/{id}", "delete", "Delete an event", true, &[]),
    (
        "/v1/weather",
        "get",
        "Hourly weather of a location",
        false,
        &["location", "from", "to", "kind", "issued_at"],
    ),
    (
        "/v1/weather",
        "post",
        "Add observed or forecast weather: {location, kind, issued_at, hours: [{hour, values}]}",
        true,
        &[],
    ),
];

pub(super) fn document() -> Value {
    let mut paths = Map::new();
    for (path, method, summary, auth, query) in ROUTES {
        let mut params: Vec<Value> = query.iter().map(|q| json!({ "name": q, "in": "query", "required": false, "schema": { "type": "string" } })).collect();
        if path.contains("{id}") {
            params.push(json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }));
        }
        let mut op = json!({
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": { "description": "OK" },
                "4XX": { "description": "Client error", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } }
            }
        });
        if *auth {
            op["security"] = json!([{ "bearer": [] }]);
        }
        paths.entry((*path).to_owned()).or_insert_with(|| json!({}))[*method] = op;
    }
    json!({
        "openapi": "3.0.3",
        "info": { "title": "prescale", "version": env!("CARGO_PKG_VERSION"), "description": "Predictive autoscaling: forecasts, observations, models." },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": { "Error": { "type": "object", "properties": { "error": { "type": "string" } }, "required": ["error"] } }
        }
    })
}

pub(super) async fn openapi() -> Json<Value> {
    Json(document())
}
