//! What-if replay of scaling policies on a real trace. Hour by hour over the test window, each
//! policy sets a capacity for the hour from what it could know before it, on the same capacity
//! model (a target's requests per instance, limits, steps, stabilization, lead):
//!
//! - `predictive`: prescale's forecast for the hour (issued at the start of the hour before, as
//!   the serving loop publishes it: lead 2), its recommendation and gate ([`Planner`]), the
//!   reactive floor from the last complete hour. What prescale sets is a *minimum* (Cloud Run's
//!   `minInstanceCount`, an HPA's `minReplicas`): the target's own autoscaler still adds
//!   instances above it, so the capacity is the larger of prescale's minimum and the reactive
//!   policy's capacity. A held recommendation leaves the last applied minimum in place;
//! - `reactive`: HPA-like, the capacity the hour before needed, with the stabilization window
//!   and the step limits; new instances arrive `cold_start_minutes` into the hour;
//! - `static`: the training window's peak, all the time;
//! - `oracle`: what the hour itself needed, in place at once (the lower bound).
//!
//! Accounting per hour: billed instances; serving capacity = billed, except that instances added
//! in a scale-up serve only after their cold start (for `predictive`, the part of the cold start
//! not covered by the lead time); demand above capacity × requests per instance × 3600 is
//! under-provisioned. Pure.

use serde::Serialize;

use crate::forecast::ForecastPoint;
use crate::scaling::recommend::{Capacity, Planner, instances_for};

/// The simulation's knobs beside the capacity model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    pub capacity: Capacity,
    /// How long a new instance takes before it serves.
    pub cold_start_minutes: u32,
    pub price_per_instance_hour: f64,
}

/// One policy's totals, and its capacity hour by hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PolicyResult {
    pub policy: String,
    /// Requests above capacity, summed over the hours.
    pub under_requests: f64,
    /// `under_requests` ÷ all demand.
    pub under_share: f64,
    pub under_hours: usize,
    pub instance_hours: f64,
    pub cost: f64,
    /// Hours whose billed instances differ from the hour before.
    pub changes: usize,
    /// Billed instances per hour.
    pub instances: Vec<u32>,
    /// Requests the hour could serve.
    pub capacity_requests: Vec<f64>,
    /// Predictive only: hours the gate held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holds: Option<usize>,
}

/// The replay of every policy over `demand[start..]`. `forecast[i]` is the forecast of hour
/// `start + i` (None: no forecast, the predictive policy keeps its value); `stages[i]`, when
/// given, the event-stage floor over that hour as the cycle before it saw it. Needs `start >= 2`.
pub fn simulate(
    demand: &[f64],
    start: usize,
    forecast: &[Option<ForecastPoint>],
    stages: &[(u32, Option<String>)],
    s: &Settings,
) -> Vec<PolicyResult> {
    let cap = &s.capacity;
    let (lo, hi) = (cap.min.min(cap.max), cap.max.max(cap.min));
    let need = |d: f64| instances_for(if d.is_nan() { 0.0 } else { d }, cap).clamp(lo, hi);
    let n = demand.len().saturating_sub(start);
    let initial = need(demand[start.saturating_sub(1)]);

    // Predictive.
    let mut planner = Planner::new(cap, initial);
    let mut holds = 0;
    let predictive: Vec<u32> = (0..n)
        .map(|i| {
            let h = start + i;
            match forecast.get(i).copied().flatten() {
                Some(p) => {
                    let floor = need(demand[h - 2]);
                    let stage = stages.get(i).cloned().unwrap_or((0, None));
                    let r = planner.step(&p, floor, stage);
                    if r.decision != crate::scaling::Decision::Apply {
                        holds += 1;
                    }
                    planner.current()
                }
                None => planner.current(),
            }
        })
        .collect();

    // Reactive: the hour before's need, stabilized and stepped.
    let window = (cap.scale_in_stabilization_minutes as usize)
        .div_ceil(60)
        .max(1);
    let mut desired_hist: Vec<u32> = Vec::new();
    let mut cur = initial;
    let reactive: Vec<u32> = (0..n)
        .map(|i| {
            let desired = need(demand[start + i - 1]);
            desired_hist.push(desired);
            let mut target = desired;
            if target < cur {
                let from = desired_hist.len().saturating_sub(window);
                target = desired_hist[from..]
                    .iter()
                    .copied()
                    .max()
                    .unwrap_or(target)
                    .min(cur);
            }
            cur = if target > cur {
                target.min(cur.saturating_add(cap.max_step_up.max(1)))
            } else {
                target.max(cur.saturating_sub(cap.max_step_down.max(1)))
            };
            cur
        })
        .collect();

    let peak = demand[..start]
        .iter()
        .copied()
        .filter(|d| !d.is_nan())
        .fold(0.0, f64::max);
    let fixed = vec![need(peak); n];
    let oracle: Vec<u32> = (0..n).map(|i| need(demand[start + i])).collect();

    let test = &demand[start..];
    let pred_delay = s.cold_start_minutes.saturating_sub(cap.lead_minutes);
    let reactive_serving = serving(&reactive, initial, s.cold_start_minutes);
    // Prescale's minimum, pre-warmed by its lead time, under the target's own autoscaler.
    let pred_serving: Vec<f64> = serving(&predictive, initial, pred_delay)
        .iter()
        .zip(&reactive_serving)
        .map(|(a, b)| a.max(*b))
        .collect();
    let pred_billed: Vec<u32> = predictive
        .iter()
        .zip(&reactive)
        .map(|(a, b)| *a.max(b))
        .collect();
    let mut p = account("predictive", test, &pred_billed, &pred_serving, initial, s);
    p.holds = Some(holds);
    vec![
        p,
        account("reactive", test, &reactive, &reactive_serving, initial, s),
        account(
            "static",
            test,
            &fixed,
            &serving(&fixed, fixed[0], 0),
            fixed[0],
            s,
        ),
        account(
            "oracle",
            test,
            &oracle,
            &serving(&oracle, initial, 0),
            initial,
            s,
        ),
    ]
}

