//! The backtest protocol of `../shared/BENCHMARK.md` (exactly `bench/peers/PROTOCOL.md`, section
//! 3): the last `test_days` days are the test window, every local midnight in it is an origin,
//! leads 1..horizon are forecast from data strictly before the origin, and models are refitted
//! every `refit_every_days` days. Pure: the caller reads files and writes results.

use std::collections::BTreeMap;
use std::time::Instant;

use chrono::{Duration, NaiveDate};
use serde::Serialize;

use super::confidence::{Band, Conditions, Corrections, Outcome};
use super::features::{Windows, level};
use super::frame::Frame;
use super::metrics::{Metrics, Scored, mase_scale, metrics};
use super::models::Model;
use super::models::ModelSpec;
use super::trainer::{
    CandidateScore, Points, RECALIBRATION_DAYS, TrainOptions, Trained, calibrate, choose,
    recalibration_origin, train_all, validate,
};

/// The protocol's knobs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Protocol {
    pub test_days: usize,
    pub origin_every: usize,
    pub horizon: usize,
    pub refit_every_days: usize,
}

impl Default for Protocol {
    fn default() -> Self {
        Self {
            test_days: 28,
            origin_every: 24,
            horizon: 24,
            refit_every_days: 7,
        }
    }
}

/// The columns of a forecasts file (`F.csv`), one [`ForecastRow`] per line: what the shared
/// scorer reads, and what `prescale report` reads back.
pub const FORECAST_COLUMNS: [&str; 10] = [
    "origin",
    "timestamp",
    "lead",
    "y",
    "yhat",
    "lo80",
    "hi80",
    "lo95",
    "hi95",
    "confidence",
];

/// One forecast of one target from one origin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ForecastRow {
    pub origin: String,
    pub timestamp: String,
    pub lead: usize,
    pub y: Option<f64>,
    pub yhat: f64,
    pub lo80: f64,
    pub hi80: f64,
    pub lo95: f64,
    pub hi95: f64,
    pub confidence: f64,
}

/// What a refit chose.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refit {
    pub origin: String,
    pub chosen: String,
    pub reason: String,
    pub validation: Vec<CandidateScore>,
    /// The trees each boosting candidate was fitted with (what the first refit's validation
    /// kept).
    pub trees: BTreeMap<String, u16>,
    pub fit_seconds: f64,
}

/// The backtest's result, as written to `--json-out`.
#[derive(Debug, Clone, Serialize)]
pub struct Backtest {
    pub dataset: String,
    pub protocol: Protocol,
    pub clip_forecasts_at_zero: bool,
    pub exogenous: Vec<String>,
    pub ignored_columns: Vec<String>,
    pub tolerance: f64,
    /// The local dates of the series' holidays whose demand the models read as an ordinary
    /// day's, and those read as they were (see [`Windows`]).
    pub holidays_read_as_ordinary: Vec<NaiveDate>,
    pub holidays_read_as_they_were: Vec<NaiveDate>,
    pub n_origins: usize,
    pub first_origin: String,
    pub metrics: Metrics,
    pub refits: Vec<Refit>,
    pub fit_seconds: f64,
    pub predict_seconds: f64,
    #[serde(skip)]
    pub rows: Vec<ForecastRow>,
}

/// ISO-8601 local time with offset, as the datasets write it.
pub fn local_iso(frame: &Frame, pos: usize) -> String {
    let wall = frame.local[pos].wall;
    let utc = frame.hour(pos).to_utc().naive_utc();
    let off = (wall - utc).num_minutes();
    let sign = if off < 0 { '-' } else { '+' };
    format!(
        "{}{sign}{:02}:{:02}",
        wall.format("%Y-%m-%dT%H:%M:%S"),
        off.abs() / 60,
        off.abs() % 60
    )
}

/// The origins of the protocol: the first local midnight at or after `N - 24 test_days`, then the
/// first position whose wall-clock time is at least `origin_every` hours after the previous one.
pub fn origins(frame: &Frame, p: &Protocol) -> Vec<usize> {
    let n = frame.len();
    let Some(w) = n.checked_sub(24 * p.test_days).filter(|w| *w >= 1) else {
        return Vec::new();
    };
    let Some(first) = (w..n).find(|&i| frame.local[i].wall.format("%H:%M").to_string() == "00:00")
    else {
        return Vec::new();
    };
    let mut out = vec![first];
    loop {
        let prev = *out.last().expect("one origin");
        let due = frame.local[prev].wall + Duration::hours(p.origin_every as i64);
        match (prev + 1..n).find(|&i| frame.local[i].wall >= due) {
            Some(next) => out.push(next),
            None => return out,
        }
    }
}

/// The candidates across refits: their specs (with the trees the first refit's validation kept),
/// their latest fits, and their forecasts of the recent origins (targets before the current one).
struct Candidates {
    specs: Vec<ModelSpec>,
    fitted: Vec<Model>,
    rolling: Vec<Points>,
}

