//! `spider analyze`: a pcap/pcapng file through the capture pipeline (pcap receiver → session
//! processor → Parquet) into the `packets`, `tcp_sessions`, `http` and `hosts` datasets — the
//! quickest way to look at a capture — then a count of what was found.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use serde_json::json;
use spider_collector::records::{RecordKind, Signal};
use spider_collector::{CollectorConfig, Factories};

use super::collect::run_collector;
use super::{INVALID, runtime};
use crate::logging;

/// Arguments of `spider analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// The pcap or pcapng file.
    pub file: PathBuf,
    /// Dataset root to write into (then query it with `spider sql --data DIR` or `spider serve`).
    #[arg(long, default_value = "spider-data", value_name = "DIR")]
    pub out: PathBuf,
    /// Only frames matching this capture filter (tcpdump syntax).
    #[arg(long)]
    pub filter: Option<String>,
    /// Leave out the per-packet dataset (sessions, HTTP and hosts only).
    #[arg(long)]
    pub no_packets: bool,
}

/// The datasets a capture produces, in the catalog's order (packets, sessions, HTTP, hosts).
fn capture_datasets() -> impl Iterator<Item = &'static str> {
    RecordKind::ALL
        .iter()
        .filter(|kind| kind.signal() == Signal::Capture)
        .map(|kind| kind.as_str())
}

pub(super) fn analyze(args: &AnalyzeArgs, factories: &Factories) -> ExitCode {
    if !args.file.is_file() {
        eprintln!("{} is not a file", args.file.display());
        return ExitCode::from(INVALID);
    }
    let mut receiver = json!({ "file": args.file, "progress": true });
    if let Some(filter) = &args.filter {
        receiver["filter"] = json!(filter);
    }
    let pipeline = json!({
        "receivers": { "pcap": receiver },
        "processors": { "session": { "emit_packets": !args.no_packets } },
        // A file can wait: the exporter holds the reader back rather than drop what it read.
        // A short queue keeps memory flat in the file's size: the default 1,000 batches of
        // captured frames is a gigabyte waiting for the writer.
        "exporters": { "parquet": {
            "path": args.out,
            "sending_queue": { "when_full": "block", "queue_size": 16 }
        } },
        "service": {
            "telemetry": { "logs": { "level": "warn" }, "metrics": { "level": "none" } },
            "pipelines": {
                "capture": { "receivers": ["pcap"], "processors": ["session"], "exporters": ["parquet"] }
            }
        }
    });
    // JSON is YAML, so the pipeline goes through the same loader and checks as a config file.
    let config = match CollectorConfig::from_yaml(&pipeline.to_string(), factories) {
        Ok(config) => config,
        Err(errors) => {
            for error in errors {
                eprintln!("{error}");
            }
            return ExitCode::from(INVALID);
        }
    };
    logging::init(&config.telemetry.logs.level);
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let clean = match runtime.block_on(run_collector(&config, factories)) {
        Ok(clean) => clean,
        Err(error) => {
            eprintln!("{error:#}");
            return ExitCode::FAILURE;
        }
    };
    let counts = runtime.block_on(count_rows(&args.out));
    let summary: Vec<String> = capture_datasets()
        .zip(counts)
        .map(|(name, count)| format!("{count} {name}"))
        .collect();
    println!("{}: {}", args.out.display(), summary.join(", "));
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Rows in each dataset (0 for one with no file yet).
async fn count_rows(root: &std::path::Path) -> Vec<u64> {
    let Ok(context) = spider_query::open(root) else {
        return vec![0; capture_datasets().count()];
    };
    let mut counts = Vec::new();
    for dataset in capture_datasets() {
        let query = format!("SELECT count(*) FROM {dataset}");
        let count = spider_query::read_only(&context, &query)
            .await
            .ok()
            .and_then(|batches| {
                let column = batches.first()?.column(0).clone();
                datafusion::arrow::array::cast::as_primitive_array::<
                    datafusion::arrow::datatypes::Int64Type,
                >(&column)
                .values()
                .first()
                .copied()
            })
            .unwrap_or(0);
        counts.push(count.max(0) as u64);
    }
    counts
}
