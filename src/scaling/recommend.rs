//! Recommendations for a forecast: per hour, the capacity the chosen quantile of demand needs,
//! clamped to the target's limits, never scaled in below the reactive floor, scaled in only
//! after the stabilization window, changed by at most the step limits, scheduled `lead_minutes`
//! before the hour, and applied only when the forecast's confidence clears the gate.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::forecast::ForecastPoint as Point;

/// Which value of the forecast to provision for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quantile {
    Expected,
    /// The upper bound of the 80% interval: demand exceeds it one hour in ten.
    #[default]
    Upper80,
    Upper95,
}

/// A target's capacity model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    /// Requests one instance serves per second at the target utilization.
    pub requests_per_instance_per_second: f64,
    pub min: u32,
    pub max: u32,
    pub max_step_up: u32,
    pub max_step_down: u32,
    /// How long before the hour the change must land (cold starts).
    pub lead_minutes: u32,
    /// Scale in only to the highest target of this many minutes before.
    pub scale_in_stabilization_minutes: u32,
    pub quantile: Quantile,
    /// Apply only when the forecast's confidence is at least this.
    pub confidence_threshold: f64,
    /// Pre-scaling stages ahead of registered events.
    pub event_stages: Vec<EventStage>,
}

/// One pre-scaling stage: from `hours_before` an event's start until its end, provision at least
/// `share` of the event's peak need (the seed's concert plan: half the day before, all of it two
/// hours before). The event's peak must be inside the forecast horizon, so a 24-hour stage needs
/// a horizon beyond 24 hours.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventStage {
    pub hours_before: u32,
    pub share: f64,
}

/// A registered event as the recommendation sees it: its name and its hours.
#[derive(Debug, Clone, PartialEq)]
pub struct EventWindow {
    pub name: String,
    pub start: crate::domain::Hour,
    /// The last hour of the event (inclusive).
    pub end: crate::domain::Hour,
}

impl From<&crate::domain::SpecialEvent> for EventWindow {
    fn from(e: &crate::domain::SpecialEvent) -> Self {
        let (start, end) = e.hours();
        Self {
            name: e.name.clone(),
            start,
            end,
        }
    }
}

/// Why a recommendation is published but not applied.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum HoldReason {
    LowConfidence { confidence: f64, threshold: f64 },
}

/// Apply, or hold with the reason.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Apply,
    Hold(HoldReason),
}

/// One hour's recommendation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub hour: crate::domain::Hour,
    /// When the change must be made: `lead_minutes` before the hour.
    pub apply_at: DateTime<Utc>,
    /// What the forecast alone asks for, before limits, floor, stabilization and steps.
    pub needed: u32,
    /// What to set.
    pub instances: u32,
    pub confidence: f64,
    /// What widened the forecast's band and lowered its confidence (see
    /// [`Doubts`](crate::forecast::confidence::Doubts)): with a hold, its causes.
    pub doubts: crate::forecast::confidence::Doubts,
    pub decision: Decision,
    /// The event stage that raised the need, if one did (`concert: 24 h before`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
}

/// Instances that serve `demand_per_hour` requests at the target utilization (rounded up).
pub fn instances_for(demand_per_hour: f64, cap: &Capacity) -> u32 {
    let per_second = demand_per_hour.max(0.0) / 3600.0;
    let n = (per_second / cap.requests_per_instance_per_second.max(1e-9)).ceil();
    if n.is_finite() {
        n.min(f64::from(u32::MAX)) as u32
    } else {
        u32::MAX
    }
}

fn demand_of(p: &Point, q: Quantile) -> f64 {
    match q {
        Quantile::Expected => p.expected,
        Quantile::Upper80 => p.upper80,
        Quantile::Upper95 => p.upper95,
    }
}

/// Per point, the highest event-stage floor over it and the stage that set it. An event's peak
/// need is the most any forecast hour inside it needs; events whose hours are all beyond the
/// forecast add nothing yet.
pub fn stage_floors(
    points: &[Point],
    cap: &Capacity,
    events: &[EventWindow],
) -> Vec<(u32, Option<String>)> {
    let mut out = vec![(0u32, None); points.len()];
    for e in events {
        let peak = points
            .iter()
            .filter(|p| p.hour >= e.start && p.hour <= e.end)
            .map(|p| instances_for(demand_of(p, cap.quantile), cap))
            .max();
        let Some(peak) = peak else { continue };
        for s in &cap.event_stages {
            let from = e.start.plus(-i64::from(s.hours_before));
            let floor = (f64::from(peak) * s.share).ceil().min(f64::from(u32::MAX)) as u32;
            for (p, slot) in points.iter().zip(out.iter_mut()) {
                if p.hour >= from && p.hour <= e.end && floor > slot.0 {
                    *slot = (
                        floor,
                        Some(format!("{}: {} h before", e.name, s.hours_before)),
                    );
                }
            }
        }
    }
    out
}

