//! `spider demo --host`: the collector on this host's live traffic (eBPF usage and packet
//! capture, each when privileges allow), a static inventory of this host as the enrichment
//! source.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use spider_collector::{Factories, RunningCollector};

use super::super::StopSignals;
use super::{DemoArgs, bind_ui, demo_config, is_root, serve_until_stopped, stop_collector};

/// The pipelines, with `${env:…}` holes the demo fills (see the file).
const HOST_CONFIG: &str = include_str!("../../../../../otel-config/demo.yaml");

pub(super) async fn run(
    args: &DemoArgs,
    factories: &Factories,
    stop: StopSignals,
) -> anyhow::Result<()> {
    let inventory = match &args.inventory {
        Some(path) => path.clone(),
        None => write_host_inventory(&args.data)?,
    };
    let config = demo_config(
        HOST_CONFIG,
        &[
            ("SPIDER_DATA", args.data.display().to_string()),
            ("SPIDER_INVENTORY", inventory.display().to_string()),
            ("SPIDER_INTERFACE", args.interface.clone()),
        ],
        factories,
    )?;
    if !is_root() {
        tracing::warn!(
            "not running as root: live capture and eBPF usage counting need it (each receiver says what it lacks); the UI serves whatever the data directory holds"
        );
    }
    let collector = RunningCollector::start(&config, factories)
        .await
        .context("the demo collector did not start")?;
    let (listener, app, _) = bind_ui(args, &args.data, "this host's own traffic").await?;
    tracing::info!(
        interface = %args.interface,
        "capturing this host's traffic; captured sessions show within a minute, usage within two"
    );
    serve_until_stopped(listener, app, stop).await;
    stop_collector(collector).await?;
    tracing::info!("stopped cleanly; the data stays in {}", args.data.display());
    Ok(())
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
            "# Written by `spider demo --host`: this host as the node holding every local address.\n\
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
