//! Entry point of the `spider` binary.

use std::process::ExitCode;

use clap::Parser;
use spider::commands::{Cli, run};

fn main() -> ExitCode {
    run(Cli::parse())
}