/// Instances serving in each hour: instances added in a scale-up serve only after
/// `delay_minutes` of the hour.
fn serving(billed: &[u32], initial: u32, delay_minutes: u32) -> Vec<f64> {
    let late = f64::from(delay_minutes.min(60)) / 60.0;
    let mut prev = initial;
    billed
        .iter()
        .map(|&b| {
            let s = if b > prev {
                f64::from(prev) + f64::from(b - prev) * (1.0 - late)
            } else {
                f64::from(b)
            };
            prev = b;
            s
        })
        .collect()
}

fn account(
    name: &str,
    demand: &[f64],
    billed: &[u32],
    serving: &[f64],
    initial: u32,
    s: &Settings,
) -> PolicyResult {
    let per_instance = s.capacity.requests_per_instance_per_second * 3600.0;
    let mut prev = initial;
    let (mut under, mut under_hours, mut changes, mut total) = (0.0, 0, 0, 0.0);
    let mut capacity_requests = Vec::with_capacity(billed.len());
    for ((&d, &b), &serving) in demand.iter().zip(billed).zip(serving) {
        let c = serving * per_instance;
        let d = if d.is_nan() { 0.0 } else { d };
        if d > c + 1e-9 {
            under += d - c;
            under_hours += 1;
        }
        if b != prev {
            changes += 1;
        }
        total += d;
        capacity_requests.push(c);
        prev = b;
    }
    let instance_hours: f64 = billed.iter().map(|&b| f64::from(b)).sum();
    PolicyResult {
        policy: name.to_owned(),
        under_requests: under,
        under_share: if total > 0.0 { under / total } else { 0.0 },
        under_hours,
        instance_hours,
        cost: instance_hours * s.price_per_instance_hour,
        changes,
        instances: billed.to_vec(),
        capacity_requests,
        holds: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Hour;
    use crate::scaling::Quantile;

    /// One instance serves one request an hour: instances = ceil(demand).
    fn settings(cold_start: u32) -> Settings {
        Settings {
            capacity: Capacity {
                requests_per_instance_per_second: 1.0 / 3600.0,
                min: 1,
                max: 100,
                max_step_up: u32::MAX,
                max_step_down: u32::MAX,
                lead_minutes: 10,
                scale_in_stabilization_minutes: 0,
                quantile: Quantile::Upper80,
                confidence_threshold: 0.8,
                event_stages: Vec::new(),
            },
            cold_start_minutes: cold_start,
            price_per_instance_hour: 0.5,
        }
    }

    fn point(i: usize, upper80: f64, confidence: f64) -> Option<ForecastPoint> {
        Some(ForecastPoint {
            hour: Hour::from_unix(1_785_207_600 + 3600 * i as i64).unwrap(),
            expected: upper80,
            lower80: 0.0,
            upper80,
            lower95: 0.0,
            upper95: upper80,
            confidence,
            doubts: Default::default(),
        })
    }

    #[test]
    fn every_policy_is_accounted_exactly_on_a_hand_computed_trace() {
        // History 4, 4, then the test hours 4, 10, 10, 3 (training peak 5 at index 0).
        let demand = [5.0, 4.0, 4.0, 10.0, 10.0, 3.0];
        let start = 2;
        // Forecasts: right for hour 2 and 3, too low for 4 (8), and a held one for 5.
        let f = [
            point(2, 4.0, 0.9),
            point(3, 10.0, 0.9),
            point(4, 8.0, 0.9),
            point(5, 3.0, 0.5),
        ];
        let r = simulate(&demand, start, &f, &[], &settings(0));
        let by = |n: &str| r.iter().find(|p| p.policy == n).unwrap().clone();

        // Predictive: prescale's minimum is 4, 10, then the forecast of 8 (the reactive floor,
        // hour 2's need of 4, is lower; no stabilization), then held at 8 (0.5 < 0.8). Above it
        // the target's own autoscaler gives the reactive 4, 4, 10, 10: capacity 4, 10, 10, 10.
        let p = by("predictive");
        assert_eq!(p.instances, vec![4, 10, 10, 10]);
        assert_eq!(p.holds, Some(1));
        assert_eq!((p.under_requests, p.under_hours), (0.0, 0));
        assert_eq!(p.instance_hours, 34.0);
        assert_eq!(
            p.changes, 1,
            "from the initial 4: 4 (no change), 10, 10, 10"
        );

        // Reactive: the hour before: 4, 4, 10, 10 → under 6 in hour 3.
        let re = by("reactive");
        assert_eq!(re.instances, vec![4, 4, 10, 10]);
        assert_eq!((re.under_requests, re.under_hours), (6.0, 1));
        assert!((re.under_share - 6.0 / 27.0).abs() < 1e-12);
        assert_eq!(re.instance_hours, 28.0);
        assert_eq!(re.changes, 1);

        // Static: the training peak (5): under 5 + 5 in hours 3 and 4.
        let st = by("static");
        assert_eq!(st.instances, vec![5, 5, 5, 5]);
        assert_eq!(
            (st.under_requests, st.under_hours, st.instance_hours),
            (10.0, 2, 20.0)
        );
        assert_eq!(st.cost, 10.0);

        // Oracle: the hour's own need, never under.
        let o = by("oracle");
        assert_eq!(o.instances, vec![4, 10, 10, 3]);
        assert_eq!(
            (o.under_requests, o.instance_hours, o.changes),
            (0.0, 27.0, 2)
        );
    }

    #[test]
    fn an_event_stage_raises_the_predictive_minimum_ahead_of_the_event() {
        // Forecasts of 4 everywhere; a stage asks for 9 over hour 3 (the event's hour).
        let demand = [4.0, 4.0, 4.0, 9.0, 4.0];
        let f = [point(2, 4.0, 0.9), point(3, 4.0, 0.9), point(4, 4.0, 0.9)];
        let stages = [
            (0, None),
            (9, Some("match: 2 h before".to_owned())),
            (0, None),
        ];
        let r = simulate(&demand, 2, &f, &stages, &settings(0));
        // Hour 4: prescale's minimum is back at 4, the autoscaler above it still holds the 9 it
        // saw in hour 3.
        assert_eq!(r[0].instances, vec![4, 9, 9]);
        assert_eq!(r[0].under_requests, 0.0);
        assert_eq!(
            simulate(&demand, 2, &f, &[], &settings(0))[0].under_requests,
            5.0
        );
    }

    #[test]
    fn cold_starts_delay_scale_ups_and_lead_time_covers_them() {
        let demand = [4.0, 4.0, 4.0, 10.0];
        let f = [point(2, 4.0, 0.9), point(3, 10.0, 0.9)];
        // 30-minute cold start: reactive's +6 in hour 3 arrive too late for it anyway (it saw 4);
        // predictive's lead of 10 minutes leaves 20 minutes uncovered: 4 + 6 × (40/60) = 8 serve.
        let r = simulate(&demand, 2, &f, &[], &settings(30));
        let p = &r[0];
        assert_eq!(p.instances, vec![4, 10]);
        assert!((p.capacity_requests[1] - 8.0).abs() < 1e-9);
        assert!((p.under_requests - 2.0).abs() < 1e-9);
        // A cold start within the lead time costs nothing.
        let r = simulate(&demand, 2, &f, &[], &settings(10));
        assert_eq!(r[0].under_requests, 0.0);
    }
}
