//! Retention: what `[retention]` no longer keeps is deleted, and what the serving loop still
//! reads stays (a series' latest forecast, a target's latest recommendations and last applied
//! value), on both backends.

use chrono::{DateTime, Utc};
use prescale::domain::{CalendarName, Hour, Series, SeriesId, TimeZone, Tolerance};
use prescale::forecast::ForecastPoint;
use prescale::jobs::retention;
use prescale::store::{NewAction, PublishedPoint, RecommendationRecord};

use crate::helpers::{TestDb, on_each_backend};

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().to_utc()
}

async fn series(db: &TestDb, id: &str) -> SeriesId {
    let id = SeriesId::parse(id).unwrap();
    db.store
        .create_series(&Series {
            id: id.clone(),
            time_zone: TimeZone::LIMA,
            calendar: CalendarName::Pe,
            unit: "requests".into(),
            tolerance: Tolerance::new(0.2).unwrap(),
            weather_location: id.as_str().into(),
            created_at: Utc::now(),
        })
        .await
        .unwrap();
    id
}

/// A three-hour forecast issued at `at`.
fn forecast(at: Hour) -> Vec<PublishedPoint> {
    (0..3)
        .map(|i| PublishedPoint {
            issued_at: at,
            model_version: 1,
            lead: i + 1,
            point: ForecastPoint {
                hour: at.plus(i),
                expected: 100.0,
                lower80: 90.0,
                upper80: 110.0,
                lower95: 80.0,
                upper95: 120.0,
                confidence: 0.7,
                doubts: Default::default(),
            },
        })
        .collect()
}

async fn issues(db: &TestDb, id: &SeriesId, from: Hour, to: Hour) -> Vec<Hour> {
    let mut at: Vec<Hour> = db
        .store
        .published_between(id, from, to.plus(3))
        .await
        .unwrap()
        .into_iter()
        .filter(|p| p.issued_at >= from && p.issued_at <= to)
        .map(|p| p.issued_at)
        .collect();
    at.sort();
    at.dedup();
    at
}

fn recommendation(target: &str, issued_at: Hour) -> RecommendationRecord {
    RecommendationRecord {
        target: target.into(),
        series: "lima".into(),
        issued_at,
        hour: issued_at,
        apply_at: issued_at.to_utc(),
        needed: 3,
        value: 3,
        confidence: 0.9,
        decision: "apply".into(),
        reason: "forecast".into(),
    }
}

fn action(target: &str, status: &str, value: u32) -> NewAction {
    NewAction {
        target: target.into(),
        kind: "log".into(),
        series: "lima".into(),
        cause: "forecast".into(),
        hour: None,
        confidence: None,
        before: None,
        after: serde_json::json!({ "min": value }),
        request: None,
        status: status.into(),
        http_status: None,
        error: None,
        rollback_of: None,
    }
}

/// The settings of a config file holding `text` (the built-in defaults elsewhere).
fn settings_of(db: &TestDb, text: &str) -> prescale::config::Settings {
    let path = db.write("retention.toml", text);
    prescale::config::Settings::load(Some(&path), Vec::new(), Default::default()).unwrap()
}

/// The `[retention]` of a config file holding `text`.
fn retention_of(db: &TestDb, text: &str) -> prescale::config::RetentionSettings {
    settings_of(db, text).retention
}

