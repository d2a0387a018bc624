//! One frame decoded to what Spider records: addresses, transport header, payload.

use std::net::IpAddr;

use etherparse::{LaxNetSlice, LaxSlicedPacket, TransportSlice};

use crate::link::{self, LinkType};

/// Why a frame yields no IP packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The capture's link type is not one Spider decodes.
    #[error("link type {0} is not supported (Ethernet, Linux SLL/SLL2, raw IP and loopback are)")]
    UnsupportedLinkType(u16),
    /// The frame ends inside its link header.
    #[error("a {length}-byte frame is too short for link type {link}")]
    Truncated {
        /// The link type.
        link: u16,
        /// The captured length.
        length: usize,
    },
    /// The frame carries no IP packet (ARP, LLDP, …).
    #[error("not an IP packet")]
    NotIp,
    /// The IP header is broken.
    #[error("malformed IP header: {0}")]
    Malformed(String),
}

/// The TCP header fields sessions are built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number (meaningful when the ACK flag is set).
    pub ack: u32,
    /// The flags byte: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80.
    pub flags: u8,
}

impl TcpHeader {
    /// FIN flag.
    pub const FIN: u8 = 0x01;
    /// SYN flag.
    pub const SYN: u8 = 0x02;
    /// RST flag.
    pub const RST: u8 = 0x04;
    /// ACK flag.
    pub const ACK: u8 = 0x10;

    /// Whether all of `flags` are set.
    pub fn has(&self, flags: u8) -> bool {
        self.flags & flags == flags
    }
}

/// The transport header of a decoded packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportHeader {
    /// TCP.
    Tcp(TcpHeader),
    /// UDP, with its ports.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// Another protocol, or a header that was not captured (IP fragment, snap length).
    Other,
}

/// What one frame holds, borrowed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// 4 or 6.
    pub ip_version: u8,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number of the payload (6 TCP, 17 UDP, …).
    pub protocol: u8,
    /// The transport header.
    pub transport: TransportHeader,
    /// The transport payload as captured (shorter than `payload_length` when the snap length cut it).
    pub payload: &'a [u8],
    /// The transport payload's length on the wire, from the IP and UDP length fields.
    pub payload_length: u32,
    /// Where `payload` starts in the frame.
    pub payload_offset: u32,
    /// The packet is an IP fragment; only a reassembled whole would show its transport header.
    pub fragment: bool,
}

impl Decoded<'_> {
    /// The TCP header, if this is an unfragmented TCP segment.
    pub fn tcp(&self) -> Option<&TcpHeader> {
        match &self.transport {
            TransportHeader::Tcp(tcp) => Some(tcp),
            _ => None,
        }
    }

    /// Source and destination ports, for TCP and UDP.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.transport {
            TransportHeader::Tcp(tcp) => Some((tcp.src_port, tcp.dst_port)),
            TransportHeader::Udp { src_port, dst_port } => Some((src_port, dst_port)),
            TransportHeader::Other => None,
        }
    }
}

/// Decodes a frame of the given link type down to its transport payload. Never panics: frames
/// cut short or broken below the IP header decode as far as they go.
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Decoded<'_>, DecodeError> {
    let packet = link::slice(link, frame)?;
    let (ip_version, src, dst, ip_payload, ip_wire_payload) = match &packet.net {
        Some(LaxNetSlice::Ipv4(ipv4)) => {
            let header = ipv4.header();
            let header_len = usize::from(header.ihl()) * 4;
            let total = usize::from(header.total_len());
            (
                4,
                IpAddr::V4(header.source_addr()),
                IpAddr::V4(header.destination_addr()),
                ipv4.payload(),
                // Captures of offloaded segments can carry a zero total length.
                total.checked_sub(header_len).filter(|_| total > 0),
            )
        }
        Some(LaxNetSlice::Ipv6(ipv6)) => {
            let header = ipv6.header();
            let declared = usize::from(header.payload_length());
            let extensions = ipv6.extensions().slice().len();
            (
                6,
                IpAddr::V6(header.source_addr()),
                IpAddr::V6(header.destination_addr()),
                ipv6.payload(),
                declared.checked_sub(extensions).filter(|_| declared > 0),
            )
        }
        Some(LaxNetSlice::Arp(_)) | None => return Err(not_ip(&packet)),
    };
    let ip_wire_payload = ip_wire_payload.unwrap_or(ip_payload.payload.len());
    let (transport, payload, payload_length) = match &packet.transport {
        Some(TransportSlice::Tcp(tcp)) => {
            let header_len = tcp.header_slice().len();
            let header = TcpHeader {
                src_port: tcp.source_port(),
                dst_port: tcp.destination_port(),
                seq: tcp.sequence_number(),
                ack: tcp.acknowledgment_number(),
                flags: tcp.header_slice()[13],
            };
            (
                TransportHeader::Tcp(header),
                tcp.payload(),
                ip_wire_payload.saturating_sub(header_len),
            )
        }
        Some(TransportSlice::Udp(udp)) => {
            let declared = usize::from(udp.length()).saturating_sub(8);
            let ports = TransportHeader::Udp {
                src_port: udp.source_port(),
                dst_port: udp.destination_port(),
            };
            (ports, udp.payload(), declared)
        }
        _ => (TransportHeader::Other, ip_payload.payload, ip_wire_payload),
    };
    Ok(Decoded {
        ip_version,
        src,
        dst,
        protocol: ip_payload.ip_number.0,
        transport,
        payload,
        payload_length: u32::try_from(payload_length).unwrap_or(u32::MAX),
        // Every slice etherparse hands back lies inside `frame`.
        payload_offset: (payload.as_ptr() as usize - frame.as_ptr() as usize) as u32,
        fragment: ip_payload.fragmented,
    })
}

fn not_ip(packet: &LaxSlicedPacket<'_>) -> DecodeError {
    match &packet.stop_err {
        Some((error, _)) => DecodeError::Malformed(error.to_string()),
        None => DecodeError::NotIp,
    }
}
