//! Training from the store: versioned artifacts, champion/challenger, a failed retrain that keeps
//! the champion, and forecasts from the champion.

use prescale::config::{Overrides, Settings};
use prescale::domain::{CalendarName, Holiday, Hour, SeriesId, TimeZone};
use prescale::jobs::{predict, retrain};
use prescale::store::ModelStatus;

use crate::helpers::{TestDb, on_each_backend, repo_file};
use crate::import::{import, options};

fn settings(db: &TestDb) -> Settings {
    let mut s = Settings::load(
        Some(&repo_file("prescale.toml")),
        Vec::new(),
        Overrides::default(),
    )
    .unwrap();
    s.models_dir = db.path("models");
    s
}

/// The first `days` days of the NASA series, as a CSV in the test folder.
fn nasa_days(db: &TestDb, days: usize, name: &str) -> std::path::PathBuf {
    let text =
        std::fs::read_to_string(repo_file("datasets/nasa_http_requests_hourly.csv")).unwrap();
    let mut lines = text.lines();
    let mut out = format!("{}\n", lines.next().unwrap());
    let first_day = "1995-07-01";
    let last = chrono::NaiveDate::parse_from_str(first_day, "%Y-%m-%d").unwrap()
        + chrono::Duration::days(days as i64);
    for l in lines.filter(|l| l[..10] < *last.to_string().as_str()) {
        out.push_str(l);
        out.push('\n');
    }
    db.write(name, &out)
}

async fn setup(db: &TestDb, days: usize) -> SeriesId {
    let mut opts = options("nasa");
    opts.time_zone = Some(TimeZone::parse("America/New_York").unwrap());
    opts.calendar = Some(CalendarName::Us);
    import(db, &nasa_days(db, days, &format!("nasa{days}.csv")), &opts)
        .await
        .unwrap();
    opts.series
}

on_each_backend!(
    the_first_model_is_champion_and_a_retrain_on_new_weeks_is_judged_on_them,
    |db| {
        let s = settings(&db);
        let id = setup(&db, 40).await;
        let first = retrain::retrain(&db.store, &s, &id, &crate::helpers::quick_specs())
            .await
            .unwrap();
        assert_eq!((first.version, first.status), (1, ModelStatus::Champion));
        assert!(std::path::Path::new(&first.path).is_file());
        assert_eq!(
            std::path::Path::new(&first.path),
            s.models_dir.join("nasa/1.json")
        );

        // Nothing new: the retrain is kept as a challenger and the champion stays.
        let same = retrain::retrain(&db.store, &s, &id, &crate::helpers::quick_specs())
            .await
            .unwrap();
        assert_eq!((same.version, same.status), (2, ModelStatus::Challenger));
        assert_eq!(db.store.champion(&id).await.unwrap().unwrap().version, 1);

        // A week more: both are scored on the new week, and the decision follows the numbers.
        setup(&db, 47).await;
        let next = retrain::retrain(&db.store, &s, &id, &crate::helpers::quick_specs())
            .await
            .unwrap();
        let rec = db
            .store
            .models(&id)
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.version == 3)
            .unwrap();
        let (new, old) = (
            rec.compared_mae.expect("compared"),
            rec.champion_mae.expect("champion scored"),
        );
        let expected = if new <= old {
            ModelStatus::Champion
        } else {
            ModelStatus::Challenger
        };
        assert_eq!(next.status, expected, "{}", next.reason);
        let champion = db.store.champion(&id).await.unwrap().unwrap();
        assert_eq!(champion.version, if new <= old { 3 } else { 1 });
        let statuses: Vec<_> = db
            .store
            .models(&id)
            .await
            .unwrap()
            .iter()
            .map(|m| m.status)
            .collect();
        assert_eq!(
            statuses
                .iter()
                .filter(|s| **s == ModelStatus::Champion)
                .count(),
            1,
            "{statuses:?}"
        );
    }
);

