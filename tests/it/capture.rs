//! The capture path end to end: `spider analyze` on public and generated captures, checked
//! against tshark; live capture of real HTTP traffic between network namespaces.

use std::path::Path;

use serde_json::Value;
use spider_testkit::captures::{public_pcaps, tshark_fields};
use spider_testkit::http_capture::{self, HttpCapture};
use spider_testkit::python_json;

use crate::support::{analyze, run, scratch, stderr};

fn ratio(result: &Value, matched: &str, total: &str) -> f64 {
    let total = result[total].as_u64().unwrap();
    if total == 0 {
        return 1.0;
    }
    result[matched].as_u64().unwrap() as f64 / total as f64
}

/// Compares with tshark; every measure must agree at ≥ `floor`. Returns the comparison.
fn agrees_with_tshark(file: &Path, floor: f64) -> Value {
    let data = analyze(file);
    let result = python_json(
        "tshark_compare.py",
        &[file.to_str().unwrap(), data.to_str().unwrap()],
    );
    for (matched, total) in [
        ("sessions_matched", "streams"),
        ("requests_matched", "requests"),
        ("responses_matched", "responses"),
    ] {
        let agreement = ratio(&result, matched, total);
        assert!(
            agreement >= floor,
            "{}: {matched}/{total} = {agreement}: {result:#}",
            file.display()
        );
    }
    assert_eq!(
        result["sessions"],
        result["streams"],
        "{}: {result:#}",
        file.display()
    );
    assert_eq!(
        result["our_requests"],
        result["requests"],
        "{}: {result:#}",
        file.display()
    );
    // Host names (DNS, SNI, Host) agree exactly, both ways.
    for measure in ["host_names_matched", "our_host_names"] {
        assert_eq!(
            result[measure],
            result["host_names"],
            "{}: {result:#}",
            file.display()
        );
    }
    result
}

#[test]
fn sessions_http_and_host_names_agree_with_tshark_on_every_public_capture() {
    // All of them (HTTP, DNS over UDP and TCP, loopback, DNS answers cut by the snap length,
    // both gopacket pcapng suites with TLS and gaps, libtrace's HTTP cut at 96 bytes, pcapfix,
    // a telnet session with malformed IP lengths), so a capture added to
    // tests/pcaps/public.sh is compared too.
    let files = public_pcaps();
    assert!(files.len() >= 66, "{} public captures", files.len());
    for file in files {
        let result = agrees_with_tshark(&file, 1.0);
        // No response tshark lacks, either.
        assert_eq!(
            result["our_responses"],
            result["responses"],
            "{}: {result:#}",
            file.display()
        );
    }
}

#[test]
fn sessions_and_http_agree_with_tshark_on_disordered_retransmitted_traffic() {
    let dir = scratch("generated");
    let file = dir.join("http.pcap");
    let settings = HttpCapture {
        sessions: 300,
        requests_per_session: 6,
        max_body: 20_000,
        disorder_per_mille: 30,
        retransmit_per_mille: 30,
        seed: 7,
    };
    let written = http_capture::write(&file, &settings);
    let result = agrees_with_tshark(&file, 0.999);
    assert_eq!(
        result["requests"].as_u64().unwrap() as usize,
        written.requests
    );
    // Every request was answered; tshark can lose a response to the disorder, Spider may not.
    assert_eq!(
        result["our_responses"].as_u64().unwrap() as usize,
        written.requests
    );
    eprintln!("{written:?}: {result}");
}

/// nginx serving `root` on `address`:80 inside namespace `ns`, stopped on drop.
pub(crate) struct Nginx(std::process::Child);

