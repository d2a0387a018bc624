//! Names in capture time: a host name learnt early in a capture file (a DNS answer here) names
//! the external server of the sessions and exchanges that come after it in the same file, all
//! the way through the pipeline (pcap file → session → k8s_attributes → Parquet), read back
//! with DuckDB.

use std::net::Ipv4Addr;

use spider_testkit::frames::{ACK, FIN, PSH, SYN, tcp_frame, udp_frame, write_ethernet_pcap};
use spider_testkit::payloads::dns_answer;
use spider_testkit::python_json;

use crate::support::{config_file, run, scratch, stderr};

/// 2026-01-01T00:00:00Z, in microseconds.
const CAPTURE_START: i64 = 1_767_225_600_000_000;
const SECOND: i64 = 1_000_000;

/// The frames of a capture: the client pod resolves `api.example.com`, then 20 s later opens a
/// connection to its address and makes one request without a Host header (HTTP/1.0), so only the
/// DNS answer can name the server.
fn frames() -> Vec<(i64, Vec<u8>)> {
    let client = Ipv4Addr::new(10, 244, 1, 10);
    let resolver = (Ipv4Addr::new(10, 96, 0, 10), 53);
    let server = (Ipv4Addr::new(203, 0, 113, 5), 80);
    let port = (client, 40_000);
    let answer = dns_answer("api.example.com", &[server.0]);
    let request = b"GET /orders HTTP/1.0\r\n\r\n";
    let response = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
    let at = |seconds: i64, millis: i64| CAPTURE_START + seconds * SECOND + millis * 1_000;
    let (c, s) = (1_000u32, 9_000u32);
    let (req_end, resp_end) = (c + 1 + request.len() as u32, s + 1 + response.len() as u32);
    vec![
        (at(0, 0), udp_frame(resolver, (client, 5_353), &answer)),
        (at(20, 0), tcp_frame(port, server, SYN, c, 0, b"")),
        (at(20, 1), tcp_frame(server, port, SYN | ACK, s, c + 1, b"")),
        (at(20, 2), tcp_frame(port, server, ACK, c + 1, s + 1, b"")),
        (
            at(20, 3),
            tcp_frame(port, server, ACK | PSH, c + 1, s + 1, request),
        ),
        (
            at(20, 5),
            tcp_frame(server, port, ACK | PSH, s + 1, req_end, response),
        ),
        (
            at(20, 6),
            tcp_frame(server, port, FIN | ACK, resp_end, req_end, b""),
        ),
        (
            at(20, 7),
            tcp_frame(port, server, FIN | ACK, req_end, resp_end + 1, b""),
        ),
        (
            at(20, 8),
            tcp_frame(server, port, ACK, resp_end + 1, req_end + 1, b""),
        ),
    ]
}

#[test]
fn a_name_learnt_earlier_in_a_capture_file_names_the_external_server_of_later_sessions() {
    let dir = scratch("capture-names");
    let pcap = dir.join("capture.pcap");
    let frames = frames();
    write_ethernet_pcap(&pcap, frames.iter().map(|(at, frame)| (*at, &frame[..])));
    let inventory = dir.join("inventory.yaml");
    std::fs::write(
        &inventory,
        "workloads:\n  - { namespace: shop, kind: Deployment, name: web, \
         pods: [{ name: web-1, ips: [10.244.1.10] }] }\n",
    )
    .unwrap();
    let data = dir.join("data");
    let config = config_file(
        "capture-names",
        &format!(
            r#"
receivers:
  pcap: {{ file: "{pcap}" }}
processors:
  session: {{}}
  k8s_attributes: {{ source: static, inventory: "{inventory}" }}
exporters:
  parquet: {{ path: "{data}" }}
service:
  telemetry: {{ metrics: {{ level: none }} }}
  pipelines:
    capture: {{ receivers: [pcap], processors: [session, k8s_attributes], exporters: [parquet] }}
"#,
            pcap = pcap.display(),
            inventory = inventory.display(),
            data = data.display(),
        ),
    );
    let output = run(&["collect", "--config", config.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));

    let rows = python_json(
        "datasets.py",
        &[
            "sql",
            data.to_str().unwrap(),
            "SELECT client_owner_name, server_host, server_dns_name FROM tcp_sessions",
            "SELECT path, server_dns_name FROM http",
        ],
    );
    assert_eq!(
        rows[0],
        serde_json::json!([["web", "api.example.com", "api.example.com"]]),
        "the session 20 s after the answer"
    );
    assert_eq!(
        rows[1],
        serde_json::json!([["/orders", "api.example.com"]]),
        "its exchange"
    );
}
