//! Live capture on the loopback interface: the filter, the snap length, the rate limit.

use std::net::UdpSocket;
use std::time::Duration;

use spider_collector::config::GoDuration;
use spider_collector::records::{Batch, Packet};
use spider_receiver_pcap::PcapConfig;
use spider_testkit::netns::privileged;

use crate::{Running, start};

const PAYLOAD: usize = 1000;

fn live(port: u16) -> PcapConfig {
    PcapConfig {
        interfaces: vec!["lo".into()],
        filter: Some(format!("udp dst port {port}")),
        flush_interval: GoDuration::from_millis(20),
        ..PcapConfig::default()
    }
}

/// Sends `count` datagrams of PAYLOAD bytes to 127.0.0.1:`port`.
fn send(port: u16, count: usize) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    for _ in 0..count {
        socket
            .send_to(&[7u8; PAYLOAD], ("127.0.0.1", port))
            .unwrap();
    }
}

/// Collects packets until `expected` arrived or the capture has been quiet for a second.
async fn collect(mut running: Running, expected: usize) -> Vec<Packet> {
    let mut packets = Vec::new();
    while packets.len() < expected {
        match tokio::time::timeout(Duration::from_secs(1), running.batches.recv()).await {
            Ok(Some(Batch::Packets(batch))) => packets.extend(batch),
            Ok(Some(_)) => panic!("the receiver sends packets only"),
            Ok(None) | Err(_) => break,
        }
    }
    running.receiver.shutdown().await.unwrap();
    packets
}

fn unused_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn live_capture_takes_exactly_what_the_filter_selects_cut_to_the_snap_length() {
    if !privileged() {
        return;
    }
    let port = unused_udp_port();
    let config = PcapConfig {
        snaplen: 128,
        ..live(port)
    };
    let running = start(config).await.unwrap();
    send(port, 200);
    send(unused_udp_port(), 20);
    let packets = collect(running, 200).await;
    assert_eq!(packets.len(), 200);
    for packet in &packets {
        assert_eq!(packet.dst_port, Some(port));
        assert_eq!(packet.interface, "lo");
        assert_eq!((packet.captured_length, packet.frame.len()), (128, 128));
        assert_eq!(packet.wire_length as usize, 14 + 20 + 8 + PAYLOAD);
        assert_eq!(
            packet.payload_length as usize, PAYLOAD,
            "known from the headers, not the capture"
        );
    }
}

#[tokio::test]
async fn above_the_rate_limit_packets_are_dropped() {
    if !privileged() {
        return;
    }
    let port = unused_udp_port();
    let config = PcapConfig {
        max_packets_per_second: 50,
        ..live(port)
    };
    let running = start(config).await.unwrap();
    send(port, 500);
    let packets = collect(running, 500).await;
    // A full second's worth (50) may pass as a burst, plus what refills while sending.
    assert!(
        (45..=80).contains(&packets.len()),
        "{} passed",
        packets.len()
    );
}

#[tokio::test]
async fn an_interface_that_does_not_exist_is_reported_and_the_rest_keeps_running() {
    let config = PcapConfig {
        interfaces: vec!["nosuchif0".into()],
        ..PcapConfig::default()
    };
    let running = start(config)
        .await
        .expect("start does not fail the collector");
    let packets = collect(running, 1).await;
    assert!(packets.is_empty());
}
