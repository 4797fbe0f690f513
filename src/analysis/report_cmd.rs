//! `prescale report`: gathers a report's inputs (a backtest's files, or a series' published
//! forecasts and observations from the store) and writes it as HTML, JSON or Markdown.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::report::{
    Choice, DayContext, Report, Row, build, context_from_csv, html, markdown, read_forecasts,
};
use crate::domain::{Calendar, Hour, SeriesId};
use crate::store::Store;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Html,
    Json,
    Markdown,
}

impl Format {
    /// From `--format`, else the extension of `--out`, else Markdown.
    ///
    /// # Errors
    /// An unknown format name.
    pub fn choose(given: Option<&str>, out: Option<&Path>) -> Result<Self> {
        let name = given.map(str::to_owned).or_else(|| {
            out.and_then(|p| p.extension())
                .map(|e| e.to_string_lossy().to_lowercase())
        });
        match name.as_deref() {
            Some("html" | "htm") => Ok(Self::Html),
            Some("json") => Ok(Self::Json),
            Some("md" | "markdown") | None => Ok(Self::Markdown),
            Some(other) => anyhow::bail!("--format {other:?}: use html, json or md"),
        }
    }
}

/// Renders `r` in `format`.
///
/// # Errors
/// When JSON serialization fails.
pub fn render(r: &Report, format: Format, sim: Option<&serde_json::Value>) -> Result<String> {
    Ok(match format {
        Format::Html => html(r, sim),
        Format::Json => {
            let mut v = serde_json::to_value(r)?;
            if let Some(s) = sim {
                v["simulation"] = serde_json::json!({ "policies": s["policies"].as_array().map(|ps| ps.iter().map(|p| {
                    let mut p = p.clone();
                    if let Some(o) = p.as_object_mut() { o.remove("instances"); o.remove("capacity_requests"); }
                    p
                }).collect::<Vec<_>>()) });
            }
            serde_json::to_string_pretty(&v)? + "\n"
        }
        Format::Markdown => markdown(r),
    })
}

/// Reads a JSON file, naming it on failure.
///
/// # Errors
/// When the file does not read or parse.
pub fn read_json(path: &Path) -> Result<serde_json::Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))
}

