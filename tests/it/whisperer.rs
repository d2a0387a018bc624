//! Attaching a Whisperer to a workload, end to end. Network namespaces on a bridge stand for the
//! pods of one node: a client (`tools/load`), two pods of `shop/web` and one of `shop/db`. The
//! collector runs the whisperer receiver against the query service. A capture of `shop/web`
//! asked through the API takes exactly the web pods' HTTP — not the db pod's, not what came
//! before it started or after it stopped — and picks up a third web pod that appears mid-capture.
//! Then the same is asked, and stopped, from the UI in Chromium and from `spider capture`; and a
//! capture declared in the collector's config takes the same pods with no service at all.

use std::net::IpAddr;
use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spider_testkit::netns::PodNetwork;
use spider_testkit::reqwest::Client;

use crate::capture::{Nginx, curl};
use crate::serve::{get_json, serving};
use crate::support::{config_file, scratch, spawn, stderr, terminate};
use crate::ui::browse_at;

const CLIENT: usize = 0;
const WEB: [usize; 2] = [1, 2];
const DB: usize = 3;

fn inventory(network: &PodNetwork, web_pods: usize) -> String {
    let ips: Vec<IpAddr> = network.pods.iter().map(|pod| pod.ip).collect();
    let ip = |index: usize| ips[index];
    let web: Vec<String> = (0..web_pods)
        .map(|n| {
            let index = if n < 2 { WEB[n] } else { DB + n - 1 };
            format!(
                "{{ name: web-{n}, node: node-1, ips: [\"{}\"] }}",
                ip(index)
            )
        })
        .collect();
    format!(
        "nodes:\n  - {{ name: node-1, addresses: [\"{gateway}\"] }}\n\
         workloads:\n\
         \x20 - {{ namespace: tools, kind: Deployment, name: load, pods: [{{ name: load-0, node: node-1, ips: [\"{client}\"] }}] }}\n\
         \x20 - {{ namespace: shop, kind: Deployment, name: web, pods: [{web}] }}\n\
         \x20 - {{ namespace: shop, kind: Deployment, name: db, pods: [{{ name: db-0, node: node-1, ips: [\"{db}\"] }}] }}\n",
        gateway = network.gateway,
        client = ip(CLIENT),
        web = web.join(", "),
        db = ip(DB),
    )
}

fn collector_config(inventory: &Path, data: &Path, server: &str) -> String {
    format!(
        r#"
receivers:
  ebpf_usage: {{ read_interval: 200ms, reporter: node-1 }}
  whisperer:
    server: "http://{server}"
    node_name: node-1
    source: static
    inventory: "{inventory}"
    poll_interval: 200ms
    max_packets_per_second: 5000
processors:
  k8s_attributes: {{ source: static, inventory: "{inventory}" }}
  session: {{ close_linger: 200ms, flush_interval: 100ms }}
exporters:
  parquet: {{ path: "{data}", max_file_age: 1s }}
service:
  cluster: east
  telemetry: {{ metrics: {{ level: none }} }}
  pipelines:
    usage: {{ receivers: [ebpf_usage], processors: [k8s_attributes], exporters: [parquet] }}
    capture: {{ receivers: [whisperer], processors: [session, k8s_attributes], exporters: [parquet] }}
"#,
        inventory = inventory.display(),
        data = data.display(),
    )
}

/// nginx in a pod, serving `/page` (1,000 bytes) from a directory of its own.
fn serve_page(network: &PodNetwork, index: usize, dir: &Path) -> Nginx {
    let root = dir.join(format!("nginx-{index}"));
    std::fs::create_dir_all(root.join("www")).unwrap();
    std::fs::write(root.join("www/page"), vec![b'w'; 1_000]).unwrap();
    Nginx::start(&network.pods[index].ns, network.pods[index].ip, &root)
}

/// `count` GETs of `/page` from the client pod to `server`, on one connection.
fn fetch(network: &PodNetwork, server: IpAddr, count: usize) {
    let url = format!("http://{server}/page");
    let mut args = Vec::new();
    for _ in 0..count {
        args.extend(["-o", "/dev/null", url.as_str()]);
    }
    curl(&network.pods[CLIENT].ns, &args);
}

