//! Choosing a model per series by rolling-origin validation inside the training data: every
//! candidate is fitted on the data before a validation window (the last days before the fit's
//! end), forecasts each local midnight in it, and is scored by MAE. The combination of the best
//! three (weights 1/MAE²) is refitted on all the data, unless the best single model validates
//! clearly better (by more than `COMBINATION_MARGIN`). Its validation errors calibrate intervals
//! and confidence: those of its forecasts from every recalibration origin of the window (local 00,
//! 06, 12 and 18 h, see [`RECALIBRATION_EVERY_HOURS`]), as its own forecasts recalibrate it later,
//! so that from its first hour in service every lead bucket has errors from every hour of the
//! day.
//!
//! The boosting candidates learn their number of trees on the same window (early stopping) and
//! are refitted with it. Their validation MAE is then the lowest along their own boosting path, a
//! slight edge over candidates with nothing to tune; measured on the shared datasets, the
//! choice of trees matters more (at nasa_http's first backtest refit, boosted validates 9% worse
//! with its 150 trees than with 20).

use serde::{Deserialize, Serialize};

use super::confidence::{Calibration, Regime, Residual, scale};
use super::features::{Windows, level};
use super::frame::Frame;
use super::models::{Corrected, Holdout, LastHour, Model, ModelSpec, member_weight};

/// The combination of the best three is chosen unless the best single model's validation MAE
/// is lower by more than this factor: combinations are the safer bet when validation is short
/// and the series changes (a single model that wins a two-week window by 1% often loses the
/// next week by more).
const COMBINATION_MARGIN: f64 = 1.03;

/// How the trainer validates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub validation_days: usize,
    pub horizon: usize,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            validation_days: 14,
            horizon: 24,
        }
    }
}

/// One candidate's validation score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateScore {
    pub model: String,
    /// Infinite when the candidate had no validation point.
    #[serde(with = "super::registry::finite_or_null")]
    pub mae: f64,
}

/// The trainer's result: the model in service, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Trained {
    pub model: Model,
    pub chosen: String,
    pub reason: String,
    pub validation: Vec<CandidateScore>,
    pub validation_mae: f64,
    pub calibration: Calibration,
    /// The chosen model's validation forecasts, which calibrated it.
    #[serde(skip)]
    pub points: Points,
    /// Every candidate's validation forecasts (in `specs` order), when validated explicitly.
    #[serde(skip)]
    pub candidate_points: Vec<Points>,
    pub fit_seconds: f64,
    /// The candidates as validation tuned them (boosting: the trees kept), in `specs` order: what
    /// later refits fit.
    #[serde(skip)]
    pub specs: Vec<ModelSpec>,
}

/// Origins in `[from, to)` whose next 24 hours end before `to` and that `keep` accepts.
fn origins_in(
    frame: &Frame,
    from: usize,
    to: usize,
    horizon: usize,
    keep: impl Fn(usize) -> bool,
) -> Vec<usize> {
    (from..to.saturating_sub(horizon.min(24)) + 1)
        .filter(|&q| q < frame.len() && keep(q))
        .collect()
}

/// Whether validation forecasts from `q` choose the model: those from local midnight. The
/// forecasts from the other recalibration origins only calibrate it.
pub fn chooses(frame: &Frame, q: usize) -> bool {
    frame.local[q].hour == 0
}

/// The validation window's other recalibration origins from `from` (06, 12 and 18 h): their
/// forecasts calibrate what is chosen, as recalibration later does; they do not choose.
fn calibrating_origins(frame: &Frame, from: usize, end: usize, horizon: usize) -> Vec<usize> {
    origins_in(frame, from, end, horizon, |q| {
        recalibration_origin(frame, q) && !chooses(frame, q)
    })
}

/// Validation forecasts of one fitted model: (origin, lead, y, yhat, members' spread) of observed
/// targets.
pub fn validate(
    model: &Model,
    frame: &Frame,
    w: &Windows,
    origins: &[usize],
    end: usize,
    horizon: usize,
) -> Points {
    let mut out = Vec::new();
    for (&q, forecast) in origins
        .iter()
        .zip(model.forecast_each(frame, w, origins, horizon))
    {
        for (k, (f, spread)) in forecast.values.into_iter().zip(forecast.spread).enumerate() {
            let t = q + k;
            if t < end && !frame.y[t].is_nan() {
                out.push((q, k + 1, frame.y[t], f.max(0.0), spread));
            }
        }
    }
    out
}

fn mae(points: &[Point]) -> f64 {
    if points.is_empty() {
        return f64::INFINITY;
    }
    points.iter().map(|p| (p.3 - p.2).abs()).sum::<f64>() / points.len() as f64
}

/// A validation forecast of an observed target: (origin, lead, y, yhat, spread), the spread of a
/// combination's members (NaN for a single model, see [`Forecast`](super::models::Forecast)).
pub type Point = (usize, usize, f64, f64, f64);

/// Validation forecasts of one model.
pub type Points = Vec<Point>;

/// Fits the candidates on data before `end` and returns the one (or the combination) that
/// validates best. With too little history for that, only the seasonal naive models compete
/// (see `short_history`).
pub fn train(
    frame: &Frame,
    w: &Windows,
    end: usize,
    specs: &[ModelSpec],
    opts: &TrainOptions,
) -> Trained {
    fit_and_choose(frame, w, end, specs, opts, false).0
}

