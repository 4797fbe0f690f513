//! Accuracy metrics of the backtest protocol (PROTOCOL.md section 4) and confidence calibration.

use serde::Serialize;

use super::confidence::Doubts;

/// One scored forecast point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Scored {
    /// Which group of forecasts the point belongs to (any increasing number): the local day its
    /// forecast was made. The points forecast on one day share its surprises, so their hits are
    /// not independent; at the protocol's daily origins a group is one origin, at hourly ones
    /// it is the day's 24 overlapping forecasts.
    pub origin: usize,
    pub lead: usize,
    pub y: f64,
    pub yhat: f64,
    pub lo80: f64,
    pub hi80: f64,
    pub lo95: f64,
    pub hi95: f64,
    pub confidence: f64,
    /// Whether `y` fell within the tolerance of `yhat` (what confidence predicts).
    pub hit: bool,
    /// What widened the point's band (none when its source does not say, as a forecasts file).
    pub doubts: Doubts,
    /// The online correction's confidence scale the point was published with (see
    /// [`Adaptive`](super::confidence::Adaptive)); `None` when its source does not say.
    pub correction: Option<f64>,
}

/// The protocol's metrics over scored points.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metrics {
    pub n_points: usize,
    pub mae: f64,
    pub rmse: f64,
    pub smape_pct: f64,
    pub mape_pct: f64,
    pub mape_n_skipped_zero: usize,
    pub mase: f64,
    pub mase_scale: f64,
    pub bias: f64,
    pub coverage80: f64,
    pub coverage95: f64,
    pub width80: f64,
    pub width95: f64,
    pub mae_by_lead_bucket: Vec<(String, f64)>,
    pub mae_by_lead: Vec<f64>,
    pub calibration_error: f64,
    /// What calibration error a perfectly calibrated confidence would show on these points.
    pub calibration_error_floor: Option<CalibrationFloor>,
    pub reliability: Vec<ReliabilityBin>,
    /// The Brier score of the confidence, with its decomposition.
    pub brier: Brier,
    /// Confidence against hit rate of the points without doubts (`none`) and of those with each
    /// doubt (a point with two counts in both): whether each doubt lowers confidence as much as
    /// it lowers the hit rate. Groups without points are left out.
    pub by_doubt: Vec<DoubtCalibration>,
    /// Confidence against hit rate by the online correction's confidence scale at publication
    /// (see [`by_correction`]): whether the correction's moves carry information. Empty when
    /// the points do not say.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub by_correction: Vec<CorrectionCalibration>,
}

/// The points published with an online confidence scale in `[from, to)` (unbounded where
/// `None`): how many, their mean confidence and hit rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CorrectionCalibration {
    pub from: Option<f64>,
    pub to: Option<f64>,
    pub n: usize,
    pub mean_confidence: f64,
    pub hit_rate: f64,
}

impl CorrectionCalibration {
    /// The group's range, as the CLI prints it: "below 0.8", "0.8-0.9", ..., "1.2 up".
    pub fn range(&self) -> String {
        match (self.from, self.to) {
            (None, Some(to)) => format!("below {to:.1}"),
            (Some(from), None) => format!("{from:.1} up"),
            (Some(from), Some(to)) => format!("{from:.1}-{to:.1}"),
            (None, None) => "any".to_owned(),
        }
    }
}

/// The edges of [`by_correction`]'s groups.
const CORRECTION_EDGES: [f64; 5] = [0.8, 0.9, 1.0, 1.1, 1.2];

/// Points given as (confidence, hit, confidence scale), grouped by the scale at 0.8, 0.9, 1.0,
/// 1.1 and 1.2 (each group from its lower edge), groups without points left out. The correction
/// lowers confidence when published forecasts hit less often than they said, and raises it when
/// more often. Were its moves all signal, every group would be calibrated; confidence above the
/// hit rate at low scales and below it at high ones says the moves overshoot.
pub fn by_correction(points: &[(f64, bool, f64)]) -> Vec<CorrectionCalibration> {
    let k = CORRECTION_EDGES.len();
    let mut acc = vec![(0usize, 0.0, 0.0); k + 1];
    for &(c, hit, scale) in points {
        let g = CORRECTION_EDGES.partition_point(|e| *e <= scale);
        acc[g].0 += 1;
        acc[g].1 += c;
        acc[g].2 += f64::from(u8::from(hit));
    }
    acc.into_iter()
        .enumerate()
        .filter(|(_, a)| a.0 > 0)
        .map(|(g, (n, c, h))| CorrectionCalibration {
            from: g.checked_sub(1).map(|i| CORRECTION_EDGES[i]),
            to: CORRECTION_EDGES.get(g).copied(),
            n,
            mean_confidence: c / n as f64,
            hit_rate: h / n as f64,
        })
        .collect()
}

