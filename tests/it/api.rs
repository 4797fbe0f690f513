//! The HTTP API, served for real on port 0 against each backend: every route of this version,
//! auth failures, malformed and oversized bodies, observation batches with their validation, a
//! forecast after training.

use std::net::SocketAddr;

use prescale::api::{AppState, serve};
use prescale::config::{Overrides, Secret, Settings};
use prescale::domain::SeriesId;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestDb, on_each_backend, repo_file};

const TOKEN: &str = "test-token-1";

pub(crate) struct TestApp {
    pub(crate) addr: SocketAddr,
    pub(crate) settings: Settings,
    /// The server's forecast cache, as the serving loop in its process reaches it.
    pub(crate) forecasts: std::sync::Arc<prescale::api::ForecastCache>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

pub(crate) async fn spawn_app(db: &TestDb) -> TestApp {
    let mut settings = Settings::load(
        Some(&repo_file("prescale.toml")),
        Vec::new(),
        Overrides::default(),
    )
    .unwrap();
    settings.models_dir = db.path("models");
    settings.api.tokens = vec![Secret::new(TOKEN)];
    settings.api.max_body_bytes = 64 * 1024;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = AppState::new(db.store.clone(), settings.clone());
    let forecasts = state.forecasts.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve(listener, state, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    TestApp {
        addr,
        settings,
        forecasts,
        stop: Some(tx),
        task,
    }
}

/// A response: status, content type, body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) content_type: String,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One HTTP/1.1 request on a fresh connection to `addr`.
pub(crate) async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Reply {
    {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !content_type.is_empty() {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        if let Some(t) = token {
            head.push_str(&format!("Authorization: Bearer {t}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await.unwrap();
        s.write_all(body).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = headers
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let header = |name: &str| {
            headers.lines().find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim().to_owned())
            })
        };
        let body = if header("transfer-encoding").is_some_and(|v| v == "chunked") {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Reply {
            status,
            content_type: header("content-type").unwrap_or_default(),
            body,
        }
    }
}

impl TestApp {
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> Reply {
        request(self.addr, method, path, token, content_type, body).await
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None, "", b"").await
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.call(
            "POST",
            path,
            Some(TOKEN),
            "application/json",
            body.to_string().as_bytes(),
        )
        .await
    }

    pub(crate) async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        let _ = self.task.await;
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// The shipped NASA series (New York time) imported as series `nasa`; its import options.
async fn import_nasa(db: &TestDb) -> prescale::import::ImportOptions {
    let mut opts = crate::import::options("nasa");
    opts.time_zone = Some(prescale::domain::TimeZone::parse("America/New_York").unwrap());
    crate::import::import(
        db,
        &repo_file("datasets/nasa_http_requests_hourly.csv"),
        &opts,
    )
    .await
    .unwrap();
    opts
}

on_each_backend!(health_readiness_and_metrics_answer, |db| {
    let app = spawn_app(&db).await;
    let r = app.get("/healthz").await;
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("ok")));
    assert_eq!(
        app.get("/readyz").await.status,
        200,
        "no series: nothing to be unready about"
    );
    // A series without the week of history training needs cannot have a model yet: pending,
    // still ready.
    app.post_json("/v1/series", &json!({ "id": "trips" })).await;
    let r = app.get("/readyz").await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["pending"], json!(["trips"]));
    // One with the history and no model: not ready.
    import_nasa(&db).await;
    let r = app.get("/readyz").await;
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["failed"], "models");
    assert_eq!(r.json()["series"], json!(["nasa"]));
    assert_eq!(r.json()["pending"], json!(["trips"]));
    let m = app.get("/metrics").await;
    assert!(m.content_type.starts_with("text/plain"));
    assert!(
        m.body.contains(
            "prescale_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"503\"} 1"
        ),
        "{}",
        m.body
    );
    assert!(
        m.body
            .contains("prescale_http_request_duration_seconds_bucket{route=\"/healthz\"")
    );
    let r = app.get("/no/such/route").await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("no such route"))
    );
    app.stop().await;
});