on_each_backend!(
    a_failed_retrain_keeps_the_champion_and_registers_nothing,
    |db| {
        let mut s = settings(&db);
        let id = setup(&db, 40).await;
        retrain::retrain(&db.store, &s, &id, &crate::helpers::quick_specs())
            .await
            .unwrap();
        let before = db.store.models(&id).await.unwrap();
        // The models folder is now a file: the artifact cannot be written.
        let blocked = db.write("blocked", "not a folder");
        s.models_dir = blocked;
        let err = retrain::retrain(&db.store, &s, &id, &crate::helpers::quick_specs())
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("blocked"), "{err:#}");
        assert_eq!(db.store.models(&id).await.unwrap(), before);
        // Too little history is an error too, and stores nothing.
        let short = SeriesId::parse("short").unwrap();
        let mut opts = options("short");
        opts.time_zone = Some(TimeZone::parse("America/New_York").unwrap());
        import(&db, &nasa_days(&db, 6, "short.csv"), &opts)
            .await
            .unwrap();
        let err = retrain::retrain(
            &db.store,
            &settings(&db),
            &short,
            &crate::helpers::quick_specs(),
        )
        .await
        .unwrap_err();
        assert!(err.to_string().contains("at least 7 days"), "{err}");
        assert!(db.store.models(&short).await.unwrap().is_empty());
        // Ten days train: seasonal naive models alone compete, calibrated on their validation.
        import(&db, &nasa_days(&db, 10, "short.csv"), &opts)
            .await
            .unwrap();
        let s = settings(&db);
        let out = retrain::retrain(&db.store, &s, &short, &crate::helpers::quick_specs())
            .await
            .unwrap();
        assert_eq!(out.status, ModelStatus::Champion);
        assert!(out.chosen.contains("snaive"), "{}", out.chosen);
        assert!(
            out.reason.contains("too short for the other candidates"),
            "{}",
            out.reason
        );
        let f = predict::forecast(&db.store, &s, &short, 24, None)
            .await
            .unwrap();
        assert_eq!(f.points.len(), 24);
        assert!(
            f.points
                .iter()
                .all(|p| p.confidence > 0.0 && p.confidence < 1.0),
            "{:?}",
            f.points
        );
    }
);

on_each_backend!(
    the_champion_forecasts_the_hours_after_the_last_observation,
    |db| {
        let s = settings(&db);
        let id = setup(&db, 40).await;
        let err = predict::forecast(&db.store, &s, &id, 24, None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("no model yet"), "{err}");
        retrain::retrain(&db.store, &s, &id, &crate::helpers::quick_specs())
            .await
            .unwrap();
        let f = predict::forecast(&db.store, &s, &id, 24, None)
            .await
            .unwrap();
        let last = db
            .store
            .all_observations(&id)
            .await
            .unwrap()
            .last()
            .unwrap()
            .hour;
        assert_eq!(f.origin, last.plus(1));
        assert_eq!(f.points.len(), 24);
        for (i, p) in f.points.iter().enumerate() {
            assert_eq!(p.hour, last.plus(1 + i as i64));
            assert!(
                p.lower95 <= p.lower80
                    && p.lower80 <= p.expected
                    && p.expected <= p.upper80
                    && p.upper80 <= p.upper95,
                "{p:?}"
            );
            assert!(
                (0.0..=1.0).contains(&p.confidence) && p.expected >= 0.0,
                "{p:?}"
            );
        }
        assert!(f.points.first().unwrap().confidence >= f.points.last().unwrap().confidence - 0.3);
    }
);

on_each_backend!(
    a_series_without_a_model_is_trained_at_the_first_hour_it_has_a_week_of_history,
    |db| {
        let mut opts = options("grown");
        opts.time_zone = Some(TimeZone::parse("America/New_York").unwrap());
        import(&db, &nasa_days(&db, 10, "grown.csv"), &opts)
            .await
            .unwrap();
        for (name, days) in [("young", 5), ("manual", 10)] {
            let mut o = options(name);
            o.time_zone = opts.time_zone;
            import(&db, &nasa_days(&db, days, &format!("{name}.csv")), &o)
                .await
                .unwrap();
        }
        let mut s = settings(&db);
        // "manual" is never retrained automatically.
        s.retrain.series.push(prescale::config::SeriesSchedule {
            id: SeriesId::parse("manual").unwrap(),
            schedule: prescale::config::Schedule::try_from(String::new()).unwrap(),
        });
        let state = prescale::api::AppState::new(db.store.clone(), s);
        let at = |t: &str| chrono::DateTime::parse_from_rfc3339(t).unwrap().to_utc();
        let champion = |name: &str| {
            let id = SeriesId::parse(name).unwrap();
            let store = db.store.clone();
            async move { store.champion(&id).await.unwrap() }
        };
        // Checks within one hour (a Wednesday, no schedule due): nothing is trained.
        retrain::run_due(
            &state,
            at("2026-12-02T10:10:00Z"),
            at("2026-12-02T10:40:00Z"),
        )
        .await;
        assert!(champion("grown").await.is_none());
        // The first check of the next hour trains the series with a week of history and no model.
        retrain::run_due(
            &state,
            at("2026-12-02T10:40:00Z"),
            at("2026-12-02T11:00:05Z"),
        )
        .await;
        assert!(champion("grown").await.is_some());
        assert!(champion("young").await.is_none());
        assert!(champion("manual").await.is_none());
        let metrics = state.metrics.render();
        assert!(
            metrics.contains("prescale_training_runs_total{outcome=\"succeeded\"} 1"),
            "{metrics}"
        );
        assert!(!metrics.contains("outcome=\"skipped\""), "{metrics}");
        assert!(!metrics.contains("outcome=\"failed\""), "{metrics}");
        // With a model, it waits for its schedule again.
        retrain::run_due(
            &state,
            at("2026-12-02T11:00:05Z"),
            at("2026-12-02T12:00:05Z"),
        )
        .await;
        assert_eq!(
            db.store
                .models(&SeriesId::parse("grown").unwrap())
                .await
                .unwrap()
                .len(),
            1
        );
    }
);

