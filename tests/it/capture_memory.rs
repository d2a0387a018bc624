//! The session processor's memory under floods, as the process's peak RSS shows it: a SYN flood
//! of 200,000 half-open sessions and a flood of pipelined requests that are never answered, read
//! from a file. With `max_buffered_bytes` at 16 MiB the process stays within that of a run over
//! one quiet session; with the default (256 MiB) the same floods take far more — the cap is what
//! holds them.

use std::net::Ipv4Addr;
use std::path::Path;

use spider_testkit::frames::{ACK, PSH, SYN, tcp_frame, write_ethernet_pcap};
use spider_testkit::python_json;

use crate::support::{config_file, scratch};

const SYNS: u32 = 200_000;
const FLOODERS: u16 = 40;
const REQUESTS_EACH: u32 = 150;

/// Writes the floods (or, `quiet`, one request) as a pcap file.
fn write_floods(path: &Path, quiet: bool) {
    let server = (Ipv4Addr::new(10, 1, 0, 1), 80);
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let syns = if quiet { 1 } else { SYNS };
    for n in 0..syns {
        let client = (
            Ipv4Addr::from(0x0a02_0000 + n / 50_000),
            10_000 + (n % 50_000) as u16,
        );
        frames.push(tcp_frame(client, server, SYN, n, 0, b""));
    }
    let path_of = "x".repeat(2_000);
    let (flooders, requests) = if quiet {
        (1, 1)
    } else {
        (FLOODERS, REQUESTS_EACH)
    };
    for flooder in 0..flooders {
        let client = (Ipv4Addr::new(10, 3, 0, 1), 30_000 + flooder);
        frames.push(tcp_frame(client, server, SYN, 100, 0, b""));
        frames.push(tcp_frame(server, client, SYN | ACK, 500, 101, b""));
        let mut seq = 101u32;
        for request in 0..requests {
            let bytes = format!("GET /{path_of}/{request} HTTP/1.1\r\nHost: shop\r\n\r\n");
            frames.push(tcp_frame(
                client,
                server,
                PSH | ACK,
                seq,
                501,
                bytes.as_bytes(),
            ));
            seq = seq.wrapping_add(bytes.len() as u32);
        }
    }
    let start = 1_763_700_000_000_000i64;
    let timed = frames.iter().enumerate();
    write_ethernet_pcap(
        path,
        timed.map(|(n, data)| (start + n as i64 * 10, &data[..])),
    );
}

/// Peak RSS (KiB) of `spider collect` reading `pcap` through the session processor with
/// `max_buffered_bytes`. Batches of 64 frames keep what waits between the receiver and the
/// processor (64 batches) small beside the cap: that queue is the pipeline's, not the processor's.
fn peak_rss(name: &str, pcap: &Path, max_buffered_bytes: &str) -> u64 {
    let config = config_file(
        name,
        &format!(
            r#"
receivers:
  pcap: {{ file: "{pcap}", batch_size: 64 }}
processors:
  session: {{ emit_packets: false, max_sessions: 1000000, max_buffered_bytes: {max_buffered_bytes} }}
exporters:
  debug: {{ sending_queue: {{ queue_size: 4, when_full: block }} }}
service:
  telemetry: {{ logs: {{ level: warn }}, metrics: {{ level: none }} }}
  pipelines:
    capture: {{ receivers: [pcap], processors: [session], exporters: [debug] }}
"#,
            pcap = pcap.display()
        ),
    );
    let run = python_json(
        "peak_rss.py",
        &[
            env!("CARGO_BIN_EXE_spider"),
            "collect",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert_eq!(run["status"], 0, "{}", run["stderr"]);
    run["peak_rss_kib"].as_u64().unwrap()
}

#[test]
fn syn_and_pipelining_floods_stay_within_the_session_memory_cap() {
    let dir = scratch("capture-memory");
    let (floods, quiet) = (dir.join("floods.pcap"), dir.join("quiet.pcap"));
    write_floods(&floods, false);
    write_floods(&quiet, true);
    let baseline = peak_rss("memory-quiet", &quiet, "16777216");
    let capped = peak_rss("memory-capped", &floods, "16777216");
    let uncapped = peak_rss("memory-default", &floods, "268435456");
    eprintln!(
        "peak RSS: quiet {baseline} KiB, floods capped at 16 MiB {capped} KiB, floods under the default {uncapped} KiB"
    );
    // The cap, and room for what is in flight to the exporter and the allocator's slack.
    assert!(
        capped <= baseline + 16 * 1024 + 24 * 1024,
        "capped at 16 MiB the floods took {capped} KiB, a quiet run {baseline} KiB"
    );
    assert!(
        uncapped >= capped + 64 * 1024,
        "the floods must be big enough for the cap to matter: {uncapped} KiB uncapped, {capped} KiB capped"
    );
}
