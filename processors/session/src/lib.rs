//! The `session` processor: turns captured packets into the three views of a Whisperer capture.
//!
//! - **IP packets**: each packet passes on labelled with its TCP session, direction, and
//!   sequence numbers relative to the session's start (as tshark shows them).
//! - **TCP sessions**: a flow table keyed by the 4-tuple; each direction reassembled (out of
//!   order, overlapping and retransmitted segments handled); a session picked up without its
//!   handshake is flagged; a new SYN on a reused 4-tuple starts a new session, as tshark splits
//!   `tcp.stream`; FIN, RST, idle timeout and memory caps end them.
//! - **HTTP**: HTTP/1.x request/response pairs read from the reassembled streams.
//!
//! Host names learnt from DNS answers, TLS SNI and HTTP Host headers go out as `hosts` records
//! (a new name ahead of the packets and sessions of its batch, sightings again at each flush)
//! and name the servers of sessions. Time is the capture's: a file is processed the same at any
//! speed. Other batches pass through untouched.

mod config;
#[cfg(test)]
mod fuzz;
pub mod http;
mod ids;
mod names;
pub mod reassembly;
mod session;
mod tracker;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use spider_collector::records::time::MICROS_PER_SECOND;
use spider_collector::records::{Batch, Signal};
use spider_collector::{ComponentError, Counter, CreateContext, Declared, Processor};

pub use config::SessionConfig;
pub use ids::sequence;
pub use tracker::{Limits, Tracker, TrackerStats};

/// Builds [`SessionProcessor`]s.
pub const SESSION_PROCESSOR: Declared<dyn Processor, SessionConfig> =
    Declared::new("session", &[Signal::Capture], create);

/// Builds one from its validated config.
fn create(
    config: SessionConfig,
    context: CreateContext,
) -> Result<Box<dyn Processor>, ComponentError> {
    let telemetry = &context.telemetry;
    let gauges = Arc::new(Gauges::default());
    let gauge = |name: &str, help: &str, read: fn(&Gauges) -> &AtomicU64| {
        let gauges = gauges.clone();
        telemetry.gauge(name, help, move || {
            read(&gauges).load(Ordering::Relaxed) as f64
        });
    };
    gauge("spider_session_open", "TCP sessions being tracked.", |g| {
        &g.open
    });
    gauge(
        "spider_session_buffered_bytes",
        "Bytes held for reassembly and parsing.",
        |g| &g.buffered,
    );
    let counters = Counters {
        evicted: telemetry.counter(
            "spider_session_evicted_total",
            "Sessions emitted early to stay within the memory caps.",
        ),
        fragments: telemetry.counter(
            "spider_session_ip_fragments_total",
            "IP fragments seen (not reassembled).",
        ),
    };
    Ok(Box::new(SessionProcessor {
        tracker: Tracker::new(config.limits()),
        config,
        gauges,
        counters,
        reported: TrackerStats::default(),
        last_scan: None,
        last_packet_at: Instant::now(),
        clock_at_last_packet: spider_collector::records::Timestamp::default(),
    }))
}

#[derive(Default)]
struct Gauges {
    open: AtomicU64,
    buffered: AtomicU64,
}

struct Counters {
    evicted: Counter,
    fragments: Counter,
}

/// Wraps a [`Tracker`] in the processor lifecycle.
pub struct SessionProcessor {
    config: SessionConfig,
    tracker: Tracker,
    gauges: Arc<Gauges>,
    counters: Counters,
    reported: TrackerStats,
    /// Capture time of the last expiry scan.
    last_scan: Option<spider_collector::records::Timestamp>,
    /// Wall time the last packet arrived, to move the capture clock on while a live capture is quiet.
    last_packet_at: Instant,
    /// The capture clock when it did: a quiet tick moves the clock to this plus the quiet time,
    /// never to the clock an earlier tick moved on (which would add the same quiet again).
    clock_at_last_packet: spider_collector::records::Timestamp,
}

impl SessionProcessor {
    fn emit(&mut self, out: &mut Vec<Batch>) {
        let (sessions, http) = self.tracker.take_records();
        out.push(Batch::TcpSessions(sessions));
        out.push(Batch::Http(http));
        out.retain(|batch| !batch.is_empty());
        self.gauges
            .open
            .store(self.tracker.session_count() as u64, Ordering::Relaxed);
        self.gauges
            .buffered
            .store(self.tracker.buffered() as u64, Ordering::Relaxed);
        let stats = self.tracker.stats();
        self.counters
            .evicted
            .add(stats.evicted - self.reported.evicted);
        self.counters
            .fragments
            .add(stats.fragments - self.reported.fragments);
        self.reported = stats;
    }

    fn emit_hosts(&mut self, out: &mut Vec<Batch>) {
        let hosts = self.tracker.take_hosts();
        if !hosts.is_empty() {
            out.push(Batch::Hosts(hosts));
        }
    }
}

#[async_trait]
impl Processor for SessionProcessor {
    async fn process(&mut self, batch: Batch, out: &mut Vec<Batch>) -> Result<(), ComponentError> {
        let Batch::Packets(mut packets) = batch else {
            out.push(batch);
            return Ok(());
        };
        for packet in &mut packets {
            self.tracker.packet(packet);
        }
        self.last_packet_at = Instant::now();
        self.clock_at_last_packet = self.tracker.clock();
        // Scanning for expired sessions costs a pass over the table: once a capture second.
        let clock = self.tracker.clock();
        let scan_due = self
            .last_scan
            .is_none_or(|scanned| clock.micros_since(scanned) >= MICROS_PER_SECOND);
        if scan_due {
            self.tracker.expire(clock);
            self.last_scan = Some(clock);
        }
        // Names first: the next processor (enrichment) then knows them for the packets and
        // sessions that follow, in capture time rather than at the next wall-clock tick.
        let learnt = self.tracker.take_new_hosts();
        if !learnt.is_empty() {
            out.push(Batch::Hosts(learnt));
        }
        if self.config.emit_packets {
            out.push(Batch::Packets(packets));
        }
        self.emit(out);
        Ok(())
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(self.config.flush_interval.0)
    }

    async fn tick(&mut self, _now: SystemTime, out: &mut Vec<Batch>) -> Result<(), ComponentError> {
        let quiet = self.last_packet_at.elapsed().as_micros() as i64;
        let clock = self.clock_at_last_packet.plus_micros(quiet);
        self.tracker.expire(clock);
        self.emit_hosts(out);
        self.emit(out);
        Ok(())
    }

    async fn shutdown(&mut self, out: &mut Vec<Batch>) -> Result<(), ComponentError> {
        self.tracker.finish();
        self.emit_hosts(out);
        self.emit(out);
        Ok(())
    }
}
