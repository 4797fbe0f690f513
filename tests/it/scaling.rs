//! Scaling end to end: a shipped dataset imported and trained, `prescale tick` publishing and
//! recommending, the PATCH arriving at the local Cloud Run server only for the target whose
//! threshold the confidence reaches, a `hold` recorded for the other, nothing at all sent for a
//! dry-run target, then `prescale rollback` restoring the previous value. And the forecast-miss
//! safety net: partial counts above the upper bound scale up at once and lower confidence.

use std::path::Path;
use std::process::{Command, Output};

use prescale::config::{Overrides, Settings};
use prescale::domain::{Hour, SeriesId, TimeZone};
use prescale::jobs::retrain;

use crate::fakes::google::{FakeGoogle, PROJECT, REGION};
use crate::helpers::{TestDb, on_each_backend, repo_file};
use crate::import::{import, options};

/// Runs the binary off the test's runtime thread, so the fakes it calls keep answering.
async fn prescale(dir: &Path, db: &TestDb, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_prescale"));
    cmd.arg("--config")
        .arg(dir.join("prescale.toml"))
        .arg("--database-url")
        .arg(db.url.as_str())
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("GCE_METADATA_HOST")
        .env_remove("PRESCALE_GCP_ACCESS_TOKEN");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run prescale"))
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "prescale {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cloud_run_target(name: &str, service: &str, threshold: f64, apply: bool, url: &str) -> String {
    format!(
        r#"
[[targets]]
name = "{name}"
kind = "cloud_run"
series = "matching"
project = "{PROJECT}"
location = "{REGION}"
service = "{service}"
endpoint = "{url}"
apply = {apply}
confidence_threshold = {threshold}
requests_per_instance_per_second = 0.05
min = 2
max = 500
lead_minutes = 10
"#
    )
}

/// The settings of `dir/prescale.toml`, with models under `dir/models`.
fn settings_in(dir: &Path) -> Settings {
    let mut settings = Settings::load(
        Some(&dir.join("prescale.toml")),
        Vec::new(),
        Overrides::default(),
    )
    .unwrap();
    settings.models_dir = dir.join("models");
    settings
}

/// NASA's shipped series as `matching`, trained; returns the hour after its last observation.
async fn trained(db: &TestDb, dir: &Path) -> (Settings, Hour) {
    let mut opts = options("matching");
    opts.time_zone = Some(TimeZone::parse("America/New_York").unwrap());
    import(
        db,
        &repo_file("datasets/nasa_http_requests_hourly.csv"),
        &opts,
    )
    .await
    .unwrap();
    let settings = settings_in(dir);
    let id = SeriesId::parse("matching").unwrap();
    retrain::retrain(&db.store, &settings, &id, &crate::helpers::quick_specs())
        .await
        .unwrap();
    let last = db.store.list_series().await.unwrap()[0].last_hour.unwrap();
    (settings, last.plus(1))
}

