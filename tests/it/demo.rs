//! `spider demo`, the README's first command.
//! - As root, the living cluster: three nodes on this kernel whose workloads talk on their own;
//!   the map, in the API and in Chromium, shows them within about two minutes, the Whisperer
//!   the demo attached to the web tier records its HTTP, and Ctrl-C leaves nothing behind, as
//!   the next start does after a kill -9.
//! - `--host`: this host's own traffic (the requests the test makes to the demo's own UI).
//! - Without root: generated usage, and it says so.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::support::{scratch, spider, stderr, terminate};
use spider_testkit::{free_port, python_json};

/// Starts `spider demo ARGS` (through `wrapper`, if any) and returns it with the URL it printed;
/// its log goes to `log` when given (a long run would fill a pipe nobody reads), else to a pipe.
fn start_demo(wrapper: &[&str], data: &Path, args: &[&str], log: Option<&Path>) -> (Child, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command
                .args(args)
                .arg(env!("CARGO_BIN_EXE_spider"))
                .env("RUST_LOG", "info");
            command
        }
        None => spider(),
    };
    let mut child = command
        .args([
            "demo",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            &listen,
        ])
        .args(args)
        .env("SPIDER_METRICS_ADDRESS", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(match log {
            Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
            None => Stdio::piped(),
        })
        .spawn()
        .expect("spider demo starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_owned();
    assert_eq!(url, format!("http://{listen}/"));
    (child, url)
}

/// `curl` fetching each URL in turn on one connection; returns the bodies.
fn curl(urls: &[String]) -> String {
    let output = Command::new("curl")
        .args(["-sf"])
        .args(urls)
        .output()
        .expect("curl runs");
    assert!(output.status.success(), "curl {urls:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn sql(data: &Path, query: &str) -> Value {
    python_json("datasets.py", &["sql", data.to_str().unwrap(), query])[0].clone()
}

#[test]
fn the_demo_serves_the_map_of_this_hosts_own_traffic() {
    let Some(_turn) = spider_testkit::netns::kernel_turn_blocking() else {
        return;
    };
    let data = scratch("demo").join("data");
    let (demo, url) = start_demo(&[], &data, &["--host"], None);
    let page = curl(std::slice::from_ref(&url));
    assert!(page.contains("cytoscape"), "the UI page: {page}");
    let health = format!("{url}api/health");
    let answers = curl(&vec![health; 25]);
    assert_eq!(answers.matches("\"ok\"").count(), 25, "{answers}");
    let output = terminate(demo);
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");

    let port: u16 = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let http = sql(
        &data,
        &format!(
            "SELECT path, status, count(*) FROM http WHERE server_port = {port} GROUP BY path, status ORDER BY path"
        ),
    );
    assert_eq!(
        http,
        serde_json::json!([["/", 200, 1], ["/api/health", 200, 25]]),
        "{log}"
    );
    // eBPF counted one message per request each way, and both ends are this host's node.
    let usage = sql(
        &data,
        &format!(
            "SELECT sum(messages_to_server), sum(messages_to_client), min(server_node), max(client_class) \
             FROM network_usage WHERE server_port = {port} AND transport = 'tcp'"
        ),
    );
    assert_eq!(
        usage,
        serde_json::json!([[26, 26, host.trim(), "node"]]),
        "{log}"
    );
}

#[test]
fn without_root_the_demo_serves_generated_usage_and_says_so() {
    // Dropping to an unprivileged user takes root.
    if !spider_testkit::netns::privileged() {
        return;
    }
    let data =
        std::env::temp_dir().join(format!("spider-demo-unprivileged-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    // The unprivileged user must be able to write there.
    Command::new("chmod")
        .arg("777")
        .arg(&data)
        .status()
        .unwrap();
    let nobody = [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
    ];
    let (demo, url) = start_demo(&nobody, &data, &[], None);
    let page = curl(std::slice::from_ref(&url));
    assert!(page.contains("cytoscape"), "the UI page: {page}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let map: Value = serde_json::from_str(&curl(&[format!(
        "{url}api/map?view=logical&from={}&to={now}",
        now - 3600
    )]))
    .unwrap();
    let output = terminate(demo);
    let log = stderr(&output);
    let _ = std::fs::remove_dir_all(&data);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("not running as root: the living cluster needs it"),
        "{log}"
    );
    assert!(
        map["edges"].as_array().is_some_and(|e| e.len() > 10),
        "the last hour of generated usage: {map}"
    );
}