on_each_backend!(writes_need_a_configured_bearer_token, |db| {
    let app = spawn_app(&db).await;
    let body = json!({ "id": "trips", "time_zone": "America/Lima" }).to_string();
    let r = app
        .call(
            "POST",
            "/v1/series",
            None,
            "application/json",
            body.as_bytes(),
        )
        .await;
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (401, Some("missing bearer token"))
    );
    let r = app
        .call(
            "POST",
            "/v1/series",
            Some("wrong"),
            "application/json",
            body.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 403);
    assert!(!r.body.contains(TOKEN));
    let r = app
        .call(
            "POST",
            "/v1/series",
            Some(TOKEN),
            "application/json",
            body.as_bytes(),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["time_zone"], "America/Lima");
    assert_eq!(
        app.post_json("/v1/series", &json!({ "id": "trips" }))
            .await
            .status,
        409
    );
    // Reads are open by default.
    let r = app.get("/v1/series/trips").await;
    assert_eq!(
        (r.status, r.json()["observations"].as_i64()),
        (200, Some(0))
    );
    assert_eq!(
        app.get("/v1/series").await.json().as_array().unwrap().len(),
        1
    );
    assert_eq!(app.get("/v1/series/nope").await.status, 404);
    app.stop().await;
});

on_each_backend!(
    malformed_invalid_and_oversized_bodies_are_refused_in_json,
    |db| {
        let app = spawn_app(&db).await;
        let r = app
            .call(
                "POST",
                "/v1/series",
                Some(TOKEN),
                "application/json",
                b"{\"id\": ",
            )
            .await;
        assert_eq!(r.status, 400);
        assert!(r.json()["error"].is_string());
        let r = app
            .post_json("/v1/series", &json!({ "id": "Bad Id" }))
            .await;
        assert_eq!(r.status, 422);
        assert!(
            r.json()["error"]
                .as_str()
                .unwrap()
                .contains("invalid series id"),
            "{}",
            r.body
        );
        let r = app
            .post_json(
                "/v1/series",
                &json!({ "id": "ok", "time_zone": "Mars/Base" }),
            )
            .await;
        assert_eq!(r.status, 422);
        assert!(r.body.contains("Mars/Base"));
        let big = vec![b' '; 70 * 1024];
        let r = app
            .call("POST", "/v1/series", Some(TOKEN), "application/json", &big)
            .await;
        assert_eq!(r.status, 413, "{}", r.body);
        // The server goes on answering after all that.
        assert_eq!(app.get("/healthz").await.status, 200);
        app.stop().await;
    }
);

on_each_backend!(
    observation_batches_are_checked_whole_and_stored_whole,
    |db| {
        let app = spawn_app(&db).await;
        app.post_json("/v1/series", &json!({ "id": "trips" })).await;
        let ok = json!([
            { "hour": "2026-07-28T00:00:00-05:00", "demand": 120 },
            { "timestamp": "2026-07-28T01:00:00-05:00", "demand": 95.5 }
        ]);
        let r = app.post_json("/v1/series/trips/observations", &ok).await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.json()["inserted"], 2);
        let bad = json!([
            { "hour": "2026-07-28T02:00:00-05:00", "demand": 80 },
            { "hour": "2026-07-28T03:00:00-05:00", "demand": -1 }
        ]);
        let r = app.post_json("/v1/series/trips/observations", &bad).await;
        assert_eq!(r.status, 400);
        assert!(
            r.json()["error"]
                .as_str()
                .unwrap()
                .starts_with("item 1: field \"demand\""),
            "{}",
            r.body
        );
        let r = app
            .post_json(
                "/v1/series/trips/observations",
                &json!([{ "hour": "yesterday", "demand": 1 }]),
            )
            .await;
        assert!(
            r.status == 400
                && r.json()["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("item 0: field \"hour\""),
            "{}",
            r.body
        );
        let r = app
            .post_json(
                "/v1/series/trips/observations",
                &json!([{ "hour": "2026-07-28T04:00:00Z", "demand": "lots" }]),
            )
            .await;
        assert_eq!(r.status, 400);
        let csv = "timestamp,y\n2026-07-28T02:00:00-05:00,80\n2026-07-28T03:00:00-05:00,70\n";
        let r = app
            .call(
                "POST",
                "/v1/series/trips/observations",
                Some(TOKEN),
                "text/csv",
                csv.as_bytes(),
            )
            .await;
        assert_eq!(
            (r.status, r.json()["inserted"].as_u64()),
            (200, Some(2)),
            "{}",
            r.body
        );
        let r = app
            .call(
                "POST",
                "/v1/series/trips/observations",
                Some(TOKEN),
                "text/csv",
                b"timestamp,y\n2026-07-28T09:00:00-05:00,x\n",
            )
            .await;
        assert!(
            r.status == 400
                && r.json()["error"]
                    .as_str()
                    .unwrap()
                    .contains("body:2: column \"y\""),
            "{}",
            r.body
        );
        // Only the good batches are stored.
        let r = app.get("/v1/series/trips/observations?from=2026-07-28T00:00:00-05:00&to=2026-07-28T23:00:00-05:00").await;
        let hours: Vec<_> = r
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["hour"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            hours,
            [
                "2026-07-28T05:00:00Z",
                "2026-07-28T06:00:00Z",
                "2026-07-28T07:00:00Z",
                "2026-07-28T08:00:00Z"
            ]
        );
        assert_eq!(
            app.post_json("/v1/series/nope/observations", &ok)
                .await
                .status,
            404
        );
        assert_eq!(
            app.get("/v1/series/trips/observations?from=noon")
                .await
                .status,
            400
        );
        app.stop().await;
    }
);