/// One scaling cycle of `id` at `now`, the next cycle an hour later.
async fn cycle(
    db: &TestDb,
    settings: &Settings,
    ctx: &prescale::scaling::actuators::Context,
    id: &SeriesId,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<prescale::scaling::cycle::TargetOutcome> {
    prescale::scaling::cycle::run(
        &db.store,
        settings,
        ctx,
        std::slice::from_ref(id),
        now,
        chrono::Duration::hours(1),
    )
    .await
    .unwrap()
}

/// The safety net's check of `id` for `hour`.
async fn check(
    db: &TestDb,
    settings: &Settings,
    ctx: &prescale::scaling::actuators::Context,
    id: &SeriesId,
    hour: Hour,
    metrics: Option<&prescale::api::Metrics>,
) -> Option<prescale::scaling::safety::Response> {
    prescale::scaling::safety::check_series(&db.store, settings, ctx, id, hour, metrics)
        .await
        .unwrap()
}

on_each_backend!(
    tick_applies_above_the_threshold_holds_below_it_and_rollback_restores,
    |db| {
        let g = FakeGoogle::start().await;
        for s in ["matching", "trips", "payments"] {
            g.add_service(s, 2, Some(500));
        }
        let dir = db.dir.path().to_path_buf();
        let head = format!(
            "models_dir = \"models\"\n[google]\nmetadata_endpoint = \"{}\"\n",
            g.url
        );
        std::fs::write(dir.join("prescale.toml"), &head).unwrap();
        let (_, at) = trained(&db, &dir).await;
        let at_s = at.to_string();

        // A first tick without targets publishes; the due hour is the next one (the cycle runs at
        // the hour's start + minute_offset, the change lands lead_minutes before the hour after).
        prescale(&dir, &db, &["tick", "--at", &at_s]).await;
        assert_eq!(g.mutations(), 0, "no targets, nothing sent");
        let id = SeriesId::parse("matching").unwrap();
        let published = db.store.latest_published(&id).await.unwrap();
        let due = published
            .iter()
            .find(|p| p.point.hour == at.plus(1))
            .unwrap()
            .point;
        let c = due.confidence;
        assert!(c > 0.0 && c < 1.0, "{c}");

        // hot: threshold = the confidence (applies); cold: just above it (holds); dry: apply=false.
        let config = head
            + &cloud_run_target("hot", "matching", c, true, &g.url)
            + &cloud_run_target("cold", "trips", (c + 1e-6).min(1.0), true, &g.url)
            + &cloud_run_target("dry", "payments", 0.0, false, &g.url);
        std::fs::write(dir.join("prescale.toml"), config).unwrap();
        let out = prescale(&dir, &db, &["tick", "--at", &at_s, "--json"]).await;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let by = |name: &str| {
            v["scaling"]
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["target"] == name)
                .unwrap()
                .clone()
        };
        let (hot, cold, dry) = (by("hot"), by("cold"), by("dry"));
        // The tick prunes by its own clock: nothing here is old enough.
        assert_eq!(v["pruned"]["published"], 0, "{v}");
        assert_eq!(
            (hot["decision"].as_str(), hot["status"].as_str()),
            (Some("apply"), Some("applied")),
            "{hot}"
        );
        let rec = db
            .store
            .latest_recommendations(Some(&id), Some("hot"))
            .await
            .unwrap();
        let rec = rec.iter().find(|r| r.hour == at.plus(1)).unwrap();
        assert_eq!(
            rec.needed as f64,
            (due.upper80 / 3600.0 / 0.05).ceil(),
            "instances for the upper 80% bound"
        );
        // What is set: the need, or the reactive floor (the last observed hour's need) if higher.
        let last_obs = db
            .store
            .observations(&id, at.plus(-1), at.plus(-1))
            .await
            .unwrap()[0]
            .demand
            .get();
        let floor = (last_obs / 3600.0 / 0.05).ceil();
        let expected = (rec.needed as f64).max(floor).clamp(2.0, 500.0);
        assert_eq!(rec.value as f64, expected);
        assert_eq!(hot["value"].as_f64(), Some(expected));
        // The command shows it at the series' local hour, with its decision.
        let tz = db.store.series(&id).await.unwrap().unwrap().time_zone;
        let local = at
            .plus(1)
            .to_utc()
            .with_timezone(&tz.tz())
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string();
        let out = prescale(&dir, &db, &["recommendations", "--target", "hot"]).await;
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.starts_with("TARGET"), "{text}");
        let line = text
            .lines()
            .find(|l| l.contains(&local))
            .unwrap_or_else(|| panic!("{local} in\n{text}"));
        assert!(
            line.starts_with("hot ")
                && line.contains(&format!(" {expected} "))
                && line.contains("apply"),
            "{line}"
        );
        assert_eq!(hot["hour"], serde_json::json!(at.plus(1)));
        assert_eq!(
            (cold["decision"].as_str(), cold["status"].as_str()),
            (Some("hold"), Some("held")),
            "{cold}"
        );
        assert!(
            cold["reason"]
                .as_str()
                .unwrap()
                .contains("below the threshold")
        );
        assert_eq!(dry["status"], "dry_run");

        let patches = g.requests("PATCH", "/services/");
        assert_eq!(
            patches.len(),
            1,
            "only the target whose threshold the confidence reaches"
        );
        assert!(patches[0].path.ends_with("/services/matching"));
        assert_eq!(
            patches[0].body,
            serde_json::json!({"scaling": {"minInstanceCount": expected as u64}})
        );
        assert!(
            g.requests("GET", "/services/payments").is_empty()
                && g.requests("PATCH", "/services/payments").is_empty(),
            "a dry-run target is never called"
        );
        assert_eq!(
            g.lock().services[&FakeGoogle::service_name("matching")]["scaling"]["minInstanceCount"],
            expected as u64
        );

        // Recommendations are published for every hour, with the hold and its reason.
        let recs = db
            .store
            .latest_recommendations(None, Some("cold"))
            .await
            .unwrap();
        assert_eq!(recs.len(), published.len());
        let r = recs.iter().find(|r| r.hour == at.plus(1)).unwrap();
        assert_eq!(r.decision, "hold");
        let actions = db.store.actions(None, 10).await.unwrap();
        let applied = actions.iter().find(|a| a.target == "hot").unwrap();
        assert_eq!(applied.status, "applied");
        assert_eq!(
            applied.before,
            Some(serde_json::json!({"minInstanceCount": 2, "maxInstanceCount": 500}))
        );
        assert_eq!(applied.http_status, Some(200));
        assert!((applied.confidence.unwrap() - c).abs() < 1e-12);
        assert!(
            actions.iter().all(|a| a.target != "cold"),
            "a hold attempts nothing"
        );

        // The scaler's view over HTTP.
        let app = crate::api::spawn_app(&db).await;
        let v = app.get("/v1/recommendations?decision=hold").await.json();
        let holds = v["recommendations"].as_array().unwrap();
        assert!(!holds.is_empty() && holds.iter().all(|r| r["decision"] == "hold"));
        assert!(
            holds
                .iter()
                .any(|r| r["target"] == "cold" && r["hour"] == serde_json::json!(at.plus(1)))
        );
        let v = app
            .get("/v1/series/matching/recommendations?target=hot")
            .await
            .json();
        let hot_recs = v["recommendations"].as_array().unwrap();
        assert_eq!(hot_recs.len(), published.len());
        let r1 = hot_recs
            .iter()
            .find(|r| r["hour"] == serde_json::json!(at.plus(1)))
            .unwrap();
        assert_eq!(r1["value"].as_f64(), Some(expected));
        assert!(r1["apply_at"].is_string() && r1["reason"] == "forecast");
        assert_eq!(
            app.get("/v1/recommendations?decision=maybe").await.status,
            400
        );
        assert_eq!(app.get("/v1/series/nope/recommendations").await.status, 404);
        let v = app.get("/v1/actions?target=hot").await.json();
        assert_eq!(v[0]["status"], "applied");
        let v = app.get("/v1/series/matching/patterns?weeks=4").await.json();
        let peaks = v["patterns"]["peaks"].as_array().unwrap();
        assert_eq!(
            peaks
                .iter()
                .map(|p| p["name"].as_str().unwrap())
                .collect::<Vec<_>>(),
            ["morning", "evening", "weekend_nights", "events"]
        );
        assert_eq!(peaks[0]["seed_expected"], 3.5);
        assert!(peaks[0]["measured"].as_f64().unwrap() > 0.0);
        assert_eq!(v["patterns"]["profile"].as_array().unwrap().len(), 7);
        assert_eq!(v["patterns"]["hours_used"], 4 * 168);
        app.stop().await;

        // Rollback restores the previous value, and is itself recorded.
        let out = prescale(&dir, &db, &["rollback", "--target", "hot"]).await;
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("rolls back"),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let svc = g.lock().services[&FakeGoogle::service_name("matching")].clone();
        assert_eq!(svc["scaling"]["minInstanceCount"], 2);
        assert_eq!(svc["scaling"]["maxInstanceCount"], 500);
        let last = db.store.actions(Some("hot"), 1).await.unwrap().remove(0);
        assert_eq!(
            (last.cause.as_str(), last.status.as_str(), last.rollback_of),
            ("rollback", "applied", Some(applied.id))
        );
        let out = prescale(&dir, &db, &["actions", "--target", "hot"]).await;
        assert_eq!(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.starts_with('#'))
                .count(),
            2
        );
    }
);

