//! End-to-end tests of the `spider` binary: what a user runs, run as a user runs it.

mod architecture;
mod capture;
mod capture_memory;
mod capture_names;
mod cli;
mod cluster;
mod clusters;
mod demo;
mod deploy;
mod ebpf;
mod end_to_end;
mod examples;
mod generate;
mod lake;
mod outage;
mod parquet;
mod self_telemetry;
mod serve;
mod serve_fuzz;
mod support;
mod ui;
mod whisperer;
