//! The subcommands: `demo` tries it all on this machine, `collect` runs a pipeline config until stopped, `validate` checks one and
//! prints its graph, `components` lists the types that configs can use, `sql` queries datasets,
//! `serve` answers the UI, `generate` makes demo data, `analyze` reads a pcap file into datasets,
//! `pcap` writes a stored session back out as a pcap, `capture` attaches a Whisperer to a workload,
//! `retain` deletes partitions past their datasets' maximum age, `rollup` writes the hourly rollups
//! the maps read, `compact` merges each closed hour's small files into one, `controller` watches
//! a cluster's API for its node agents.

mod analyze;
mod capture;
mod collect;
mod compact;
mod components;
mod controller;
mod demo;
mod generate;
mod pcap;
mod retain;
mod rollup;
mod serve;
mod sql;
mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use spider_collector::{CollectorConfig, Factories};

use crate::factories;

pub use analyze::AnalyzeArgs;
pub use capture::CaptureArgs;
pub use compact::CompactArgs;
pub use components::components;
pub use controller::ControllerArgs;
pub use demo::DemoArgs;
pub use generate::GenerateArgs;
pub use pcap::PcapArgs;
pub use retain::RetainArgs;
pub use rollup::RollupArgs;
pub use serve::ServeArgs;
pub use sql::{SqlArgs, SqlFormat};

/// Spider: network observability for Kubernetes clusters and Linux hosts.
#[derive(Debug, Parser)]
#[command(name = "spider", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Try Spider on this machine: capture its live traffic and serve the map (root for all of it).
    Demo(DemoArgs),
    /// Run the pipelines of a collector config until SIGINT/SIGTERM or until every receiver is done.
    Collect(ConfigArgs),
    /// Check a collector config: print every mistake with its path, or the pipeline graph.
    Validate(ConfigArgs),
    /// List the receiver, processor and exporter types and the signals they support.
    Components,
    /// Run a read-only SQL query over Parquet datasets (tables: network_usage, packets,
    /// tcp_sessions, http, hosts).
    Sql(SqlArgs),
    /// Serve the query API over Parquet datasets (map, timeline, grid, stats, SQL, saved queries).
    Serve(Box<ServeArgs>),
    /// Read a pcap/pcapng file into the packets, tcp_sessions, http and hosts datasets.
    Analyze(AnalyzeArgs),
    /// Write one TCP session's stored packets as a pcap file (opens in Wireshark/tshark).
    Pcap(PcapArgs),
    /// Attach a Whisperer to a workload (a request node agents carry out), or list/stop captures.
    Capture(CaptureArgs),
    /// Write a made-up cluster's network usage as a Parquet dataset (demos, UI, benchmarks).
    Generate(GenerateArgs),
    /// Delete the partitions older than each dataset's maximum age (a directory or a bucket).
    Retain(RetainArgs),
    /// Write the hourly rollups of network usage the logical and physical maps read for whole
    /// hours.
    Rollup(RollupArgs),
    /// Merge each closed hour's small files into one sorted file, swapped in for every reader.
    Compact(CompactArgs),
    /// Watch the cluster's Kubernetes API, alone, and feed its metadata to the node agents.
    Controller(ControllerArgs),
    /// One SQL statement of the query service, in its own bounded process (the service starts
    /// it; not for people).
    #[command(hide = true)]
    SqlWorker,
}

/// Where `serve` and `sql` read the datasets: a directory or an object store.
#[derive(Debug, Args)]
pub struct LakeArgs {
    /// The lake: a directory (the parquet exporter's `path`), or `s3://bucket/prefix`,
    /// `gs://bucket/prefix`, `az://container/prefix` (the exporter's `url`), with credentials from
    /// the cloud's usual environment (`AWS_*`, `GOOGLE_*`, `AZURE_*`).
    #[arg(long, default_value = "spider-data", value_name = "DIR|URL")]
    pub data: String,
    /// An object-store option over the environment's, as the parquet exporter's
    /// `storage_options` name them (`endpoint=http://minio:9000`, `allow_http=true`); repeat it
    /// for more.
    #[arg(long = "storage-option", value_parser = parse_option, value_name = "KEY=VALUE")]
    pub storage_options: Vec<(String, String)>,
}

impl LakeArgs {
    /// The lake these name.
    pub fn config(&self) -> spider_query::LakeConfig {
        spider_query::LakeConfig {
            location: self.data.clone(),
            options: self.storage_options.iter().cloned().collect(),
        }
    }

    /// The lake, and a session over it whose queries hold at most `max_memory` bytes (spilling
    /// the rest), for the maintenance commands; what is wrong is printed.
    fn open_session(
        &self,
        max_memory: Option<usize>,
    ) -> Result<(spider_query::Lake, datafusion::prelude::SessionContext), ExitCode> {
        let opened = self
            .config()
            .open()
            .map_err(|e| e.to_string())
            .and_then(|lake| {
                let context =
                    spider_query::open_lake(&lake, max_memory).map_err(|e| e.to_string())?;
                Ok((lake, context))
            });
        opened.map_err(|error| {
            eprintln!("cannot open the lake: {error}");
            ExitCode::from(INVALID)
        })
    }
}

