//! For analysts and planners: what-if replay of scaling policies ([`simulate`]).

pub mod replay;
pub mod simulate;
