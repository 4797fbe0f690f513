//! prescale: predictive autoscaling and demand forecasting for hourly service demand.
//!
//! ```text
//! observations ──▶ features ──▶ model ──▶ forecast ──▶ recommendation ──▶ actuation
//!   (import,        (calendar,    (trainer,   (intervals,   (capacity,          (Cloud Run,
//!    store)          weather,      registry)   confidence)   confidence gate)    caches, ...)
//!                    events, lags)
//! ```
//!
//! Code that decides is pure ([`domain`]); code that touches the world is a thin shell
//! ([`store`], [`import`], [`cli`]). Modules are listed in the order data flows through them.

pub mod analysis;
pub mod api;
pub mod bench;
pub mod cli;
pub mod config;
pub mod domain;
pub mod forecast;
pub mod import;
pub mod jobs;
pub mod scaling;
pub mod store;

/// Compile-time guard: shared handles must cross threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<store::Store>();
    send_sync::<domain::Calendar>();
    send_sync::<config::Settings>();
};
