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
fn train_all_skips_a_series_too_young_to_train_and_train_series_names_why() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        std::fs::read_to_string(repo_file("datasets/nasa_http_requests_hourly.csv")).unwrap();
    // The first `days` days of the NASA series.
    let days = |n: usize| -> String {
        text.lines()
            .take(1 + 24 * n)
            .map(|l| format!("{l}\n"))
            .collect()
    };
    for (name, n) in [("grown", 12), ("young", 5)] {
        let file = dir.path().join(format!("{name}.csv"));
        std::fs::write(&file, days(n)).unwrap();
        let out = prescale(
            dir.path(),
            &[
                "import",
                "--series",
                name,
                "--tz",
                "America/New_York",
                file.to_str().unwrap(),
            ],
        );
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = prescale(dir.path(), &["train", "--all"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("grown v1 Champion"), "{text}");
    assert!(
        text.contains(
            "skipped young: series young has 120 observed hours; training needs at least 7 days"
        ),
        "{text}"
    );
    assert!(text.contains("1 of 2 series trained"), "{text}");
    let out = prescale(dir.path(), &["train", "--all", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["skipped"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["failed"].as_array().unwrap().len(), 0, "{v}");
    // Asked for by name, the young series is an error.
    let out = prescale(dir.path(), &["train", "--series", "young"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("at least 7 days"), "{}", stderr(&out));
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
fn events_list_of_a_series_says_which_events_will_be_unlike_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let file = repo_file("datasets/nasa_http_requests_hourly.csv");
    let file = file.to_str().unwrap();
    let out = prescale(dir.path(), &["import", "--series", "nasa", file]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Demand is stored for July and August 1995. The second event is three times the first,
    // the third 1.17 times the second, the last (after the data) 2.86 times the third.
    let events = dir.path().join("events.csv");
    std::fs::write(
        &events,
        "event_id,name,venue,starts_at,ends_at,expected_attendance\n\
         a,A,Here,1995-07-10T18:00:00Z,1995-07-10T21:00:00Z,20000\n\
         b,B,Here,1995-07-20T18:00:00Z,1995-07-20T21:00:00Z,60000\n\
         c,C,Here,1995-08-10T18:00:00Z,1995-08-10T21:00:00Z,70000\n\
         d,D,Here,1995-09-10T18:00:00Z,1995-09-10T21:00:00Z,200000\n",
    )
    .unwrap();
    let events = events.to_str().unwrap();
    let out = prescale(
        dir.path(),
        &["events", "import", "--series", "nasa", events],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = prescale(dir.path(), &["events", "list", "--series", "nasa"]);
    let text = stdout(&out);
    assert!(text.contains("UNLIKE HISTORY"), "{text}");
    let unlike: Vec<_> = text
        .lines()
        .skip(1)
        .map(|l| {
            (
                l.split_whitespace().next().unwrap(),
                l.split_whitespace().last().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        unlike,
        [("a", "yes"), ("b", "yes"), ("c", "no"), ("d", "yes")],
        "{text}"
    );
    let out = prescale(
        dir.path(),
        &["events", "list", "--series", "nasa", "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let flags: Vec<_> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap(),
                e["unlike_history"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(flags, [("a", true), ("b", true), ("c", false), ("d", true)]);
    // Of no one series, events are listed as stored.
    let out = prescale(dir.path(), &["events", "list"]);
    assert!(!stdout(&out).contains("UNLIKE"), "{}", stdout(&out));
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
fn a_count_of_zero_days_hours_or_series_is_refused_with_the_flag_and_value_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = repo_file("datasets/nasa_http_requests_hourly.csv");
    let forecasts = dir.path().join("out");
    for (command, flag, value) in [
        ("backtest", "--test-days", "0"),
        ("backtest", "--origin-every", "0"),
        ("backtest", "--refit-every-days", "0"),
        ("backtest", "--origin-every", "x"),
        ("simulate", "--test-days", "0"),
        ("simulate", "--refit-every-days", "0"),
    ] {
        // Where each command would write.
        let output = match command {
            "backtest" => "--forecasts-out",
            _ => "--json-out",
        };
        let mut args = vec![command, file.to_str().unwrap(), flag, value];
        args.extend([output, forecasts.to_str().unwrap()]);
        if command == "simulate" {
            args.extend(["--target", "target.toml"]);
        }
        let out = prescale(dir.path(), &args);
        assert!(!out.status.success(), "{command} {flag} {value}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("invalid value '{value}' for '{flag}"))
                && err.contains("at least 1"),
            "{command} {flag} {value}: {err}"
        );
        assert!(!forecasts.exists());
    }
    // Training and the benchmarks: no series at once, or fewer days than training needs,
    // would report a run that trained nothing.
    for (args, says) in [
        (["train", "--all", "--parallel", "0"], "at least 1"),
        (["bench", "train", "--series", "0"], "at least 1"),
        (["bench", "train", "--workers", "0"], "at least 1"),
        (
            ["bench", "train", "--days", "6"],
            "at least 7 (what training needs)",
        ),
        (
            ["bench", "publish", "--days", "3"],
            "at least 7 (what training needs)",
        ),
    ] {
        let out = prescale(dir.path(), &args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains(&format!("invalid value '{}' for '{}", args[3], args[2]))
                && err.contains(says),
            "{args:?}: {err}"
        );
    }
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
    // Without --json: a line per key, named as errors name them.
    let out = prescale(
        dir.path(),
        &["--config", example.to_str().unwrap(), "config"],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for line in [
        "series_defaults.time_zone = \"America/Lima\"",
        "retention.published_days = 35",
        &format!("retrain.schedule = {}", v["retrain"]["schedule"]),
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
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

#[test]
fn simulate_replays_four_policies_and_its_json_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let file = repo_file("datasets/nasa_http_requests_hourly.csv");
    let target = dir.path().join("target.toml");
    std::fs::write(
        &target,
        "name = \"web\"\nkind = \"cloud_run\"\nseries = \"nasa\"\nproject = \"p\"\nlocation = \"l\"\nservice = \"web\"\nrequests_per_instance_per_second = 0.05\nmin = 1\nmax = 100\n",
    )
    .unwrap();
    let json = dir.path().join("s.json");
    let out = prescale(
        dir.path(),
        &[
            "simulate",
            file.to_str().unwrap(),
            "--target",
            target.to_str().unwrap(),
            "--test-days",
            "14",
            "--models",
            "snaive24,snaive168,profile168x4,ridge",
            "--sweep",
            "threshold=0.5,0.9",
            "--json-out",
            json.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for p in [
        "| predictive |",
        "| reactive |",
        "| static |",
        "| oracle |",
        "| threshold=0.5 |",
        "| threshold=0.9 |",
    ] {
        assert!(text.contains(p), "{p}: {text}");
    }
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let demand: Vec<f64> = v["demand"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(demand.len(), v["hours"].as_array().unwrap().len());
    assert!(demand.len() >= 14 * 24 - 2);
    let per = 0.05 * 3600.0;
    for p in v["policies"].as_array().unwrap() {
        let inst: Vec<f64> = p["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let cap: Vec<f64> = p["capacity_requests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        assert!((inst.iter().sum::<f64>() - p["instance_hours"].as_f64().unwrap()).abs() < 1e-6);
        assert!(
            inst.iter().all(|&i| (1.0..=100.0).contains(&i)),
            "within the target's limits"
        );
        assert!(
            cap.iter().zip(&inst).all(|(c, i)| *c <= i * per + 1e-6),
            "never serves more than it bills"
        );
        let under: f64 = demand.iter().zip(&cap).map(|(d, c)| (d - c).max(0.0)).sum();
        assert!(
            (under - p["under_requests"].as_f64().unwrap()).abs() < 1e-6,
            "{}",
            p["policy"]
        );
        assert!(
            (p["cost"].as_f64().unwrap() - p["instance_hours"].as_f64().unwrap() * 0.0864).abs()
                < 1e-6
        );
    }
    let oracle = &v["policies"][3];
    assert_eq!(
        (oracle["policy"].as_str(), oracle["under_requests"].as_f64()),
        (Some("oracle"), Some(0.0))
    );

    // A bad target file is named, with what is wrong.
    std::fs::write(
        &target,
        "name = \"web\"\nkind = \"cloud_run\"\nseries = \"nasa\"\nmax = 3\n",
    )
    .unwrap();
    let out = prescale(
        dir.path(),
        &[
            "simulate",
            file.to_str().unwrap(),
            "--target",
            target.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("target.toml: target \"web\" (cloud_run): missing field `project`"),
        "{}",
        stderr(&out)
    );
}

/// Every `<svg>...</svg>` of a page, each parsed as XML.
fn svgs(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find("<svg") {
        let j = rest[i..].find("</svg>").expect("closed svg") + i + "</svg>".len();
        out.push(rest[i..j].to_owned());
        rest = &rest[j..];
    }
    out
}

#[test]
fn report_recomputes_the_backtest_metrics_and_is_one_self_contained_page() {
    let dir = tempfile::tempdir().unwrap();
    let data = repo_file("datasets/nasa_http_requests_hourly.csv");
    let (m, f) = (dir.path().join("M.json"), dir.path().join("F.csv"));
    let out = prescale(
        dir.path(),
        &[
            "backtest",
            data.to_str().unwrap(),
            "--tz",
            "America/New_York",
            "--test-days",
            "14",
            "--models",
            "snaive24,snaive168,profile168x4,ridge,boosted",
            "--forecasts-out",
            f.to_str().unwrap(),
            "--json-out",
            m.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let bt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&m).unwrap()).unwrap();

    let json = dir.path().join("report.json");
    let base = [
        "report",
        "--backtest",
        m.to_str().unwrap(),
        "--forecasts",
        f.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ];
    let out = prescale(
        dir.path(),
        &[&base[..], &["--out", json.to_str().unwrap()]].concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let (rm, bm) = (&r["metrics"], &bt["metrics"]);
    for k in [
        "n_points",
        "mae",
        "rmse",
        "smape_pct",
        "mase",
        "bias",
        "coverage80",
        "coverage95",
        "width80",
        "width95",
        "calibration_error",
    ] {
        let (a, b) = (rm[k].as_f64().unwrap(), bm[k].as_f64().unwrap());
        assert!(
            (a - b).abs() <= 1e-9 * b.abs().max(1.0),
            "{k}: report {a} vs backtest {b}"
        );
    }
    assert_eq!(rm["reliability"], bm["reliability"]);
    for k in ["score", "reliability", "resolution", "uncertainty", "skill"] {
        let (a, b) = (
            rm["brier"][k].as_f64().unwrap(),
            bm["brier"][k].as_f64().unwrap(),
        );
        assert!(
            (a - b).abs() <= 1e-9,
            "brier {k}: report {a} vs backtest {b}"
        );
    }
    // The calibrated confidence's error on the same points: from F.csv as from the backtest.
    assert!(bm["calibration_error_floor"]["median"].as_f64().unwrap() > 0.0);
    assert_eq!(rm["calibration_error_floor"], bm["calibration_error_floor"]);
    assert_eq!(rm["mae_by_lead_bucket"], bm["mae_by_lead_bucket"]);
    assert_eq!(r["by_lead"].as_array().unwrap().len(), 24);
    assert_eq!(r["mae_by_hour"].as_array().unwrap().len(), 24);
    // Calibration by hour of day holds every point once, and its hits are the reliability
    // table's.
    let by_hour = r["calibration_by_hour"].as_array().unwrap();
    assert_eq!(by_hour.len(), 24);
    let f64_of = |v: &serde_json::Value, k: &str| v[k].as_f64().unwrap();
    let (mut n, mut hits, mut conf) = (0.0, 0.0, 0.0);
    for h in by_hour.iter().filter(|h| !h.is_null()) {
        // From daily origins with a 24-hour horizon each target hour is forecast once.
        assert_eq!(h["targets"], h["n"], "{h}");
        n += f64_of(h, "n");
        hits += f64_of(h, "n") * f64_of(h, "hit_rate");
        conf += f64_of(h, "n") * f64_of(h, "mean_confidence");
    }
    assert_eq!(n, rm["n_points"].as_f64().unwrap());
    let bins = rm["reliability"].as_array().unwrap();
    let table_hits: f64 = bins
        .iter()
        .map(|b| f64_of(b, "n") * f64_of(b, "hit_rate"))
        .sum();
    let table_conf: f64 = bins
        .iter()
        .map(|b| f64_of(b, "n") * f64_of(b, "mean_confidence"))
        .sum();
    assert!((hits - table_hits).abs() < 1e-6, "{hits} vs {table_hits}");
    assert!((conf - table_conf).abs() < 1e-6, "{conf} vs {table_conf}");
    assert_eq!(r["worst_days"].as_array().unwrap().len(), 5);
    let worst = r["worst_days"][0]["mae"].as_f64().unwrap();
    assert!(
        r["worst_days"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["mae"].as_f64().unwrap() <= worst)
    );
    assert_eq!(
        r["models"].as_array().unwrap().len(),
        bt["refits"].as_array().unwrap().len()
    );
    assert_eq!(r["models"][0]["chosen"], bt["refits"][0]["chosen"]);
    // Every refit names the trees of the boosting candidates: what the first refit's validation
    // kept (at most its maximum), the same at every refit.
    let trees = &bt["refits"][0]["trees"];
    assert_eq!(trees.as_object().unwrap().len(), 1, "{trees}");
    let max = prescale::forecast::ModelSpec::candidates()
        .iter()
        .find(|s| s.name() == "boosted")
        .and_then(prescale::forecast::ModelSpec::trees)
        .unwrap();
    let n = trees["boosted"].as_u64().unwrap();
    assert!((1..=u64::from(max)).contains(&n), "boosted: {n} trees");
    assert!(
        bt["refits"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["trees"] == *trees)
    );

    let page = dir.path().join("report.html");
    let out = prescale(
        dir.path(),
        &[&base[..], &["--out", page.to_str().unwrap()]].concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("report written to"),
        "{}",
        stdout(&out)
    );
    let html = std::fs::read_to_string(&page).unwrap();
    // Self-contained: no scripts, stylesheets, images or links to fetch.
    for bad in ["<script", "<link", "src=", "href=", "@import", "url("] {
        assert!(!html.contains(bad), "{bad}");
    }
    let without_ns = html.replace("http://www.w3.org/2000/svg", "");
    assert!(!without_ns.contains("http://") && !without_ns.contains("https://"));
    let charts = svgs(&html);
    assert_eq!(
        charts.len(),
        7,
        "forecast, lead, hour, weekday, reliability, coverage, calibration by hour"
    );
    for s in &charts {
        let doc =
            roxmltree::Document::parse(s).unwrap_or_else(|e| panic!("SVG is not well-formed: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
    }
    assert!(
        html.contains(&format!("{:.3}", bm["mae"].as_f64().unwrap())),
        "the MAE is on the page"
    );

    // Markdown on the terminal by default; bad input is named.
    let out = prescale(dir.path(), &base);
    assert!(
        stdout(&out).starts_with("# Accuracy report"),
        "{}",
        stdout(&out)
    );
    assert!(
        stdout(&out).contains("Confidence minus hit rate by local hour of the target: 0 h "),
        "{}",
        stdout(&out)
    );
    std::fs::write(&f, "origin,timestamp,lead,y,yhat,lo80,hi80,lo95,hi95,confidence\na,1995-08-01T00:00:00-04:00,1,3,x,1,2,3,4,0.5\n").unwrap();
    let out = prescale(dir.path(), &base);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("F.csv:2: column \"yhat\": value \"x\" is not a number"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_demo_tells_the_whole_story_and_writes_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let datasets = repo_file("datasets");
    let out = prescale(
        dir.path(),
        &["demo", "--datasets", datasets.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for part in [
        "imported dc_bikeshare_hourly.csv as dc-bikeshare",
        "trained 3 series",
        "backtest of dc_bikeshare_hourly.csv",
        "MASE",
        "predictive under-provisioned",
        "next 24 hours of dc-bikeshare",
        "CONFIDENCE",
        "scaling recommendations (Cloud Run min instances, dry run: apply = false)",
        "nothing sent",
        "report (accuracy, calibration, policies): prescale-demo/report.html",
    ] {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }
    // Each recommendation row has a decision, and a hold says why.
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("rentals-api "))
        .collect();
    assert_eq!(rows.len(), 12, "{text}");
    assert!(
        rows.iter()
            .all(|r| r.contains(" apply ") || r.contains("below the threshold"))
    );
    let html = std::fs::read_to_string(dir.path().join("prescale-demo/report.html")).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        8,
        "seven accuracy charts and the policies"
    );
}

#[test]
fn backtest_bad_input_names_the_file_once_with_its_line_column_and_value() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(
        &bad,
        "timestamp,y\n2020-01-01T00:00:00-05:00,1\n2020-01-01T01:00:00-05:00,abc\n",
    )
    .unwrap();
    let out = prescale(dir.path(), &["backtest", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("bad.csv:3: column \"y\": value \"abc\" is not a number"),
        "{err}"
    );
    assert_eq!(err.matches("bad.csv").count(), 1, "{err}");
    let missing = dir.path().join("missing.csv");
    let out = prescale(dir.path(), &["backtest", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert_eq!(
        stderr(&out).matches("missing.csv").count(),
        1,
        "{}",
        stderr(&out)
    );
}
