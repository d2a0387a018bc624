//! `spider compact`: merges each closed hour's small files into one sorted file per dataset,
//! swapped in for every reader at once (run after the hours close, as rollups are: by hand or on
//! a schedule, before `spider rollup` rolls the hour up: a merged hour's files are new files, so
//! its rollups are written again).

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use spider_collector::config::parse_duration;
use spider_collector::records::Timestamp;

use super::{LakeArgs, runtime};

/// What a merge's sort may hold in memory before it spills to disk (the chart's CronJob has
/// 1 GiB).
const SORT_MEMORY: usize = 256 << 20;

/// Arguments of `spider compact`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// Where the datasets are.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// How long after an hour ends it is merged: the agents' last files of it (their batch and
    /// file age) land within this; a file landing later is merged by the next run.
    #[arg(long, default_value = "10m", value_parser = parse_duration, value_name = "DURATION")]
    pub settle: Duration,
    /// How long the merged files' inputs stay after the swap, for queries that listed them
    /// before it (longer than the query service's `--listing-ttl` plus its longest query or pcap
    /// download).
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION")]
    pub grace: Duration,
    /// Hours that ended longer ago than this are left as they are: earlier runs merged them, and
    /// a run lists only the hours it may still have to merge.
    #[arg(long, default_value = "48h", value_parser = parse_duration, value_name = "DURATION")]
    pub lookback: Duration,
}

pub(super) fn compact(args: &CompactArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let (lake, context) = match args.lake.open_session(Some(SORT_MEMORY)) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    // Merged, then `grace` later run again: that deletes what the first run's merged files
    // replace, so that a run ends with its hours swapped whole.
    let run = runtime.block_on(async {
        let pass = || {
            let schedule = spider_query::compaction::Schedule {
                now: Timestamp::now(),
                settle: args.settle,
                grace: args.grace,
                lookback: args.lookback,
            };
            spider_query::compaction::compact(&lake, &context, schedule)
        };
        let mut run = pass().await?;
        if !run.compacted.is_empty() {
            tokio::time::sleep(args.grace).await;
            let again = pass().await?;
            run.compacted.extend(again.compacted);
            run.deleted += again.deleted;
            run.failed.extend(again.failed);
        }
        Ok::<_, spider_query::QueryError>(run)
    });
    match run {
        Ok(run) => {
            for hour in &run.compacted {
                println!(
                    "merged {} ({} files, {} rows)",
                    hour.hour, hour.files, hour.rows
                );
            }
            for (hour, error) in &run.failed {
                eprintln!("{hour}: not merged (the next run tries again): {error}");
            }
            println!(
                "{} hours merged, {} replaced files and manifests deleted",
                run.compacted.len(),
                run.deleted
            );
            if run.failed.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("compaction failed (the next run resumes it): {error}");
            ExitCode::FAILURE
        }
    }
}
