//! `spider demo`: one machine, one command. The collector on this host's live traffic (eBPF usage
//! and packet capture, each when privileges allow), a static inventory of this host as the
//! enrichment source, Parquet in a local directory, and the query service with the web UI on it.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use spider_collector::{CollectorConfig, Factories, RunningCollector};
use spider_server::{ServerConfig, Tokens, router, serve};

use super::{runtime, until_stopped};
use crate::logging;

/// The pipelines the demo runs, with `${env:…}` holes the demo fills (see the file).
/// The demo's header-read timeout, as `spider serve`'s default.
const DEMO_HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
const DEMO_CONFIG: &str = include_str!("../../../../otel-config/demo.yaml");

/// Arguments of `spider demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Where the datasets, the inventory and saved queries go.
    #[arg(long, default_value = "spider-demo", value_name = "DIR")]
    pub data: PathBuf,
    /// Address of the web UI and API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Interface to capture packets on.
    #[arg(long, default_value = "lo")]
    pub interface: String,
    /// Static inventory to attribute addresses with (default: this host as a node, written to
    /// DATA/.spider/inventory.yaml).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
}

pub(super) fn demo(args: DemoArgs, factories: &Factories) -> ExitCode {
    logging::init("info");
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
    std::fs::create_dir_all(&args.data)
        .with_context(|| format!("cannot create {}", args.data.display()))?;
    let inventory = match &args.inventory {
        Some(path) => path.clone(),
        None => write_host_inventory(&args.data)?,
    };
    let config = demo_config(&args.data, &inventory, &args.interface, factories)?;
    if !is_root() {
        tracing::warn!(
            "not running as root: live capture and eBPF usage counting need it (each receiver says what it lacks); the UI serves whatever the data directory holds"
        );
    }
    let collector = RunningCollector::start(&config, factories)
        .await
        .context("the demo collector did not start")?;
    let app = router(&ServerConfig {
        data: spider_query::LakeConfig::local(&args.data),
        listing_ttl: std::time::Duration::ZERO,
        state: None,
        tokens: Tokens::default(),
        cors_origin: None,
        capture_limits: Default::default(),
        query_limits: Default::default(),
        // The demo captures as root: see `loopback_hosts`.
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
        "Spider demo: open http://{address}/ (data in {}; stop with Ctrl-C)",
        args.data.display()
    );
    tracing::info!(
        interface = %args.interface,
        "capturing this host's traffic; captured sessions show within a minute, usage within two"
    );
    serve(listener, app, DEMO_HEADER_READ_TIMEOUT, until_stopped()).await;
    let report = collector.shutdown().await;
    for error in &report.errors {
        tracing::error!("{error}");
    }
    anyhow::ensure!(report.is_clean(), "the collector did not stop cleanly");
    tracing::info!("stopped cleanly; the data stays in {}", args.data.display());
    Ok(())
}

/// The embedded pipelines with the demo's own values in their holes; the process environment
/// fills the rest.
fn demo_config(
    data: &Path,
    inventory: &Path,
    interface: &str,
    factories: &Factories,
) -> anyhow::Result<CollectorConfig> {
    let lookup = |name: &str| match name {
        "SPIDER_DATA" => Some(data.display().to_string()),
        "SPIDER_INVENTORY" => Some(inventory.display().to_string()),
        "SPIDER_INTERFACE" => Some(interface.to_owned()),
        _ => std::env::var(name).ok(),
    };
    CollectorConfig::from_yaml_with_env(DEMO_CONFIG, factories, &lookup).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the demo config is refused:\n  {}", lines.join("\n  "))
    })
}

/// Writes an inventory naming this host as the node that holds every local address.
fn write_host_inventory(data: &Path) -> anyhow::Result<PathBuf> {
    let host = spider_collector::host_name();
    let addresses: Vec<String> = local_addresses()
        .iter()
        .map(|address| format!("\"{address}\""))
        .collect();
    let path = data.join(".spider").join("inventory.yaml");
    std::fs::create_dir_all(path.parent().expect("has a parent"))?;
    std::fs::write(
        &path,
        format!(
            "# Written by `spider demo`: this host as the node holding every local address.\n\
             nodes:\n  - {{ name: \"{host}\", addresses: [{}] }}\n",
            addresses.join(", ")
        ),
    )
    .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Every address of this host's interfaces (loopback included), as libpcap lists them.
fn local_addresses() -> BTreeSet<IpAddr> {
    let mut addresses: BTreeSet<IpAddr> = ["127.0.0.1", "::1"]
        .iter()
        .map(|a| a.parse().expect("literal"))
        .collect();
    match pcap::Device::list() {
        Ok(devices) => addresses.extend(
            devices
                .iter()
                .flat_map(|device| &device.addresses)
                .map(|address| address.addr)
                .filter(|address| !matches!(address, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)),
        ),
        Err(error) => tracing::warn!("cannot list this host's addresses ({error}); only loopback is named"),
    }
    addresses
}

/// Whether the effective user is root (from /proc: no libc needed).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|line| line.starts_with("Uid:") && line.split_whitespace().nth(2) == Some("0"))
}
