//! Fuzzing the frame decoder (proptest): well-formed frames of every supported framing, then
//! cut, flipped and overwritten, and plain noise, under every link type. Nothing panics, and
//! whatever decodes points inside its frame. `PROPTEST_CASES` sets the number of inputs (256 in
//! CI; the long run in the README sets millions).

use etherparse::PacketBuilder;
use proptest::prelude::*;

use crate::{LinkType, decode};

/// Every link type the decoder knows, and one it does not.
const LINKS: [LinkType; 10] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::RAW_LEGACY,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
    LinkType(147),
];

/// A well-formed frame: IPv4 or IPv6, TCP or UDP, behind the framing of `link`.
fn frame(link: LinkType, v6: bool, tcp: bool, payload: &[u8]) -> Vec<u8> {
    let ip = |builder: etherparse::PacketBuilderStep<etherparse::Ethernet2Header>| {
        if v6 {
            builder.ipv6([1; 16], [2; 16], 64)
        } else {
            builder.ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        }
    };
    let ip_only = if v6 {
        PacketBuilder::ipv6([1; 16], [2; 16], 64)
    } else {
        PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
    };
    let mut bytes = Vec::new();
    let (builder, framing) = match link {
        LinkType::ETHERNET => (ip(PacketBuilder::ethernet2([1; 6], [2; 6])), Vec::new()),
        LinkType::LINUX_SLL => {
            let mut sll = vec![0u8; 16];
            sll[14..16].copy_from_slice(&if v6 { 0x86ddu16 } else { 0x0800 }.to_be_bytes());
            (ip_only, sll)
        }
        LinkType::LINUX_SLL2 => {
            let mut sll2 = vec![0u8; 20];
            sll2[0..2].copy_from_slice(&if v6 { 0x86ddu16 } else { 0x0800 }.to_be_bytes());
            (ip_only, sll2)
        }
        LinkType::NULL | LinkType::LOOP => (ip_only, vec![2, 0, 0, 0]),
        _ => (ip_only, Vec::new()),
    };
    bytes.extend(framing);
    if tcp {
        let builder = builder.tcp(40_000, 80, 7, 1024).ack(1).psh();
        builder.write(&mut bytes, payload).unwrap();
    } else {
        builder.udp(53, 5353).write(&mut bytes, payload).unwrap();
    }
    bytes
}

/// Cuts, byte overwrites and noise appended to `bytes`.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], cut: Option<usize>, tail: &[u8]) -> Vec<u8> {
    for &(at, value) in edits {
        if !bytes.is_empty() {
            let at = at % bytes.len();
            bytes[at] = value;
        }
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes.extend_from_slice(tail);
    bytes
}

/// What every decode must hold: no panic, and a payload that is the frame's own bytes.
fn check(link: LinkType, bytes: &[u8]) {
    if let Ok(decoded) = decode(link, bytes) {
        let start = decoded.payload_offset as usize;
        let end = start + decoded.payload.len();
        assert!(end <= bytes.len(), "the payload ends inside the frame");
        assert_eq!(&bytes[start..end], decoded.payload);
    }
}

proptest! {
    #[test]
    fn well_formed_frames_decode_to_their_payload(
        link in prop::sample::select(&LINKS[..]),
        v6 in any::<bool>(),
        tcp in any::<bool>(),
        payload in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let bytes = frame(link, v6, tcp, &payload);
        match decode(link, &bytes) {
            Ok(decoded) => {
                prop_assert!(link.is_supported());
                prop_assert_eq!(decoded.payload, &payload[..]);
                prop_assert_eq!(decoded.ports().map(|(_, port)| port), Some(if tcp { 80 } else { 5353 }));
            }
            Err(error) => prop_assert!(!link.is_supported(), "{error}"),
        }
    }

    #[test]
    fn mutated_frames_of_every_framing_decode_within_themselves(
        link in prop::sample::select(&LINKS[..]),
        as_link in prop::sample::select(&LINKS[..]),
        v6 in any::<bool>(),
        tcp in any::<bool>(),
        payload in prop::collection::vec(any::<u8>(), 0..300),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<usize>()),
        tail in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let bytes = mutate(frame(link, v6, tcp, &payload), &edits, cut, &tail);
        // Read as its own framing, and as another one, as a mislabelled capture would be.
        check(link, &bytes);
        check(as_link, &bytes);
    }

    #[test]
    fn noise_under_every_link_type_is_an_error_or_decodes_within_itself(
        link in prop::sample::select(&LINKS[..]),
        bytes in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        check(link, &bytes);
    }
}