on_each_backend!(
    concurrent_retrains_of_one_series_each_register_their_own_version_under_one_champion,
    |db| {
        let s = settings(&db);
        let id = setup(&db, 30).await;
        // As when the API's train and a scheduled retrain (or two replicas) overlap.
        let mut runs = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let (store, s, id) = (db.store.clone(), s.clone(), id.clone());
            runs.spawn(async move {
                retrain::retrain(&store, &s, &id, &crate::helpers::quick_specs()).await
            });
        }
        while let Some(r) = runs.join_next().await {
            let out = r.unwrap();
            assert!(out.is_ok(), "{:#}", out.unwrap_err());
        }
        let models = db.store.models(&id).await.unwrap();
        let mut versions: Vec<i64> = models.iter().map(|m| m.version).collect();
        versions.sort_unstable();
        assert_eq!(versions, [1, 2, 3, 4, 5, 6], "{models:?}");
        let champions = models
            .iter()
            .filter(|m| m.status == ModelStatus::Champion)
            .count();
        assert_eq!(champions, 1, "{models:?}");
        // Every record's file is its own artifact, and no temp file is left behind.
        for m in &models {
            let a = prescale::forecast::registry::Registry::read(std::path::Path::new(&m.path))
                .unwrap();
            assert_eq!((a.version, &a.reason), (m.version, &m.reason));
        }
        let dir = std::path::Path::new(&models[0].path).parent().unwrap();
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(
            files,
            ["1.json", "2.json", "3.json", "4.json", "5.json", "6.json"]
        );
    }
);

on_each_backend!(
    a_champion_retires_only_the_champion_it_was_judged_against,
    |db| {
        use prescale::store::{ModelRecord, StoreError};
        let id = setup(&db, 10).await;
        let rec = |version: i64, status: ModelStatus| ModelRecord {
            series: id.clone(),
            version,
            status,
            chosen: "snaive24".into(),
            path: format!("{version}.json"),
            train_start: prescale::domain::Hour::from_unix(0).unwrap(),
            train_end: prescale::domain::Hour::from_unix(3600).unwrap(),
            validation_mae: None,
            compared_mae: None,
            champion_mae: None,
            reason: "test".into(),
            trained_at: chrono::Utc::now(),
        };
        let store = &db.store;
        store
            .register_model(&rec(1, ModelStatus::Champion), None)
            .await
            .unwrap();
        // A second first model: the database keeps one champion per series.
        let e = store
            .register_model(&rec(2, ModelStatus::Champion), None)
            .await
            .unwrap_err();
        assert!(e.is_conflict(), "{e}");
        // Judged against a version that is not the champion.
        let e = store
            .register_model(&rec(2, ModelStatus::Champion), Some(7))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::ChampionChanged(_)), "{e}");
        assert!(e.is_conflict());
        // A version that exists.
        let e = store
            .register_model(&rec(1, ModelStatus::Challenger), None)
            .await
            .unwrap_err();
        assert!(e.is_conflict(), "{e}");
        // None of those wrote anything; judged against the champion, a new one retires it.
        assert_eq!(store.models(&id).await.unwrap().len(), 1);
        store
            .register_model(&rec(2, ModelStatus::Champion), Some(1))
            .await
            .unwrap();
        let mut statuses: Vec<(i64, ModelStatus)> = store
            .models(&id)
            .await
            .unwrap()
            .iter()
            .map(|m| (m.version, m.status))
            .collect();
        statuses.sort_by_key(|s| s.0);
        assert_eq!(
            statuses,
            [(1, ModelStatus::Retired), (2, ModelStatus::Champion)]
        );
    }
);

