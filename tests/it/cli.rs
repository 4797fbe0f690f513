//! The `prescale` binary as a user runs it: exit codes, messages, tables and JSON.

use std::path::Path;
use std::process::{Command, Output};

use crate::helpers::repo_file;

fn prescale(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_prescale"))
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("PRESCALE_CONFIG")
        .output()
        .expect("run prescale")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn import_creates_prescale_db_in_the_working_directory_and_series_list_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = repo_file("datasets/nasa_http_requests_hourly.csv");
    let out = prescale(
        dir.path(),
        &[
            "import",
            "--series",
            "nasa",
            "--tz",
            "America/New_York",
            "--calendar",
            "US",
            file.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("prescale.db").is_file());
    assert!(stdout(&out).contains("1366 new"), "{}", stdout(&out));

    let out = prescale(dir.path(), &["series", "list"]);
    let text = stdout(&out);
    let row = text
        .lines()
        .find(|l| l.starts_with("nasa"))
        .unwrap_or_else(|| panic!("{text}"));
    let cells: Vec<_> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        [
            "nasa",
            "America/New_York",
            "US",
            "1366",
            "1995-07-01T00:00:00-04:00",
            "1995-08-31T23:00:00-04:00",
            "122"
        ]
    );

    let out = prescale(dir.path(), &["series", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["id"], "nasa");
    assert_eq!(v[0]["observations"], 1366);
    assert_eq!(v[0]["missing_hours"], 122);
}

#[test]
fn a_bad_file_exits_non_zero_with_file_line_and_column_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "timestamp,y\n2026-07-27T00:00:00-05:00,1\n2026-07-27T01:00:00-05:00,-4\n",
    )
    .unwrap();
    let out = prescale(
        dir.path(),
        &["import", "--series", "trips", bad.to_str().unwrap()],
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("{}:3: column \"y\"", bad.display())),
        "{err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    let out = prescale(dir.path(), &["series", "list", "--json"]);
    assert_eq!(stdout(&out).trim(), "[]", "the series was not created");
}

#[test]
fn holidays_lists_a_calendar_year_as_a_table_or_json() {
    let dir = tempfile::tempdir().unwrap();
    let out = prescale(
        dir.path(),
        &["holidays", "--calendar", "PE", "--year", "2026", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dates: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["date"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(dates.len(), 16);
    assert!(dates.contains(&"2026-04-03".to_owned()), "Good Friday 2026");
    let out = prescale(
        dir.path(),
        &["holidays", "--calendar", "US", "--year", "2026"],
    );
    assert!(
        stdout(&out).contains("2026-07-03  Fri  Independence Day (observed)"),
        "{}",
        stdout(&out)
    );
    assert!(
        !dir.path().join("prescale.db").exists(),
        "listing a built-in calendar needs no database"
    );
}

#[test]
fn a_bad_config_file_is_named_with_its_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("prescale.toml"),
        "log = \"info\"\n[series_defaults]\ncalendar = \"FR\"\n",
    )
    .unwrap();
    let out = prescale(dir.path(), &["series", "list"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("prescale.toml:3:")
            && err.contains("series_defaults.calendar")
            && err.contains("FR"),
        "{err}"
    );
}

#[test]
fn the_example_config_in_the_repository_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let example = repo_file("prescale.toml");
    let out = prescale(
        dir.path(),
        &["--config", example.to_str().unwrap(), "config", "--json"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["series_defaults"]["time_zone"], "America/Lima");
}

#[test]
fn a_closed_pipe_is_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_prescale"))
        .args(["holidays", "--calendar", "US", "--year", "2026"])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before prescale writes
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

crate::helpers::on_each_backend!(the_database_url_flag_selects_the_backend, |db| {
    let file = repo_file("datasets/nasa_http_requests_hourly.csv");
    let args = [
        "--database-url",
        db.url.as_str(),
        "import",
        "--series",
        "nasa",
        "--tz",
        "America/New_York",
        file.to_str().unwrap(),
    ];
    let out = prescale(db.dir.path(), &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = prescale::domain::SeriesId::parse("nasa").unwrap();
    assert_eq!(db.store.count_observations(&id).await.unwrap(), 1366);
    let out = prescale(
        db.dir.path(),
        &[
            "--database-url",
            db.url.as_str(),
            "import",
            "--series",
            "nasa",
            file.to_str().unwrap(),
        ],
    );
    assert!(stdout(&out).contains("nothing written"), "{}", stdout(&out));
});
