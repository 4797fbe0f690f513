//! The accuracy report: from a backtest's forecasts (or the forecasts the serving loop published
//! and the observations that arrived), the protocol's metrics recomputed with the same code,
//! accuracy by lead, hour of day and weekday, calibration of the confidence, interval coverage,
//! the worst days with their context, the models chosen and why, and (given a `simulate` JSON)
//! capacity against demand per policy. Rendered as one self-contained HTML file with inline SVG,
//! as JSON, or as a Markdown summary.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::svg::{self, Chart, esc};
use crate::forecast::metrics::{Metrics, Scored, metrics};

/// One forecast of one hour, as `F.csv` holds it: the backtest's own row type.
pub use crate::forecast::backtest::ForecastRow as Row;

/// Reads a forecasts CSV (`origin,timestamp,lead,y,yhat,lo80,hi80,lo95,hi95,confidence`).
///
/// # Errors
/// A message naming the file, line and column of the first bad value.
pub fn read_forecasts(path: &Path) -> Result<Vec<Row>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let headers = r.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no column {name:?}", path.display()))
    };
    let cols: Vec<usize> = crate::forecast::backtest::FORECAST_COLUMNS
        .iter()
        .map(|c| col(c))
        .collect::<Result<_>>()?;
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let rec = rec.with_context(|| format!("{}:{line}", path.display()))?;
        let get = |k: usize| rec.get(cols[k]).unwrap_or("");
        let num = |k: usize, name: &str| -> Result<f64> {
            get(k)
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .with_context(|| {
                    format!(
                        "{}:{line}: column {name:?}: value {:?} is not a number",
                        path.display(),
                        get(k)
                    )
                })
        };
        let ts = get(1).to_owned();
        anyhow::ensure!(
            NaiveDate::parse_from_str(ts.get(..10).unwrap_or(""), "%Y-%m-%d").is_ok(),
            "{}:{line}: column \"timestamp\": value {ts:?} is not an ISO time",
            path.display()
        );
        rows.push(Row {
            origin: get(0).to_owned(),
            timestamp: ts,
            lead: get(2).parse().ok().filter(|l| *l >= 1).with_context(|| {
                format!(
                    "{}:{line}: column \"lead\": value {:?} is not a lead >= 1",
                    path.display(),
                    get(2)
                )
            })?,
            y: if get(3).is_empty() {
                None
            } else {
                Some(num(3, "y")?)
            },
            yhat: num(4, "yhat")?,
            lo80: num(5, "lo80")?,
            hi80: num(6, "hi80")?,
            lo95: num(7, "lo95")?,
            hi95: num(8, "hi95")?,
            confidence: num(9, "confidence")?,
        });
    }
    anyhow::ensure!(!rows.is_empty(), "{}: no forecasts", path.display());
    Ok(rows)
}

/// What was special about a day.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DayContext {
    pub holiday: bool,
    pub events: Vec<String>,
    pub mean_temp_c: Option<f64>,
    pub precip_mm: Option<f64>,
}

/// One of the worst days.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    pub date: String,
    pub weekday: String,
    pub mae: f64,
    pub mean_actual: f64,
    pub n: usize,
    pub context: DayContext,
}

/// The model chosen at a refit (or the series' versions).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    pub at: String,
    pub chosen: String,
    pub reason: String,
}

/// Accuracy at one lead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadRow {
    pub lead: usize,
    pub n: usize,
    pub mae: f64,
    pub coverage80: f64,
    pub coverage95: f64,
}

/// Calibration of the confidence at one local hour of day: the target hours' points, mean
/// stated confidence and share within tolerance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourCalibration {
    pub n: usize,
    /// Distinct target hours among the points: forecasts of one target hour (from hourly
    /// origins, up to a horizon's worth) share its outcome, so the hit rate is as certain as
    /// this many outcomes make it, not `n`.
    pub targets: usize,
    pub mean_confidence: f64,
    pub hit_rate: f64,
}

impl HourCalibration {
    /// Where a calibrated confidence's hit rate falls 95% of the time over `targets` outcomes
    /// (the binomial normal approximation around the mean confidence, clipped to [0, 1]).
    pub fn calibrated_range(&self) -> (f64, f64) {
        let c = self.mean_confidence;
        let half = 1.96 * (c * (1.0 - c) / self.targets.max(1) as f64).sqrt();
        ((c - half).max(0.0), (c + half).min(1.0))
    }
}

