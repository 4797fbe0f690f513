//! From forecasts to capacity: how many instances (or how much cache, how high a rate limit) each
//! forecast hour needs, and whether to apply that ahead of time. Pure: the policy and the state
//! are arguments; actuators (the shell) come separately.

pub mod recommend;

pub use recommend::{Capacity, Decision, HoldReason, Quantile, Recommendation, recommend};
