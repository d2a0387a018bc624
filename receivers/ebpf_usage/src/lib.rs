//! The `ebpf_usage` receiver (Gocipher): kernel programs count, per pair of IP endpoints, the
//! bytes, messages and packets of every TCP and UDP exchange of the host's sockets — all network
//! namespaces, so all pods of a node — and this receiver turns them into one-minute
//! `network_usage` records, one per client/server pair.
//!
//! The programs (`ebpf/usage.bpf.c`) hang off the cgroup v2 root, or the subtree `cgroup_path`
//! names (packets), and the `sock_send_length`/`sock_recv_length` tracepoints (calls, scoped to
//! the same subtree). Maps are drained every `read_interval` and at each minute boundary, so
//! each record holds exactly its minute. Connections through a Service are rewritten to the
//! backend that served them from conntrack (`service_translation`). Without
//! CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON the receiver says which are missing and stays idle,
//! and the rest of the pipeline keeps running. A restart starts from fresh maps: nothing counted
//! before it is counted again.

mod aggregate;
mod capabilities;
mod conntrack;
mod kernel;
mod layout;
mod nat;
mod translation;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use spider_collector::config::GoDuration;
use spider_collector::records::time::MICROS_PER_MINUTE;
use spider_collector::records::{Batch, Signal, Timestamp};
use spider_collector::{
    ComponentConfig, ComponentError, ConfigError, Counter, CreateContext, Declared, Output,
    Receiver,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use aggregate::Aggregator;
pub use kernel::{Kernel, KernelError, ProgramRuns};
pub use layout::{FLOW_SYN, FlowKey, FlowValue, Source};
pub use nat::{NatTable, Translation, Tuple};

/// `receivers::ebpf_usage`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EbpfUsageConfig {
    /// The cgroup v2 directory whose sockets are counted (default: the root,
    /// `/sys/fs/cgroup/unified` on hybrid hierarchies, else `/sys/fs/cgroup`). Below the root,
    /// only the sockets of processes inside it are counted, by every program: one node of a
    /// kind/k3d cluster whose nodes share a kernel.
    pub cgroup_path: Option<PathBuf>,
    /// Rewrite connections the kernel translated (Service DNAT, NodePorts) to the backend that
    /// served them, from conntrack in the agent's network namespace.
    pub service_translation: bool,
    /// Translated connections remembered at once; more are counted as overflow.
    pub max_translations: u32,
    /// Half the kernel flow map: it holds twice as many entries, shared by the generation being
    /// counted and the one being drained (so one drain may return up to all of them); new flows
    /// that find it full are counted as overflow.
    pub max_flows: u32,
    /// How often the kernel maps are drained.
    pub read_interval: GoDuration,
    /// The reporter written into records (default: the collector's node, `service::node`).
    pub reporter: Option<String>,
}

impl Default for EbpfUsageConfig {
    fn default() -> Self {
        Self {
            cgroup_path: None,
            service_translation: true,
            max_translations: 65_536,
            max_flows: 65_536,
            read_interval: GoDuration::from_secs(5),
            reporter: None,
        }
    }
}

impl ComponentConfig for EbpfUsageConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if !(1024..=16_777_216).contains(&self.max_flows) {
            errors.push(ConfigError::new(
                "max_flows",
                "must be between 1024 and 16777216",
            ));
        }
        if !(1024..=16_777_216).contains(&self.max_translations) {
            errors.push(ConfigError::new(
                "max_translations",
                "must be between 1024 and 16777216",
            ));
        }
        let interval = self.read_interval.0;
        if interval < Duration::from_millis(50) || interval > Duration::from_secs(60) {
            errors.push(ConfigError::new(
                "read_interval",
                "must be between 50ms and 60s",
            ));
        }
        if self.reporter.as_deref() == Some("") {
            errors.push(ConfigError::new("reporter", "must not be empty"));
        }
        errors
    }
}

