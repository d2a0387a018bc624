//! The read loop of one source, on its own thread: frames → `packets` records → batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use spider_collector::records::{Batch, Packet};
use spider_collector::{Counter, Output};
use tokio_util::sync::CancellationToken;

use crate::arena::FrameArena;
use crate::limiter::RateLimiter;
use crate::progress::FileProgress;
use crate::record::packet_record;
use crate::source::{FrameSource, Step};

/// How long a quiet live source waits before reading again.
const IDLE_WAIT: Duration = Duration::from_millis(2);
/// Frames between progress bar updates.
const PROGRESS_EVERY: u64 = 4096;

/// What the receiver counts, shared by its sources.
pub struct Counters {
    /// Frames taken into records.
    pub packets: Counter,
    /// Their bytes on the wire.
    pub bytes: Counter,
    /// Frames dropped by the rate limiter.
    pub rate_limited: Counter,
    /// Frames with no IP packet in them.
    pub not_ip: Counter,
    /// Frames the kernel dropped before libpcap saw them, at the last reading.
    pub kernel_dropped: Arc<AtomicU64>,
}

/// One source being read.
pub struct Reader {
    /// The frames.
    pub source: Box<dyn FrameSource>,
    /// Who captures them: the collector's node (`service.node`).
    pub capturer: String,
    /// Where batches go.
    pub output: Output,
    /// The runtime the output lives on.
    pub runtime: tokio::runtime::Handle,
    /// Set on shutdown.
    pub stop: CancellationToken,
    /// Records per batch.
    pub batch_size: usize,
    /// Age after which a partial batch is sent.
    pub flush_interval: Duration,
    /// The circuit breaker (live capture).
    pub limiter: Option<RateLimiter>,
    /// The progress bar (files).
    pub progress: Option<FileProgress>,
    /// Counters.
    pub counters: Arc<Counters>,
}

/// How a read loop ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// Asked to stop, or the pipelines closed.
    Stopped,
    /// The file was read to its end.
    EndOfFile,
    /// The source failed (a truncated file, an interface gone); what was read is kept.
    Failed(String),
}

impl Reader {
    /// Reads until stopped, the end of the file, or an error; sends every record it made.
    pub fn run(mut self) -> Ending {
        let mut batch: Vec<Packet> = Vec::with_capacity(self.batch_size);
        let mut batch_started = Instant::now();
        let mut last_stats = Instant::now();
        let mut frames = 0u64;
        let interface = self.source.name().to_owned();
        let mut arena = FrameArena::default();
        let ending = loop {
            if self.stop.is_cancelled() {
                break Ending::Stopped;
            }
            let limiter = &mut self.limiter;
            let counters = &self.counters;
            let step = self.source.read(&mut |frame| {
                let admitted = limiter
                    .as_mut()
                    .is_none_or(|limiter| limiter.admit(frame.wire_length, Instant::now()));
                if !admitted {
                    counters.rate_limited.add(1);
                } else if let Some(record) =
                    packet_record(&interface, &self.capturer, frame, &mut arena)
                {
                    counters.packets.add(1);
                    counters.bytes.add(u64::from(frame.wire_length));
                    batch.push(record);
                } else {
                    counters.not_ip.add(1);
                }
            });
            let ending = match step {
                Step::Frame => {
                    frames += 1;
                    if batch.len() == 1 {
                        batch_started = Instant::now();
                    }
                    if frames.is_multiple_of(PROGRESS_EVERY) {
                        self.show_progress();
                    }
                    None
                }
                Step::Skipped => None,
                Step::Idle => {
                    std::thread::sleep(IDLE_WAIT);
                    None
                }
                Step::End => Some(Ending::EndOfFile),
                Step::Failed(error) => Some(Ending::Failed(error)),
            };
            let due = batch.len() >= self.batch_size
                || (!batch.is_empty() && batch_started.elapsed() >= self.flush_interval);
            if (due || ending.is_some()) && !self.send(&mut batch) {
                break Ending::Stopped;
            }
            if last_stats.elapsed() >= Duration::from_secs(1) {
                if let Some(dropped) = self.source.kernel_drops() {
                    self.counters
                        .kernel_dropped
                        .store(dropped, Ordering::Relaxed);
                }
                last_stats = Instant::now();
            }
            if let Some(ending) = ending {
                break ending;
            }
        };
        self.send(&mut batch);
        self.show_progress();
        if let Some(progress) = &self.progress {
            progress.finish();
        }
        ending
    }

    fn show_progress(&self) {
        if let (Some(progress), Some(position)) = (&self.progress, self.source.position()) {
            progress.set(position);
        }
    }

    /// Sends the batch, waiting for room; false once the pipelines are closed.
    fn send(&self, batch: &mut Vec<Packet>) -> bool {
        if batch.is_empty() {
            return true;
        }
        let records = std::mem::replace(batch, Vec::with_capacity(self.batch_size));
        self.runtime
            .block_on(self.output.send(Batch::Packets(records)))
            .is_ok()
    }
}
