//! `spider demo`: one machine, one command, the web UI on a map worth looking at.
//!
//! - As root, a **living cluster** ([`cluster`]): three nodes simulated on this kernel, with
//!   workloads of every kind talking continuously, counted by one eBPF agent per node and
//!   captured by a Whisperer on the web tier.
//! - Without root, **generated** usage ([`generated`]), and it says so.
//! - `--host`: **this host's own traffic** ([`host`]), as before the living cluster.
//!
//! Each writes Parquet into `--data` and serves the query service and the UI on it.

mod cluster;
mod generated;
mod host;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use spider_collector::Factories;
use spider_server::{ServerConfig, Tokens, router, serve};

use super::{StopSignals, runtime};
use crate::logging;

/// The demo's header-read timeout, as `spider serve`'s default.
const DEMO_HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Arguments of `spider demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the datasets, the inventory and saved queries go.
    #[arg(long, default_value = "spider-demo", value_name = "DIR")]
    pub data: PathBuf,
    /// Address of the web UI and API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// This host's own traffic instead of the living cluster.
    #[arg(long)]
    pub host: bool,
    /// Interface to capture packets on (`--host`).
    #[arg(long, default_value = "lo", requires = "host")]
    pub interface: String,
    /// Static inventory to attribute addresses with (`--host`; default: this host as a node,
    /// written to DATA/.spider/inventory.yaml).
    #[arg(long, value_name = "FILE", requires = "host")]
    pub inventory: Option<PathBuf>,
}

pub(super) fn demo(args: DemoArgs, factories: &Factories) -> ExitCode {
    // Each agent polls the query service every two seconds: its request lines would bury the
    // demo's own.
    logging::init("info,spider_server::middleware=warn");
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(run(args, factories)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: DemoArgs, factories: &Factories) -> anyhow::Result<()> {
    // Caught from the start: a Ctrl-C while the cluster is being made still removes it.
    let stop = StopSignals::install()?;
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("cannot create {}", args.data.display()))?;
    if args.host {
        host::run(&args, factories, stop).await
    } else if is_root() {
        cluster::run(&args, factories, stop).await
    } else {
        tracing::warn!(
            "not running as root: the living cluster needs it (network namespaces, cgroups, eBPF); serving generated usage instead"
        );
        generated::run(&args, stop).await
    }
}

/// The query service and UI on the dataset at `data`, bound on `--listen`; prints the address to
/// open with what it shows.
async fn bind_ui(
    args: &DemoArgs,
    data: &Path,
    showing: &str,
) -> anyhow::Result<(tokio::net::TcpListener, axum::Router, SocketAddr)> {
    let app = router(&ServerConfig {
        data: spider_query::LakeConfig::local(data),
        listing_ttl: std::time::Duration::ZERO,
        state: None,
        tokens: Tokens::default(),
        cors_origin: None,
        capture_limits: Default::default(),
        query_limits: Default::default(),
        // The demo runs as root: see `loopback_hosts`.
        allowed_hosts: super::loopback_hosts(args.listen),
        sql_worker: Some(super::sql_worker()?),
    })
    .map_err(anyhow::Error::msg)?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    // On standard output, for people and scripts: everything else goes to the log.
    println!(
        "Spider demo: open http://{address}/ ({showing}; data in {}; stop with Ctrl-C)",
        data.display()
    );
    Ok((listener, app, address))
}

/// Serves the UI until SIGINT or SIGTERM (one that came earlier ends it at once).
async fn serve_until_stopped(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    stop: StopSignals,
) {
    let stopped = async move {
        let signal = stop.received().await;
        tracing::info!("{signal} received, stopping");
    };
    serve(listener, app, DEMO_HEADER_READ_TIMEOUT, stopped).await;
}

/// Stops a collector; an unclean stop is the demo's error.
async fn stop_collector(collector: spider_collector::RunningCollector) -> anyhow::Result<()> {
    let report = collector.shutdown().await;
    for error in &report.errors {
        tracing::error!("{error}");
    }
    anyhow::ensure!(report.is_clean(), "the collector did not stop cleanly");
    Ok(())
}

/// The demo's pipelines with its own values in their `${env:…}` holes; the process environment
/// fills the rest.
fn demo_config(
    yaml: &str,
    values: &[(&str, String)],
    factories: &Factories,
) -> anyhow::Result<spider_collector::CollectorConfig> {
    let lookup = |name: &str| {
        values
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
            .or_else(|| std::env::var(name).ok())
    };
    spider_collector::CollectorConfig::from_yaml_with_env(yaml, factories, &lookup).map_err(
        |errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("the demo config is refused:\n  {}", lines.join("\n  "))
        },
    )
}

/// Whether the effective user is root (from /proc: no libc needed).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(2) == Some("0"))
}
