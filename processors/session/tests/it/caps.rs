//! Memory caps, and random input: nothing panics, and the table never outgrows its limits.

use std::net::Ipv4Addr;

use proptest::prelude::*;
use spider_collector::records::CloseReason;
use spider_processor_session::{Limits, SessionConfig, Tracker};

use crate::track_with;
use crate::wire::{ACK, Conn, PSH, record, record_as, tcp_frame};

/// The total cap of the small limits.
const TOTAL_CAP: usize = 64 * 1024;

fn small_limits() -> Limits {
    Limits {
        max_sessions: 16,
        reassembly_per_direction: 4096,
        // 16 sessions' own cost (their table slots and records, about 2 KB each), and room.
        max_buffered: TOTAL_CAP,
        max_hosts: 16,
        ..SessionConfig::default().limits()
    }
}

#[test]
fn beyond_max_sessions_the_least_recent_are_evicted_and_counted() {
    let mut tracker = Tracker::new(small_limits());
    for port in 0..100u16 {
        let mut conn = Conn::new(10_000 + port, 1, 2);
        conn.now += i64::from(port) * 1_000_000;
        let mut packet = conn.send(true, crate::wire::SYN, b"");
        tracker.packet(&mut packet);
        assert!(tracker.session_count() <= 16);
    }
    let (evicted, _) = tracker.take_records();
    assert!(
        evicted
            .iter()
            .all(|s| s.close_reason == CloseReason::Evicted)
    );
    assert_eq!(evicted.len() as u64, tracker.stats().evicted);
    assert!(
        evicted.iter().all(|s| s.client_port < 10_000 + 100 - 16),
        "the oldest went first"
    );
}

#[test]
fn the_flow_table_gives_its_slots_back_once_a_syn_flood_has_expired() {
    let mut tracker = Tracker::new(SessionConfig::default().limits());
    for port in 0..20_000u16 {
        let mut conn = Conn::new(1_000 + port, 1, 2);
        let mut packet = conn.send(true, crate::wire::SYN, b"");
        tracker.packet(&mut packet);
    }
    assert_eq!(tracker.session_count(), 20_000);
    let flooded = tracker.table_slots();
    assert!(flooded >= 20_000);
    let idle = SessionConfig::default().limits().idle_timeout_us;
    let later = tracker.clock().as_micros() + idle + 1;
    tracker.expire(spider_collector::records::Timestamp::from_micros(later));
    assert_eq!(tracker.session_count(), 0);
    assert!(
        tracker.table_slots() < flooded / 8,
        "{} slots kept of {flooded}",
        tracker.table_slots()
    );
}

#[test]
fn never_answered_pipelined_requests_count_against_the_total_cap() {
    let mut tracker = Tracker::new(small_limits());
    let mut conn = Conn::new(44_000, 1, 2);
    let path = "p".repeat(1_000);
    let mut most = 0;
    let mut packets = conn.handshake();
    for n in 0..100 {
        let request = format!("GET /{path}/{n} HTTP/1.1\r\nHost: shop\r\n\r\n");
        packets.push(conn.send(true, PSH, request.as_bytes()));
    }
    for packet in &mut packets {
        tracker.packet(packet);
        most = most.max(tracker.buffered());
        assert!(
            tracker.buffered() <= TOTAL_CAP,
            "held {}",
            tracker.buffered()
        );
    }
    assert!(
        most > 8 * 1024,
        "the waiting requests are counted: at most {most} bytes held"
    );
    assert!(
        tracker.stats().evicted > 0,
        "64 waiting requests of 1 KB are more than the 64 KiB cap"
    );
}

