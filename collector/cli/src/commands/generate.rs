//! `spider generate`: a made-up cluster's network usage written as a Parquet dataset, for demos,
//! UI work and benchmarks.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use spider_collector::records::time::MICROS_PER_MINUTE;
use spider_collector::records::{Batch, Timestamp};
use spider_collector::telemetry::ComponentTelemetry;
use spider_collector::{CreateContext, Factory};
use spider_exporter_parquet::{PARQUET_EXPORTER, ParquetConfig};
use spider_synthetic::cluster::{Cluster, Shape};

use super::runtime;

/// Arguments of `spider generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Dataset root to write to.
    #[arg(long, default_value = "spider-data", value_name = "DIR")]
    pub out: PathBuf,
    /// Nodes.
    #[arg(long, default_value_t = 3)]
    pub nodes: u32,
    /// Application namespaces.
    #[arg(long, default_value_t = 4)]
    pub namespaces: u32,
    /// Workloads per namespace.
    #[arg(long, default_value_t = 4)]
    pub workloads: u32,
    /// Pods per workload.
    #[arg(long, default_value_t = 3)]
    pub pods: u32,
    /// Hours of traffic, ending at `--end`.
    #[arg(long, default_value_t = 2)]
    pub hours: u32,
    /// End of the data (RFC 3339 or Unix seconds; default: now).
    #[arg(long)]
    pub end: Option<String>,
    /// Seed: the same seed gives the same cluster and traffic.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The cluster's name: its files go below `cluster=NAME` in every dataset.
    #[arg(long, default_value = spider_collector::DEFAULT_CLUSTER, value_parser = super::cluster_arg)]
    pub cluster: String,
    /// Adds what `GET /api/anomalies` should flag at the end: a workload flooding DNS, one
    /// sending hundreds of MiB out, and an edge never seen before that a NetworkPolicy (planted
    /// for the whole stretch) denies.
    #[arg(long)]
    pub plant_anomalies: bool,
}

/// Writes `hours` of made-up usage of a cluster of `shape` (named `cluster`), ending at `end`,
/// into the dataset at `out`; returns the rows and minutes written.
pub(super) async fn write_usage(
    out: &Path,
    shape: Shape,
    seed: u64,
    cluster: &str,
    end: Timestamp,
    hours: u32,
    plant_anomalies: bool,
) -> Result<(usize, i64), String> {
    let context = CreateContext {
        id: "parquet".parse().expect("valid id"),
        pipeline: None,
        telemetry: ComponentTelemetry::detached(&[]),
        node: "generate".into(),
        cluster: cluster.to_owned(),
    };
    let config = ParquetConfig {
        path: out.to_owned(),
        ..ParquetConfig::default()
    };
    let mut parquet = PARQUET_EXPORTER
        .create(config, context)
        .map_err(|e| e.to_string())?;
    parquet.start().await.map_err(|e| e.to_string())?;
    let mut generated = Cluster::new(shape, seed);
    if plant_anomalies {
        generated.plant_policy();
    }
    let minutes = i64::from(hours) * 60;
    let mut rows = 0;
    for minute in (1..=minutes).rev() {
        let records = generated.minute(end.plus_micros(-minute * MICROS_PER_MINUTE), shape.nodes);
        rows += records.len();
        parquet
            .export(&Batch::Usage(records))
            .await
            .map_err(|e| e.to_string())?;
    }
    if plant_anomalies {
        let planted = generated.planted(end);
        rows += planted.len();
        parquet
            .export(&Batch::Usage(planted))
            .await
            .map_err(|e| e.to_string())?;
    }
    parquet.shutdown().await.map_err(|e| e.to_string())?;
    Ok((rows, minutes))
}

pub(super) fn generate(args: GenerateArgs) -> ExitCode {
    let end = match args
        .end
        .as_deref()
        .map(spider_query::range::parse_instant)
        .transpose()
    {
        Ok(end) => Timestamp::from_micros(end.unwrap_or_else(|| Timestamp::now().as_micros()))
            .minute_start(),
        Err(message) => {
            eprintln!("--end: {message}");
            return ExitCode::from(2);
        }
    };
    let shape = Shape {
        nodes: args.nodes.max(1),
        namespaces: args.namespaces,
        workloads: args.workloads,
        pods: args.pods.max(1),
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let written = runtime.block_on(write_usage(
        &args.out,
        shape,
        args.seed,
        &args.cluster,
        end,
        args.hours,
        args.plant_anomalies,
    ));
    match written {
        Ok((rows, minutes)) => {
            println!(
                "{rows} network_usage rows over {minutes} minutes for {} pods in {} namespaces on {} nodes, in {}",
                shape.pod_count(),
                shape.namespaces,
                shape.nodes,
                args.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("generate failed: {message}");
            ExitCode::FAILURE
        }
    }
}
