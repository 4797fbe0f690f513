//! Prediction intervals and confidence, calibrated out of sample. The trainer keeps the errors of
//! the chosen model on its validation forecasts, divided by a scale known at forecast time (the
//! geometric mean of the forecast and the origin's level), by lead bucket and by the target's
//! local hour of day. Split-conformal quantiles of those give the 80% and 95% bounds; their
//! distribution gives confidence, the probability that demand lands within ±tolerance of the
//! forecast.
//!
//! Why both: from a local midnight the lead fixes the hour of day, and calibration forecasts
//! start every six hours only (see
//! [`RECALIBRATION_EVERY_HOURS`](super::trainer::RECALIBRATION_EVERY_HOURS)). Served every
//! hour, a forecast of 17:00 made at 16:00 has lead 2: from midnight, the errors of leads 1-3
//! are those of night hours, and the errors of 16:00-19:00 are those of leads 17-20. Each answers
//! half the question, so a point's band is the mean of the two (quantiles averaged, confidence
//! the mixture's probability). Measured at hourly origins, as served (calibration error, nasa /
//! worldcup98 / nyc / uber / dc, midnight recalibration): by lead alone 0.051 / 0.191 / 0.073 /
//! 0.036 / 0.055, with the hour's block 0.053 / 0.108 / 0.048 / 0.033 / 0.059. Giving the hour
//! its full effect instead (the lead's errors rescaled by an hour-block factor fitted
//! multiplicatively with the lead's, shrunk by 30 pseudo-errors) was worse everywhere but uber:
//! 0.040 / 0.065 / 0.064 / 0.035 / 0.051, against 0.026 / 0.035 / 0.047 / 0.038 / 0.046 for the
//! mean (both with validation from four origins a day). The last weeks' hour-of-day pattern is
//! only half a guide to the next week's.
//!
//! The hour's block holds each error divided by the mean absolute error of its lead's bucket, and
//! answers at the size of the point's lead; lead 1 has a bucket of its own. Every block holds
//! errors of several leads, and the last hour's correction makes lead 1 far more accurate than
//! the next: a block of raw errors pulled lead 1's band towards every lead's. Measured at hourly
//! origins over the 45 windows of `scripts/rolling`, at lead 1: mean confidence minus hit rate
//! -0.058 -> -0.004 (its mean absolute value 0.058 -> 0.020), 80% coverage 0.879 -> 0.815, median
//! width 0.51 -> 0.46 of the forecast. The other lead buckets' mean absolute gaps grew by at most
//! 0.003; over all leads, the calibration error went 0.0371 -> 0.0372 and Brier stayed 0.1621.
//!
//! Conditions that make a forecast less trustworthy than the validation period widen the scale:
//! a holiday or event hour (or an hour whose lags held an event), missing recent observations, a
//! short history, and a last day whose errors were larger than usual (errors come in spells: a
//! storm's first day warns of its second). Rain has its own size of error, learnt from
//! validation, and so have a combination's hour whose members disagree and a forecast far from
//! the same hour last week (see [`Regime`]). A holiday unlike the history has a band at least a
//! share of the day wide (see [`Conditions::unlike_history`]), and so has an event larger than
//! any the history held (see [`Conditions::new_event`]). Each point names the conditions that
//! widened it (see [`Doubts`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::features::{Windows, level};
use super::frame::Frame;
use super::models::{Forecast, Model};
use crate::domain::{easter_sunday, is_hourly_precipitation};

/// Lead buckets: 1, 2-3, 4-6, 7-12, 13-24, 25+ hours. Lead 1 has its own: the last hour's
/// correction makes it the most accurate by far. Artifacts written before it was split have
/// leads 1-3 in one bucket; they read as that bucket twice (see [`Stored`]).
const BUCKETS: &[(usize, usize)] = &[(1, 1), (2, 3), (4, 6), (7, 12), (13, 24), (25, usize::MAX)];

fn bucket(lead: usize) -> usize {
    BUCKETS
        .iter()
        .position(|(lo, hi)| lead >= *lo && lead <= *hi)
        .unwrap_or(BUCKETS.len() - 1)
}

/// Hours of the day per hour-of-day block: six blocks of four hours.
const HOURS_PER_BLOCK: u8 = 4;
const HOUR_BLOCKS: usize = 6;

fn hour_block(hour: u8) -> usize {
    usize::from(hour.min(23) / HOURS_PER_BLOCK)
}

/// The normalizing scale of an error: max(yhat, 2% of level)^0.75 * level^0.25. Errors grow
/// with the forecast, but less than proportionally: a quiet night hour errs less in absolute
/// terms and more in relative terms than a peak hour.
pub fn scale(yhat: f64, level: f64) -> f64 {
    let l = if level.is_nan() || level <= 0.0 {
        yhat.abs().max(1.0)
    } else {
        level
    };
    (yhat.max(0.02 * l).powf(0.75) * l.powf(0.25)).max(1e-9)
}

/// How much larger than usual the errors of a holiday or bridge day are taken to be when
/// validation held none. Measured over the 45 rolling windows of `scripts/rolling`, the
/// backtests' errors on holidays, relative to the forecast, were 1.6 (worldcup98) to 4.3 (nyc)
/// times those of other hours; the rule was 1.5 before (45 windows, calibration error / Brier:
/// 0.0436 / 0.1607 with 1.5, 0.0434 / 0.1603 with 2). Applying it also when validation held a
/// holiday (its errors are then in the distribution, diluted) lowered Brier further (0.1590)
/// but raised the calibration error on worldcup98's test window from 0.047 to 0.098.
pub const UNSEEN_SPECIAL_DAY: f64 = 2.0;

/// How much larger than usual the errors of an hour during a special event (or within three hours
/// of its end) are taken to be: what an event's features may not capture of its crowd. worldcup98
/// is the only series here with events; larger factors trade its calibration error for Brier score.
/// Measured on its two rolling windows from every hour (`scripts/events OUT`: the whole file and
/// the file without its last 14 days), event hours counted from an hour before a match to three
/// after its end: with 1.3 their mean confidence was 0.37 and 0.41 against hit rates of 0.30 and
/// 0.33 (other hours 0.45 and 0.46 against 0.49), Brier 0.2340 and 0.2151, calibration error 0.069
/// and 0.026; with 1.6, event hours 0.32 and 0.37, Brier 0.2334 and 0.2133, calibration error 0.069
/// and 0.032; with 2.0, 0.28 and 0.32, Brier 0.2334 and 0.2135, calibration error 0.072 and 0.036.
/// On the shared test window (midnight origins) the calibration error was 0.069 / 0.073 / 0.075 and
/// Brier 0.2243 / 0.2232 / 0.2225: 1.3 is kept for the calibration target.
///
/// It is also the factor of an hour whose lags held an event it does not (see
/// [`Conditions::event_in_lags`]): the days after a match, and the week after. On the same two
/// windows from every hour, those hours (2,184 and 1,872 points) had a mean confidence of 0.349
/// and 0.345 before this rule, against hit rates of 0.075 and 0.132; with 1.3, 0.287 and 0.279,
/// their Brier 0.1618 -> 0.1265 and 0.1742 -> 0.1425, the windows' Brier 0.2340 -> 0.2276 and
/// 0.2151 -> 0.2110, their calibration error 0.0686 -> 0.0648 and 0.0257 -> 0.0245. On the window
/// of the first matches (216 such hours, `scripts/events`), Brier 0.2223 -> 0.2220 and
/// calibration error 0.0221 -> 0.0213. On the shared test window (91 such hours), Brier 0.2243 ->
/// 0.2187 and calibration error 0.069 -> 0.073: 672 points, where a calibrated confidence's
/// median is 0.058 (p90 0.089). Larger factors (1.6, 2.0, 2.5) lowered Brier further on every
/// window but raised the shared window's calibration error to 0.094, 0.085 and 0.076; a band at
/// least [`NEW_EVENT_ERROR`] wide as well changed little (worldcup98's usual errors are wider).
pub const EVENT_ERROR: f64 = 1.3;

/// The least mean absolute error, relative to the forecast, that a band is given on a holiday
/// or bridge day unlike the history (see [`Conditions::unlike_history`]). Its demand departs from
/// what the models learnt by a share of the day, whatever the size of ordinary errors: widening
/// those (as [`UNSEEN_SPECIAL_DAY`] does) leaves a series that errs by 2% an hour sure of a
/// Christmas that ran at 0.57 of the week before (the Portuguese client's electricity of
/// `scripts/holdout`, confidence 0.97-0.99 on all its hours, 6 of its 24 hours within ±20%).
///
/// Its size was set from daily demand, not from forecasts (`scripts/holidays departures
/// HOLDOUT_DIR/data`): over the 84 holidays of the shared datasets and `scripts/holdout`'s (each
/// day's demand against the same weekday a week before and after), a holiday departed from the
/// mean departure of its series' earlier holidays by a median of 0.23 of the day (mean 0.29; 67
/// holidays with two or more before them; more than 0.2 for 57% of them).
///
/// Measured, before -> after (`scripts/holidays hours` on `scripts/rolling`'s runs): over its 45
/// windows, the holidays' hours (908 points, about 30 holidays) had a mean confidence of 0.52 ->
/// 0.44 against a hit rate of 0.42, Brier 0.2385 -> 0.2213, 80% / 95% coverage 0.688 / 0.895 ->
/// 0.775 / 0.939; those unlike the history (742 points) 0.56 -> 0.46 against 0.47. All points: mean
/// Brier 0.1530 -> 0.1523, mean calibration error 0.0442 -> 0.0440; from every hour (the rule
/// applying until the day's morning shows, see [`DAY_SHOWN_BY`]) 0.1511 -> 0.1505 and 0.0345 ->
/// 0.0355. Where holidays ran as ordinary days it costs: on the shared test windows nyc_taxi's
/// calibration error 0.035 -> 0.042, uber_nyc's Brier 0.0742 -> 0.0754 and worldcup98's calibration
/// error 0.068 -> 0.069 (its Brier 0.2244 -> 0.2243); the seven series of `scripts/components`
/// Brier 0.1477 -> 0.1484; the Portuguese electricity's Brier 0.0398 -> 0.0403 (its 8 December, a
/// holiday unlike the history that ran as usual, 0.998 -> 0.505, all hit; Christmas 0.984 -> 0.630,
/// a quarter hit).
pub const NEW_SPECIAL_DAY_ERROR: f64 = 0.23;

/// How much larger than any event the history held (by expected attendance, with demand
/// observed before the origin, in the frame or the training history) an event must be to be
/// unlike the history (see [`Conditions::new_event`]): its crowd's effect on demand was never
/// seen, and the models read it by extrapolation (trees not at all). An event up to this size
/// is taken as like the history's largest. Not measured: worldcup98, the only series here with
/// events, opens with its largest match, so after its first day no event is larger than one
/// seen.
pub const NEW_EVENT_SIZE: f64 = 1.5;

/// Whether an event of `size` is unlike a history whose largest event was `largest` (both in
/// the same unit): larger than [`NEW_EVENT_SIZE`] times it.
fn larger_than_held(size: f64, largest: f64) -> bool {
    size > NEW_EVENT_SIZE * largest
}

/// For each event given as (expected attendance, start, held: demand was observed during it),
/// whether it will be unlike the history when it starts: larger than [`NEW_EVENT_SIZE`] times
/// every held event that started before it. What a forecast from just before its start reads
/// (see [`Conditions::new_event`]), for events taken one at a time (a forecast adds up those on
/// at once).
pub fn new_to_history(events: &[(u32, DateTime<Utc>, bool)]) -> Vec<bool> {
    events
        .iter()
        .map(|&(size, start, _)| {
            let largest = events
                .iter()
                .filter(|&&(_, earlier, held)| held && earlier < start)
                .map(|&(n, ..)| n)
                .max()
                .unwrap_or(0);
            larger_than_held(f64::from(size), f64::from(largest))
        })
        .collect()
}

/// How much larger than usual the errors of an hour during an event unlike the history (see
/// [`NEW_EVENT_SIZE`]) are taken to be, in place of [`EVENT_ERROR`]: as for a holiday when
/// validation held none, [`UNSEEN_SPECIAL_DAY`].
pub const UNSEEN_EVENT: f64 = UNSEEN_SPECIAL_DAY;

/// The least mean absolute error, relative to the forecast, that a band is given during an
/// event unlike the history: as for a holiday unlike the history, what the event adds to demand
/// is a share of it that the models never learnt, whatever the size of ordinary errors.
///
/// Both this and [`UNSEEN_EVENT`] are the holidays' figures, measured over many series; the only
/// events here unlike their history are worldcup98's first two matches, on one day, which cannot
/// size a rule of their own. On them (`scripts/events OUT`, the window of the first matches from
/// every hour: their hours forecast from before the first match started, 180 points), demand ran
/// at 4-5 times the day before, and the hit rate was 0.017. Confidence, before -> after: 0.413 ->
/// 0.289; the window's calibration error 0.0251 -> 0.0221 and Brier 0.2232 -> 0.2223. The least
/// error alone changed nothing there (worldcup98's usual errors are wider); a least error of 0.5
/// or 1.0 of the forecast would give 0.280 or 0.173 (with the factor), and a factor of 4, 0.152.
pub const NEW_EVENT_ERROR: f64 = NEW_SPECIAL_DAY_ERROR;

/// The local hour from which a forecast's origin has seen enough of its target's day to size a
/// holiday by it: from then on, the last hour's correction and the day's errors (see
/// [`Conditions::recent_errors`]) know the holiday's level, and [`NEW_SPECIAL_DAY_ERROR`] no
/// longer applies. The night hours before say little of a day. Measured over the 45 windows of
/// `scripts/rolling` from every hour (`scripts/holidays hours`), on the holidays' hours by how
/// many of the day's hours the origin had seen (0 / 1-3 / 4-6 / 7-9 / 10-12 / 13 or more), the
/// rule at every origin moved the Brier score 0.2418 / 0.2589 / 0.2345 / 0.2036 / 0.1837 /
/// 0.1748 -> 0.2146 / 0.2420 / 0.2374 / 0.2275 / 0.2166 / 0.2141: it helps until the morning, and
/// costs once the day is seen. Before 06:00 only: 0.2145 / 0.2422 / 0.2349 / 0.2029 / 0.1820 /
/// 0.1735.
pub const DAY_SHOWN_BY: u8 = 6;

/// What a point knows about itself that validation may not have covered.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Conditions {
    pub special_day: bool,
    /// A special day that the history did not hold a year before (see
    /// [`Calibration::held_a_year_before`]), forecast before its morning shows (see
    /// [`DAY_SHOWN_BY`]). Its band is at least [`NEW_SPECIAL_DAY_ERROR`] wide.
    pub unlike_history: bool,
    /// The target hour's weather, as far as the size of its error goes.
    pub regime: Regime,
    /// An event's hour: one in progress or ended within three hours (its crowd leaving).
    pub event: bool,
    /// An event on or just ended (see [`Conditions::event`]) larger than [`NEW_EVENT_SIZE`]
    /// times any the history held. Its errors are taken as [`UNSEEN_EVENT`] times the usual, and
    /// its band is at least [`NEW_EVENT_ERROR`] wide.
    pub new_event: bool,
    /// Not an event's hour (see [`Conditions::event`]), but the same hour a day or a week
    /// before was: the lags the models read and the seasonal profiles carry that event's crowd,
    /// so the forecast may repeat a surge that will not come (the day after a stadium concert,
    /// at the hour of its egress). Its errors are taken as an event hour's, [`EVENT_ERROR`]
    /// times the usual.
    pub event_in_lags: bool,
    /// The largest event (attendance / 10,000) on during an hour with demand observed before
    /// the origin.
    pub largest_event: f64,
    /// Share of the 24 hours before the origin without an observation.
    pub missing_recent: f64,
    /// Hours of history before the origin.
    pub history_hours: usize,
    /// The model's errors over the day before the origin against their usual size (1: as
    /// usual); see [`Calibration::recent_errors`].
    pub recent_errors: f64,
    /// What demand's outcomes are: whole numbers or not (see [`Outcomes`]).
    pub outcomes: Outcomes,
}

