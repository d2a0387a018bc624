//! End to end, as on a Kubernetes node: two network namespaces plugged into a bridge stand for a
//! `frontend` pod (namespace `web`) and an `api` pod (namespace `payments`) that talk HTTP. One
//! collector counts their exchanges with eBPF and captures the api pod's packets on its host-side
//! veth, attributes both ends from a static inventory, and writes Parquet and OTLP (decoded by the
//! official protobuf messages). The query service reads the result, and Chromium draws the map:
//! both namespaces, both workloads, and an edge with the bytes that crossed.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use spider_testkit::netns::PodNetwork;
use spider_testkit::otlp_peer::Peer;
use spider_testkit::python_json;

use crate::capture::{Nginx, curl};
use crate::serve::serving;
use crate::support::{config_file, scratch, spawn, stderr, terminate};
use crate::ui::browse_at;

const REQUESTS: usize = 5;
const BODY: usize = 200_000;

fn inventory(network: &PodNetwork) -> String {
    let [frontend, api] = [&network.pods[0].ip, &network.pods[1].ip];
    format!(
        "nodes:\n  - {{ name: node-1, addresses: [\"{gateway}\"] }}\n\
         workloads:\n\
         \x20 - {{ namespace: web, kind: Deployment, name: frontend, pods: [{{ name: frontend-5d9c7-x2k4q, node: node-1, ips: [\"{frontend}\"] }}] }}\n\
         \x20 - {{ namespace: payments, kind: Deployment, name: api, pods: [{{ name: api-7f6b8-9zq2w, node: node-1, ips: [\"{api}\"] }}] }}\n",
        gateway = network.gateway
    )
}

fn collector_config(network: &PodNetwork, inventory: &str, data: &str, peer: &Peer) -> String {
    format!(
        r#"
receivers:
  ebpf_usage: {{ read_interval: 200ms, reporter: node-1 }}
  pcap: {{ interfaces: [{veth}], filter: tcp port 80, flush_interval: 50ms }}
processors:
  k8s_attributes: {{ source: static, inventory: "{inventory}" }}
  session: {{ close_linger: 200ms, flush_interval: 100ms }}
  batch: {{ timeout: 200ms }}
exporters:
  parquet: {{ path: "{data}" }}
  otlp: {{ endpoint: "http://localhost:{grpc}", temporality: delta, dimensions: [namespace, owner, class, port] }}
service:
  telemetry: {{ metrics: {{ level: none }} }}
  pipelines:
    usage: {{ receivers: [ebpf_usage], processors: [k8s_attributes, batch], exporters: [parquet, otlp] }}
    capture: {{ receivers: [pcap], processors: [session, k8s_attributes], exporters: [parquet] }}
"#,
        veth = network.pods[1].host_veth,
        grpc = peer.grpc_port
    )
}

/// Every data point of `metric` (a sum or a gauge) in the requests an OTLP peer received. An
/// empty list is absent from protobuf's JSON, and reads as empty.
pub fn otlp_points<'a>(requests: &'a [Value], metric: &'a str) -> impl Iterator<Item = &'a Value> {
    let array = |value: &'a Value| value.as_array().into_iter().flatten();
    requests
        .iter()
        .flat_map(move |request| array(&request["request"]["resource_metrics"]))
        .flat_map(move |resource| array(&resource["scope_metrics"]))
        .flat_map(move |scope| array(&scope["metrics"]))
        .filter(move |m| m["name"] == metric)
        .flat_map(move |m| {
            let data = if m["sum"].is_object() {
                &m["sum"]
            } else {
                &m["gauge"]
            };
            array(&data["data_points"])
        })
}

