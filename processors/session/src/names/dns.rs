//! Addresses named by DNS answers (over UDP, and over TCP with its length prefix).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use simple_dns::rdata::RData;
use simple_dns::{Packet, PacketFlag};

/// The DNS port.
pub const PORT: u16 = 53;

/// The (address, name) pairs a DNS response gives: every A/AAAA answer, named by the question
/// (the name the client asked for, not the end of a CNAME chain).
pub fn answers(message: &[u8]) -> Vec<(IpAddr, String)> {
    let Ok(packet) = Packet::parse(message) else {
        return Vec::new();
    };
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
