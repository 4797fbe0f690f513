//! For analysts and planners: accuracy reports with SVG charts ([`report`]), what-if replay of
//! scaling policies ([`simulate`], run on a trace by [`replay`]).

pub mod capacity;
pub mod replay;
pub mod report;
pub mod report_cmd;
pub mod simulate;
pub mod svg;
