//! The forecast-miss safety net. The running hour's partial counts, as they arrive, project the
//! hour's demand (count so far ÷ share of the hour elapsed). When the projection passes the
//! published upper 95% bound, or the rate of the last 5 minutes is more than three times that
//! of the 5 minutes before (a rise of more than 200%, the seed's spike alert), prescale raises
//! an alert (log, metric, the series' webhook targets), scales every other target of the series
//! up at once for the projected demand, bypassing the gate (bounded by max), and lowers the
//! series' confidence until the model is retrained.

use serde::Serialize;
use serde_json::json;

use super::actuators::{self, Context, Note};
use super::recommend::instances_for;
use super::targets::Kind;
use crate::config::Settings;
use crate::domain::{Hour, SeriesId};
use crate::store::Store;

/// Readings younger than this into the hour project too noisily.
const MIN_ELAPSED_MS: i64 = 5 * 60_000;
const SPIKE_WINDOW_MS: i64 = 5 * 60_000;
/// Confidence is multiplied by this after a miss, until the next champion.
pub const PENALTY: f64 = 0.5;

/// A detected miss.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Miss {
    pub series: String,
    pub hour: Hour,
    /// `above_upper95` or `spike`.
    pub kind: String,
    /// The hour's demand projected from the readings.
    pub projected: f64,
    pub upper95: f64,
    pub detail: String,
}

/// The cumulative count at `t` (linear between readings), if `t` is inside them.
fn count_at(readings: &[(i64, f64)], t: i64) -> Option<f64> {
    let after = readings.iter().position(|(at, _)| *at >= t)?;
    let (t1, c1) = readings[after];
    if t1 == t || after == 0 {
        return (t1 == t).then_some(c1);
    }
    let (t0, c0) = readings[after - 1];
    Some(c0 + (c1 - c0) * (t - t0) as f64 / (t1 - t0) as f64)
}

/// Checks one hour's readings (`(at_ms, count so far)`, oldest first) against the published
/// point's upper 95% bound. Pure.
pub fn check(series: &str, hour: Hour, readings: &[(i64, f64)], upper95: f64) -> Option<Miss> {
    let &(last_at, last) = readings.last()?;
    let start = hour.unix() * 1000;
    let elapsed = (last_at - start).clamp(0, 3_600_000);
    if elapsed < MIN_ELAPSED_MS {
        return None;
    }
    let projected = last * 3_600_000.0 / elapsed as f64;
    let miss = |kind: &str, detail: String| Miss {
        series: series.to_owned(),
        hour,
        kind: kind.to_owned(),
        projected,
        upper95,
        detail,
    };
    if projected > upper95 {
        return Some(miss(
            "above_upper95",
            format!(
                "{last:.0} so far projects {projected:.0} for the hour, above the upper 95% bound {upper95:.0}"
            ),
        ));
    }
    let recent = count_at(readings, last_at - SPIKE_WINDOW_MS).map(|c| last - c);
    let before = count_at(readings, last_at - SPIKE_WINDOW_MS)
        .zip(count_at(readings, last_at - 2 * SPIKE_WINDOW_MS))
        .map(|(b, a)| b - a);
    if let (Some(r), Some(b)) = (recent, before)
        && b > 0.0
        && r > 3.0 * b
    {
        return Some(miss(
            "spike",
            format!(
                "{r:.0} in the last 5 minutes after {b:.0} in the 5 before: +{:.0}%",
                (r / b - 1.0) * 100.0
            ),
        ));
    }
    None
}

/// What the safety net did for a miss.
#[derive(Debug, Clone, Serialize)]
pub struct Response {
    pub miss: Miss,
    pub actions: Vec<crate::store::ActionRecord>,
    pub alerts: Vec<String>,
}

