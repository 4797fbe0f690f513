//! prescale's integration tests: one binary, real databases. Each `on_each_backend!` test runs
//! once on SQLite and once on PostgreSQL (skipped with a printed reason when PostgreSQL is not
//! reachable locally; a failure under CI=true).

mod fakes;
mod helpers;

mod actuators;
mod api;
mod backtest;
mod cli;
mod datasets;
mod events;
mod import;
mod replicas;
mod report;
mod retention;
mod scaling;
mod serving;
mod train;
