//! TCP sessions reassembled from captured packets: the "TCP sessions" view.

use std::net::IpAddr;

use crate::columns::Record;
use crate::endpoint::EndpointMeta;
use crate::time::Timestamp;
use crate::{columns_struct, string_enum};

string_enum! {
    /// How far a session got.
    pub enum SessionState {
        /// SYN seen, no SYN-ACK.
        SynSent = "syn_sent",
        /// Handshake completed (or picked up mid-stream).
        Established = "established",
        /// Closed by FIN from both sides or by RST.
        Closed = "closed",
    }
}

string_enum! {
    /// Why a session record was emitted.
    pub enum CloseReason {
        /// FIN exchanged both ways.
        Fin = "fin",
        /// Reset.
        Rst = "rst",
        /// No packet for the idle timeout.
        Timeout = "timeout",
        /// A new SYN reused the 4-tuple (tshark starts a new stream the same way).
        Reused = "reused",
        /// Evicted to stay within the memory cap.
        Evicted = "evicted",
        /// Still open when the capture ended.
        CaptureEnd = "capture_end",
    }
}

columns_struct! {
    /// One TCP connection as reassembled from captured packets.
    #[derive(Debug, Clone, PartialEq)]
    pub struct TcpSession {
        /// Unique within a capture; packets and HTTP records refer to it.
        pub session_id: u64,
        /// The interface (or file) it was captured from.
        pub interface: String,
        /// The node or host whose Whisperer captured it (the collector's `service.node`, or the
        /// whisperer's `node_name`); unknown in files of schema version 1.
        pub capturer: Option<String>,
        /// The connecting end.
        pub client_ip: IpAddr,
        /// Client port.
        pub client_port: u16,
        /// The listening end.
        pub server_ip: IpAddr,
        /// Server port.
        pub server_port: u16,
        /// Last state reached.
        pub state: SessionState,
        /// Time of the first packet.
        pub first_packet: Timestamp,
        /// Time of the SYN-ACK, when seen.
        pub connected: Option<Timestamp>,
        /// SYN to SYN-ACK, microseconds.
        pub handshake_latency_us: Option<i64>,
        /// Time of the last packet.
        pub last_packet: Timestamp,
        /// First to last packet, microseconds.
        pub duration_us: i64,
        /// Payload bytes from the client.
        pub bytes_to_server: u64,
        /// Payload bytes from the server.
        pub bytes_to_client: u64,
        /// Packets from the client.
        pub packets_to_server: u64,
        /// Packets from the server.
        pub packets_to_client: u64,
        /// The handshake was not seen: picked up mid-stream, client/server guessed.
        pub missed_syn: bool,
        /// Why the session ended.
        pub close_reason: CloseReason,
        /// Host names known for the server address.
        pub server_host: Option<String>,
        /// Metadata of the client end.
        pub client: EndpointMeta,
        /// Metadata of the server end.
        pub server: EndpointMeta,
    }
}

impl Record for TcpSession {
    const TIME_COLUMN: &'static str = "first_packet";
    // 2: `capturer`.
    const SCHEMA_VERSION: u32 = 2;

    fn time(&self) -> Timestamp {
        self.first_packet
    }
}