/// The report's content (also its JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub title: String,
    pub source: String,
    pub tolerance: f64,
    pub metrics: Metrics,
    pub by_lead: Vec<LeadRow>,
    /// MAE by local hour of day (0-23) and weekday (Mon-Sun).
    pub mae_by_hour: Vec<Option<f64>>,
    pub mae_by_weekday: Vec<Option<f64>>,
    /// Confidence against hit rate by the target's local hour of day (0-23). A pattern over the
    /// day that one window's reliability table hides: measured at hourly origins over the
    /// rolling windows of `scripts/rolling`, night hours were over-confident and late mornings
    /// under-confident.
    pub calibration_by_hour: Vec<Option<HourCalibration>>,
    pub worst_days: Vec<Day>,
    pub models: Vec<Choice>,
    /// The hour-by-hour view: per target hour, its shortest-lead forecast.
    pub series: Vec<Row>,
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| s / n as f64)
}

fn date_of(ts: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(ts.get(..10)?, "%Y-%m-%d").ok()
}

fn hour_of(ts: &str) -> Option<usize> {
    ts.get(11..13)?.parse().ok()
}

/// Builds the report from scored rows. `scale` is the series' MASE scale; `context` says what
/// each local date had.
pub fn build(
    title: &str,
    source: &str,
    rows: &[Row],
    tolerance: f64,
    scale: f64,
    models: Vec<Choice>,
    context: &BTreeMap<NaiveDate, DayContext>,
) -> Report {
    let scored: Vec<(&Row, f64)> = rows.iter().filter_map(|r| r.y.map(|y| (r, y))).collect();
    // Origin days (the local date of the origin) numbered in the order they first appear (the
    // file's order is the backtest's), as the backtest groups them.
    let mut origin_index: HashMap<&str, usize> = HashMap::new();
    let points: Vec<Scored> = scored
        .iter()
        .map(|(r, y)| Scored {
            origin: {
                let next = origin_index.len();
                let day = r.origin.get(..10).unwrap_or(r.origin.as_str());
                *origin_index.entry(day).or_insert(next)
            },
            lead: r.lead,
            y: *y,
            yhat: r.yhat,
            lo80: r.lo80,
            hi80: r.hi80,
            lo95: r.lo95,
            hi95: r.hi95,
            confidence: r.confidence,
            hit: (y - r.yhat).abs() <= tolerance * r.yhat.abs(),
            // A forecasts file does not carry them.
            doubts: Default::default(),
            correction: None,
        })
        .collect();
    let horizon = rows.iter().map(|r| r.lead).max().unwrap_or(1);
    let m = metrics(&points, scale, horizon);
    let by_lead = (1..=horizon)
        .filter_map(|lead| {
            let at: Vec<&Scored> = points.iter().filter(|p| p.lead == lead).collect();
            (!at.is_empty()).then(|| LeadRow {
                lead,
                n: at.len(),
                mae: mean(at.iter().map(|p| (p.yhat - p.y).abs())).unwrap_or(f64::NAN),
                coverage80: mean(
                    at.iter()
                        .map(|p| f64::from(u8::from(p.y >= p.lo80 && p.y <= p.hi80))),
                )
                .unwrap_or(f64::NAN),
                coverage95: mean(
                    at.iter()
                        .map(|p| f64::from(u8::from(p.y >= p.lo95 && p.y <= p.hi95))),
                )
                .unwrap_or(f64::NAN),
            })
        })
        .collect();
    let err = |r: &Row, y: f64| (r.yhat - y).abs();
    let mae_by_hour = (0..24)
        .map(|h| {
            mean(
                scored
                    .iter()
                    .filter(|(r, _)| hour_of(&r.timestamp) == Some(h))
                    .map(|(r, y)| err(r, *y)),
            )
        })
        .collect();
    // One pass: per hour, the points, their distinct target hours, confidence and hits.
    let mut hours: Vec<(usize, BTreeSet<&str>, f64, usize)> =
        (0..24).map(|_| (0, BTreeSet::new(), 0.0, 0)).collect();
    for ((r, _), p) in scored.iter().zip(&points) {
        if let Some(h) = hour_of(&r.timestamp).and_then(|h| hours.get_mut(h)) {
            h.0 += 1;
            h.1.insert(r.timestamp.as_str());
            h.2 += p.confidence;
            h.3 += usize::from(p.hit);
        }
    }
    let calibration_by_hour = hours
        .into_iter()
        .map(|(n, targets, confidence, hits)| {
            (n > 0).then(|| HourCalibration {
                n,
                targets: targets.len(),
                mean_confidence: confidence / n as f64,
                hit_rate: hits as f64 / n as f64,
            })
        })
        .collect();
    let mae_by_weekday = (0..7)
        .map(|d| {
            mean(
                scored
                    .iter()
                    .filter(|(r, _)| {
                        date_of(&r.timestamp)
                            .is_some_and(|x| x.weekday().num_days_from_monday() == d)
                    })
                    .map(|(r, y)| err(r, *y)),
            )
        })
        .collect();
    let mut days: BTreeMap<NaiveDate, Vec<(f64, f64)>> = BTreeMap::new();
    for (r, y) in &scored {
        if let Some(d) = date_of(&r.timestamp) {
            days.entry(d).or_default().push((err(r, *y), *y));
        }
    }
    let mut worst: Vec<Day> = days
        .iter()
        .map(|(d, v)| Day {
            date: d.to_string(),
            weekday: DAYS[d.weekday().num_days_from_monday() as usize].to_owned(),
            mae: v.iter().map(|x| x.0).sum::<f64>() / v.len() as f64,
            mean_actual: v.iter().map(|x| x.1).sum::<f64>() / v.len() as f64,
            n: v.len(),
            context: context.get(d).cloned().unwrap_or_default(),
        })
        .collect();
    worst.sort_by(|a, b| b.mae.total_cmp(&a.mae));
    worst.truncate(5);
    let mut shortest: BTreeMap<&str, &Row> = BTreeMap::new();
    for r in rows {
        shortest
            .entry(r.timestamp.as_str())
            .and_modify(|cur| {
                if r.lead < cur.lead {
                    *cur = r;
                }
            })
            .or_insert(r);
    }
    // Local ISO strings sort by time only within one offset: order by the instant.
    let mut series: Vec<Row> = shortest.into_values().cloned().collect();
    series.sort_by_key(|r| {
        chrono::DateTime::parse_from_rfc3339(&r.timestamp)
            .map(|t| t.timestamp())
            .unwrap_or(0)
    });
    Report {
        title: title.to_owned(),
        source: source.to_owned(),
        tolerance,
        metrics: m,
        by_lead,
        mae_by_hour,
        mae_by_weekday,
        calibration_by_hour,
        worst_days: worst,
        models,
        series,
    }
}

