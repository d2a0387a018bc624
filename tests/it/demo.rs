//! `spider demo`, the README's first command: as root it captures this host's traffic (the
//! requests the test makes to the demo's own UI) into the map; without root it says what it
//! cannot do and still serves the UI.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use crate::support::{scratch, spider, stderr, terminate};
use spider_testkit::{free_port, python_json};

/// Starts `spider demo` (through `wrapper`, if any) and returns it with the URL it printed.
fn start_demo(wrapper: &[&str], data: &Path) -> (Child, String) {
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
        .env("SPIDER_METRICS_ADDRESS", "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
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
    let (demo, url) = start_demo(&[], &data);
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
fn without_root_the_demo_says_what_it_cannot_do_and_serves_the_ui() {
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
    let (demo, url) = start_demo(&nobody, &data);
    let page = curl(std::slice::from_ref(&url));
    assert!(page.contains("cytoscape"), "the UI page: {page}");
    let output = terminate(demo);
    let log = stderr(&output);
    let _ = std::fs::remove_dir_all(&data);
    assert!(output.status.success(), "{log}");
    for said in [
        "not running as root",
        "network usage counting is off: this process lacks CAP_BPF",
    ] {
        assert!(log.contains(said), "{said:?} not in:\n{log}");
    }
}
