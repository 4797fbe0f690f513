//! Forecasting: from a series' hourly grid ([`frame`]) to features, candidate models, the
//! trainer's choice by rolling-origin validation, calibrated intervals and confidence, and the
//! backtest protocol that measures all of it. Pure: no I/O, no clock.

pub mod backtest;
pub mod confidence;
pub mod features;
pub mod frame;
pub mod live;
pub mod metrics;
pub mod models;
pub mod registry;
pub mod trainer;

pub use frame::Frame;

use serde::{Deserialize, Serialize};

use crate::domain::Hour;

/// One forecast hour: expected demand, its 80% and 95% bounds, the confidence that demand
/// lands within the series' tolerance of it, and what made its band wider than its lead and
/// hour alone would (see [`Doubts`](confidence::Doubts)).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ForecastPoint {
    pub hour: Hour,
    pub expected: f64,
    pub lower80: f64,
    pub upper80: f64,
    pub lower95: f64,
    pub upper95: f64,
    pub confidence: f64,
    #[serde(default)]
    pub doubts: confidence::Doubts,
}
pub use models::{Model, ModelSpec};