/// The sum of every OTLP point of `metric` from workload `source` to workload `destination`.
pub fn otlp_sum(requests: &[Value], metric: &str, source: &str, destination: &str) -> u64 {
    let attribute = |point: &Value, key: &str| {
        point["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == key)
            .and_then(|a| a["value"]["string_value"].as_str())
            .map(str::to_owned)
    };
    otlp_points(requests, metric)
        .filter(|point| {
            attribute(point, "source.k8s.owner.name").as_deref() == Some(source)
                && attribute(point, "destination.k8s.owner.name").as_deref() == Some(destination)
        })
        .map(|point| point["as_int"].as_str().unwrap().parse::<u64>().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn pods_talking_show_on_the_map_with_the_bytes_they_sent() {
    let Some(_turn) = spider_testkit::netns::kernel_turn().await else {
        return;
    };
    let network = PodNetwork::create(2);
    let (frontend, api): (IpAddr, IpAddr) = (network.pods[0].ip, network.pods[1].ip);
    let dir = scratch("end-to-end");
    std::fs::create_dir_all(dir.join("www")).unwrap();
    std::fs::write(dir.join("www/payload"), vec![b'x'; BODY]).unwrap();
    let _nginx = Nginx::start(&network.pods[1].ns, api, &dir);
    let inventory_path = dir.join("inventory.yaml");
    std::fs::write(&inventory_path, inventory(&network)).unwrap();
    let data = dir.join("data");
    let peer = Peer::start(&[]);
    let config = config_file(
        "end-to-end",
        &collector_config(
            &network,
            inventory_path.to_str().unwrap(),
            data.to_str().unwrap(),
            &peer,
        ),
    );
    let from = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 120;
    let collector = spawn(&["collect", "--config", config.to_str().unwrap()]);
    // Until the programs are attached and the capture is open, traffic would go unseen.
    std::thread::sleep(Duration::from_millis(1500));
    let url = format!("http://{api}/payload");
    let mut args = Vec::new();
    for _ in 0..REQUESTS {
        args.extend(["-o", "/dev/null", url.as_str()]);
    }
    curl(&network.pods[0].ns, &args);
    std::thread::sleep(Duration::from_millis(1000));
    let output = terminate(collector);
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");

    // eBPF's count of the pair is what the capture saw on the wire: the same payload bytes.
    let answers = python_json(
        "datasets.py",
        &[
            "sql".to_string(),
            data.display().to_string(),
            format!(
                "SELECT sum(bytes_to_server), sum(bytes_to_client), sum(messages_to_server), min(client_namespace), \
                 min(client_owner_name), min(server_namespace), min(server_owner_name), min(server_pod) \
                 FROM network_usage WHERE client_ip = '{frontend}' AND server_ip = '{api}' AND server_port = 80"
            ),
            format!(
                "SELECT sum(bytes_to_server), sum(bytes_to_client), count(*), min(client_owner_name), min(server_owner_name) \
                 FROM tcp_sessions WHERE client_ip = '{frontend}' AND server_ip = '{api}'"
            ),
            "SELECT count(*), sum(response_body_size), min(status), max(status) FROM http"
                .to_string(),
        ],
    );
    let usage = &answers[0][0];
    let sessions = &answers[1][0];
    assert_eq!(
        usage.as_array().unwrap()[3..],
        json!(["web", "frontend", "payments", "api", "api-7f6b8-9zq2w"])
            .as_array()
            .unwrap()[..],
        "{log}"
    );
    assert_eq!(usage[2], REQUESTS, "one message per request: {usage}");
    assert_eq!(sessions[2], 1, "one keep-alive session: {sessions}");
    assert_eq!(
        [&usage[0], &usage[1]],
        [&sessions[0], &sessions[1]],
        "eBPF and the capture agree"
    );
    assert_eq!(
        [&sessions[3], &sessions[4]],
        [&json!("frontend"), &json!("api")]
    );
    assert_eq!(answers[2][0], json!([REQUESTS, REQUESTS * BODY, 200, 200]));
    let to_server = usage[0].as_u64().unwrap();
    let to_client = usage[1].as_u64().unwrap();
    assert!(to_client > (REQUESTS * BODY) as u64, "{usage}");

    // The same bytes went out over OTLP, as the official decoder reads them.
    let requests = peer.wait_for(1);
    assert_eq!(
        otlp_sum(&requests, "network.flow.bytes", "frontend", "api"),
        to_server + to_client
    );
    crate::examples::dashboard_asks_for_what_was_exported(&requests);

    // The query service and the map in Chromium.
    let (server, base, _client) = serving(&data, &[]).await;
    let to = from + 600;
    let seen = browse_at(&format!("{base}/?from={from}&to={to}&view=logical"), "map");
    let node = |id: &str| {
        seen["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["id"] == id)
            .unwrap_or_else(|| panic!("no {id} on the map: {}", seen["nodes"]))
            .clone()
    };
    for namespace in ["web", "payments"] {
        assert_eq!(node(&format!("ns|{namespace}"))["compound"], true);
    }
    let frontend_node = node("w|web|Deployment|frontend");
    let api_node = node("w|payments|Deployment|api");
    assert_eq!(frontend_node["label"], "frontend");
    assert_eq!(frontend_node["parent"], "ns|web");
    assert_eq!(api_node["label"], "api");
    assert_eq!(api_node["parent"], "ns|payments");
    let edge = seen["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            e["source"] == "w|web|Deployment|frontend" && e["target"] == "w|payments|Deployment|api"
        })
        .unwrap_or_else(|| panic!("no frontend → api edge: {}", seen["edges"]))
        .clone();
    assert_eq!(edge["bytes"], to_server + to_client);
    assert_eq!(edge["ports"], "80");
    assert!(terminate(server).status.success());
}
