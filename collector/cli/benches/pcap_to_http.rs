//! Throughput of the capture path — a pcap file through the pcap receiver and the session
//! processor into TCP sessions and HTTP exchanges — beside tshark doing the same on the same
//! file in the same run (conversations and HTTP requests/responses, out-of-order reassembly on).
//!
//! `cargo bench -p spider --bench pcap_to_http [-- MEGABYTES]` (default 120)
//!
//! The file is made-up HTTP/1.1 traffic (tests/kit http_capture: keep-alive, chunked, 3% of
//! segments out of order, 3% retransmitted), written once to `target/bench-http-MB.pcap`.
//! CPU time comes from /proc/self/stat, so "per core" counts both threads Spider uses.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use spider_collector::records::{Batch, RecordKind, Signal};
use spider_collector::{Factory, Output, conformance};
use spider_processor_session::{SESSION_PROCESSOR, SessionConfig};
use spider_receiver_pcap::{PCAP_RECEIVER, PcapConfig};
use spider_testkit::http_capture::{self, HttpCapture};

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn capture(megabytes: u64) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target")
        .join(format!("bench-http-{megabytes}.pcap"));
    if !path.exists() {
        let sessions = (megabytes * 1_000_000 / 40_000) as usize;
        let settings = HttpCapture {
            sessions,
            requests_per_session: 8,
            max_body: 15_000,
            disorder_per_mille: 30,
            retransmit_per_mille: 30,
            seed: 2026,
        };
        let written = http_capture::write(&path, &settings);
        eprintln!("wrote {}: {written:?}", path.display());
    }
    path
}

#[derive(Debug, Default)]
struct Counted {
    packets: usize,
    sessions: usize,
    http: usize,
}

async fn spider(path: &Path) -> Counted {
    let config = PcapConfig {
        file: Some(path.to_path_buf()),
        batch_size: 4096,
        ..PcapConfig::default()
    };
    let mut receiver = PCAP_RECEIVER
        .create(config, conformance::context(&PCAP_RECEIVER))
        .unwrap();
    let config = SessionConfig {
        emit_packets: true,
        ..SessionConfig::default()
    };
    let mut processor = SESSION_PROCESSOR
        .create(config, conformance::context(&SESSION_PROCESSOR))
        .unwrap();
    let (output, mut batches) = Output::channel(&[Signal::Capture], 8);
    receiver.start(output).await.unwrap();
    let mut counted = Counted::default();
    let mut out = Vec::new();
    let mut count = |out: &mut Vec<Batch>| {
        for batch in out.drain(..) {
            match batch.kind() {
                RecordKind::Packet => counted.packets += batch.len(),
                RecordKind::TcpSession => counted.sessions += batch.len(),
                RecordKind::Http => counted.http += batch.len(),
                _ => {}
            }
        }
    };
    while let Some(batch) = batches.recv().await {
        processor.process(batch, &mut out).await.unwrap();
        count(&mut out);
    }
    processor.shutdown(&mut out).await.unwrap();
    count(&mut out);
    receiver.shutdown().await.unwrap();
    counted
}

fn tshark(path: &Path) -> (f64, String) {
    let start = Instant::now();
    let output = Command::new("tshark")
        .args([
            "-n",
            "-q",
            "-o",
            "tcp.reassemble_out_of_order:TRUE",
            "-z",
            "conv,tcp",
            "-z",
            "http,tree",
            "-r",
        ])
        .arg(path)
        .output()
        .expect("tshark runs (apt-get install tshark)");
    let seconds = start.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&output.stdout);
    let requests = text
        .lines()
        .find(|line| line.trim_start().starts_with("Total HTTP Packets"))
        .unwrap_or("")
        .trim()
        .to_owned();
    (seconds, requests)
}

fn main() {
    let megabytes: u64 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(120);
    let path = capture(megabytes);
    let bytes = std::fs::metadata(&path).unwrap().len() as f64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let mut spider_runs = Vec::new();
    let mut counted = Counted::default();
    for _ in 0..3 {
        let (cpu, start) = (cpu_seconds(), Instant::now());
        counted = runtime.block_on(spider(&path));
        spider_runs.push((start.elapsed().as_secs_f64(), cpu_seconds() - cpu));
    }
    spider_runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (wall, cpu) = spider_runs[1];
    let (tshark_seconds, tshark_http) = tshark(&path);
    let gbit = |seconds: f64| bytes * 8.0 / seconds / 1e9;
    println!("file: {} ({:.1} MB)", path.display(), bytes / 1e6);
    println!("spider: {counted:?}");
    println!(
        "spider (median of 3): {wall:.3} s wall, {cpu:.3} s CPU = {:.2} Gbit/s, {:.2} Gbit/s per CPU second",
        gbit(wall),
        gbit(cpu)
    );
    println!(
        "tshark -z conv,tcp -z http,tree: {tshark_seconds:.3} s = {:.3} Gbit/s ({tshark_http})",
        gbit(tshark_seconds)
    );
    println!("spider is {:.1}x tshark (wall)", tshark_seconds / wall);
}