on_each_backend!(
    a_sparse_history_trains_a_model_that_reads_back_within_a_bounded_window,
    |db| {
        let text =
            std::fs::read_to_string(repo_file("datasets/nasa_http_requests_hourly.csv")).unwrap();
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        let ten_days: Vec<&str> = lines.take(24 * 10).collect();
        // One stray hour three years before, ten days of data, then one hour twenty days later:
        // no validation forecast has an observed target, so every validation MAE is infinite.
        let body = format!(
            "{header}\n1992-07-01T00:00:00-04:00,5,0\n{}\n1995-07-31T00:00:00-04:00,1000,0\n",
            ten_days.join("\n")
        );
        let mut opts = options("sparse");
        opts.time_zone = Some(TimeZone::parse("America/New_York").unwrap());
        import(&db, &db.write("sparse.csv", &body), &opts)
            .await
            .unwrap();
        let s = settings(&db);
        let id = SeriesId::parse("sparse").unwrap();
        let out = retrain::retrain(&db.store, &s, &id, &crate::helpers::quick_specs())
            .await
            .unwrap();
        assert!(!out.validation_mae.is_finite(), "{}", out.validation_mae);
        let record = &db.store.models(&id).await.unwrap()[0];
        assert_eq!(record.validation_mae, None);
        // Training read the last two years, not the stray hour's.
        let span = record.train_start.hours_until(record.train_end) + 1;
        assert!(span <= retrain::TRAINING_HOURS as i64, "{span}");
        // The artifact reads back: the champion forecasts, and a retrain reads it.
        let f = predict::forecast(&db.store, &s, &id, 24, None)
            .await
            .unwrap();
        assert_eq!(f.points.len(), 24);
        retrain::retrain(&db.store, &s, &id, &crate::helpers::quick_specs())
            .await
            .unwrap();
    }
);

