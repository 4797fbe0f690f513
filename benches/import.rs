//! Import throughput: a generated ~10 MB demand CSV (hourly rows with weather columns) into a
//! fresh SQLite file, and into PostgreSQL when it is reachable. Prints wall times; run with
//! `cargo bench --bench import`. Target (issue 2): a 10 MB file in well under 10 s.

use std::io::Write;
use std::time::Instant;

use prescale::domain::{CalendarName, SeriesId, TimeZone, Tolerance};
use prescale::import::{ImportOptions, Resample, import_demand};
use prescale::store::{DatabaseUrl, Store};
use sqlx::{Connection, Executor};

fn write_csv(path: &std::path::Path, target_bytes: u64) -> u64 {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(f, "timestamp,y,temp_c,precip_mm,humidity_pct,holiday").unwrap();
    let start = chrono::DateTime::parse_from_rfc3339("2000-01-01T00:00:00-05:00").unwrap();
    let (mut rows, mut bytes) = (0u64, 0u64);
    while bytes < target_bytes {
        let t = start + chrono::Duration::hours(rows as i64);
        let h = (rows % 24) as f64;
        let line = format!(
            "{},{},{:.1},{:.1},{},{}\n",
            t.to_rfc3339(),
            1000 + (rows * 7919) % 5000,
            18.0 + h / 3.0,
            if rows % 17 == 0 { 1.2 } else { 0.0 },
            60 + rows % 30,
            u8::from(rows % 500 < 24)
        );
        bytes += line.len() as u64;
        f.write_all(line.as_bytes()).unwrap();
        rows += 1;
    }
    rows
}

async fn run(url: &DatabaseUrl, path: &std::path::Path, label: &str) {
    let store = Store::open(url).await.unwrap();
    let opts = ImportOptions {
        series: SeriesId::parse("bench").unwrap(),
        time_zone: Some(TimeZone::LIMA),
        calendar: Some(CalendarName::Pe),
        resample: Resample::Sum,
        default_time_zone: TimeZone::LIMA,
        default_calendar: CalendarName::Pe,
        default_tolerance: Tolerance::DEFAULT,
    };
    let t = Instant::now();
    let first = import_demand(&store, path, &opts, &mut |_| {})
        .await
        .unwrap();
    let first_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let again = import_demand(&store, path, &opts, &mut |_| {})
        .await
        .unwrap();
    let again_s = t.elapsed().as_secs_f64();
    assert!(again.is_noop());
    println!(
        "{label:<10} first import {first_s:6.2} s ({} hours, {} weather values); re-import (no-op) {again_s:6.2} s",
        first.hours, first.weather_values
    );
    store.close().await;
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("demand.csv");
    let rows = write_csv(&csv, 10 * 1024 * 1024);
    let mb = std::fs::metadata(&csv).unwrap().len() as f64 / (1024.0 * 1024.0);
    println!("file: {mb:.1} MiB, {rows} rows, 3 weather columns + holiday");
    println!("parse only {:6.2} s", parse_only(&csv));
    let sqlite = DatabaseUrl::parse(&format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))
    .unwrap();
    run(&sqlite, &csv, "sqlite").await;

    let admin = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    match sqlx::postgres::PgConnection::connect(&admin).await {
        Ok(mut conn) => {
            conn.execute("DROP DATABASE IF EXISTS prescale_bench WITH (FORCE)")
                .await
                .unwrap();
            conn.execute("CREATE DATABASE prescale_bench")
                .await
                .unwrap();
            let base = admin
                .rsplit_once('/')
                .map_or(admin.as_str(), |(b, _)| b)
                .to_owned();
            run(
                &DatabaseUrl::parse(&format!("{base}/prescale_bench")).unwrap(),
                &csv,
                "postgres",
            )
            .await;
            conn.execute("DROP DATABASE IF EXISTS prescale_bench WITH (FORCE)")
                .await
                .unwrap();
        }
        Err(e) => println!("postgres   skipped: {admin} not reachable ({e})"),
    }
}

/// Where the time goes: parsing alone, without the store.
#[allow(dead_code)]
fn parse_only(path: &std::path::Path) -> f64 {
    let t = Instant::now();
    let parsed =
        prescale::import::parse_demand_csv(path, TimeZone::LIMA, false, Resample::Sum, &mut |_| {})
            .unwrap();
    assert!(!parsed.hours.is_empty());
    t.elapsed().as_secs_f64()
}
