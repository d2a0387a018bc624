//! Records as tests build them by hand: one of each kind, complete, for the fields a test cares
//! about to be set over it.

use spider_records::{CloseReason, EndpointMeta, SessionState, TcpSession, Timestamp};

/// A closed 40-second TCP session from `client`:40000 to `server`:80 that began at `first`
/// (Unix seconds), 100 bytes and 4 packets each way, captured on `eth0` by `node-1`, with no
/// metadata on its ends.
pub fn tcp_session(client: &str, server: &str, first: i64) -> TcpSession {
    let first_packet = Timestamp::from_secs(first);
    TcpSession {
        session_id: 1,
        interface: "eth0".into(),
        capturer: Some("node-1".into()),
        client_ip: client.parse().expect("a client address"),
        client_port: 40_000,
        server_ip: server.parse().expect("a server address"),
        server_port: 80,
        state: SessionState::Closed,
        first_packet,
        connected: Some(first_packet),
        handshake_latency_us: Some(0),
        last_packet: first_packet.plus_micros(40_000_000),
        duration_us: 40_000_000,
        bytes_to_server: 100,
        bytes_to_client: 100,
        packets_to_server: 4,
        packets_to_client: 4,
        missed_syn: false,
        close_reason: CloseReason::Fin,
        server_host: None,
        client: EndpointMeta::default(),
        server: EndpointMeta::default(),
    }
}
