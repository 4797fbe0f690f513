//! Importing demand CSVs: re-import, overlap, gaps, sub-hourly rows, and every kind of bad input
//! rejected with its exact place and the store left as it was.

use prescale::domain::{CalendarName, Hour, SeriesId, TimeZone, Tolerance};
use prescale::import::{ImportFailure, ImportOptions, ImportReport, Resample, import_demand};

use crate::helpers::{TestDb, on_each_backend, repo_file};

pub(crate) fn options(series: &str) -> ImportOptions {
    ImportOptions {
        series: SeriesId::parse(series).unwrap(),
        time_zone: None,
        calendar: None,
        resample: Resample::Sum,
        default_time_zone: TimeZone::LIMA,
        default_calendar: CalendarName::Pe,
        default_tolerance: Tolerance::DEFAULT,
    }
}

pub(crate) async fn import(
    db: &TestDb,
    path: &std::path::Path,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportFailure> {
    import_demand(&db.store, path, opts, &mut |_| {}).await
}

/// Hourly rows from 2026-07-27T00:00-05:00 (Lima), `y = f(i)`.
fn lima_csv(hours: impl IntoIterator<Item = i64>, f: impl Fn(i64) -> f64) -> String {
    let start = chrono::DateTime::parse_from_rfc3339("2026-07-27T00:00:00-05:00").unwrap();
    let mut s = String::from("timestamp,y,temp_c\n");
    for i in hours {
        let t = start + chrono::Duration::hours(i);
        s.push_str(&format!(
            "{},{},{}\n",
            t.to_rfc3339(),
            f(i),
            18.0 + (i % 24) as f64 / 4.0
        ));
    }
    s
}

fn hour(rfc3339: &str) -> Hour {
    Hour::containing(
        chrono::DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .to_utc(),
    )
}

on_each_backend!(
    a_shipped_dataset_imports_and_imports_again_as_a_no_op,
    |db| {
        let file = repo_file("datasets/nyc_taxi_passengers_hourly.csv");
        let mut opts = options("nyc-taxi");
        opts.time_zone = Some(TimeZone::parse("America/New_York").unwrap());
        opts.calendar = Some(CalendarName::Us);
        let first = import(&db, &file, &opts).await.unwrap();
        assert!(first.created_series);
        assert_eq!(
            (first.rows_read, first.hours, first.inserted, first.updated),
            (5160, 5160, 5160, 0)
        );
        assert_eq!(first.gaps.missing_hours, 1);
        assert_eq!(
            first.gaps.longest,
            Some((hour("2014-11-02T01:00:00-05:00"), 1))
        );
        assert_eq!(first.holidays, 8, "the holiday column flags 8 dates");
        let ignored: Vec<_> = first
            .columns
            .iter()
            .filter(|c| c.role == prescale::import::ColumnRole::Ignored)
            .collect();
        assert_eq!(ignored.len(), 1);
        assert_eq!(ignored[0].name, "anomaly_window");

        let before = db.snapshot().await;
        let again = import(&db, &file, &opts).await.unwrap();
        assert!(again.is_noop(), "{again:?}");
        assert_eq!(
            (again.inserted, again.updated, again.unchanged),
            (0, 0, 5160)
        );
        assert_eq!(
            db.snapshot().await,
            before,
            "a re-import writes nothing, not even an import record"
        );
        assert_eq!(db.store.imports(&opts.series).await.unwrap().len(), 1);
    }
);

on_each_backend!(
    an_overlapping_file_updates_the_overlap_and_keeps_the_rest,
    |db| {
        let a = db.write("a.csv", &lima_csv(0..48, |i| 100.0 + i as f64));
        let b = db.write("b.csv", &lima_csv(24..72, |i| 1000.0 + i as f64));
        let opts = options("trips");
        import(&db, &a, &opts).await.unwrap();
        let r = import(&db, &b, &opts).await.unwrap();
        assert_eq!((r.inserted, r.updated, r.unchanged), (24, 24, 0));
        let obs = db.store.all_observations(&opts.series).await.unwrap();
        assert_eq!(obs.len(), 72);
        assert_eq!(
            obs[23].demand.get(),
            123.0,
            "before the overlap: the first file's value"
        );
        assert_eq!(
            obs[24].demand.get(),
            1024.0,
            "in the overlap: the second file's value"
        );
        assert_eq!(obs[71].demand.get(), 1071.0);
        assert_eq!(obs[0].hour, hour("2026-07-27T00:00:00-05:00"));
        // Weather of the overlap was the same: only the new hours' values were written.
        assert_eq!(r.weather_values, 24);
    }
);

on_each_backend!(gaps_are_allowed_and_reported_with_the_longest_run, |db| {
    let hours = (0..10).chain(13..20).chain(25..30);
    let file = db.write("gaps.csv", &lima_csv(hours, |i| i as f64));
    let r = import(&db, &file, &options("trips")).await.unwrap();
    assert_eq!(r.hours, 22);
    assert_eq!((r.gaps.missing_hours, r.gaps.runs), (8, 2));
    assert_eq!(r.gaps.longest, Some((hour("2026-07-27T20:00:00-05:00"), 5)));
    let listed = db.store.list_series().await.unwrap();
    assert_eq!((listed[0].observations, listed[0].missing_hours), (22, 8));
});

on_each_backend!(sub_hourly_rows_are_summed_or_averaged_into_hours, |db| {
    let csv = "timestamp,y\n2026-07-27T00:00:00-05:00,10\n2026-07-27T00:30:00-05:00,20\n\
               2026-07-27T01:00:00-05:00,5\n2026-07-27T01:30:00-05:00,7\n";
    let file = db.write("minutes.csv", csv);
    let r = import(&db, &file, &options("sum")).await.unwrap();
    assert_eq!((r.rows_read, r.hours), (4, 2));
    let sums: Vec<f64> = db
        .store
        .all_observations(&SeriesId::parse("sum").unwrap())
        .await
        .unwrap()
        .iter()
        .map(|o| o.demand.get())
        .collect();
    assert_eq!(sums, [30.0, 12.0]);
    let mut mean = options("mean");
    mean.resample = Resample::Mean;
    import(&db, &file, &mean).await.unwrap();
    let means: Vec<f64> = db
        .store
        .all_observations(&mean.series)
        .await
        .unwrap()
        .iter()
        .map(|o| o.demand.get())
        .collect();
    assert_eq!(means, [15.0, 6.0]);
});

on_each_backend!(naive_timestamps_are_read_in_the_given_zone, |db| {
    let file = db.write(
        "naive.csv",
        "timestamp,y\n2026-07-27 08:00:00,10\n2026-07-27 09:00:00,12\n",
    );
    let err = import(&db, &file, &options("naive")).await.unwrap_err();
    let row = err.row().expect("a row error");
    assert_eq!((row.line, row.column.as_str()), (2, "timestamp"));
    assert!(row.problem.contains("no UTC offset"), "{row}");
    let mut opts = options("naive");
    opts.time_zone = Some(TimeZone::LIMA);
    import(&db, &file, &opts).await.unwrap();
    let obs = db.store.all_observations(&opts.series).await.unwrap();
    assert_eq!(obs[0].hour, hour("2026-07-27T13:00:00Z"));
});

/// (what, file text, line, column, words the problem must contain)
const BAD_FILES: &[(&str, &str, u64, &str, &str)] = &[
    (
        "missing timestamp",
        "timestamp,y\n2026-07-27T00:00:00-05:00,1\n,2\n",
        3,
        "timestamp",
        "empty timestamp",
    ),
    (
        "unparsable timestamp",
        "timestamp,y\n2026-07-27T00:00:00-05:00,1\n27/07/2026 01:00,2\n",
        3,
        "timestamp",
        "\"27/07/2026 01:00\"",
    ),
    (
        "no offset and no zone",
        "timestamp,y\n2026-07-27T00:00:00-05:00,1\n2026-07-27T01:00:00,2\n",
        3,
        "timestamp",
        "no UTC offset",
    ),
    (
        "non-numeric demand",
        "timestamp,y\n2026-07-27T00:00:00-05:00,1\n2026-07-27T01:00:00-05:00,lots\n",
        3,
        "y",
        "\"lots\" is not a number",
    ),
    (
        "NaN demand",
        "timestamp,y\n2026-07-27T00:00:00-05:00,NaN\n",
        2,
        "y",
        "finite",
    ),
    (
        "infinite demand",
        "timestamp,y\n2026-07-27T00:00:00-05:00,1\n2026-07-27T01:00:00-05:00,2\n2026-07-27T02:00:00-05:00,inf\n",
        4,
        "y",
        "finite",
    ),
    (
        "negative demand",
        "timestamp,y\n2026-07-27T00:00:00-05:00,-3\n",
        2,
        "y",
        "-3",
    ),
    (
        "duplicate hour, other value",
        "timestamp,y\n2026-07-27T00:00:00-05:00,1\n2026-07-27T01:00:00-05:00,2\n2026-07-27T06:00:00Z,3\n",
        4,
        "timestamp",
        "line 3",
    ),
    (
        "row with too few fields",
        "timestamp,y,temp_c\n2026-07-27T00:00:00-05:00,1,20\n2026-07-27T01:00:00-05:00,2\n",
        3,
        "(row)",
        "2 fields, the header has 3",
    ),
    (
        "bad weather value",
        "timestamp,y,temp_c\n2026-07-27T00:00:00-05:00,1,warm\n",
        2,
        "temp_c",
        "\"warm\"",
    ),
    (
        "bad holiday flag",
        "timestamp,y,holiday\n2026-07-27T00:00:00-05:00,1,yes\n",
        2,
        "holiday",
        "\"yes\"",
    ),
    (
        "header without y",
        "timestamp,demand\n2026-07-27T00:00:00-05:00,1\n",
        1,
        "(header)",
        "\"y\"",
    ),
    (
        "impossible date",
        "timestamp,y\n2026-07-27T00:00:00-05:00,1\n2026-02-30T01:00:00-05:00,2\n",
        3,
        "timestamp",
        "not ISO-8601",
    ),
];

on_each_backend!(
    every_bad_input_is_rejected_with_its_place_and_nothing_is_written,
    |db| {
        // A store with data in it, so "unchanged" means something.
        let good = db.write("good.csv", &lima_csv(0..24, |i| 50.0 + i as f64));
        import(&db, &good, &options("trips")).await.unwrap();
        let before = db.snapshot().await;
        for (i, (what, text, line, column, words)) in BAD_FILES.iter().enumerate() {
            let path = db.write(&format!("bad{i}.csv"), text);
            for series in ["trips", "fresh"] {
                let err = import(&db, &path, &options(series)).await.expect_err(what);
                let row = err
                    .row()
                    .unwrap_or_else(|| panic!("{what}: expected a row error, got {err}"));
                assert_eq!(
                    (row.line, row.column.as_str()),
                    (*line, *column),
                    "{what}: {row}"
                );
                assert!(row.problem.contains(words), "{what}: {row}");
                assert_eq!(row.path, path);
                assert!(
                    err.to_string()
                        .starts_with(&format!("{}:{line}: column", path.display())),
                    "{err}"
                );
                assert_eq!(db.snapshot().await, before, "{what}: the store changed");
            }
        }
    }
);

on_each_backend!(
    a_flag_that_contradicts_the_stored_series_is_an_error,
    |db| {
        let file = db.write("a.csv", &lima_csv(0..3, |i| i as f64));
        import(&db, &file, &options("trips")).await.unwrap();
        let mut opts = options("trips");
        opts.time_zone = Some(TimeZone::parse("Europe/Paris").unwrap());
        let err = import(&db, &file, &opts).await.unwrap_err().to_string();
        assert!(
            err.contains("America/Lima") && err.contains("Europe/Paris"),
            "{err}"
        );
    }
);

on_each_backend!(
    offsets_that_the_series_zone_never_uses_are_warned_about,
    |db| {
        // New York offsets imported into a Lima series: hours are right, local meaning is not.
        let file = repo_file("datasets/nasa_http_requests_hourly.csv");
        let r = import(&db, &file, &options("nasa")).await.unwrap();
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("America/Lima does not use")),
            "{:?}",
            r.warnings
        );
    }
);