/// What a series' outcomes are, as its history before the origin shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Outcomes {
    /// Any real number.
    #[default]
    Continuous,
    /// Counts: every observed hour a whole number, none negative. Confidence is then the
    /// probability of the counts within tolerance, each the rounding of a continuous outcome
    /// (from k - 0.5 to k + 0.5); `zeros` says whether a count of 0 was seen in the last four
    /// weeks (only then is a forecast of 0 given the chance of one).
    Counts { zeros: bool },
}

impl Conditions {
    /// The history-wide conditions of origin `p`: observed hours before it, the share of the
    /// last 24 without an observation, and whether demand is counted.
    pub fn at_origin(frame: &Frame, p: usize) -> Self {
        let (history_hours, counts) = frame.y[..p]
            .iter()
            .filter(|v| !v.is_nan())
            .fold((0, true), |(n, counts), v| {
                (n + 1, counts && *v >= 0.0 && v.fract() == 0.0)
            });
        let outcomes = if counts && history_hours > 0 {
            Outcomes::Counts {
                zeros: frame.y[p.saturating_sub(24 * 28)..p].contains(&0.0),
            }
        } else {
            Outcomes::Continuous
        };
        let missing = frame.y[p.saturating_sub(24)..p]
            .iter()
            .filter(|v| v.is_nan())
            .count();
        Self {
            special_day: false,
            unlike_history: false,
            regime: Regime::default(),
            event: false,
            new_event: false,
            event_in_lags: false,
            largest_event: largest_event(frame, p),
            missing_recent: missing as f64 / 24.0,
            history_hours,
            recent_errors: 1.0,
            outcomes,
        }
    }

    /// As [`Conditions::at_origin`], with how `model` (calibrated by `cal`) fared over the
    /// day before: its forecasts of that day from the origin a day back, against what came.
    pub fn at_origin_for(
        frame: &Frame,
        w: &Windows,
        model: &Model,
        cal: &Calibration,
        p: usize,
        clip: bool,
    ) -> Self {
        let back = p.saturating_sub(24);
        let last_day = model
            .forecast(frame, w, back, p - back)
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                let f = if clip { f.max(0.0) } else { f };
                (i + 1, frame.y[back + i], f, level(w, back))
            });
        Self {
            recent_errors: cal.recent_errors(last_day),
            ..Self::at_origin(frame, p)
        }
    }

    /// These conditions at target `pos` forecast from origin `p`: a holiday or bridge day (and
    /// whether it is unlike the history `cal` knows, before its morning shows), its weather, an
    /// event on or just ended (and whether it is larger than any the history held).
    #[must_use]
    pub fn at(self, frame: &Frame, p: usize, pos: usize, cal: &Calibration) -> Self {
        let l = frame.local[pos];
        let special_day = l.holiday || l.bridge;
        let shown = frame.local[p].date() == l.date() && frame.local[p].hour >= DAY_SHOWN_BY;
        let e = &frame.events;
        let ended = e.leaving(pos);
        let size = e.active[pos].max(if ended { e.last_size[pos] } else { 0.0 });
        let event = e.on(pos);
        let event_in_lags = event_in_lags(frame, pos);
        Self {
            special_day,
            unlike_history: special_day && !shown && !cal.held_a_year_before(frame, pos),
            regime: Regime::of(frame, pos),
            event,
            new_event: event && larger_than_held(size, self.largest_event.max(cal.largest_event)),
            event_in_lags,
            ..self
        }
    }

    /// How much wider than in validation the error distribution is taken to be: the size of
    /// error of the target's weather (see [`Regime`]) and what validation did not cover.
    pub fn inflation(&self, cal: &Calibration) -> f64 {
        self.factors(cal).iter().map(|(_, f)| f).product()
    }

    /// The factors of [`Conditions::inflation`], in the order they multiply, each with the
    /// doubt that names it (see [`Doubts`]).
    fn factors(&self, cal: &Calibration) -> [(usize, f64); 9] {
        let r = &cal.regimes;
        let history = self.history_hours as f64;
        let month = 24.0 * 28.0;
        [
            (
                Doubts::WEATHER,
                r.wet(&self.regime) * r.weather(&self.regime),
            ),
            (Doubts::MEMBERS_DISAGREE, r.spread(&self.regime)),
            (Doubts::UNLIKE_LAST_WEEK, r.departure(&self.regime)),
            (
                Doubts::UNSEEN_SPECIAL_DAY,
                if self.special_day && !cal.special_seen {
                    UNSEEN_SPECIAL_DAY
                } else {
                    1.0
                },
            ),
            (
                Doubts::EVENT,
                if self.new_event {
                    UNSEEN_EVENT
                } else if self.event {
                    EVENT_ERROR
                } else {
                    1.0
                },
            ),
            (
                Doubts::EVENT_IN_LAGS,
                if self.event_in_lags { EVENT_ERROR } else { 1.0 },
            ),
            (
                Doubts::MISSING_RECENT_DATA,
                1.0 + 2.0 * self.missing_recent.clamp(0.0, 1.0),
            ),
            // Widen (never narrow) by the square root of how much larger than usual the last
            // day's errors were, at most 2x.
            (
                Doubts::RECENT_ERRORS,
                self.recent_errors.clamp(1.0, 4.0).sqrt(),
            ),
            (
                Doubts::SHORT_HISTORY,
                if history < month {
                    1.0 + (month - history) / month
                } else {
                    1.0
                },
            ),
        ]
    }

    /// The least scale of a forecast `yhat`'s error whose distribution has mean absolute value
    /// `size` (0 when none): on a special day unlike the history, so that its mean absolute
    /// error is [`NEW_SPECIAL_DAY_ERROR`] of the forecast; during an event unlike the history,
    /// [`NEW_EVENT_ERROR`].
    fn least_scale(&self, yhat: f64, size: f64) -> f64 {
        let least = [
            (self.unlike_history, NEW_SPECIAL_DAY_ERROR),
            (self.new_event, NEW_EVENT_ERROR),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, share)| share)
        .fold(0.0, f64::max);
        if size > 0.0 {
            least * yhat.abs() / size
        } else {
            0.0
        }
    }

    /// The factors of [`Conditions::inflation`] that widen a band by more than 5%, by name
    /// (`unseen_special_day` also on a special day unlike the history, whose band is at least
    /// [`NEW_SPECIAL_DAY_ERROR`] wide); and `recent_misses` when `adapt` computes confidence at
    /// a scale more than 5% wider.
    pub fn doubts(&self, cal: &Calibration, adapt: &Adaptive) -> Doubts {
        self.factors(cal)
            .into_iter()
            .fold(Doubts::default(), |d, (doubt, factor)| {
                d.with(doubt, factor > NAMED_WIDENING)
            })
            .with(Doubts::UNSEEN_SPECIAL_DAY, self.unlike_history)
            .with(Doubts::UNSEEN_EVENT, self.new_event)
            .with(
                Doubts::RECENT_MISSES,
                adapt.confidence_scale > NAMED_WIDENING,
            )
    }
}

/// A factor widens a band enough to be named among its [`Doubts`] when it multiplies the
/// error's scale by more than this.
const NAMED_WIDENING: f64 = 1.05;

/// Why a point's band is wider, and its confidence lower, than its lead and hour of day alone
/// would make them: each condition of [`Conditions::inflation`] that widened it, and the online
/// correction when recent forecasts hit less often than their confidence said (see
/// [`Adaptive`]); at the scaling gate, also the forecast-miss penalty that lowers confidence
/// until the series is retrained (`forecast_miss`). Published with every point, so that the
/// scaler's log and an analyst can tell a held recommendation's cause: an expected one (a
/// holiday validation never saw or the history did not hold a year before, an event) from one
/// to fix (observations that stopped arriving). Serialized as the list of its names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Doubts(u16);

impl Doubts {
    /// The names, in bit order.
    pub const NAMES: [&'static str; 12] = [
        "unseen_special_day",
        "event",
        "missing_recent_data",
        "short_history",
        "recent_errors",
        "weather",
        "members_disagree",
        "recent_misses",
        "forecast_miss",
        "unlike_last_week",
        "unseen_event",
        "event_in_lags",
    ];
    const UNSEEN_SPECIAL_DAY: usize = 0;
    const EVENT: usize = 1;
    const MISSING_RECENT_DATA: usize = 2;
    const SHORT_HISTORY: usize = 3;
    const RECENT_ERRORS: usize = 4;
    const WEATHER: usize = 5;
    const MEMBERS_DISAGREE: usize = 6;
    const RECENT_MISSES: usize = 7;
    const FORECAST_MISS: usize = 8;
    const UNLIKE_LAST_WEEK: usize = 9;
    const UNSEEN_EVENT: usize = 10;
    const EVENT_IN_LAGS: usize = 11;

    /// As stored: one bit per name (bits of names this version does not know are dropped).
    pub fn bits(self) -> u16 {
        self.0
    }

    pub fn from_bits(bits: u16) -> Self {
        Self(bits & ((1 << Self::NAMES.len()) - 1))
    }

    #[must_use]
    fn with(self, i: usize, on: bool) -> Self {
        Self(self.0 | (u16::from(on) << i))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// These doubts and, when `penalized`, `forecast_miss`: the scaling gate reads a confidence
    /// lowered after the series' demand passed its forecast's bounds (see
    /// [`confidence_factor`](crate::scaling::cycle::confidence_factor)).
    #[must_use]
    pub fn with_forecast_miss(self, penalized: bool) -> Self {
        self.with(Self::FORECAST_MISS, penalized)
    }

    /// The names of the doubts held, in bit order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| n)
    }

    /// The doubt named `name`.
    ///
    /// # Errors
    /// When no doubt has that name, with the names there are.
    pub fn named(name: &str) -> Result<Self, String> {
        Self::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Self(1 << i))
            .ok_or_else(|| {
                format!(
                    "unknown doubt {name:?}: expected one of {}",
                    Self::NAMES.join(", ")
                )
            })
    }
}

impl std::fmt::Display for Doubts {
    /// The names joined by ", "; "none" when empty.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        f.write_str(&self.names().collect::<Vec<_>>().join(", "))
    }
}

impl Serialize for Doubts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

impl<'de> Deserialize<'de> for Doubts {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .try_fold(Self::default(), |acc, n| {
                Self::named(n).map(|one| Self(acc.0 | one.0))
            })
            .map_err(serde::de::Error::custom)
    }
}

/// A target hour's weather, and how far a combination's members disagree on it, as far as the
/// size of its error goes. Rain makes demand erratic, beyond what the models make of the
/// weather: measured on the 45 rolling windows of `scripts/rolling` before this was learnt,
/// confidence was 0.50 on dc_bikeshare's hours of light rain or snow (weather category 3) and
/// 0.26 of them hit, against 0.57 and 0.61 on its clear hours; on uber_nyc's hours with
/// precipitation 0.82 against 0.67, on its dry ones 0.87 against 0.89.
///
/// Each factor's size of error is learnt from the validation errors (see
/// [`Calibration::with_regime_errors`]); a factor a series has no column for is left out.
/// Holidays are not a factor: learnt from two weeks of validation, their size made the
/// calibration error of the shared test windows worse where only it could act (worldcup98 0.047
/// -> 0.071, nyc 0.037 -> 0.057: neither has a weather column), so the rule for an unseen
/// special day stays (see [`Conditions::inflation`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Regime {
    /// Whether any column of an hour's precipitation (see
    /// [`is_hourly_precipitation`]) or snowfall
    /// (`snowfall*`) is above 0; `None` without such a column.
    pub wet: Option<bool>,
    /// The `weather` column's category; `None` without one.
    pub weather: Option<u16>,
    /// How far apart a combination's members' forecasts of the hour are, against the scale of
    /// its error (see [`scale`]); `None` for a single model. Its size of error is learnt by
    /// quarter of the spread. Members that disagree flag a forecast that is a guess: before
    /// this was learnt, over the shared test windows' points by fifths of the spread (lowest
    /// first), mean confidence / hit rate was 0.66 / 0.75 ... 0.28 / 0.09 on dc_bikeshare, 0.82 /
    /// 0.89 ... 0.64 / 0.50 on nyc_taxi, 0.57 / 0.72 ... 0.40 / 0.28 on worldcup98, and alike on
    /// nasa_http and uber_nyc; after, 0.70 / 0.75 ... 0.22 / 0.09, 0.87 / 0.89 ... 0.52 / 0.50,
    /// 0.65 / 0.72 ... 0.31 / 0.28. On the 45 windows of `scripts/rolling` the Brier score fell
    /// from 0.1603 to 0.1559 (from every hour 0.1597 to 0.1550), the calibration error pooled
    /// over them stayed about 0.01 (0.009 -> 0.011), and per window 0.0434 -> 0.0438 (from every
    /// hour 0.0377 -> 0.0354). Shrunk by fewer pseudo-errors (30 or 96) its Brier was the same
    /// and the calibration error per window 0.046.
    pub spread: Option<f64>,
    /// How far the forecast is from the same hour a week before, against the scale of its
    /// error (see [`scale`]); `None` when that hour is not known at the origin. Its size of error
    /// is learnt by quarter, as the spread's. A forecast that departs from last week bets on a
    /// change, and such bets miss more often than a forecast that repeats the week. Before it was
    /// learnt, over the 45 windows of `scripts/rolling` from every hour, by quarter of this
    /// departure (lowest first), confidence minus hit rate was -0.08 / -0.06 / +0.03 / +0.14 on
    /// dc_bikeshare's points of confidence 0.6-0.8, -0.12 / -0.10 / -0.11 / +0.05 on nyc_taxi's,
    /// -0.11 / -0.12 / -0.12 / +0.00 on uber_nyc's (worldcup98 the other way round, -0.10 in the
    /// top quarter). Learnt, the Brier score fell on every set of series but one test window: the
    /// 45 windows 0.1544 -> 0.1530 (from every hour 0.1532 -> 0.1511), the five outside series
    /// of `scripts/holdout` 0.0916 -> 0.0866 (the freeway 0.1887 -> 0.1675), the components of
    /// `scripts/components` 0.1501 -> 0.1477, the shared test windows on nyc_taxi 0.1188 ->
    /// 0.1160, uber_nyc 0.0755 -> 0.0742 and dc_bikeshare 0.1969 -> 0.1907; but worldcup98's
    /// 0.2173 -> 0.2244, whose validation weeks (the tournament's start) taught it the wrong way
    /// round for its test's.
    pub departure: Option<f64>,
}

/// The validation errors a regime's size of error is shrunk with towards 1: three days' worth
/// of recalibration forecasts (four origins a day, 24 leads). Rain comes in spells, so the
/// errors of one rainy day say little on their own. Measured on the 45 windows with an origin
/// a day (calibration error / Brier; before: 0.0436 / 0.1625): 30 errors 0.0465 / 0.1599,
/// 300 0.0436 / 0.1607, 1000 0.0430 / 0.1614.
const REGIME_PSEUDO_ERRORS: f64 = 3.0 * 24.0 * 4.0;

impl Regime {
    /// This regime with the members' `spread` (in demand units) of a forecast whose error has
    /// scale `scale`; a NaN spread is none.
    #[must_use]
    pub fn with_spread(self, spread: f64, scale: f64) -> Self {
        Self {
            spread: (spread.is_finite() && scale > 0.0).then(|| spread / scale),
            ..self
        }
    }

    /// This regime with the forecast `yhat` of an hour whose value a week before is `last_week`
    /// (NaN: not known at the origin), for an error of scale `scale`.
    #[must_use]
    pub fn with_departure(self, yhat: f64, last_week: f64, scale: f64) -> Self {
        Self {
            departure: (last_week.is_finite() && scale > 0.0)
                .then(|| (yhat - last_week).abs() / scale),
            ..self
        }
    }

