//! Link-layer framings a capture can carry, and how each one reaches the IP header.

use etherparse::{EtherType, LaxSlicedPacket};

use crate::decode::DecodeError;

/// A pcap link type (the `LINKTYPE_*` registry of tcpdump.org).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub u16);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the capturing host's byte order.
    pub const NULL: Self = Self(0);
    /// Ethernet II, possibly with VLAN tags.
    pub const ETHERNET: Self = Self(1);
    /// Raw IP as some systems number it.
    pub const RAW_LEGACY: Self = Self(12);
    /// Raw IP, version from the first nibble.
    pub const RAW: Self = Self(101);
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    pub const LOOP: Self = Self(108);
    /// Linux "cooked" capture v1 (`tcpdump -i any`).
    pub const LINUX_SLL: Self = Self(113);
    /// Raw IPv4.
    pub const IPV4: Self = Self(228);
    /// Raw IPv6.
    pub const IPV6: Self = Self(229);
    /// Linux "cooked" capture v2.
    pub const LINUX_SLL2: Self = Self(276);

    /// Whether [`crate::decode`] understands this framing.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            Self::NULL
                | Self::ETHERNET
                | Self::RAW_LEGACY
                | Self::RAW
                | Self::LOOP
                | Self::LINUX_SLL
                | Self::IPV4
                | Self::IPV6
                | Self::LINUX_SLL2
        )
    }
}

/// Lengths of the cooked-capture headers and where they keep the EtherType.
const SLL_LEN: usize = 16;
const SLL_PROTOCOL_AT: usize = 14;
const SLL2_LEN: usize = 20;
const SLL2_PROTOCOL_AT: usize = 0;
const LOOPBACK_LEN: usize = 4;

/// Slices `frame` from its link header down, leniently: a frame cut short by the snap length
/// still yields the headers it holds.
pub(crate) fn slice(link: LinkType, frame: &[u8]) -> Result<LaxSlicedPacket<'_>, DecodeError> {
    let too_short = || DecodeError::Truncated {
        link: link.0,
        length: frame.len(),
    };
    match link {
        LinkType::ETHERNET => match pppoe_payload(frame) {
            Some(ip) => {
                LaxSlicedPacket::from_ip(ip).map_err(|e| DecodeError::Malformed(e.to_string()))
            }
            None => LaxSlicedPacket::from_ethernet(frame).map_err(|_| too_short()),
        },
        LinkType::RAW | LinkType::RAW_LEGACY | LinkType::IPV4 | LinkType::IPV6 => {
            LaxSlicedPacket::from_ip(frame).map_err(|e| DecodeError::Malformed(e.to_string()))
        }
        LinkType::LINUX_SLL => cooked(frame, SLL_LEN, SLL_PROTOCOL_AT).ok_or_else(too_short),
        LinkType::LINUX_SLL2 => cooked(frame, SLL2_LEN, SLL2_PROTOCOL_AT).ok_or_else(too_short),
        LinkType::NULL | LinkType::LOOP => {
            if frame.len() < LOOPBACK_LEN {
                return Err(too_short());
            }
            // The family's value differs per OS (AF_INET6 is 10, 24, 28 or 30), so the IP
            // version nibble decides instead.
            LaxSlicedPacket::from_ip(&frame[LOOPBACK_LEN..])
                .map_err(|e| DecodeError::Malformed(e.to_string()))
        }
        other => Err(DecodeError::UnsupportedLinkType(other.0)),
    }
}

/// EtherTypes of VLAN tags, and of a PPPoE session (DSL uplinks).
const VLAN_TAGS: [u16; 3] = [0x8100, 0x88a8, 0x9100];
const PPPOE_SESSION: u16 = 0x8864;
/// PPP protocol numbers of IPv4 and IPv6.
const PPP_IP: [u16; 2] = [0x0021, 0x0057];

/// The IP packet inside a PPPoE session frame (behind any VLAN tags), which etherparse does not
/// unwrap.
fn pppoe_payload(frame: &[u8]) -> Option<&[u8]> {
    let ether_type = |at: usize| {
        frame
            .get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    let mut at = 12;
    while VLAN_TAGS.contains(&ether_type(at)?) {
        at += 4;
    }
    if ether_type(at)? != PPPOE_SESSION {
        return None;
    }
    // EtherType, then the 6-byte PPPoE header, then the PPP protocol.
    let ppp_protocol = ether_type(at + 8)?;
    PPP_IP.contains(&ppp_protocol).then(|| &frame[at + 10..])
}

fn cooked(frame: &[u8], header_len: usize, protocol_at: usize) -> Option<LaxSlicedPacket<'_>> {
    if frame.len() < header_len {
        return None;
    }
    let protocol = u16::from_be_bytes([frame[protocol_at], frame[protocol_at + 1]]);
    Some(LaxSlicedPacket::from_ether_type(
        EtherType(protocol),
        &frame[header_len..],
    ))
}