on_each_backend!(
    pruning_keeps_whole_recent_forecasts_then_one_per_local_day_and_what_the_loop_reads,
    |db| {
        let lima = series(&db, "lima").await;
        let quiet = series(&db, "quiet").await;
        // Hourly forecasts for 34 days before `now`; `quiet` published its last one 40 days ago.
        let now = utc("2026-03-05T12:20:00Z");
        let hour = Hour::containing(now);
        let first = hour.plus(-34 * 24);
        for k in 0..34 * 24 {
            db.store
                .publish(&lima, &forecast(first.plus(k)))
                .await
                .unwrap();
        }
        for k in 0..3 {
            let at = hour.plus(-40 * 24 - k);
            db.store.publish(&quiet, &forecast(at)).await.unwrap();
        }
        let mut settings = settings_of(
            &db,
            "[retention]\npublished_days = 29\ndaily_published_days = 31\n\
             recommendations_days = 2\nactions_days = 3\npartial_readings_days = 1\n",
        );

        // Recommendations: t1's last cycle is old but stays; t2's old cycle goes.
        for (t, at) in [
            ("t1", hour.plus(-100)),
            ("t1", hour.plus(-90)),
            ("t2", hour.plus(-90)),
            ("t2", hour.plus(-1)),
        ] {
            db.store
                .put_recommendations(t, at, &[recommendation(t, at)])
                .await
                .unwrap();
        }
        // t3: a cycle a day for ten days, the newest three days ago: a backlog over several
        // days' deletes, its newest kept.
        for k in 3..13 {
            let at = hour.plus(-24 * k);
            db.store
                .put_recommendations("t3", at, &[recommendation("t3", at)])
                .await
                .unwrap();
        }
        // Partial readings: the running hour's stay, those of two days ago go.
        for h in [hour, hour.plus(-48)] {
            db.store
                .put_partial_reading(&lima, h, h.unix() * 1000 + 60_000, 42.0)
                .await
                .unwrap();
        }

        // A dry run counts what goes, and deletes nothing.
        let published = async |id: &SeriesId| {
            let all = db.store.published_between(id, first.plus(-1000), hour);
            all.await.unwrap().len()
        };
        let stored = (
            published(&lima).await,
            published(&quiet).await,
            db.store
                .partial_readings(&lima, hour.plus(-48))
                .await
                .unwrap(),
        );
        let dry = retention::dry_run(&db.store, &settings, now).await.unwrap();
        assert!(dry.dry_run);
        assert_eq!(
            (
                published(&lima).await,
                published(&quiet).await,
                db.store
                    .partial_readings(&lima, hour.plus(-48))
                    .await
                    .unwrap()
            ),
            stored
        );

        let report = retention::prune(&db.store, &settings, now).await.unwrap();
        assert!(!report.dry_run);
        // Had the dry run deleted anything, the pruning would have found less to delete.
        assert_eq!(dry.tables(), report.tables());
        assert!(report.published > 0 && report.recommendations > 0);

        let whole = hour.plus(-29 * 24);
        let daily = hour.plus(-31 * 24);
        // Whole for the last 29 days: every hour.
        let kept = issues(&db, &lima, whole, hour).await;
        assert_eq!(kept.len(), (hour.unix() - whole.unix()) as usize / 3600);
        // Between 31 and 29 days: the first forecast of each Lima day (00:00 there, 05:00 UTC),
        // the first hours of the series' first day aside.
        let thinned = issues(&db, &lima, daily, whole.plus(-1)).await;
        assert!(!thinned.is_empty());
        for at in &thinned {
            let local = at.to_utc().with_timezone(&chrono_tz::America::Lima);
            assert_eq!(chrono::Timelike::hour(&local), 0, "{local}");
        }
        assert_eq!(thinned.len(), 2, "{thinned:?}");
        // Older than 31 days: nothing.
        assert!(issues(&db, &lima, first, daily.plus(-1)).await.is_empty());
        // `quiet`'s latest forecast stays whole, however old.
        let last = db.store.latest_published(&quiet).await.unwrap();
        assert_eq!(last.len(), 3);
        assert_eq!(last[0].issued_at, hour.plus(-40 * 24));
        assert!(issues(&db, &quiet, first.plus(-30 * 24), hour).await.len() == 1);
        let expected_deleted = 3 * (34 * 24 - kept.len() - thinned.len()) as u64 + 3 * 2;
        assert_eq!(report.published, expected_deleted);

        let recs = db.store.latest_recommendations(None, None).await.unwrap();
        let got: Vec<(String, Hour)> = recs
            .iter()
            .map(|r| (r.target.clone(), r.issued_at))
            .collect();
        assert_eq!(
            got,
            vec![
                ("t1".into(), hour.plus(-90)),
                ("t2".into(), hour.plus(-1)),
                ("t3".into(), hour.plus(-72))
            ]
        );
        assert_eq!(
            report.recommendations, 11,
            "t1's older cycle, t2's old one and t3's nine older ones"
        );
        assert_eq!(report.partial_readings, 1);
        assert_eq!(
            db.store.partial_readings(&lima, hour).await.unwrap().len(),
            1
        );

        // Pruning again at the same hour deletes nothing more.
        let again = retention::prune(&db.store, &settings, now).await.unwrap();
        assert_eq!(
            (
                again.published,
                again.recommendations,
                again.partial_readings
            ),
            (0, 0, 0)
        );

        // Actions and jobs are stamped now: pruned from four days on, but each target's last
        // applied value stays, and so does a running job. (Only these here: the other rows are
        // all older than now.)
        let mut actions_only = settings.clone();
        actions_only.retention = retention_of(
            &db,
            "[retention]\npublished_days = 0\nrecommendations_days = 0\nactions_days = 3\n\
             partial_readings_days = 0\njobs_days = 3\nimports_days = 3\n",
        );
        let done = db.store.start_job("retrain", &lima).await.unwrap();
        db.store
            .finish_job(done, Ok(serde_json::json!({})), 1.0)
            .await
            .unwrap();
        let running = db.store.start_job("retrain", &lima).await.unwrap();
        let csv = db.write(
            "lima.csv",
            "timestamp,y\n2026-03-01T00:00:00-05:00,5\n2026-03-01T01:00:00-05:00,6\n",
        );
        crate::import::import(&db, &csv, &crate::import::options("lima"))
            .await
            .unwrap();
        assert_eq!(db.store.imports(&lima).await.unwrap().len(), 1);
        let a1 = db
            .store
            .record_action(&action("a", "applied", 4))
            .await
            .unwrap();
        let a2 = db
            .store
            .record_action(&action("a", "unchanged", 4))
            .await
            .unwrap();
        let a3 = db
            .store
            .record_action(&action("a", "failed", 9))
            .await
            .unwrap();
        let b1 = db
            .store
            .record_action(&action("b", "failed", 2))
            .await
            .unwrap();
        let soon = retention::prune(&db.store, &actions_only, Utc::now())
            .await
            .unwrap();
        assert_eq!(
            (soon.actions, soon.jobs, soon.imports),
            (0, 0, 0),
            "younger than 3 days"
        );
        let in_four_days = Utc::now() + chrono::Duration::days(4);
        let dry = retention::dry_run(&db.store, &actions_only, in_four_days)
            .await
            .unwrap();
        assert_eq!(db.store.actions(None, 100).await.unwrap().len(), 4);
        assert!(db.store.job(done).await.unwrap().is_some());
        assert_eq!(db.store.imports(&lima).await.unwrap().len(), 1);
        let later = retention::prune(&db.store, &actions_only, in_four_days)
            .await
            .unwrap();
        assert_eq!(dry.tables(), later.tables());
        assert_eq!((later.actions, later.jobs, later.imports), (3, 1, 1));
        assert!(db.store.imports(&lima).await.unwrap().is_empty());
        let kept = db
            .store
            .observations(&lima, Hour::containing(utc("2026-03-01T05:00:00Z")), hour)
            .await
            .unwrap();
        assert_eq!(kept.len(), 2, "the imported data stay");
        assert!(db.store.job(done).await.unwrap().is_none());
        assert!(db.store.job(running).await.unwrap().is_some());
        let left: Vec<i64> = db
            .store
            .actions(None, 100)
            .await
            .unwrap()
            .iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(left, vec![a2.id]);
        assert!(![a1.id, a3.id, b1.id].contains(&a2.id));

        // 0 keeps for ever.
        settings.retention = retention_of(
            &db,
            "[retention]\npublished_days = 0\nrecommendations_days = 0\nactions_days = 0\n\
             partial_readings_days = 0\njobs_days = 0\nimports_days = 0\n",
        );
        let none = retention::prune(&db.store, &settings, now + chrono::Duration::days(1000))
            .await
            .unwrap();
        assert_eq!(
            (
                none.published,
                none.recommendations,
                none.actions,
                none.partial_readings,
                none.jobs,
                none.imports
            ),
            (0, 0, 0, 0, 0, 0)
        );
        assert!(db.store.job(running).await.unwrap().is_some());
    }
);

