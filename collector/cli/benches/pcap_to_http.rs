//! `spider analyze` end to end — a pcap file read, TCP sessions reassembled, HTTP parsed and the
//! `packets`, `tcp_sessions`, `http` and `hosts` datasets written as Parquet — beside tshark
//! reading the same file in the same run: its TCP conversations (`-z conv,tcp`) and every HTTP
//! request's method and URI and every response's status (`-T fields`), out-of-order
//! reassembly on.
//!
//! `cargo bench -p spider --bench pcap_to_http [-- MEGABYTES…]` (default 220; give two sizes,
//! `-- 220 2200`, to see whether memory stays flat in the file size; tshark reads the first).
//!
//! The file is made-up HTTP/1.1 traffic (tests/kit http_capture: keep-alive, chunked, 3% of
//! segments out of order, 3% retransmitted), written once to `target/bench-http-MB.pcap`.
//! Each program runs under GNU time (Debian's `time` package), which gives its CPU seconds
//! (user + system, every thread) and its peak RSS.

use std::path::{Path, PathBuf};
use std::process::Command;

use spider_testkit::http_capture::{self, HttpCapture};

/// Spider runs per arm; the median by CPU time is reported.
const RUNS: usize = 3;

fn capture(megabytes: u64) -> PathBuf {
    let path = target().join(format!("bench-http-{megabytes}.pcap"));
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

fn target() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target")
}

/// What one program run cost.
#[derive(Debug, Clone, Copy)]
struct Cost {
    wall: f64,
    cpu: f64,
    peak_rss_mb: f64,
}

/// Runs `program args…` under GNU time; its cost and standard output.
fn measured(program: &Path, args: &[&str]) -> (Cost, String) {
    let report = target().join("bench-time.txt");
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%e %U %S %M", "-o"])
        .arg(&report)
        .arg(program)
        .args(args)
        .output()
        .expect("/usr/bin/time runs (apt-get install time)");
    assert!(
        output.status.success(),
        "{} failed: {}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = std::fs::read_to_string(&report).expect("GNU time's report");
    let fields: Vec<f64> = report
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .map(|field| field.parse().expect("a number in GNU time's report"))
        .collect();
    let cost = Cost {
        wall: fields[0],
        cpu: fields[1] + fields[2],
        peak_rss_mb: fields[3] / 1024.0,
    };
    (cost, String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The median run of `spider analyze FILE` by CPU time, and what it found.
fn spider(file: &Path, extra: &[&str]) -> (Cost, String) {
    let out = target().join("bench-analyze");
    let mut runs = Vec::new();
    for _ in 0..RUNS {
        // A fresh lake each time: the summary counts every row under --out.
        let _ = std::fs::remove_dir_all(&out);
        let mut args = vec![
            "analyze",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        runs.push(measured(Path::new(env!("CARGO_BIN_EXE_spider")), &args));
    }
    let _ = std::fs::remove_dir_all(&out);
    runs.sort_by(|a, b| a.0.cpu.total_cmp(&b.0.cpu));
    runs.swap_remove(RUNS / 2)
}

/// tshark's conversations and HTTP fields of `file`; its cost and the requests it listed.
fn tshark(file: &Path) -> (Cost, usize) {
    let (cost, fields) = measured(
        Path::new("/usr/bin/tshark"),
        &[
            "-n",
            "-o",
            "tcp.reassemble_out_of_order:TRUE",
            "-z",
            "conv,tcp",
            "-Y",
            "http",
            "-T",
            "fields",
            "-e",
            "tcp.stream",
            "-e",
            "http.request.method",
            "-e",
            "http.request.uri",
            "-e",
            "http.response.code",
            "-r",
            file.to_str().unwrap(),
        ],
    );
    let requests = fields
        .lines()
        .filter(|line| {
            line.split('\t')
                .nth(1)
                .is_some_and(|method| !method.is_empty())
        })
        .count();
    (cost, requests)
}

fn main() {
    let mut sizes: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|arg| arg.parse().ok())
        .collect();
    if sizes.is_empty() {
        sizes.push(220);
    }
    let mut reference = None;
    for (index, megabytes) in sizes.into_iter().enumerate() {
        let file = capture(megabytes);
        let bytes = std::fs::metadata(&file).unwrap().len() as f64;
        let per_cpu_second = |cost: &Cost| bytes * 8.0 / cost.cpu / 1e9;
        println!("file: {} ({:.1} MB)", file.display(), bytes / 1e6);
        if index == 0 {
            let (cost, requests) = tshark(&file);
            println!(
                "tshark -z conv,tcp -T fields (HTTP): {:.2} s wall, {:.2} s CPU = {:.3} Gbit/s per CPU second, peak RSS {:.0} MB; {requests} requests",
                cost.wall,
                cost.cpu,
                per_cpu_second(&cost),
                cost.peak_rss_mb
            );
            reference = Some(cost);
        }
        for (arm, extra) in [
            ("all four datasets", &[][..]),
            ("--no-packets", &["--no-packets"][..]),
        ] {
            let (cost, found) = spider(&file, extra);
            println!(
                "spider analyze, {arm} (median of {RUNS}): {:.2} s wall, {:.2} s CPU = {:.2} Gbit/s per CPU second, peak RSS {:.0} MB; {}",
                cost.wall,
                cost.cpu,
                per_cpu_second(&cost),
                cost.peak_rss_mb,
                found.trim()
            );
            if let (0, Some(tshark)) = (index, reference) {
                println!(
                    "  {:.1}x tshark in CPU, {:.1}x in wall time",
                    tshark.cpu / cost.cpu,
                    tshark.wall / cost.wall
                );
            }
        }
    }
}
