//! Work that touches the store and the registry: loading a series' history as a frame,
//! retraining with champion/challenger, forecasting with the champion. Scheduling (cron, the
//! hourly serving loop) builds on these.

pub mod history;
pub mod predict;
pub mod retention;
pub mod retrain;
pub mod serving;