/// A model version of `id` trained at `at`, its artifact at `path`.
fn model(
    id: &SeriesId,
    version: i64,
    status: prescale::store::ModelStatus,
    path: &std::path::Path,
    at: Hour,
) -> prescale::store::ModelRecord {
    prescale::store::ModelRecord {
        series: id.clone(),
        version,
        status,
        chosen: "snaive24".into(),
        path: path.display().to_string(),
        train_start: at.plus(-24 * 60),
        train_end: at,
        validation_mae: Some(1.0),
        compared_mae: None,
        champion_mae: None,
        reason: "test".into(),
        trained_at: Utc::now(),
    }
}

on_each_backend!(
    pruning_deletes_model_files_beyond_the_newest_but_never_the_champions,
    |db| {
        use prescale::store::ModelStatus::{Challenger, Champion};
        let id = series(&db, "lima").await;
        let dir = db.path("models/lima");
        std::fs::create_dir_all(&dir).unwrap();
        let at = Hour::containing(utc("2026-03-05T12:00:00Z"));
        let file = |v: i64| dir.join(format!("{v}.json"));
        for v in 1..=6 {
            std::fs::write(file(v), format!("{{\"version\": {v}}}")).unwrap();
        }
        // 1 was the champion until 2 replaced it (1 is retired); 3-6 were rejected challengers.
        let store = &db.store;
        store
            .register_model(&model(&id, 1, Champion, &file(1), at), None)
            .await
            .unwrap();
        store
            .register_model(&model(&id, 2, Champion, &file(2), at), Some(1))
            .await
            .unwrap();
        for v in 3..=6 {
            store
                .register_model(&model(&id, v, Challenger, &file(v), at), None)
                .await
                .unwrap();
        }
        // A row whose path is not its own version's file is never followed.
        let stray = db.path("elsewhere.json");
        std::fs::write(&stray, "{}").unwrap();
        store
            .register_model(&model(&id, 7, Challenger, &stray, at), None)
            .await
            .unwrap();

        let mut settings = settings_of(&db, "[retention]\nmodel_artifacts_kept = 2\n");
        let dry = retention::dry_run(store, &settings, at.to_utc())
            .await
            .unwrap();
        assert_eq!((dry.model_artifacts, dry.model_bytes), (4, 4 * 14));
        assert!(
            (1..=6).all(|v| file(v).exists()),
            "a dry run deletes no file"
        );
        let r = retention::prune(store, &settings, at.to_utc())
            .await
            .unwrap();
        // Kept: the champion (2) and the two newest others (7, whose path is not followed, and
        // 6); deleted: 5, 4, 3 and the retired 1.
        let left: Vec<bool> = (1..=6).map(|v| file(v).exists()).collect();
        assert_eq!(left, vec![false, true, false, false, false, true]);
        assert!(stray.exists());
        assert_eq!(r.model_artifacts, 4);
        assert_eq!(r.model_bytes, 4 * 14);
        // The rows stay, for the history of what was chosen and why.
        assert_eq!(store.models(&id).await.unwrap().len(), 7);
        assert_eq!(store.champion(&id).await.unwrap().unwrap().version, 2);
        // Files already gone are not an error, nor counted again; 0 keeps every file.
        let again = retention::prune(store, &settings, at.to_utc())
            .await
            .unwrap();
        assert_eq!(again.model_artifacts, 0);
        settings.retention = retention_of(&db, "[retention]\nmodel_artifacts_kept = 0\n");
        std::fs::write(file(3), "{}").unwrap();
        let all = retention::prune(store, &settings, at.to_utc())
            .await
            .unwrap();
        assert_eq!(all.model_artifacts, 0);
        assert!(file(3).exists());
        // A file that cannot be deleted is reported, and the others still go.
        std::fs::create_dir_all(file(4).join("x")).unwrap();
        settings.retention = retention_of(&db, "[retention]\nmodel_artifacts_kept = 2\n");
        let dry = retention::dry_run(store, &settings, at.to_utc())
            .await
            .unwrap();
        assert_eq!((dry.model_artifacts, dry.failed.len()), (1, 1), "{dry:?}");
        assert!(file(3).exists());
        let stuck = retention::prune(store, &settings, at.to_utc())
            .await
            .unwrap();
        assert_eq!(stuck.model_artifacts, 1);
        assert!(!file(3).exists());
        assert_eq!(stuck.failed.len(), 1, "{:?}", stuck.failed);
        assert!(stuck.failed[0].contains("4.json"), "{:?}", stuck.failed);
    }
);