/// As [`train`], also returning every candidate fitted on all the data (in `specs` order).
pub fn train_all(
    frame: &Frame,
    w: &Windows,
    end: usize,
    specs: &[ModelSpec],
    opts: &TrainOptions,
) -> (Trained, Vec<Model>) {
    fit_and_choose(frame, w, end, specs, opts, true)
}

/// Validates every candidate, then fits on all the data either every candidate (`all`, for the
/// backtest's rolling validation) or only what was chosen.
fn fit_and_choose(
    frame: &Frame,
    w: &Windows,
    end: usize,
    specs: &[ModelSpec],
    opts: &TrainOptions,
    all: bool,
) -> (Trained, Vec<Model>) {
    let started = std::time::Instant::now();
    let val_start = end.saturating_sub(opts.validation_days * 24);
    let origins = origins_in(frame, val_start, end, opts.horizon, |q| chooses(frame, q));
    if val_start < MIN_TRAINING_DAYS * 24 || origins.is_empty() {
        return short_history(frame, w, end, specs, opts, all, started);
    }
    // Boosting candidates also learn their number of trees on the validation window (early
    // stopping); they are refitted with that many.
    let holdout = Holdout {
        origins: &origins,
        end,
        horizon: opts.horizon,
    };
    let (validated, tuned): (Vec<Model>, Vec<ModelSpec>) = specs
        .iter()
        .map(|spec| spec.fit_validated(frame, w, origins[0], &holdout))
        .unzip();
    // What is chosen also forecasts from the window's other recalibration origins (06, 12 and
    // 18 h), so that its validation errors calibrate every lead at every hour of the day, as
    // recalibration later does; only the midnight forecasts choose. For the backtest's rolling
    // validation (`all`) every candidate does, since later refits may choose any of them.
    let others = calibrating_origins(frame, origins[0], end, opts.horizon);
    let validated_from =
        |m: &Model, origins: &[usize]| validate(m, frame, w, origins, end, opts.horizon);
    let points: Vec<Points> = validated
        .iter()
        .map(|m| {
            let mut p = validated_from(m, &origins);
            if all {
                p.extend(validated_from(m, &others));
            }
            p
        })
        .collect();
    let mut more = |i: usize| {
        if all {
            Vec::new()
        } else {
            validated_from(&validated[i], &others)
        }
    };
    let specs = &tuned[..];
    let fitted: Vec<Model> = if all {
        specs.iter().map(|spec| spec.fit(frame, w, end)).collect()
    } else {
        Vec::new()
    };
    let mut fit = |i: usize| {
        if all {
            fitted[i].clone()
        } else {
            specs[i].fit(frame, w, end)
        }
    };
    let mut t = choose(
        frame,
        w,
        specs,
        &mut fit,
        &points,
        &mut more,
        &format!("{} days before the fit", opts.validation_days),
    );
    t.fit_seconds = started.elapsed().as_secs_f64();
    t.candidate_points = points;
    t.specs = tuned;
    t.calibration = t.calibration.with_history(frame, end);
    (t, fitted)
}

/// Days of history a series needs before it is trained from the store: a week, every weekday
/// once. Until `MIN_TRAINING_DAYS` more, seasonal naive models alone compete (see
/// `short_history`) and confidence is lowered for the short history.
pub const MIN_HISTORY_DAYS: usize = 7;

/// Days of history before the validation window that the candidates other than seasonal naive
/// need (the weekly lags and profiles want two weeks): with less, only seasonal naive competes.
pub const MIN_TRAINING_DAYS: usize = 14;

/// Midnight origins that validate seasonal naive models with a short history: at least this
/// many, or seasonal naive 24 h serves unvalidated.
const MIN_SHORT_ORIGINS: usize = 3;

