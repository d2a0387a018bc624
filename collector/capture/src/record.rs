//! A captured frame turned into a `packets` record.

use spider_collector::records::{Direction, EndpointMeta, Packet};
use spider_wire::{LinkType, TransportHeader, decode};

use crate::arena::FrameArena;
use crate::source::Frame;

/// Builds the record of an IP frame; `None` for frames that carry no IP packet (ARP, LLDP, …).
/// Sequence numbers are the raw ones here: the session processor makes them relative. The frame
/// is copied into `arena`.
pub fn packet_record(
    interface: &str,
    capturer: &str,
    frame: &Frame<'_>,
    arena: &mut FrameArena,
) -> Option<Packet> {
    let decoded = decode(LinkType(frame.link_type), frame.data).ok()?;
    let (tcp_flags, seq, ack) = match decoded.transport {
        TransportHeader::Tcp(tcp) => (Some(tcp.flags), Some(tcp.seq), Some(tcp.ack)),
        _ => (None, None, None),
    };
    let ports = decoded.ports();
    // A length field claiming more than the wire carried (a malformed IP total length, as in
    // ruby-pcaprub's telnet capture) counts only the bytes that were on the wire, as tshark
    // does. A frame the snap length cut keeps its declared length: those bytes were sent.
    let captured_length = frame.data.len() as u32;
    let on_wire = frame.wire_length.max(captured_length);
    let payload_length = decoded
        .payload_length
        .min(on_wire.saturating_sub(decoded.payload_offset));
    Some(Packet {
        time: frame.time,
        interface: interface.to_owned(),
        capturer: (!capturer.is_empty()).then(|| capturer.to_owned()),
        ip_version: decoded.ip_version,
        src_ip: decoded.src,
        dst_ip: decoded.dst,
        src_port: ports.map(|p| p.0),
        dst_port: ports.map(|p| p.1),
        protocol: decoded.protocol,
        wire_length: frame.wire_length,
        captured_length,
        payload_length,
        payload_offset: decoded.payload_offset,
        fragment: decoded.fragment,
        tcp_flags,
        seq,
        ack,
        direction: Direction::Unknown,
        session_id: None,
        link_type: frame.link_type,
        frame: arena.copy(frame.data),
        src: EndpointMeta::default(),
        dst: EndpointMeta::default(),
    })
}
