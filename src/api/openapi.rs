//! The OpenAPI 3 document served at `/openapi.json`, from the one table of routes that
//! [`router`](super::router) also serves: a route is documented if and only if it is served.
//! Parameters carry the rules their handlers enforce (ranges, choices, formats), and request
//! bodies their fields, so that a client generated from the document sends what the server takes.

use axum::Json;
use serde_json::{Map, Value, json};

/// What a query parameter takes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    Text,
    /// An integer within these bounds.
    Int(i64, i64),
    OneOf(&'static [&'static str]),
    /// An instant, ISO-8601 with an offset.
    Instant,
    /// The start of a whole UTC hour, ISO-8601 with an offset.
    Hour,
    Series,
}

/// A query parameter.
#[derive(Debug, Clone, Copy)]
pub(super) struct Param {
    pub name: &'static str,
    pub required: bool,
    pub kind: Kind,
}

const fn opt(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        required: false,
        kind,
    }
}

const fn req(name: &'static str, kind: Kind) -> Param {
    Param {
        name,
        required: true,
        kind,
    }
}

/// One route: what it does, whether it needs a token, its success status, its query
/// parameters and its request body.
#[derive(Debug, Clone, Copy)]
pub(super) struct Route {
    pub path: &'static str,
    pub method: &'static str,
    pub summary: &'static str,
    pub auth: bool,
    pub status: u16,
    pub query: &'static [Param],
    pub body: Option<fn() -> Value>,
}

/// A read: no token (unless `api.protect_reads`), 200, no parameters.
const fn read(path: &'static str, summary: &'static str) -> Route {
    Route {
        path,
        method: "get",
        summary,
        auth: false,
        status: 200,
        query: &[],
        body: None,
    }
}

/// A write: a token, its body.
const fn write(
    path: &'static str,
    method: &'static str,
    summary: &'static str,
    status: u16,
    body: Option<fn() -> Value>,
) -> Route {
    Route {
        path,
        method,
        summary,
        auth: true,
        status,
        query: &[],
        body,
    }
}

const DECISION: Kind = Kind::OneOf(&["apply", "hold"]);

pub(super) const ROUTES: &[Route] = &[
    read("/healthz", "The process is alive"),
    read(
        "/readyz",
        "Store reachable, migrations done, a champion for every series with a week of history (younger ones listed as pending); 503 names the failed check",
    ),
    read("/metrics", "Prometheus metrics (text format)"),
    read("/openapi.json", "This document"),
    read(
        "/v1/series",
        "Every series with observation count, span and missing hours",
    ),
    write(
        "/v1/series",
        "post",
        "Create a series",
        201,
        Some(series_body),
    ),
    read("/v1/series/{id}", "One series"),
    Route {
        query: &[opt("from", Kind::Instant), opt("to", Kind::Instant)],
        ..read(
            "/v1/series/{id}/observations",
            "Observations in a time range (default: all of them)",
        )
    },
    write(
        "/v1/series/{id}/observations",
        "post",
        "Add observations: a JSON array of {hour, demand[, partial]} or the import CSV (text/csv); all or nothing",
        200,
        Some(observations_body),
    ),
    Route {
        query: &[opt("horizon", Kind::Int(1, 168))],
        ..read(
            "/v1/series/{id}/forecast",
            "Forecast: points {hour, expected, lower80, upper80, lower95, upper95, confidence, doubts (what widened the band: unseen_special_day, event, missing_recent_data, short_history, recent_errors, weather, members_disagree, recent_misses, unlike_last_week, unseen_event, event_in_lags)}",
        )
    },
    Route {
        query: &[
            opt("days", Kind::Int(1, 366)),
            opt("issues", Kind::OneOf(&["all", "daily"])),
        ],
        ..read(
            "/v1/series/{id}/accuracy",
            "Live accuracy of published forecasts (every one, or each local day's first: issues=all|daily; default all within retention.published_days, else daily): MAE, MAPE, MASE, bias, coverage, by lead and hour; the confidence's reliability, calibration error, Brier score, and by doubt (confidence against hit rate of the points naming each)",
        )
    },
    Route {
        query: &[opt("year", Kind::Int(1, 9999))],
        ..read(
            "/v1/series/{id}/holidays",
            "The series' holidays in a year (default: this year): built-in, imported and configured",
        )
    },
    write(
        "/v1/series/{id}/holidays",
        "post",
        "Add custom holidays to the series' calendar; all or nothing",
        201,
        Some(holidays_body),
    ),
    write(
        "/v1/series/{id}/train",
        "post",
        "Start training; answers 202 with the job id",
        202,
        None,
    ),
    read("/v1/jobs/{id}", "A job's status and outcome"),
    Route {
        query: &[req("series", Kind::Series)],
        ..read(
            "/v1/models",
            "Model versions of a series: champion, challengers and why",
        )
    },
    Route {
        query: &[opt("target", Kind::Text), opt("decision", DECISION)],
        ..read(
            "/v1/recommendations",
            "The latest recommendations of every target: hour, needed, value, confidence, decision (apply/hold), reason",
        )
    },
    Route {
        query: &[opt("target", Kind::Text), opt("decision", DECISION)],
        ..read(
            "/v1/series/{id}/recommendations",
            "The latest recommendations of one series' targets",
        )
    },
    Route {
        query: &[opt("weeks", Kind::Int(1, 104))],
        ..read(
            "/v1/series/{id}/patterns",
            "Demand profile by weekday and hour relative to the mean hour, named peaks beside the seed's expectations",
        )
    },
    read(
        "/v1/series/{id}/capacity",
        "Capacity planning: growth over the last 30 days and year over year, projected peaks (week, month, quarter, year; the last two from the same weeks a year before when there is a year of history) per target with cost, headroom, growth phase",
    ),
    Route {
        query: &[
            opt("target", Kind::Text),
            opt("limit", Kind::Int(1, 10_000)),
        ],
        ..read(
            "/v1/actions",
            "The audit trail of scaling actions, newest first",
        )
    },
    Route {
        query: &[opt("series", Kind::Series)],
        ..read(
            "/v1/events",
            "Special events; of one series with ?series=, each with unlike_history: whether it \
             will be more than 1.5 times the attendance of every event before it during which \
             the series' demand was observed (its forecasts then name unseen_event)",
        )
    },
    write(
        "/v1/events",
        "post",
        "Register a special event",
        201,
        Some(event_body),
    ),
    read("/v1/events/{id}", "One event"),
    write(
        "/v1/events/{id}",
        "put",
        "Replace an event (the body's id must be the path's)",
        200,
        Some(event_body),
    ),
    write("/v1/events/{id}", "delete", "Delete an event", 204, None),
    Route {
        query: &[
            req("location", Kind::Text),
            req("from", Kind::Hour),
            req("to", Kind::Hour),
            opt("kind", Kind::OneOf(&["observed", "forecast"])),
            opt("issued_at", Kind::Hour),
        ],
        ..read(
            "/v1/weather",
            "Hourly weather of a location: observed (default), or forecast issued at issued_at",
        )
    },
    write(
        "/v1/weather",
        "post",
        "Add observed or forecast weather",
        204,
        Some(weather_body),
    ),
];

