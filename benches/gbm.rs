//! Fit time of the two gradient-boosting candidates (`boosted`, `direct`) on a year of the
//! synthetic series `prescale bench train` uses: the learner that dominates training at scale.
//! Prints the fastest and the median of repeated fits, and a digest of every fitted model (its
//! JSON), so a change meant to be exact can be checked to leave the models byte for byte equal.
//! Run with `cargo bench --bench gbm [-- REPEATS]`.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::Instant;

use prescale::bench::synthetic;
use prescale::domain::{Calendar, CalendarName, TimeZone};
use prescale::forecast::features::Windows;
use prescale::forecast::models::ModelSpec;

fn main() {
    let repeats: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(7);
    let calendar = Calendar::new(TimeZone::LIMA, CalendarName::Pe, []);
    let frames: Vec<_> = (1..=3)
        .map(|seed| synthetic(seed, 24 * 365, &calendar))
        .collect();
    let windows: Vec<_> = frames.iter().map(Windows::of).collect();
    for spec in ModelSpec::candidates()
        .into_iter()
        .filter(|s| matches!(s, ModelSpec::Boosted { .. } | ModelSpec::Direct { .. }))
    {
        let mut times = Vec::with_capacity(repeats);
        let mut digest = DefaultHasher::new();
        for r in 0..repeats {
            let started = Instant::now();
            let models: Vec<_> = frames
                .iter()
                .zip(&windows)
                .map(|(f, w)| spec.fit(f, w, f.len()))
                .collect();
            times.push(started.elapsed().as_secs_f64() * 1e3 / frames.len() as f64);
            if r == 0 {
                for m in &models {
                    serde_json::to_string(m).unwrap().hash(&mut digest);
                }
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{:8} fit on 8760 h: fastest {:6.2} ms, median {:6.2} ms ({} x {} series); models digest {:016x}",
            spec.name(),
            times[0],
            times[times.len() / 2],
            repeats,
            frames.len(),
            digest.finish()
        );
    }
}