on_each_backend!(
    a_forecast_miss_scales_up_at_once_and_lowers_confidence_until_retrained,
    |db| {
        let g = FakeGoogle::start().await;
        g.add_service("matching", 2, Some(500));
        let dir = db.dir.path().to_path_buf();
        let config = format!("[google]\nmetadata_endpoint = \"{}\"\n", g.url)
            + &cloud_run_target("hot", "matching", 0.0, true, &g.url);
        std::fs::write(dir.join("prescale.toml"), config).unwrap();
        let (settings, at) = trained(&db, &dir).await;
        let id = SeriesId::parse("matching").unwrap();
        prescale::jobs::serving::publish_once(&db.store, &settings, at, 24, 2)
            .await
            .unwrap();
        let point = db.store.latest_published(&id).await.unwrap()[0].point;
        let ctx = prescale::scaling::actuators::Context::from_settings(&settings).with_speedup(50);
        // 20 minutes into the hour, a count that projects twice the upper 95% bound.
        let start_ms = at.unix() * 1000;
        let count = point.upper95 * 2.0 / 3.0;
        db.store
            .put_partial_reading(&id, at, start_ms + 20 * 60_000, count)
            .await
            .unwrap();
        let metrics = prescale::api::Metrics::default();
        let r = check(&db, &settings, &ctx, &id, at, Some(&metrics))
            .await
            .expect("a miss");
        assert_eq!(r.miss.kind, "above_upper95");
        assert!((r.miss.projected - point.upper95 * 2.0).abs() < 1e-6);
        let expected = (point.upper95 * 2.0 / 3600.0 / 0.05).ceil().min(500.0);
        assert_eq!(r.actions.len(), 1);
        assert_eq!(
            (r.actions[0].cause.as_str(), r.actions[0].status.as_str()),
            ("safety_net", "applied")
        );
        assert_eq!(
            g.lock().services[&FakeGoogle::service_name("matching")]["scaling"]["minInstanceCount"],
            expected as u64
        );
        assert!(metrics.render().contains(
            "prescale_forecast_miss_total{series=\"matching\",kind=\"above_upper95\"} 1"
        ));
        // Once per hour.
        assert!(check(&db, &settings, &ctx, &id, at, None).await.is_none());
        // Confidence is halved until the model is retrained.
        assert_eq!(
            prescale::scaling::cycle::confidence_factor(&db.store, &id)
                .await
                .unwrap(),
            prescale::scaling::safety::PENALTY
        );
        // A target that holds says why: the penalty, by name.
        let cold = format!("[google]\nmetadata_endpoint = \"{}\"\n", g.url)
            + &cloud_run_target("cold", "matching", 0.99, false, &g.url);
        std::fs::write(dir.join("prescale.toml"), cold).unwrap();
        let held = || {
            let (db, dir, ctx, id) = (&db, &dir, &ctx, &id);
            async move {
                cycle(db, &settings_in(dir), ctx, id, at.to_utc()).await;
                db.store
                    .latest_recommendations(Some(id), Some("cold"))
                    .await
                    .unwrap()
            }
        };
        let recs = held().await;
        assert!(!recs.is_empty());
        for r in &recs {
            assert_eq!(r.decision, "hold", "{r:?}");
            assert!(r.reason.contains("forecast_miss"), "{}", r.reason);
        }
        retrain::retrain(&db.store, &settings, &id, &crate::helpers::quick_specs())
            .await
            .unwrap();
        assert_eq!(
            prescale::scaling::cycle::confidence_factor(&db.store, &id)
                .await
                .unwrap(),
            1.0
        );
        // Retrained, the penalty is lifted and no longer named.
        for r in &held().await {
            assert!(!r.reason.contains("forecast_miss"), "{}", r.reason);
        }
    }
);