/// Checks the running hour of `id` and responds to a miss, once per series and hour.
///
/// # Errors
/// When the store fails.
pub async fn check_series(
    store: &Store,
    settings: &Settings,
    ctx: &Context,
    id: &SeriesId,
    hour: Hour,
    metrics: Option<&crate::api::Metrics>,
) -> anyhow::Result<Option<Response>> {
    let readings = store.partial_readings(id, hour).await?;
    if readings.is_empty() {
        return Ok(None);
    }
    let Some(point) = store
        .published_between(id, hour, hour)
        .await?
        .into_iter()
        .max_by_key(|p| p.issued_at)
    else {
        return Ok(None);
    };
    let Some(miss) = check(id.as_str(), hour, &readings, point.point.upper95) else {
        return Ok(None);
    };
    // Once per series and hour: the penalty records the hour it answered.
    if store
        .penalty(id)
        .await?
        .is_some_and(|p| p.miss_hour == hour)
    {
        return Ok(None);
    }
    tracing::warn!(series = %id, %hour, kind = %miss.kind, detail = %miss.detail, "forecast miss");
    if let Some(m) = metrics {
        m.add(
            "prescale_forecast_miss_total",
            &format!("{{series=\"{id}\",kind=\"{}\"}}", miss.kind),
            1.0,
        );
    }
    let mut response = Response {
        miss: miss.clone(),
        actions: Vec::new(),
        alerts: Vec::new(),
    };
    let note = Note {
        series: id.to_string(),
        hour,
        expected_rps: miss.projected / 3600.0,
        lower_rps: miss.projected / 3600.0,
        upper_rps: miss.projected / 3600.0,
        confidence: point.point.confidence * PENALTY,
        model_version: Some(point.model_version),
        cause: "safety_net".into(),
    };
    for t in settings.targets.iter().filter(|t| &t.series == id) {
        match t.kind {
            Kind::Webhook => {
                let body = json!({
                    "type": "prescale.alert.v1",
                    "series": id.as_str(),
                    "hour": hour,
                    "miss": miss,
                });
                let key = format!("alert_{}_{}_{}", t.name, id, hour.unix());
                if t.apply {
                    let secret = t.secret.as_ref().map(|s| s.expose().to_owned());
                    let r = actuators::webhook::deliver(
                        ctx,
                        t.url.as_deref().unwrap_or_default(),
                        secret.as_deref(),
                        &key,
                        &body,
                        actuators::RetryPolicy::webhook().scaled(ctx.speedup),
                    )
                    .await;
                    response.alerts.push(match r {
                        Ok(s) => format!("{}: alert delivered ({s})", t.name),
                        Err(e) => format!("{}: alert failed: {e}", t.name),
                    });
                } else {
                    response
                        .alerts
                        .push(format!("{}: alert not sent (dry run)", t.name));
                }
            }
            Kind::CacheWarmup => {}
            _ => {
                let value = instances_for(miss.projected, &t.capacity());
                if let Some(a) = super::cycle::act_now(store, ctx, t, value, &note).await? {
                    response.actions.push(a);
                }
            }
        }
    }
    // Recorded last: a response cut short is made again at the next check.
    store
        .put_penalty(
            id,
            hour,
            PENALTY,
            &format!("{} at {hour}: {}", miss.kind, miss.detail),
        )
        .await?;
    Ok(Some(response))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour() -> Hour {
        Hour::from_unix(1_785_207_600).unwrap()
    }

    fn at(min: i64) -> i64 {
        hour().unix() * 1000 + min * 60_000
    }

    #[test]
    fn a_projection_above_the_upper_bound_is_a_miss() {
        // 600 in the first 15 minutes projects 2,400 for the hour.
        let m = check("s", hour(), &[(at(15), 600.0)], 2000.0).unwrap();
        assert_eq!(m.kind, "above_upper95");
        assert!((m.projected - 2400.0).abs() < 1e-9);
        assert!(check("s", hour(), &[(at(15), 600.0)], 2500.0).is_none());
        // Too early in the hour to project.
        assert!(check("s", hour(), &[(at(2), 600.0)], 100.0).is_none());
    }

    #[test]
    fn a_rise_of_more_than_200_percent_in_5_minutes_is_a_spike() {
        // 100 in minutes 10-15, then 350 in minutes 15-20 (+250%); projection stays below.
        let r = [(at(10), 300.0), (at(15), 400.0), (at(20), 750.0)];
        let m = check("s", hour(), &r, 10_000.0).unwrap();
        assert_eq!(m.kind, "spike", "{m:?}");
        // +150% is not a spike.
        let r = [(at(10), 300.0), (at(15), 400.0), (at(20), 650.0)];
        assert!(check("s", hour(), &r, 10_000.0).is_none());
    }
}
