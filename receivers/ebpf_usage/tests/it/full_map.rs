//! A kernel flow map given more new flows than it holds: the flows that fit are counted, the
//! rest are counted as overflow (not lost silently), the fill ratio says the map was full, and
//! counting resumes after the drain.

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use spider_receiver_ebpf_usage::Kernel;
use spider_testkit::cluster::cgroup_root;

use crate::netns::privileged;

/// `max_flows`: the map holds twice as many entries (two generations), and one generation
/// may fill it.
const CAPACITY: u32 = 1_024;
const TARGET: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 3);

/// One UDP datagram from one socket to each port from `first`, `count` of them: as many flows.
fn udp_flows(first: u16, count: u16) {
    let script = format!(
        "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         for port in range({first}, {first} + {count}):\n    s.sendto(b'x', ('{TARGET}', port))\n"
    );
    let status = Command::new("python3")
        .args(["-c", &script])
        .status()
        .expect("python3 runs");
    assert!(status.success());
}

/// The ports of `TARGET` among drained entries.
fn target_ports(
    entries: &[(
        spider_receiver_ebpf_usage::FlowKey,
        spider_receiver_ebpf_usage::FlowValue,
    )],
) -> Vec<u16> {
    let mut ports: Vec<u16> = entries
        .iter()
        .filter(|(key, _)| key.dst_ip() == IpAddr::V4(TARGET))
        .map(|(key, _)| key.dst_port)
        .collect();
    ports.sort_unstable();
    ports
}

#[tokio::test]
async fn a_full_map_counts_what_fits_tells_the_overflow_and_recovers_after_the_drain() {
    let Some(_turn) = privileged().await else {
        return;
    };
    let mut kernel = Kernel::attach(&cgroup_root(), CAPACITY).expect("attach");
    // Whatever the machine sent before is drained first, so the map starts empty.
    kernel.drain().await.expect("drain");
    kernel.drain().await.expect("drain");
    let overflow_before = kernel.overflowed();

    let flows = 3 * CAPACITY as u16;
    udp_flows(20_000, flows);
    let drained = kernel.drain().await.expect("drain");
    assert_eq!(drained.fill, 1.0, "the map was full");
    assert_eq!(
        drained.entries.len(),
        2 * CAPACITY as usize,
        "as many as it holds"
    );
    let counted = target_ports(&drained.entries).len() as u64;
    let overflowed = kernel.overflowed() - overflow_before;
    assert!(
        counted + overflowed >= u64::from(flows),
        "every flow counted or told as overflow: {counted} + {overflowed} < {flows}"
    );
    assert!(overflowed >= u64::from(flows) - 2 * u64::from(CAPACITY));

    // The drained generation is empty again: new flows are counted.
    udp_flows(40_000, 10);
    let drained = kernel.drain().await.expect("drain");
    assert_eq!(
        target_ports(&drained.entries),
        (40_000..40_010).collect::<Vec<_>>()
    );
    assert!(drained.fill < 0.5, "{}", drained.fill);
}