/// A series id: 1-64 characters, parts of `a-z0-9-` joined by `/` (written `%2F` in a path).
fn series_id() -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[a-z0-9-]+(/[a-z0-9-]+)*$" })
}

fn instant() -> Value {
    json!({ "type": "string", "format": "date-time" })
}

/// A whole UTC hour in a body: the instant, or its Unix seconds.
fn hour_field() -> Value {
    json!({ "oneOf": [hour(), { "type": "integer", "multipleOf": 3600 }] })
}

/// A whole UTC hour (offsets of whole hours here; others work where the hour is whole in UTC).
fn hour() -> Value {
    json!({
        "type": "string",
        "format": "date-time",
        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:00:00(\\.0+)?(Z|[+-][0-9]{2}:00)$",
        "description": "the start of a whole UTC hour"
    })
}

/// `schema`, or null (an optional field sent as null is taken as absent). OpenAPI 3.0 wants
/// null among an enum's values too.
fn or_null(mut schema: Value) -> Value {
    schema["nullable"] = json!(true);
    if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut) {
        values.push(Value::Null);
    }
    schema
}

fn schema(kind: Kind) -> Value {
    match kind {
        Kind::Text => json!({ "type": "string" }),
        Kind::Int(lo, hi) => json!({ "type": "integer", "minimum": lo, "maximum": hi }),
        Kind::OneOf(values) => json!({ "type": "string", "enum": values }),
        Kind::Instant => instant(),
        Kind::Hour => hour(),
        Kind::Series => series_id(),
    }
}

/// The `{id}` of a path: a job's number, an event's id, else a series id.
fn path_id(path: &str) -> Value {
    if path.starts_with("/v1/jobs/") {
        json!({ "type": "integer", "format": "int64" })
    } else if path.starts_with("/v1/events/") {
        json!({ "type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._-]+$" })
    } else {
        series_id()
    }
}

fn json_body(schema: Value) -> Value {
    let mut body = json!({ "required": true, "content": { "application/json": {} } });
    body["content"]["application/json"]["schema"] = schema;
    body
}

fn series_body() -> Value {
    let zones: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
    json_body(json!({
        "type": "object",
        "required": ["id"],
        "additionalProperties": false,
        "properties": {
            "id": series_id(),
            "time_zone": or_null(json!({ "type": "string", "enum": zones, "description": "an IANA time zone, e.g. America/Lima" })),
            "calendar": or_null(json!({ "type": "string", "enum": ["pe", "us", "none"] })),
            "tolerance": or_null(json!({ "type": "number", "exclusiveMinimum": true, "minimum": 0, "maximum": 1 })),
            "unit": or_null(json!({ "type": "string" })),
            "weather_location": or_null(json!({ "type": "string" }))
        }
    }))
}