on_each_backend!(a_forecast_is_served_after_training, |db| {
    let app = spawn_app(&db).await;
    import_nasa(&db).await;
    let r = app.get("/v1/series/nasa/forecast?horizon=6").await;
    assert_eq!(r.status, 409, "no model yet: {}", r.body);
    let quick = crate::helpers::quick_specs();
    prescale::jobs::retrain::retrain(
        &db.store,
        &app.settings,
        &SeriesId::parse("nasa").unwrap(),
        &quick,
    )
    .await
    .unwrap();
    let r = app.get("/v1/series/nasa/forecast?horizon=6").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    let points = v["points"].as_array().unwrap();
    assert_eq!(points.len(), 6);
    assert_eq!(
        points[0]["hour"], "1995-09-01T04:00:00Z",
        "the hour after the last observation"
    );
    for p in points {
        let n = |k: &str| p[k].as_f64().unwrap();
        assert!(
            n("lower95") <= n("lower80")
                && n("lower80") <= n("expected")
                && n("expected") <= n("upper80")
                && n("upper80") <= n("upper95")
        );
        assert!((0.0..=1.0).contains(&n("confidence")));
    }
    assert_eq!(v["model_version"], 1);
    assert_eq!(
        app.get("/v1/series/nasa/forecast?horizon=0").await.status,
        400
    );
    let models = app.get("/v1/models?series=nasa").await.json();
    assert_eq!(models[0]["status"], "champion");
    assert_eq!(app.get("/v1/models?series=nope").await.status, 404);
    assert_eq!(app.get("/readyz").await.status, 200);
    app.stop().await;
});