/// The recommendation state machine, one forecast hour at a time: the state applied so far and
/// the desired values of earlier hours (the scale-in stabilization window holds what was asked
/// for, not what the window itself made of it, or one peak would hold capacity up forever).
#[derive(Debug, Clone)]
pub struct Planner<'a> {
    cap: &'a Capacity,
    current: u32,
    history: Vec<(DateTime<Utc>, u32)>,
}

impl<'a> Planner<'a> {
    /// Starts from `current` (clamped to the limits).
    pub fn new(cap: &'a Capacity, current: u32) -> Self {
        let (lo, hi) = (cap.min.min(cap.max), cap.max.max(cap.min));
        Self {
            cap,
            current: current.clamp(lo, hi),
            history: Vec::new(),
        }
    }

    /// The value applied so far.
    pub fn current(&self) -> u32 {
        self.current
    }

    /// The recommendation for point `p`. `reactive_floor` is what the last observed hour needed;
    /// `stage` an event stage's floor and its name.
    pub fn step(
        &mut self,
        p: &Point,
        reactive_floor: u32,
        stage: (u32, Option<String>),
    ) -> Recommendation {
        let cap = self.cap;
        let (lo, hi) = (cap.min.min(cap.max), cap.max.max(cap.min));
        let (floor, stage) = stage;
        let forecast = instances_for(demand_of(p, cap.quantile), cap);
        let needed = forecast.max(floor);
        let stage = stage.filter(|_| floor > forecast);
        let apply_at = p.hour.to_utc() - Duration::minutes(i64::from(cap.lead_minutes));
        let desired = needed.clamp(lo, hi);
        let current = self.current;
        let mut target = desired;
        if target < current {
            target = target.max(reactive_floor.clamp(lo, hi));
            // Stabilization: no lower than the highest desired value of the window before.
            let window = Duration::minutes(i64::from(cap.scale_in_stabilization_minutes));
            let recent = self
                .history
                .iter()
                .filter(|(t, _)| apply_at - *t < window)
                .map(|(_, n)| *n)
                .max();
            target = target.max(recent.unwrap_or(target).min(current));
        }
        self.history.push((apply_at, desired));
        // Only the window matters: keep the history short.
        let window = Duration::minutes(i64::from(cap.scale_in_stabilization_minutes));
        self.history.retain(|(t, _)| apply_at - *t < window);
        let stepped = if target > current {
            target.min(current.saturating_add(cap.max_step_up.max(1)))
        } else {
            target.max(current.saturating_sub(cap.max_step_down.max(1)))
        };
        let decision = super::policy::gate(p.confidence, cap.confidence_threshold);
        if decision == Decision::Apply {
            self.current = stepped;
        }
        Recommendation {
            hour: p.hour,
            apply_at,
            needed,
            instances: stepped,
            confidence: p.confidence,
            doubts: p.doubts,
            decision,
            stage,
        }
    }
}