    /// This regime (target `pos`'s weather) with what forecast `yhat` from origin `p` adds: its
    /// members' `spread` and its departure from the same hour last week, for an error of scale
    /// `scale`. Validation errors and served bands are sized by the same regime through it.
    #[must_use]
    pub fn with_forecast(
        self,
        frame: &Frame,
        p: usize,
        pos: usize,
        yhat: f64,
        spread: f64,
        scale: f64,
    ) -> Self {
        self.with_spread(spread, scale)
            .with_departure(yhat, last_week(frame, p, pos), scale)
    }

    /// The weather of target `pos`.
    pub fn of(frame: &Frame, pos: usize) -> Self {
        let mut r = Self::default();
        for e in &frame.exog {
            let v = e.values[pos];
            if e.categorical && e.name.eq_ignore_ascii_case("weather") {
                r.weather = v.is_finite().then_some(v as u16);
            } else if !e.categorical && falls_per_hour(&e.name) {
                r.wet = Some(r.wet.unwrap_or(false) || v > 0.0);
            }
        }
        r
    }
}

/// How far back a year before is, in days: the same date (365 or 366 days back) or the same
/// weekday (364 or 371 days back, for holidays that keep one, as Thanksgiving does). Days near
/// Easter also look back to the same day of last year's Easter (see [`EASTER_SEASON`]).
pub const A_YEAR_BEFORE: [u64; 4] = [364, 365, 366, 371];

/// How many days from Easter Sunday a holiday may be and still move with it: from Carnival (47
/// days before) to Corpus Christi (60 days after), Peru's Jueves and Viernes Santo among them.
/// Within these days a year before is also the same day counted from last year's Easter (350
/// to 385 days back), so that a moveable holiday the history held is not taken for a new one.
///
/// Measured on the only real series here with such holidays and a year before them, the
/// Portuguese client's electricity over 2012-14 (`scripts/easter`: two windows holding Good
/// Friday and Easter Sunday 2013 and 2014, from every hour), before -> after: those days' hours
/// forecast from before 06:00 (1,596 points) had a mean confidence of 0.60 -> 0.99 against a hit
/// rate of 0.98, Brier 0.1686 -> 0.0191; the windows' calibration error 0.022 -> 0.001 (2013) and
/// 0.022 -> 0.001 (2014). The shared five's forecasts and the 45 windows of `scripts/rolling` are
/// unchanged (their holidays are the United States', none of which moves with Easter).
///
/// It matches a holiday to itself: over 2001-2035 in Peru's calendar and those of ten other
/// countries (`scripts/holidays moveable`, with the Python holidays package), of the 731
/// holidays that only last year's Easter finds held (70 in Peru: Jueves and Viernes Santo
/// every year), one was matched to a holiday of another name (Britain's Spring Bank Holiday of
/// 2003 to the May Day of 2002, a year when the former had moved).
pub const EASTER_SEASON: i64 = 63;

/// The days back that a year before `date` may be: [`A_YEAR_BEFORE`], and within
/// [`EASTER_SEASON`] the same day counted from last year's Easter.
fn years_back(date: NaiveDate) -> impl Iterator<Item = u64> {
    let year = date.year();
    let easter = easter_sunday(year);
    let moved = ((date - easter).num_days().abs() <= EASTER_SEASON)
        .then(|| (easter - easter_sunday(year - 1)).num_days() as u64);
    A_YEAR_BEFORE.into_iter().chain(moved)
}

/// Whether hour `t` of `frame` is of a holiday or bridge day, with demand observed: what a
/// history holds of special days.
fn special_hour(frame: &Frame, t: usize) -> bool {
    let l = &frame.local[t];
    (l.holiday || l.bridge) && frame.y[t].is_finite()
}

/// The local days of `frame` before position `end` that are holidays or bridge days with demand
/// observed, in order.
fn special_days(frame: &Frame, end: usize) -> Vec<NaiveDate> {
    let mut days: Vec<NaiveDate> = (0..end.min(frame.len()))
        .filter(|&t| special_hour(frame, t))
        .map(|t| frame.local[t].date())
        .collect();
    days.dedup();
    days
}

/// The largest event (attendance / 10,000) on during an hour of `frame` before position `end`
/// with demand observed: what a history holds of events.
fn largest_event(frame: &Frame, end: usize) -> f64 {
    let end = end.min(frame.len());
    frame.events.active[..end]
        .iter()
        .zip(&frame.y[..end])
        .filter(|(_, y)| y.is_finite())
        .map(|(a, _)| *a)
        .fold(0.0, f64::max)
}

/// The lags an hour's forecast reads most, in hours: the same hour a day and a week before.
const LAGS: [usize; 2] = [24, 168];

/// Whether hour `t` of `frame` is not an event's but the same hour a day or a week before was
/// (see [`Conditions::event_in_lags`]).
fn event_in_lags(frame: &Frame, t: usize) -> bool {
    !frame.events.on(t)
        && LAGS
            .iter()
            .any(|back| t.checked_sub(*back).is_some_and(|s| frame.events.on(s)))
}

/// Whether hour `t` of `frame` is one that events shape: an event's, or one whose lags held an
/// event (see [`Corrections`]). A position past the frame is not.
pub fn eventful(frame: &Frame, t: usize) -> bool {
    t < frame.len() && (frame.events.on(t) || event_in_lags(frame, t))
}

/// The demand of the hour a week before target `pos`, when it is before origin `p` (NaN
/// otherwise, or when not observed): what [`Regime::with_departure`] compares a forecast with.
fn last_week(frame: &Frame, p: usize, pos: usize) -> f64 {
    pos.checked_sub(168)
        .filter(|t| *t < p)
        .map_or(f64::NAN, |t| frame.y[t])
}

/// Whether a column is an hour's precipitation or snowfall.
fn falls_per_hour(name: &str) -> bool {
    let snowfall = name
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("snowfall"));
    is_hourly_precipitation(name) || snowfall
}

/// Validation errors of one regime factor's level: the sum of their sizes against their lead's
/// usual (after the earlier factors'), and how many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct RegimeErrors {
    pub sum: f64,
    pub n: usize,
}

impl RegimeErrors {
    /// The level's size of error against its lead's usual, shrunk towards 1.
    fn size(&self) -> f64 {
        (self.sum + REGIME_PSEUDO_ERRORS) / (self.n as f64 + REGIME_PSEUDO_ERRORS)
    }

    fn add(&mut self, size: f64) {
        self.sum += size;
        self.n += 1;
    }
}

/// The validation errors of each weather factor's levels (see [`Regime`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RegimeSizes {
    /// Dry hours, then wet ones.
    pub wet: [RegimeErrors; 2],
    /// By `weather` category.
    pub weather: BTreeMap<u16, RegimeErrors>,
    /// The members' spread's bounds between its quarters, learnt from the first errors with
    /// one (empty until then, and in artifacts written before).
    #[serde(default)]
    pub spread_edges: Vec<f64>,
    /// By quarter of the members' spread.
    #[serde(default)]
    pub spread: Vec<RegimeErrors>,
    /// The departure from last week's bounds between its quarters, and the errors by quarter
    /// (see [`Regime::departure`]); empty in artifacts written before.
    #[serde(default)]
    pub departure_edges: Vec<f64>,
    #[serde(default)]
    pub departure: Vec<RegimeErrors>,
}

/// The quarter that `value` is in, once `edges` are learnt. A value at an edge is in the quarter
/// below: where many values are equal (members that all forecast 0 at night), those hours are the
/// lowest quarter, not the next.
fn quarter(edges: &[f64], value: Option<f64>) -> Option<usize> {
    let v = value?;
    (!edges.is_empty()).then(|| edges.partition_point(|e| *e < v))
}

/// The size of error of `value`'s quarter (1 when none is learnt).
fn quarter_size(edges: &[f64], sizes: &[RegimeErrors], value: Option<f64>) -> f64 {
    quarter(edges, value)
        .and_then(|q| sizes.get(q))
        .map_or(1.0, RegimeErrors::size)
}

/// Learns the quarters' `edges` from `values` when not yet learnt and there are enough, and
/// starts their `sizes`.
fn learn_quarters(edges: &mut Vec<f64>, sizes: &mut Vec<RegimeErrors>, values: &mut [f64]) {
    if !edges.is_empty() || values.len() < 4 * MIN_BUCKET_ERRORS {
        return;
    }
    values.sort_by(f64::total_cmp);
    *edges = (1..4).map(|k| values[k * values.len() / 4]).collect();
    *sizes = vec![RegimeErrors::default(); 4];
}

impl RegimeSizes {
    fn wet(&self, regime: &Regime) -> f64 {
        regime.wet.map_or(1.0, |w| self.wet[usize::from(w)].size())
    }

    fn weather(&self, regime: &Regime) -> f64 {
        regime.weather.map_or(1.0, |c| {
            self.weather.get(&c).copied().unwrap_or_default().size()
        })
    }

    fn spread(&self, regime: &Regime) -> f64 {
        quarter_size(&self.spread_edges, &self.spread, regime.spread)
    }

    fn departure(&self, regime: &Regime) -> f64 {
        quarter_size(&self.departure_edges, &self.departure, regime.departure)
    }

    /// The size of error of hours in `regime` against the usual of the same lead: the product
    /// of its factors' learnt sizes (1 for a level never seen).
    fn of(&self, regime: &Regime) -> f64 {
        self.wet(regime) * self.weather(regime) * self.spread(regime) * self.departure(regime)
    }
}

/// A lead bucket with fewer errors than this answers with the nearest shorter bucket's errors
/// (else a longer one's) that has enough; an hour-of-day block with fewer is left out of the band.
const MIN_BUCKET_ERRORS: usize = 30;

/// Sorted normalized validation errors per lead bucket, and per local hour-of-day block of
/// their targets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Stored")]
pub struct Calibration {
    errors: Vec<Vec<f64>>,
    /// The same errors by the target's hour-of-day block, each divided by the mean absolute
    /// error of its lead's bucket: the hour's share of the error, whatever the lead. Artifacts
    /// written before hold errors of every size here; they are not read (see [`Stored`]), so
    /// their bands come from lead buckets alone until recalibration adds new ones.
    #[serde(default)]
    by_hour: Vec<Vec<f64>>,
    /// Whether `by_hour` holds errors relative to their lead's (always, once read).
    #[serde(default)]
    relative: bool,
    /// Per weather factor level (dry or wet, each `weather` category), the validation errors'
    /// sizes; the errors above are divided by their regime's size. Artifacts written before
    /// have none: every regime answers with 1, as before.
    #[serde(default)]
    regimes: RegimeSizes,
    /// Whether validation held holidays or events.
    pub special_seen: bool,
    pub n: usize,
    /// The holidays and bridge days of the training history, with demand observed (see
    /// [`Calibration::held_a_year_before`]); empty in artifacts written before, whose holidays
    /// are then unlike any history the serving loop reads until they are retrained.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    special_days: Vec<NaiveDate>,
    /// The largest event (attendance / 10,000) on during an hour of the training history with
    /// demand observed (see [`Conditions::new_event`]); 0 in artifacts written before, whose
    /// events are then measured against the serving frame's alone until they are retrained.
    #[serde(default, skip_serializing_if = "is_zero")]
    largest_event: f64,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// A calibration as artifacts hold it, in the bucket layout they were written with.
#[derive(Deserialize)]
struct Stored {
    errors: Vec<Vec<f64>>,
    #[serde(default)]
    by_hour: Vec<Vec<f64>>,
    #[serde(default)]
    relative: bool,
    #[serde(default)]
    regimes: RegimeSizes,
    special_seen: bool,
    n: usize,
    #[serde(default)]
    special_days: Vec<NaiveDate>,
    #[serde(default)]
    largest_event: f64,
}

impl From<Stored> for Calibration {
    /// Five buckets are the layout before lead 1 had its own: leads 1-3's errors answer for
    /// lead 1 and for leads 2-3, as they did.
    fn from(s: Stored) -> Self {
        let mut errors = s.errors;
        if errors.len() == BUCKETS.len() - 1 {
            errors.insert(1, errors[0].clone());
        }
        Self {
            errors,
            by_hour: if s.relative { s.by_hour } else { Vec::new() },
            relative: true,
            regimes: s.regimes,
            special_seen: s.special_seen,
            n: s.n,
            special_days: s.special_days,
            largest_event: s.largest_event,
        }
    }
}

/// The mean absolute value of `z` (0 when empty).
fn mean_abs<'a>(z: impl IntoIterator<Item = &'a f64>) -> f64 {
    let (sum, n) = z
        .into_iter()
        .fold((0.0, 0usize), |(s, n), v| (s + v.abs(), n + 1));
    if n == 0 { 0.0 } else { sum / n as f64 }
}

/// A point's interval bounds and confidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Band {
    pub lo80: f64,
    pub hi80: f64,
    pub lo95: f64,
    pub hi95: f64,
    pub confidence: f64,
}

impl Band {
    /// Bounds that hold the forecast and nest (the 95% band outside the 80% one), clipped at 0
    /// when the series cannot go negative.
    #[must_use]
    pub fn ordered(self, yhat: f64, clip: bool) -> Self {
        let c = |v: f64| if clip { v.max(0.0) } else { v };
        Self {
            lo80: c(self.lo80.min(yhat)),
            hi80: c(self.hi80.max(yhat)),
            lo95: c(self.lo95.min(self.lo80).min(yhat)),
            hi95: c(self.hi95.max(self.hi80).max(yhat)),
            confidence: self.confidence,
        }
    }
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // The conformal rank: ceil((n + 1) q), clamped.
    let n = sorted.len();
    let k = (((n + 1) as f64 * q).ceil() as usize).clamp(1, n);
    sorted[k - 1]
}

/// One out-of-sample residual: the lead, the target's local hour, y - yhat, and its scale.
pub type Residual = (usize, u8, f64, f64);

impl Calibration {
    /// From validation errors.
    pub fn from_errors(errors: impl IntoIterator<Item = Residual>, special_seen: bool) -> Self {
        Self::default().with_errors(errors, special_seen)
    }

    /// This calibration with more errors of ordinary hours (see [`Calibration::with_regime_errors`]).
    #[must_use]
    pub fn with_errors(
        &self,
        errors: impl IntoIterator<Item = Residual>,
        special_seen: bool,
    ) -> Self {
        self.with_regime_errors(
            errors.into_iter().map(|r| (r, Regime::default())),
            special_seen,
        )
    }