/// Whatever of the living demo is on this machine: its namespaces, interfaces, rules, cgroup,
/// node addresses and workload processes.
fn demo_leftovers() -> Vec<String> {
    let shell = |script: &str| {
        let output = Command::new("sh").args(["-c", script]).output().unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let mut found = Vec::new();
    for (what, script) in [
        ("namespace", "ip netns list | grep -E '^(sspdemop|ssodemo)'"),
        ("interface", "ls /sys/class/net | grep '^svsdemov'"),
        ("nat rule", "iptables -t nat -S | grep SPIDER-SIM-demo"),
        ("filter rule", "iptables -S | grep SPIDER-SIM-demo"),
        (
            "cgroup",
            "ls /sys/fs/cgroup /sys/fs/cgroup/unified 2>/dev/null | grep spider-sim-demo",
        ),
        (
            "node address",
            "ip -4 addr show dev lo | grep -E '10\\.233\\.23[5-9]\\.1/'",
        ),
        // The brackets keep the pattern from matching this very shell.
        ("process", "pgrep -af '[s]pider-living.*workloads.py'"),
    ] {
        let out = shell(script);
        if !out.trim().is_empty() {
            found.push(format!("{what}: {}", out.trim()));
        }
    }
    found
}

/// A demo stopped (SIGTERM) if the test fails before it does.
struct Stopped(Option<Child>);

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some(child) = self.0.take() {
            terminate(child);
        }
    }
}

/// Whether a dataset directory holds any file yet (DuckDB cannot read an empty glob).
fn has_files(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            let path = entry.path();
            if path.is_dir() {
                has_files(&path)
            } else {
                path.extension().is_some_and(|e| e == "parquet")
            }
        })
}

