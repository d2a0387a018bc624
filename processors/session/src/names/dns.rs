//! Addresses named by DNS answers (over UDP, and over TCP with its length prefix).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use simple_dns::rdata::RData;
use simple_dns::{Packet, PacketFlag};

/// The DNS port.
pub const PORT: u16 = 53;

/// How many lower answer counts are tried on a message cut short.
const MAX_CUT_ATTEMPTS: u16 = 32;

/// The (address, name) pairs a DNS response gives: every A/AAAA answer, named by the question
/// (the name the client asked for, not the end of a CNAME chain). A message cut short (by a
/// capture's snap length) gives the answers that are whole in it, as tshark reads them: the
/// authority and additional records are left out, then the answer count is lowered until the
/// rest parses.
pub fn answers(message: &[u8]) -> Vec<(IpAddr, String)> {
    if let Ok(packet) = Packet::parse(message) {
        return named_addresses(&packet);
    }
    // Only a response (QR bit set) is worth reading again cut short.
    if message.len() < 12 || message[2] & 0x80 == 0 {
        return Vec::new();
    }
    let announced = u16::from_be_bytes([message[6], message[7]]);
    let mut shortened = message.to_vec();
    shortened[8..12].fill(0);
    for count in (announced.saturating_sub(MAX_CUT_ATTEMPTS)..=announced).rev() {
        shortened[6..8].copy_from_slice(&count.to_be_bytes());
        if let Ok(packet) = Packet::parse(&shortened) {
            return named_addresses(&packet);
        }
    }
    Vec::new()
}

fn named_addresses(packet: &Packet<'_>) -> Vec<(IpAddr, String)> {
    if !packet.has_flags(PacketFlag::RESPONSE) {
        return Vec::new();
    }
    let Some(question) = packet.questions.first() else {
        return Vec::new();
    };
    let asked = question
        .qname
        .to_string()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if asked.is_empty() {
        return Vec::new();
    }
    packet
        .answers
        .iter()
        .filter_map(|answer| match &answer.rdata {
            RData::A(a) => Some(IpAddr::V4(Ipv4Addr::from(a.address))),
            RData::AAAA(aaaa) => Some(IpAddr::V6(Ipv6Addr::from(aaaa.address))),
            _ => None,
        })
        .map(|ip| (ip, asked.clone()))
        .collect()
}

/// DNS messages of a TCP stream, each behind a two-byte length.
#[derive(Debug, Default)]
pub struct TcpMessages {
    held: Vec<u8>,
}

impl TcpMessages {
    /// Bytes held.
    pub fn buffered(&self) -> usize {
        self.held.len()
    }

    /// Takes in-order bytes; returns the answers of the messages they completed.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<(IpAddr, String)> {
        self.held.extend_from_slice(bytes);
        let mut found = Vec::new();
        let mut at = 0;
        while self.held.len() >= at + 2 {
            let length = usize::from(u16::from_be_bytes([self.held[at], self.held[at + 1]]));
            if self.held.len() < at + 2 + length {
                break;
            }
            found.extend(answers(&self.held[at + 2..at + 2 + length]));
            at += 2 + length;
        }
        self.held.drain(..at);
        found
    }

    /// Drops what is held (a gap makes the framing unknowable).
    pub fn reset(&mut self) {
        self.held = Vec::new();
    }
}
