//! `spider retain`: deletes the partitions older than each dataset's maximum age, in a directory
//! or an object store (the chart runs it as a CronJob).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use spider_collector::config::parse_duration;
use spider_collector::records::{RecordKind, Timestamp};
use spider_lake::retention;

use super::{INVALID, LakeArgs, runtime};

/// The shortest maximum age: younger partitions may still be written to.
const MIN_AGE: Duration = Duration::from_secs(3600);

/// Arguments of `spider retain`.
#[derive(Debug, Args)]
pub struct RetainArgs {
    /// Where the datasets are.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// A dataset's maximum age (`network_usage=720h`, `packets=24h`; at least 1h); repeat it for
    /// more. Datasets not named are kept whole.
    #[arg(long = "max-age", value_parser = parse_max_age, value_name = "DATASET=DURATION", required = true)]
    pub max_ages: Vec<(RecordKind, Duration)>,
    /// Print what would be deleted, and delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

fn parse_max_age(text: &str) -> Result<(RecordKind, Duration), String> {
    let (dataset, age) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: use DATASET=DURATION, e.g. packets=24h"))?;
    let kind = RecordKind::ALL
        .iter()
        .copied()
        .find(|kind| kind.as_str() == dataset)
        .ok_or_else(|| {
            let known: Vec<&str> = RecordKind::ALL.iter().map(|k| k.as_str()).collect();
            format!("no dataset {dataset:?} ({})", known.join(", "))
        })?;
    let age = parse_duration(age)?;
    if age < MIN_AGE {
        return Err(format!("{text:?}: a maximum age is at least 1h"));
    }
    Ok((kind, age))
}

pub(super) fn retain(args: &RetainArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let lake = match args.lake.config().open() {
        Ok(lake) => lake,
        Err(error) => {
            eprintln!("cannot open the lake: {error}");
            return ExitCode::from(INVALID);
        }
    };
    let now = Timestamp::now();
    let verb = if args.dry_run {
        "would delete"
    } else {
        "deleted"
    };
    let mut failed = false;
    // Network usage's hourly rollups go with the hours they sum.
    let datasets = args.max_ages.iter().flat_map(|(kind, max_age)| {
        let derived = spider_query::rollup::ROLLUPS
            .into_iter()
            .filter(|_| *kind == RecordKind::NetworkUsage)
            .map(|rollup| rollup.dataset);
        std::iter::once(kind.as_str())
            .chain(derived)
            .map(move |dataset| (dataset, *max_age))
    });
    for (kind, max_age) in datasets {
        match runtime.block_on(retention::apply(&lake, kind, max_age, now, args.dry_run)) {
            Ok(removed) => {
                for partition in &removed {
                    println!(
                        "{verb} {} ({} files, {} bytes)",
                        partition.partition, partition.files, partition.bytes
                    );
                }
                let files: usize = removed.iter().map(|p| p.files).sum();
                println!(
                    "{kind}: {} partitions, {files} files older than {max_age:?}",
                    removed.len()
                );
            }
            Err(error) => {
                eprintln!("{kind}: retention failed (the next run resumes it): {error}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