/// Imports `days` days of synthetic Lima demand ending at the current hour as series `id`, so
/// the current hour can be forecast and published.
pub(crate) async fn import_recent(db: &TestDb, id: &str, seed: u64, days: usize) {
    let now = Hour::containing(chrono::Utc::now());
    let cal = prescale::domain::Calendar::new(TimeZone::LIMA, CalendarName::Pe, []);
    let frame = prescale::bench::synthetic(seed, 24 * days, &cal);
    let mut csv = String::from("timestamp,y\n");
    for (i, y) in frame.y.iter().enumerate() {
        csv.push_str(&format!("{},{y}\n", now.plus(i as i64 - 24 * days as i64)));
    }
    let mut opts = options(id);
    opts.time_zone = Some(TimeZone::LIMA);
    import(db, &db.write(&format!("{id}.csv"), &csv), &opts)
        .await
        .unwrap();
}

/// Every series' listed count and span against a recount of its stored rows, partial ones
/// included.
async fn assert_counts_match_rows(db: &TestDb) {
    let (from, to) = (
        Hour::from_unix(0).unwrap(),
        Hour::from_unix(3600 << 28).unwrap(),
    );
    for s in db.store.list_series().await.unwrap() {
        let rows = db
            .store
            .observations_marked(&s.series.id, from, to)
            .await
            .unwrap();
        let id = &s.series.id;
        assert_eq!(s.observations, rows.len() as i64, "{id}");
        assert_eq!(s.first_hour, rows.first().map(|(o, _)| o.hour), "{id}");
        assert_eq!(s.last_hour, rows.last().map(|(o, _)| o.hour), "{id}");
        assert_eq!(
            db.store.count_observations(id).await.unwrap(),
            s.observations
        );
    }
}