/// Context per local date from a dataset CSV: its `holiday` column, the mean of its first
/// temperature column and the sum of its first precipitation column; and event names by date.
///
/// # Errors
/// When the file does not read.
pub fn context_from_csv(
    path: &Path,
    events: &[(NaiveDate, NaiveDate, String)],
) -> Result<BTreeMap<NaiveDate, DayContext>> {
    let mut r =
        csv::Reader::from_path(path).with_context(|| format!("reading {}", path.display()))?;
    let h = r.headers()?.clone();
    let find = |f: &dyn Fn(&str) -> bool| h.iter().position(f);
    let ts = find(&|c| c == "timestamp")
        .with_context(|| format!("{}: no timestamp column", path.display()))?;
    let hol = find(&|c| c == "holiday");
    let temp = find(&|c| c.starts_with("temp"));
    let precip = find(&|c| crate::domain::is_hourly_precipitation(c));
    let mut acc: BTreeMap<NaiveDate, (bool, f64, usize, f64, bool)> = BTreeMap::new();
    for rec in r.records() {
        let rec = rec?;
        let Some(d) = rec.get(ts).and_then(date_of) else {
            continue;
        };
        let e = acc.entry(d).or_insert((false, 0.0, 0, 0.0, false));
        let num = |i: Option<usize>| {
            i.and_then(|i| rec.get(i))
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite())
        };
        if num(hol).is_some_and(|v| v > 0.0) {
            e.0 = true;
        }
        if let Some(t) = num(temp) {
            e.1 += t;
            e.2 += 1;
        }
        if let Some(p) = num(precip) {
            e.3 += p;
            e.4 = true;
        }
    }
    Ok(acc
        .into_iter()
        .map(|(d, (holiday, ts, tn, p, hp))| {
            let names = events
                .iter()
                .filter(|(a, b, _)| *a <= d && d <= *b)
                .map(|(_, _, n)| n.clone())
                .collect();
            (
                d,
                DayContext {
                    holiday,
                    events: names,
                    mean_temp_c: (tn > 0).then(|| ts / tn as f64),
                    precip_mm: hp.then_some(p),
                },
            )
        })
        .collect())
}

fn pct(v: f64) -> String {
    if v.is_finite() {
        format!("{:.1}%", v * 100.0)
    } else {
        "–".into()
    }
}

