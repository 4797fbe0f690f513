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
pub use models::{Model, ModelSpec};