/// The map's workload leaves and edges between them (by label), with their ports.
fn workload_edges(map: &Value) -> BTreeSet<(String, String, u64)> {
    let label = |id: &str| {
        map["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .map(|n| n["label"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| id.to_owned())
    };
    map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|e| {
            let (source, target) = (
                label(e["source"].as_str().unwrap()),
                label(e["target"].as_str().unwrap()),
            );
            e["ports"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |p| (source.clone(), target.clone(), p.as_u64().unwrap()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_living_demo_maps_its_cluster_and_leaves_nothing_behind() {
    let Some(_turn) = spider_testkit::netns::kernel_turn_blocking() else {
        return;
    };
    // A path whose name the leftover check can find the workloads by.
    let data = scratch("demo").join("spider-living");
    let log = data.with_extension("log");
    let (demo, url) = start_demo(&[], &data, &[], Some(&log));
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // The first minute the agents see whole (they attach within seconds of the URL, and the
    // CronJob wakes at its 5th second), and the range up to its end: once every node's agent
    // wrote that minute, nothing more lands in the range, so the API and the page answer over
    // the same rows.
    let full_minute = ((started + 15) / 60 + 1) * 60;
    let range = format!("from={}&to={}", full_minute - 120, full_minute + 60);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(260);
    let mut demo = Stopped(Some(demo));
    loop {
        let usage = data.join("network_usage");
        if !has_files(&usage) {
            assert!(
                std::time::Instant::now() < deadline,
                "no usage was written\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_secs(2));
            continue;
        }
        let written = sql(
            &data,
            &format!(
                "SELECT count(DISTINCT reporter) FROM network_usage WHERE epoch(bucket_start) = {full_minute}"
            ),
        );
        if written == serde_json::json!([[3]]) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the three agents did not write minute {full_minute}: {written}\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    let map: Value = serde_json::from_str(&curl(&[format!(
        "{url}api/map?view=logical&cluster=demo&{range}"
    )]))
    .unwrap();
    let edges = workload_edges(&map);
    for expected in [
        ("internet", "web", 8080),
        ("web", "api", 8080),
        ("api", "db", 5432),
        ("web", "coredns", 53),
        ("api", "coredns", 53),
        ("prometheus", "api", 8080),
        ("prometheus", "node-1", 9100),
        ("prometheus", "node-3", 9100),
        ("fluent-bit", "loki", 3100),
        ("report", "api", 8080),
        ("report", "internet", 80),
    ] {
        let expected = (expected.0.to_owned(), expected.1.to_owned(), expected.2);
        assert!(edges.contains(&expected), "{expected:?} not in {edges:?}");
    }
    // Counted once, through Services and NodePorts alike: no port-0 half, no Service-keyed twin.
    let odd = sql(
        &data,
        "SELECT count(*) FROM network_usage WHERE server_port = 0 OR server_ip LIKE '10.234.%'",
    );
    assert_eq!(odd, serde_json::json!([[0]]), "{edges:?}");
    // The shop's policies, which nothing enforces here: the batch report's calls to the api are
    // the edges they deny, and the rest of what reaches api and db is allowed.
    let verdicts = sql(
        &data,
        "SELECT DISTINCT client_owner_name, server_owner_name, policy, policy_by FROM network_usage \
         WHERE server_owner_name IN ('api', 'db') ORDER BY ALL",
    );
    assert_eq!(
        verdicts,
        serde_json::json!([
            ["api", "db", "allowed", "shop/db-from-api"],
            [
                "prometheus",
                "api",
                "allowed",
                "shop/api-from-web-and-monitoring"
            ],
            [
                "report",
                "api",
                "denied",
                "shop/api-from-web-and-monitoring"
            ],
            ["web", "api", "allowed", "shop/api-from-web-and-monitoring"],
        ]),
        "the shop's NetworkPolicy verdicts"
    );
    let denied: Value = serde_json::from_str(&curl(&[format!(
        "{url}api/anomalies?kind=denied_by_policy&cluster=demo&{range}"
    )]))
    .unwrap();
    let flagged: Vec<(&str, &str)> = denied["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["source_label"].as_str().unwrap(),
                a["target_label"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(flagged, vec![("report", "api")], "{denied}");

    // The page draws what the API answers, with a legend of the kinds it shows.
    let seen = crate::ui::browse_at(&format!("{url}?cluster=demo&{range}"), "demo");
    let edge_bytes = |edges: &Value| -> BTreeSet<(String, u64)> {
        edges
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    format!("{}>{}", e["source"], e["target"]),
                    e["bytes"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let (drawn, answered) = (edge_bytes(&seen["edges"]), edge_bytes(&map["edges"]));
    assert_eq!(drawn, answered);
    let legend: BTreeSet<&str> = seen["legend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    for kind in [
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "CronJob",
        "Node",
        "External",
    ] {
        assert!(legend.contains(kind), "{kind} not in the legend {legend:?}");
    }
    // The Whisperer the demo attached to the web tier reports packets and recorded its HTTP.
    assert!(
        seen["captures"]
            .as_str()
            .unwrap()
            .contains("shop/Deployment/web"),
        "{}",
        seen["captures"]
    );
    let http = sql(
        &data,
        "SELECT count(*) > 0 FROM http WHERE server_owner_name = 'web' AND status = 200",
    );
    assert_eq!(http, serde_json::json!([[true]]));

    // A kill -9 leaves the cluster up; the next start sweeps it, and Ctrl-C removes everything.
    let mut demo = demo.0.take().unwrap();
    Command::new("kill")
        .args(["-KILL", &demo.id().to_string()])
        .status()
        .unwrap();
    demo.wait().unwrap();
    assert!(
        !demo_leftovers().is_empty(),
        "a killed demo leaves its cluster"
    );
    let (again, _) = start_demo(&[], &data, &[], Some(&log));
    let output = terminate(again);
    assert!(
        output.status.success(),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_eq!(demo_leftovers(), Vec::<String>::new());
}