impl Nginx {
    pub(crate) fn start(ns: &str, address: std::net::IpAddr, root: &Path) -> Self {
        let config = root.join("nginx.conf");
        std::fs::write(
            &config,
            format!(
                "daemon off; user root; pid {root}/nginx.pid; error_log {root}/error.log;\n\
                 events {{}}\n\
                 http {{ access_log off; keepalive_requests 1000;\n\
                   client_body_temp_path {root}/body;\n\
                   server {{ listen {address}:80; root {root}/www; }} }}\n",
                root = root.display()
            ),
        )
        .unwrap();
        let nginx = Self(
            std::process::Command::new("ip")
                .args(["netns", "exec", ns, "nginx", "-c"])
                .arg(&config)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("nginx runs (apt install nginx-light; .ci/run does)"),
        );
        // Ready once it accepts connections.
        for _ in 0..100 {
            let probe = std::process::Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    ns,
                    "curl",
                    "-s",
                    "-o",
                    "/dev/null",
                    &format!("http://{address}/"),
                ])
                .status()
                .unwrap();
            if probe.success() {
                return nginx;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!(
            "nginx did not start: {}",
            std::fs::read_to_string(root.join("error.log")).unwrap_or_default()
        );
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, so the master stops its workers too.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

pub(crate) fn curl(ns: &str, args: &[&str]) {
    let status = std::process::Command::new("ip")
        .args(["netns", "exec", ns, "curl", "-s", "-o", "/dev/null"])
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "curl {args:?}");
}

#[test]
fn live_http_between_namespaces_is_recorded_as_it_happened() {
    if !spider_testkit::netns::privileged() {
        return;
    }
    let pair = spider_testkit::netns::Pair::create().without_offloads();
    let dir = scratch("live-http");
    let www = dir.join("www");
    std::fs::create_dir_all(&www).unwrap();
    let sizes = [("empty", 0usize), ("small", 1_234), ("large", 300_000)];
    for (name, size) in sizes {
        std::fs::write(www.join(name), vec![b'x'; size]).unwrap();
    }
    let _nginx = Nginx::start(&pair.b, pair.b4, &dir);
    let data = dir.join("data");
    let config = crate::support::config_file(
        "live-http",
        &format!(
            "receivers:\n  pcap:\n    interfaces: [{vb}]\n    filter: tcp port 80\n    flush_interval: 50ms\n\
             processors:\n  session:\n    close_linger: 200ms\n    flush_interval: 100ms\n\
             exporters:\n  parquet:\n    path: {data}\n\
             service:\n  telemetry:\n    metrics:\n      level: none\n  pipelines:\n    capture:\n      receivers: [pcap]\n      processors: [session]\n      exporters: [parquet]\n",
            vb = pair.vb,
            data = data.display()
        ),
    );
    let mut command = std::process::Command::new("ip");
    command
        .args([
            "netns",
            "exec",
            &pair.b,
            env!("CARGO_BIN_EXE_spider"),
            "collect",
            "--config",
        ])
        .arg(&config)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let collector = command.spawn().unwrap();
    // tcpdump records the same traffic, for tshark to read afterwards.
    let recorded = dir.join("recorded.pcap");
    let tcpdump = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &pair.a,
            "tcpdump",
            "--immediate-mode",
            "-U",
            "-q",
            "-i",
            &pair.va,
            "-w",
        ])
        .arg(&recorded)
        .arg("tcp port 80")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tcpdump runs (apt install tcpdump; .ci/run does)");
    std::thread::sleep(std::time::Duration::from_millis(500));
    let base = format!("http://{}", pair.b4);
    // One keep-alive session with three GETs, one HEAD, one POST (405 from a static root), one 404.
    let urls: Vec<String> = sizes
        .iter()
        .map(|(name, _)| format!("{base}/{name}"))
        .collect();
    let mut keep_alive = Vec::new();
    for url in &urls {
        keep_alive.extend(["-o", "/dev/null", url.as_str()]);
    }
    curl(&pair.a, &keep_alive);
    curl(&pair.a, &["-I", &format!("{base}/small")]);
    curl(
        &pair.a,
        &[
            "-X",
            "POST",
            "--data",
            "name=spider",
            &format!("{base}/small"),
        ],
    );
    curl(&pair.a, &[&format!("{base}/missing")]);
    std::thread::sleep(std::time::Duration::from_millis(800));
    let output = crate::support::terminate(collector);
    assert!(output.status.success(), "{}", stderr(&output));
    let tcpdump = crate::support::terminate(tcpdump);
    assert!(tcpdump.status.success(), "tcpdump failed");

    let answers = python_json(
        "datasets.py",
        &[
            "sql".to_string(),
            data.display().to_string(),
            "SELECT method, path, status, response_body_size, request_body_size FROM http ORDER BY request_time".into(),
            "SELECT count(*), sum(packets_to_server + packets_to_client), min(CAST(missed_syn AS INT)), min(close_reason), max(close_reason) FROM tcp_sessions".into(),
            "SELECT count(*), count(DISTINCT session_id) FROM packets".into(),
        ],
    );
    let http: Vec<Value> = answers[0].as_array().unwrap().clone();
    let row = |method: &str, path: &str, status: u64, body: u64, sent: u64| {
        serde_json::json!([method, path, status, body, sent])
    };
    let nginx_405 = http[4][3].clone();
    assert_eq!(
        http,
        [
            row("GET", "/empty", 200, 0, 0),
            row("GET", "/small", 200, 1_234, 0),
            row("GET", "/large", 200, 300_000, 0),
            row("HEAD", "/small", 200, 0, 0),
            serde_json::json!(["POST", "/small", 405, nginx_405, 11]),
            serde_json::json!(["GET", "/missing", 404, http[5][3].clone(), 0]),
        ]
    );
    let sessions = &answers[1][0];
    assert_eq!(sessions[0], 4, "one session per curl: {sessions}");
    assert_eq!(sessions[2], 0, "every handshake seen");
    assert_eq!(
        (sessions[3].as_str(), sessions[4].as_str()),
        (Some("fin"), Some("fin"))
    );
    let packets = &answers[2][0];
    assert_eq!(packets[0], sessions[1], "every packet belongs to a session");
    assert_eq!(packets[1], 4);
    // The same traffic as tcpdump saw it: analyze agrees with tshark on that file too.
    let result = agrees_with_tshark(&recorded, 1.0);
    assert_eq!(result["requests"], 6, "{result}");
}