/// The points of one doubt (or of none): how many, their mean confidence and hit rate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoubtCalibration {
    pub doubt: &'static str,
    pub n: usize,
    pub mean_confidence: f64,
    pub hit_rate: f64,
}

/// See [`Metrics::by_doubt`]: of points given as (confidence, hit, doubts).
pub fn by_doubt(points: &[(f64, bool, Doubts)]) -> Vec<DoubtCalibration> {
    let group = |doubt: &'static str, of: &dyn Fn(Doubts) -> bool| {
        let (n, conf, hits) = points
            .iter()
            .filter(|p| of(p.2))
            .fold((0, 0.0, 0.0), |a, p| {
                (a.0 + 1, a.1 + p.0, a.2 + f64::from(u8::from(p.1)))
            });
        (n > 0).then(|| DoubtCalibration {
            doubt,
            n,
            mean_confidence: conf / n as f64,
            hit_rate: hits / n as f64,
        })
    };
    std::iter::once(group("none", &|d| d.is_empty()))
        .chain(
            Doubts::NAMES
                .iter()
                .enumerate()
                .map(|(i, &name)| group(name, &move |d| d.bits() & (1 << i) != 0)),
        )
        .flatten()
        .collect()
}

/// The Brier score of a confidence (the mean of (confidence - hit)², a proper score: lower is
/// better, and only a confidence that is both calibrated and sharp gets it low) with Murphy's
/// (1973) decomposition over the reliability table's ten bins: `reliability` (how far each
/// bin's mean confidence is from its hit rate, squared; 0 when calibrated) minus `resolution`
/// (how far the bins' hit rates are from the overall one: what the confidence tells apart) plus
/// `uncertainty` (that of the overall hit rate, the score of always stating it). The three add
/// up to the score up to the spread of confidences within a bin. `skill` is 1 - score /
/// uncertainty: 0 for always stating the overall hit rate, 1 for knowing every hit; NaN (null in
/// JSON) when every point hit or every point missed, since nothing was left to tell apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Brier {
    pub score: f64,
    pub reliability: f64,
    pub resolution: f64,
    pub uncertainty: f64,
    pub skill: f64,
}

/// The score, its skill and decomposition, in one line.
impl std::fmt::Display for Brier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let skill = if self.skill.is_finite() {
            format!("{:.3}", self.skill)
        } else {
            "undefined: every point hit, or every point missed".to_owned()
        };
        write!(
            f,
            "{:.4} (skill {skill}; reliability {:.4}, resolution {:.4}, uncertainty {:.4})",
            self.score, self.reliability, self.resolution, self.uncertainty
        )
    }
}

/// The [`Brier`] score of (confidence, hit) pairs whose reliability table is `bins` (from
/// [`reliability_of`] of the same pairs); NaN without any.
pub fn brier_of(pairs: impl Iterator<Item = (f64, bool)>, bins: &[ReliabilityBin]) -> Brier {
    let (mut n, mut squares, mut hits) = (0usize, 0.0, 0.0);
    for (c, hit) in pairs {
        let h = f64::from(u8::from(hit));
        n += 1;
        squares += (c - h).powi(2);
        hits += h;
    }
    let n = n as f64;
    let (score, base) = (squares / n, hits / n);
    let weighted = |f: &dyn Fn(&ReliabilityBin) -> f64| {
        bins.iter().map(|b| b.n as f64 / n * f(b)).sum::<f64>()
    };
    let uncertainty = base * (1.0 - base);
    Brier {
        score,
        reliability: weighted(&|b| (b.mean_confidence - b.hit_rate).powi(2)),
        resolution: weighted(&|b| (b.hit_rate - base).powi(2)),
        uncertainty,
        skill: if uncertainty > 0.0 {
            1.0 - score / uncertainty
        } else {
            f64::NAN
        },
    }
}