/// With too little history for the candidates that learn (less than `MIN_TRAINING_DAYS` before
/// a full validation window), the seasonal naive candidates compete on what there is: each
/// period whose lag reaches back into the history on at least `MIN_SHORT_ORIGINS` midnights of
/// the last `validation_days`, all scored on the midnights where every one of them does, and
/// chosen by the usual rule. A new series then forecasts with last week's profile as soon as a
/// week and a few days show it (over uber_nyc's last 28 days, seasonal naive 168's MAE is
/// half of 24's), calibrated on its own errors. With fewer, seasonal naive 24 h, unvalidated.
fn short_history(
    frame: &Frame,
    w: &Windows,
    end: usize,
    specs: &[ModelSpec],
    opts: &TrainOptions,
    all: bool,
    started: std::time::Instant,
) -> (Trained, Vec<Model>) {
    let first = frame.y[..end]
        .iter()
        .position(|v| !v.is_nan())
        .unwrap_or(end);
    let from = end.saturating_sub(opts.validation_days * 24);
    let midnights = |period: usize| {
        origins_in(frame, from.max(first + period), end, opts.horizon, |q| {
            chooses(frame, q)
        })
    };
    let mut naive: Vec<(usize, ModelSpec)> = specs
        .iter()
        .filter_map(|s| match s {
            ModelSpec::SeasonalNaive { period } => Some((usize::from(*period), s.clone())),
            _ => None,
        })
        .filter(|(period, _)| midnights(*period).len() >= MIN_SHORT_ORIGINS)
        .collect();
    naive.sort_by_key(|(period, _)| *period);
    let fitted = if all {
        specs.iter().map(|s| s.fit(frame, w, end)).collect()
    } else {
        Vec::new()
    };
    let mut t = match naive.last() {
        Some(&(longest, _)) => {
            let origins = midnights(longest);
            let others = calibrating_origins(frame, origins[0], end, opts.horizon);
            let models: Vec<Model> = naive.iter().map(|(_, s)| s.fit(frame, w, end)).collect();
            let points: Vec<Points> = models
                .iter()
                .map(|m| validate(m, frame, w, &origins, end, opts.horizon))
                .collect();
            let specs: Vec<ModelSpec> = naive.iter().map(|(_, s)| s.clone()).collect();
            let mut t = choose(
                frame,
                w,
                &specs,
                &mut |i| models[i].clone(),
                &points,
                &mut |i| validate(&models[i], frame, w, &others, end, opts.horizon),
                &format!("{} days before the fit", origins.len()),
            );
            t.reason = format!(
                "{end} hours of history: too short for the other candidates; {}",
                t.reason
            );
            t
        }
        None => {
            let spec = ModelSpec::SeasonalNaive { period: 24 };
            Trained {
                model: spec.fit(frame, w, end),
                chosen: spec.name(),
                reason: format!(
                    "{end} hours of history: too short to validate, seasonal naive 24 h"
                ),
                validation: Vec::new(),
                validation_mae: f64::NAN,
                calibration: Calibration::default(),
                points: Vec::new(),
                candidate_points: Vec::new(),
                fit_seconds: 0.0,
                specs: Vec::new(),
            }
        }
    };
    t.fit_seconds = started.elapsed().as_secs_f64();
    t.specs = specs.to_vec();
    (t, fitted)
}

/// Chooses among candidates by their validation points: the combination of the best three
/// (weights 1/MAE²), unless the best single model beats it by more than `COMBINATION_MARGIN`.
/// `fit(i)` gives candidate `i` fitted on all the data; it is called only for what is chosen.
pub fn choose(
    frame: &Frame,
    w: &Windows,
    specs: &[ModelSpec],
    fit: &mut dyn FnMut(usize) -> Model,
    points: &[Points],
    more: &mut dyn FnMut(usize) -> Points,
    window: &str,
) -> Trained {
    let mut order: Vec<usize> = (0..specs.len()).collect();
    // MAE and the number of points it is over, of the forecasts that choose.
    let choosing = |p: &Points| -> (f64, usize) {
        let scored: Points = p
            .iter()
            .copied()
            .filter(|&(q, ..)| chooses(frame, q))
            .collect();
        (mae(&scored), scored.len())
    };
    let maes: Vec<f64> = points.iter().map(|p| choosing(p).0).collect();
    order.sort_by(|&a, &b| maes[a].total_cmp(&maes[b]));
    let validation: Vec<CandidateScore> = order
        .iter()
        .map(|&i| CandidateScore {
            model: specs[i].name(),
            mae: maes[i],
        })
        .collect();
    let top: Vec<usize> = order
        .iter()
        .copied()
        .take(3)
        .filter(|&i| maes[i].is_finite() && maes[i] > 0.0)
        .collect();
    let raw: Vec<f64> = top.iter().map(|&i| 1.0 / (maes[i] * maes[i])).collect();
    let total: f64 = raw.iter().sum();
    let weights: Vec<f64> = raw.iter().map(|r| r / total).collect();
    let reads: Vec<bool> = top.iter().map(|&i| specs[i].reads_holidays()).collect();
    let combine = |lists: Vec<&Points>| weighted(frame, &lists, &weights, &reads);
    let combined: Points = if top.len() >= 2 {
        combine(top.iter().map(|&i| &points[i]).collect())
    } else {
        Vec::new()
    };
    let (combo_mae, combo_n) = choosing(&combined);
    let best = order[0];
    let (model, chosen, reason, chosen_points, validation_mae) = if top.len() >= 2
        && combo_mae < maes[best] * COMBINATION_MARGIN
    {
        let m = Model::Combination {
            members: top
                .iter()
                .zip(&weights)
                .map(|(&i, wt)| (*wt, fit(i)))
                .collect(),
        };
        let verb = if combo_mae < maes[best] {
            "beats"
        } else {
            "is within 3% of"
        };
        let reason = format!(
            "combination MAE {combo_mae:.2} {verb} the best single model ({} MAE {:.2}) on {} validation points ({window})",
            specs[best].name(),
            maes[best],
            combo_n
        );
        let extra: Vec<Points> = top.iter().map(|&i| more(i)).collect();
        let mut all = combined;
        all.extend(combine(extra.iter().collect()));
        (m.clone(), m.name(), reason, all, combo_mae)
    } else {
        let reason = format!(
            "lowest validation MAE {:.2} of {} on {} points ({window})",
            maes[best],
            match specs.len() {
                1 => "1 candidate".to_string(),
                n => format!("{n} candidates"),
            },
            choosing(&points[best]).1
        );
        let mut all = points[best].clone();
        all.extend(more(best));
        (fit(best), specs[best].name(), reason, all, maes[best])
    };
    // The last hour's correction, when the chosen model's validation forecasts from every
    // recalibration origin say its surprises persist: it then serves, calibrates and is compared
    // with its correction; its validation MAE is then that of its corrected forecasts.
    let (model, chosen, reason, chosen_points) = match LastHour::fit(frame, w, &chosen_points) {
        Some((correction, [before, ratioed, after])) => {
            let points = correction.apply_to(frame, w, &chosen_points);
            let mut steps = Vec::new();
            if correction.weight > 0.0 {
                steps.push(format!("to {ratioed:.2} by the ratio to its own forecast"));
            }
            if correction.blend > 0.0 {
                steps.push(format!(
                    "to {after:.2} by last week's hours from the last hour"
                ));
            }
            let m = Model::Corrected(Corrected {
                inner: Box::new(model),
                correction,
            });
            let reason = format!(
                "{reason}; the last hour's correction lowers the MAE of its forecasts from every recalibration origin from {before:.2} {}",
                steps.join(", then ")
            );
            (m.clone(), m.name(), reason, points)
        }
        None => (model, chosen, reason, chosen_points),
    };
    let validation_mae = if matches!(model, Model::Corrected(_)) {
        choosing(&chosen_points).0
    } else {
        validation_mae
    };
    let calibration = calibrate(frame, w, &chosen_points);
    Trained {
        model,
        chosen,
        reason,
        validation,
        validation_mae,
        calibration,
        points: chosen_points,
        candidate_points: Vec::new(),
        fit_seconds: 0.0,
        specs: specs.to_vec(),
    }
}