#[test]
fn a_stored_session_exports_as_the_pcap_tshark_sees_in_the_original() {
    let dir = scratch("export");
    let file = dir.join("http.pcap");
    let settings = HttpCapture {
        sessions: 20,
        requests_per_session: 3,
        max_body: 5_000,
        disorder_per_mille: 50,
        retransmit_per_mille: 50,
        seed: 11,
    };
    http_capture::write(&file, &settings);
    let data = analyze(&file);
    let fields = [
        "frame.time_epoch",
        "frame.len",
        "tcp.seq_raw",
        "tcp.len",
        "tcp.flags",
    ];
    for session in [0u64, 7, 19] {
        let exported = dir.join(format!("session-{session}.pcap"));
        // tshark's stream N is the session of sequence N: the low 32 bits of its id.
        let listed = run(&[
            "sql",
            "--data",
            data.to_str().unwrap(),
            "--format",
            "csv",
            &format!(
                "SELECT session_id FROM tcp_sessions WHERE session_id % 4294967296 = {session}"
            ),
        ]);
        let listed = String::from_utf8(listed.stdout).unwrap();
        let [_header, id] = listed.lines().collect::<Vec<_>>()[..] else {
            panic!("one session of sequence {session}: {listed}");
        };
        let output = run(&[
            "pcap",
            "--data",
            data.to_str().unwrap(),
            "--session",
            id,
            "--out",
            exported.to_str().unwrap(),
        ]);
        assert!(output.status.success(), "{}", stderr(&output));
        let original = tshark_fields(&file, &format!("tcp.stream == {session}"), &fields);
        let ours = tshark_fields(&exported, "tcp", &fields);
        assert!(original.len() > 10);
        assert_eq!(ours, original, "session {session}");
    }
    let missing = run(&[
        "pcap",
        "--data",
        data.to_str().unwrap(),
        "--session",
        "999",
        "--out",
        "/dev/null",
    ]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).contains("no packets of session 999"));
}