/// Chooses the model at a refit. The first refit validates explicitly (the trainer fits every
/// candidate on the data before a 14-day window and scores it there; boosting candidates keep the
/// trees that validated best). Later refits score the candidates fitted at earlier refits on their
/// forecasts since then, out of sample and strictly before this origin (the last `ROLLING_DAYS` of
/// them): rolling-origin validation that needs no extra fits. As in the trainer, candidates
/// forecast from every recalibration origin; the midnight forecasts choose, all calibrate.
fn refit(frame: &Frame, w: &Windows, o: usize, opts: &TrainOptions, c: &mut Candidates) -> Trained {
    let started = Instant::now();
    let have_rolling = c.rolling.first().is_some_and(|p| p.len() >= 24 * 7);
    let mut t = if have_rolling {
        c.fitted = c.specs.iter().map(|s| s.fit(frame, w, o)).collect();
        let fitted = &c.fitted;
        choose(
            frame,
            w,
            &c.specs,
            &mut |i| fitted[i].clone(),
            &c.rolling,
            &mut |_| Vec::new(),
            &format!(
                "forecasts of the last {} origins",
                c.rolling[0].len() / opts.horizon.max(1)
            ),
        )
    } else {
        let (t, all) = train_all(frame, w, o, &c.specs, opts);
        c.fitted = all;
        c.specs.clone_from(&t.specs);
        // The explicit validation forecasts seed the rolling window, so the next refit chooses
        // on two weeks too, not only on the one week since this refit.
        c.rolling.clone_from(&t.candidate_points);
        t
    };
    t.fit_seconds = started.elapsed().as_secs_f64();
    t
}

/// Days of every candidate's recent forecasts that later refits choose on: four weeks, the same
/// span that calibrates intervals, so one unusual week (a holiday, a storm) does not decide.
const ROLLING_DAYS: usize = 28;

