//! The cost of counting, each arm against the same traffic without the programs, alternating
//! in one run, with user space draining the maps as the receiver does, then what each kernel
//! program costs per run (the kernel's BPF statistics, in one more round):
//! - throughput: loopback TCP (iperf3);
//! - request/response: wrk against nginx with a tiny body between two network namespaces,
//!   8 connections, wrk on one CPU and nginx on the other (unpinned, the figure swings by a
//!   quarter with where the scheduler puts them);
//! - memory: the user-space side (drain, aggregation into records) with 100,000 live flows, as
//!   the process's peak RSS; and what a full kernel map does (fill ratio, overflow count).
//!
//! `cargo bench -p spider-receiver-ebpf-usage --bench overhead [-- SECONDS ROUNDS]` (as root;
//! iperf3, wrk and nginx-light installed)

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use spider_collector::records::Timestamp;
use spider_receiver_ebpf_usage::{Aggregator, Kernel, NatTable, ProgramRuns, Translation, Tuple};
use spider_testkit::cluster::cgroup_root;
use spider_testkit::netns::Pair;

const LIVE_FLOWS: u32 = 100_000;

/// A background process killed when dropped, with the scratch directory it used, if any.
struct Background(Child, Option<PathBuf>);

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        if let Some(dir) = &self.1 {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn iperf3(port: u16, seconds: u32) -> f64 {
    let output = Command::new("iperf3")
        .args([
            "-c",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-t",
            &seconds.to_string(),
            "-J",
        ])
        .output()
        .expect("iperf3 runs (apt-get install iperf3)");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("iperf3 JSON");
    report["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .expect("bits_per_second")
}

/// Requests per second of `wrk -c8` from namespace `client` to `url`, on the first CPU (nginx
/// has the last), so that where the scheduler puts them does not change the figure.
fn wrk(client: &str, url: &str, seconds: u32) -> f64 {
    let output = Command::new("taskset")
        .args([
            "-c", "0", "ip", "netns", "exec", client, "wrk", "-t1", "-c8",
        ])
        .arg(format!("-d{seconds}s"))
        .arg(url)
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{text}"))
}

/// nginx answering every request with a 2-byte body, on `address:80` inside `netns`.
fn nginx(netns: &str, address: &str) -> Background {
    let dir = std::env::temp_dir().join(format!("spider-bench-nginx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("nginx.conf");
    std::fs::write(
        &config,
        format!(
            "worker_processes 1;\nmaster_process off;\ndaemon off;\npid {pid};\nerror_log stderr;\n\
             events {{ worker_connections 1024; }}\n\
             http {{ access_log off; client_body_temp_path {dir}; \
             server {{ listen {address}:80; location / {{ return 200 \"ok\"; }} }} }}\n",
            pid = dir.join("nginx.pid").display(),
            dir = dir.display(),
        ),
    )
    .unwrap();
    let last_cpu = std::thread::available_parallelism().map_or(1, |n| n.get()) - 1;
    let child = Command::new("taskset")
        .args([
            "-c",
            &last_cpu.to_string(),
            "ip",
            "netns",
            "exec",
            netns,
            "nginx",
            "-c",
        ])
        .arg(&config)
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx runs (apt-get install nginx-light)");
    std::thread::sleep(Duration::from_millis(500));
    Background(child, Some(dir))
}

/// Runs `measure` with the programs attached while the maps are drained every second, as the
/// receiver does; with `statistics`, the kernel's BPF statistics are on meanwhile (they cost a
/// clock read per run, so the cost rounds leave them off). Returns the result and what each
/// program cost.
fn attached<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    statistics: bool,
    measure: impl FnOnce() -> T + Send + 'static,
) -> (T, Vec<ProgramRuns>) {
    let mut kernel = Kernel::attach(&cgroup_root(), 65_536).expect("attach (run as root)");
    let statistics = statistics.then(|| {
        aya::sys::enable_stats(aya::sys::Stats::RunTime).expect("BPF statistics (kernel ≥ 5.8)")
    });
    let measuring = Arc::new(AtomicBool::new(true));
    let flag = measuring.clone();
    let client = std::thread::spawn(move || {
        let result = measure();
        flag.store(false, Ordering::Relaxed);
        result
    });
    while measuring.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(1000));
        runtime.block_on(kernel.drain()).expect("drain");
    }
    let runs = kernel.program_runs();
    drop(statistics);
    (client.join().unwrap(), runs)
}

/// `measure` without and with the programs over alternating rounds, then once more with the
/// programs and the BPF statistics on: what each program cost, over `seconds` of measuring.
struct Compared {
    without: Vec<f64>,
    with: Vec<f64>,
    runs: Vec<ProgramRuns>,
    seconds: f64,
}

fn compare(
    runtime: &tokio::runtime::Runtime,
    rounds: u32,
    seconds: u32,
    measure: impl Fn() -> f64 + Clone + Send + 'static,
) -> Compared {
    let (mut without, mut with) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Alternate which goes first, so warm-up and drift favour neither.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for hooked in order {
            if hooked {
                with.push(attached(runtime, false, measure.clone()).0);
            } else {
                without.push(measure());
            }
        }
    }
    let (_, runs) = attached(runtime, true, measure);
    Compared {
        without,
        with,
        runs,
        seconds: f64::from(seconds),
    }
}

