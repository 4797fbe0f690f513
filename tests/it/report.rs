//! The analysts' files from a real run, kept for the notebooks (`scripts/notebooks` executes
//! them on these): a backtest and a policy replay of the shipped NASA series, the HTML report
//! of both, and a real browser's screenshot of that report.

use std::path::PathBuf;
use std::process::Command;

use crate::helpers::{in_ci, repo_file, skip};

/// `target/tmp/artifacts`: what the test run leaves for the notebooks and for people to look at.
pub(crate) fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_prescale"))
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run prescale");
    assert!(
        out.status.success(),
        "prescale {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|name| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(name))
                    .find(|p| p.is_file())
            })
        })
}

#[test]
fn the_report_of_a_real_run_renders_in_headless_chromium() {
    let dir = artifacts();
    let data = repo_file("datasets/nasa_http_requests_hourly.csv");
    let target = repo_file("datasets/targets/nasa.toml");
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let (data, target) = (
        data.to_string_lossy().into_owned(),
        target.to_string_lossy().into_owned(),
    );
    run(&[
        "backtest",
        &data,
        "--tz",
        "America/New_York",
        "--forecasts-out",
        &p("F.csv"),
        "--json-out",
        &p("M.json"),
    ]);
    let sim = run(&[
        "simulate",
        &data,
        "--tz",
        "America/New_York",
        "--target",
        &target,
        "--sweep",
        "threshold=0.6,0.7,0.8,0.9",
        "--json-out",
        &p("S.json"),
    ]);
    assert!(
        sim.contains("| predictive |") && sim.contains("| threshold=0.9 |"),
        "{sim}"
    );
    run(&[
        "report",
        "--backtest",
        &p("M.json"),
        "--forecasts",
        &p("F.csv"),
        "--data",
        &data,
        "--simulation",
        &p("S.json"),
        "--out",
        &p("report.html"),
    ]);
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        8,
        "seven accuracy charts and the policies"
    );

    let Some(browser) = chromium() else {
        skip("chromium is not installed (Debian package chromium): the report is not rendered");
        return;
    };
    let png = dir.join("report.png");
    let _ = std::fs::remove_file(&png);
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1200,3000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", dir.join("report.html").display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success() || png.is_file(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).expect("a screenshot");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // The IHDR chunk: width and height as rendered.
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert_eq!((w, h), (1200, 3000));
    // A blank page compresses to a few kilobytes; charts and tables do not.
    assert!(
        bytes.len() > 100_000,
        "{} bytes: is the page empty?",
        bytes.len()
    );
    if !in_ci() {
        eprintln!("screenshot: {}", png.display());
    }
}
