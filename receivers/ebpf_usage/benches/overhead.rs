//! The cost of counting: loopback TCP throughput (iperf3) with and without the eBPF programs
//! attached, alternating in one run, with user space draining the maps as the receiver does.
//!
//! `cargo bench -p spider-receiver-ebpf-usage --bench overhead [-- SECONDS ROUNDS]` (as root)

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use spider_receiver_ebpf_usage::Kernel;

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

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
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
    let port = spider_testkit::free_port();
    let _server = Server(
        Command::new("iperf3")
            .args(["-s", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .spawn()
            .expect("iperf3 -s"),
    );
    std::thread::sleep(Duration::from_millis(300));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let mut entries = 0;
    for round in 0..rounds {
        // Alternate which goes first, so warm-up and drift favour neither.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for attached in order {
            if !attached {
                without.push(iperf3(port, seconds));
                continue;
            }
            let mut kernel = Kernel::attach(Path::new("/sys/fs/cgroup/unified"), 65_536)
                .expect("attach (run as root)");
            let measuring = Arc::new(AtomicBool::new(true));
            let flag = measuring.clone();
            let client = std::thread::spawn(move || {
                let bits = iperf3(port, seconds);
                flag.store(false, Ordering::Relaxed);
                bits
            });
            while measuring.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1000));
                entries += runtime
                    .block_on(kernel.drain())
                    .expect("drain")
                    .entries
                    .len();
            }
            with.push(client.join().unwrap());
        }
    }
    println!(
        "rounds without (Gbit/s): {:?}",
        without
            .iter()
            .map(|b| (b / 1e7).round() / 100.0)
            .collect::<Vec<_>>()
    );
    println!(
        "rounds with    (Gbit/s): {:?}",
        with.iter()
            .map(|b| (b / 1e7).round() / 100.0)
            .collect::<Vec<_>>()
    );
    let (base, hooked) = (median(without), median(with));
    println!("loopback TCP, iperf3 -t {seconds}, median of {rounds} alternating rounds");
    println!("without programs  {:>8.2} Gbit/s", base / 1e9);
    println!(
        "with programs     {:>8.2} Gbit/s   ({entries} flow entries drained)",
        hooked / 1e9
    );
    println!(
        "throughput kept   {:>8.2} %   (loss {:.2} %)",
        100.0 * hooked / base,
        100.0 * (1.0 - hooked / base)
    );
}