/// The weighted sum of the forecasts of candidates that forecast the same points (they line up
/// index by index), with their spread, as [`Model::forecast_spread`] serves a combination: on a
/// holiday by the members that read holidays (see [`member_weight`]), the spread of every member
/// clipped at 0.
fn weighted(frame: &Frame, lists: &[&Points], weights: &[f64], reads: &[bool]) -> Points {
    let Some(first) = lists.first() else {
        return Vec::new();
    };
    (0..first.len())
        .map(|k| {
            let (q, lead, y, ..) = first[k];
            let holiday = frame.local[q + lead - 1].holiday;
            let (mut f, mut lo, mut hi) = (0.0, f64::INFINITY, f64::NEG_INFINITY);
            for (m, p) in lists.iter().enumerate() {
                f += member_weight(weights, reads, m, holiday) * p[k].3;
                (lo, hi) = (lo.min(p[k].3.max(0.0)), hi.max(p[k].3.max(0.0)));
            }
            (q, lead, y, f, hi - lo)
        })
        .collect()
}

/// Days of a served model's own forecasts that recalibrate it, as in the backtest.
pub const RECALIBRATION_DAYS: usize = 28;

/// Hours between the origins of the forecasts that recalibrate a served model: at local 00:00,
/// 06:00, 12:00 and 18:00. From midnight alone the lead fixes the hour of day, so short leads
/// would be calibrated on night hours only; four origins a day give every lead bucket every
/// hour-of-day block (measured at hourly origins, calibration error on nasa / worldcup98 / nyc
/// / uber / dc: 0.053 / 0.108 / 0.048 / 0.033 / 0.059 from midnight, 0.036 / 0.052 / 0.041 /
/// 0.036 / 0.041 from four origins).
pub const RECALIBRATION_EVERY_HOURS: u8 = 6;

/// Whether position `q` is the origin of recalibration forecasts.
pub fn recalibration_origin(frame: &Frame, q: usize) -> bool {
    frame.local[q]
        .hour
        .is_multiple_of(RECALIBRATION_EVERY_HOURS)
}

/// The calibration of a model in service at origin `p`: its validation calibration `cal` with the
/// errors of its own forecasts from each recalibration origin (every `RECALIBRATION_EVERY_HOURS`
/// hours of local time) since `trained_until` (the first hour its training did not see), at most
/// `RECALIBRATION_DAYS` back, of the hours known before `p`.
/// Out of sample by construction: what the backtest recalibrates with at every origin, as far as
/// an artifact keeps (its validation errors stay whole however old).
pub fn recalibrate(
    frame: &Frame,
    w: &Windows,
    model: &Model,
    cal: &Calibration,
    trained_until: usize,
    p: usize,
) -> Calibration {
    let from = trained_until.max(p.saturating_sub(24 * RECALIBRATION_DAYS));
    let origins: Vec<usize> = (from..p)
        .filter(|&q| recalibration_origin(frame, q))
        .collect();
    if origins.is_empty() {
        return cal.clone();
    }
    let points = validate(model, frame, w, &origins, p, 24);
    cal.with_regime_errors(errors(frame, w, &points), special_seen(frame, &points))
}

/// Whether any target of `points` is a holiday or has an event on.
fn special_seen(frame: &Frame, points: &[Point]) -> bool {
    points.iter().any(|&(q, lead, ..)| {
        let t = q + lead - 1;
        frame.local[t].holiday || frame.events.active[t] > 0.0
    })
}

/// The residuals of `points` (lead, target's local hour, error, scale) that calibrations are
/// made of, each with its target's regime.
fn errors<'a>(
    frame: &'a Frame,
    w: &'a Windows,
    points: &'a [Point],
) -> impl Iterator<Item = (Residual, Regime)> + 'a {
    points.iter().map(|&(q, lead, y, f, spread)| {
        let t = q + lead - 1;
        let hour = frame.local[t].hour;
        let s = scale(f, level(w, q));
        (
            (lead, hour, y - f, s),
            Regime::of(frame, t).with_forecast(frame, q, t, f, spread, s),
        )
    })
}

