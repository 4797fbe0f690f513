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