    /// This calibration with more errors, each of a target in its regime: first each regime
    /// factor's size of error is learnt, as the mean of the errors' sizes against their lead's
    /// usual (rain, the weather's category, the members' spread, then the departure from last
    /// week, each from what the earlier ones leave); then the errors, divided by their
    /// regime's size, join their lead buckets and hour-of-day blocks. A band multiplies its
    /// scale by the regime's size again (locally weighted conformal prediction).
    #[must_use]
    pub fn with_regime_errors(
        &self,
        errors: impl IntoIterator<Item = (Residual, Regime)>,
        special_seen: bool,
    ) -> Self {
        let mut c = self.clone();
        if c.errors.len() != BUCKETS.len() {
            c.errors = vec![Vec::new(); BUCKETS.len()];
        }
        if c.by_hour.len() != HOUR_BLOCKS || !c.relative {
            c.by_hour = vec![Vec::new(); HOUR_BLOCKS];
            c.relative = true;
        }
        let new: Vec<(usize, u8, f64, Regime)> = errors
            .into_iter()
            .filter(|&((_, _, e, s), _)| e.is_finite() && s > 0.0)
            .map(|((lead, hour, e, s), regime)| (lead, hour, e / s, regime))
            .collect();
        // The usual size of each lead's errors, new ones included, to learn regimes against.
        let usual: Vec<f64> = (0..BUCKETS.len())
            .map(|b| {
                let (mut sum, mut n) = (0.0, 0);
                let ours = new.iter().filter(|e| bucket(e.0) == b).map(|e| &e.2);
                for z in c.bucket_errors(b).iter().chain(ours) {
                    sum += z.abs();
                    n += 1;
                }
                if n == 0 { 0.0 } else { sum / f64::from(n) }
            })
            .collect();
        // Rain first, then the category from what rain leaves: where a series has both a
        // precipitation and a weather column, rain is not counted twice.
        let relative = |e: &(usize, u8, f64, Regime)| {
            let u = usual[bucket(e.0)];
            (u > 0.0).then(|| e.2.abs() / u)
        };
        for e in &new {
            if let (Some(w), Some(r)) = (e.3.wet, relative(e)) {
                c.regimes.wet[usize::from(w)].add(r);
            }
        }
        for e in &new {
            if let (Some(cat), Some(r)) = (e.3.weather, relative(e)) {
                let earlier = c.regimes.wet(&e.3);
                c.regimes.weather.entry(cat).or_default().add(r / earlier);
            }
        }
        // Then the members' spread, from what the weather leaves; then the departure from last
        // week, from what both leave.
        let r = &mut c.regimes;
        let mut spreads: Vec<f64> = new.iter().filter_map(|e| e.3.spread).collect();
        learn_quarters(&mut r.spread_edges, &mut r.spread, &mut spreads);
        for e in &new {
            if let (Some(q), Some(size)) = (quarter(&r.spread_edges, e.3.spread), relative(e)) {
                let earlier = r.wet(&e.3) * r.weather(&e.3);
                r.spread[q].add(size / earlier);
            }
        }
        let mut departures: Vec<f64> = new.iter().filter_map(|e| e.3.departure).collect();
        learn_quarters(&mut r.departure_edges, &mut r.departure, &mut departures);
        for e in &new {
            if let (Some(q), Some(size)) = (quarter(&r.departure_edges, e.3.departure), relative(e))
            {
                let earlier = r.wet(&e.3) * r.weather(&e.3) * r.spread(&e.3);
                r.departure[q].add(size / earlier);
            }
        }
        let new: Vec<(usize, u8, f64)> = new
            .into_iter()
            .map(|(lead, hour, z, regime)| (lead, hour, z / c.regimes.of(&regime)))
            .collect();
        for &(lead, _, z) in &new {
            c.errors[bucket(lead)].push(z);
            c.n += 1;
        }
        for v in &mut c.errors {
            v.sort_by(f64::total_cmp);
        }
        let size: Vec<f64> = (0..BUCKETS.len())
            .map(|b| mean_abs(c.bucket_errors(b)))
            .collect();
        for (lead, hour, z) in new {
            let m = size[bucket(lead)];
            if m > 0.0 {
                c.by_hour[hour_block(hour)].push(z / m);
            }
        }
        for v in &mut c.by_hour {
            v.sort_by(f64::total_cmp);
        }
        c.special_seen |= special_seen;
        c
    }

    /// This calibration, knowing the holidays and bridge days and the largest event of `frame`
    /// before position `end` (a training history), as well as those it knew.
    #[must_use]
    pub fn with_history(mut self, frame: &Frame, end: usize) -> Self {
        self.special_days.extend(special_days(frame, end));
        self.special_days.sort_unstable();
        self.special_days.dedup();
        self.largest_event = self.largest_event.max(largest_event(frame, end));
        self
    }

    /// Whether the history held a holiday or bridge day a year before target `pos`'s day (see
    /// [`A_YEAR_BEFORE`] and [`EASTER_SEASON`]) with demand observed: in `frame` (before `pos`;
    /// a year back is before any origin of a horizon under a year) or in the training history
    /// this calibration knows (the serving loop reads only the last weeks).
    pub fn held_a_year_before(&self, frame: &Frame, pos: usize) -> bool {
        let date = frame.local[pos].date();
        years_back(date).any(|days| {
            let back = date - chrono::Days::new(days);
            // In the frame: the hour `days` back, give or take a daylight-saving shift.
            let in_frame = pos.checked_sub(24 * days as usize).is_some_and(|t| {
                (t.saturating_sub(1)..=t + 1)
                    .any(|t| frame.local[t].date() == back && special_hour(frame, t))
            });
            in_frame || self.special_days.binary_search(&back).is_ok()
        })
    }

    /// The size of error of hours in `regime` against the usual of the same lead (see
    /// [`Regime`]).
    pub fn regime_size(&self, regime: &Regime) -> f64 {
        self.regimes.of(regime)
    }

    /// The errors of hour `hour`'s block, when it has enough to answer.
    fn hour_errors(&self, hour: u8) -> Option<&[f64]> {
        self.by_hour
            .get(hour_block(hour))
            .filter(|z| z.len() >= MIN_BUCKET_ERRORS)
            .map(Vec::as_slice)
    }

    /// The errors that answer for lead bucket `b`: its own, or when it has fewer than
    /// `MIN_BUCKET_ERRORS`, the nearest shorter bucket's with enough (else a longer one's), else
    /// its own few. (Artifacts written before this rule was applied here hold such copies
    /// already.)
    fn bucket_errors(&self, b: usize) -> &[f64] {
        let enough = |d: &usize| {
            self.errors
                .get(*d)
                .is_some_and(|z| z.len() >= MIN_BUCKET_ERRORS)
        };
        let own = self.errors.get(b).map_or(&[][..], Vec::as_slice);
        if own.len() >= MIN_BUCKET_ERRORS {
            return own;
        }
        (0..b)
            .rev()
            .chain(b + 1..self.errors.len())
            .find(enough)
            .map_or(own, |d| &self.errors[d])
    }

    /// How large the errors of the day before an origin were against the usual errors of the
    /// same leads: `day` holds the model's forecasts of that day from one origin, as (lead,
    /// actual, forecast, origin level). 1 when there is too little to say.
    pub fn recent_errors(&self, day: impl IntoIterator<Item = (usize, f64, f64, f64)>) -> f64 {
        let usual: Vec<f64> = (0..BUCKETS.len())
            .map(|b| {
                let z = self.bucket_errors(b);
                z.iter().map(|v| v.abs()).sum::<f64>() / z.len().max(1) as f64
            })
            .collect();
        let (mut seen, mut expected, mut n) = (0.0, 0.0, 0);
        for (lead, y, f, level) in day {
            let u = usual[bucket(lead)];
            if y.is_finite() && f.is_finite() && u > 0.0 {
                seen += ((y - f) / scale(f, level)).abs();
                expected += u;
                n += 1;
            }
        }
        if n >= 12 && expected > 0.0 {
            seen / expected
        } else {
            1.0
        }
    }

    /// The forecasts `fc` from origin `p` (with origin level `level` and conditions `origin`),
    /// clipped at 0 when `clip`, each with its band and what widened it: as the backtest and
    /// serving publish them, each point under its target's conditions and its members' spread,
    /// with its group's online corrections (see [`Corrections`]).
    #[allow(clippy::too_many_arguments)]
    pub fn bands(
        &self,
        frame: &Frame,
        fc: &Forecast,
        p: usize,
        level: f64,
        tolerance: f64,
        origin: &Conditions,
        corrections: &Corrections,
        clip: bool,
    ) -> Vec<(f64, Band, Doubts)> {
        fc.values
            .iter()
            .zip(&fc.spread)
            .enumerate()
            .map(|(i, (&f, &spread))| {
                let pos = p + i;
                let f = if clip { f.max(0.0) } else { f };
                let mut cond = origin.at(frame, p, pos, self);
                cond.regime = cond
                    .regime
                    .with_forecast(frame, p, pos, f, spread, scale(f, level));
                let hour = frame.local[pos].hour;
                let adapt = corrections.at(frame, pos);
                let b = self.band_adapted(f, level, i + 1, hour, tolerance, &cond, adapt);
                (f, b.ordered(f, clip), cond.doubts(self, adapt))
            })
            .collect()
    }

    /// Bounds and confidence of a forecast `yhat` with origin level `level`, for a target `lead`
    /// hours ahead at local hour `hour`.
    pub fn band(
        &self,
        yhat: f64,
        level: f64,
        lead: usize,
        hour: u8,
        tolerance: f64,
        cond: &Conditions,
    ) -> Band {
        self.band_adapted(
            yhat,
            level,
            lead,
            hour,
            tolerance,
            cond,
            &Adaptive::default(),
        )
    }

    /// As [`Calibration::band`], with the online corrections of [`Adaptive`]: the mean of the
    /// bands of the lead's bucket and of the hour's block (see the module's doc), or the lead's
    /// alone when the hour's block has too few errors.
    #[allow(clippy::too_many_arguments)]
    pub fn band_adapted(
        &self,
        yhat: f64,
        level: f64,
        lead: usize,
        hour: u8,
        tolerance: f64,
        cond: &Conditions,
        adapt: &Adaptive,
    ) -> Band {
        let z = self.bucket_errors(bucket(lead));
        if z.is_empty() {
            return Band {
                lo80: yhat * 0.5,
                hi80: yhat * 1.5,
                lo95: 0.0,
                hi95: yhat * 2.0,
                confidence: 0.0,
            };
        }
        let size = mean_abs(z);
        let s = (scale(yhat, level) * cond.inflation(self)).max(cond.least_scale(yhat, size));
        let hit = hit_range(yhat, tolerance, cond.outcomes);
        let by_lead = conformal(z, yhat, s, hit, adapt);
        // The hour's block holds errors relative to their lead's: at this lead's size.
        let Some(by_hour) = self
            .hour_errors(hour)
            .filter(|_| size > 0.0)
            .map(|h| conformal(h, yhat, s * size, hit, adapt))
        else {
            return by_lead;
        };
        let mean = |a: f64, b: f64| (a + b) / 2.0;
        Band {
            lo80: mean(by_lead.lo80, by_hour.lo80),
            hi80: mean(by_lead.hi80, by_hour.hi80),
            lo95: mean(by_lead.lo95, by_hour.lo95),
            hi95: mean(by_lead.hi95, by_hour.hi95),
            confidence: mean(by_lead.confidence, by_hour.confidence),
        }
    }
}

/// The outcomes within `tolerance` of a forecast `yhat`, as offsets from it: ±tolerance·|yhat|;
/// or, for counts, the whole numbers within that, each the rounding of a continuous outcome
/// (k - 0.5 to k + 0.5). `None` when no whole number is within: 1.5 ± 20% holds none, and
/// confidence is then ~0. A forecast of 0 (a negative one clipped) is hit by a count of 0
/// alone: that count's range only where the last weeks had zeros, else the continuous
/// answer, ~0.
///
/// Measured with `scripts/components` (calibration error / Brier, before -> after): on
/// dc_bikeshare's casual rentals (mean 36 an hour, 9% zero hours) 0.072 / 0.1936 -> 0.045 /
/// 0.1797, where the continuous answer gave forecasts of 0 a confidence of 0.05 against a hit
/// rate of 0.31; its registered rentals 0.060 / 0.2086 -> 0.052 / 0.2075; Staten Island's
/// pickups (mean 1.6) Brier 0.1814 -> 0.1716, calibration error 0.008 -> 0.028 (its confidence
/// was flat, now it discriminates); the Bronx's 0.046 / 0.2065 -> 0.048 / 0.2069. On the 45
/// windows of `scripts/rolling`, whose counts are larger: 0.0441 -> 0.0434, Brier 0.1603 either
/// way; at hourly origins 0.0379 -> 0.0377, 0.1597. Giving the count 0 every outcome below 0.5
/// (demand is never negative) was worse where zeros are rare: dc_bikeshare's clipped
/// forecasts of 0 at night got 0.12 where 0.014 hit (no hour of its history is 0).
fn hit_range(yhat: f64, tolerance: f64, outcomes: Outcomes) -> Option<(f64, f64)> {
    let r = tolerance * yhat.abs();
    match outcomes {
        Outcomes::Counts { zeros } if yhat != 0.0 || zeros => {}
        _ => return Some((-r, r)),
    }
    // The tolerance's edges are inclusive; the margin keeps a whole number at the edge in.
    let lo = (yhat - r - 1e-9).ceil().max(0.0);
    let hi = (yhat + r + 1e-9).floor();
    (lo <= hi).then_some((lo - 0.5 - yhat, hi + 0.5 - yhat))
}

/// The band that the sorted normalized errors `z` give a forecast `yhat` of scale `s`, with
/// confidence the share of errors within `hit` (see [`hit_range`]).
fn conformal(z: &[f64], yhat: f64, s: f64, hit: Option<(f64, f64)>, adapt: &Adaptive) -> Band {
    let q = |p: f64| yhat + s * quantile(z, p);
    let (a80, a95) = (adapt.alpha80.clamp(0.0, 1.0), adapt.alpha95.clamp(0.0, 1.0));
    let inside = hit.map_or(0, |(lo, hi)| {
        let k = s * adapt.confidence_scale;
        z.partition_point(|v| *v <= hi / k) - z.partition_point(|v| *v < lo / k)
    });
    // Add-one smoothing keeps confidence off 0 and 1 on finite evidence.
    let confidence = (inside as f64 + 0.5) / (z.len() as f64 + 1.0);
    Band {
        lo80: q(a80 / 2.0),
        hi80: q(1.0 - a80 / 2.0),
        lo95: q(a95 / 2.0),
        hi95: q(1.0 - a95 / 2.0),
        confidence,
    }
}

/// Online corrections from outcomes as they become known (adaptive conformal inference, Gibbs
/// and Candès 2021): each interval's miscoverage level moves by `gamma (target - missed)`, so
/// that over time the share of misses converges to the target even when errors drift; and the
/// scale confidence is computed at widens while hits fall short of the confidence given.
///
/// The state is a fold over published forecasts and their outcomes, so the backtest and the
/// serving loop compute it the same way, with no state of their own: a replay of the target
/// hours of the last [`RECALIBRATION_DAYS`](super::trainer::RECALIBRATION_DAYS) days, from the
/// default, one for the hours that events shape and one for the others (see [`Corrections`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Adaptive {
    pub alpha80: f64,
    pub alpha95: f64,
    pub confidence_scale: f64,
}

impl Default for Adaptive {
    fn default() -> Self {
        Self {
            alpha80: 0.20,
            alpha95: 0.05,
            confidence_scale: 1.0,
        }
    }
}

/// Step sizes: per target hour for the levels, and for the log of the confidence scale.
const GAMMA: f64 = 0.01;
const ETA: f64 = 0.02;

/// How the forecasts published for one target hour fared against its outcome: the shares whose
/// 80% and 95% bands missed it, and the mean of confidence minus hit (1 when within tolerance).
/// The serving loop publishes every hour, so an hour has up to a horizon's worth of forecasts;
/// averaging them makes each hour count once however often it was forecast (the backtest
/// forecasts each hour once).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    pub miss80: f64,
    pub miss95: f64,
    pub confidence_gap: f64,
}

impl Outcome {
    /// The outcome `y` against the bands published for it and whether each hit; `None` without
    /// any, or without an outcome.
    pub fn of(y: f64, published: &[(Band, bool)]) -> Option<Self> {
        if published.is_empty() || !y.is_finite() {
            return None;
        }
        let n = published.len() as f64;
        let share = |missed: &dyn Fn(&Band) -> bool| {
            published.iter().filter(|(b, _)| missed(b)).count() as f64 / n
        };
        Some(Self {
            miss80: share(&|b| y < b.lo80 || y > b.hi80),
            miss95: share(&|b| y < b.lo95 || y > b.hi95),
            confidence_gap: published
                .iter()
                .map(|(b, hit)| b.confidence - f64::from(u8::from(*hit)))
                .sum::<f64>()
                / n,
        })
    }
}

impl Adaptive {
    /// Learns from one target hour's outcome.
    pub fn learn(&mut self, o: &Outcome) {
        self.alpha80 += GAMMA * (0.20 - o.miss80);
        self.alpha95 += GAMMA * (0.05 - o.miss95);
        self.confidence_scale =
            (self.confidence_scale * (ETA * o.confidence_gap).exp()).clamp(0.25, 4.0);
    }

    /// The corrections learnt from `hours` (in hour order), starting from the default.
    pub fn replay(hours: impl IntoIterator<Item = Outcome>) -> Self {
        let mut a = Self::default();
        for o in hours {
            a.learn(&o);
        }
        a
    }
}

