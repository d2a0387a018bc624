//! `spider rollup`: writes the hourly rollups of network usage that the logical map reads for
//! whole hours (run after the hours close, as retention is: by hand or on a schedule).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use spider_collector::config::parse_duration;
use spider_collector::records::Timestamp;

use super::{INVALID, LakeArgs, runtime};

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
    let opened = args
        .lake
        .config()
        .open()
        .map_err(|e| e.to_string())
        .and_then(|lake| {
            let context = spider_query::open_lake(&lake, None).map_err(|e| e.to_string())?;
            Ok((lake, context))
        });
    let (lake, context) = match opened {
        Ok(opened) => opened,
        Err(error) => {
            eprintln!("cannot open the lake: {error}");
            return ExitCode::from(INVALID);
        }
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
                println!("rolled up {} ({} files)", hour.hour, hour.files);
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