/// Prints both arms, the cost, and each program's runs and time.
fn report(name: &str, unit: &str, scale: f64, compared: Compared) {
    let round = |values: &[f64]| {
        values
            .iter()
            .map(|v| (v / scale * 100.0).round() / 100.0)
            .collect::<Vec<_>>()
    };
    println!("{name}");
    println!("  rounds without ({unit}): {:?}", round(&compared.without));
    println!("  rounds with    ({unit}): {:?}", round(&compared.with));
    let (base, hooked) = (median(compared.without), median(compared.with));
    println!(
        "  median without {:.2} {unit}, with {:.2} {unit}: kept {:.2} % (cost {:.2} %)",
        base / scale,
        hooked / scale,
        100.0 * hooked / base,
        100.0 * (1.0 - hooked / base)
    );
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let mut total = Duration::ZERO;
    println!("  one more round with the BPF statistics on:");
    for program in &compared.runs {
        total += program.time;
        println!(
            "    {:<14} {:>10} runs, {:>4.0} ns each (the statistics' clock reads included)",
            program.name,
            program.runs,
            program.time.as_nanos() as f64 / program.runs.max(1) as f64
        );
    }
    println!(
        "    in the programs: {:.2} % of the {cpus} CPUs' time",
        100.0 * total.as_secs_f64() / (compared.seconds * cpus)
    );
}

/// Sends one UDP datagram to each of `flows` (port, socket) pairs towards `127.0.0.2`: as many
/// distinct flows (one more sending socket per 60,000 ports).
fn udp_flows(flows: u32) {
    let script = format!(
        "import socket\nsockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range({})]\n\
         for i in range({flows}):\n    sockets[i // 60000].sendto(b'x', ('127.0.0.2', 1024 + i % 60000))\n",
        flows.div_ceil(60_000)
    );
    let status = Command::new("python3")
        .args(["-c", &script])
        .status()
        .expect("python3 runs");
    assert!(status.success());
}

/// The process's resident set now and at its peak, in MiB.
fn rss_mib() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|value| {
                value
                    .trim()
                    .trim_end_matches(" kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// A full table of Service translations (the default `max_translations`), as many clients of
/// one ClusterIP.
fn full_nat_table() -> NatTable {
    let capacity = 65_536;
    let mut nat = NatTable::new(capacity);
    for i in 0..capacity as u32 {
        let client = (
            std::net::Ipv4Addr::from(0x0a00_0000 + i / 20_000).into(),
            20_000 + (i % 20_000) as u16,
        );
        let tuple = |src, dst| Tuple {
            src,
            dst,
            protocol: 6,
        };
        nat.insert(
            Translation {
                original: tuple(client, ("10.96.0.10".parse().unwrap(), 80)),
                reply: tuple(("10.244.0.7".parse().unwrap(), 8080), client),
            },
            0,
        );
    }
    nat
}

/// The user-space side with `LIVE_FLOWS` live flows and a full translation table, and a kernel
/// map too small for its flows.
fn memory(runtime: &tokio::runtime::Runtime) {
    let (start, _) = rss_mib();
    let mut kernel = Kernel::attach(&cgroup_root(), 262_144).expect("attach");
    let (attached, _) = rss_mib();
    let mut nat = full_nat_table();
    let (with_nat, _) = rss_mib();
    udp_flows(LIVE_FLOWS);
    let drained = runtime.block_on(kernel.drain()).expect("drain");
    let mut aggregator = Aggregator::new("bench".into(), Timestamp::now().minute_start());
    aggregator.add(&drained.entries);
    // The receiver lets a drain go once it is added, long before the minute closes.
    let drained_entries = drained.entries.len();
    drop(drained);
    let now = Timestamp::now();
    let records = aggregator.close(now.minute_start(), &mut nat, now.as_micros());
    let (end, peak) = rss_mib();
    println!(
        "memory, {LIVE_FLOWS} live UDP flows on loopback and {} Service translations",
        nat.len()
    );
    println!(
        "  RSS {start:.1} MiB at start, {attached:.1} MiB with the programs loaded, {with_nat:.1} MiB with the translations, \
         {end:.1} MiB after draining {} entries into {} records (peak {peak:.1} MiB)",
        drained_entries,
        records.len(),
    );
    drop(kernel);
    let mut small = Kernel::attach(&cgroup_root(), 1024).expect("attach");
    udp_flows(5_000);
    let drained = runtime.block_on(small.drain()).expect("drain");
    println!(
        "  a map for max_flows 1,024 (2,048 entries) given 5,000 flows: fill ratio {:.2}, {} entries kept, {} new flows counted as overflow",
        drained.fill,
        drained.entries.len(),
        small.overflowed()
    );
}

fn main() {
    let numbers: Vec<u32> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let (seconds, rounds) = (
        numbers.first().copied().unwrap_or(5),
        numbers.get(1).copied().unwrap_or(3),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let port = spider_testkit::free_port();
    let _iperf3 = Background(
        Command::new("iperf3")
            .args(["-s", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .expect("iperf3 -s"),
        None,
    );
    std::thread::sleep(Duration::from_millis(300));
    report(
        &format!("loopback TCP throughput, iperf3 -t {seconds}, {rounds} alternating rounds"),
        "Gbit/s",
        1e9,
        compare(&runtime, rounds, seconds, move || iperf3(port, seconds)),
    );

    let pair = Pair::create();
    let _nginx = nginx(&pair.b, &pair.b4.to_string());
    let (client, url) = (pair.a.clone(), format!("http://{}/", pair.b4));
    report(
        &format!(
            "request/response, wrk -t1 -c8 -d{seconds}s against nginx (2-byte body) between two namespaces, each on its own CPU"
        ),
        "req/s",
        1.0,
        compare(&runtime, rounds, seconds, move || {
            wrk(&client, &url, seconds)
        }),
    );

    memory(&runtime);
}
