//! One capture being carried out: a libpcap capture per interface, filtered to the pods'
//! addresses, each read on its own thread into the capture pipeline. Its counts outlive a
//! restart (the pods changed, so the filter did), so what it reports covers the whole capture.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use spider_capture::{Counters, Ending, LiveSettings, LiveSource, RateLimiter, Reader};
use spider_collector::Output;
use spider_collector::telemetry::ComponentTelemetry;
use tokio_util::sync::CancellationToken;

/// The capture filter of a set of pods: each packet once, as the pods themselves see it, to or
/// from them.
///
/// On a node, a pod's packets cross the host twice, and Services translate them in between
/// (kube-proxy's DNAT in PREROUTING, its reverse in POSTROUTING). So a pod's own view is taken
/// where it meets the host: what it sends as it enters the host (`inbound`, still addressed to
/// the ClusterIP it connected to), what it receives as it leaves towards it (`outbound`, the
/// reply already carrying the ClusterIP back; a NodePort's request already translated to the
/// pod). A packet from one of the pods to another is taken once, as it leaves its sender.
/// The requested `extra` filter must compile on its own first: only then is it one balanced
/// expression that the parentheses around it keep inside the pod restriction (libpcap gives
/// `and` and `or` one precedence, so `tcp) or (ip` would otherwise capture the whole host).
pub fn pods_filter(ips: &[IpAddr], extra: &str) -> Result<String, String> {
    let hosts = |direction: &str| {
        let hosts: Vec<String> = ips
            .iter()
            .map(|ip| format!("{direction} host {ip}"))
            .collect();
        hosts.join(" or ")
    };
    let (from, to) = (hosts("src"), hosts("dst"));
    let mut filter = format!("((inbound and ({from})) or (outbound and ({to}) and not ({from})))");
    if !extra.trim().is_empty() {
        spider_capture::check_filter(extra)
            .map_err(|error| format!("the requested filter {extra:?} is refused: {error}"))?;
        filter.push_str(&format!(" and ({extra})"));
    }
    Ok(filter)
}

/// What a capture counts, across its restarts.
pub struct Tally {
    counters: Arc<Counters>,
}

impl Tally {
    /// Counters of their own for capture `label`.
    pub fn new(label: &str) -> Self {
        let telemetry = ComponentTelemetry::detached(&[("capture", label)]);
        Self {
            counters: Arc::new(Counters {
                packets: telemetry.counter("packets", "captured"),
                bytes: telemetry.counter("bytes", "captured"),
                rate_limited: telemetry.counter("rate_limited", "dropped over the ceiling"),
                not_ip: telemetry.counter("not_ip", "skipped"),
                kernel_dropped: Arc::new(AtomicU64::new(0)),
            }),
        }
    }

    /// Packets captured.
    pub fn packets(&self) -> u64 {
        self.counters.packets.get()
    }

    /// Packets dropped over the rate ceiling or by the kernel.
    pub fn dropped(&self) -> u64 {
        self.counters.rate_limited.get() + self.counters.kernel_dropped.load(Ordering::Relaxed)
    }
}

/// How to capture.
pub struct Plan<'a> {
    /// Interfaces.
    pub interfaces: &'a [String],
    /// Bytes kept per frame.
    pub snaplen: u32,
    /// The full capture filter.
    pub filter: &'a str,
    /// Packets per second, per interface.
    pub max_packets_per_second: u64,
    /// This node: every packet's capturer.
    pub capturer: &'a str,
}

/// The threads of one capture.
pub struct Running {
    stop: CancellationToken,
    threads: Vec<JoinHandle<()>>,
}

impl Running {
    /// Opens every interface; the first error is returned with whatever did open.
    pub fn start(plan: &Plan<'_>, tally: &Tally, output: &Output) -> (Self, Option<String>) {
        let stop = CancellationToken::new();
        let mut threads = Vec::new();
        let mut error = None;
        for interface in plan.interfaces {
            let settings = LiveSettings {
                interface,
                snaplen: plan.snaplen,
                promiscuous: false,
                buffer_size: 4 << 20,
                filter: Some(plan.filter),
            };
            let source = match LiveSource::open(&settings) {
                Ok(source) => source,
                Err(message) => {
                    error.get_or_insert(message.to_string());
                    continue;
                }
            };
            let reader = Reader {
                source: Box::new(source),
                capturer: plan.capturer.to_owned(),
                output: output.clone(),
                runtime: tokio::runtime::Handle::current(),
                stop: stop.clone(),
                batch_size: 256,
                flush_interval: std::time::Duration::from_millis(100),
                limiter: Some(RateLimiter::new(
                    plan.max_packets_per_second,
                    0,
                    Instant::now(),
                )),
                progress: None,
                counters: tally.counters.clone(),
            };
            let name = interface.clone();
            let thread = std::thread::Builder::new()
                .name(format!("whisperer {name}"))
                .spawn(move || {
                    if let Ending::Failed(error) = reader.run() {
                        tracing::error!(interface = name, "capture ended early: {error}");
                    }
                });
            match thread {
                Ok(thread) => threads.push(thread),
                Err(e) => {
                    error.get_or_insert(format!("cannot start a capture thread: {e}"));
                }
            }
        }
        (Self { stop, threads }, error)
    }

    /// Whether any interface is being read.
    pub fn capturing(&self) -> bool {
        !self.threads.is_empty()
    }

    /// Stops the threads and waits for them (each sends what it holds first).
    pub async fn stop(self) {
        self.stop.cancel();
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}