fn parse_option(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .filter(|(key, _)| !key.is_empty())
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .ok_or_else(|| format!("{text:?}: use KEY=VALUE"))
}

/// The config file option shared by `collect` and `validate`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Collector config in the OTel Collector's YAML shape.
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
}

/// Exit status of a config that does not validate, or a query that is refused (clap uses 2 for
/// usage errors).
const INVALID: u8 = 1;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let factories = factories();
    match cli.command {
        Command::Validate(args) => validate::validate(&args.config, &factories),
        Command::Collect(args) => collect::collect(&args.config, &factories),
        Command::Demo(args) => demo::demo(args, &factories),
        Command::Components => {
            print!("{}", components(&factories));
            ExitCode::SUCCESS
        }
        Command::Sql(args) => sql::sql(&args),
        Command::Serve(args) => serve::serve(*args),
        Command::Generate(args) => generate::generate(args),
        Command::Analyze(args) => analyze::analyze(&args, &factories),
        Command::Pcap(args) => pcap::pcap(&args),
        Command::Capture(args) => capture::capture(args),
        Command::Retain(args) => retain::retain(&args),
        Command::Rollup(args) => rollup::rollup(&args),
        Command::Compact(args) => compact::compact(&args),
        Command::Controller(args) => controller::controller(&args),
        Command::SqlWorker => ExitCode::from(spider_server::worker::answer_one()),
    }
}

/// The names a service on `listen` answers when it is given none: on a loopback address only
/// `localhost`, `127.0.0.1` and `::1`, so that a page whose DNS name rebinds to 127.0.0.1 cannot
/// drive it from a browser; any name on other addresses (a pod's, reached by its Service).
fn loopback_hosts(listen: std::net::SocketAddr) -> Option<Vec<String>> {
    listen.ip().is_loopback().then(|| {
        ["localhost", "127.0.0.1", "::1"]
            .map(str::to_owned)
            .to_vec()
    })
}

/// The query service's SQL worker: this very binary's `sql-worker`. `/proc/self/exe` runs this
/// binary even after a package upgrade replaced the file; its path would name the new one, or
/// none.
fn sql_worker() -> anyhow::Result<spider_server::worker::SqlWorker> {
    let own = std::path::PathBuf::from("/proc/self/exe");
    let program = if own.exists() {
        own
    } else {
        std::env::current_exe()
            .map_err(|e| anyhow::anyhow!("cannot find this program to run SQL workers: {e}"))?
    };
    Ok(spider_server::worker::SqlWorker {
        program,
        args: vec!["sql-worker".into()],
    })
}

/// A multi-threaded async runtime, or the reason there is none.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Runtime::new().map_err(|error| {
        eprintln!("cannot start the async runtime: {error}");
        ExitCode::FAILURE
    })
}

pub(crate) fn load(path: &Path, factories: &Factories) -> Result<CollectorConfig, ExitCode> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("cannot read {}: {error}", path.display());
            return Err(ExitCode::from(INVALID));
        }
    };
    match CollectorConfig::from_yaml(&text, factories) {
        Ok(config) => {
            for warning in &config.warnings {
                eprintln!("warning: {warning}");
            }
            Ok(config)
        }
        Err(errors) => {
            let plural = if errors.len() == 1 { "" } else { "s" };
            eprintln!("{}: {} error{plural}:", path.display(), errors.len());
            for error in &errors {
                eprintln!("  {error}");
            }
            Err(ExitCode::from(INVALID))
        }
    }
}

/// Waits for SIGTERM or SIGINT and logs which (or why it cannot listen for them): the end of a
/// service's life.
pub(crate) async fn until_stopped() {
    match stop_signal().await {
        Ok(signal) => tracing::info!("{signal} received, stopping"),
        Err(error) => tracing::error!("{error:#}"),
    }
}

/// Waits for SIGTERM or SIGINT; says which.
pub(crate) async fn stop_signal() -> anyhow::Result<&'static str> {
    Ok(StopSignals::install()?.received().await)
}

/// SIGTERM and SIGINT, caught from the moment they are installed (until then either ends the
/// process at once, with no clean-up).
pub(crate) struct StopSignals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Catches both (inside the runtime).
    pub(crate) fn install() -> anyhow::Result<Self> {
        use anyhow::Context;
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            terminate: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
        })
    }

    /// Waits for either, caught since the install; says which.
    pub(crate) async fn received(mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

/// A `--cluster` argument: a cluster name, or clap's error with the rule.
pub(super) fn cluster_arg(name: &str) -> Result<String, String> {
    if spider_collector::is_cluster_name(name) {
        Ok(name.to_owned())
    } else {
        Err(spider_collector::records::catalog::CLUSTER_NAME_RULE.into())
    }
}