/// The report of a backtest: `M.json` (protocol, tolerance, MASE scale, refits) and `F.csv`.
///
/// # Errors
/// When a file does not read or does not have what a backtest writes.
pub fn from_backtest(
    json: &Path,
    forecasts: &Path,
    data: Option<&Path>,
    events: Option<&Path>,
) -> Result<Report> {
    let m = read_json(json)?;
    let tolerance = m["tolerance"].as_f64().with_context(|| {
        format!(
            "{}: no \"tolerance\": is it a backtest JSON?",
            json.display()
        )
    })?;
    let scale = m["metrics"]["mase_scale"].as_f64().unwrap_or(f64::NAN);
    let rows = read_forecasts(forecasts)?;
    let models = m["refits"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| Choice {
            at: r["origin"].as_str().unwrap_or("").to_owned(),
            chosen: r["chosen"].as_str().unwrap_or("").to_owned(),
            reason: r["reason"].as_str().unwrap_or("").to_owned(),
        })
        .collect();
    let evs: Vec<(chrono::NaiveDate, chrono::NaiveDate, String)> = match events {
        Some(p) => crate::import::parse_events_csv(p, &[])
            .with_context(|| format!("reading events {}", p.display()))?
            .into_iter()
            .map(|e| (e.starts_at.date_naive(), e.ends_at.date_naive(), e.name))
            .collect(),
        None => Vec::new(),
    };
    let context = match data {
        Some(d) => context_from_csv(d, &evs)?,
        None => BTreeMap::new(),
    };
    let dataset = m["dataset"].as_str().unwrap_or("dataset");
    let p = &m["protocol"];
    let source = format!(
        "Backtest of {dataset}: the last {} days, an origin every {} h, {} h ahead, refitted every {} days ({} origins); files {} and {}.",
        p["test_days"],
        p["origin_every"],
        p["horizon"],
        p["refit_every_days"],
        m["n_origins"],
        file_name(json),
        file_name(forecasts)
    );
    Ok(build(
        &format!("Accuracy report: {dataset}"),
        &source,
        &rows,
        tolerance,
        scale,
        models,
        &context,
    ))
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

/// The report of what the serving loop published for a series over its last `days` days with
/// observations, scored against the observations that arrived.
///
/// # Errors
/// When the series does not exist or has nothing published in the window.
pub async fn from_store(
    store: &Store,
    id: &SeriesId,
    days: i64,
    issues: crate::store::Issues,
) -> Result<Report> {
    anyhow::ensure!(
        (1..=366).contains(&days),
        "--days {days} is outside 1..=366"
    );
    let series = store
        .series(id)
        .await?
        .with_context(|| format!("series {id} does not exist"))?;
    let last = store
        .last_observed_hour(id)
        .await?
        .with_context(|| format!("series {id} has no observations"))?;
    let from = last.plus(-24 * days + 1);
    let published = store
        .published_scored(id, series.time_zone, from, last, issues)
        .await?;
    anyhow::ensure!(
        !published.is_empty(),
        "series {id}: nothing was published for {from} .. {last}"
    );
    let obs: HashMap<i64, f64> = store
        .observations(id, from.plus(-24 * 7 * 5), last)
        .await?
        .into_iter()
        .map(|o| (o.hour.unix(), o.demand.get()))
        .collect();
    // MASE scale: the seasonal naive's error on the five weeks before the window.
    let diffs: Vec<f64> = (0..24 * 7 * 4)
        .filter_map(|k| {
            let h = from.plus(-1 - k);
            Some((obs.get(&h.unix())? - obs.get(&h.plus(-168).unix())?).abs())
        })
        .collect();
    let scale = if diffs.is_empty() {
        f64::NAN
    } else {
        diffs.iter().sum::<f64>() / diffs.len() as f64
    };
    let tz = series.time_zone.tz();
    let local = |h: Hour| h.to_utc().with_timezone(&tz).to_rfc3339();
    let rows: Vec<Row> = published
        .iter()
        .map(|p| Row {
            origin: local(p.issued_at),
            timestamp: local(p.point.hour),
            lead: p.lead.max(1) as usize,
            y: obs.get(&p.point.hour.unix()).copied(),
            yhat: p.point.expected,
            lo80: p.point.lower80,
            hi80: p.point.upper80,
            lo95: p.point.lower95,
            hi95: p.point.upper95,
            confidence: p.point.confidence,
        })
        .collect();
    let calendar = Calendar::new(
        series.time_zone,
        series.calendar,
        store.custom_holidays(id).await?,
    );
    // Observed weather of the series' location: the day's mean temperature and precipitation.
    let weather = store
        .weather(
            &series.weather_location,
            from,
            last,
            crate::domain::WeatherKind::Observed,
        )
        .await?;
    let mut daily_weather: BTreeMap<chrono::NaiveDate, (f64, usize, f64, bool)> = BTreeMap::new();
    for wh in &weather {
        let d = wh.hour.to_utc().with_timezone(&tz).date_naive();
        let e = daily_weather.entry(d).or_insert((0.0, 0, 0.0, false));
        for (k, v) in &wh.values {
            let name = k.as_str();
            if name.starts_with("temp") && !name.contains("feels") {
                e.0 += v;
                e.1 += 1;
            } else if crate::domain::is_hourly_precipitation(name) {
                e.2 += v;
                e.3 = true;
            }
        }
    }
    let events = store.events(Some(id)).await?;
    let mut context = BTreeMap::new();
    let mut day = from.to_utc().with_timezone(&tz).date_naive();
    let end = last.to_utc().with_timezone(&tz).date_naive();
    while day <= end {
        let names = events
            .iter()
            .filter(|e| e.on_local_date(tz, day))
            .map(|e| e.name.clone())
            .collect();
        let wx = daily_weather.get(&day);
        context.insert(
            day,
            DayContext {
                holiday: calendar.is_holiday(day),
                events: names,
                mean_temp_c: wx.filter(|w| w.1 > 0).map(|w| w.0 / w.1 as f64),
                precip_mm: wx.filter(|w| w.3).map(|w| w.2),
            },
        );
        let Some(next) = day.succ_opt() else { break };
        day = next;
    }
    let models = store
        .models(id)
        .await?
        .into_iter()
        .map(|m| Choice {
            at: format!(
                "v{} trained {} ({:?})",
                m.version,
                m.trained_at.format("%Y-%m-%d %H:%M"),
                m.status
            ),
            chosen: m.chosen,
            reason: m.reason,
        })
        .collect();
    let which = match issues {
        crate::store::Issues::All => "Every forecast published",
        crate::store::Issues::Daily => "The first forecast published each local day",
    };
    let source = format!(
        "{which} for series {id} ({}) from {from} to {last}, scored against the observations that arrived.",
        series.time_zone
    );
    Ok(build(
        &format!("Accuracy report: series {id}"),
        &source,
        &rows,
        series.tolerance.get(),
        scale,
        models,
        &context,
    ))
}

/// Writes `text` to `out` atomically (a temp file beside it, then a rename).
///
/// # Errors
/// When the file cannot be written.
pub fn write_out(out: &Path, text: &str) -> Result<PathBuf> {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".{}.tmp", file_name(out)));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("writing {}", out.display()))?;
    Ok(out.to_path_buf())
}
