//! Reading files: every public capture against tshark, frame by frame; broken files.

use std::path::Path;

use spider_collector::records::Packet;
use spider_collector::{ComponentConfig, conformance};
use spider_receiver_pcap::{PCAP_RECEIVER, PcapConfig};
use spider_testkit::captures::{public_pcap, public_pcaps, tshark, tshark_fields};

use crate::{drain, start};

fn file_config(path: &Path) -> PcapConfig {
    PcapConfig {
        file: Some(path.to_path_buf()),
        ..PcapConfig::default()
    }
}

async fn read(path: &Path) -> Result<Vec<Packet>, String> {
    Ok(drain(start(file_config(path)).await?).await)
}

#[tokio::test]
async fn lifecycle_and_config_conform() {
    conformance::check_component(PCAP_RECEIVER, file_config(&public_pcap("http.pcap"))).await;
}

#[test]
fn config_mistakes_are_refused_by_path() {
    let config = PcapConfig {
        interfaces: vec!["eth0".into(), "bad/name".into()],
        file: Some("x.pcap".into()),
        filter: Some("tcp port".into()),
        snaplen: 10,
        batch_size: 0,
        ..PcapConfig::default()
    };
    let errors = config.validate();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        ["file", "interfaces::1", "filter", "snaplen", "batch_size"]
    );
    assert!(
        errors[2].message.contains("not a valid capture filter"),
        "{}",
        errors[2].message
    );
    assert!(
        PcapConfig::default().validate().is_empty(),
        "the default captures on any"
    );
}

/// (source, destination, source port, destination port, wire length) of each IP frame.
type FrameKey = (String, String, String, String, u32);

fn ours(packets: &[Packet]) -> Vec<FrameKey> {
    packets
        .iter()
        .map(|p| {
            let port = |port: Option<u16>| port.map(|p| p.to_string()).unwrap_or_default();
            let transport = matches!(p.protocol, 6 | 17) && !p.fragment;
            let (sport, dport) = if transport {
                (port(p.src_port), port(p.dst_port))
            } else {
                Default::default()
            };
            (
                p.src_ip.to_string(),
                p.dst_ip.to_string(),
                sport,
                dport,
                p.wire_length,
            )
        })
        .collect()
}

fn theirs(path: &Path) -> Vec<FrameKey> {
    let fields = [
        "ip.src",
        "ipv6.src",
        "ip.dst",
        "ipv6.dst",
        "ip.proto",
        "ipv6.nxt",
        "tcp.srcport",
        "udp.srcport",
        "tcp.dstport",
        "udp.dstport",
        "frame.len",
        "ip.flags.mf",
        "ip.frag_offset",
    ];
    tshark_fields(path, "ip or ipv6", &fields)
        .into_iter()
        .map(|row| {
            let pick = |a: &str, b: &str| {
                if a.is_empty() {
                    b.to_owned()
                } else {
                    a.to_owned()
                }
            };
            let either = |a: usize, b: usize| pick(&row[a], &row[b]);
            let protocol = either(4, 5);
            let fragment = row[11] == "1" || row[12].parse::<u32>().unwrap_or(0) > 0;
            // The outer header's ports: a tunnel (L2TP) has TCP ports inside its UDP ones.
            let (sport, dport) = match protocol.as_str() {
                _ if fragment => Default::default(),
                "6" => (row[6].clone(), row[8].clone()),
                "17" => (row[7].clone(), row[9].clone()),
                _ => Default::default(),
            };
            // tshark prints IPv6 addresses compressed, as Rust does.
            (
                either(0, 1),
                either(2, 3),
                sport,
                dport,
                row[10].parse().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_public_capture_decodes_frame_by_frame_as_tshark_does() {
    let mut compared = 0;
    let mut refused = Vec::new();
    for path in public_pcaps() {
        let expected = theirs(&path);
        match read(&path).await {
            Ok(packets) => {
                let got = ours(&packets);
                let first_difference = got.iter().zip(&expected).position(|(a, b)| a != b);
                assert!(
                    got.len() == expected.len() && first_difference.is_none(),
                    "{}: {} frames against tshark's {}, first difference at {first_difference:?}: {:?} vs {:?}",
                    path.display(),
                    got.len(),
                    expected.len(),
                    first_difference.map(|i| &got[i]),
                    first_difference.map(|i| &expected[i]),
                );
                compared += expected.len();
            }
            Err(message) => refused.push(message),
        }
    }
    assert!(compared > 250, "only {compared} frames compared");
    assert!(refused.is_empty(), "refused: {refused:?}");
}

#[tokio::test]
async fn a_truncated_file_keeps_every_frame_before_the_cut() {
    let original = std::fs::read(public_pcap("http.pcap")).unwrap();
    let dir = spider_testkit::scratch("truncated");
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &original[..original.len() * 2 / 3]).unwrap();
    let before_cut = tshark(&cut, &[]).lines().count();
    let packets = read(&cut).await.expect("the readable part is read");
    assert!(before_cut > 10);
    assert_eq!(packets.len(), before_cut);
    std::fs::write(&cut, b"not a capture at all").unwrap();
    let error = read(&cut).await.expect_err("garbage is refused");
    assert!(
        error.contains("cannot read") && error.contains("cut.pcap"),
        "{error}"
    );
}

#[tokio::test]
async fn a_capture_filter_applies_to_files_as_tcpdump_would() {
    let path = public_pcap("http.pcap");
    let config = PcapConfig {
        filter: Some("udp port 53".into()),
        ..file_config(&path)
    };
    let packets = drain(start(config).await.unwrap()).await;
    let expected = tshark(&path, &["-Y", "udp.port == 53"]).lines().count();
    assert_eq!(packets.len(), expected);
    assert!(
        packets
            .iter()
            .all(|p| p.protocol == 17 && (p.src_port == Some(53) || p.dst_port == Some(53)))
    );
    assert!(expected > 0);
}

#[tokio::test]
async fn records_keep_the_original_frame_and_its_link_type() {
    let path = public_pcap("test_loopback.pcap");
    let packets = read(&path).await.unwrap();
    assert!(
        packets
            .iter()
            .all(|p| p.link_type == 0 && p.frame.len() as u32 == p.captured_length)
    );
    assert_eq!(packets[0].interface, "test_loopback.pcap");
    let lengths: Vec<u32> = tshark_fields(&path, "ip or ipv6", &["frame.cap_len"])
        .into_iter()
        .map(|row| row[0].parse().unwrap())
        .collect();
    assert_eq!(
        packets
            .iter()
            .map(|p| p.captured_length)
            .collect::<Vec<_>>(),
        lengths
    );
}