/// Polls the capture until `done` says so of it.
async fn capture_until(
    client: &Client,
    base: &str,
    id: u64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, capture) = get_json(client, &format!("http://{base}/api/captures/{id}")).await;
        assert_eq!(status, 200, "{capture}");
        if done(&capture) {
            return capture;
        }
        assert!(Instant::now() < deadline, "{what}: {capture:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn pods_of(capture: &Value) -> Value {
    capture["agents"]["node-1"]["pods"].clone()
}

/// The rows of a capture view, through the API the UI reads.
async fn view(client: &Client, base: &str, dataset: &str, columns: &[&str]) -> Vec<Vec<Value>> {
    let url = format!("http://{base}/api/grid/{dataset}?from=0&to=4102444800&limit=1000");
    let (status, page) = get_json(client, &url).await;
    assert_eq!(status, 200, "{page}");
    let mut rows: Vec<Vec<Value>> = page["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| columns.iter().map(|c| row[*c].clone()).collect())
        .collect();
    rows.sort_by_key(|row| row.iter().map(ToString::to_string).collect::<Vec<_>>());
    rows
}

fn start_collector(config: &Path) -> Child {
    let collector = spawn(&["collect", "--config", config.to_str().unwrap()]);
    // The eBPF programs attach and the first poll is made within this.
    std::thread::sleep(Duration::from_millis(1500));
    collector
}

#[tokio::test(flavor = "multi_thread")]
async fn a_capture_of_a_workload_takes_exactly_its_pods_and_follows_it_as_it_scales() {
    let Some(_turn) = spider_testkit::netns::kernel_turn().await else {
        return;
    };
    let mut network = PodNetwork::create(4);
    let dir = scratch("whisperer");
    let _servers: Vec<Nginx> = [WEB[0], WEB[1], DB]
        .iter()
        .map(|i| serve_page(&network, *i, &dir))
        .collect();
    let inventory_path = dir.join("inventory.yaml");
    std::fs::write(&inventory_path, inventory(&network, 2)).unwrap();
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (server, base, client) = serving(
        &data,
        &[
            "--capture-max-duration",
            "10m",
            "--capture-max-rate",
            "20000",
        ],
    )
    .await;
    let config = config_file(
        "whisperer",
        &collector_config(&inventory_path, &data, &base),
    );
    let collector = start_collector(&config);
    let ips: Vec<IpAddr> = network.pods.iter().map(|pod| pod.ip).collect();
    let ip = |index: usize| ips[index];

    // Before any capture: nothing is taken.
    fetch(&network, ip(WEB[0]), 2);

    // Limits hold: longer or faster than the service allows is refused.
    let ask = |body: Value| {
        let client = client.clone();
        let base = base.clone();
        async move {
            let response = client
                .post(format!("http://{base}/api/captures"))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let answer: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            (status, answer)
        }
    };
    let web = json!({"namespace": "shop", "kind": "Deployment", "name": "web"});
    let (status, refused) = ask(json!({"workload": web, "duration_seconds": 3600})).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 to 600"),
        "{refused}"
    );
    let (status, refused) =
        ask(json!({"workload": web, "duration_seconds": 60, "max_packets_per_second": 50000}))
            .await;
    assert_eq!(status, 400, "{refused}");

    // A request of another cluster is not this agent's, whatever its workload.
    let (status, elsewhere) =
        ask(json!({"workload": web, "duration_seconds": 120, "cluster": "west"})).await;
    assert_eq!(status, 201, "{elsewhere}");
    let (status, refused) =
        ask(json!({"workload": web, "duration_seconds": 60, "cluster": "West"})).await;
    assert_eq!(status, 400, "{refused}");
    let (status, capture) = ask(
        json!({"workload": web, "duration_seconds": 120, "filter": "tcp port 80", "cluster": "east"}),
    )
    .await;
    assert_eq!(status, 201, "{capture}");
    let id = capture["id"].as_u64().unwrap();
    assert_eq!(capture["state"], "active");
    capture_until(
        &client,
        &base,
        id,
        "the agent captures both web pods",
        |c| c["agents"]["node-1"]["capturing"] == true && pods_of(c) == json!(["web-0", "web-1"]),
    )
    .await;
    let elsewhere_id = elsewhere["id"].as_u64().unwrap();
    let (_, elsewhere) = get_json(
        &client,
        &format!("http://{base}/api/captures/{elsewhere_id}"),
    )
    .await;
    assert_eq!(
        elsewhere["agents"],
        json!({}),
        "west's capture is not east's agent's"
    );
    let stopped = client
        .post(format!("http://{base}/api/captures/{elsewhere_id}/stop"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(stopped.status(), 200);
    // The Whisperer is listed with its cluster, its interfaces and its own captures.
    let (_, listed) = get_json(&client, &format!("http://{base}/api/clusters")).await;
    let east = listed["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "east")
        .unwrap_or_else(|| panic!("{listed}"));
    assert_eq!(east["whisperers"][0]["node"], "node-1", "{east}");
    assert_eq!(
        east["whisperers"][0]["interfaces"],
        json!(["any"]),
        "{east}"
    );
    assert_eq!(east["whisperers"][0]["declared"], 0, "{east}");
    fetch(&network, ip(WEB[0]), 3);
    fetch(&network, ip(WEB[1]), 3);
    fetch(&network, ip(DB), 3);

    // The workload scales: a third pod, serving too.
    let third = network.add_pod().ip;
    let _third_server = serve_page(&network, DB + 1, &dir);
    std::fs::write(&inventory_path, inventory(&network, 3)).unwrap();
    let scaled = capture_until(&client, &base, id, "the third pod is picked up", |c| {
        pods_of(c) == json!(["web-0", "web-1", "web-2"])
            && c["agents"]["node-1"]["capturing"] == true
    })
    .await;
    assert!(
        scaled["agents"]["node-1"]["packets"].as_u64().unwrap() > 0,
        "{scaled}"
    );
    fetch(&network, third, 3);
    std::thread::sleep(Duration::from_millis(500));

    let response = client
        .post(format!("http://{base}/api/captures/{id}/stop"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stopped = capture_until(&client, &base, id, "the agent stops", |c| {
        c["state"] == "stopped" && c["agents"]["node-1"]["capturing"] == false
    })
    .await;
    let (_, active) = get_json(&client, &format!("http://{base}/api/captures?state=active")).await;
    assert_eq!(active, json!([]));
    // After the stop: nothing is taken.
    fetch(&network, ip(WEB[1]), 2);
    let output = terminate(collector);
    assert!(output.status.success(), "{}", stderr(&output));

    // What the capture views hold: exactly the web pods' exchanges made while it ran.
    let http = view(
        &client,
        &base,
        "http",
        &[
            "client_ip",
            "server_ip",
            "server_owner_name",
            "method",
            "path",
            "status",
        ],
    )
    .await;
    let row = |server: IpAddr| {
        json!([
            ip(CLIENT).to_string(),
            server.to_string(),
            "web",
            "GET",
            "/page",
            200
        ])
    };
    let mut expected: Vec<Vec<Value>> = Vec::new();
    for server in [ip(WEB[0]), ip(WEB[1]), third] {
        for _ in 0..3 {
            expected.push(row(server).as_array().unwrap().clone());
        }
    }
    expected.sort_by_key(|row| row.iter().map(ToString::to_string).collect::<Vec<_>>());
    assert_eq!(http, expected, "{}", stderr(&output));
    let sessions = view(
        &client,
        &base,
        "tcp_sessions",
        &[
            "client_ip",
            "server_ip",
            "client_owner_name",
            "server_owner_name",
        ],
    )
    .await;
    assert_eq!(
        sessions.len(),
        3,
        "one keep-alive session per pod: {sessions:?}"
    );
    assert!(
        sessions
            .iter()
            .all(|s| s[0] == json!(ip(CLIENT).to_string()) && s[2] == "load" && s[3] == "web"),
        "{sessions:?}"
    );
    // Every capture view names its Whisperer, and filters by it.
    for dataset in ["packets", "tcp_sessions", "http"] {
        let whisperers = view(&client, &base, dataset, &["capturer"]).await;
        assert!(
            !whisperers.is_empty() && whisperers.iter().all(|w| w[0] == "node-1"),
            "{dataset}: {whisperers:?}"
        );
        let rows_of = |whisperer: &str| {
            let url = format!(
                "http://{base}/api/grid/{dataset}?from=0&to=4102444800&limit=1000&cluster=east&filter=whisperer%20%3D%20{whisperer}"
            );
            let client = client.clone();
            async move {
                get_json(&client, &url).await.1["rows"]
                    .as_array()
                    .unwrap()
                    .len()
            }
        };
        assert_eq!(rows_of("node-1").await, whisperers.len(), "{dataset}");
        assert_eq!(rows_of("node-2").await, 0, "{dataset}");
    }
    let packets = stopped["agents"]["node-1"]["packets"].as_u64().unwrap();
    assert!(packets >= 9 * 2, "{stopped}");
    assert_eq!(stopped["agents"]["node-1"]["dropped"], 0, "{stopped}");

    // The same from the UI: attach from the workload's details, watch it, stop it.
    let collector = start_collector(&config);
    let traffic = Arc::new(AtomicBool::new(true));
    let load = {
        let (ns, url, running) = (
            network.pods[CLIENT].ns.clone(),
            format!("http://{}/page", ip(WEB[0])),
            traffic.clone(),
        );
        std::thread::spawn(move || {
            while running.load(Ordering::Relaxed) {
                let _ = std::process::Command::new("ip")
                    .args(["netns", "exec", &ns, "curl", "-s", "-o", "/dev/null", &url])
                    .status();
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let range = format!("from={}&to={}", now - 900, now + 300);
    let seen = browse_at(&format!("http://{base}/?{range}&view=logical"), "attach");
    traffic.store(false, Ordering::Relaxed);
    load.join().unwrap();
    let output = terminate(collector);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(seen["attached"], "shop/Deployment/web", "{seen}");
    assert!(
        seen["status"]
            .as_str()
            .unwrap()
            .contains("web-0, web-1, web-2"),
        "{seen}"
    );
    assert_eq!(seen["after_stop"], json!([]), "{seen}");
    let (_, all) = get_json(&client, &format!("http://{base}/api/captures")).await;
    let from_ui = &all[0];
    assert_eq!(from_ui["workload"], web);
    assert_eq!(from_ui["state"], "stopped", "{from_ui}");
    assert_eq!(
        from_ui["max_packets_per_second"], 1000,
        "the form's rate: {from_ui}"
    );
    assert!(
        from_ui["agents"]["node-1"]["packets"].as_u64().unwrap() > 0,
        "{from_ui}"
    );

    // From a terminal: the same request, listed and stopped; the limits hold there too.
    let cli = |args: &[&str]| {
        let output = crate::support::run(
            &[
                &["capture", "--server", &format!("http://{base}")][..],
                args,
            ]
            .concat(),
        );
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr(&output),
        )
    };
    let (ok, said, _) = cli(&[
        "--workload",
        "shop/Deployment/web",
        "--duration",
        "1m",
        "--filter",
        "tcp port 80",
    ]);
    assert!(
        ok && said.contains("of shop/Deployment/web: active"),
        "{said}"
    );
    let id: u64 = said.split_whitespace().nth(1).unwrap().parse().unwrap();
    let (ok, listed, _) = cli(&["--list"]);
    assert!(
        ok && listed.starts_with(&format!("capture {id} of shop/Deployment/web: active")),
        "{listed}"
    );
    let (ok, stopped, _) = cli(&["--stop", &id.to_string()]);
    assert!(ok && stopped.contains(": stopped"), "{stopped}");
    let (ok, _, refused) = cli(&["--workload", "shop/Deployment/web", "--duration", "2h"]);
    assert!(!ok && refused.contains("1 to 600"), "{refused}");
    // The service sees what was published since it first listed the dataset.
    let before = view(&client, &base, "http", &["server_ip"]).await.len();
    assert!(
        before > 9,
        "the UI capture's exchanges are listed: {before}"
    );
    assert!(terminate(server).status.success());

    // As code: a capture declared in the collector's config (the sidecar pattern), no service.
    let declared = config_file(
        "whisperer-declared",
        &collector_config(&inventory_path, &data, &base).replace(
            &format!("server: \"http://{base}\""),
            "server: null\n    captures: [{ workload: { namespace: shop, kind: Deployment, name: web }, filter: tcp port 80 }]",
        ),
    );
    let collector = start_collector(&declared);
    fetch(&network, ip(WEB[1]), 4);
    fetch(&network, ip(DB), 2);
    std::thread::sleep(Duration::from_millis(500));
    let output = terminate(collector);
    assert!(output.status.success(), "{}", stderr(&output));
    let (server, base, client) = serving(&data, &[]).await;
    let http = view(&client, &base, "http", &["server_ip"]).await;
    assert_eq!(
        http.len(),
        before + 4,
        "the web pod's 4 requests, not the db's: {}",
        stderr(&output)
    );
    assert!(terminate(server).status.success());
}