/// Calibration from out-of-sample forecasts of one model.
pub fn calibrate(frame: &Frame, w: &Windows, points: &[Point]) -> Calibration {
    Calibration::default().with_regime_errors(errors(frame, w, points), special_seen(frame, points))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Calendar, CalendarName, Hour, TimeZone};

    /// A candidate's validation points: errors of `e`, alternating in sign (the same signs for
    /// every candidate, so that a combination's error is the weighted mean of theirs), from a
    /// local midnight (position 389 in Lima): only such forecasts choose.
    fn points(e: f64) -> Points {
        (0..24)
            .map(|k| {
                let sign = if k % 2 == 0 { 1.0 } else { -1.0 };
                (389, k + 1, 100.0, 100.0 + sign * e, f64::NAN)
            })
            .collect()
    }

    /// A series in Lima with no holidays, from 2026-01-01 00:00 UTC.
    fn lima_frame(y: Vec<f64>) -> Frame {
        let cal = Calendar::new(TimeZone::LIMA, CalendarName::None, []);
        Frame::from_parts(
            "t",
            Hour::from_unix(1_767_225_600).unwrap(),
            y,
            &cal,
            Vec::new(),
            &[],
        )
    }

    fn chosen(best: f64, others: [f64; 2]) -> String {
        let f = lima_frame(vec![100.0; 500]);
        let w = Windows::new(&f.y);
        let specs = [
            ModelSpec::SeasonalNaive { period: 24 },
            ModelSpec::SeasonalNaive { period: 168 },
            ModelSpec::Linear { penalty: 1.0 },
        ];
        let pts = [points(best), points(others[0]), points(others[1])];
        choose(
            &f,
            &w,
            &specs,
            &mut |i| specs[i].fit(&f, &w, 400),
            &pts,
            &mut |_| Vec::new(),
            "test",
        )
        .chosen
    }

    #[test]
    fn the_combination_is_kept_unless_a_single_model_is_clearly_better() {
        // The combination's MAE (about 10.2) is worse than the best single model's, but by
        // under 3%: the combination.
        let near = chosen(10.0, [10.2, 10.4]);
        assert!(near.starts_with("combination("), "{near}");
        // A single model far better than the others (the combination is 11% worse): it alone.
        let far = chosen(2.0, [30.0, 40.0]);
        assert_eq!(far, "snaive24");
    }

    #[test]
    fn a_short_history_chooses_among_the_seasonal_naive_models_whose_lag_it_holds() {
        // A daily profile, halved two days a week: last week's profile is right but for a 2%
        // wobble, yesterday's misses every edge of the weekend.
        let y: Vec<f64> = (0..24 * 12)
            .map(|t| {
                let day = 100.0 + 50.0 * ((t % 24) as f64 / 4.0).sin();
                let week = if (t / 24) % 7 >= 5 { 0.5 } else { 1.0 };
                let wobble = ((t * 7919) % 13) as f64 / 13.0 - 0.5;
                day * week * (1.0 + 0.04 * wobble)
            })
            .collect();
        let f = lima_frame(y);
        let w = Windows::new(&f.y);
        let specs = ModelSpec::candidates();
        let opts = TrainOptions::default();

        // Twelve days: both periods validate, on the midnights a week into the history.
        let t = train(&f, &w, f.len(), &specs, &opts);
        assert!(
            t.reason.contains("too short for the other candidates"),
            "{}",
            t.reason
        );
        let scored: Vec<&str> = t.validation.iter().map(|c| c.model.as_str()).collect();
        assert_eq!(scored, ["snaive168", "snaive24"]);
        assert!(
            t.validation[0].mae * 5.0 < t.validation[1].mae,
            "{:?}",
            t.validation
        );
        assert!(t.chosen.contains("snaive168"), "{}", t.chosen);
        assert!(t.validation_mae <= t.validation[0].mae * COMBINATION_MARGIN);
        assert!(t.points.iter().all(|p| p.0 >= 168 && p.0 + p.1 <= f.len()));
        assert!(t.points.iter().any(|p| f.local[p.0].hour == 12));
        assert!(t.calibration.n > 0 && t.calibration.n == t.points.len());
        // The backtest's path chooses alike and fits every candidate.
        let (all, fitted) = train_all(&f, &w, f.len(), &specs, &opts);
        assert_eq!((all.chosen, all.calibration), (t.chosen, t.calibration));
        assert_eq!(fitted.len(), specs.len());
        assert_eq!(all.specs, specs);

        // Five days: the weekly lag reaches no midnight, the daily one validates alone.
        let t5 = train(&f, &w, 24 * 5, &specs, &opts);
        assert_eq!(t5.chosen, "snaive24");
        assert_eq!(t5.validation.len(), 1);
        assert!(t5.calibration.n > 0);
        assert!(t5.points.iter().all(|p| p.0 + p.1 <= 24 * 5));

        // Two days: no midnight to validate on; seasonal naive 24 h, uncalibrated.
        let t2 = train(&f, &w, 48, &specs, &opts);
        assert_eq!(t2.chosen, "snaive24");
        assert!(t2.reason.contains("too short to validate"), "{}", t2.reason);
        assert_eq!(t2.calibration.n, 0);
    }

    #[test]
    fn the_day_after_a_holiday_is_forecast_as_the_ordinary_day_it_is() {
        use crate::forecast::features::testing::{ordinary_shape, shaped};
        // Ten weeks of a daily and weekly shape in Lima, on a level that drifts from day to day,
        // with a 4% wobble; on two Wednesday holidays, five weeks apart, demand is 40% of an
        // ordinary day's.
        let mut level = vec![1.0; 71];
        for d in 1..level.len() {
            level[d] = level[d - 1] * (1.0 + 0.03 * (((d * 4391) % 17) as f64 / 17.0 - 0.4));
        }
        let f = shaped(70, &["2026-02-04", "2026-03-04"], |d| level[d]);
        let ordinary = |i: usize| ordinary_shape(&f, i, level[i / 24]);
        let w = Windows::of(&f);
        // The origin: the midnight after the second holiday.
        let p = (24 * 50..f.len())
            .find(|&i| f.local[i - 1].holiday && !f.local[i].holiday)
            .unwrap();
        let t = train(
            &f,
            &w,
            p,
            &ModelSpec::candidates(),
            &TrainOptions::default(),
        );
        let out = t.model.forecast(&f, &w, p, 24);
        let err = (0..24)
            .map(|h| (out[h] - ordinary(p + h)).abs() / ordinary(p + h))
            .sum::<f64>()
            / 24.0;
        assert!(err < 0.05, "{}: mean relative error {err:.3}", t.chosen);
    }

    #[test]
    fn a_combination_is_validated_as_it_forecasts_holidays() {
        // The validation points that choose, correct and calibrate a combination are what it
        // serves: on the holiday only the ridge, after it both members by their weights.
        let (f, p) = crate::forecast::features::testing::wednesday_holidays();
        let w = Windows::of(&f);
        let members = [
            ModelSpec::SeasonalNaive { period: 168 },
            ModelSpec::Linear { penalty: 1.0 },
        ];
        let fitted: Vec<Model> = members.iter().map(|s| s.fit(&f, &w, p)).collect();
        let points: Vec<Points> = fitted
            .iter()
            .map(|m| {
                let fc = m.forecast(&f, &w, p, 48);
                (0..48)
                    .map(|h| (p, h + 1, f.y[p + h], fc[h], f64::NAN))
                    .collect()
            })
            .collect();
        let reads: Vec<bool> = members.iter().map(ModelSpec::reads_holidays).collect();
        let combined = weighted(&f, &[&points[0], &points[1]], &[0.6, 0.4], &reads);
        let combo = Model::Combination {
            members: vec![(0.6, fitted[0].clone()), (0.4, fitted[1].clone())],
        };
        let served = combo.forecast_spread(&f, &w, p, 48);
        for (h, v) in combined.iter().enumerate() {
            assert!((v.3 - served.values[h]).abs() < 1e-9, "lead {}", h + 1);
            assert!((v.4 - served.spread[h]).abs() < 1e-9, "lead {}", h + 1);
        }
        assert!((combined[0].3 - points[1][0].3).abs() < 1e-9);
        assert!((combined[30].3 - points[0][30].3).abs() > 1e-6);
    }

    #[test]
    fn boosting_candidates_are_refitted_with_the_trees_validation_kept() {
        let cal = Calendar::new(TimeZone::LIMA, CalendarName::Pe, []);
        let f = crate::bench::synthetic(4, 24 * 120, &cal);
        let w = Windows::new(&f.y);
        let specs = ModelSpec::candidates();
        let (t, fitted) = train_all(&f, &w, f.len(), &specs, &TrainOptions::default());
        let mut tuned_any = false;
        for ((spec, tuned), model) in specs.iter().zip(&t.specs).zip(&fitted) {
            // Validation weighs a combination's holidays by the spec, serving by the model.
            assert_eq!(
                spec.reads_holidays(),
                model.reads_holidays(),
                "{}",
                spec.name()
            );
            let (Some(max), Some(kept)) = (spec.trees(), tuned.trees()) else {
                assert_eq!(spec, tuned, "only boosting candidates are tuned");
                continue;
            };
            assert!(
                (1..=max).contains(&kept),
                "{}: {kept} of {max}",
                spec.name()
            );
            tuned_any |= kept < max;
            let trees = match model {
                Model::Boosted(m) => m.trees(),
                Model::Direct(m) => m.trees(),
                other => panic!("{} fitted as {}", spec.name(), other.name()),
            };
            assert_eq!(trees, kept, "{} refitted with other trees", spec.name());
        }
        // On this smooth synthetic series validation stops before the maximum.
        assert!(tuned_any, "{:?}", t.specs);
    }

    /// Checks that every validation point of `t` calibrated it and that its validation MAE is
    /// that of the points from midnight (those that choose); returns those.
    fn calibrated_on_all_and_scored_on_midnight(f: &Frame, t: &Trained) -> Points {
        assert_eq!(t.calibration.n, t.points.len());
        let midnight: Points = t
            .points
            .iter()
            .copied()
            .filter(|p| chooses(f, p.0))
            .collect();
        assert!((t.validation_mae - mae(&midnight)).abs() < 1e-9 * t.validation_mae);
        midnight
    }

    #[test]
    fn validation_forecasts_from_every_recalibration_origin_calibrate_and_midnight_ones_choose() {
        let cal = Calendar::new(TimeZone::LIMA, CalendarName::Pe, []);
        let f = crate::bench::synthetic(4, 24 * 120, &cal);
        let w = Windows::new(&f.y);
        let specs = ModelSpec::candidates();
        // An end that is not a midnight: the window's first origin is its first midnight.
        let end = f.len() - 5;
        let t = train(&f, &w, end, &specs, &TrainOptions::default());
        let first = t.points.iter().map(|p| p.0).min().unwrap();
        assert_eq!(f.local[first].hour, 0);
        let mut hours: Vec<u8> = t.points.iter().map(|p| f.local[p.0].hour).collect();
        hours.sort_unstable();
        hours.dedup();
        assert_eq!(hours, [0, 6, 12, 18]);
        assert!(t.points.iter().all(|&(q, lead, ..)| q + lead - 1 < end));
        // Every point calibrates; only the midnight ones chose.
        let midnight = calibrated_on_all_and_scored_on_midnight(&f, &t);
        assert!(midnight.len() * 3 < t.points.len());
        // The backtest's path (every candidate validated from every origin) calibrates alike.
        let (all, _) = train_all(&f, &w, end, &specs, &TrainOptions::default());
        assert_eq!(all.chosen, t.chosen);
        assert_eq!(all.calibration, t.calibration);
    }

    #[test]
    fn a_series_whose_surprises_persist_is_served_with_the_last_hours_correction() {
        let cal = Calendar::new(TimeZone::LIMA, CalendarName::Pe, []);
        let mut f = crate::bench::synthetic(4, 24 * 120, &cal);
        // Demand times a level that wanders hour by hour (AR(1) shocks that last for days).
        let (mut s, mut shock) = (11u64, 0.0);
        for v in &mut f.y {
            shock = 0.98 * shock + 0.06 * crate::bench::normal(&mut s);
            *v = (*v * f64::exp(shock)).round();
        }
        let w = Windows::new(&f.y);
        let t = train(
            &f,
            &w,
            f.len(),
            &ModelSpec::candidates(),
            &TrainOptions::default(),
        );
        let Model::Corrected(c) = &t.model else {
            panic!("{}: {}", t.chosen, t.reason)
        };
        assert!(c.correction.weight > 0.0, "{:?}", c.correction);
        assert!(t.chosen.contains(&format!(
            "with the last hour's correction (weight {:.1}, decay {:.2}",
            c.correction.weight, c.correction.decay
        )));
        assert!(
            t.reason
                .contains("the last hour's correction lowers the MAE")
        );
        // It calibrates on its corrected validation forecasts, every one of them, and its
        // validation MAE is that of the corrected ones from midnight, as it serves.
        calibrated_on_all_and_scored_on_midnight(&f, &t);
        // Its forecast at lead 1 follows the last hour: raising that hour raises it.
        let p = f.len() - 24;
        let mut up = f.clone();
        up.y[p - 1] *= 1.5;
        let wu = Windows::new(&up.y);
        assert!(t.model.forecast(&up, &wu, p, 1)[0] > t.model.forecast(&f, &w, p, 1)[0]);
    }

    #[test]
    fn a_trained_calibration_knows_the_holidays_of_its_history_for_the_serving_loop() {
        use crate::domain::Holiday;
        // 2025-05-01 and 2026-05-01 are holidays; the series runs from 2025-01-01 (local) and
        // trains on what is before 2026-01-01.
        let holidays = ["2025-05-01", "2026-05-01"].map(|d| Holiday {
            date: d.parse().unwrap(),
            name: "h".into(),
        });
        let cal = Calendar::new(TimeZone::LIMA, CalendarName::None, holidays);
        let y = |i: usize| 100.0 + 40.0 * ((i % 24) as f64 / 24.0 * std::f64::consts::TAU).sin();
        let frame = |skip_days: i64, days: usize| {
            let start = Hour::from_unix(1_735_707_600 + 86_400 * skip_days).unwrap();
            Frame::from_parts(
                "t",
                start,
                (0..24 * days).map(y).collect(),
                &cal,
                Vec::new(),
                &[],
            )
        };
        let long = frame(0, 365);
        let w = Windows::new(&long.y);
        let specs = [ModelSpec::SeasonalNaive { period: 24 }];
        let t = train(&long, &w, long.len(), &specs, &TrainOptions::default());
        // The serving loop reads the last weeks only: from 2026-04-01, 40 days.
        let short = frame(455, 40);
        let may_day = (0..short.len())
            .find(|&p| short.local[p].month == 5 && short.local[p].holiday)
            .unwrap();
        assert!(t.calibration.held_a_year_before(&short, may_day));
        assert!(!Calibration::default().held_a_year_before(&short, may_day));
    }

    #[test]
    fn a_served_model_is_recalibrated_on_its_own_forecasts_since_training() {
        // A weekly pattern, calm up to week 8, then off by 30% either way hour by hour.
        let y: Vec<f64> = (0..10 * 168)
            .map(|t| {
                let base = 100.0 + 50.0 * ((t % 24) as f64 / 4.0).sin();
                let wobble = if (t * 7919) % 13 < 6 { 0.3 } else { -0.3 };
                if t >= 8 * 168 {
                    base * (1.0 + wobble)
                } else {
                    base
                }
            })
            .collect();
        let f = lima_frame(y);
        let w = Windows::new(&f.y);
        let model = Model::SeasonalNaive { period: 168 };
        // Validation saw errors of about 2%.
        let calm = Calibration::from_errors(
            (0..400).map(|i| {
                let lead = 1 + i % 24;
                (
                    lead,
                    (lead - 1) as u8,
                    if i % 2 == 0 { 2.0 } else { -2.0 },
                    100.0,
                )
            }),
            false,
        );
        let (trained_until, p) = (8 * 168, 9 * 168 + 7);
        let r = recalibrate(&f, &w, &model, &calm, trained_until, p);
        // Every hour since training known before the origin, from each local 00, 06, 12 and
        // 18 h: every origin but the last four has all its 24 hours known.
        let origins: Vec<usize> = (trained_until..p)
            .filter(|&q| recalibration_origin(&f, q))
            .collect();
        assert!(
            origins.len() >= 4 * 7 && origins.windows(2).all(|w| w[1] - w[0] == 6),
            "{origins:?}"
        );
        assert!(
            origins
                .iter()
                .all(|&q| [0, 6, 12, 18].contains(&f.local[q].hour)),
            "{origins:?}"
        );
        assert!(
            r.n >= calm.n + 24 * (origins.len() - 4),
            "{} vs {}",
            r.n,
            calm.n
        );
        let cond = crate::forecast::confidence::Conditions {
            history_hours: 10_000,
            ..Default::default()
        };
        let (before, after) = (
            calm.band(100.0, 100.0, 3, 2, 0.2, &cond),
            r.band(100.0, 100.0, 3, 2, 0.2, &cond),
        );
        assert!(
            after.hi80 - after.lo80 > 3.0 * (before.hi80 - before.lo80),
            "{before:?} {after:?}"
        );
        assert!(after.confidence < before.confidence);
        // Nothing since training: the validation calibration as it is.
        assert_eq!(recalibrate(&f, &w, &model, &calm, p, p), calm);
        // Nothing at or after the origin is read.
        let mut later = f;
        for v in &mut later.y[p..] {
            *v *= 5.0;
        }
        let wl = Windows::new(&later.y);
        assert_eq!(recalibrate(&later, &wl, &model, &calm, trained_until, p), r);
    }

    #[test]
    fn calibration_learns_the_size_of_errors_of_wet_hours_from_the_series_columns() {
        use crate::forecast::frame::Exog;
        // Rain every fourth day (hourly precipitation), with a daily sum beside it that must
        // not count, and a weather category that follows the rain.
        let n = 24 * 40;
        let wet_at = |t: usize| (t / 24) % 4 == 1;
        let precip: Vec<f64> = (0..n).map(|t| if wet_at(t) { 1.5 } else { 0.0 }).collect();
        let exog = vec![
            Exog {
                name: "precip_mm".into(),
                categorical: false,
                values: precip,
                codes: Vec::new(),
            },
            Exog {
                name: "precip_24h_mm".into(),
                categorical: false,
                values: vec![3.0; n],
                codes: Vec::new(),
            },
            Exog {
                name: "weather".into(),
                categorical: true,
                values: (0..n).map(|t| if wet_at(t) { 2.0 } else { 0.0 }).collect(),
                codes: Vec::new(),
            },
        ];
        let cal = Calendar::new(TimeZone::LIMA, CalendarName::None, []);
        let f = Frame::from_parts(
            "t",
            Hour::from_unix(1_767_225_600).unwrap(),
            vec![100.0; n],
            &cal,
            exog,
            &[],
        );
        let w = Windows::new(&f.y);
        assert_eq!(
            Regime::of(&f, 24 + 3),
            Regime {
                wet: Some(true),
                weather: Some(2),
                spread: None,
                departure: None,
            }
        );
        assert_eq!(
            Regime::of(&f, 3),
            Regime {
                wet: Some(false),
                weather: Some(0),
                spread: None,
                departure: None,
            }
        );
        // Forecasts from every sixth hour: errors of 4 when dry, 16 when wet, alternating.
        let points: Points = (24 * 8..n - 24)
            .step_by(6)
            .flat_map(|q| {
                (1..=24).map(move |lead| {
                    let t = q + lead - 1;
                    let e = if wet_at(t) { 16.0 } else { 4.0 };
                    let sign = if (q + lead) % 2 == 0 { 1.0 } else { -1.0 };
                    (q, lead, 100.0 + sign * e, 100.0, f64::NAN)
                })
            })
            .collect();
        let c = calibrate(&f, &w, &points);
        let (wet, dry) = (
            c.regime_size(&Regime::of(&f, 24 + 3)),
            c.regime_size(&Regime::of(&f, 3)),
        );
        // Wet errors are 16 / (0.25 * 16 + 0.75 * 4) = 2.29 times the usual, dry ones 0.57.
        assert!(wet > 1.9 && dry < 0.65, "wet {wet}, dry {dry}");
        let cond = |pos: usize| {
            crate::forecast::confidence::Conditions {
                history_hours: 10_000,
                ..crate::forecast::confidence::Conditions::default()
            }
            .at(&f, pos, pos, &c)
        };
        let band = |pos: usize| c.band(100.0, 100.0, 3, f.local[pos].hour, 0.1, &cond(pos));
        let (b_wet, b_dry) = (band(24 + 3), band(3));
        // Errors of 4 are within 10%, errors of 16 are not.
        assert!(
            b_dry.confidence > 0.9 && b_wet.confidence < 0.1,
            "{b_dry:?} {b_wet:?}"
        );
        assert!(b_wet.hi80 - b_wet.lo80 > 3.0 * (b_dry.hi80 - b_dry.lo80));
    }
}
