//! `prescale simulate`: the backtest protocol run at every hour of the test window (origin every
//! hour, two hours ahead: the forecast the serving loop would have published at the start of the
//! hour before), then the policies replayed on it ([`super::simulate`]), optionally swept over
//! a knob of the predictive policy.

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;

use super::simulate::{PolicyResult, Settings, simulate};
use crate::forecast::backtest::{Protocol, local_iso, run};
use crate::forecast::{ForecastPoint, Frame, ModelSpec};
use crate::scaling::{Quantile, Target};

/// A target read from a file: its top-level keys, or the first (or named) `[[targets]]`.
///
/// # Errors
/// When the file does not read or parse, or names no such target; the message names the file.
pub fn read_target(path: &Path, name: Option<&str>) -> Result<Target> {
    #[derive(serde::Deserialize)]
    struct Many {
        targets: Vec<Target>,
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let t = if text.contains("[[targets]]") {
        let many: Many = toml::from_str(&text).with_context(|| format!("{}", path.display()))?;
        match name {
            Some(n) => many
                .targets
                .into_iter()
                .find(|t| t.name == n)
                .with_context(|| format!("{}: no target named {n:?}", path.display()))?,
            None => many
                .targets
                .into_iter()
                .next()
                .with_context(|| format!("{}: no [[targets]]", path.display()))?,
        }
    } else {
        toml::from_str(&text).with_context(|| format!("{}", path.display()))?
    };
    t.validate()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(t)
}

/// The knob a sweep varies.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Sweep {
    Threshold(Vec<f64>),
    Quantile(Vec<Quantile>),
}

impl Sweep {
    /// `threshold=0.6,0.7,0.8` or `quantile=expected,upper80,upper95`.
    ///
    /// # Errors
    /// A message naming the bad part.
    pub fn parse(raw: &str) -> Result<Self> {
        let (k, v) = raw
            .split_once('=')
            .with_context(|| format!("--sweep {raw:?}: expected KNOB=V1,V2,..."))?;
        match k {
            "threshold" => Ok(Self::Threshold(
                v.split(',')
                    .map(|x| {
                        x.trim()
                            .parse::<f64>()
                            .ok()
                            .filter(|t| (0.0..=1.0).contains(t))
                            .with_context(|| format!("--sweep threshold: {x:?} is not in [0, 1]"))
                    })
                    .collect::<Result<_>>()?,
            )),
            "quantile" => Ok(Self::Quantile(
                v.split(',')
                    .map(|x| match x.trim() {
                        "expected" => Ok(Quantile::Expected),
                        "upper80" => Ok(Quantile::Upper80),
                        "upper95" => Ok(Quantile::Upper95),
                        other => anyhow::bail!(
                            "--sweep quantile: {other:?} is not expected, upper80 or upper95"
                        ),
                    })
                    .collect::<Result<_>>()?,
            )),
            other => anyhow::bail!("--sweep {other:?}: knobs are threshold and quantile"),
        }
    }
}

/// One row of a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRow {
    pub value: String,
    pub result: PolicyResult,
}

/// Everything `simulate` reports (the JSON of `--json-out`).
#[derive(Debug, Clone, Serialize)]
pub struct Replay {
    pub dataset: String,
    pub target: Target,
    pub settings: Settings,
    pub test_days: usize,
    /// The simulated hours (local ISO time) and their demand.
    pub hours: Vec<String>,
    pub demand: Vec<f64>,
    /// The predictive policy's forecast per hour (upper 80% bound and confidence).
    pub forecast_upper80: Vec<Option<f64>>,
    pub forecast_confidence: Vec<Option<f64>>,
    pub policies: Vec<PolicyResult>,
    pub sweep: Vec<SweepRow>,
    pub fit_seconds: f64,
    pub predict_seconds: f64,
    /// Hours whose predictive capacity an event stage raised.
    pub staged_hours: usize,
}

/// Options of one replay.
#[derive(Debug, Clone)]
pub struct Options {
    pub test_days: usize,
    pub refit_every_days: usize,
    pub cold_start_minutes: u32,
    pub price: f64,
    pub tolerance: f64,
    pub specs: Vec<ModelSpec>,
    /// Registered events: the predictive policy pre-scales for them by the target's stages.
    pub events: Vec<crate::domain::SpecialEvent>,
}

