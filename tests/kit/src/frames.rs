//! Ethernet/IPv4 frames built header by header (etherparse), for tests that need exact packets.

use std::net::Ipv4Addr;
use std::path::Path;

use etherparse::PacketBuilder;
use spider_wire::{Frame, LinkType, write_pcap};

/// SYN.
pub const SYN: u8 = 0x02;
/// FIN.
pub const FIN: u8 = 0x01;
/// RST.
pub const RST: u8 = 0x04;
/// PSH.
pub const PSH: u8 = 0x08;
/// ACK.
pub const ACK: u8 = 0x10;

/// An Ethernet/IPv4/TCP frame.
pub fn tcp_frame(
    from: (Ipv4Addr, u16),
    to: (Ipv4Addr, u16),
    flags: u8,
    seq: u32,
    ack: u32,
    payload: &[u8],
) -> Vec<u8> {
    let mut builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(from.0.octets(), to.0.octets(), 64)
        .tcp(from.1, to.1, seq, 65_535);
    if flags & SYN != 0 {
        builder = builder.syn();
    }
    if flags & FIN != 0 {
        builder = builder.fin();
    }
    if flags & RST != 0 {
        builder = builder.rst();
    }
    if flags & PSH != 0 {
        builder = builder.psh();
    }
    if flags & ACK != 0 {
        builder = builder.ack(ack);
    }
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, payload).expect("frame");
    frame
}

/// An Ethernet/IPv4/UDP frame.
pub fn udp_frame(from: (Ipv4Addr, u16), to: (Ipv4Addr, u16), payload: &[u8]) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(from.0.octets(), to.0.octets(), 64)
        .udp(from.1, to.1);
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, payload).expect("frame");
    frame
}

/// Writes Ethernet frames, each at its time (Unix microseconds), as a pcap file; the number
/// written.
pub fn write_ethernet_pcap<'a>(
    path: &Path,
    frames: impl IntoIterator<Item = (i64, &'a [u8])>,
) -> usize {
    let file = std::fs::File::create(path).expect("create the pcap");
    let frames = frames.into_iter().map(|(time_micros, data)| Frame {
        time_micros,
        link_type: LinkType::ETHERNET,
        wire_length: data.len() as u32,
        data,
    });
    write_pcap(std::io::BufWriter::new(file), frames).expect("write the pcap")
}
