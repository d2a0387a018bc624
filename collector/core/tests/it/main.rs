//! Integration tests of the collector core: configuration errors, pipelines end to end,
//! back-pressure, drop policy, retries, shutdown deadlines and self-telemetry.

mod config;
mod pipeline;
mod support;
mod telemetry;