on_each_backend!(events_can_be_created_read_replaced_and_deleted, |db| {
    let app = spawn_app(&db).await;
    let event = json!({
        "id": "concierto-2026-03-14", "name": "Concierto", "venue": "Estadio Nacional", "latitude": -12.067, "longitude": -77.034,
        "starts_at": "2026-03-15T01:00:00Z", "ends_at": "2026-03-15T04:30:00Z", "expected_attendance": 80000, "series": ["trips"]
    });
    let r = app.post_json("/v1/events", &event).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(app.post_json("/v1/events", &event).await.status, 409);
    let mut backwards = event.clone();
    backwards["id"] = json!("backwards");
    backwards["ends_at"] = json!("2026-03-14T00:00:00Z");
    let r = app.post_json("/v1/events", &backwards).await;
    assert!(
        r.status == 400 && r.body.contains("not after"),
        "{}",
        r.body
    );
    assert_eq!(
        app.get("/v1/events?series=trips")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        app.get("/v1/events?series=other")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let mut bigger = event.clone();
    bigger["expected_attendance"] = json!(90000);
    let r = app
        .call(
            "PUT",
            "/v1/events/concierto-2026-03-14",
            Some(TOKEN),
            "application/json",
            bigger.to_string().as_bytes(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        app.get("/v1/events/concierto-2026-03-14").await.json()["expected_attendance"],
        90000
    );
    let r = app
        .call(
            "PUT",
            "/v1/events/other-id",
            Some(TOKEN),
            "application/json",
            bigger.to_string().as_bytes(),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        app.call("DELETE", "/v1/events/concierto-2026-03-14", None, "", b"")
            .await
            .status,
        401
    );
    assert_eq!(
        app.call(
            "DELETE",
            "/v1/events/concierto-2026-03-14",
            Some(TOKEN),
            "",
            b""
        )
        .await
        .status,
        204
    );
    assert_eq!(app.get("/v1/events/concierto-2026-03-14").await.status, 404);
    app.stop().await;
});

on_each_backend!(weather_is_stored_observed_or_forecast, |db| {
    let app = spawn_app(&db).await;
    let batch = json!({ "location": "lima", "hours": [
        { "hour": "2026-07-28T00:00:00Z", "values": { "temp_c": 15.5, "precip_mm": 0.0 } },
        { "hour": "2026-07-28T01:00:00Z", "values": { "temp_c": 15.1 } }
    ]});
    assert_eq!(app.post_json("/v1/weather", &batch).await.status, 204);
    let forecast = json!({ "location": "lima", "kind": "forecast", "issued_at": "2026-07-27T12:00:00Z", "hours": [
        { "hour": "2026-07-28T02:00:00Z", "values": { "temp_c": 14.0 } }
    ]});
    assert_eq!(app.post_json("/v1/weather", &forecast).await.status, 204);
    let no_issue = json!({ "location": "lima", "kind": "forecast", "hours": [] });
    let r = app.post_json("/v1/weather", &no_issue).await;
    assert!(
        r.status == 400 && r.body.contains("issued_at"),
        "{}",
        r.body
    );
    let got = app
        .get("/v1/weather?location=lima&from=2026-07-28T00:00:00Z&to=2026-07-28T05:00:00Z")
        .await
        .json();
    assert_eq!(got.as_array().unwrap().len(), 2);
    assert_eq!(got[0]["values"]["precip_mm"], 0.0);
    let f = app.get("/v1/weather?location=lima&from=2026-07-28T00:00:00Z&to=2026-07-28T05:00:00Z&kind=forecast&issued_at=2026-07-28T00:00:00Z").await.json();
    assert_eq!(f[0]["values"]["temp_c"], 14.0);
    app.stop().await;
});

on_each_backend!(training_runs_as_a_job_that_reports_how_it_ended, |db| {
    let app = spawn_app(&db).await;
    let opts = import_nasa(&db).await;
    app.post_json("/v1/series", &json!({ "id": "empty" })).await;
    // Three days of history: too young to train, which a job reports but counts as skipped.
    let mut young = crate::import::options("young");
    young.time_zone = opts.time_zone;
    let three_days: String =
        std::fs::read_to_string(repo_file("datasets/nasa_http_requests_hourly.csv"))
            .unwrap()
            .lines()
            .take(1 + 72)
            .map(|l| format!("{l}\n"))
            .collect();
    crate::import::import(&db, &db.write("young.csv", &three_days), &young)
        .await
        .unwrap();
    let r = app
        .call("POST", "/v1/series/nasa/train", Some(TOKEN), "", b"")
        .await;
    assert_eq!(r.status, 202, "{}", r.body);
    let job = r.json()["job"].as_i64().unwrap();
    let failed = app
        .call("POST", "/v1/series/empty/train", Some(TOKEN), "", b"")
        .await
        .json()["job"]
        .as_i64()
        .unwrap();
    let wait = |id: i64| {
        let app = &app;
        async move {
            for _ in 0..600 {
                let v = app.get(&format!("/v1/jobs/{id}")).await.json();
                if v["status"] != "running" {
                    return v;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("job {id} still running");
        }
    };
    let done = wait(job).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["outcome"]["status"], "champion");
    let bad = wait(failed).await;
    assert_eq!(bad["status"], "failed");
    assert!(
        bad["error"].as_str().unwrap().contains("no observations"),
        "{bad}"
    );
    assert_eq!(app.get("/v1/jobs/999999").await.status, 404);
    let skipped = app
        .call("POST", "/v1/series/young/train", Some(TOKEN), "", b"")
        .await
        .json()["job"]
        .as_i64()
        .unwrap();
    let young_job = wait(skipped).await;
    assert_eq!(young_job["status"], "failed");
    assert!(
        young_job["error"]
            .as_str()
            .unwrap()
            .contains("at least 7 days"),
        "{young_job}"
    );
    let metrics = app.get("/metrics").await.body;
    assert!(
        metrics.contains("prescale_training_runs_total{outcome=\"failed\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("prescale_training_runs_total{outcome=\"skipped\"} 1"),
        "{metrics}"
    );
    assert_eq!(
        app.call("POST", "/v1/series/nope/train", Some(TOKEN), "", b"")
            .await
            .status,
        404
    );
    app.stop().await;
});

on_each_backend!(
    the_openapi_document_lists_only_routes_that_are_served,
    |db| {
        let app = spawn_app(&db).await;
        let doc = app.get("/openapi.json").await.json();
        assert_eq!(doc["openapi"], "3.0.3");
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.len() >= 15, "{}", paths.len());
        for (path, ops) in paths {
            for method in ops.as_object().unwrap().keys() {
                let concrete = path.replace("{id}", "x");
                let r = app
                    .call(
                        &method.to_uppercase(),
                        &concrete,
                        Some(TOKEN),
                        "application/json",
                        b"{}",
                    )
                    .await;
                let unrouted =
                    r.status == 405 || (r.status == 404 && r.body.contains("no such route"));
                assert!(
                    !unrouted,
                    "{method} {path} is in the document but not served: {} {}",
                    r.status, r.body
                );
            }
        }
        app.stop().await;
    }
);

on_each_backend!(reads_can_be_protected_by_configuration, |db| {
    let mut settings = Settings::load(
        Some(&repo_file("prescale.toml")),
        Vec::new(),
        Overrides::default(),
    )
    .unwrap();
    settings.api.tokens = vec![Secret::new(TOKEN)];
    settings.api.protect_reads = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        listener,
        AppState::new(db.store.clone(), settings),
        async {
            let _ = rx.await;
        },
    ));
    assert_eq!(
        request(addr, "GET", "/v1/series", None, "", b"")
            .await
            .status,
        401
    );
    assert_eq!(
        request(addr, "GET", "/v1/series", Some("nope"), "", b"")
            .await
            .status,
        403
    );
    assert_eq!(
        request(addr, "GET", "/v1/series", Some(TOKEN), "", b"")
            .await
            .status,
        200
    );
    assert_eq!(
        request(addr, "GET", "/healthz", None, "", b"").await.status,
        200,
        "probes stay open"
    );
    let _ = tx.send(());
    let _ = task.await;
});

on_each_backend!(
    counts_of_hours_in_progress_are_partial_until_complete,
    |db| {
        let app = spawn_app(&db).await;
        app.post_json("/v1/series", &json!({ "id": "live" })).await;
        let now = prescale::domain::Hour::containing(chrono::Utc::now());
        let (prev, cur) = (now.plus(-1).to_string(), now.to_string());
        let r = app
            .post_json(
                "/v1/series/live/observations",
                &json!([{ "hour": prev, "demand": 100 }, { "hour": cur, "demand": 30 }]),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            (r.json()["inserted"].as_u64(), r.json()["partial"].as_u64()),
            (Some(1), Some(1))
        );
        let path = format!("/v1/series/live/observations?from={prev}&to={cur}");
        let v = app.get(&path).await.json();
        assert_eq!(
            (
                v[0]["partial"].as_bool(),
                v[1]["partial"].as_bool(),
                v[1]["demand"].as_f64()
            ),
            (Some(false), Some(true), Some(30.0))
        );
        // Models see only complete hours.
        let id = SeriesId::parse("live").unwrap();
        assert_eq!(db.store.all_observations(&id).await.unwrap().len(), 1);
        // A later partial count updates it; a partial count never replaces a complete one.
        app.post_json(
            "/v1/series/live/observations",
            &json!([{ "hour": cur, "demand": 55 }, { "hour": prev, "demand": 1, "partial": true }]),
        )
        .await;
        let v = app.get(&path).await.json();
        assert_eq!(
            (v[0]["demand"].as_f64(), v[1]["demand"].as_f64()),
            (Some(100.0), Some(55.0))
        );
        // The running hour's readings are kept as they arrived, for the forecast-miss check;
        // a late partial count of a past hour is not one.
        let readings = db.store.partial_readings(&id, now).await.unwrap();
        assert_eq!(
            readings.iter().map(|r| r.1).collect::<Vec<_>>(),
            vec![30.0, 55.0]
        );
        assert!(readings[0].0 <= readings[1].0);
        assert!(
            db.store
                .partial_readings(&id, now.plus(-1))
                .await
                .unwrap()
                .is_empty()
        );
        // The complete count ends it.
        let r = app
            .post_json(
                "/v1/series/live/observations",
                &json!([{ "hour": cur, "demand": 120, "partial": false }]),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        let v = app.get(&path).await.json();
        assert_eq!(
            (v[1]["partial"].as_bool(), v[1]["demand"].as_f64()),
            (Some(false), Some(120.0))
        );
        assert_eq!(db.store.all_observations(&id).await.unwrap().len(), 2);
        // A bad partial item rejects the batch, complete items included, and names the item.
        let r = app.post_json("/v1/series/live/observations", &json!([{ "hour": now.plus(-5).to_string(), "demand": 7 }, { "hour": cur, "demand": -1, "partial": true }])).await;
        assert!(
            r.status == 400
                && r.json()["error"]
                    .as_str()
                    .unwrap()
                    .starts_with("item 1: field \"demand\""),
            "{}",
            r.body
        );
        assert_eq!(db.store.all_observations(&id).await.unwrap().len(), 2);
        app.stop().await;
    }
);

on_each_backend!(custom_holidays_can_be_posted_and_join_the_calendar, |db| {
    let app = spawn_app(&db).await;
    app.post_json("/v1/series", &json!({ "id": "trips", "calendar": "PE" }))
        .await;
    let r = app
        .post_json(
            "/v1/series/trips/holidays",
            &json!([{ "date": "2026-03-14", "name": "Concierto" }]),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let days = app.get("/v1/series/trips/holidays?year=2026").await.json();
    let dates: Vec<&str> = days
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap())
        .collect();
    assert!(
        dates.contains(&"2026-03-14") && dates.contains(&"2026-07-28"),
        "custom and built-in: {dates:?}"
    );
    let r = app
        .post_json(
            "/v1/series/trips/holidays",
            &json!([{ "date": "2026-05-02", "name": "x" }, { "date": "2026-05-02", "name": "y" }]),
        )
        .await;
    assert!(
        r.status == 400 && r.json()["error"].as_str().unwrap().starts_with("item 1"),
        "{}",
        r.body
    );
    assert_eq!(
        app.post_json(
            "/v1/series/trips/holidays",
            &json!([{ "date": "2026-13-01", "name": "x" }])
        )
        .await
        .status,
        422
    );
    assert_eq!(
        app.post_json("/v1/series/nope/holidays", &json!([]))
            .await
            .status,
        404
    );
    // Years outside 1..=9999, as the document says.
    for year in [0, 10_000] {
        let r = app
            .get(&format!("/v1/series/trips/holidays?year={year}"))
            .await;
        assert_eq!(r.status, 400, "{}", r.body);
        assert!(r.body.contains("outside 1..=9999"), "{}", r.body);
    }
    let doc = app.get("/openapi.json").await.json();
    let year = &doc["paths"]["/v1/series/{id}/holidays"]["get"]["parameters"][0]["schema"];
    assert_eq!(
        (&year["minimum"], &year["maximum"]),
        (&json!(1), &json!(9999))
    );
    app.stop().await;
});

on_each_backend!(a_nul_character_is_a_clear_400_on_both_backends, |db| {
    // PostgreSQL refuses U+0000 in text: each was a 500 there and stored as is in SQLite.
    let app = spawn_app(&db).await;
    app.post_json("/v1/series", &json!({ "id": "trips" })).await;
    let writes = [
        (
            "/v1/series",
            json!({ "id": "other", "unit": "a\u{0}b" }),
            "field unit",
        ),
        (
            "/v1/series/trips/holidays",
            json!([{ "date": "2026-05-05", "name": "a\u{0}" }]),
            "item 0: name",
        ),
        (
            "/v1/weather",
            json!({ "location": "l\u{0}", "hours": [] }),
            "field location",
        ),
        (
            "/v1/events",
            json!({ "id": "e1", "name": "x\u{0}y", "venue": "v", "starts_at": "2026-01-01T00:00:00Z",
                    "ends_at": "2026-01-01T02:00:00Z", "expected_attendance": 10, "series": ["trips"] }),
            "NUL",
        ),
    ];
    for (path, body, names) in writes {
        let r = app.post_json(path, &body).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
        assert!(
            r.body.contains(names) && r.body.contains("U+0000"),
            "{path}: {}",
            r.body
        );
    }
    for path in [
        "/v1/recommendations?target=a%00",
        "/v1/actions?target=a%00",
        "/v1/weather?location=a%00&from=2026-01-01T00:00:00Z&to=2026-01-01T01:00:00Z",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status, 400, "{path}: {}", r.body);
    }
    assert!(
        db.store
            .series(&SeriesId::parse("other").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    app.stop().await;
});