/// Runs the protocol with the trainer choosing among `specs` at every refit.
pub fn run(frame: &Frame, p: &Protocol, specs: &[ModelSpec], tolerance: f64) -> Backtest {
    let w = Windows::of(frame);
    let origins = origins(frame, p);
    let refit_every = ((p.refit_every_days * 24) as f64 / p.origin_every as f64)
        .round()
        .max(1.0) as usize;
    let clip = frame.non_negative();
    let opts = TrainOptions {
        horizon: p.horizon,
        ..TrainOptions::default()
    };
    let (mut rows, mut scored, mut refits) = (Vec::new(), Vec::new(), Vec::new());
    let (mut fit_s, mut predict_s) = (0.0, 0.0);
    let mut trained = None;
    let mut candidates = Candidates {
        specs: specs.to_vec(),
        fitted: Vec::new(),
        rolling: vec![Vec::new(); specs.len()],
    };
    // The model in service's own forecasts: intervals and confidence are recalibrated at every
    // origin on its errors of the last days whose outcomes are known (online split-conformal),
    // from its forecasts made at the recalibration origins (local 00, 06, 12 and 18 h), as
    // serving recalibrates. Between the protocol's midnight origins, the model forecasts from the
    // other three too, for calibration only (not published, not scored).
    let mut served: Points = Vec::new();
    let window = 24 * RECALIBRATION_DAYS;
    // Every published band with an outcome, by target hour: the online corrections at an origin
    // are replayed from those of the last `window` hours whose outcomes it knows (each group of
    // hours from its own), as serving replays its published forecasts.
    let mut outcomes: BTreeMap<usize, (f64, Vec<(Band, bool)>)> = BTreeMap::new();
    let recent = |pts: &Points, o: usize| -> Points {
        pts.iter()
            .copied()
            .filter(|&(q, lead, ..)| {
                q + lead - 1 < o && q + window >= o && recalibration_origin(frame, q)
            })
            .collect()
    };

    for (k, &o) in origins.iter().enumerate() {
        if k % refit_every == 0 {
            for pts in &mut candidates.rolling {
                pts.retain(|&(q, lead, ..)| q + lead - 1 < o && q + 24 * ROLLING_DAYS >= o);
            }
            let t = refit(frame, &w, o, &opts, &mut candidates);
            fit_s += t.fit_seconds;
            refits.push(Refit {
                origin: local_iso(frame, o),
                chosen: t.chosen.clone(),
                reason: t.reason.clone(),
                validation: t.validation.clone(),
                trees: candidates
                    .specs
                    .iter()
                    .filter_map(|s| s.trees().map(|n| (s.name(), n)))
                    .collect(),
                fit_seconds: t.fit_seconds,
            });
            served = t.points.clone();
            trained = Some(t);
        }
        let calibration = calibrate(frame, &w, &recent(&served, o));
        let corrections = Corrections::replay(
            frame,
            outcomes
                .range(o.saturating_sub(window)..o)
                .filter_map(|(t, (y, bands))| Some((*t, Outcome::of(*y, bands)?))),
        );

        let t = trained.as_ref().expect("fitted at the first origin");
        let started = Instant::now();
        let next = origins.get(k + 1).copied().unwrap_or(frame.len());
        // The candidates forecast from every recalibration origin until the next protocol
        // origin, as the trainer validates them: the midnight forecasts choose at the next refit,
        // all of them calibrate.
        let calibrating: Vec<usize> = (o..next.min(frame.len()))
            .filter(|&q| recalibration_origin(frame, q))
            .collect();
        for (m, pts) in candidates.fitted.iter().zip(&mut candidates.rolling) {
            pts.extend(validate(m, frame, &w, &calibrating, frame.len(), p.horizon));
        }
        let fc = t.model.forecast_spread(frame, &w, o, p.horizon);
        served.extend(
            fc.values
                .iter()
                .zip(&fc.spread)
                .enumerate()
                .filter(|(i, _)| o + i < frame.len() && !frame.y[o + i].is_nan())
                .map(|(i, (f, s))| (o, i + 1, frame.y[o + i], f.max(0.0), *s)),
        );
        let between: Vec<usize> = (o + 1..next.min(frame.len()))
            .filter(|&q| recalibration_origin(frame, q))
            .collect();
        served.extend(validate(&t.model, frame, &w, &between, frame.len(), 24));
        let lvl = level(&w, o);
        // The served model's forecasts of the last day: from a day back, as serving measures
        // them, else (a day of 23 or 25 hours) from the origin before this one.
        let day_back = o
            .checked_sub(24)
            .filter(|&b| served.iter().any(|p| p.0 == b));
        let prev = day_back.or_else(|| k.checked_sub(1).map(|j| origins[j]));
        let last_day = served
            .iter()
            .filter(|p| Some(p.0) == prev && p.0 + p.1 - 1 < o)
            .map(|&(q, lead, y, f, _)| (lead, y, f, level(&w, q)));
        // Forecasts made on one local day share its surprises (at hourly origins they forecast
        // mostly the same hours): the calibration floor draws one shock per origin day.
        let origin_day = chrono::Datelike::num_days_from_ce(&frame.local[o].wall.date()) as usize;
        let origin_cond = Conditions {
            recent_errors: calibration.recent_errors(last_day),
            ..Conditions::at_origin(frame, o)
        };
        let bands = calibration.bands(
            frame,
            &fc,
            o,
            lvl,
            tolerance,
            &origin_cond,
            &corrections,
            clip,
        );
        for (i, (f, b, doubts)) in bands.into_iter().enumerate() {
            let pos = o + i;
            let y = frame.y[pos];
            let row = ForecastRow {
                origin: local_iso(frame, o),
                timestamp: local_iso(frame, pos),
                lead: i + 1,
                y: (!y.is_nan()).then_some(y),
                yhat: f,
                lo80: b.lo80,
                hi80: b.hi80,
                lo95: b.lo95,
                hi95: b.hi95,
                confidence: b.confidence,
            };
            if !y.is_nan() {
                outcomes
                    .entry(pos)
                    .or_insert_with(|| (y, Vec::new()))
                    .1
                    .push((b, (y - f).abs() <= tolerance * f.abs()));
                scored.push(Scored {
                    origin: origin_day,
                    lead: i + 1,
                    y,
                    yhat: f,
                    lo80: row.lo80,
                    hi80: row.hi80,
                    lo95: row.lo95,
                    hi95: row.hi95,
                    confidence: b.confidence,
                    hit: (y - f).abs() <= tolerance * f.abs(),
                    doubts,
                    correction: Some(corrections.at(frame, pos).confidence_scale),
                });
            }
            rows.push(row);
        }
        predict_s += started.elapsed().as_secs_f64();
    }
    let scale = origins
        .first()
        .map_or(f64::NAN, |&o| mase_scale(&frame.y, o));
    let (ordinary, as_they_were): (Vec<_>, Vec<_>) =
        w.holiday_reading(frame).into_iter().partition(|d| d.1);
    Backtest {
        dataset: frame.name.clone(),
        protocol: *p,
        clip_forecasts_at_zero: clip,
        exogenous: frame.exog.iter().map(|e| e.name.clone()).collect(),
        ignored_columns: frame.ignored_columns.clone(),
        tolerance,
        holidays_read_as_ordinary: ordinary.into_iter().map(|d| d.0).collect(),
        holidays_read_as_they_were: as_they_were.into_iter().map(|d| d.0).collect(),
        n_origins: origins.len(),
        first_origin: origins
            .first()
            .map(|&o| local_iso(frame, o))
            .unwrap_or_default(),
        metrics: metrics(&scored, scale, p.horizon),
        refits,
        fit_seconds: fit_s,
        predict_seconds: predict_s,
        rows,
    }
}