/// `prescale ARGS` on the test's database, from its folder; its standard output.
async fn cli(db: &TestDb, args: &[&str]) -> String {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_prescale"));
    cmd.arg("--database-url")
        .arg(db.url.as_str())
        .args(args)
        .current_dir(db.dir.path())
        .env_remove("DATABASE_URL")
        .env_remove("PRESCALE_CONFIG");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

on_each_backend!(prune_and_tick_prune_by_the_real_clock_at_the_latest, |db| {
    let lima = series(&db, "lima").await;
    let hour = Hour::containing(Utc::now());
    // Ten days of hourly forecasts up to now: all within the default 35 days.
    for k in 0..240 {
        db.store
            .publish(&lima, &forecast(hour.plus(-k)))
            .await
            .unwrap();
    }
    let count = async || {
        db.store
            .published_between(&lima, hour.plus(-300), hour.plus(3))
            .await
            .unwrap()
            .len()
    };
    assert_eq!(count().await, 240 * 3);
    // Three forecasts of one Lima day 40 days ago: thinned to its first.
    let noon = Hour::containing(
        (Utc::now() - chrono::Duration::days(40))
            .with_timezone(&chrono_tz::America::Lima)
            .date_naive()
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_local_timezone(chrono_tz::America::Lima)
            .unwrap()
            .to_utc(),
    );
    for k in 0..3 {
        db.store
            .publish(&lima, &forecast(noon.plus(k)))
            .await
            .unwrap();
    }
    let old = async || issues(&db, &lima, noon, noon.plus(2)).await.len();
    assert_eq!(old().await, 3);
    let out = cli(&db, &["prune", "--dry-run", "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["dry_run"].as_bool(), v["published"].as_u64()),
        (Some(true), Some(6)),
        "{v}"
    );
    assert!(
        cli(&db, &["prune", "--dry-run"])
            .await
            .starts_with("would prune 6 published, 0 recommendations, ")
    );
    assert_eq!(old().await, 3, "a dry run deletes nothing");
    let out = cli(&db, &["prune", "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["dry_run"].as_bool(), v["published"].as_u64()),
        (Some(false), Some(6)),
        "{v}"
    );
    assert_eq!(old().await, 1);
    // A tick for an hour three years ahead (no series has a model: it publishes nothing)
    // prunes as of now, not as of then.
    let ahead = (hour.plus(24 * 365 * 3)).to_utc().to_rfc3339();
    let out = cli(&db, &["tick", "--at", &ahead, "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["pruned"]["published"], 0, "{v}");
    assert_eq!(count().await, 240 * 3);
    let out = cli(&db, &["prune", "--json"]).await;
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for key in [
        "published",
        "recommendations",
        "actions",
        "partial_readings",
        "jobs",
        "imports",
        "model_artifacts",
    ] {
        assert_eq!(v[key], 0, "{key}: {v}");
    }
    assert!(
        cli(&db, &["prune"])
            .await
            .starts_with("pruned 0 published, ")
    );
    assert_eq!(count().await, 240 * 3);
});

on_each_backend!(
    accuracy_scores_every_forecast_or_each_local_days_first,
    |db| {
        use prescale::store::Issues;
        let lima = series(&db, "lima").await;
        // Hourly 3-hour forecasts for two Lima days from midnight (05:00 UTC).
        let midnight = Hour::containing(utc("2026-03-02T05:00:00Z"));
        for k in 0..48 {
            db.store
                .publish(&lima, &forecast(midnight.plus(k)))
                .await
                .unwrap();
        }
        let scored = async |from: Hour, to: Hour, issues| {
            let tz = TimeZone::LIMA;
            let p = db.store.published_scored(&lima, tz, from, to, issues);
            let mut at: Vec<Hour> = p.await.unwrap().iter().map(|p| p.issued_at).collect();
            at.sort();
            at.dedup();
            at
        };
        let (from, to) = (midnight, midnight.plus(50));
        assert_eq!(scored(from, to, Issues::All).await.len(), 48);
        assert_eq!(
            scored(from, to, Issues::Daily).await,
            [midnight, midnight.plus(24)]
        );
        // A window that starts after a day's first forecast has ended: that day's later
        // forecasts are not its first, so only the next midnight's is scored.
        let late = scored(midnight.plus(10), to, Issues::Daily).await;
        assert_eq!(late, [midnight.plus(24)]);
        assert_eq!(Issues::default_for(34, Some(35)), Issues::All);
        assert_eq!(Issues::default_for(35, Some(35)), Issues::Daily);
        assert_eq!(Issues::default_for(366, None), Issues::All);
    }
);

on_each_backend!(
    history_is_pruned_only_when_set_and_the_counts_follow,
    |db| {
        use prescale::domain::WeatherKind;
        let now = Utc::now();
        let at = |days: i64, h: i64| Hour::containing(now - chrono::Duration::days(days)).plus(h);
        // Two hours each 900, 800 and 10 days ago, with observed temperature.
        let mut csv = String::from("timestamp,y,temp_c\n");
        for days in [900, 800, 10] {
            for h in 0..2 {
                csv.push_str(&format!(
                    "{},{},18.5\n",
                    at(days, h).to_utc().to_rfc3339(),
                    10 + h
                ));
            }
        }
        let file = db.write("history.csv", &csv);
        crate::import::import(&db, &file, &crate::import::options("lima"))
            .await
            .unwrap();
        let lima = SeriesId::parse("lima").unwrap();
        let weather = async || {
            let (from, to) = (at(1000, 0), at(0, 0));
            let w = db.store.weather("lima", from, to, WeatherKind::Observed);
            w.await.unwrap().len()
        };
        assert_eq!(weather().await, 6);

        // The default keeps the history for ever.
        let kept = retention::prune(&db.store, &settings_of(&db, ""), now)
            .await
            .unwrap();
        assert_eq!((kept.observations, kept.weather), (0, 0));
        assert_eq!(db.store.count_observations(&lima).await.unwrap(), 6);

        // Two years and a day: the hours of 800 and 900 days ago go, the counts follow.
        let settings = settings_of(&db, "[retention]\nhistory_days = 731\n");
        let dry = retention::dry_run(&db.store, &settings, now).await.unwrap();
        assert_eq!((dry.observations, dry.weather), (4, 4));
        assert_eq!(db.store.count_observations(&lima).await.unwrap(), 6);
        let r = retention::prune(&db.store, &settings, now).await.unwrap();
        assert_eq!(dry.tables(), r.tables());
        let s = &db.store.list_series().await.unwrap()[0];
        assert_eq!((s.observations, s.first_hour), (2, Some(at(10, 0))));
        let left = db.store.all_observations(&lima).await.unwrap();
        assert_eq!(
            left.iter().map(|o| o.hour).collect::<Vec<_>>(),
            [at(10, 0), at(10, 1)]
        );
        assert_eq!(weather().await, 2);
        let again = retention::prune(&db.store, &settings, now).await.unwrap();
        assert_eq!((again.observations, again.weather), (0, 0));
    }
);