/// The bikeshare series' first `days` days: each row's timestamp and the `columns` asked for.
fn dc_days(days: usize, columns: &[&str]) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(repo_file("datasets/dc_bikeshare_hourly.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let at: Vec<usize> = std::iter::once("timestamp")
        .chain(columns.iter().copied())
        .map(|c| header.iter().position(|h| *h == c).unwrap())
        .collect();
    lines
        .take(24 * days)
        .map(|l| {
            let r: Vec<&str> = l.split(',').collect();
            at.iter().map(|&i| r[i].to_owned()).collect()
        })
        .collect()
}

on_each_backend!(
    a_weather_variable_absent_from_the_weeks_served_is_read_as_missing_not_shifted,
    |db| {
        // The first 100 days of the bikeshare series with its temperature, twice: one with a
        // snowfall column of zeros throughout, one where snowfall was recorded only in the first
        // ten days (long before the weeks a forecast reads). Both train on the same values
        // (a gap takes the last value, 0); served, the second's weeks hold no snowfall at all.
        let rows = dc_days(100, &["y", "temp_c"]);
        let csv = |snow_days: usize| {
            let mut out = String::from("timestamp,y,snowfall_cm,temp_c\n");
            for (i, r) in rows.iter().enumerate() {
                let snow = if i < 24 * snow_days { "0" } else { "" };
                out.push_str(&format!("{},{},{snow},{}\n", r[0], r[1], r[2]));
            }
            out
        };
        let s = settings(&db);
        // Ridge reads the weather columns (by position, as every model that reads them).
        let specs = [prescale::forecast::ModelSpec::Linear { penalty: 1.0 }];
        let mut forecasts = Vec::new();
        for (name, snow_days) in [("always", 100), ("early", 10)] {
            let mut opts = options(name);
            opts.time_zone = Some(TimeZone::parse("America/New_York").unwrap());
            import(
                &db,
                &db.write(&format!("{name}.csv"), &csv(snow_days)),
                &opts,
            )
            .await
            .unwrap();
            let id = SeriesId::parse(name).unwrap();
            retrain::retrain(&db.store, &s, &id, &specs).await.unwrap();
            let f = predict::forecast(&db.store, &s, &id, 24, None)
                .await
                .unwrap();
            forecasts.push(f.points);
        }
        for (a, b) in forecasts[0].iter().zip(&forecasts[1]) {
            assert!(
                (a.expected - b.expected).abs() < 1e-6
                    && (a.confidence - b.confidence).abs() < 1e-9,
                "{a:?} against {b:?}"
            );
        }
    }
);

on_each_backend!(
    served_weeks_without_the_lowest_weather_code_read_the_codes_as_training_ranked_them,
    |db| {
        // The bikeshare series' first 100 days with its weather code, and a code 0 (sunny)
        // recorded in the first three days only: the weeks a forecast reads hold codes 1-4.
        let mut csv = String::from("timestamp,y,weather\n");
        for (i, r) in dc_days(100, &["y", "weather"]).iter().enumerate() {
            let code = if i < 72 && i % 2 == 0 { "0" } else { &r[2] };
            csv.push_str(&format!("{},{},{code}\n", r[0], r[1]));
        }
        let mut opts = options("coded");
        opts.time_zone = Some(TimeZone::parse("America/New_York").unwrap());
        import(&db, &db.write("coded.csv", &csv), &opts)
            .await
            .unwrap();
        let s = settings(&db);
        let id = SeriesId::parse("coded").unwrap();
        let specs = [prescale::forecast::ModelSpec::Linear { penalty: 1.0 }];
        retrain::retrain(&db.store, &s, &id, &specs).await.unwrap();
        let served = predict::forecast(&db.store, &s, &id, 24, None)
            .await
            .unwrap();
        // The champion on the whole history, ranked as in training.
        let champion = db.store.champion(&id).await.unwrap().unwrap();
        let artifact =
            prescale::forecast::registry::Registry::read(std::path::Path::new(&champion.path))
                .unwrap();
        assert_eq!(
            artifact.categories["weather"],
            vec![0.0, 1.0, 2.0, 3.0, 4.0]
        );
        let series = db.store.series(&id).await.unwrap().unwrap();
        let (frame, p) = prescale::jobs::history::load(&db.store, &s, &series, None, 24, None)
            .await
            .unwrap();
        let w = prescale::forecast::features::Windows::of(&frame);
        let whole = artifact.model.forecast(&frame, &w, p, 24);
        for (a, b) in served.points.iter().zip(&whole) {
            assert!(
                (a.expected - b.max(0.0)).abs() < 1e-6,
                "{} against {b}",
                a.expected
            );
        }
    }
);

on_each_backend!(
    a_served_forecast_knows_the_holidays_of_its_training_history,
    |db| {
        // 406 days in Lima from 2025-01-01, no national calendar, three series holidays:
        // 2025-01-20, 2026-01-20 (the same date a year later) and 2026-02-03 (a year before it,
        // 2025-02-03, was an ordinary day). The model trains on all of it: its validation weeks
        // hold 2026-02-03, so the rule for a holiday validation never saw is not in play.
        let start = chrono::DateTime::parse_from_rfc3339("2025-01-01T00:00:00-05:00").unwrap();
        let mut csv = String::from("timestamp,y\n");
        for i in 0..24 * 406 {
            let day = std::f64::consts::TAU * (i % 24) as f64 / 24.0;
            let noise = ((i * 7919) % 13) as f64 - 6.0;
            let y = (100.0 + 40.0 * day.sin() + noise).round();
            let t = start + chrono::Duration::hours(i);
            csv.push_str(&format!("{},{y}\n", t.to_rfc3339()));
        }
        let mut opts = options("rides");
        opts.time_zone = Some(TimeZone::LIMA);
        opts.calendar = Some(CalendarName::None);
        import(&db, &db.write("rides.csv", &csv), &opts)
            .await
            .unwrap();
        let id = opts.series;
        let holidays: Vec<Holiday> = ["2025-01-20", "2026-01-20", "2026-02-03"]
            .iter()
            .map(|d| Holiday {
                date: d.parse().unwrap(),
                name: "feriado".into(),
            })
            .collect();
        db.store
            .put_custom_holidays(&id, &holidays, "test")
            .await
            .unwrap();
        let s = settings(&db);
        retrain::retrain(&db.store, &s, &id, &crate::helpers::quick_specs())
            .await
            .unwrap();
        // Served, a forecast reads the last weeks only: the year before comes from the model.
        let from = |at: &str| {
            let at = chrono::DateTime::parse_from_rfc3339(at).unwrap().to_utc();
            predict::forecast(&db.store, &s, &id, 18, Some(Hour::containing(at)))
        };
        let unseen = |p: &prescale::forecast::ForecastPoint| {
            p.doubts.names().any(|n| n == "unseen_special_day")
        };
        let held = from("2026-01-20T00:00:00-05:00").await.unwrap();
        assert!(held.points.iter().all(|p| !unseen(p)), "{:?}", held.points);
        let new = from("2026-02-03T00:00:00-05:00").await.unwrap();
        for p in &new.points {
            // The band's mean absolute error is at least 0.23 of the forecast.
            assert!(
                unseen(p) && p.upper80 - p.expected > 0.2 * p.expected,
                "{p:?}"
            );
        }
        // From 06:00 the holiday's morning is observed: the usual band.
        let morning = from("2026-02-03T06:00:00-05:00").await.unwrap();
        assert!(
            morning.points.iter().all(|p| !unseen(p)),
            "{:?}",
            morning.points
        );
    }
);
