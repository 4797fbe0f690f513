//! `prescale bench`: throughput of training at scale, on synthetic hourly series shaped like the
//! Lima platform's demand (morning and evening peaks, Friday and Saturday nights, Peru's
//! holidays, noise). Each worker generates, trains and drops one series at a time, so memory is
//! bounded by the number of workers, not of series.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde::Serialize;

use crate::domain::{Calendar, CalendarName, Hour, TimeZone};
use crate::forecast::features::Windows;
use crate::forecast::frame::Frame;
use crate::forecast::models::{Model, ModelSpec};
use crate::forecast::trainer::{TrainOptions, train};

/// What the benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct TrainBench {
    pub series: usize,
    pub hours_per_series: usize,
    pub workers: usize,
    pub wall_seconds: f64,
    pub series_per_second: f64,
    pub peak_rss_mib: Option<f64>,
    pub chosen: Vec<(String, usize)>,
}

/// A uniform draw in (0, 1) from a 64-bit linear congruential generator (Knuth's MMIX
/// constants): reproducible synthetic data without a random-number crate.
pub fn uniform(state: &mut u64) -> f64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A standard normal draw (Box–Muller) from the same generator, for simulations in tests.
pub fn normal(state: &mut u64) -> f64 {
    let (a, b) = (uniform(state), uniform(state));
    (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
}

/// One synthetic series: a level, a daily and weekly shape in Lima time, holidays, noise.
pub fn synthetic(seed: u64, hours: usize, calendar: &Calendar) -> Frame {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let level = 50.0 * (1.0 + 99.0 * uniform(&mut s));
    let noise = 0.05 + 0.1 * uniform(&mut s);
    let start = Hour::from_unix(1_704_067_200).expect("2024-01-01T00:00Z is an hour");
    let frame0 = Frame::from_parts("bench", start, vec![0.0; hours], calendar, Vec::new(), &[]);
    let y = frame0
        .local
        .iter()
        .map(|l| {
            let h = f64::from(l.hour);
            let peak = |c: f64, w: f64| (-((h - c) / w).powi(2)).exp();
            let mut shape = 0.25 + 2.5 * peak(7.5, 1.5) + 3.0 * peak(19.5, 2.0);
            if matches!(l.weekday, 4 | 5) && (l.hour >= 20 || l.hour <= 2) {
                shape *= 1.8;
            }
            if l.holiday {
                shape *= 0.7;
            }
            let eps = noise * (2.0 * uniform(&mut s) - 1.0) * 1.7;
            (level * shape * (1.0 + eps)).max(0.0).round()
        })
        .collect();
    Frame { y, ..frame0 }
}

/// What the tally of [`train_bench`] counts a model as: its kind (`combination`, `direct`, ...),
/// and whether it serves with the last hour's correction.
fn family(m: &Model) -> String {
    match m {
        Model::Corrected(c) => format!("{} + last hour's correction", family(&c.inner)),
        other => other.name().split('(').next().unwrap_or("").to_owned(),
    }
}

/// The peak resident memory of this process, from /proc (Linux).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}

/// Trains `series` synthetic series of `hours` hours each on `workers` threads.
pub fn train_bench(
    series: usize,
    hours: usize,
    workers: usize,
    on_done: &(dyn Fn(usize) + Sync),
) -> TrainBench {
    let calendar = Calendar::new(TimeZone::LIMA, CalendarName::Pe, []);
    let specs = ModelSpec::candidates();
    let opts = TrainOptions::default();
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let started = Instant::now();
    let mut chosen: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers.max(1))
            .map(|_| {
                scope.spawn(|| {
                    let mut names = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= series {
                            return names;
                        }
                        let frame = synthetic(i as u64 + 1, hours, &calendar);
                        let w = Windows::of(&frame);
                        let t = train(&frame, &w, frame.len(), &specs, &opts);
                        names.push(family(&t.model));
                        on_done(done.fetch_add(1, Ordering::Relaxed) + 1);
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a bench worker panicked"))
            .collect()
    });
    let wall = started.elapsed().as_secs_f64();
    chosen.sort();
    let mut counts: Vec<(String, usize)> = Vec::new();
    for c in chosen {
        match counts.last_mut() {
            Some((name, n)) if *name == c => *n += 1,
            _ => counts.push((c, 1)),
        }
    }
    TrainBench {
        series,
        hours_per_series: hours,
        workers,
        wall_seconds: wall,
        series_per_second: series as f64 / wall,
        peak_rss_mib: peak_rss_mib(),
        chosen: counts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_series_peak_in_the_evening_and_dip_on_holidays() {
        let cal = Calendar::new(TimeZone::LIMA, CalendarName::Pe, []);
        let f = synthetic(3, 24 * 60, &cal);
        let mean_at = |hour: u8| {
            let v: Vec<f64> = f
                .local
                .iter()
                .zip(&f.y)
                .filter(|(l, _)| l.hour == hour && !l.holiday)
                .map(|(_, y)| *y)
                .collect();
            v.iter().sum::<f64>() / v.len() as f64
        };
        assert!(mean_at(19) > 5.0 * mean_at(3));
        assert!(f.y.iter().all(|v| *v >= 0.0));
    }
}

/// What the publish benchmark measured.
#[derive(Debug, Clone, Serialize)]
pub struct PublishBench {
    pub series: usize,
    pub hours_per_series: usize,
    pub model_age_hours: usize,
    pub setup_seconds: f64,
    pub train_seconds: f64,
    pub publish_seconds: f64,
    pub published: usize,
    /// Pruning after the cycle by `[retention]` (the backlog of the published hours), then an
    /// hour later (the leader's hourly cost in steady state).
    pub prune_seconds: f64,
    pub pruned_rows: u64,
    pub next_prune_seconds: f64,
}

/// Creates `series` synthetic series of `hours` hours ending at the current hour in a fresh
/// store, trains them on all but their last `age` hours (which arrive after training, so that
/// every forecast recalibrates its model on them, as between weekly retrains), stores hourly
/// publications of 24 hours for the last `published` hours (each point 5% above what came, with
/// ±10% and ±20% bands), then times one publish cycle over all of them, and the pruning after
/// it.
///
/// # Errors
/// When the store fails or a series does not train.
pub async fn publish_bench(
    settings: &crate::config::Settings,
    series: usize,
    hours: usize,
    published: usize,
    age: usize,
) -> anyhow::Result<PublishBench> {
    use crate::domain::{Demand, Observation, Series, SeriesId};
    use crate::store::{ImportBatch, Store};
    anyhow::ensure!(
        age + 24 * 28 <= hours,
        "models {age} h old need at least 4 weeks of training history before them: {hours} h"
    );
    let store = Store::open(&settings.database_url).await?;
    anyhow::ensure!(
        store.all_series().await?.is_empty(),
        "the benchmark needs a database without series: {} has some",
        settings.database_url
    );
    let calendar = Calendar::new(TimeZone::LIMA, CalendarName::Pe, []);
    let now = Hour::containing(chrono::Utc::now());
    let started = Instant::now();
    let mut ids = Vec::with_capacity(series);
    let mut frames = Vec::with_capacity(series);
    let mut batches = Vec::with_capacity(series);
    for i in 0..series {
        let id = SeriesId::parse(&format!("bench-{i:05}"))?;
        let frame = synthetic(i as u64 + 1, hours, &calendar);
        let first = now.plus(-(hours as i64));
        let observations: Vec<Observation> = frame
            .y
            .iter()
            .enumerate()
            .map(|(k, y)| Observation {
                hour: first.plus(k as i64),
                demand: Demand::new(*y).expect("synthetic demand is >= 0"),
            })
            .collect();
        let s = Series {
            id: id.clone(),
            time_zone: TimeZone::LIMA,
            calendar: CalendarName::Pe,
            unit: "trips".into(),
            tolerance: crate::domain::Tolerance::DEFAULT,
            weather_location: id.to_string(),
            created_at: chrono::Utc::now(),
        };
        // What training sees, then what arrives after it.
        let trained = hours - age;
        let mut later = observations;
        let seen: Vec<Observation> = later.drain(..trained).collect();
        let batch = |observations: Vec<Observation>, from: Hour, to: Hour| ImportBatch {
            series: s.clone(),
            source: "bench".into(),
            rows_read: observations.len() as u64,
            hours: observations.len() as u64,
            inserted: observations.len() as u64,
            updated: 0,
            first_hour: from,
            last_hour: to,
            observations,
            weather: Vec::new(),
            holidays: Vec::new(),
        };
        store
            .import(&batch(seen, first, first.plus(trained as i64 - 1)))
            .await?;
        batches.push(batch(later, first.plus(trained as i64), now.plus(-1)));
        ids.push(id);
        frames.push(frame.y);
    }
    let mut setup_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let workers = std::thread::available_parallelism().map_or(2, usize::from);
    let trained =
        crate::jobs::retrain::retrain_many(&store, settings, &ids, workers, &mut |_, _| {}).await;
    if let Some((id, Err(e))) = trained.iter().find(|(_, r)| r.is_err()) {
        anyhow::bail!("training {id} failed: {e:#}");
    }
    let train_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    for b in batches {
        if !b.observations.is_empty() {
            store.import(&b).await?;
        }
    }
    let first = now.plus(-(hours as i64));
    for (id, y) in ids.iter().zip(&frames) {
        for back in (1..=published.min(hours)).rev() {
            let issued_at = now.plus(-(back as i64));
            let points: Vec<crate::store::PublishedPoint> = (0..24)
                .map(|lead| {
                    let hour = issued_at.plus(lead);
                    let k = usize::try_from(first.hours_until(hour)).unwrap_or(0);
                    let e = 1.05 * y.get(k).copied().unwrap_or(y[y.len() - 1]);
                    crate::store::PublishedPoint {
                        issued_at,
                        model_version: 1,
                        lead: lead + 1,
                        point: crate::forecast::ForecastPoint {
                            hour,
                            expected: e,
                            lower80: 0.9 * e,
                            upper80: 1.1 * e,
                            lower95: 0.8 * e,
                            upper95: 1.2 * e,
                            confidence: 0.8,
                            doubts: Default::default(),
                        },
                    }
                })
                .collect();
            store.publish(id, &points).await?;
        }
    }
    setup_seconds += started.elapsed().as_secs_f64();
    let report = crate::jobs::serving::publish_once(&store, settings, now, 24, workers * 2).await?;
    let clock = now.to_utc() + chrono::Duration::minutes(5);
    let pruned = crate::jobs::retention::prune(&store, settings, clock).await?;
    let next =
        crate::jobs::retention::prune(&store, settings, clock + chrono::Duration::hours(1)).await?;
    store.close().await;
    Ok(PublishBench {
        series,
        hours_per_series: hours,
        model_age_hours: age,
        setup_seconds,
        train_seconds,
        publish_seconds: report.seconds,
        published: report.published.len(),
        prune_seconds: pruned.seconds,
        pruned_rows: pruned.tables().iter().map(|(_, n)| n).sum(),
        next_prune_seconds: next.seconds,
    })
}