on_each_backend!(series_counts_follow_every_write_of_observations, |db| {
    use prescale::domain::{Demand, Observation};
    let opts = options("trips");
    import(
        &db,
        &db.write("a.csv", &lima_csv(0..48, |i| i as f64)),
        &opts,
    )
    .await
    .unwrap();
    // Overlapping the first, then a gap of ten hours.
    let b = db.write(
        "b.csv",
        &lima_csv((24..60).chain(70..80), |i| 2.0 * i as f64),
    );
    import(&db, &b, &opts).await.unwrap();
    // Partial counts: a new hour, and one whose complete count is stored (not replaced).
    let first = hour("2026-07-27T00:00:00-05:00");
    let partial = |i: i64| Observation {
        hour: first.plus(i),
        demand: Demand::new(5.0).unwrap(),
    };
    db.store
        .put_partial(&opts.series, &[partial(80), partial(79)])
        .await
        .unwrap();
    // A rejected import changes nothing, counts included.
    let before = db.snapshot().await;
    let bad = db.write("bad.csv", "timestamp,y\n2026-07-31T00:00:00-05:00,many\n");
    assert!(import(&db, &bad, &opts).await.is_err());
    assert_eq!(db.snapshot().await, before);
    // A series with no observations yet.
    let empty = SeriesId::parse("empty").unwrap();
    db.store
        .create_series(&prescale::domain::Series {
            id: empty.clone(),
            time_zone: TimeZone::LIMA,
            calendar: CalendarName::Pe,
            unit: "trips".into(),
            tolerance: Tolerance::DEFAULT,
            weather_location: "empty".into(),
            created_at: chrono::Utc::now(),
        })
        .await
        .unwrap();

    assert_counts_match_rows(&db).await;
    let listed = db.store.list_series().await.unwrap();
    assert_eq!(listed[0].series.id, empty);
    assert_eq!((listed[0].observations, listed[0].first_hour), (0, None));
    let trips = &listed[1];
    assert_eq!((trips.observations, trips.missing_hours), (71, 10));
    assert_eq!(trips.last_hour, Some(first.plus(80)));
    let pending = db.store.series_without_champion().await.unwrap();
    assert_eq!(pending, [(empty, 0), (opts.series.clone(), 71)]);
});

