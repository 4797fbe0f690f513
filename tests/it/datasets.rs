//! Every shared dataset imports, and the store reports the rows and missing hours that
//! `../shared/datasets/manifest.json` gives.

use prescale::domain::{CalendarName, TimeZone};

use crate::helpers::{on_each_backend, shared_datasets};
use crate::import::{import, options};

on_each_backend!(
    every_shared_dataset_imports_with_the_documented_rows_and_gaps,
    |db| {
        let Some(dir) = shared_datasets() else { return };
        let manifest: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap())
                .unwrap();
        let entries = manifest.as_array().expect("manifest is a list");
        assert_eq!(entries.len(), 5);
        for entry in entries {
            let name = entry["name"].as_str().unwrap();
            let mut opts = options(&name.replace('_', "-"));
            opts.time_zone = Some(TimeZone::parse(entry["time_zone"].as_str().unwrap()).unwrap());
            opts.calendar = Some(CalendarName::None);
            let report = import(&db, &dir.join(entry["file"].as_str().unwrap()), &opts)
                .await
                .unwrap();
            assert!(
                report.warnings.iter().all(|w| !w.contains("does not use")),
                "{name}: {:?}",
                report.warnings
            );
            let stats = db.store.list_series().await.unwrap();
            let s = stats.iter().find(|s| s.series.id == opts.series).unwrap();
            assert_eq!(
                s.observations,
                entry["rows"].as_i64().unwrap(),
                "{name} rows"
            );
            assert_eq!(
                s.missing_hours,
                entry["missing_hours"].as_i64().unwrap(),
                "{name} missing hours"
            );
            assert_eq!(
                report.gaps.missing_hours as i64, s.missing_hours,
                "{name}: the import's gap report agrees"
            );
            let runs = entry["missing_runs"].as_array().unwrap();
            assert_eq!(
                report.gaps.runs as usize,
                runs.len(),
                "{name} runs of missing hours"
            );
            if let Some(longest) = runs.iter().map(|r| r[2].as_u64().unwrap()).max() {
                assert_eq!(
                    report.gaps.longest.map(|(_, n)| n),
                    Some(longest),
                    "{name} longest gap"
                );
            }
        }
    }
);

/// The World Cup's match schedule: with `--events`, the predictive policy pre-scales for the
/// matches by the target's stages, and under-provisions less than without them. Compared with
/// the gate open (`--sweep threshold=0`): at the sample target's 0.8 the gate holds nearly
/// every hour of this trace (its confidence rarely reaches 0.8), stages included.
#[test]
fn simulate_pre_scales_for_registered_matches() {
    let Some(dir) = shared_datasets() else { return };
    let run = |with_events: bool| -> serde_json::Value {
        let out_dir = tempfile::tempdir().unwrap();
        let json = out_dir.path().join("s.json");
        let data = dir.join("worldcup98_requests_hourly.csv");
        let events = dir.join("worldcup98_events.csv");
        let target = crate::helpers::repo_file("datasets/targets/worldcup.toml");
        let mut args: Vec<String> = vec![
            "simulate".into(),
            data.display().to_string(),
            "--target".into(),
            target.display().to_string(),
            "--models".into(),
            "snaive24,snaive168,profile168x4,ridge".into(),
            "--sweep".into(),
            "threshold=0".into(),
            "--json-out".into(),
            json.display().to_string(),
        ];
        if with_events {
            args.extend(["--events".into(), events.display().to_string()]);
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_prescale"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
    };
    let (with, without) = (run(true), run(false));
    assert!(
        with["staged_hours"].as_u64().unwrap() > 24,
        "{}",
        with["staged_hours"]
    );
    assert_eq!(without["staged_hours"], 0);
    let under = |v: &serde_json::Value| {
        assert_eq!(v["sweep"][0]["value"], "threshold=0");
        v["sweep"][0]["result"]["under_share"].as_f64().unwrap()
    };
    assert!(
        under(&with) < under(&without),
        "{} vs {}",
        under(&with),
        under(&without)
    );
}