on_each_backend!(
    a_target_that_fails_does_not_stop_the_others_and_both_are_recorded,
    |db| {
        let g = FakeGoogle::start().await;
        g.add_service("matching", 2, Some(500));
        let dir = db.dir.path().to_path_buf();
        // "broken" names a service that does not exist: 404, final.
        let config = format!("[google]\nmetadata_endpoint = \"{}\"\n", g.url)
            + &cloud_run_target("broken", "gone", 0.0, true, &g.url)
            + &cloud_run_target("hot", "matching", 0.0, true, &g.url);
        std::fs::write(dir.join("prescale.toml"), config).unwrap();
        let (settings, at) = trained(&db, &dir).await;
        let id = SeriesId::parse("matching").unwrap();
        prescale::jobs::serving::publish_once(&db.store, &settings, at, 24, 2)
            .await
            .unwrap();
        let ctx = prescale::scaling::actuators::Context::from_settings(&settings).with_speedup(50);
        let now = at.to_utc();
        let out = cycle(&db, &settings, &ctx, &id, now).await;
        let status: Vec<(&str, &str)> = out
            .iter()
            .map(|o| (o.target.as_str(), o.status.as_str()))
            .collect();
        assert_eq!(status, [("broken", "failed"), ("hot", "applied")]);
        let broken = db.store.actions(Some("broken"), 5).await.unwrap();
        assert_eq!(broken.len(), 1);
        assert_eq!(broken[0].http_status, Some(404));
        assert!(
            broken[0].error.as_deref().unwrap().contains("NOT_FOUND"),
            "{:?}",
            broken[0].error
        );
        let hot = db.store.actions(Some("hot"), 5).await.unwrap();
        assert_eq!(hot[0].status, "applied");
        assert!(
            hot[0].request.as_ref().unwrap()[0]["url"]
                .as_str()
                .unwrap()
                .ends_with("/services/matching?updateMask=scaling.minInstanceCount")
        );
        // A cycle for an hour uses that hour's publication even when a later one exists.
        prescale::jobs::serving::publish_once(&db.store, &settings, at.plus(5), 24, 2)
            .await
            .unwrap();
        let id = SeriesId::parse("matching").unwrap();
        cycle(&db, &settings, &ctx, &id, now).await;
        let recs = db
            .store
            .latest_recommendations(None, Some("hot"))
            .await
            .unwrap();
        assert!(recs.iter().all(|r| r.issued_at == at), "{:?}", recs.first());
        // A rollback of the failed target has nothing to restore; the good one is untouched.
        let e = prescale::scaling::cycle::rollback(&db.store, &settings, &ctx, "broken", None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("nothing to roll back"), "{e}");
    }
);

