//! Tests of the session processor on real frames built packet by packet: TCP sessions and
//! reassembly, HTTP/1.x exchanges, host names, memory caps, and random input.

mod caps;
mod http;
mod names;
mod processor;
mod sessions;
mod wire;

use spider_collector::records::{HostName, HttpTransaction, Packet, TcpSession};
use spider_processor_session::{SessionConfig, Tracker};

/// What a tracker made of some packets, the capture having ended after them.
pub struct Outcome {
    /// The packets, labelled.
    pub packets: Vec<Packet>,
    /// Sessions, in the order they ended.
    pub sessions: Vec<TcpSession>,
    /// HTTP exchanges, in the order they completed.
    pub http: Vec<HttpTransaction>,
    /// Host names.
    pub hosts: Vec<HostName>,
}

/// Runs packets through a tracker with the default settings.
pub fn track(packets: Vec<Packet>) -> Outcome {
    track_with(Tracker::new(SessionConfig::default().limits()), packets)
}

/// Runs packets through the given tracker, then ends the capture.
pub fn track_with(mut tracker: Tracker, mut packets: Vec<Packet>) -> Outcome {
    for packet in &mut packets {
        tracker.packet(packet);
    }
    tracker.finish();
    let (sessions, http) = tracker.take_records();
    Outcome {
        packets,
        sessions,
        http,
        hosts: tracker.take_hosts(),
    }
}
