//! Captured IP packets: the "IP packets" view of a Whisperer capture.

use std::net::IpAddr;

use bytes::Bytes;

use crate::columns::Record;
use crate::endpoint::EndpointMeta;
use crate::time::Timestamp;
use crate::{columns_struct, string_enum};

string_enum! {
    /// Which way a packet went within its session.
    pub enum Direction {
        /// From the client (connecting side) to the server.
        ToServer = "to_server",
        /// From the server to the client.
        ToClient = "to_client",
        /// Not part of a tracked session.
        Unknown = "unknown",
    }
}

columns_struct! {
    /// One captured frame with its decoded IP and transport headers.
    ///
    /// The original frame is kept in `frame` (with its `link_type`), so any selection of packets
    /// can be written back as a pcap file that tshark opens.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Packet {
        /// Capture time.
        pub time: Timestamp,
        /// The interface (or file) it was captured from.
        pub interface: String,
        /// The node or host whose Whisperer captured it (the collector's `service.node`, or the
        /// whisperer's `node_name`); unknown in files of schema version 1.
        pub capturer: Option<String>,
        /// IP version, 4 or 6.
        pub ip_version: u8,
        /// Source address.
        pub src_ip: IpAddr,
        /// Destination address.
        pub dst_ip: IpAddr,
        /// Source port (TCP/UDP).
        pub src_port: Option<u16>,
        /// Destination port (TCP/UDP).
        pub dst_port: Option<u16>,
        /// IP protocol number (6 TCP, 17 UDP, …).
        pub protocol: u8,
        /// Length of the frame on the wire.
        pub wire_length: u32,
        /// Bytes of it captured.
        pub captured_length: u32,
        /// Transport payload length, as the headers declare it but no more than the wire carried
        /// (a frame the snap length cut keeps its declared length).
        pub payload_length: u32,
        /// Where the transport payload starts in `frame` (so it is read without decoding again).
        pub payload_offset: u32,
        /// The packet is an IP fragment: its ports are known only in a reassembled whole.
        pub fragment: bool,
        /// TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, …).
        pub tcp_flags: Option<u8>,
        /// TCP sequence number relative to the session's first.
        pub seq: Option<u32>,
        /// TCP acknowledgement number relative to the peer's first sequence number.
        pub ack: Option<u32>,
        /// Direction within the session.
        pub direction: Direction,
        /// The TCP session this packet belongs to.
        pub session_id: Option<u64>,
        /// The pcap link type of `frame` (1 Ethernet, 113 Linux SLL, …).
        pub link_type: u16,
        /// The captured bytes of the frame: a slice of a buffer shared with the frames read
        /// alongside it, so a capture costs one allocation per buffer rather than per frame.
        /// Keeping it keeps that whole buffer (256 KiB): copy what is kept for long.
        pub frame: Bytes,
        /// Metadata of the source end.
        pub src: EndpointMeta,
        /// Metadata of the destination end.
        pub dst: EndpointMeta,
    }
}

impl Packet {
    /// The transport payload as captured: from `payload_offset`, at most `payload_length` bytes
    /// (an Ethernet trailer after a short segment is not payload).
    pub fn payload(&self) -> &[u8] {
        &self.frame[self.payload_range()]
    }

    /// Where [`Packet::payload`] lies in `frame`.
    pub fn payload_range(&self) -> std::ops::Range<usize> {
        let start = (self.payload_offset as usize).min(self.frame.len());
        let end = start
            .saturating_add(self.payload_length as usize)
            .min(self.frame.len());
        start..end
    }
}

impl Record for Packet {
    const TIME_COLUMN: &'static str = "time";
    // 2: `capturer`.
    const SCHEMA_VERSION: u32 = 2;

    fn time(&self) -> Timestamp {
        self.time
    }
}