on_each_backend!(
    capacity_planning_measures_growth_and_sizes_the_series_targets,
    |db| {
        let mut opts = options("nasa");
        opts.time_zone = Some(TimeZone::parse("America/New_York").unwrap());
        import(
            &db,
            &repo_file("datasets/nasa_http_requests_hourly.csv"),
            &opts,
        )
        .await
        .unwrap();
        let dir = db.dir.path().to_path_buf();
        std::fs::write(
            dir.join("prescale.toml"),
            "[planning]\nusers = 25000\n[[targets]]\nname = \"web\"\nkind = \"cloud_run\"\nseries = \"nasa\"\nproject = \"p\"\nlocation = \"l\"\nservice = \"web\"\nrequests_per_instance_per_second = 0.05\nmin = 1\nmax = 100\nprice_per_instance_hour = 0.1\n",
        )
        .unwrap();
        let settings = Settings::load(
            Some(&dir.join("prescale.toml")),
            Vec::new(),
            Overrides::default(),
        )
        .unwrap();
        let id = SeriesId::parse("nasa").unwrap();
        let p = prescale::analysis::capacity::plan(&db.store, &settings, &id)
            .await
            .unwrap();
        let g = p.growth.clone().expect("growth");
        // Whole days of the last 30 (NASA's series has an outage: incomplete days are not used).
        assert!(
            g.days_used + g.days_excluded <= 30 && g.days_used >= 14,
            "{g:?}"
        );
        assert!(g.daily_rate_lo <= g.daily_rate && g.daily_rate <= g.daily_rate_hi);
        // The peak is the busiest weekday-hour of the last four weeks, computed here apart.
        let last = db.store.list_series().await.unwrap()[0].last_hour.unwrap();
        let tz = chrono_tz::America::New_York;
        let obs = db
            .store
            .observations(&id, last.plus(-24 * 28 + 1), last)
            .await
            .unwrap();
        let mut cells = std::collections::HashMap::<(u32, u32), (f64, f64)>::new();
        for o in &obs {
            use chrono::{Datelike, Timelike};
            let t = o.hour.to_utc().with_timezone(&tz);
            let e = cells
                .entry((t.weekday().num_days_from_monday(), t.hour()))
                .or_default();
            e.0 += o.demand.get();
            e.1 += 1.0;
        }
        let best = cells.values().map(|(s, n)| s / n).fold(0.0, f64::max);
        assert!((p.peak.as_ref().unwrap().mean - best).abs() < 1e-6);
        assert_eq!(
            p.projections.iter().map(|x| x.days).collect::<Vec<_>>(),
            [7, 30, 91, 365]
        );
        let week = &p.projections[0].targets[0];
        assert_eq!(week.target, "web");
        assert_eq!(
            week.peak,
            (p.projections[0].peak / 3600.0 / 0.05).ceil() as u32
        );
        assert!((week.monthly_cost.unwrap() - week.monthly_instance_hours * 0.1).abs() < 1e-6);
        assert_eq!(
            p.headroom[0].headroom,
            100 - i64::from((best / 180.0).ceil() as u32)
        );
        assert_eq!(p.phase.as_ref().unwrap().phase, "scale-up", "25,000 users");
        assert_eq!(p.headroom[0].growth_basis, "recent growth");
        // Two months of history: no year-over-year change, every horizon from recent growth.
        assert!(p.yearly.is_none());
        assert!(p.projections.iter().all(|x| x.basis == "recent growth"));

        // Two years (the bike-share series, ending in December): a quarter and a year ahead
        // come from the same weeks a year before, grown year over year, not from December's
        // decline compounded.
        let mut dc = options("dc");
        dc.time_zone = Some(TimeZone::parse("America/New_York").unwrap());
        import(&db, &repo_file("datasets/dc_bikeshare_hourly.csv"), &dc)
            .await
            .unwrap();
        let p = prescale::analysis::capacity::plan(&db.store, &settings, &dc.series)
            .await
            .unwrap();
        let y = p.yearly.clone().expect("a year of history");
        assert!(y.days_compared >= 14 && y.change_lo <= y.change && y.change <= y.change_hi);
        let bases: Vec<&str> = p.projections.iter().map(|x| x.basis.as_str()).collect();
        assert_eq!(
            bases,
            [
                "recent growth",
                "recent growth",
                "a year before",
                "a year before"
            ]
        );
        // A year ahead is the same season: the last four weeks' peak, grown by the change.
        let now = p.peak.clone().unwrap();
        assert!((p.projections[3].peak - now.mean * (1.0 + y.change)).abs() < 1e-6);
        assert!(
            p.growth.as_ref().unwrap().daily_rate < 0.0,
            "December falls"
        );
        assert!(
            p.projections[2].peak > 0.5 * now.mean,
            "{:?}",
            p.projections[2]
        );
        let text = prescale::analysis::capacity::text(&p);
        assert!(
            text.starts_with(
                "capacity plan for dc (America/New_York), data to 2012-12-31T23:00:00-05:00\n"
            ),
            "{text}"
        );
        assert!(text.contains("year over year: "), "{text}");

        // The same over HTTP.
        let app = crate::api::spawn_app(&db).await;
        let v = app.get("/v1/series/nasa/capacity").await;
        assert_eq!(v.status, 200, "{}", v.body);
        assert_eq!(v.json()["projections"].as_array().unwrap().len(), 4);
        assert_eq!(app.get("/v1/series/nope/capacity").await.status, 404);
        app.stop().await;
    }
);