/// The expected calibration error of a confidence that is calibrated by construction, on the
/// same points: the same confidences, hits drawn with exactly those probabilities, and hits of
/// one origin as dependent as the data's (a shared shock per origin, matched to how far each
/// origin's hit rate strays from its mean confidence). An observed error near `median` is what
/// sampling alone gives; `p_value` is the share of calibrated draws with an error at least as
/// large as the observed one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CalibrationFloor {
    /// Correlation of the latent shock between two hits of one origin, matched to the data.
    pub within_origin_correlation: f64,
    pub median: f64,
    pub p90: f64,
    pub p_value: f64,
    pub draws: usize,
    /// Groups of points that share a shock (local days of forecasting, see [`Scored::origin`]).
    pub origin_days: usize,
}

/// One bin of a reliability table: points whose confidence fell in `[lo, hi)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReliabilityBin {
    pub lo: f64,
    pub hi: f64,
    pub n: usize,
    pub mean_confidence: f64,
    pub hit_rate: f64,
}

/// MASE scale: mean |y(t) - y(t-168)| over `168 <= t < first_origin` where both are observed.
pub fn mase_scale(y: &[f64], first_origin: usize) -> f64 {
    let d: Vec<f64> = (168..first_origin.min(y.len()))
        .filter(|&t| !y[t].is_nan() && !y[t - 168].is_nan())
        .map(|t| (y[t] - y[t - 168]).abs())
        .collect();
    if d.is_empty() {
        f64::NAN
    } else {
        d.iter().sum::<f64>() / d.len() as f64
    }
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

/// Reliability table (10 equal-width bins) and expected calibration error.
pub fn reliability(points: &[Scored]) -> (Vec<ReliabilityBin>, f64) {
    reliability_of(points.iter().map(|p| (p.confidence, p.hit)))
}

/// [`reliability`] of (confidence, hit) pairs, in one pass. A bin holds `[lo, hi)`, the last
/// also 1; a confidence outside [0, 1] is in no bin but counts in the error's denominator.
pub fn reliability_of(pairs: impl Iterator<Item = (f64, bool)>) -> (Vec<ReliabilityBin>, f64) {
    // Per bin: points, summed confidence, hits.
    let mut acc = [(0usize, 0.0, 0.0); 10];
    let mut total = 0usize;
    for (c, hit) in pairs {
        total += 1;
        // The last bin whose lower edge is at most c, as the edges are written (b / 10).
        let bin = (0..10u8).rev().find(|&b| c >= f64::from(b) / 10.0);
        if let Some(b) = bin.filter(|_| c <= 1.0) {
            let a = &mut acc[usize::from(b)];
            a.0 += 1;
            a.1 += c;
            a.2 += f64::from(u8::from(hit));
        }
    }
    let mut ece = 0.0;
    let bins = (0..10u8)
        .zip(acc)
        .filter(|(_, (n, _, _))| *n > 0)
        .map(|(b, (n, conf, hits))| {
            let (mc, hr) = (conf / n as f64, hits / n as f64);
            ece += n as f64 / total as f64 * (mc - hr).abs();
            ReliabilityBin {
                lo: f64::from(b) / 10.0,
                hi: f64::from(b + 1) / 10.0,
                n,
                mean_confidence: mc,
                hit_rate: hr,
            }
        })
        .collect();
    (bins, ece)
}

/// Standard normal distribution function (erfc by its Chebyshev fit, error below 1.2e-7).
fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = [
        -1.265_512_23,
        1.000_023_68,
        0.374_091_96,
        0.096_784_18,
        -0.186_288_06,
        0.278_868_07,
        -1.135_203_98,
        1.488_515_87,
        -0.822_152_23,
        0.170_872_77,
    ]
    .iter()
    .rev()
    .fold(0.0, |acc, c| c + t * acc);
    let erfc = t * (-z * z + poly).exp();
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

/// Deterministic standard normal draws (SplitMix64 and Box-Muller): the floor is reproducible
/// from the forecasts file.
struct Normals(u64);

impl Normals {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn next(&mut self) -> f64 {
        let (a, b) = (self.uniform().max(f64::MIN_POSITIVE), self.uniform());
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    }
}

/// Spread of the origins' mean residuals (hit - confidence) around their mean.
fn origin_spread(groups: &[Vec<f64>], hits: &[Vec<bool>]) -> f64 {
    let means: Vec<f64> = groups
        .iter()
        .zip(hits)
        .map(|(c, h)| {
            c.iter()
                .zip(h)
                .map(|(c, h)| f64::from(u8::from(*h)) - c)
                .sum::<f64>()
                / c.len() as f64
        })
        .collect();
    let m = means.iter().sum::<f64>() / means.len() as f64;
    means.iter().map(|x| (x - m).powi(2)).sum::<f64>() / means.len() as f64
}

/// Hits of a calibrated confidence: each origin draws a shock shared by its points.
fn calibrated_hits(groups: &[Vec<f64>], rho: f64, rng: &mut Normals) -> Vec<Vec<bool>> {
    let (a, b) = (rho.sqrt(), (1.0 - rho).sqrt());
    groups
        .iter()
        .map(|g| {
            let shock = rng.next();
            g.iter()
                .map(|&c| normal_cdf(a * shock + b * rng.next()) < c)
                .collect()
        })
        .collect()
}

fn flat_ece(groups: &[Vec<f64>], hits: &[Vec<bool>]) -> f64 {
    reliability_of(
        groups
            .iter()
            .zip(hits)
            .flat_map(|(c, h)| c.iter().copied().zip(h.iter().copied())),
    )
    .1
}

/// The calibration error a calibrated confidence would show on `points` (see
/// [`CalibrationFloor`]); `None` with fewer than 5 origins.
pub fn calibration_floor(points: &[Scored], observed: f64) -> Option<CalibrationFloor> {
    let mut by_origin: std::collections::BTreeMap<usize, (Vec<f64>, Vec<bool>)> =
        std::collections::BTreeMap::new();
    for p in points {
        let e = by_origin.entry(p.origin).or_default();
        e.0.push(p.confidence.clamp(0.0, 1.0));
        e.1.push(p.hit);
    }
    if by_origin.len() < 5 {
        return None;
    }
    let (groups, hits): (Vec<Vec<f64>>, Vec<Vec<bool>>) = by_origin.into_values().unzip();
    let seen = origin_spread(&groups, &hits);
    let mut rng = Normals(0x5EED);
    // The shock's share whose calibrated draws stray across origins as much as the data do.
    const FIT_DRAWS: usize = 40;
    let rho = (0..=18)
        .map(|k| f64::from(k) / 20.0)
        .map(|rho| {
            let spread = (0..FIT_DRAWS)
                .map(|_| origin_spread(&groups, &calibrated_hits(&groups, rho, &mut rng)))
                .sum::<f64>()
                / FIT_DRAWS as f64;
            (rho, (spread - seen).abs())
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0.0, |(rho, _)| rho);
    const DRAWS: usize = 400;
    let mut eces: Vec<f64> = (0..DRAWS)
        .map(|_| flat_ece(&groups, &calibrated_hits(&groups, rho, &mut rng)))
        .collect();
    eces.sort_by(f64::total_cmp);
    let at_least = eces.iter().filter(|e| **e >= observed).count();
    Some(CalibrationFloor {
        within_origin_correlation: rho,
        median: eces[DRAWS / 2],
        p90: eces[DRAWS * 9 / 10],
        p_value: (at_least + 1) as f64 / (DRAWS + 1) as f64,
        draws: DRAWS,
        origin_days: groups.len(),
    })
}

/// All metrics of a set of scored points, with the MASE scale of the series.
pub fn metrics(points: &[Scored], scale: f64, horizon: usize) -> Metrics {
    let e = |p: &Scored| p.yhat - p.y;
    let mae = mean(points.iter().map(|p| e(p).abs()));
    let nonzero: Vec<&Scored> = points.iter().filter(|p| p.y != 0.0).collect();
    let bucket = |lo: usize, hi: usize| {
        mean(
            points
                .iter()
                .filter(|p| p.lead >= lo && p.lead <= hi)
                .map(|p| e(p).abs()),
        )
    };
    let (reliability, calibration_error) = reliability(points);
    Metrics {
        n_points: points.len(),
        mae,
        rmse: mean(points.iter().map(|p| e(p).powi(2))).sqrt(),
        smape_pct: 100.0
            * mean(points.iter().map(|p| {
                let d = p.y.abs() + p.yhat.abs();
                if d == 0.0 { 0.0 } else { 2.0 * e(p).abs() / d }
            })),
        mape_pct: 100.0 * mean(nonzero.iter().map(|p| e(p).abs() / p.y.abs())),
        mape_n_skipped_zero: points.len() - nonzero.len(),
        mase: mae / scale,
        mase_scale: scale,
        bias: mean(points.iter().map(e)),
        coverage80: mean(
            points
                .iter()
                .map(|p| f64::from(u8::from(p.lo80 <= p.y && p.y <= p.hi80))),
        ),
        coverage95: mean(
            points
                .iter()
                .map(|p| f64::from(u8::from(p.lo95 <= p.y && p.y <= p.hi95))),
        ),
        width80: mean(points.iter().map(|p| p.hi80 - p.lo80)),
        width95: mean(points.iter().map(|p| p.hi95 - p.lo95)),
        mae_by_lead_bucket: vec![
            ("1-6".into(), bucket(1, 6)),
            ("7-12".into(), bucket(7, 12)),
            ("13-24".into(), bucket(13, 24)),
        ],
        mae_by_lead: (1..=horizon).map(|h| bucket(h, h)).collect(),
        calibration_error,
        calibration_error_floor: calibration_floor(points, calibration_error),
        brier: brier_of(points.iter().map(|p| (p.confidence, p.hit)), &reliability),
        reliability,
        by_doubt: by_doubt(
            &points
                .iter()
                .map(|p| (p.confidence, p.hit, p.doubts))
                .collect::<Vec<_>>(),
        ),
        by_correction: by_correction(
            &points
                .iter()
                .filter_map(|p| Some((p.confidence, p.hit, p.correction?)))
                .collect::<Vec<_>>(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(lead: usize, y: f64, yhat: f64) -> Scored {
        Scored {
            origin: 0,
            lead,
            y,
            yhat,
            lo80: yhat - 1.0,
            hi80: yhat + 1.0,
            lo95: yhat - 2.0,
            hi95: yhat + 2.0,
            confidence: 0.5,
            hit: true,
            doubts: Doubts::default(),
            correction: None,
        }
    }

    #[test]
    fn confidence_is_told_apart_by_doubt() {
        let doubt = |names: &[&str]| -> Doubts {
            serde_json::from_value(serde_json::json!(names)).unwrap()
        };
        let at = |confidence: f64, hit: bool, doubts: Doubts| Scored {
            confidence,
            hit,
            doubts,
            ..point(1, 10.0, 10.0)
        };
        let pts = [
            at(0.9, true, Doubts::default()),
            at(0.7, false, Doubts::default()),
            at(0.4, false, doubt(&["event"])),
            at(0.2, true, doubt(&["event", "missing_recent_data"])),
        ];
        let triples: Vec<_> = pts
            .iter()
            .map(|p| (p.confidence, p.hit, p.doubts))
            .collect();
        let by: Vec<(&str, usize, f64, f64)> = by_doubt(&triples)
            .iter()
            .map(|d| (d.doubt, d.n, d.mean_confidence, d.hit_rate))
            .collect();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        // A point with two doubts counts in both; doubts without points are left out.
        assert_eq!(
            by.iter().map(|d| (d.0, d.1)).collect::<Vec<_>>(),
            [("none", 2), ("event", 2), ("missing_recent_data", 1)]
        );
        assert!(close(by[0].2, 0.8) && close(by[0].3, 0.5));
        assert!(close(by[1].2, 0.3) && close(by[1].3, 0.5));
        assert!(close(by[2].2, 0.2) && close(by[2].3, 1.0));
        assert_eq!(metrics(&pts, 1.0, 24).by_doubt, by_doubt(&triples));
    }

    #[test]
    fn confidence_is_told_apart_by_the_online_correction_at_publication() {
        let at = |confidence: f64, hit: bool, correction: Option<f64>| Scored {
            confidence,
            hit,
            correction,
            ..point(1, 10.0, 10.0)
        };
        let pts = [
            at(0.9, true, Some(0.5)),
            at(0.7, false, Some(0.79)),
            // An edge opens its group: 0.8 is in [0.8, 0.9), 1.0 (untouched) in [1.0, 1.1).
            at(0.6, true, Some(0.8)),
            at(0.5, true, Some(1.0)),
            at(0.3, true, Some(1.25)),
            at(0.2, false, Some(4.0)),
            // A point whose source does not say is left out.
            at(0.1, true, None),
        ];
        let by: Vec<_> = metrics(&pts, 1.0, 24)
            .by_correction
            .into_iter()
            .map(|g| (g.from, g.to, g.n, g.mean_confidence, g.hit_rate))
            .collect();
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert_eq!(
            by.iter().map(|g| (g.0, g.1, g.2)).collect::<Vec<_>>(),
            [
                (None, Some(0.8), 2),
                (Some(0.8), Some(0.9), 1),
                (Some(1.0), Some(1.1), 1),
                (Some(1.2), None, 2),
            ]
        );
        assert!(close(by[0].3, 0.8) && close(by[0].4, 0.5));
        assert!(close(by[3].3, 0.25) && close(by[3].4, 0.5));
        let ranges: Vec<String> = metrics(&pts, 1.0, 24)
            .by_correction
            .iter()
            .map(CorrectionCalibration::range)
            .collect();
        assert_eq!(ranges, ["below 0.8", "0.8-0.9", "1.0-1.1", "1.2 up"]);
        // Without any point that says, there are no groups (and none in the JSON).
        let none = metrics(&[at(0.5, true, None)], 1.0, 24);
        assert!(none.by_correction.is_empty());
        assert!(
            serde_json::to_value(&none)
                .unwrap()
                .get("by_correction")
                .is_none()
        );
    }

    #[test]
    fn metrics_match_a_hand_computation() {
        let pts = [point(1, 10.0, 11.0), point(2, 0.0, 1.0), point(7, 4.0, 1.0)];
        let m = metrics(&pts, 2.0, 24);
        assert!((m.mae - 5.0 / 3.0).abs() < 1e-12);
        assert!((m.mase - 5.0 / 6.0).abs() < 1e-12);
        assert!((m.rmse - (11.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((m.bias - (-1.0 / 3.0)).abs() < 1e-12);
        assert_eq!(m.mape_n_skipped_zero, 1);
        assert!((m.mape_pct - 100.0 * (0.1 + 0.75) / 2.0).abs() < 1e-9);
        assert!(
            (m.coverage80 - 2.0 / 3.0).abs() < 1e-12,
            "only the 3-off point is outside ±1"
        );
        assert!((m.smape_pct - 100.0 * (2.0 / 21.0 + 2.0 + 6.0 / 5.0) / 3.0).abs() < 1e-9);
        assert_eq!(m.mae_by_lead_bucket[0].1, 1.0);
    }

    #[test]
    fn the_brier_score_and_its_decomposition_match_a_hand_computation() {
        // Bin 0.2: confidences 0.2 and 0.2, one hit; bin 0.9: 0.9, 0.9, 0.9, 0.9, three hits.
        let pairs = [
            (0.2, true),
            (0.2, false),
            (0.9, true),
            (0.9, true),
            (0.9, true),
            (0.9, false),
        ];
        let b = brier_of(pairs.into_iter(), &reliability_of(pairs.into_iter()).0);
        let score = (0.64 + 0.04 + 3.0 * 0.01 + 0.81) / 6.0;
        assert!((b.score - score).abs() < 1e-12, "{b:?}");
        let base: f64 = 4.0 / 6.0;
        let rel = (2.0 * 0.3f64.powi(2) + 4.0 * 0.15f64.powi(2)) / 6.0;
        let res = (2.0 * (0.5 - base).powi(2) + 4.0 * (0.75 - base).powi(2)) / 6.0;
        assert!((b.reliability - rel).abs() < 1e-12);
        assert!((b.resolution - res).abs() < 1e-12);
        assert!((b.uncertainty - base * (1.0 - base)).abs() < 1e-12);
        // Confidences constant within their bins: the decomposition is exact.
        assert!((b.reliability - b.resolution + b.uncertainty - b.score).abs() < 1e-12);
        assert!((b.skill - (1.0 - score / b.uncertainty)).abs() < 1e-12);
        // Always stating the overall hit rate: no skill, no resolution.
        let flat_pairs = || pairs.iter().map(|&(_, h)| (base, h));
        let flat = brier_of(flat_pairs(), &reliability_of(flat_pairs()).0);
        assert!(flat.skill.abs() < 1e-12 && flat.resolution.abs() < 1e-12);
        // Every point hit: no uncertainty, and no skill to speak of (not minus infinity).
        let all_hit = [(0.99, true), (0.95, true)];
        let b = brier_of(all_hit.into_iter(), &reliability_of(all_hit.into_iter()).0);
        assert!(b.uncertainty == 0.0 && b.skill.is_nan(), "{b:?}");
        assert!(b.to_string().contains("skill undefined"), "{b}");
        assert_eq!(
            serde_json::to_value(b).unwrap()["skill"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn a_calibrated_confidence_has_no_calibration_error() {
        let mut pts = Vec::new();
        for i in 0..100 {
            let mut p = point(1, 0.0, 0.0);
            p.confidence = 0.25;
            p.hit = i % 4 == 0;
            pts.push(p);
        }
        let (bins, ece) = reliability(&pts);
        assert_eq!(bins.len(), 1);
        assert!(ece.abs() < 1e-12);
    }

    /// 28 origins of 24 points with confidences spread over (0, 1); hits drawn with
    /// probability `truth(confidence)` and, with `rho` > 0, a shock shared within an origin.
    fn simulated(rho: f64, truth: impl Fn(f64) -> f64) -> Vec<Scored> {
        let mut rng = Normals(42);
        (0..28)
            .flat_map(|o| {
                let shock = rng.next();
                (0..24)
                    .map(|k| {
                        let c = 0.05 + 0.9 * f64::from((o * 7 + k * 11) % 24) / 23.0;
                        let u = normal_cdf(rho.sqrt() * shock + (1.0 - rho).sqrt() * rng.next());
                        let mut p = point(k as usize + 1, 0.0, 0.0);
                        p.origin = o as usize;
                        p.confidence = c;
                        p.hit = u < truth(c);
                        p
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn the_normal_distribution_function_matches_known_values() {
        for (x, p) in [
            (0.0, 0.5),
            (1.0, 0.841_344_746),
            (-1.959_964, 0.025),
            (3.0, 0.998_650_102),
        ] {
            assert!((normal_cdf(x) - p).abs() < 2e-7, "{x}: {}", normal_cdf(x));
        }
    }

    #[test]
    fn a_calibrated_confidence_sits_on_its_floor_and_a_miscalibrated_one_does_not() {
        let calibrated = simulated(0.0, |c| c);
        let ece = reliability(&calibrated).1;
        let f = calibration_floor(&calibrated, ece).expect("28 origins");
        assert!(f.within_origin_correlation <= 0.15, "{f:?}");
        assert!(
            f.p_value > 0.05 && (0.01..0.08).contains(&f.median),
            "{ece} {f:?}"
        );
        // Overconfident by 0.25 at the top, underconfident at the bottom.
        let wrong = simulated(0.0, |c| 0.5 + (c - 0.5) * 0.5);
        let ece = reliability(&wrong).1;
        let f = calibration_floor(&wrong, ece).expect("28 origins");
        assert!(ece > 0.08 && f.p_value < 0.01, "{ece} {f:?}");
    }

    #[test]
    fn hits_that_move_together_within_an_origin_raise_the_floor() {
        let independent = simulated(0.0, |c| c);
        let together = simulated(0.6, |c| c);
        let fi = calibration_floor(&independent, 0.0).expect("28 origins");
        let ft = calibration_floor(&together, 0.0).expect("28 origins");
        assert!(ft.within_origin_correlation >= 0.35, "{ft:?}");
        // Shared shocks make a short window's error less predictable: a wider spread of it.
        assert!(
            ft.p90 > 1.2 * fi.p90 && ft.median >= fi.median,
            "{ft:?} vs {fi:?}"
        );
    }

    #[test]
    fn too_few_origins_say_nothing() {
        let few: Vec<Scored> = simulated(0.0, |c| c)
            .into_iter()
            .filter(|p| p.origin < 4)
            .collect();
        assert_eq!(calibration_floor(&few, 0.05), None);
    }

    #[test]
    fn the_mase_scale_is_the_in_sample_weekly_naive_error() {
        let mut y: Vec<f64> = (0..400).map(|i| f64::from(i % 168)).collect();
        y[200] = f64::NAN;
        assert_eq!(mase_scale(&y, 400), 0.0);
        y[300] += 2.0;
        assert!(mase_scale(&y, 400) > 0.0);
    }
}
