//! A series' stored history as a forecasting frame: observations on the UTC grid, its calendar
//! (built-in, imported and configured holidays), observed weather (forecast weather for hours
//! not yet observed) and its events, optionally extended by future hours to forecast.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};

use crate::config::Settings;
use crate::domain::{Calendar, Hour, Series, WeatherKind, WeatherVariable};
use crate::forecast::Frame;
use crate::forecast::frame::Exog;
use crate::store::Store;

/// The frame of a series from its first observation (or the last `keep_hours` hours) to `last`
/// (default: its last observation) plus `ahead` future hours. Returns the frame and the
/// position of the first hour after `last`.
///
/// # Errors
/// A series without observations, or a store failure.
pub async fn load(
    store: &Store,
    settings: &Settings,
    series: &Series,
    last: Option<Hour>,
    ahead: usize,
    keep_hours: Option<usize>,
) -> Result<(Frame, usize)> {
    let obs = match (last, keep_hours) {
        (Some(l), Some(k)) => {
            store
                .observations(&series.id, l.plus(1 - k as i64), l)
                .await?
        }
        _ => store.all_observations(&series.id).await?,
    };
    let obs = match (last, keep_hours) {
        // By time, not by count: a sparse series' stray old hour must not stretch the frame.
        (None, Some(k)) => {
            let cut = obs.last().map_or(0, |o| o.hour.unix()) - 3600 * (k as i64 - 1);
            obs.into_iter().filter(|o| o.hour.unix() >= cut).collect()
        }
        _ => obs,
    };
    let (Some(first), Some(stored_last)) =
        (obs.first().map(|o| o.hour), obs.last().map(|o| o.hour))
    else {
        anyhow::bail!(
            "series {} has no observations: import some first",
            series.id
        );
    };
    let last = last.unwrap_or(stored_last);
    anyhow::ensure!(
        last >= first,
        "series {}: {last} is before its first observation {first}",
        series.id
    );
    let origin = (first.hours_until(last) + 1) as usize;
    let n = origin + ahead;
    let mut y = vec![f64::NAN; n];
    for o in obs.iter().filter(|o| o.hour <= last) {
        y[first.hours_until(o.hour) as usize] = o.demand.get();
    }
    let end = first.plus(n as i64 - 1);
    let mut by_var: BTreeMap<WeatherVariable, Vec<Option<f64>>> = BTreeMap::new();
    let observed = store
        .weather(&series.weather_location, first, last, WeatherKind::Observed)
        .await?;
    let issued = Hour::containing(chrono::Utc::now()).max(last.plus(1));
    let forecast = store
        .weather(
            &series.weather_location,
            last.plus(1),
            end,
            WeatherKind::Forecast { issued },
        )
        .await?;
    let names: BTreeSet<WeatherVariable> = observed
        .iter()
        .flat_map(|w| w.values.keys().cloned())
        .collect();
    for w in observed.iter().chain(forecast.iter()) {
        let i = first.hours_until(w.hour) as usize;
        for (var, value) in &w.values {
            if names.contains(var) {
                by_var.entry(var.clone()).or_insert_with(|| vec![None; n])[i] = Some(*value);
            }
        }
    }
    let exog = by_var
        .iter()
        .map(|(name, values)| Exog::from_values(name.as_str(), values))
        .collect();
    let mut custom = store.custom_holidays(&series.id).await?;
    custom.extend(settings.holidays_of(&series.id));
    let calendar = Calendar::new(series.time_zone, series.calendar, custom);
    let events = store
        .events(Some(&series.id))
        .await
        .with_context(|| format!("loading events of {}", series.id))?;
    Ok((
        Frame::from_parts(series.id.as_str(), first, y, &calendar, exog, &events),
        origin,
    ))
}