on_each_backend!(
    imports_of_one_series_committing_together_are_all_counted,
    |db| {
        let opts = options("trips");
        let files: Vec<_> = (0..8)
            .map(|k| {
                let hours = 24 * k..24 * (k + 1);
                db.write(&format!("{k}.csv"), &lima_csv(hours, |i| i as f64))
            })
            .collect();
        // The series exists first, so that every import is a write of observations into it.
        import(
            &db,
            &db.write("seed.csv", &lima_csv(500..501, |_| 1.0)),
            &opts,
        )
        .await
        .unwrap();
        // Interleaved on one thread (an import's progress callback is not Send), each on its own
        // connection of the pool.
        let local = tokio::task::LocalSet::new();
        let runs: Vec<_> = files
            .into_iter()
            .map(|f| {
                let (store, opts) = (db.store.clone(), opts.clone());
                local
                    .spawn_local(async move { import_demand(&store, &f, &opts, &mut |_| {}).await })
            })
            .collect();
        local
            .run_until(async {
                for r in runs {
                    r.await.unwrap().unwrap();
                }
            })
            .await;
        assert_counts_match_rows(&db).await;
        assert_eq!(db.store.list_series().await.unwrap()[0].observations, 193);
    }
);

on_each_backend!(
    the_counts_migration_counts_what_was_stored_before_it,
    |db| {
        use sqlx::Connection;
        let opts = options("trips");
        let file = db.write("a.csv", &lima_csv((0..30).chain(40..50), |i| i as f64));
        import(&db, &file, &opts).await.unwrap();
        // Back to the schema before the migration, with the observations stored.
        let mut conn = sqlx::AnyConnection::connect(db.url.as_str()).await.unwrap();
        for sql in [
            "DROP TABLE series_counts",
            "DELETE FROM _sqlx_migrations WHERE version = 8",
        ] {
            sqlx::query(sql).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
        db.store.close().await;
        let store = prescale::store::Store::open(&db.url).await.unwrap();
        let s = &store.list_series().await.unwrap()[0];
        assert_eq!((s.observations, s.missing_hours), (40, 10));
        store.close().await;
    }
);