fn observations_body() -> Value {
    json!({
        "required": true,
        "content": {
            "application/json": { "schema": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["hour", "demand"],
                    "additionalProperties": false,
                    "properties": {
                        "hour": instant(),
                        "demand": { "type": "number", "minimum": 0 },
                        "partial": or_null(json!({ "type": "boolean" }))
                    }
                }
            } },
            "text/csv": { "schema": { "type": "string", "description": "a header with timestamp and y, then rows, as prescale import reads them" } }
        }
    })
}

fn holidays_body() -> Value {
    json_body(json!({
        "type": "array",
        "items": {
            "type": "object",
            "required": ["date", "name"],
            "additionalProperties": false,
            "properties": {
                "date": { "type": "string", "format": "date" },
                "name": { "type": "string", "minLength": 1, "pattern": "\\S", "description": "each date once per request" }
            }
        }
    }))
}

fn event_body() -> Value {
    json_body(json!({
        "type": "object",
        "required": ["id", "name", "venue", "starts_at", "ends_at", "expected_attendance", "series"],
        "properties": {
            "id": path_id("/v1/events/"),
            "name": { "type": "string" },
            "venue": { "type": "string" },
            "latitude": { "type": "number", "minimum": -90, "maximum": 90, "nullable": true },
            "longitude": { "type": "number", "minimum": -180, "maximum": 180, "nullable": true },
            "starts_at": instant(),
            "ends_at": { "type": "string", "format": "date-time", "description": "after starts_at (checked by the server)" },
            "expected_attendance": { "type": "integer", "minimum": 0, "maximum": 4_294_967_295_u32 },
            "series": { "type": "array", "items": series_id() }
        }
    }))
}

fn weather_body() -> Value {
    json_body(json!({
        "type": "object",
        "required": ["location", "hours"],
        "additionalProperties": false,
        "properties": {
            "location": { "type": "string", "minLength": 1 },
            "kind": or_null(json!({ "type": "string", "enum": ["observed", "forecast"], "description": "default observed; forecast needs issued_at" })),
            "issued_at": or_null(hour_field()),
            "hours": { "type": "array", "items": {
                "type": "object",
                "required": ["hour", "values"],
                "properties": {
                    "hour": hour_field(),
                    "values": {
                        "type": "object",
                        "description": "variable (1-64 of a-z, 0-9, _) to a finite number, e.g. temp_c, precip_mm",
                        "additionalProperties": { "type": "number" }
                    }
                }
            } }
        }
    }))
}

fn status_text(status: u16) -> &'static str {
    match status {
        201 => "Created",
        202 => "Accepted",
        204 => "No content",
        _ => "OK",
    }
}

pub(super) fn document() -> Value {
    let mut paths = Map::new();
    for r in ROUTES {
        let mut params: Vec<Value> = r
            .query
            .iter()
            .map(|p| json!({ "name": p.name, "in": "query", "required": p.required, "schema": schema(p.kind) }))
            .collect();
        if r.path.contains("{id}") {
            params.push(
                json!({ "name": "id", "in": "path", "required": true, "schema": path_id(r.path) }),
            );
        }
        let error = json!({ "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
        let mut responses = json!({
            r.status.to_string(): { "description": status_text(r.status) },
            "4XX": { "description": "Client error: the message names the field, item or line", "content": error["content"] }
        });
        if r.path == "/readyz" {
            responses["503"] = json!({ "description": "Not ready: names the failed check" });
        }
        let mut op = json!({ "summary": r.summary, "parameters": params, "responses": responses });
        if let Some(body) = r.body {
            op["requestBody"] = body();
        }
        if r.auth {
            op["security"] = json!([{ "bearer": [] }]);
        }
        paths.entry(r.path.to_owned()).or_insert_with(|| json!({}))[r.method] = op;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_once_and_has_a_handler() {
        let doc = document();
        let operations: usize = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|ops| ops.as_object().unwrap().len())
            .sum();
        assert_eq!(operations, ROUTES.len(), "a route is listed twice");
        for r in ROUTES {
            let _ = super::super::handler(r.path, r.method);
            let op = &doc["paths"][r.path][r.method];
            assert!(op["responses"][r.status.to_string()].is_object(), "{op}");
            let ids = op["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|p| p["in"] == "path")
                .count();
            assert_eq!(ids, usize::from(r.path.contains("{id}")), "{}", r.path);
        }
        // A nullable field keeps its own schema: null joins an enum, no enum appears.
        let series = &doc["paths"]["/v1/series"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"]["properties"];
        assert_eq!(
            series["calendar"]["enum"],
            json!(["pe", "us", "none", null])
        );
        assert!(series["unit"].get("enum").is_none(), "{}", series["unit"]);
        let zones = series["time_zone"]["enum"].as_array().unwrap();
        assert!(zones.contains(&json!("America/Lima")) && zones.contains(&Value::Null));
    }

    #[test]
    #[should_panic(expected = "no handler")]
    fn a_route_without_a_handler_is_refused() {
        let _ = super::super::handler("/v1/nowhere", "get");
    }
}
