//! From forecasts to capacity: how many instances (or how much cache, how high a rate limit) each
//! forecast hour needs, and whether to apply that ahead of time. [`recommend`](mod@recommend) and [`policy`] are
//! pure; [`actuators`] talk to the clouds, [`cycle`] runs one hour of it against the store.

pub mod actuators;
pub mod cycle;
pub mod patterns;
pub mod policy;
pub mod recommend;
pub mod safety;
pub mod targets;

pub use recommend::{
    Capacity, Decision, EventStage, EventWindow, HoldReason, Quantile, Recommendation, recommend,
};
pub use targets::{Kind, Target};