impl EbpfUsageConfig {
    fn cgroup(&self) -> PathBuf {
        self.cgroup_path.clone().unwrap_or_else(|| {
            let hybrid = Path::new("/sys/fs/cgroup/unified");
            if hybrid.is_dir() {
                hybrid.to_path_buf()
            } else {
                PathBuf::from("/sys/fs/cgroup")
            }
        })
    }

    /// The reporter: set by [`EBPF_USAGE_RECEIVER::create`] from the collector's node when
    /// the config names none.
    fn reporter(&self) -> String {
        self.reporter
            .clone()
            .unwrap_or_else(|| spider_collector::node_name(None))
    }
}

/// Builds [`EbpfUsageReceiver`]s.
pub const EBPF_USAGE_RECEIVER: Declared<dyn Receiver, EbpfUsageConfig> =
    Declared::new("ebpf_usage", &[Signal::Usage], create);

/// Builds one from its validated config.
fn create(
    mut config: EbpfUsageConfig,
    context: CreateContext,
) -> Result<Box<dyn Receiver>, ComponentError> {
    config.reporter.get_or_insert_with(|| context.node.clone());
    let telemetry = &context.telemetry;
    let state = Arc::new(State::default());
    let gauge = |name: &str, help: &str, read: fn(&State) -> f64| {
        let state = state.clone();
        telemetry.gauge(name, help, move || read(&state));
    };
    gauge(
        "spider_ebpf_attached",
        "1 while the kernel programs are attached.",
        |s| s.attached.load(Ordering::Relaxed) as f64,
    );
    gauge(
        "spider_ebpf_map_fill_ratio",
        "Share of the kernel flow map used at the last drain; at 1, new flows overflow.",
        |s| f64::from_bits(s.fill.load(Ordering::Relaxed)),
    );
    gauge(
        "spider_ebpf_overflow_flows",
        "New flows dropped because a kernel map was full.",
        |s| s.overflowed.load(Ordering::Relaxed) as f64,
    );
    gauge(
        "spider_ebpf_translations",
        "Translated (Service) connections known from conntrack.",
        |s| s.translations.load(Ordering::Relaxed) as f64,
    );
    gauge(
        "spider_ebpf_translation_overflow",
        "Translated connections not remembered because the table was full.",
        |s| s.translation_overflow.load(Ordering::Relaxed) as f64,
    );
    let counters = Counters {
        drained: telemetry.counter(
            "spider_ebpf_flow_entries_drained_total",
            "Kernel map entries read.",
        ),
        records: telemetry.counter(
            "spider_ebpf_records_emitted_total",
            "One-minute usage records emitted.",
        ),
        read_errors: telemetry.counter(
            "spider_ebpf_read_errors_total",
            "Failed drains of the kernel maps.",
        ),
    };
    let resyncs = telemetry.counter(
        "spider_ebpf_conntrack_resyncs_total",
        "Full reads of conntrack (at start, periodically, and after lost events).",
    );
    Ok(Box::new(EbpfUsageReceiver {
        name: context.id.to_string(),
        config,
        state,
        counters: Some(counters),
        resyncs,
        stop: CancellationToken::new(),
        tasks: Vec::new(),
    }))
}

#[derive(Default)]
struct State {
    attached: AtomicU64,
    fill: AtomicU64,
    overflowed: AtomicU64,
    translations: AtomicU64,
    translation_overflow: AtomicU64,
}

struct Counters {
    drained: Counter,
    records: Counter,
    read_errors: Counter,
}