/// Recommendations for `points` in order, starting from `current` instances. `reactive_floor`
/// is what the last observed hour needed: a forecast alone never scales in below it. `events`
/// pre-scale by the capacity's stages.
pub fn recommend(
    points: &[Point],
    cap: &Capacity,
    current: u32,
    reactive_floor: u32,
    events: &[EventWindow],
) -> Vec<Recommendation> {
    let floors = stage_floors(points, cap, events);
    let mut planner = Planner::new(cap, current);
    points
        .iter()
        .zip(floors)
        .map(|(p, stage)| planner.step(p, reactive_floor, stage))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Hour;
    use proptest::prelude::*;

    fn cap() -> Capacity {
        Capacity {
            requests_per_instance_per_second: 40.0,
            min: 2,
            max: 500,
            max_step_up: 50,
            max_step_down: 10,
            lead_minutes: 10,
            scale_in_stabilization_minutes: 120,
            quantile: Quantile::Upper80,
            confidence_threshold: 0.8,
            event_stages: vec![
                EventStage {
                    hours_before: 24,
                    share: 0.5,
                },
                EventStage {
                    hours_before: 2,
                    share: 1.0,
                },
            ],
        }
    }

    fn point(i: i64, upper80: f64, confidence: f64) -> Point {
        Point {
            hour: Hour::from_unix(1_785_207_600 + 3600 * i).unwrap(),
            expected: upper80 * 0.8,
            lower80: 0.0,
            upper80,
            lower95: 0.0,
            upper95: upper80 * 1.2,
            confidence,
            doubts: Default::default(),
        }
    }

    #[test]
    fn capacity_rounds_up_and_respects_the_limits() {
        // 144,001 requests in the hour = 40.0003 req/s: two instances of 40 req/s.
        assert_eq!(instances_for(144_001.0, &cap()), 2);
        assert_eq!(instances_for(144_000.0, &cap()), 1);
        let r = recommend(&[point(0, 10.0, 0.9)], &cap(), 2, 0, &[]);
        assert_eq!((r[0].needed, r[0].instances), (1, 2), "never below min");
        let r = recommend(
            &[point(0, 1e12, 0.9)],
            &Capacity {
                max_step_up: 10_000,
                ..cap()
            },
            2,
            0,
            &[],
        );
        assert_eq!(r[0].instances, 500, "never above max");
    }

    #[test]
    fn a_change_lands_lead_minutes_before_its_hour() {
        let r = recommend(&[point(0, 1.0e6, 0.9)], &cap(), 2, 0, &[]);
        assert_eq!(r[0].apply_at, r[0].hour.to_utc() - Duration::minutes(10));
    }

    #[test]
    fn low_confidence_is_published_as_a_hold_and_changes_nothing() {
        let r = recommend(
            &[point(0, 1.0e6, 0.5), point(1, 1.0e6, 0.95)],
            &cap(),
            2,
            0,
            &[],
        );
        assert_eq!(
            r[0].decision,
            Decision::Hold(HoldReason::LowConfidence {
                confidence: 0.5,
                threshold: 0.8
            })
        );
        assert_eq!(
            r[0].instances, 7,
            "what it would do: 1e6 requests/h = 277.8 req/s = 7 instances of 40"
        );
        assert_eq!(r[1].decision, Decision::Apply);
        assert_eq!(
            r[1].instances, 7,
            "the hold changed nothing: the next step starts from 2 again"
        );
    }

    #[test]
    fn scale_in_waits_for_the_stabilization_window_and_the_reactive_floor() {
        // Peak of 200 instances, then quiet hours: scale-in is held while the peak is inside the
        // two-hour window, then steps down by at most 10 an hour.
        let big = 200.0 * 40.0 * 3600.0;
        let pts: Vec<Point> = (0..6)
            .map(|i| point(i, if i == 0 { big } else { 10.0 }, 0.9))
            .collect();
        let r = recommend(
            &pts,
            &Capacity {
                max_step_up: 1000,
                ..cap()
            },
            2,
            0,
            &[],
        );
        let n: Vec<u32> = r.iter().map(|x| x.instances).collect();
        assert_eq!(n, vec![200, 200, 190, 180, 170, 160], "{n:?}");
        let floored = recommend(
            &pts,
            &Capacity {
                max_step_up: 1000,
                scale_in_stabilization_minutes: 0,
                ..cap()
            },
            2,
            185,
            &[],
        );
        assert!(
            floored.iter().skip(1).all(|x| x.instances >= 185),
            "never below the reactive floor"
        );
    }

    #[test]
    fn events_pre_scale_in_stages_ahead_of_their_start() {
        // 30 quiet hours (2 instances each) with a concert at hours 26-27 that needs 100: half
        // of it from 24 h before (hour 2), all of it from 2 h before (hour 24), through its end.
        let need = |n: f64| n * 40.0 * 3600.0;
        let pts: Vec<Point> = (0..30)
            .map(|i| {
                point(
                    i,
                    if (26..=27).contains(&i) {
                        need(100.0)
                    } else {
                        need(2.0)
                    },
                    0.9,
                )
            })
            .collect();
        let concert = EventWindow {
            name: "concert".into(),
            start: pts[26].hour,
            end: pts[27].hour,
        };
        let c = Capacity {
            scale_in_stabilization_minutes: 0,
            max_step_down: 1000,
            ..cap()
        };
        let r = recommend(&pts, &c, 2, 0, std::slice::from_ref(&concert));
        let n: Vec<u32> = r.iter().map(|x| x.instances).collect();
        assert_eq!(&n[..2], &[2, 2], "{n:?}");
        assert!(n[2..24].iter().all(|&x| x == 50), "{n:?}");
        assert_eq!(&n[24..28], &[100, 100, 100, 100], "{n:?}");
        assert_eq!(n[28], 2, "{n:?}");
        assert_eq!(r[2].stage.as_deref(), Some("concert: 24 h before"));
        assert_eq!(r[25].stage.as_deref(), Some("concert: 2 h before"));
        assert_eq!(r[26].stage, None, "the forecast itself asks for the peak");
        // Without the event in the horizon, nothing is raised.
        let r = recommend(&pts[..20], &c, 2, 0, std::slice::from_ref(&concert));
        assert!(r.iter().all(|x| x.instances == 2));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn recommendations_stay_within_limits_and_steps(
            demands in proptest::collection::vec(0.0f64..5.0e7, 1..48),
            confidences in proptest::collection::vec(0.0f64..1.0, 48),
            min in 0u32..20, span in 0u32..600, up in 1u32..100, down in 1u32..100, start in 0u32..1000, floor in 0u32..700,
        ) {
            let c = Capacity { min, max: min + span, max_step_up: up, max_step_down: down, ..cap() };
            let pts: Vec<Point> = demands.iter().zip(&confidences).enumerate().map(|(i, (d, k))| point(i as i64, *d, *k)).collect();
            let mut current = start.clamp(c.min, c.max);
            for r in recommend(&pts, &c, start, floor, &[]) {
                prop_assert!(r.instances >= c.min && r.instances <= c.max);
                prop_assert!(r.instances <= current + up && r.instances + down >= current, "{} from {current}", r.instances);
                if r.decision == Decision::Apply {
                    current = r.instances;
                }
            }
        }
    }
}