/// The online corrections of a series' forecasts (see [`Adaptive`]), learnt apart for the hours
/// that events shape (an event's, or one whose lags held an event: see [`eventful`]) and for the
/// others: group-conditional ("Mondrian") adaptive conformal inference. Their errors drift apart.
/// A run of matches that the forecasts miss says nothing of the quiet hours between them, and
/// one correction for both moved their confidence the same way when they needed opposite ones.
/// On worldcup98's rolling window from every hour (`scripts/events`, the whole file), event
/// hours had a mean confidence of 0.373 against a hit rate of 0.296, the hours whose lags held
/// an event 0.287 against 0.075, and the others 0.479 against 0.561.
///
/// Measured with `scripts/events` (calibration error / Brier, one correction -> two): the
/// whole file from every hour 0.0648 / 0.2276 -> 0.0515 / 0.2195 (the three groups' confidence
/// 0.341, 0.247 and 0.526); without its last 14 days 0.0245 / 0.2110 -> 0.0294 / 0.2051; the
/// first matches 0.0213 / 0.2220 -> 0.0204 / 0.2221; the shared test window from midnight
/// 0.0730 / 0.2187 -> 0.0807 / 0.2089. Three groups (events' hours, their lags' and the
/// others) gave 0.0523 / 0.2207, 0.0293 / 0.2068, 0.0195 / 0.2221 and 0.0789 / 0.2094; event
/// hours alone apart, 0.0600 / 0.2274, 0.0247 / 0.2097, 0.0206 / 0.2220 and 0.0869 / 0.2168.
/// A series without events has one group: its corrections are as before.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Corrections {
    pub ordinary: Adaptive,
    pub eventful: Adaptive,
}

impl Corrections {
    /// The same corrections for every hour.
    #[cfg(test)]
    pub fn uniform(adapt: Adaptive) -> Self {
        Self {
            ordinary: adapt,
            eventful: adapt,
        }
    }

    /// The corrections learnt from the outcomes of `hours` (position in `frame`, outcome), in
    /// hour order: each group's from its own hours, starting from the default.
    pub fn replay(frame: &Frame, hours: impl IntoIterator<Item = (usize, Outcome)>) -> Self {
        let mut c = Self::default();
        for (t, o) in hours {
            let group = if eventful(frame, t) {
                &mut c.eventful
            } else {
                &mut c.ordinary
            };
            group.learn(&o);
        }
        c
    }

