//! Builds the packets a test conversation puts on the wire: real Ethernet/IPv4/TCP frames
//! (etherparse), turned into `packets` records by the pcap receiver's own code.

use std::net::Ipv4Addr;

use spider_capture::{Frame, FrameArena, packet_record};
use spider_collector::records::{Packet, Timestamp};
pub use spider_testkit::frames::{ACK, FIN, PSH, RST, SYN, tcp_frame, udp_frame};

/// An Ethernet frame as the capture would record it.
pub fn record(frame: &[u8], micros: i64) -> Packet {
    record_as(frame, 1, micros).expect("an IP frame")
}

/// A frame of any link type as the capture would record it; `None` when it holds no IP packet.
pub fn record_as(frame: &[u8], link_type: u16, micros: i64) -> Option<Packet> {
    record_of(frame, link_type, frame.len() as u32, micros)
}

/// A frame whose length on the wire was `wire_length` (more than `frame` when the snap length
/// cut it), as the capture would record it.
pub fn record_of(frame: &[u8], link_type: u16, wire_length: u32, micros: i64) -> Option<Packet> {
    let captured = Frame {
        link_type,
        time: Timestamp::from_micros(micros),
        wire_length,
        data: frame,
    };
    packet_record("test0", "node-1", &captured, &mut FrameArena::default())
}

/// One TCP connection, tracking both sides' sequence numbers as a real stack would.
pub struct Conn {
    pub client: (Ipv4Addr, u16),
    pub server: (Ipv4Addr, u16),
    pub client_seq: u32,
    pub server_seq: u32,
    /// Microseconds; every packet advances it by `step`.
    pub now: i64,
    pub step: i64,
}

impl Conn {
    pub fn new(client_port: u16, client_isn: u32, server_isn: u32) -> Self {
        Self {
            client: (Ipv4Addr::new(10, 0, 0, 1), client_port),
            server: (Ipv4Addr::new(10, 0, 0, 2), 80),
            client_seq: client_isn,
            server_seq: server_isn,
            now: 1_700_000_000_000_000,
            step: 1_000,
        }
    }

    fn next_time(&mut self) -> i64 {
        self.now += self.step;
        self.now
    }

    /// A packet from the client (`to_server`) or the server, advancing that side's sequence.
    pub fn send(&mut self, to_server: bool, flags: u8, payload: &[u8]) -> Packet {
        let (from, to, seq, ack) = if to_server {
            (self.client, self.server, self.client_seq, self.server_seq)
        } else {
            (self.server, self.client, self.server_seq, self.client_seq)
        };
        let frame = tcp_frame(from, to, flags, seq, ack, payload);
        let consumed = payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
        if to_server {
            self.client_seq = self.client_seq.wrapping_add(consumed);
        } else {
            self.server_seq = self.server_seq.wrapping_add(consumed);
        }
        let time = self.next_time();
        record(&frame, time)
    }

    /// A packet at an explicit sequence number (out of order, retransmitted, overlapping).
    pub fn send_at(&mut self, to_server: bool, seq: u32, payload: &[u8]) -> Packet {
        let (from, to, ack) = if to_server {
            (self.client, self.server, self.server_seq)
        } else {
            (self.server, self.client, self.client_seq)
        };
        let frame = tcp_frame(from, to, ACK | PSH, seq, ack, payload);
        let time = self.next_time();
        record(&frame, time)
    }

    /// SYN, SYN-ACK, ACK.
    pub fn handshake(&mut self) -> Vec<Packet> {
        vec![
            self.send(true, SYN, b""),
            self.send(false, SYN | ACK, b""),
            self.send(true, ACK, b""),
        ]
    }

    /// FIN from the client, FIN from the server, last ACK.
    pub fn close(&mut self) -> Vec<Packet> {
        vec![
            self.send(true, FIN | ACK, b""),
            self.send(false, FIN | ACK, b""),
            self.send(true, ACK, b""),
        ]
    }
}
