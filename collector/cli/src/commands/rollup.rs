//! `spider rollup`: writes the hourly rollups of network usage that the logical and physical maps
//! read for whole hours (run after the hours close, as retention is: by hand or on a schedule).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use spider_collector::config::parse_duration;
use spider_collector::records::Timestamp;

use super::{LakeArgs, runtime};

/// Arguments of `spider rollup`.
#[derive(Debug, Args)]
pub struct RollupArgs {
    /// Where the datasets are.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// How long after an hour ends it is rolled up: the agents' last files of it (their batch
    /// and file age) land within this.
    #[arg(long, default_value = "10m", value_parser = parse_duration, value_name = "DURATION")]
    pub settle: Duration,
}

pub(super) fn rollup(args: &RollupArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let (lake, context) = match args.lake.open_session(None) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    let rolled = runtime.block_on(spider_query::rollup::roll_up(
        &lake,
        &context,
        Timestamp::now(),
        args.settle,
    ));
    match rolled {
        Ok(run) => {
            for hour in &run.rolled {
                let datasets: Vec<&str> = hour.rollups.iter().map(|r| r.dataset).collect();
                println!(
                    "rolled up {} ({} files) into {}",
                    hour.hour,
                    hour.files,
                    datasets.join(", ")
                );
            }
            for (hour, error) in &run.failed {
                eprintln!("{hour}: not rolled up (the next run tries again): {error}");
            }
            println!("{} hours rolled up", run.rolled.len());
            if run.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("rollup failed (the next run resumes it): {error}");
            ExitCode::FAILURE
        }
    }
}