    /// The corrections of target hour `t` of `frame`.
    pub fn at(&self, frame: &Frame, t: usize) -> &Adaptive {
        if eventful(frame, t) {
            &self.eventful
        } else {
            &self.ordinary
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::features::testing::evening_event;

    /// The local hour of a target `lead` hours from a midnight origin.
    fn midnight(lead: usize) -> u8 {
        ((lead - 1) % 24) as u8
    }

    impl Calibration {
        /// From (lead, y - yhat, scale) triples of forecasts made at midnight.
        fn from_lead_errors(
            errors: impl IntoIterator<Item = (usize, f64, f64)>,
            special_seen: bool,
        ) -> Self {
            Self::default().with_lead_errors(errors, special_seen)
        }

        fn with_lead_errors(
            &self,
            errors: impl IntoIterator<Item = (usize, f64, f64)>,
            special_seen: bool,
        ) -> Self {
            self.with_errors(
                errors.into_iter().map(|(l, e, s)| (l, midnight(l), e, s)),
                special_seen,
            )
        }
    }

    #[test]
    fn a_history_of_whole_numbers_none_negative_is_counted_with_its_recent_zeros() {
        use crate::forecast::features::testing::frame;
        let at = |y: Vec<f64>| Conditions::at_origin(&frame(y), 1000).outcomes;
        let counts = |i: usize| (i % 7) as f64 + 1.0;
        assert_eq!(
            at((0..1000).map(counts).collect()),
            Outcomes::Counts { zeros: false }
        );
        // A zero in the last four weeks, or only before them.
        let zero_at = |z: usize| {
            let mut y: Vec<f64> = (0..1000).map(counts).collect();
            y[z] = 0.0;
            at(y)
        };
        assert_eq!(zero_at(990), Outcomes::Counts { zeros: true });
        assert_eq!(zero_at(100), Outcomes::Counts { zeros: false });
        // Missing hours do not matter; a fraction or a negative value anywhere before does.
        let mut y: Vec<f64> = (0..1000).map(counts).collect();
        y[500] = f64::NAN;
        assert_eq!(at(y.clone()), Outcomes::Counts { zeros: false });
        for odd in [2.5, -1.0] {
            y[10] = odd;
            assert_eq!(at(y.clone()), Outcomes::Continuous);
        }
    }

    #[test]
    fn confidence_of_small_counts_is_the_chance_of_the_whole_numbers_within_tolerance() {
        // Simulated counts with known noise: Poisson demand of mean 1 to 8, forecast exactly.
        let mut s = 11u64;
        let mut poisson = |mean: f64| {
            let (limit, mut k, mut p) = ((-mean).exp(), 0.0, 1.0);
            loop {
                p *= crate::bench::uniform(&mut s);
                if p <= limit {
                    return k;
                }
                k += 1.0;
            }
        };
        let level = 5.0;
        let mean = |i: usize| 1.0 + 7.0 * ((i * 37) % 1000) as f64 / 1000.0;
        let cal = Calibration::from_lead_errors(
            (0..4000).map(|i| (1, poisson(mean(i)) - mean(i), scale(mean(i), level))),
            true,
        );
        let tol = 0.2;
        let band = |yhat: f64, outcomes| {
            let cond = Conditions {
                history_hours: 10_000,
                outcomes,
                ..Conditions::default()
            };
            cal.band(yhat, level, 1, 0, tol, &cond).confidence
        };
        let counts = Outcomes::Counts { zeros: true };
        let (mut as_counts, mut as_continuous) = (Vec::new(), Vec::new());
        for i in 0..4000 {
            let (yhat, y) = (mean(i + 500), poisson(mean(i + 500)));
            let hit = (y - yhat).abs() <= tol * yhat;
            as_counts.push((band(yhat, counts), hit));
            as_continuous.push((band(yhat, Outcomes::Continuous), hit));
        }
        let ece = |points: &[(f64, bool)]| {
            crate::forecast::metrics::reliability_of(points.iter().copied()).1
        };
        let (ece_counts, ece_continuous) = (ece(&as_counts), ece(&as_continuous));
        assert!(
            ece_counts < 0.02 && ece_continuous > 1.5 * ece_counts,
            "counts {ece_counts}, continuous {ece_continuous}"
        );
        // 1.5 ± 20% holds no count; 5 ± 20% holds 4, 5 and 6.
        assert!(band(1.5, counts) < 0.01 && band(1.5, Outcomes::Continuous) > 0.05);
        let p456: f64 = [4.0, 5.0, 6.0]
            .iter()
            .map(|&k: &f64| {
                (-5.0f64).exp() * 5.0f64.powf(k) / (1..=k as u32).product::<u32>() as f64
            })
            .sum();
        assert!(
            (band(5.0, counts) - p456).abs() < 0.05,
            "{} vs {p456}",
            band(5.0, counts)
        );
        // A forecast of 0 is hit by a count of 0 alone: its chance where zeros were seen lately,
        // ~0 where none were.
        assert!(band(0.0, counts) > 0.1);
        assert!(band(0.0, Outcomes::Counts { zeros: false }) < 0.01);
    }

    #[test]
    fn a_bucket_short_of_errors_answers_with_its_nearest_neighbour_with_enough() {
        let cond = Conditions {
            history_hours: 10_000,
            ..Conditions::default()
        };
        // Errors of 1 at leads 1-3 (few), 5 at leads 7-12, 9 at leads 13-24; none past 24.
        let day = |d: usize| {
            (1..=24).map(move |lead| {
                let e = match lead {
                    1..=3 if d < 2 => 1.0,
                    1..=6 => return (lead, f64::NAN, 1.0),
                    7..=12 => 5.0,
                    _ => 9.0,
                };
                (lead, if lead % 2 == 0 { e } else { -e }, 1.0)
            })
        };
        let half = |c: &Calibration, lead: usize| {
            let b = c.band(0.0, 1.0, lead, midnight(lead), 0.2, &cond);
            (b.hi80 - b.lo80) / 2.0 / scale(0.0, 1.0)
        };
        let c = Calibration::from_lead_errors((0..6).flat_map(day), false);
        assert!((half(&c, 2) - 5.0).abs() < 1e-9, "leads 1-3 borrow 7-12's");
        assert!((half(&c, 5) - 5.0).abs() < 1e-9, "leads 4-6 borrow 7-12's");
        assert!(
            (half(&c, 30) - 9.0).abs() < 1e-9,
            "leads past 24 borrow 13-24's"
        );
        // Recalibrated with larger errors at 13-24, leads past 24 follow them.
        let r = c.with_lead_errors(
            (0..40).map(|i| (13 + i % 12, if i % 2 == 0 { 20.0 } else { -20.0 }, 1.0)),
            false,
        );
        assert!((half(&r, 30) - 20.0).abs() < 1e-9, "{}", half(&r, 30));
        // Enough errors of its own: a bucket answers for itself.
        let own = c.with_lead_errors(
            (0..30).map(|i| (2, if i % 2 == 0 { 1.0 } else { -1.0 }, 1.0)),
            false,
        );
        assert!((half(&own, 2) - 1.0).abs() < 1e-9);
    }

    #[test]
    fn intervals_from_gaussian_errors_cover_their_nominal_share() {
        // Simulated series with known noise: errors N(0, 10) at level 100, forecast 100.
        let mut s = 7u64;
        let mut normal = || crate::bench::normal(&mut s);
        let sc = scale(100.0, 100.0);
        let cal = Calibration::from_lead_errors(
            (0..2000).map(|i| (1 + i % 24, 10.0 * normal(), sc)),
            true,
        );
        let cond = Conditions {
            history_hours: 10_000,
            ..Conditions::default()
        };
        let (mut in80, mut in95, mut hits, mut conf) = (0, 0, 0, 0.0);
        let n = 4000;
        for i in 0..n {
            let y = 100.0 + 10.0 * normal();
            let b = cal.band(100.0, 100.0, 1 + i % 24, midnight(1 + i % 24), 0.1, &cond);
            in80 += usize::from(b.lo80 <= y && y <= b.hi80);
            in95 += usize::from(b.lo95 <= y && y <= b.hi95);
            hits += usize::from((y - 100.0).abs() <= 10.0);
            conf += b.confidence;
        }
        let (c80, c95) = (in80 as f64 / n as f64, in95 as f64 / n as f64);
        assert!((0.77..=0.83).contains(&c80), "coverage80 {c80}");
        assert!((0.93..=0.97).contains(&c95), "coverage95 {c95}");
        // P(|N(0,10)| <= 10) = 0.683: confidence says so, and so do the hits.
        let (mean_conf, hit_rate) = (conf / n as f64, hits as f64 / n as f64);
        assert!(
            (mean_conf - 0.683).abs() < 0.03 && (hit_rate - mean_conf).abs() < 0.03,
            "{mean_conf} vs {hit_rate}"
        );
    }

    /// `n` simulated errors at level 100, N(0, sd.0) in dry hours and N(0, sd.1) in those `wet`
    /// says, each in its regime.
    fn simulated(
        seed: u64,
        n: usize,
        wet: impl Fn(usize) -> bool,
        sd: (f64, f64),
        regime: impl Fn(bool) -> Regime,
    ) -> Vec<(Residual, Regime)> {
        let mut s = seed;
        (0..n)
            .map(|i| {
                let lead = 1 + i % 24;
                let sd = if wet(i) { sd.1 } else { sd.0 };
                let e = sd * crate::bench::normal(&mut s);
                (
                    (lead, midnight(lead), e, scale(100.0, 100.0)),
                    regime(wet(i)),
                )
            })
            .collect()
    }

    fn rain(wet: bool) -> Regime {
        Regime {
            wet: Some(wet),
            weather: None,
            spread: None,
            departure: None,
        }
    }

    #[test]
    fn wet_hours_get_bands_and_confidence_of_their_own_errors() {
        // Errors N(0, 6) in dry hours and N(0, 24) in wet ones (one hour in five).
        let errors = simulated(11, 12_000, |i| i % 5 == 0, (6.0, 24.0), rain);
        let mut s = 12u64;
        let mut normal = || crate::bench::normal(&mut s);
        let cal = Calibration::default().with_regime_errors(errors.iter().copied(), true);
        // The same errors without their regimes: one distribution for both kinds of hour.
        let pooled = Calibration::from_errors(errors.iter().map(|e| e.0), true);
        let cond = |wet: bool| Conditions {
            history_hours: 10_000,
            regime: rain(wet),
            ..Conditions::default()
        };
        // Within ±10 of the forecast: P(|N(0, 6)| <= 10) = 0.904, P(|N(0, 24)| <= 10) = 0.323.
        for (wet, sd, p_hit) in [(false, 6.0, 0.904), (true, 24.0, 0.323)] {
            let (mut in80, mut in95, mut conf, mut conf_pooled) = (0, 0, 0.0, 0.0);
            let n = 3000;
            for i in 0..n {
                let lead = 1 + i % 24;
                let y = 100.0 + sd * normal();
                let b = cal.band(100.0, 100.0, lead, midnight(lead), 0.1, &cond(wet));
                in80 += usize::from(b.lo80 <= y && y <= b.hi80);
                in95 += usize::from(b.lo95 <= y && y <= b.hi95);
                conf += b.confidence;
                conf_pooled += pooled
                    .band(100.0, 100.0, lead, midnight(lead), 0.1, &cond(wet))
                    .confidence;
            }
            let (c80, c95) = (in80 as f64 / n as f64, in95 as f64 / n as f64);
            let (conf, conf_pooled) = (conf / n as f64, conf_pooled / n as f64);
            // 2,400 wet errors: the wet size (2.5 times the usual) is shrunk by 288 pseudo-errors
            // to 2.34, so wet bands are a little narrow.
            assert!((0.74..=0.86).contains(&c80), "wet {wet}: coverage80 {c80}");
            assert!((0.91..=0.98).contains(&c95), "wet {wet}: coverage95 {c95}");
            assert!(
                (conf - p_hit).abs() < 0.07,
                "wet {wet}: confidence {conf} against {p_hit}"
            );
            // Without regimes, wet hours are far over-confident and dry ones under-confident.
            assert!(
                (conf_pooled - p_hit).abs() > 0.1,
                "wet {wet}: pooled confidence {conf_pooled} against {p_hit}"
            );
        }
    }

    #[test]
    fn a_regime_seen_in_few_errors_is_shrunk_towards_the_usual_and_old_artifacts_read_as_usual() {
        // Twenty wet errors, ten times the dry ones' size.
        let errors = simulated(5, 2000, |i| i % 100 == 0, (5.0, 50.0), rain);
        let cal = Calibration::default().with_regime_errors(errors, true);
        let wet = cal.regime_size(&rain(true));
        assert!(wet > 1.5 && wet < 5.0, "wet size {wet}");
        assert!((cal.regime_size(&rain(false)) - 1.0).abs() < 0.1);
        // A weather category never seen, and a series without weather, answer with 1.
        let storm = Regime {
            wet: None,
            weather: Some(3),
            spread: None,
            departure: None,
        };
        assert_eq!(cal.regime_size(&storm), 1.0);
        assert_eq!(cal.regime_size(&Regime::default()), 1.0);
        // An artifact written before regimes were learnt reads with none.
        let json = serde_json::to_value(&cal).unwrap();
        let mut old = json.clone();
        old.as_object_mut().unwrap().remove("regimes");
        let read: Calibration = serde_json::from_value(old).unwrap();
        assert_eq!(read.regime_size(&rain(true)), 1.0);
        let again: Calibration = serde_json::from_value(json).unwrap();
        assert_eq!(again.regime_size(&rain(true)), wet);
    }

    #[test]
    fn rain_and_a_weather_category_that_go_together_are_not_counted_twice() {
        // Category 2 is exactly the wet hours (one day in four): rain explains it, the category
        // adds nothing.
        let errors = simulated(
            3,
            4000,
            |i| (i / 24) % 4 == 0,
            (5.0, 20.0),
            |wet| Regime {
                wet: Some(wet),
                weather: Some(if wet { 2 } else { 0 }),
                spread: None,
                departure: None,
            },
        );
        let cal = Calibration::default().with_regime_errors(errors, true);
        let both = Regime {
            wet: Some(true),
            weather: Some(2),
            spread: None,
            departure: None,
        };
        let storm_only = Regime {
            wet: None,
            weather: Some(2),
            spread: None,
            departure: None,
        };
        let (wet, storm) = (cal.regime_size(&rain(true)), cal.regime_size(&storm_only));
        // Wet errors are 20 / (0.25 * 20 + 0.75 * 5) = 2.29 times the usual: rain's size, shrunk,
        // is about 2.0, and the category takes only what the shrinking left; learnt each on its
        // own, both would be 2.0 and a wet hour's errors taken as 4 times the usual.
        assert!(wet > 1.8, "rain's size {wet}");
        assert!(storm < 1.2, "the category's, after rain's {storm}");
        let size = cal.regime_size(&both);
        assert!((size / 2.29 - 1.0).abs() < 0.1, "a wet hour's size {size}");
    }

    #[test]
    fn forecasts_far_from_last_week_get_the_size_of_error_of_their_departure() {
        // Errors N(0, 5 + departure / 4) for forecasts 0 to 40 away from last week's hour.
        let mut s = 33u64;
        let mut draw = |n: usize| -> Vec<(Residual, Regime)> {
            (0..n)
                .map(|i| {
                    let lead = 1 + i % 24;
                    let away = 40.0 * crate::bench::uniform(&mut s);
                    let e = (5.0 + away / 4.0) * crate::bench::normal(&mut s);
                    let sc = scale(100.0, 100.0);
                    let regime = Regime::default().with_departure(100.0, 100.0 + away, sc);
                    ((lead, midnight(lead), e, sc), regime)
                })
                .collect()
        };
        let cal = Calibration::default().with_regime_errors(draw(4000), true);
        let size = |away: f64| {
            cal.regime_size(&Regime::default().with_departure(100.0, 100.0 - away, 100.0))
        };
        rises_by_quarter(size);
        // Last week's hour unknown at the origin: sized as usual.
        let unknown = Regime::default().with_departure(100.0, f64::NAN, 100.0);
        assert_eq!(unknown.departure, None);
        assert_eq!(cal.regime_size(&unknown), 1.0);
        // Recalibration adds errors to the quarters learnt first.
        let more = cal.with_regime_errors(draw(500), true);
        assert_eq!(more.regimes.departure_edges, cal.regimes.departure_edges);
        assert_eq!(
            more.regimes.departure.iter().map(|q| q.n).sum::<usize>(),
            4500
        );
        // Served alike (`Calibration::bands`): last week's hour at 100, a forecast of 100 is
        // trusted more than one of 130, which names why; from lead 169 on, last week's hour is
        // after the origin and nothing is said.
        let mut y = vec![100.0; 600];
        y[300..].fill(f64::NAN);
        let frame = crate::forecast::features::testing::frame(y);
        let points = |f: f64| served(&cal, &frame, vec![f; 200], vec![f64::NAN; 200]);
        let (same, away) = (points(100.0), points(130.0));
        for k in 0..168 {
            assert!(same[k].0 > away[k].0, "lead {}", k + 1);
            assert!(same[k].1.is_empty(), "lead {}: {}", k + 1, same[k].1);
            assert_eq!(away[k].1.to_string(), "unlike_last_week");
        }
        assert!(away[168..].iter().all(|p| p.1.is_empty()));
        // An artifact written before reads with none.
        let read = without_regimes(&cal, &["departure_edges", "departure"]);
        assert_eq!(
            read.regime_size(&Regime::default().with_departure(100.0, 63.0, 100.0)),
            1.0
        );
    }

    /// Asserts that a regime's learnt `size` rises through the quarters of values uniform in
    /// 0..40 (errors N(0, 5 + value / 4)): under 0.8 in the lowest, over 1.2 in the highest.
    fn rises_by_quarter(size: impl Fn(f64) -> f64) {
        let sizes = [3.0, 15.0, 25.0, 37.0].map(&size);
        assert!(sizes[0] < 0.8 && sizes[3] > 1.2, "{sizes:?}");
        assert!(sizes.windows(2).all(|w| w[0] < w[1]), "{sizes:?}");
    }

    /// The confidence and doubts of forecasts `values` with members' spread `spread` from
    /// origin 300 at level 100 (tolerance 10%, a long history), as backtests and serving publish
    /// them ([`Calibration::bands`]).
    fn served(
        cal: &Calibration,
        frame: &Frame,
        values: Vec<f64>,
        spread: Vec<f64>,
    ) -> Vec<(f64, Doubts)> {
        let cond = Conditions {
            history_hours: 10_000,
            ..Conditions::default()
        };
        let fc = Forecast { values, spread };
        cal.bands(
            frame,
            &fc,
            300,
            100.0,
            0.1,
            &cond,
            &Corrections::default(),
            true,
        )
        .into_iter()
        .map(|(_, b, d)| (b.confidence, d))
        .collect()
    }

    /// `cal` as an artifact written before its `regimes` had the fields `keys` reads it.
    fn without_regimes(cal: &Calibration, keys: &[&str]) -> Calibration {
        let mut old = serde_json::to_value(cal).unwrap();
        let regimes = old["regimes"].as_object_mut().unwrap();
        for k in keys {
            regimes.remove(*k);
        }
        serde_json::from_value(old).unwrap()
    }

    /// `n` errors of midnight forecasts at forecast and level 100, N(0, 5 + spread / 4) for a
    /// members' spread uniform in 0..40 (the more the members disagree, the larger the error),
    /// each with its regime and spread; `s` is the random state.
    fn spread_errors(s: &mut u64, n: usize) -> Vec<(Residual, Regime, f64)> {
        (0..n)
            .map(|i| {
                let lead = 1 + i % 24;
                let spread = 40.0 * crate::bench::uniform(s);
                let e = (5.0 + spread / 4.0) * crate::bench::normal(s);
                let sc = scale(100.0, 100.0);
                let regime = Regime::default().with_spread(spread, sc);
                ((lead, midnight(lead), e, sc), regime, spread)
            })
            .collect()
    }

    #[test]
    fn members_that_disagree_get_the_size_of_error_of_their_spread() {
        let mut s = 21u64;
        let mut draw = |n: usize| spread_errors(&mut s, n);
        let errors = draw(4000);
        let cal =
            Calibration::default().with_regime_errors(errors.iter().map(|e| (e.0, e.1)), true);
        let alone = Calibration::from_errors(errors.iter().map(|e| e.0), true);
        // Its quarters' sizes rise with the spread; a single model's forecast is sized as usual.
        let size = |spread: f64| cal.regime_size(&Regime::default().with_spread(spread, 100.0));
        rises_by_quarter(size);
        assert_eq!(cal.regime_size(&Regime::default()), 1.0);
        // Out of sample, within ±10%: by quarter of the spread, confidence is near the hit rate
        // with the spread (-0.04 to +0.03: the quarters' sizes are shrunk, and each quarter mixes
        // sizes) and far from it without (-0.20 to +0.16); Brier lower with it.
        let (mut with, mut without) = (Vec::new(), Vec::new());
        for ((lead, hour, e, _), regime, spread) in draw(8000) {
            let cond = Conditions {
                history_hours: 10_000,
                regime,
                ..Conditions::default()
            };
            let hit = e.abs() <= 10.0;
            let quarter = (spread / 10.0) as usize;
            let b = |c: &Calibration| c.band(100.0, 100.0, lead, hour, 0.1, &cond).confidence;
            with.push((quarter, b(&cal), hit));
            without.push((quarter, b(&alone), hit));
        }
        let gaps = |p: &[(usize, f64, bool)]| -> Vec<f64> {
            (0..4)
                .map(|q| {
                    let (n, c, h) = p.iter().filter(|x| x.0 == q).fold((0.0, 0.0, 0.0), |a, x| {
                        (a.0 + 1.0, a.1 + x.1, a.2 + f64::from(u8::from(x.2)))
                    });
                    (c - h) / n
                })
                .collect()
        };
        let (g_with, g_without) = (gaps(&with), gaps(&without));
        let pairs = |p: &[(usize, f64, bool)]| p.iter().map(|x| (x.1, x.2)).collect::<Vec<_>>();
        use crate::forecast::metrics::{brier_of, reliability_of};
        let ece = |p: &[(usize, f64, bool)]| reliability_of(pairs(p).into_iter()).1;
        let brier = |p: &[(usize, f64, bool)]| {
            let (bins, _) = reliability_of(pairs(p).into_iter());
            brier_of(pairs(p).into_iter(), &bins).score
        };
        let worst = |g: &[f64]| g.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(
            worst(&g_with) < 0.06 && worst(&g_without) > 0.12,
            "confidence - hit rate by quarter: {g_with:?} with, {g_without:?} without"
        );
        assert!(ece(&with) < 0.04, "calibration error {}", ece(&with));
        assert!(
            brier(&with) < 0.95 * brier(&without),
            "Brier {} with, {} without",
            brier(&with),
            brier(&without)
        );
        // Recalibration adds errors to the quarters learnt first; it does not move them.
        let more = cal.with_regime_errors(draw(500).into_iter().map(|e| (e.0, e.1)), true);
        assert_eq!(more.regimes.spread_edges, cal.regimes.spread_edges);
        assert_eq!(more.regimes.spread.iter().map(|q| q.n).sum::<usize>(), 4500);
        // Backtested and served alike (`Calibration::bands`): the same forecasts with members
        // far apart are trusted less than a single model's, and those with members close more.
        let frame = crate::forecast::features::testing::frame(vec![100.0; 400]);
        let confidence = |spread: f64| served(&cal, &frame, vec![100.0; 24], vec![spread; 24]);
        let (close, single, apart) = (confidence(3.0), confidence(f64::NAN), confidence(37.0));
        for k in 0..24 {
            assert!(
                close[k].0 > single[k].0 && single[k].0 > apart[k].0,
                "lead {}",
                k + 1
            );
            // Each point says why: members far apart widened it, nothing else did.
            assert_eq!(apart[k].1.to_string(), "members_disagree");
            assert!(close[k].1.is_empty() && single[k].1.is_empty());
        }
        // An artifact written before the spread was learnt reads with none.
        let read = without_regimes(&cal, &["spread_edges", "spread"]);
        assert_eq!(
            read.regime_size(&Regime::default().with_spread(37.0, 100.0)),
            1.0
        );
    }

    #[test]
    fn adaptive_levels_widen_after_misses_and_narrow_after_hits() {
        let mut a = Adaptive::default();
        let band = Band {
            lo80: 90.0,
            hi80: 110.0,
            lo95: 80.0,
            hi95: 120.0,
            confidence: 0.9,
        };
        for _ in 0..20 {
            // Outside both intervals, and a miss for confidence.
            a.learn(&Outcome::of(130.0, &[(band, false)]).unwrap());
        }
        assert!(
            a.alpha80 < 0.2 && a.alpha95 < 0.05,
            "misses lower the miscoverage levels: {a:?}"
        );
        assert!(a.confidence_scale > 1.0);
        let widened = a;
        for _ in 0..200 {
            a.learn(&Outcome::of(100.0, &[(band, true)]).unwrap());
        }
        assert!(a.alpha80 > widened.alpha80 && a.confidence_scale < widened.confidence_scale);
        // With the level lowered, the same errors give a wider interval.
        let sc = scale(100.0, 100.0);
        let cal = Calibration::from_lead_errors(
            (0..500).map(|i| (1, f64::from(i % 50) - 25.0, sc)),
            true,
        );
        let cond = Conditions {
            history_hours: 10_000,
            ..Conditions::default()
        };
        let plain = cal.band(100.0, 100.0, 1, midnight(1), 0.1, &cond);
        let wide = cal.band_adapted(100.0, 100.0, 1, midnight(1), 0.1, &cond, &widened);
        assert!(wide.hi80 - wide.lo80 > plain.hi80 - plain.lo80);
        assert!(wide.confidence < plain.confidence);
    }

    /// Validation errors from origins at 00 and 12 h, 20 days of them, of size `size(lead, hour)`
    /// and alternating sign.
    fn from_two_origins(size: impl Fn(usize, u8) -> f64) -> Calibration {
        Calibration::from_errors(
            (0..40).flat_map(|d| {
                let origin = 12 * (d % 2);
                let size = &size;
                (1..=24).map(move |lead| {
                    let hour = ((origin + lead - 1) % 24) as u8;
                    let e = size(lead, hour);
                    (lead, hour, if (d / 2) % 2 == 0 { e } else { -e }, 1.0)
                })
            }),
            false,
        )
    }

    #[test]
    fn a_band_answers_for_the_hour_of_day_as_well_as_for_the_lead() {
        let cond = Conditions {
            history_hours: 10_000,
            ..Conditions::default()
        };
        let half = |b: Band| (b.hi80 - b.lo80) / 2.0 / scale(100.0, 100.0);
        let band = |c: &Calibration, lead, hour| c.band(100.0, 100.0, lead, hour, 0.2, &cond);
        // Errors of 1 at night (hours 0-11) and 10 in the afternoon and evening, at every lead.
        let cal = from_two_origins(|_, hour| if hour < 12 { 1.0 } else { 10.0 });
        // Each lead's bucket holds both; the hour's block tells them apart, at the lead's size.
        let (night, evening) = (half(band(&cal, 2, 2)), half(band(&cal, 2, 17)));
        assert!(night < 6.0 && evening > 9.0, "{night} {evening}");
        // Confidence is the mixture's: 10 is outside tolerance here, 1 always inside.
        let tol = 5.0 * scale(100.0, 100.0) / 100.0;
        let c = |lead, hour| cal.band(100.0, 100.0, lead, hour, tol, &cond).confidence;
        assert!(c(2, 2) > c(2, 17) + 0.4, "{} {}", c(2, 2), c(2, 17));

        // Errors of 1 at lead 1 and 10 at every later lead, whatever the hour: the hour's block
        // holds them relative to their lead's, so it does not pull lead 1 towards the others.
        let cal = from_two_origins(|lead, _| if lead == 1 { 1.0 } else { 10.0 });
        for hour in [0, 5, 12, 17] {
            assert!(
                (half(band(&cal, 1, hour)) - 1.0).abs() < 1e-9,
                "hour {hour}"
            );
            assert!(
                (half(band(&cal, 5, hour)) - 10.0).abs() < 1e-9,
                "hour {hour}"
            );
        }

        // An artifact without hour-of-day errors answers by lead alone, and so does one written
        // before they were relative to their lead's.
        let mut json: serde_json::Value = serde_json::to_value(&cal).unwrap();
        let only_lead = |json: &serde_json::Value| {
            let c: Calibration = serde_json::from_value(json.clone()).unwrap();
            half(band(&c, 2, 17))
        };
        json["by_hour"] = serde_json::json!([]);
        assert!((only_lead(&json) - 10.0).abs() < 1e-9);
        let mut hourly = from_two_origins(|_, hour| if hour < 12 { 1.0 } else { 10.0 });
        hourly.relative = false;
        let raw = serde_json::to_value(&hourly).unwrap();
        hourly.by_hour.clear();
        let lead_only = half(band(&hourly, 2, 17));
        assert!((only_lead(&raw) - lead_only).abs() < 1e-9);
    }

    #[test]
    fn an_artifact_with_leads_1_to_3_in_one_bucket_answers_for_lead_1_with_them() {
        let cond = Conditions {
            history_hours: 10_000,
            ..Conditions::default()
        };
        // Five buckets, as written before lead 1 had its own: errors of 2 at leads 1-3, 7 at
        // 4-6, none later.
        let z = |e: f64| -> Vec<f64> { (0..40).map(|i| if i < 20 { -e } else { e }).collect() };
        let old = serde_json::json!({
            "errors": [z(2.0), z(7.0), [], [], []],
            "special_seen": false,
            "n": 80,
        });
        let c: Calibration = serde_json::from_value(old).unwrap();
        let half = |lead: usize| {
            let b = c.band(100.0, 100.0, lead, 0, 0.2, &cond);
            (b.hi80 - b.lo80) / 2.0 / scale(100.0, 100.0)
        };
        assert!((half(1) - 2.0).abs() < 1e-9 && (half(3) - 2.0).abs() < 1e-9);
        assert!((half(5) - 7.0).abs() < 1e-9, "{}", half(5));
        // Recalibrated, it keeps them where they belong.
        let r = c.with_errors([(5, 0, 7.0, 1.0)], false);
        assert_eq!(r.errors.len(), BUCKETS.len());
        assert_eq!(r.errors[2].len(), 41);
    }

    /// A band of 90-110 (80%) and 80-120 (95%) with `confidence`.
    fn band(confidence: f64) -> Band {
        Band {
            lo80: 90.0,
            hi80: 110.0,
            lo95: 80.0,
            hi95: 120.0,
            confidence,
        }
    }

    #[test]
    fn an_hour_forecast_many_times_counts_once_with_its_misses_averaged() {
        // 24 forecasts of an hour that came in at 115: each outside 80%, inside 95%.
        let many = Outcome::of(115.0, &vec![(band(0.9), false); 24]).unwrap();
        let once = Outcome::of(115.0, &[(band(0.9), false)]).unwrap();
        assert_eq!((many.miss80, many.miss95), (once.miss80, once.miss95));
        assert!((many.confidence_gap - once.confidence_gap).abs() < 1e-12);
        let a = Adaptive::replay([many]);
        assert!((a.alpha80 - (0.2 - GAMMA * 0.8)).abs() < 1e-12);
        assert!((a.alpha95 - (0.05 + GAMMA * 0.05)).abs() < 1e-12);
        // Half of them hit and were inside: the steps are the averages.
        let mixed: Vec<(Band, bool)> = (0..24)
            .map(|i| {
                if i % 2 == 0 {
                    (band(0.9), false)
                } else {
                    (
                        Band {
                            hi80: 130.0,
                            ..band(0.5)
                        },
                        true,
                    )
                }
            })
            .collect();
        let half = Adaptive::replay(Outcome::of(115.0, &mixed));
        assert!((half.alpha80 - (0.2 + GAMMA * (0.2 - 0.5))).abs() < 1e-12);
        let gap = (0.9 + (0.5 - 1.0)) / 2.0;
        assert!((half.confidence_scale - (ETA * gap).exp()).abs() < 1e-12);
        // No forecast or no outcome: nothing to learn.
        assert_eq!(Outcome::of(f64::NAN, &mixed), None);
        assert_eq!(Outcome::of(100.0, &[]), None);
    }

    #[test]
    fn a_day_of_larger_errors_than_usual_widens_the_next_bands_and_a_calm_one_does_not_narrow_them()
    {
        // Usual errors: |e| = 10 at level 100 and forecast 100, at every lead.
        let sc = scale(100.0, 100.0);
        let cal = Calibration::from_lead_errors(
            (0..960).map(|i| (1 + i % 24, if i % 2 == 0 { 10.0 } else { -10.0 }, sc)),
            true,
        );
        let day = |e: f64| (1..=24).map(move |lead| (lead, 100.0 + e, 100.0, 100.0));
        let stormy = cal.recent_errors(day(40.0));
        assert!((stormy - 4.0).abs() < 1e-9, "{stormy}");
        assert!((cal.recent_errors(day(5.0)) - 0.5).abs() < 1e-9);
        // Too few known hours: nothing to say.
        assert_eq!(cal.recent_errors(day(40.0).take(6)), 1.0);
        let cond = |recent_errors: f64| Conditions {
            history_hours: 10_000,
            recent_errors,
            ..Conditions::default()
        };
        let width = |c: Conditions| {
            let b = cal.band(100.0, 100.0, 3, midnight(3), 0.1, &c);
            (b.hi95 - b.lo95, b.confidence)
        };
        let (usual, conf_usual) = width(cond(1.0));
        let (wide, conf_wide) = width(cond(stormy));
        assert!(
            (wide / usual - 2.0).abs() < 1e-9,
            "sqrt(4) wider: {wide} vs {usual}"
        );
        assert!(conf_wide < conf_usual);
        assert_eq!(width(cond(0.5)), (usual, conf_usual));
    }

    /// Hourly demand of 100 in Lima from 2025-01-01 00:00 local for `days` days (from `skip`
    /// days in), with holidays on `dates`.
    fn lima_days(days: usize, skip: usize, dates: &[&str]) -> Frame {
        use crate::domain::{Calendar, CalendarName, Holiday, Hour, TimeZone};
        let holidays = dates.iter().map(|d| Holiday {
            date: d.parse().unwrap(),
            name: "h".into(),
        });
        let calendar = Calendar::new(TimeZone::LIMA, CalendarName::None, holidays);
        // 2025-01-01 05:00 UTC is local midnight (Lima keeps UTC-5 all year).
        let start = Hour::from_unix(1_735_707_600 + 3600 * 24 * skip as i64).unwrap();
        Frame::from_parts(
            "t",
            start,
            vec![100.0; 24 * days],
            &calendar,
            Vec::new(),
            &[],
        )
    }

    /// The position of local `date` at noon in a frame from `lima_days(_, skip, _)`.
    fn noon(frame: &Frame, date: &str) -> usize {
        let d: NaiveDate = date.parse().unwrap();
        (0..frame.len())
            .find(|&t| frame.local[t].date() == d && frame.local[t].hour == 12)
            .unwrap()
    }

    #[test]
    fn a_holiday_unlike_the_history_gets_a_band_of_a_share_of_the_day() {
        // 2026-01-06 was a holiday a year before (2025-01-06, 365 days back), and so was
        // 2026-11-26 (2025-11-27, 364 days back: a Thanksgiving that keeps its weekday);
        // 2026-01-20 was not (2025-01-20 was an ordinary day, and 2025-01-06 is neither 364 nor
        // 371 days before it).
        let holidays = [
            "2025-01-06",
            "2025-11-27",
            "2026-01-06",
            "2026-01-20",
            "2026-11-26",
        ];
        let frame = lima_days(700, 0, &holidays);
        // Errors of 2% of the forecast, validation with holidays: the unseen rule is not in play.
        let sc = scale(100.0, 100.0);
        let cal = Calibration::from_lead_errors(
            (0..960).map(|i| (1 + i % 24, 2.0 - 4.0 * (i % 2) as f64, sc)),
            true,
        );
        let usual = Conditions {
            history_hours: 10_000,
            ..Conditions::default()
        };
        // Noon of `date`, forecast from `from` hours before it.
        let from = |date: &str, before: usize| {
            let pos = noon(&frame, date);
            let cond = usual.at(&frame, pos - before, pos, &cal);
            let band = cal.band(100.0, 100.0, before + 1, 12, 0.2, &cond);
            (cond, band, cond.doubts(&cal, &Adaptive::default()))
        };
        // From the day's midnight.
        let at = |date: &str| from(date, 12);
        for seen in ["2026-01-06", "2026-11-26"] {
            let (cond, band, doubts) = at(seen);
            assert!(cond.special_day && !cond.unlike_history, "{seen}");
            assert!(
                band.confidence > 0.99 && doubts.is_empty(),
                "{seen}: {band:?}"
            );
            assert!((band.hi80 - 102.0).abs() < 1e-6, "{seen}: {band:?}");
        }
        let (cond, band, doubts) = at("2026-01-20");
        assert!(cond.special_day && cond.unlike_history);
        // Errors of ±2 become ±23: the band's mean absolute error is NEW_SPECIAL_DAY_ERROR of
        // the forecast, and none is within ±20%.
        assert!((band.hi80 - 123.0).abs() < 1e-6, "{band:?}");
        assert!((band.lo95 - 77.0).abs() < 1e-6, "{band:?}");
        assert!(band.confidence < 0.01, "{band:?}");
        assert_eq!(doubts.to_string(), "unseen_special_day");
        // From 05:00 the morning has not shown yet; from 06:00 it has, and the band is the
        // usual one.
        assert!((from("2026-01-20", 7).1.hi80 - 123.0).abs() < 1e-6);
        let (cond, band, doubts) = from("2026-01-20", 6);
        assert!(cond.special_day && !cond.unlike_history);
        assert!(
            (band.hi80 - 102.0).abs() < 1e-6 && doubts.is_empty(),
            "{band:?}"
        );
        // An ordinary day is not a special one, whatever a year before held.
        let (cond, band, _) = at("2026-01-07");
        assert!(!cond.special_day && !cond.unlike_history);
        assert!((band.hi80 - 102.0).abs() < 1e-6);
        // A holiday a year before with no demand observed is not history.
        let mut gap = frame.clone();
        for t in 0..gap.len() {
            if gap.local[t].date() == "2025-01-06".parse::<NaiveDate>().unwrap() {
                gap.y[t] = f64::NAN;
            }
        }
        let pos = noon(&gap, "2026-01-06");
        assert!(usual.at(&gap, pos - 12, pos, &cal).unlike_history);
    }

    #[test]
    fn a_moveable_holiday_held_a_year_before_is_not_unlike_the_history() {
        use crate::domain::{Calendar, CalendarName, Hour, TimeZone};
        // Peru's calendar from 2025-01-01: Jueves and Viernes Santo were 17 and 18 April 2025
        // and are 2 and 3 April 2026, 350 days later (Easter 20 April 2025, 5 April 2026).
        let peru = Calendar::new(TimeZone::LIMA, CalendarName::Pe, []);
        let start = Hour::from_unix(1_735_707_600).unwrap();
        let frame = Frame::from_parts("t", start, vec![100.0; 24 * 700], &peru, Vec::new(), &[]);
        let cal = Calibration::default();
        let usual = Conditions {
            history_hours: 10_000,
            ..Conditions::default()
        };
        let unlike = |frame: &Frame, date: &str| {
            let pos = noon(frame, date);
            let cond = usual.at(frame, pos - 12, pos, &cal);
            assert!(cond.special_day, "{date}");
            cond.unlike_history
        };
        for date in ["2026-04-02", "2026-04-03"] {
            assert!(!unlike(&frame, date), "{date}");
        }
        // Fixed-date holidays keep their rule; Fiestas Patrias is far from Easter.
        assert!(!unlike(&frame, "2026-07-28"));
        // Without demand on last year's Easter days, this year's are new to the history.
        let mut gap = frame.clone();
        let last_year = ["2025-04-17", "2025-04-18"].map(|d| d.parse::<NaiveDate>().unwrap());
        for t in 0..gap.len() {
            if last_year.contains(&gap.local[t].date()) {
                gap.y[t] = f64::NAN;
            }
        }
        for date in ["2026-04-02", "2026-04-03"] {
            assert!(unlike(&gap, date), "{date}");
        }
        // The training history's recorded days answer where the serving frame is short (from
        // 2026-02-01).
        let short_start = Hour::from_unix(1_735_707_600 + 3600 * 24 * 396).unwrap();
        let short = Frame::from_parts(
            "t",
            short_start,
            vec![100.0; 24 * 90],
            &peru,
            Vec::new(),
            &[],
        );
        let pos = noon(&short, "2026-04-02");
        assert!(!cal.held_a_year_before(&short, pos));
        let known = cal.clone().with_history(&frame, noon(&frame, "2025-12-01"));
        assert!(known.held_a_year_before(&short, pos));
    }

    #[test]
    fn an_event_larger_than_any_the_history_held_gets_a_band_of_a_share_of_the_forecast() {
        use crate::domain::{Calendar, CalendarName, Hour, TimeZone};
        let calendar = Calendar::new(TimeZone::LIMA, CalendarName::None, []);
        let start = Hour::from_unix(1_735_707_600).unwrap();
        // Events of 4 hours at 20:00 local on days 10 and 30, of `first` and `second` people.
        let frame = |first: u32, second: u32, y: Vec<f64>| {
            let events = [
                evening_event(start, "a", 10, first),
                evening_event(start, "b", 30, second),
            ];
            Frame::from_parts("t", start, y, &calendar, Vec::new(), &events)
        };
        let observed = vec![100.0; 24 * 40];
        // Errors of 2% of the forecast, validation with events: the factor alone is in play.
        let sc = scale(100.0, 100.0);
        let cal = Calibration::from_lead_errors(
            (0..960).map(|i| (1 + i % 24, 2.0 - 4.0 * (i % 2) as f64, sc)),
            true,
        );
        // The second event's second hour, forecast from noon of its day.
        let target = 24 * 30 + 21;
        let origin = 24 * 30 + 12;
        let at = |f: &Frame, cal: &Calibration| {
            let cond = Conditions::at_origin(f, origin).at(f, origin, target, cal);
            let band = cal.band(100.0, 100.0, target - origin + 1, 21, 0.2, &cond);
            (
                cond,
                band,
                cond.doubts(cal, &Adaptive::default()).to_string(),
            )
        };
        // 80,000 after 60,000: like the history (1.33 times); after 40,000: unlike it (2 times).
        let (like, like_band, like_doubts) = at(&frame(60_000, 80_000, observed.clone()), &cal);
        assert!(like.event && !like.new_event, "{like:?}");
        assert_eq!(like_doubts, "event");
        assert!(like_band.confidence > 0.99, "{like_band:?}");
        let (new, band, doubts) = at(&frame(40_000, 80_000, observed.clone()), &cal);
        assert!(new.new_event, "{new:?}");
        assert_eq!(doubts, "event, unseen_event");
        // Errors of ±2 become ±23: the band's mean absolute error is NEW_EVENT_ERROR of 100.
        assert!((band.hi80 - 123.0).abs() < 1e-6, "{band:?}");
        assert!(band.confidence < 0.7, "{band:?}");
        // Three hours after its end it is still the event's; four after, an ordinary hour.
        let f = frame(40_000, 80_000, observed.clone());
        let cond = |pos: usize| Conditions::at_origin(&f, origin).at(&f, origin, pos, &cal);
        assert!(cond(24 * 31 + 3).new_event);
        assert!(!cond(24 * 31 + 4).event && !cond(24 * 31 + 4).new_event);
        // An event whose hours were not observed is not in the history.
        let mut gap = observed.clone();
        gap[24 * 10 + 20..24 * 10 + 24].fill(f64::NAN);
        assert!(at(&frame(60_000, 80_000, gap), &cal).0.new_event);
        // Nor is one after the origin: from before the first event, it is unlike the history.
        let f = frame(60_000, 80_000, observed.clone());
        let first = 24 * 10 + 21;
        let c = Conditions::at_origin(&f, first - 9).at(&f, first - 9, first, &cal);
        assert!(c.new_event, "{c:?}");
        // Once its first hour is observed, its size is known.
        let c = Conditions::at_origin(&f, first).at(&f, first, first, &cal);
        assert!(c.event && !c.new_event, "{c:?}");
        // The training history's largest event answers where the serving frame holds none; the
        // artifact keeps it, and one written before reads as none.
        let serving = frame(0, 80_000, observed.clone());
        assert!(at(&serving, &cal).0.new_event);
        let trained = cal
            .clone()
            .with_history(&frame(60_000, 0, observed), 24 * 20);
        assert!(!at(&serving, &trained).0.new_event);
        let json = serde_json::to_string(&trained).unwrap();
        assert!(json.contains(r#""largest_event":6.0"#), "{json}");
        let stored: Calibration = serde_json::from_str(&json).unwrap();
        assert!(!at(&serving, &stored).0.new_event);
        let before: Calibration =
            serde_json::from_str(&json.replace(r#","largest_event":6.0"#, "")).unwrap();
        assert!(at(&serving, &before).0.new_event);
    }

    #[test]
    fn an_hour_whose_lags_held_an_event_it_does_not_is_trusted_as_an_event_hour() {
        use crate::domain::{Calendar, CalendarName, Hour, TimeZone};
        let calendar = Calendar::new(TimeZone::LIMA, CalendarName::None, []);
        let start = Hour::from_unix(1_735_707_600).unwrap();
        // Two events of 50,000 people, from 20:00 to midnight local, on days 30 and 38.
        let events = [
            evening_event(start, "a", 30, 50_000),
            evening_event(start, "b", 38, 50_000),
        ];
        let f = Frame::from_parts(
            "t",
            start,
            vec![100.0; 24 * 40],
            &calendar,
            Vec::new(),
            &events,
        );
        // Errors of ±2 at every lead, validation with events.
        let sc = scale(100.0, 100.0);
        let cal = Calibration::from_lead_errors(
            (0..960).map(|i| (1 + i % 24, 2.0 - 4.0 * (i % 2) as f64, sc)),
            true,
        );
        // Hour `hour` of day `day`, forecast from noon of that day (or of the day before, for
        // hours before noon).
        let at = |day: usize, hour: usize| {
            let pos = 24 * day + hour;
            let origin = if hour > 12 {
                24 * day + 12
            } else {
                24 * day - 12
            };
            let cond = Conditions::at_origin(&f, origin).at(&f, origin, pos, &cal);
            let band = cal.band(100.0, 100.0, pos - origin, hour as u8, 0.2, &cond);
            (
                cond,
                band,
                cond.doubts(&cal, &Adaptive::default()).to_string(),
            )
        };
        // A day after the first event's hour, and a week after it: its lags held the event.
        let (day_after, band, doubts) = at(31, 21);
        assert!(day_after.event_in_lags && !day_after.event, "{day_after:?}");
        assert_eq!(doubts, "event_in_lags");
        let (week_after, week_band, _) = at(37, 21);
        assert!(week_after.event_in_lags, "{week_after:?}");
        assert!(
            (band.hi80 - week_band.hi80).abs() < 1e-9,
            "{band:?} {week_band:?}"
        );
        assert!(!at(36, 21).0.event_in_lags, "six days after");
        // Its errors are taken as an event hour's: the same band as the second event's hour.
        let (on, event_band, event_doubts) = at(38, 21);
        assert!(on.event && !on.event_in_lags && !on.new_event, "{on:?}");
        assert_eq!(event_doubts, "event");
        assert!(
            (band.hi80 - event_band.hi80).abs() < 1e-9,
            "{band:?} {event_band:?}"
        );
        let (plain, plain_band, plain_doubts) = at(32, 21);
        assert!(
            !plain.event_in_lags && plain_doubts == "none",
            "{plain:?} {plain_doubts}"
        );
        assert!(
            (band.hi80 - 100.0) > 1.25 * (plain_band.hi80 - 100.0),
            "{band:?} {plain_band:?}"
        );
        // The crowd's three hours after the end count in the lags; the fourth does not, nor
        // the hour before the start.
        assert!(at(32, 3).0.event_in_lags);
        assert!(!at(32, 4).0.event_in_lags);
        assert!(!at(31, 19).0.event_in_lags);
    }

    #[test]
    fn the_hours_events_shape_and_the_others_are_corrected_apart() {
        use crate::domain::{Calendar, CalendarName, Hour, TimeZone};
        let calendar = Calendar::new(TimeZone::LIMA, CalendarName::None, []);
        let start = Hour::from_unix(1_735_707_600).unwrap();
        let frame = |events: &[crate::domain::SpecialEvent]| {
            Frame::from_parts(
                "t",
                start,
                vec![100.0; 24 * 40],
                &calendar,
                Vec::new(),
                events,
            )
        };
        let f = frame(&[evening_event(start, "a", 30, 50_000)]);
        // Days 30-37: the event's hours and those a day or a week after it were missed with a
        // confidence of 0.9; the others hit more often than their confidence of 0.5 said.
        let outcome = |t: usize| {
            if eventful(&f, t) {
                Outcome::of(150.0, &[(band(0.9), false)])
            } else {
                Outcome::of(100.0, &[(band(0.5), true)])
            }
        };
        let hours: Vec<(usize, Outcome)> = (24 * 30..24 * 38)
            .filter_map(|t| Some((t, outcome(t)?)))
            .collect();
        let eventful_hours = hours.iter().filter(|(t, _)| eventful(&f, *t)).count();
        // 20:00 to 03:59 from the event's day and from the next, and 20:00 to midnight a week
        // after (where the hours end).
        assert_eq!(eventful_hours, 8 + 8 + 4, "{eventful_hours}");
        let c = Corrections::replay(&f, hours.iter().copied());
        assert!(
            c.eventful.confidence_scale > 1.0 && c.eventful.alpha80 < 0.2,
            "{c:?}"
        );
        assert!(
            c.ordinary.confidence_scale < 1.0 && c.ordinary.alpha80 > 0.2,
            "{c:?}"
        );
        // One correction for every hour would sit between the two.
        let one = Adaptive::replay(hours.iter().map(|(_, o)| *o));
        assert!(
            c.ordinary.confidence_scale < one.confidence_scale
                && one.confidence_scale < c.eventful.confidence_scale,
            "{c:?} {one:?}"
        );
        // Each target hour reads its group's: an hour a week after the event the eventful one;
        // an ordinary hour, and a position past the frame, the ordinary one.
        assert_eq!(c.at(&f, 24 * 37 + 21), &c.eventful, "a week after");
        assert_eq!(c.at(&f, 24 * 39 + 12), &c.ordinary);
        assert_eq!(c.at(&f, 24 * 99), &c.ordinary);
        // Served bands: an hour a week after the event has a lower confidence with its group's
        // correction than with the ordinary hours'; an ordinary hour's is the same either way.
        let sc = scale(100.0, 100.0);
        let cal = Calibration::from_lead_errors(
            (0..960).map(|i| (1 + i % 24, 2.0 * ((i % 11) as f64 - 5.0), sc)),
            true,
        );
        let cond = Conditions {
            history_hours: 10_000,
            ..Conditions::default()
        };
        let confidence = |origin: usize, corrections: &Corrections| {
            let fc = Forecast {
                values: vec![100.0; 24],
                spread: vec![f64::NAN; 24],
            };
            cal.bands(&f, &fc, origin, 100.0, 0.05, &cond, corrections, true)[21]
                .1
                .confidence
        };
        let ordinary = Corrections::uniform(c.ordinary);
        let (apart, together) = (confidence(24 * 37, &c), confidence(24 * 37, &ordinary));
        assert!(apart < together - 0.2, "{apart} {together}");
        assert_eq!(confidence(24 * 38, &c), confidence(24 * 38, &ordinary));
        // Without events, every hour is ordinary: one correction, as before groups.
        let plain = frame(&[]);
        let alone = Corrections::replay(&plain, hours.iter().copied());
        assert_eq!(alone.ordinary, one);
        assert!((0..plain.len()).all(|t| alone.at(&plain, t) == &one));
    }

    #[test]
    fn a_listed_event_is_new_to_the_history_when_larger_than_every_held_one_before_it() {
        let day = |d: i64| DateTime::<Utc>::from_timestamp(1_767_225_600 + 86_400 * d, 0).unwrap();
        let events = [
            (20_000, day(0), true),
            // Not held (no demand observed): it does not count for the later ones.
            (60_000, day(1), false),
            (30_000, day(2), true),
            (45_000, day(3), true),
            (80_000, day(4), false),
            (70_000, day(5), true),
        ];
        // The first has no history; 60,000 is 3 times 20,000; 30,000 is 1.5 times (not more);
        // 45,000 is 1.5 times 30,000; 80,000 is 1.78 times 45,000; 70,000 is 1.56 times it.
        assert_eq!(
            new_to_history(&events),
            [true, true, false, false, true, true]
        );
    }

    #[test]
    fn the_holidays_of_the_training_history_are_known_where_the_serving_frame_is_short() {
        let holidays = ["2025-03-02", "2026-03-02"];
        let long = lima_days(480, 0, &holidays);
        let end = noon(&long, "2025-12-01");
        // The serving loop reads the last weeks: from 2026-02-01.
        let short = lima_days(40, 396, &holidays);
        let pos = noon(&short, "2026-03-02");
        let known = Calibration::default().with_history(&long, end);
        assert!(known.held_a_year_before(&short, pos));
        assert!(!Calibration::default().held_a_year_before(&short, pos));
        // Days after the training's end are not its history.
        let early = Calibration::default().with_history(&long, noon(&long, "2025-03-01"));
        assert!(!early.held_a_year_before(&short, pos));
        // The artifact keeps them; one written before has none.
        let json = serde_json::to_string(&known).unwrap();
        assert!(json.contains(r#""special_days":["2025-03-02"]"#), "{json}");
        let stored: Calibration = serde_json::from_str(&json).unwrap();
        assert!(stored.held_a_year_before(&short, pos));
        let before = json.replace(r#","special_days":["2025-03-02"]"#, "");
        let before: Calibration = serde_json::from_str(&before).unwrap();
        assert!(!before.held_a_year_before(&short, pos));
    }

    #[test]
    fn a_model_that_missed_the_last_day_is_trusted_less_at_the_next_origin() {
        use crate::domain::{Calendar, CalendarName, Hour, TimeZone};
        let cal_days = Calendar::new(TimeZone::LIMA, CalendarName::None, []);
        let daily =
            |i: usize| 100.0 + 40.0 * ((i % 24) as f64 / 24.0 * std::f64::consts::TAU).sin();
        let frame = |storm: bool| {
            let y = (0..24 * 30)
                .map(|i| {
                    if storm && i >= 24 * 29 {
                        3.0 * daily(i)
                    } else {
                        daily(i)
                    }
                })
                .collect();
            Frame::from_parts(
                "t",
                Hour::from_unix(1_767_225_600).unwrap(),
                y,
                &cal_days,
                Vec::new(),
                &[],
            )
        };
        let model = Model::SeasonalNaive { period: 24 };
        // Usual errors: 10% of the level at every lead.
        let sc = scale(100.0, 100.0);
        let cal = Calibration::from_lead_errors(
            (0..960).map(|i| (1 + i % 24, 10.0 - 20.0 * (i % 2) as f64, sc)),
            true,
        );
        let p = 24 * 30;
        let recent = |storm: bool| {
            let f = frame(storm);
            let w = Windows::new(&f.y);
            // The origin is the end of the frame: forecasts need no future rows here.
            Conditions::at_origin_for(&f, &w, &model, &cal, p - 1, true).recent_errors
        };
        // A repeating day is forecast exactly by yesterday's: errors far below usual.
        assert!(recent(false) < 0.1, "{}", recent(false));
        // A day at three times the usual demand: errors far above usual.
        assert!(recent(true) > 5.0, "{}", recent(true));
    }

    #[test]
    fn confidence_falls_for_long_leads_missing_data_events_and_short_history() {
        let errors = (0..600).map(|i| {
            let lead = 1 + i % 24;
            let spread = if lead > 12 { 20.0 } else { 8.0 };
            (
                lead,
                spread * ((i % 7) as f64 - 3.0) / 3.0,
                scale(100.0, 100.0),
            )
        });
        let cal = Calibration::from_lead_errors(errors, false);
        let good = Conditions {
            history_hours: 10_000,
            ..Conditions::default()
        };
        let c = |lead: usize, cond: Conditions| {
            cal.band(100.0, 100.0, lead, midnight(lead), 0.1, &cond)
                .confidence
        };
        assert!(c(1, good) > c(20, good), "long leads");
        assert!(
            c(1, good)
                > c(
                    1,
                    Conditions {
                        missing_recent: 0.5,
                        ..good
                    }
                ),
            "missing data"
        );
        assert!(
            c(1, good)
                > c(
                    1,
                    Conditions {
                        special_day: true,
                        ..good
                    }
                ),
            "an unseen holiday"
        );
        assert!(
            c(1, good)
                > c(
                    1,
                    Conditions {
                        event: true,
                        ..good
                    }
                ),
            "an event"
        );
        assert!(
            c(1, good)
                > c(
                    1,
                    Conditions {
                        history_hours: 24 * 7,
                        ..good
                    }
                ),
            "short history"
        );
    }

    #[test]
    fn doubts_name_each_condition_that_widened_a_band() {
        // Members' spread learnt as in the spread test: the top quarter's errors are larger.
        let errors = spread_errors(&mut 5, 4000).into_iter().map(|e| (e.0, e.1));
        let cal = Calibration::default().with_regime_errors(errors, false);
        let usual = Conditions {
            history_hours: 10_000,
            ..Conditions::default()
        };
        let doubts = |cond: Conditions, adapt: Adaptive| cond.doubts(&cal, &adapt);
        let calm = Adaptive::default();
        assert!(doubts(usual, calm).is_empty());
        let one = |cond: Conditions, name: &str| {
            let d = doubts(cond, calm);
            assert_eq!(d.names().collect::<Vec<_>>(), [name], "{cond:?}");
            // What is named did widen the band: confidence falls against the usual conditions.
            let conf = |c: &Conditions| cal.band(100.0, 100.0, 3, 2, 0.1, c).confidence;
            assert!(conf(&cond) < conf(&usual), "{name}");
        };
        let at = |spread: f64| Regime::default().with_spread(spread, 100.0);
        one(
            Conditions {
                special_day: true,
                ..usual
            },
            "unseen_special_day",
        );
        one(
            Conditions {
                event: true,
                ..usual
            },
            "event",
        );
        one(
            Conditions {
                missing_recent: 1.0 / 24.0,
                ..usual
            },
            "missing_recent_data",
        );
        one(
            Conditions {
                history_hours: 24 * 10,
                ..usual
            },
            "short_history",
        );
        one(
            Conditions {
                recent_errors: 2.0,
                ..usual
            },
            "recent_errors",
        );
        one(
            Conditions {
                regime: at(37.0),
                ..usual
            },
            "members_disagree",
        );
        // Members that agree narrow the band: nothing to name. Nor is a last day better than
        // usual, nor a holiday validation saw.
        assert!(
            doubts(
                Conditions {
                    regime: at(3.0),
                    recent_errors: 0.5,
                    ..usual
                },
                calm
            )
            .is_empty()
        );
        let seen = Calibration {
            special_seen: true,
            ..cal.clone()
        };
        let holiday = Conditions {
            special_day: true,
            ..usual
        };
        assert!(holiday.doubts(&seen, &calm).is_empty());
        // The forecast-miss penalty is named at the scaling gate, not by the band.
        assert_eq!(
            Doubts::default().with_forecast_miss(true).to_string(),
            "forecast_miss"
        );
        assert!(Doubts::default().with_forecast_miss(false).is_empty());
        // Recent forecasts that hit less often than said widen the scale confidence is at.
        let missed = Adaptive {
            confidence_scale: 1.3,
            ..calm
        };
        assert_eq!(
            doubts(usual, missed).names().collect::<Vec<_>>(),
            ["recent_misses"]
        );
        // Several at once, in a fixed order, as names in JSON and bits in the store.
        let many = doubts(
            Conditions {
                event: true,
                missing_recent: 0.5,
                ..holiday
            },
            missed,
        );
        let json = serde_json::to_value(many).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                "unseen_special_day",
                "event",
                "missing_recent_data",
                "recent_misses"
            ])
        );
        assert_eq!(serde_json::from_value::<Doubts>(json).unwrap(), many);
        assert_eq!(Doubts::from_bits(many.bits()), many);
        assert_eq!(
            many.to_string(),
            "unseen_special_day, event, missing_recent_data, recent_misses"
        );
        // Bits a later version may add are dropped; an unknown name is an error that names it.
        assert_eq!(Doubts::from_bits(0xf000 | many.bits()), many);
        let err = serde_json::from_value::<Doubts>(serde_json::json!(["event", "gremlins"]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("gremlins") && err.contains("members_disagree"),
            "{err}"
        );
    }
}
