//! The `pcap` receiver (Whisperer): frames from live Linux interfaces — with a capture filter in
//! tcpdump's syntax, a snap length, promiscuous mode and a packets/bytes-per-second circuit
//! breaker — or from a pcap/pcapng file, as `packets` records that keep the original frame.
//!
//! The sources are [`spider_capture`]'s: libpcap captures live interfaces (and compiles the
//! filters); files are read with pcap-parser, which takes every pcapng section and interface,
//! each with its own link type. Each source has its own thread; records go down the capture pipelines in batches, with back-pressure (a file
//! is read only as fast as the pipeline takes it; a live interface that falls behind loses
//! frames in the kernel, which is counted). Without the privileges to capture, the receiver says so and stays idle, and the
//! rest of the pipeline keeps running. A file that ends early (truncated) is an error in the
//! log; every frame before the cut is kept.

mod config;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use async_trait::async_trait;
use spider_collector::records::Signal;
use spider_collector::{ComponentError, CreateContext, Declared, Output, Receiver};
use tokio_util::sync::CancellationToken;

pub use config::PcapConfig;
use spider_capture::{
    Counters, Ending, FileProgress, FileSource, FrameSource, LiveSettings, LiveSource, RateLimiter,
    Reader,
};

/// Builds [`PcapReceiver`]s.
pub const PCAP_RECEIVER: Declared<dyn Receiver, PcapConfig> =
    Declared::new("pcap", &[Signal::Capture], create);

/// Builds one from its validated config.
fn create(config: PcapConfig, context: CreateContext) -> Result<Box<dyn Receiver>, ComponentError> {
    let telemetry = &context.telemetry;
    let kernel_dropped = Arc::new(AtomicU64::new(0));
    let dropped = kernel_dropped.clone();
    telemetry.gauge(
        "spider_pcap_kernel_dropped_packets",
        "Frames the kernel dropped before the capture read them (live).",
        move || dropped.load(Ordering::Relaxed) as f64,
    );
    let counters = Counters {
        packets: telemetry.counter("spider_pcap_packets_total", "IP frames captured."),
        bytes: telemetry.counter(
            "spider_pcap_bytes_total",
            "Wire bytes of the IP frames captured.",
        ),
        rate_limited: telemetry.counter(
            "spider_pcap_rate_limited_packets_total",
            "Frames dropped by the packets/bytes per second limit.",
        ),
        not_ip: telemetry.counter(
            "spider_pcap_not_ip_frames_total",
            "Frames skipped because they carry no IP packet.",
        ),
        kernel_dropped,
    };
    Ok(Box::new(PcapReceiver {
        name: context.id.to_string(),
        capturer: context.node.clone(),
        config,
        counters: Arc::new(counters),
        stop: CancellationToken::new(),
        threads: Vec::new(),
    }))
}

/// Reads its sources on threads of their own.
pub struct PcapReceiver {
    name: String,
    /// The collector's node, which every packet names as its capturer.
    capturer: String,
    config: PcapConfig,
    counters: Arc<Counters>,
    stop: CancellationToken,
    threads: Vec<JoinHandle<()>>,
}

#[async_trait]
impl Receiver for PcapReceiver {
    async fn start(&mut self, output: Output) -> Result<(), ComponentError> {
        let config = self.config.clone();
        let filter = config.filter.as_deref();
        if let Some(path) = &config.file {
            let source = FileSource::open(path, filter)
                .map_err(|error| ComponentError::new(error.to_string()))?;
            let progress = config.progress.then(|| FileProgress::new(path));
            self.spawn(Box::new(source), output, None, progress);
            return Ok(());
        }
        for interface in &config.live_interfaces() {
            let settings = LiveSettings {
                interface,
                snaplen: config.snaplen,
                promiscuous: config.promiscuous,
                buffer_size: config.buffer_size,
                filter,
            };
            match LiveSource::open(&settings) {
                Ok(source) => {
                    tracing::info!(receiver = %self.name, interface, link_type = source.link_type(), "capturing");
                    let limiter = RateLimiter::new(
                        config.max_packets_per_second,
                        config.max_bytes_per_second,
                        Instant::now(),
                    );
                    self.spawn(Box::new(source), output.clone(), Some(limiter), None);
                }
                Err(message) => tracing::error!(
                    receiver = %self.name,
                    "{message}; this interface is not captured, the rest of the pipeline keeps running"
                ),
            }
        }
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), ComponentError> {
        self.stop.cancel();
        let threads = std::mem::take(&mut self.threads);
        tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await
        .map_err(|e| ComponentError::new(format!("capture threads failed: {e}")))
    }
}

impl PcapReceiver {
    fn spawn(
        &mut self,
        source: Box<dyn FrameSource>,
        output: Output,
        limiter: Option<RateLimiter>,
        progress: Option<FileProgress>,
    ) {
        let name = source.name().to_owned();
        let reader = Reader {
            source,
            capturer: self.capturer.clone(),
            output,
            runtime: tokio::runtime::Handle::current(),
            stop: self.stop.clone(),
            batch_size: self.config.batch_size,
            flush_interval: self.config.flush_interval.0,
            limiter,
            progress,
            counters: self.counters.clone(),
        };
        let receiver = self.name.clone();
        let thread = std::thread::Builder::new()
            .name(format!("pcap {name}"))
            .spawn(move || match reader.run() {
                Ending::Stopped => {}
                Ending::EndOfFile => tracing::info!(receiver, source = name, "read to the end"),
                Ending::Failed(error) => tracing::error!(
                    receiver,
                    source = name,
                    "capture ended early: {error}; every frame read before it was kept"
                ),
            });
        match thread {
            Ok(thread) => self.threads.push(thread),
            Err(error) => {
                tracing::error!(receiver = %self.name, "cannot start a capture thread: {error}")
            }
        }
    }
}