/// Runs the hourly backtest and the replay.
///
/// # Errors
/// When the series is too short for the test window.
pub fn replay(
    frame: &Frame,
    dataset: &str,
    target: &Target,
    opts: &Options,
    sweep: Option<&Sweep>,
) -> Result<Replay> {
    // With events, each hour's cycle sees a day ahead (as the serving loop's default horizon
    // does), so event stages can raise capacity before an event; without, two hours suffice.
    let staged = !opts.events.is_empty() && !target.event_stages.is_empty();
    let protocol = Protocol {
        test_days: opts.test_days,
        origin_every: 1,
        horizon: if staged { 24 } else { 2 },
        refit_every_days: opts.refit_every_days,
    };
    let bt = run(frame, &protocol, &opts.specs, opts.tolerance);
    anyhow::ensure!(
        bt.n_origins > 2,
        "{dataset}: too short for a {}-day test window",
        opts.test_days
    );
    let pos: HashMap<String, usize> = (0..frame.len()).map(|i| (local_iso(frame, i), i)).collect();
    // Each origin's forecast, by lead; the forecast of an hour is its lead 2 (issued at the
    // start of the hour before).
    let mut by_origin: HashMap<usize, Vec<ForecastPoint>> = HashMap::new();
    for r in &bt.rows {
        let (Some(&o), Some(&h)) = (pos.get(&r.origin), pos.get(&r.timestamp)) else {
            continue;
        };
        by_origin.entry(o).or_default().push(ForecastPoint {
            hour: frame.hour(h),
            expected: r.yhat,
            lower80: r.lo80,
            upper80: r.hi80,
            lower95: r.lo95,
            upper95: r.hi95,
            confidence: r.confidence,
            // The backtest's forecasts file does not carry them.
            doubts: Default::default(),
        });
    }
    let by_hour: HashMap<usize, ForecastPoint> = by_origin
        .iter()
        .filter_map(|(o, pts)| pts.get(1).map(|p| (o + 1, *p)))
        .collect();
    let windows: Vec<crate::scaling::EventWindow> = opts
        .events
        .iter()
        .map(crate::scaling::EventWindow::from)
        .collect();
    let start = by_hour.keys().copied().min().context("no forecasts")?;
    let forecast: Vec<Option<ForecastPoint>> = (start..frame.len())
        .map(|h| by_hour.get(&h).copied())
        .collect();
    let settings = Settings {
        capacity: target.capacity(),
        cold_start_minutes: opts.cold_start_minutes,
        price_per_instance_hour: target.price_per_instance_hour.unwrap_or(opts.price),
    };
    let cap = target.capacity();
    let stages: Vec<(u32, Option<String>)> = if staged {
        (start..frame.len())
            .map(|h| {
                by_origin.get(&(h - 1)).map_or((0, None), |pts| {
                    crate::scaling::recommend::stage_floors(pts, &cap, &windows)
                        .get(1)
                        .cloned()
                        .unwrap_or((0, None))
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    let policies = simulate(&frame.y, start, &forecast, &stages, &settings);
    let mut rows = Vec::new();
    if let Some(sw) = sweep {
        let variants: Vec<(String, Settings)> = match sw {
            Sweep::Threshold(ts) => ts
                .iter()
                .map(|&t| {
                    let mut s = settings.clone();
                    s.capacity.confidence_threshold = t;
                    (format!("threshold={t}"), s)
                })
                .collect(),
            Sweep::Quantile(qs) => qs
                .iter()
                .map(|&q| {
                    let mut s = settings.clone();
                    s.capacity.quantile = q;
                    (format!("quantile={}", quantile_name(q)), s)
                })
                .collect(),
        };
        for (value, s) in variants {
            let r = simulate(&frame.y, start, &forecast, &stages, &s).remove(0);
            rows.push(SweepRow { value, result: r });
        }
    }
    Ok(Replay {
        dataset: dataset.to_owned(),
        target: target.clone(),
        settings,
        test_days: opts.test_days,
        hours: (start..frame.len()).map(|h| local_iso(frame, h)).collect(),
        demand: frame.y[start..].to_vec(),
        forecast_upper80: forecast.iter().map(|p| p.map(|p| p.upper80)).collect(),
        forecast_confidence: forecast.iter().map(|p| p.map(|p| p.confidence)).collect(),
        policies,
        sweep: rows,
        fit_seconds: bt.fit_seconds,
        predict_seconds: bt.predict_seconds,
        staged_hours: stages.iter().filter(|s| s.0 > 0).count(),
    })
}

fn quantile_name(q: Quantile) -> &'static str {
    match q {
        Quantile::Expected => "expected",
        Quantile::Upper80 => "upper80",
        Quantile::Upper95 => "upper95",
    }
}

/// The policies as a table (Markdown, so it pastes into notes and reports).
pub fn table(rows: &[(String, &PolicyResult)]) -> String {
    let mut o = String::from(
        "| policy | under-provisioned demand | hours under | instance-hours | cost | changes |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for (name, p) in rows {
        o.push_str(&format!(
            "| {name} | {:.2}% ({:.0} requests) | {} | {:.0} | {:.2} | {} |\n",
            p.under_share * 100.0,
            p.under_requests,
            p.under_hours,
            p.instance_hours,
            p.cost,
            p.changes
        ));
    }
    o
}