/// Attaches the programs on start and drains them from a background task.
pub struct EbpfUsageReceiver {
    name: String,
    config: EbpfUsageConfig,
    state: Arc<State>,
    counters: Option<Counters>,
    resyncs: Counter,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

#[async_trait]
impl Receiver for EbpfUsageReceiver {
    async fn start(&mut self, output: Output) -> Result<(), ComponentError> {
        let missing = capabilities::effective()
            .map(capabilities::missing)
            .unwrap_or_default();
        if !missing.is_empty() {
            tracing::error!(
                receiver = %self.name,
                "network usage counting is off: this process lacks {} (run as root or grant CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON); the rest of the pipeline keeps running",
                missing.join(", ")
            );
            return Ok(());
        }
        let cgroup = self.config.cgroup();
        let kernel = match Kernel::attach(&cgroup, self.config.max_flows) {
            Ok(kernel) => kernel,
            Err(error) => {
                tracing::error!(receiver = %self.name, "network usage counting is off: {error}; the rest of the pipeline keeps running");
                return Ok(());
            }
        };
        self.state.attached.store(1, Ordering::Relaxed);
        tracing::info!(receiver = %self.name, cgroup = %cgroup.display(), "eBPF programs attached; counting TCP and UDP usage");
        let reporter = self.config.reporter();
        let aggregator = Aggregator::new(reporter, Timestamp::now().minute_start());
        let counters = self.counters.take().expect("started once");
        let nat = Arc::new(Mutex::new(NatTable::new(
            self.config.max_translations as usize,
        )));
        if self.config.service_translation {
            let follower = translation::Follower {
                nat: nat.clone(),
                stop: self.stop.clone(),
                resyncs: self.resyncs.clone(),
                receiver: self.name.clone(),
            };
            self.tasks.push(tokio::spawn(follower.run()));
        }
        let task = Poller {
            kernel,
            aggregator,
            nat,
            output,
            stop: self.stop.clone(),
            interval: self.config.read_interval.0,
            state: self.state.clone(),
            counters,
        };
        self.tasks.push(tokio::spawn(task.run()));
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), ComponentError> {
        self.stop.cancel();
        for task in self.tasks.drain(..) {
            task.await
                .map_err(|e| ComponentError::new(format!("usage poller failed: {e}")))?;
        }
        self.state.attached.store(0, Ordering::Relaxed);
        Ok(())
    }
}

/// The background task: drains on an interval and at minute boundaries, emits closed minutes.
struct Poller {
    kernel: Kernel,
    aggregator: Aggregator,
    nat: Arc<Mutex<NatTable>>,
    output: Output,
    stop: CancellationToken,
    interval: Duration,
    state: Arc<State>,
    counters: Counters,
}

impl Poller {
    async fn run(mut self) {
        loop {
            let boundary = self.aggregator.bucket().plus_micros(MICROS_PER_MINUTE);
            let until_boundary = boundary.micros_since(Timestamp::now()).max(0) as u64;
            let wait = self.interval.min(Duration::from_micros(until_boundary));
            let stopping = tokio::select! {
                _ = self.stop.cancelled() => true,
                _ = tokio::time::sleep(wait) => false,
            };
            self.drain().await;
            let now = Timestamp::now();
            if stopping || now >= boundary {
                let records = {
                    let mut nat = self.nat.lock().unwrap_or_else(|p| p.into_inner());
                    nat.prune(now.as_micros());
                    let records =
                        self.aggregator
                            .close(now.minute_start(), &mut nat, now.as_micros());
                    self.state
                        .translations
                        .store(nat.len() as u64, Ordering::Relaxed);
                    self.state
                        .translation_overflow
                        .store(nat.overflowed(), Ordering::Relaxed);
                    records
                };
                self.counters.records.add(records.len() as u64);
                if !records.is_empty() && self.output.send(Batch::Usage(records)).await.is_err() {
                    return;
                }
            }
            if stopping {
                return;
            }
        }
    }

    async fn drain(&mut self) {
        match self.kernel.drain().await {
            Ok(drained) => {
                self.counters.drained.add(drained.entries.len() as u64);
                self.state
                    .fill
                    .store(drained.fill.to_bits(), Ordering::Relaxed);
                self.aggregator.add(&drained.entries);
            }
            Err(error) => {
                self.counters.read_errors.add(1);
                tracing::warn!(%error, "reading the kernel flow maps failed");
            }
        }
        self.state
            .overflowed
            .store(self.kernel.overflowed(), Ordering::Relaxed);
    }
}