#[test]
fn out_of_order_data_beyond_the_session_cap_skips_its_hole_and_the_total_cap_evicts() {
    let mut conn = Conn::new(43_000, 1, 2);
    let mut packets = conn.handshake();
    let start = conn.client_seq;
    // A hole at the start, then 8 KiB out of order: more than the 4 KiB a direction may hold.
    for i in 1..=8u32 {
        packets.push(conn.send_at(true, start.wrapping_add(i * 1024), &[0u8; 1024]));
    }
    let mut tracker = Tracker::new(small_limits());
    let (handshake, data) = packets.split_at_mut(3);
    for packet in handshake {
        tracker.packet(packet);
    }
    // What the session costs holding nothing; then its direction's 4 KiB at most, and the HTTP
    // parser's state its first data (to port 80) brings, a few hundred bytes.
    let empty = tracker.buffered();
    for packet in data {
        tracker.packet(packet);
        let held = tracker.buffered();
        assert!(
            held <= empty + 4096 + 512,
            "held {held}, of which {empty} empty"
        );
    }
    // Many sessions each holding out-of-order bytes: the total stays under its cap.
    for port in 0..40u16 {
        let mut conn = Conn::new(20_000 + port, 1, 2);
        let mut handshake = conn.handshake();
        let mut ahead = conn.send_at(true, conn.client_seq.wrapping_add(100), &[0u8; 3000]);
        for packet in handshake.iter_mut().chain(std::iter::once(&mut ahead)) {
            tracker.packet(packet);
        }
        assert!(
            tracker.buffered() <= TOTAL_CAP,
            "held {}",
            tracker.buffered()
        );
    }
    assert!(tracker.stats().evicted > 0);
}

/// Mutates a valid frame: flips, truncates or extends it.
fn mutate(mut frame: Vec<u8>, edits: &[(usize, u8)], cut: Option<usize>) -> Vec<u8> {
    for (at, byte) in edits {
        if !frame.is_empty() {
            let at = at % frame.len();
            frame[at] ^= byte;
        }
    }
    if let Some(cut) = cut {
        frame.truncate(cut % (frame.len() + 1));
    }
    frame
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_and_mutated_frames_never_panic_nor_outgrow_the_caps(
        segments in prop::collection::vec(
            (0u8..4, any::<u8>(), 0u32..20_000, prop::collection::vec(any::<u8>(), 0..600)),
            1..80,
        ),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in prop::option::of(any::<usize>()),
        garbage in prop::collection::vec(any::<u8>(), 0..200),
        noise in any::<u32>(),
    ) {
        let mut tracker = Tracker::new(small_limits());
        let mut time = 1_700_000_000_000_000i64;
        let mut frames = Vec::new();
        for (index, (who, flags, offset, payload)) in segments.iter().enumerate() {
            let client = (Ipv4Addr::new(10, 0, 0, 1), 40_000 + u16::from(*who % 2));
            let server = (Ipv4Addr::new(10, 0, 0, 2), 80);
            let (from, to) = if who & 2 == 0 { (client, server) } else { (server, client) };
            let mut payload = payload.clone();
            if index % 3 == 0 {
                payload.splice(0..0, b"GET / HTTP/1.1\r\nContent-Length: 9\r\n\r\n".iter().copied());
            }
            let frame = tcp_frame(from, to, *flags | ACK | PSH, 1_000 + offset, 1, &payload);
            frames.push(if index % 5 == 0 { mutate(frame, &edits, cut) } else { frame });
        }
        frames.push(garbage);
        for (index, frame) in frames.iter().enumerate() {
            time += 10;
            // Each frame read as every link type, as the receiver would record it.
            for link_type in [1u16, 101, 113, 276, 0] {
                let Some(mut packet) = record_as(frame, link_type, time) else {
                    continue;
                };
                // Records that lie about where their payload is must not hurt either.
                if index % 7 == 0 {
                    packet.payload_offset ^= noise;
                    packet.payload_length = packet.payload_length.wrapping_add(noise);
                }
                tracker.packet(&mut packet);
            }
            prop_assert!(tracker.session_count() <= 16);
            prop_assert!(tracker.buffered() <= TOTAL_CAP);
        }
        tracker.finish();
        prop_assert_eq!(tracker.session_count(), 0);
        prop_assert_eq!(tracker.buffered(), 0);
    }
}

#[test]
fn the_fuzz_harness_reaches_the_parsers() {
    // Guards the property test above against generating only frames that never decode.
    let client = (Ipv4Addr::new(10, 0, 0, 1), 40_000);
    let server = (Ipv4Addr::new(10, 0, 0, 2), 80);
    let request = tcp_frame(
        client,
        server,
        ACK | PSH,
        1_000,
        1,
        b"GET / HTTP/1.1\r\n\r\n",
    );
    let response = tcp_frame(
        server,
        client,
        ACK | PSH,
        1,
        1_019,
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    );
    let outcome = track_with(
        Tracker::new(small_limits()),
        vec![record(&request, 1), record(&response, 2)],
    );
    assert_eq!(outcome.http.len(), 1);
}