on_each_backend!(
    the_serving_loop_leader_recommends_and_applies_each_cycle,
    |db| {
        let g = FakeGoogle::start().await;
        g.add_service("matching", 2, Some(500));
        crate::import::import_recent(&db, "matching", 7, 42).await;
        let dir = db.dir.path().to_path_buf();
        let config = format!(
            "[serving]\ninterval_seconds = 1\nleader_check_seconds = 1\n[google]\nmetadata_endpoint = \"{}\"\n",
            g.url
        ) + &cloud_run_target("hot", "matching", 0.0, true, &g.url)
            .replace("0.05", "0.0005");
        std::fs::write(dir.join("prescale.toml"), config).unwrap();
        let settings = settings_in(&dir);
        let id = SeriesId::parse("matching").unwrap();
        retrain::retrain(&db.store, &settings, &id, &crate::helpers::quick_specs())
            .await
            .unwrap();
        let state = prescale::api::AppState::new(db.store.clone(), settings);
        let metrics = state.metrics.clone();
        let stop = tokio_util::sync::CancellationToken::new();
        let task = tokio::spawn(prescale::jobs::serving::run(state, stop.clone()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while g.requests("PATCH", "/services/matching").is_empty()
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        stop.cancel();
        task.await.unwrap();
        let patches = g.requests("PATCH", "/services/matching");
        assert!(!patches.is_empty(), "the loop's cycle reached the actuator");
        assert_eq!(patches[0].query, "updateMask=scaling.minInstanceCount");
        let recs = db
            .store
            .latest_recommendations(Some(&id), Some("hot"))
            .await
            .unwrap();
        assert!(!recs.is_empty() && recs.iter().all(|r| r.decision == "apply"));
        let a = db.store.actions(Some("hot"), 1).await.unwrap();
        assert_eq!(
            (a[0].cause.as_str(), a[0].status.as_str()),
            ("forecast", "applied")
        );
        // Operators see the decisions and the value set in the metrics.
        let text = metrics.render();
        assert!(
            text.contains("prescale_scaling_decisions_total{target=\"hot\",status=\"applied\"}"),
            "{text}"
        );
        let set = patches.last().unwrap().body["scaling"]["minInstanceCount"]
            .as_u64()
            .unwrap();
        assert!(
            text.lines()
                .any(|l| l.starts_with("prescale_target_value{target=\"hot\"}")
                    && l.ends_with(&format!(" {set}"))),
            "{text}"
        );
    }
);

on_each_backend!(
    a_series_report_scores_what_was_published_against_what_arrived,
    |db| {
        let dir = db.dir.path().to_path_buf();
        std::fs::write(dir.join("prescale.toml"), "").unwrap();
        let (settings, end) = trained(&db, &dir).await;
        let id = SeriesId::parse("matching").unwrap();
        // Three publications inside the history, a day apart: their hours have observations.
        for back in [72, 48, 24] {
            prescale::jobs::serving::publish_once(&db.store, &settings, end.plus(-back), 24, 2)
                .await
                .unwrap();
        }
        use prescale::store::Issues;
        let r = prescale::analysis::report_cmd::from_store(&db.store, &id, 5, Issues::All)
            .await
            .unwrap();
        // One forecast a day: each is its day's first, so daily scores the same points.
        let daily = prescale::analysis::report_cmd::from_store(&db.store, &id, 5, Issues::Daily)
            .await
            .unwrap();
        assert_eq!(daily.metrics.n_points, r.metrics.n_points);
        assert!(
            daily
                .source
                .starts_with("The first forecast published each local day")
        );
        let published = db
            .store
            .published_between(&id, end.plus(-120), end)
            .await
            .unwrap();
        let obs: std::collections::HashMap<i64, f64> = db
            .store
            .observations(&id, end.plus(-120), end)
            .await
            .unwrap()
            .into_iter()
            .map(|o| (o.hour.unix(), o.demand.get()))
            .collect();
        let scored: Vec<f64> = published
            .iter()
            .filter_map(|p| {
                obs.get(&p.point.hour.unix())
                    .map(|y| (p.point.expected - y).abs())
            })
            .collect();
        assert_eq!(r.metrics.n_points, scored.len());
        assert!(r.metrics.n_points >= 60, "{}", r.metrics.n_points);
        assert!((r.metrics.mae - scored.iter().sum::<f64>() / scored.len() as f64).abs() < 1e-9);
        assert!(r.metrics.mase.is_finite() && r.metrics.mase > 0.0);
        assert_eq!(r.models.len(), 1, "one trained version");
        let html = prescale::analysis::report::html(&r, None);
        assert!(html.contains("Accuracy report: series matching"));
        // Worst days carry the day's observed weather where the series has some (dc_bikeshare).
        let mut opts = options("dc");
        opts.time_zone = Some(TimeZone::parse("America/New_York").unwrap());
        import(&db, &repo_file("datasets/dc_bikeshare_hourly.csv"), &opts)
            .await
            .unwrap();
        let dc = SeriesId::parse("dc").unwrap();
        retrain::retrain(&db.store, &settings, &dc, &crate::helpers::quick_specs())
            .await
            .unwrap();
        let dc_end = db.store.last_observed_hour(&dc).await.unwrap().unwrap();
        prescale::jobs::serving::publish_once(&db.store, &settings, dc_end.plus(-47), 24, 2)
            .await
            .unwrap();
        let r = prescale::analysis::report_cmd::from_store(&db.store, &dc, 3, Issues::All)
            .await
            .unwrap();
        assert!(!r.worst_days.is_empty());
        assert!(
            r.worst_days.iter().all(|d| d.context.mean_temp_c.is_some()),
            "{:?}",
            r.worst_days
        );
        // A series with nothing published is an error that says so.
        import(
            &db,
            &repo_file("datasets/nasa_http_requests_hourly.csv"),
            &options("other"),
        )
        .await
        .unwrap();
        let e = prescale::analysis::report_cmd::from_store(
            &db.store,
            &SeriesId::parse("other").unwrap(),
            28,
            Issues::Daily,
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("nothing was published"), "{e}");
    }
);

on_each_backend!(
    rollback_to_an_action_restores_every_change_since_newest_first_and_warmups_go_once,
    |db| {
        let g = FakeGoogle::start().await;
        g.add_service("matching", 2, Some(500));
        let dir = db.dir.path().to_path_buf();
        let warm = format!(
            "\n[[targets]]\nname = \"warm\"\nkind = \"cache_warmup\"\nseries = \"matching\"\nproject = \"{PROJECT}\"\ntopic = \"cache-warmup\"\nendpoint = \"{}\"\napply = true\nconfidence_threshold = 0.0\npeak_ratio = 0.0\nmax = 100000\n",
            g.url
        );
        let config = format!("[google]\nmetadata_endpoint = \"{}\"\n", g.url)
            + &cloud_run_target("hot", "matching", 0.0, true, &g.url).replace("0.05", "0.005")
            + &warm;
        std::fs::write(dir.join("prescale.toml"), config).unwrap();
        let (settings, end) = trained(&db, &dir).await;
        let id = SeriesId::parse("matching").unwrap();
        let ctx = prescale::scaling::actuators::Context::from_settings(&settings).with_speedup(50);
        // Three cycles at successive hours of a busy afternoon: three different minimums.
        let mut values = Vec::new();
        for back in [30, 29, 28] {
            let at = end.plus(-back);
            prescale::jobs::serving::publish_once(&db.store, &settings, at, 24, 2)
                .await
                .unwrap();
            let out = cycle(&db, &settings, &ctx, &id, at.to_utc()).await;
            let hot = out.iter().find(|o| o.target == "hot").unwrap();
            values.push((hot.status.clone(), hot.value.unwrap()));
            // The same cycle again: the warm-up for that hour is not sent twice.
            let again = cycle(&db, &settings, &ctx, &id, at.to_utc()).await;
            let w = again.iter().find(|o| o.target == "warm").unwrap();
            assert_eq!(w.reason, "warm-up already sent for this hour", "{w:?}");
        }
        assert_eq!(g.lock().published.len(), 3, "one warm-up per hour");
        let applied: Vec<_> = db
            .store
            .actions(Some("hot"), 10)
            .await
            .unwrap()
            .into_iter()
            .rev()
            .filter(|a| a.status == "applied")
            .collect();
        assert!(applied.len() >= 2, "{values:?}");
        let first = applied[0].id;
        let undone =
            prescale::scaling::cycle::rollback(&db.store, &settings, &ctx, "hot", Some(first))
                .await
                .unwrap();
        // Newest first, each restoring the value before its action; back where it all began.
        let order: Vec<i64> = undone.iter().map(|a| a.rollback_of.unwrap()).collect();
        let mut expected: Vec<i64> = applied.iter().map(|a| a.id).collect();
        expected.reverse();
        assert_eq!(order, expected);
        assert!(
            undone
                .iter()
                .all(|a| a.status == "applied" && a.cause == "rollback")
        );
        assert_eq!(
            g.lock().services[&FakeGoogle::service_name("matching")]["scaling"]["minInstanceCount"],
            2
        );
        // Done once: nothing left to roll back from there.
        let e = prescale::scaling::cycle::rollback(&db.store, &settings, &ctx, "hot", Some(first))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("nothing to roll back"), "{e}");
        // A warm-up target has no state to restore.
        assert!(
            prescale::scaling::cycle::rollback(&db.store, &settings, &ctx, "warm", None)
                .await
                .is_err()
        );
    }
);

on_each_backend!(
    a_rate_limit_override_is_rewritten_each_cycle_so_its_ttl_keeps_up,
    |db| {
        let Some(url) = crate::actuators::redis_url().await else {
            return;
        };
        let backend = format!("{:?}", db.store.backend()).to_lowercase();
        let route = format!("trips.create-cycle-{}-{backend}", std::process::id());
        let dir = db.dir.path().to_path_buf();
        let config = format!(
            "[[targets]]\nname = \"rl\"\nkind = \"rate_limit_redis\"\nseries = \"matching\"\nroute = \"{route}\"\nredis_url = \"{url}\"\napply = true\nconfidence_threshold = 0.0\nttl_minutes = 1\nmin = 1\nmax = 100000\n"
        );
        std::fs::write(dir.join("prescale.toml"), config).unwrap();
        let (settings, at) = trained(&db, &dir).await;
        let id = SeriesId::parse("matching").unwrap();
        prescale::jobs::serving::publish_once(&db.store, &settings, at, 24, 2)
            .await
            .unwrap();
        let ctx = prescale::scaling::actuators::Context::from_settings(&settings);
        let mut conn = redis::Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let key = prescale::scaling::actuators::rate_limit_redis::override_key(&route);
        let _: () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let mut statuses = Vec::new();
        for _ in 0..2 {
            let out = cycle(&db, &settings, &ctx, &id, at.to_utc()).await;
            statuses.push(out[0].status.clone());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // The same rate twice: both written (the TTL restarts), not "unchanged".
        assert_eq!(statuses, ["applied", "applied"]);
        let pttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(pttl > 55_000 && pttl <= 60_000, "{pttl}");
        let _: () = redis::cmd("DEL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
);

on_each_backend!(
    the_safety_net_answers_a_miss_once_per_hour_even_with_nothing_to_scale,
    |db| {
        // Only a (dry-run) webhook target: a miss alerts and records no action.
        let dir = db.dir.path().to_path_buf();
        std::fs::write(
            dir.join("prescale.toml"),
            "[[targets]]\nname = \"hook\"\nkind = \"webhook\"\nseries = \"matching\"\nurl = \"http://127.0.0.1:9/hook\"\nmax = 10\n",
        )
        .unwrap();
        let (settings, at) = trained(&db, &dir).await;
        let id = SeriesId::parse("matching").unwrap();
        prescale::jobs::serving::publish_once(&db.store, &settings, at, 24, 2)
            .await
            .unwrap();
        let point = db.store.latest_published(&id).await.unwrap()[0].point;
        db.store
            .put_partial_reading(&id, at, at.unix() * 1000 + 20 * 60_000, point.upper95)
            .await
            .unwrap();
        let ctx = prescale::scaling::actuators::Context::from_settings(&settings);
        let metrics = prescale::api::Metrics::default();
        let first = check(&db, &settings, &ctx, &id, at, Some(&metrics))
            .await
            .expect("a miss");
        assert!(first.actions.is_empty());
        assert_eq!(first.alerts, ["hook: alert not sent (dry run)"]);
        let again = check(&db, &settings, &ctx, &id, at, Some(&metrics)).await;
        assert!(again.is_none(), "answered once");
        assert!(metrics.render().contains(
            "prescale_forecast_miss_total{series=\"matching\",kind=\"above_upper95\"} 1"
        ));
        assert_eq!(db.store.penalty(&id).await.unwrap().unwrap().miss_hour, at);
    }
);

on_each_backend!(
    an_action_whose_error_quotes_a_nul_character_is_recorded,
    |db| {
        // A remote server's error text may hold NUL, which PostgreSQL refuses in text: the
        // action is still recorded, with U+FFFD in its place.
        let a = db
            .store
            .record_action(&prescale::store::NewAction {
                target: "t".into(),
                kind: "log".into(),
                series: "s".into(),
                cause: "forecast".into(),
                hour: None,
                confidence: None,
                before: None,
                after: serde_json::json!({ "min": 3, "note": "a\u{0}b" }),
                request: None,
                status: "failed".into(),
                http_status: Some(400),
                error: Some("INVALID_ARGUMENT: bad \u{0} value".into()),
                rollback_of: None,
            })
            .await
            .unwrap();
        assert_eq!(
            a.error.as_deref(),
            Some("INVALID_ARGUMENT: bad \u{FFFD} value")
        );
        assert_eq!(a.after["note"], "a\u{0}b", "JSON keeps it, escaped");
        let stored = db.store.actions(Some("t"), 10).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].error, a.error);
    }
);