/// How the observed calibration error compares with a calibrated confidence's on the same
/// points, in words.
fn floor_text(m: &Metrics) -> String {
    m.calibration_error_floor.map_or_else(
        || "too few origins to say what a calibrated confidence would show".into(),
        |f| {
            format!(
                "a calibrated confidence would show {} on these points (90% of draws below {}; p = {:.2})",
                num(f.median),
                num(f.p90),
                f.p_value
            )
        },
    )
}

fn num(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "–".into()
    }
}

fn context_text(c: &DayContext) -> String {
    let mut parts = Vec::new();
    if c.holiday {
        parts.push("holiday".to_owned());
    }
    parts.extend(c.events.iter().map(|e| format!("event: {e}")));
    if let Some(t) = c.mean_temp_c {
        parts.push(format!("{t:.1} °C"));
    }
    if let Some(p) = c.precip_mm {
        parts.push(format!("{p:.1} mm"));
    }
    if parts.is_empty() {
        "–".into()
    } else {
        parts.join(", ")
    }
}

/// The Markdown summary.
pub fn markdown(r: &Report) -> String {
    let m = &r.metrics;
    let mut o = format!("# {}\n\n{}\n\n", r.title, r.source);
    let _ = writeln!(o, "| metric | value |\n|---|---:|");
    for (k, v) in [
        ("points", m.n_points.to_string()),
        ("MAE", num(m.mae)),
        ("RMSE", num(m.rmse)),
        ("sMAPE", format!("{:.2}%", m.smape_pct)),
        ("MASE (vs seasonal naive 168 h)", num(m.mase)),
        ("bias", num(m.bias)),
        ("coverage 80%", pct(m.coverage80)),
        ("coverage 95%", pct(m.coverage95)),
        (
            "width 80% / 95%",
            format!("{} / {}", num(m.width80), num(m.width95)),
        ),
        ("calibration error (ECE)", num(m.calibration_error)),
        ("ECE of a calibrated confidence here", floor_text(m)),
        ("confidence Brier score", m.brier.to_string()),
    ] {
        let _ = writeln!(o, "| {k} | {v} |");
    }
    o.push_str("\nMAE by lead bucket: ");
    o.push_str(
        &m.mae_by_lead_bucket
            .iter()
            .map(|(b, v)| format!("{b} h {}", num(*v)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    o.push_str("\n\nConfidence minus hit rate by local hour of the target: ");
    o.push_str(
        &r.calibration_by_hour
            .iter()
            .enumerate()
            .filter_map(|(h, c)| {
                c.as_ref()
                    .map(|c| format!("{h} h {:+.3}", c.mean_confidence - c.hit_rate))
            })
            .collect::<Vec<_>>()
            .join(", "),
    );
    o.push_str(
        "\n\n## Worst days\n\n| date | MAE | mean actual | context |\n|---|---:|---:|---|\n",
    );
    for d in &r.worst_days {
        let _ = writeln!(
            o,
            "| {} {} | {} | {:.1} | {} |",
            d.weekday,
            d.date,
            num(d.mae),
            d.mean_actual,
            context_text(&d.context)
        );
    }
    o.push_str("\n## Models\n\n");
    for c in &r.models {
        let _ = writeln!(o, "- {}: **{}**: {}", c.at, c.chosen, c.reason);
    }
    o
}

fn table(rows: &[Vec<String>], head: &[&str]) -> String {
    let mut o = String::from("<table><thead><tr>");
    for h in head {
        let _ = write!(o, "<th>{}</th>", esc(h));
    }
    o.push_str("</tr></thead><tbody>");
    for r in rows {
        o.push_str("<tr>");
        for c in r {
            let numeric = c
                .trim_start_matches('-')
                .chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_digit())
                && !c.contains(' ')
                || c.ends_with('%');
            let _ = write!(
                o,
                "<td{}>{}</td>",
                if numeric { " class=\"n\"" } else { "" },
                esc(c)
            );
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table>\n");
    o
}

/// The charts of a report, each a standalone `<svg>` document.
pub fn charts(r: &Report, sim: Option<&serde_json::Value>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // Forecast against actual with the bands.
    let s = &r.series;
    let ymax = s
        .iter()
        .flat_map(|x| [x.hi95, x.y.unwrap_or(0.0)])
        .fold(0.0, f64::max);
    let ymin = s
        .iter()
        .map(|x| x.lo95.min(x.y.unwrap_or(f64::INFINITY)))
        .fold(f64::INFINITY, f64::min)
        .min(0.0);
    let mut c = Chart::new(
        1100.0,
        340.0,
        (0.0, s.len().saturating_sub(1) as f64),
        (ymin, ymax * 1.05),
    );
    let idx = |i: usize| i as f64;
    c.band(
        &s.iter()
            .enumerate()
            .map(|(i, x)| (idx(i), x.lo95, x.hi95))
            .collect::<Vec<_>>(),
        svg::BLUE,
        0.12,
        Some("95%"),
    );
    c.band(
        &s.iter()
            .enumerate()
            .map(|(i, x)| (idx(i), x.lo80, x.hi80))
            .collect::<Vec<_>>(),
        svg::BLUE,
        0.25,
        Some("80%"),
    );
    c.line(
        &s.iter()
            .enumerate()
            .map(|(i, x)| (idx(i), x.yhat))
            .collect::<Vec<_>>(),
        svg::BLUE,
        1.2,
        Some("forecast"),
    );
    c.line(
        &s.iter()
            .enumerate()
            .map(|(i, x)| (idx(i), x.y.unwrap_or(f64::NAN)))
            .collect::<Vec<_>>(),
        "#111111",
        1.0,
        Some("actual"),
    );
    let labels: Vec<String> = s
        .iter()
        .map(|x| x.timestamp.get(5..10).unwrap_or("").to_owned())
        .collect();
    let lab = move |v: f64| {
        labels
            .get(v.round().max(0.0) as usize)
            .cloned()
            .unwrap_or_default()
    };
    out.push((
        "forecast".to_owned(),
        c.render(
            "Forecast and actual, with the 80% and 95% intervals",
            "local date",
            "demand per hour",
            &lab,
        ),
    ));

    // MAE by lead.
    let maxe = r.by_lead.iter().map(|l| l.mae).fold(0.0, f64::max);
    let n = r.by_lead.len() as f64;
    let mut c = Chart::new(540.0, 260.0, (0.5, n + 0.5), (0.0, maxe * 1.1));
    c.bars(
        &r.by_lead
            .iter()
            .map(|l| (l.lead as f64, l.mae))
            .collect::<Vec<_>>(),
        0.8,
        svg::BLUE,
    );
    out.push((
        "lead".to_owned(),
        c.render("MAE by lead time", "lead (hours ahead)", "MAE", &|v| {
            format!("{v:.0}")
        }),
    ));

    // MAE by hour and weekday.
    let hmax = r.mae_by_hour.iter().flatten().copied().fold(0.0, f64::max);
    let mut c = Chart::new(540.0, 260.0, (-0.5, 23.5), (0.0, hmax * 1.1));
    c.bars(
        &r.mae_by_hour
            .iter()
            .enumerate()
            .filter_map(|(h, v)| v.map(|v| (h as f64, v)))
            .collect::<Vec<_>>(),
        0.8,
        svg::ORANGE,
    );
    out.push((
        "hour".to_owned(),
        c.render("MAE by hour of day (local)", "hour", "MAE", &|v| {
            format!("{v:.0}")
        }),
    ));
    let wmax = r
        .mae_by_weekday
        .iter()
        .flatten()
        .copied()
        .fold(0.0, f64::max);
    let mut c = Chart::new(540.0, 260.0, (-0.5, 6.5), (0.0, wmax * 1.1));
    c.bars(
        &r.mae_by_weekday
            .iter()
            .enumerate()
            .filter_map(|(d, v)| v.map(|v| (d as f64, v)))
            .collect::<Vec<_>>(),
        0.7,
        svg::GREEN,
    );
    out.push((
        "weekday".to_owned(),
        c.render("MAE by weekday", "weekday", "MAE", &|v| {
            DAYS.get(v.round().max(0.0) as usize)
                .copied()
                .unwrap_or("")
                .to_owned()
        }),
    ));

    // Reliability diagram.
    let mut c = Chart::new(540.0, 300.0, (0.0, 1.0), (0.0, 1.0));
    c.line(&[(0.0, 0.0), (1.0, 1.0)], svg::GREY, 1.0, Some("perfect"));
    let bins = &r.metrics.reliability;
    c.line(
        &bins
            .iter()
            .map(|b| (b.mean_confidence, b.hit_rate))
            .collect::<Vec<_>>(),
        svg::RED,
        1.5,
        None,
    );
    c.dots(
        &bins
            .iter()
            .map(|b| {
                (
                    b.mean_confidence,
                    b.hit_rate,
                    format!(
                        "{} points: confidence {:.2}, hit rate {:.2}",
                        b.n, b.mean_confidence, b.hit_rate
                    ),
                )
            })
            .collect::<Vec<_>>(),
        4.0,
        svg::RED,
        Some("observed"),
    );
    out.push((
        "reliability".to_owned(),
        c.render(
            &format!(
                "Reliability of the confidence (±{:.0}%)",
                r.tolerance * 100.0
            ),
            "stated confidence",
            "observed share within tolerance",
            &|v| format!("{v:.1}"),
        ),
    ));

    // Confidence and hit rate by hour of day.
    let by_hour: Vec<(f64, &HourCalibration)> = r
        .calibration_by_hour
        .iter()
        .enumerate()
        .filter_map(|(h, c)| c.as_ref().map(|c| (h as f64, c)))
        .collect();
    let mut c = Chart::new(540.0, 260.0, (-0.5, 23.5), (0.0, 1.0));
    c.band(
        &by_hour
            .iter()
            .map(|(h, c)| {
                let (lo, hi) = c.calibrated_range();
                (*h, lo, hi)
            })
            .collect::<Vec<_>>(),
        svg::RED,
        0.15,
        Some("95% range if calibrated"),
    );
    let points = |value: fn(&HourCalibration) -> f64| -> Vec<(f64, f64)> {
        by_hour.iter().map(|(h, c)| (*h, value(c))).collect()
    };
    let (stated, hits) = (points(|c| c.mean_confidence), points(|c| c.hit_rate));
    c.line(&stated, svg::RED, 1.5, Some("stated confidence"));
    c.line(&hits, svg::BLUE, 1.5, Some("hit rate"));
    let tips: Vec<(f64, f64, String)> = by_hour
        .iter()
        .map(|(h, c)| {
            let tip = format!(
                "{h:02}:00, {} points of {} target hours: confidence {:.2}, hit rate {:.2}",
                c.n, c.targets, c.mean_confidence, c.hit_rate
            );
            (*h, c.hit_rate, tip)
        })
        .collect();
    c.dots(&tips, 3.0, svg::BLUE, None);
    out.push((
        "calibration_by_hour".to_owned(),
        c.render(
            "Confidence and hit rate by hour of day",
            "local hour of the target",
            "share",
            &|v| format!("{v:.0}"),
        ),
    ));

    // Coverage by lead.
    let mut c = Chart::new(540.0, 260.0, (0.5, n + 0.5), (0.0, 1.0));
    c.line(&[(0.5, 0.8), (n + 0.5, 0.8)], svg::GREY, 0.8, None);
    c.line(&[(0.5, 0.95), (n + 0.5, 0.95)], svg::GREY, 0.8, None);
    c.line(
        &r.by_lead
            .iter()
            .map(|l| (l.lead as f64, l.coverage80))
            .collect::<Vec<_>>(),
        svg::BLUE,
        1.5,
        Some("80% interval"),
    );
    c.line(
        &r.by_lead
            .iter()
            .map(|l| (l.lead as f64, l.coverage95))
            .collect::<Vec<_>>(),
        svg::PURPLE,
        1.5,
        Some("95% interval"),
    );
    out.push((
        "coverage".to_owned(),
        c.render(
            "Interval coverage by lead",
            "lead (hours ahead)",
            "coverage",
            &|v| format!("{v:.0}"),
        ),
    ));

    if let Some(sim) = sim {
        let demand: Vec<f64> = sim["demand"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_f64().unwrap_or(f64::NAN))
            .collect();
        let hours: Vec<String> = sim["hours"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().unwrap_or("").get(5..10).unwrap_or("").to_owned())
            .collect();
        let policies = sim["policies"].as_array().cloned().unwrap_or_default();
        let ymax = demand.iter().copied().fold(0.0, f64::max);
        let cmax = policies
            .iter()
            .flat_map(|p| {
                p["capacity_requests"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|v| v.as_f64())
            .fold(ymax, f64::max);
        let mut c = Chart::new(
            1100.0,
            340.0,
            (0.0, demand.len().saturating_sub(1) as f64),
            (0.0, cmax * 1.05),
        );
        let colors = [svg::BLUE, svg::ORANGE, svg::GREY, svg::GREEN];
        for (p, color) in policies.iter().zip(colors) {
            let caps: Vec<(f64, f64)> = p["capacity_requests"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, v)| (i as f64, v.as_f64().unwrap_or(f64::NAN)))
                .collect();
            c.line(&caps, color, 1.2, p["policy"].as_str());
        }
        c.line(
            &demand
                .iter()
                .enumerate()
                .map(|(i, d)| (i as f64, *d))
                .collect::<Vec<_>>(),
            "#111111",
            1.0,
            Some("demand"),
        );
        let lab = move |v: f64| {
            hours
                .get(v.round().max(0.0) as usize)
                .cloned()
                .unwrap_or_default()
        };
        out.push((
            "simulation".to_owned(),
            c.render(
                "Capacity against demand per policy (requests per hour)",
                "local date",
                "requests per hour",
                &lab,
            ),
        ));
    }
    out
}

const CSS: &str = "body{font-family:sans-serif;max-width:1140px;margin:24px auto;color:#222;padding:0 12px}\
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}\
td.n{text-align:right}.grid{display:flex;flex-wrap:wrap;gap:12px}.muted{color:#666;font-size:12px}";

/// The whole report as one self-contained HTML file.
pub fn html(r: &Report, sim: Option<&serde_json::Value>) -> String {
    let m = &r.metrics;
    let charts = charts(r, sim);
    let chart = |name: &str| {
        charts
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, s)| s.as_str())
            .to_owned()
    };
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{CSS}</style></head><body>\n<h1>{t}</h1>\n<p class=\"muted\">{s}</p>\n",
        t = esc(&r.title),
        s = esc(&r.source)
    );
    o.push_str("<h2>Summary</h2>\n");
    o.push_str(&table(
        &[vec![
            m.n_points.to_string(),
            num(m.mae),
            num(m.rmse),
            format!("{:.2}%", m.smape_pct),
            num(m.mase),
            num(m.bias),
            pct(m.coverage80),
            pct(m.coverage95),
            num(m.calibration_error),
        ]],
        &[
            "points",
            "MAE",
            "RMSE",
            "sMAPE",
            "MASE",
            "bias",
            "coverage 80%",
            "coverage 95%",
            "calibration error",
        ],
    ));
    let _ = writeln!(
        o,
        "<p class=\"muted\">MASE compares the MAE with the seasonal naive forecast (the same hour a week before) on the training data; below 1 beats it. Confidence is the probability that the actual lands within ±{:.0}% of the forecast.</p>",
        r.tolerance * 100.0
    );
    o.push_str("<h2>Forecast and actual</h2>\n");
    o.push_str(&chart("forecast"));
    o.push_str("<h2>Accuracy by lead, hour and weekday</h2>\n<div class=\"grid\">");
    o.push_str(&chart("lead"));
    o.push_str(&chart("hour"));
    o.push_str(&chart("weekday"));
    o.push_str("</div>\n");
    let origins_at_one_hour = r.series.len() > 1 && r.by_lead.len() > 1 && {
        let hours: std::collections::BTreeSet<_> = r
            .series
            .iter()
            .filter(|x| x.lead == 1)
            .filter_map(|x| x.timestamp.get(11..13))
            .collect();
        hours.len() == 1
    };
    if origins_at_one_hour {
        o.push_str("<p class=\"muted\">Every origin is at the same hour of the day, so lead time and hour of day move together: the two charts tell the same story.</p>\n");
    }
    o.push_str(&table(
        &m.mae_by_lead_bucket
            .iter()
            .map(|(b, v)| vec![format!("{b} h"), num(*v)])
            .collect::<Vec<_>>(),
        &["lead bucket", "MAE"],
    ));
    o.push_str("<h2>Calibration and coverage</h2>\n<div class=\"grid\">");
    o.push_str(&chart("reliability"));
    o.push_str(&chart("coverage"));
    o.push_str(&chart("calibration_by_hour"));
    o.push_str("</div>\n<p class=\"muted\">Grey lines: the nominal 80% and 95%. Dots: points grouped by their stated confidence; on the diagonal, confidence means what it says. By hour of day, the shaded range is where a calibrated confidence's hit rate falls 95% of the time over that hour's target hours (forecasts of one hour share its outcome); hit rates outside it over several hours in a row show a miscalibration that the hours share, which one window's reliability table averages away.</p>\n");
    let _ = writeln!(
        o,
        "<p>Calibration error {}: {}. The hits of one origin share its surprises, so one window's error is noisy: an error near what a calibrated confidence shows is no sign of miscalibration, a small p is.</p>",
        num(m.calibration_error),
        floor_text(m)
    );
    let _ = writeln!(
        o,
        "<p>Brier score of the confidence {}. Lower is better; skill 0 is always stating the overall hit rate. Unlike the calibration error it also rewards a confidence that tells good hours from bad ones (resolution), so it is the score to compare two confidences by.</p>",
        m.brier
    );
    o.push_str(&table(
        &m.reliability
            .iter()
            .map(|b| {
                vec![
                    format!("{:.1}–{:.1}", b.lo, b.hi),
                    b.n.to_string(),
                    num(b.mean_confidence),
                    num(b.hit_rate),
                ]
            })
            .collect::<Vec<_>>(),
        &["confidence bin", "points", "mean confidence", "hit rate"],
    ));
    o.push_str("<h2>Worst days</h2>\n");
    o.push_str(&table(
        &r.worst_days
            .iter()
            .map(|d| {
                vec![
                    format!("{} {}", d.weekday, d.date),
                    num(d.mae),
                    format!("{:.1}", d.mean_actual),
                    context_text(&d.context),
                ]
            })
            .collect::<Vec<_>>(),
        &["day", "MAE", "mean actual", "holiday / events / weather"],
    ));
    o.push_str("<h2>Models chosen</h2>\n");
    o.push_str(&table(
        &r.models
            .iter()
            .map(|c| vec![c.at.clone(), c.chosen.clone(), c.reason.clone()])
            .collect::<Vec<_>>(),
        &["at", "model", "why"],
    ));
    if let Some(sim) = sim {
        o.push_str("<h2>Scaling policies on this trace</h2>\n");
        o.push_str(&chart("simulation"));
        let rows: Vec<Vec<String>> = sim["policies"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| {
                let f = |k: &str| p[k].as_f64().unwrap_or(f64::NAN);
                vec![
                    p["policy"].as_str().unwrap_or("").to_owned(),
                    pct(f("under_share")),
                    format!("{:.0}", f("under_hours")),
                    format!("{:.0}", f("instance_hours")),
                    format!("{:.2}", f("cost")),
                    format!("{:.0}", f("changes")),
                ]
            })
            .collect();
        o.push_str(&table(
            &rows,
            &[
                "policy",
                "under-provisioned demand",
                "hours under",
                "instance-hours",
                "cost",
                "changes",
            ],
        ));
    }
    o.push_str("</body></html>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_by_hour_follows_the_target_hour() {
        // Forecasts from midnight: night targets (02-04 h) stated 0.9 and missed, day targets
        // (10-12 h) stated 0.5 and hit.
        let row = |hour: usize, hit: bool, confidence: f64| Row {
            origin: "2024-03-05T00:00:00-05:00".to_owned(),
            timestamp: format!("2024-03-05T{hour:02}:00:00-05:00"),
            lead: hour + 1,
            y: Some(if hit { 100.0 } else { 150.0 }),
            yhat: 100.0,
            lo80: 90.0,
            hi80: 110.0,
            lo95: 80.0,
            hi95: 120.0,
            confidence,
        };
        let mut rows: Vec<Row> = (2..=4)
            .map(|h| row(h, false, 0.9))
            .chain((10..=12).map(|h| row(h, true, 0.5)))
            .collect();
        // 02:00 forecast again from the evening before: two points, one outcome.
        rows.push(Row {
            origin: "2024-03-04T18:00:00-05:00".to_owned(),
            lead: 9,
            ..row(2, false, 0.9)
        });
        let r = build("t", "s", &rows, 0.2, 1.0, Vec::new(), &BTreeMap::new());
        let at = |h: usize| r.calibration_by_hour[h].as_ref().unwrap();
        assert_eq!((at(2).n, at(2).targets), (2, 1));
        for h in 2..=4 {
            assert_eq!(
                (at(h).targets, at(h).mean_confidence, at(h).hit_rate),
                (1, 0.9, 0.0)
            );
        }
        // One outcome says little: a calibrated 0.9 could show 0.31 to 1; 400 say much more.
        let (lo, hi) = at(2).calibrated_range();
        assert!(
            (lo - (0.9 - 1.96 * 0.3)).abs() < 1e-12 && hi == 1.0,
            "{lo} {hi}"
        );
        let many = HourCalibration {
            n: 9600,
            targets: 400,
            mean_confidence: 0.5,
            hit_rate: 0.5,
        };
        let (lo, hi) = many.calibrated_range();
        assert!((hi - lo - 2.0 * 1.96 * 0.025).abs() < 1e-12, "{lo} {hi}");
        for h in 10..=12 {
            assert_eq!(
                (at(h).n, at(h).mean_confidence, at(h).hit_rate),
                (1, 0.5, 1.0)
            );
        }
        assert!(r.calibration_by_hour[0].is_none() && r.calibration_by_hour[23].is_none());
        assert!(markdown(&r).contains("2 h +0.900, 3 h +0.900, 4 h +0.900, 10 h -0.500"));
        assert!(
            charts(&r, None)
                .iter()
                .any(|(n, _)| n == "calibration_by_hour")
        );
    }
}
