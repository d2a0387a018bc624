//! The living demo cluster: three nodes simulated on this kernel ([`spider_simcluster`]), with a
//! shop (a web Deployment in front of an api Deployment in front of a StatefulSet database),
//! cluster DNS, monitoring (a node-exporter DaemonSet on the host network, scraped by a
//! Prometheus StatefulSet), logging (a fluent-bit DaemonSet shipping to a Loki StatefulSet), a
//! CronJob that wakes every minute to report to a partner outside,
//! and users outside reaching the web tier through NodePorts. Real processes (`workloads.py`)
//! talk continuously; one eBPF agent per node counts them, a Whisperer per node carries out
//! capture requests, and the demo asks for one of the web tier as it starts.
//!
//! Everything it makes is named after one tag, so Ctrl-C removes it and the next start sweeps
//! whatever a crash left behind.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::Context;
use spider_collector::{Factories, RunningCollector};
use spider_simcluster::{Cluster, Workload, cluster_cidrs};

use super::super::StopSignals;
use super::{DemoArgs, bind_ui, demo_config, serve_until_stopped, stop_collector};

/// The cluster's name in the lake and the UI.
const CLUSTER: &str = "demo";
/// What every name the simulator makes derives from, and its address block.
const TAG: &str = "demo";
const SUBNET: u32 = 47;
/// The host outside: the users' side of the internet, and a partner's API by its DNS name.
const INTERNET: &str = "internet";
const PARTNER: &str = "partner.example.com";
/// The shop's NetworkPolicies, in the inventory as manifests: api takes web and the monitoring
/// namespace, db takes api. No CNI enforces them here, so the batch report's calls to api show as
/// denied by policy.
const POLICIES: &str = "network_policies:
  - metadata: { namespace: shop, name: api-from-web-and-monitoring }
    spec:
      podSelector: { matchLabels: { app: api } }
      ingress:
        - from: [{ podSelector: { matchLabels: { app: web } } }]
          ports: [{ port: 8080 }]
        - from: [{ namespaceSelector: { matchLabels: { kubernetes.io/metadata.name: monitoring } } }]
          ports: [{ port: 8080 }]
  - metadata: { namespace: shop, name: db-from-api }
    spec:
      podSelector: { matchLabels: { app: db } }
      ingress:
        - from: [{ podSelector: { matchLabels: { app: api } } }]
          ports: [{ port: 5432 }]
";
/// The web tier, whose capture the demo requests as it starts.
const WEB: (&str, &str, &str) = ("shop", "Deployment", "web");
/// The workloads' program.
const WORKLOADS_PY: &str = include_str!("workloads.py");

/// The simulated cluster and the processes of its workloads, all stopped on drop.
struct Living {
    processes: Vec<Child>,
    cluster: Cluster,
}

impl Drop for Living {
    fn drop(&mut self) {
        for process in &mut self.processes {
            let _ = process.kill();
            let _ = process.wait();
        }
        // The cluster's own drop then removes its namespaces, cgroups, routes and rules.
    }
}

pub(super) async fn run(
    args: &DemoArgs,
    factories: &Factories,
    stop: StopSignals,
) -> anyhow::Result<()> {
    let spider_dir = args.data.join(".spider");
    std::fs::create_dir_all(&spider_dir)
        .with_context(|| format!("cannot create {}", spider_dir.display()))?;
    let dir = spider_dir.clone();
    let living = tokio::task::spawn_blocking(move || build(&dir))
        .await
        .context("building the demo cluster")??;
    let inventory = spider_dir.join("inventory.yaml");
    let described = format!("{}{POLICIES}", living.cluster.inventory_yaml(INTERNET));
    std::fs::write(&inventory, described)
        .with_context(|| format!("cannot write {}", inventory.display()))?;
    let (listener, app, address) = bind_ui(
        args,
        &args.data,
        "a living cluster of 3 nodes on this machine",
    )
    .await?;
    // The agents and the capture request reach the UI at an address they can connect to.
    let address = if address.ip().is_unspecified() {
        SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), address.port())
    } else {
        address
    };
    let yaml = collector_yaml(&living.cluster, &inventory, &args.data, address);
    let config = demo_config(&yaml, &[], factories)?;
    let collector = RunningCollector::start(&config, factories)
        .await
        .context("the demo's agents did not start")?;
    tracing::info!(
        "the cluster runs; its first minute of counts lands at the next minute boundary, its captured sessions within seconds"
    );
    tokio::spawn(request_web_capture(address));
    serve_until_stopped(listener, app, stop).await;
    let stopped = stop_collector(collector).await;
    drop(living);
    tracing::info!(
        "removed the demo cluster; the data stays in {}",
        args.data.display()
    );
    stopped
}

/// Makes the cluster and starts its workloads (blocking: a few hundred `ip` and `iptables` calls).
fn build(dir: &Path) -> anyhow::Result<Living> {
    let script = dir.join("workloads.py");
    std::fs::write(&script, WORKLOADS_PY)
        .with_context(|| format!("cannot write {}", script.display()))?;
    let log_path = dir.join("workloads.log");
    let log =
        File::create(&log_path).with_context(|| format!("cannot write {}", log_path.display()))?;
    let mut living = Living {
        processes: Vec::new(),
        cluster: Cluster::named(TAG, SUBNET).context("cannot make the demo cluster")?,
    };
    let c = &mut living.cluster;
    for node in ["node-1", "node-2", "node-3"] {
        c.add_node(node)?;
    }
    let shop = |kind, name| Workload::new("shop", kind, name);
    let web = [
        c.add_pod(0, "web-7f9c4-x2k8p", shop("Deployment", "web"))?,
        c.add_pod(1, "web-7f9c4-q7w3z", shop("Deployment", "web"))?,
    ];
    let api = c.add_pod(1, "api-5b8d6-m4n9t", shop("Deployment", "api"))?;
    let db = c.add_pod(2, "db-0", shop("StatefulSet", "db"))?;
    let dns = c.add_pod(
        0,
        "coredns-6d4b7-r5s2v",
        Workload::new("kube-system", "Deployment", "coredns"),
    )?;
    let prometheus = c.add_pod(
        1,
        "prometheus-0",
        Workload::new("monitoring", "StatefulSet", "prometheus"),
    )?;
    let report = c.add_pod(
        2,
        "report-29412345-h8j4k",
        Workload::new("batch", "CronJob", "report"),
    )?;
    let exporters = daemon_set(
        c,
        ("monitoring", "node-exporter"),
        ["b7x2q", "k4m8r", "p9t3w"],
        true,
    )?;
    let fluent_bit = daemon_set(
        c,
        ("logging", "fluent-bit"),
        ["f5k2m", "j8d4x", "w3n7c"],
        false,
    )?;
    let loki = c.add_pod(2, "loki-0", Workload::new("logging", "StatefulSet", "loki"))?;
    let kube_dns = c.add_service("kube-system", "kube-dns", 53, "udp", (dns, 53))?;
    let web_service = c.add_service("shop", "web", 80, "tcp", (web[0], 8080))?;
    let api_service = c.add_service("shop", "api", 80, "tcp", (api, 8080))?;
    let db_service = c.add_service("shop", "db", 5432, "tcp", (db, 5432))?;
    let loki_service = c.add_service("logging", "loki", 3100, "tcp", (loki, 3100))?;
    for (node, pod) in web.iter().enumerate() {
        c.add_node_port(node, 30080, "tcp", (*pod, 8080))?;
    }
    c.add_outside()?;

    let c = &living.cluster;
    let outside = c.outside.as_ref().expect("just added").ip;
    let mut records: Vec<String> = [web_service, api_service, db_service, loki_service]
        .iter()
        .map(|&s| {
            let service = &c.services[s];
            format!(
                "{}.{}.svc.cluster.local={}",
                service.name, service.namespace, service.ip
            )
        })
        .collect();
    records.push(format!("{PARTNER}={outside}"));
    let dns_ip = c.services[kube_dns].ip.to_string();
    let script = script
        .to_str()
        .context("the data directory's path is not UTF-8")?;
    let node = |n: usize| c.nodes[n].ip.to_string();
    let api_url = "http://api.shop.svc.cluster.local:80";
    // Servers first, each listening before its clients start.
    let mut servers: Vec<(usize, Vec<String>)> = vec![
        (dns, [vec!["dns".into(), "53".into()], records].concat()),
        (db, vec!["db".into(), "5432".into()]),
        (
            api,
            vec![
                "http".into(),
                "8080".into(),
                "3000".into(),
                "tcp://db.shop.svc.cluster.local:5432".into(),
            ],
        ),
    ];
    for pod in web {
        servers.push((
            pod,
            vec![
                "http".into(),
                "8080".into(),
                "20000".into(),
                format!("{api_url}/items"),
            ],
        ));
    }
    for &pod in &exporters {
        servers.push((pod, vec!["http".into(), "9100".into(), "8000".into()]));
    }
    servers.push((loki, vec!["http".into(), "3100".into(), "100".into()]));
    let mut clients: Vec<(usize, Vec<String>)> = vec![
        (
            prometheus,
            vec![
                "client".into(),
                "5".into(),
                format!("http://{}:9100/metrics", node(0)),
                format!("http://{}:9100/metrics", node(1)),
                format!("http://{}:9100/metrics", node(2)),
                format!("{api_url}/metrics"),
            ],
        ),
        (
            report,
            vec![
                "cron".into(),
                "60".into(),
                format!("{api_url}/report"),
                format!("http://{PARTNER}:80/upload"),
            ],
        ),
    ];
    for &pod in &fluent_bit {
        clients.push((
            pod,
            vec![
                "client".into(),
                "3".into(),
                "http://loki.logging.svc.cluster.local:3100/upload/loki/api/v1/push".into(),
            ],
        ));
    }
    let as_pod = |pod: usize, arguments: &[String]| {
        let mut all = vec![script];
        all.extend(arguments.iter().map(String::as_str));
        let mut command = c.command_in(pod, "python3", &all);
        // A host-network pod listens on its node's address only, as three share this host.
        let bind = if c.pods[pod].netns.is_none() {
            c.pods[pod].ip.to_string()
        } else {
            "0.0.0.0".to_owned()
        };
        command.env("SPIDER_DEMO_BIND", bind);
        command
    };
    for (pod, arguments) in &servers {
        let process = spawn(as_pod(*pod, arguments), &dns_ip, &log, true)?;
        living.processes.push(process);
    }
    let partner = c.command_outside("python3", &[script, "http", "80", "500"]);
    living.processes.push(spawn(partner, &dns_ip, &log, true)?);
    for (pod, arguments) in &clients {
        let process = spawn(as_pod(*pod, arguments), &dns_ip, &log, false)?;
        living.processes.push(process);
    }
    // Users outside, through both NodePorts; one in ten asks for a page that does not exist.
    let users = c.command_outside(
        "python3",
        &[
            script,
            "client",
            "1",
            &format!("http://{}:30080/", node(0)),
            &format!("http://{}:30080/cart", node(1)),
            &format!("http://{}:30080/", node(0)),
            &format!("http://{}:30080/missing", node(1)),
        ],
    );
    living.processes.push(spawn(users, &dns_ip, &log, false)?);
    Ok(living)
}

/// A DaemonSet `(namespace, name)`: a pod on each node, named with each of `ids`, on the host
/// network or its own; returns the pods.
fn daemon_set(
    cluster: &mut Cluster,
    (namespace, name): (&str, &str),
    ids: [&str; 3],
    host_network: bool,
) -> anyhow::Result<Vec<usize>> {
    ids.iter()
        .enumerate()
        .map(|(node, id)| {
            let pod = format!("{name}-{id}");
            let workload = Workload::new(namespace, "DaemonSet", name);
            if host_network {
                cluster.add_host_pod(node, &pod, workload)
            } else {
                cluster.add_pod(node, &pod, workload)
            }
        })
        .collect()
}

/// Starts one workload process, its errors into the workloads' log; waits for a server's "ready".
fn spawn(mut command: Command, dns: &str, log: &File, server: bool) -> anyhow::Result<Child> {
    let what = format!("{command:?}");
    command
        .env("SPIDER_DEMO_DNS", dns)
        .stdin(Stdio::null())
        .stdout(if server {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(log.try_clone()?);
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start {what}"))?;
    if server {
        let mut line = String::new();
        let stdout = child.stdout.take().expect("piped");
        let _ = BufReader::new(stdout).read_line(&mut line);
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("{what} did not start (is python3 installed?): see the workloads' log");
        }
    }
    Ok(child)
}

/// The agents of the cluster's nodes: eBPF usage scoped to each node's cgroup, a Whisperer per
/// node answering the demo's own query service, attribution from the cluster's inventory.
fn collector_yaml(cluster: &Cluster, inventory: &Path, data: &Path, server: SocketAddr) -> String {
    let inventory = inventory.display();
    let mut receivers = String::new();
    let (mut usage, mut capture) = (Vec::new(), Vec::new());
    for node in &cluster.nodes {
        let name = &node.name;
        let _ = writeln!(
            receivers,
            "  ebpf_usage/{name}: {{ read_interval: 5s, reporter: \"{name}\", cgroup_path: \"{}\" }}\n\
             \x20 whisperer/{name}: {{ server: \"http://{server}\", node_name: \"{name}\", source: static, inventory: \"{inventory}\" }}",
            node.cgroup.display()
        );
        usage.push(format!("ebpf_usage/{name}"));
        capture.push(format!("whisperer/{name}"));
    }
    let cidrs = cluster_cidrs(cluster);
    format!(
        "receivers:\n{receivers}\
         processors:\n\
         \x20 session: {{ idle_timeout: 1m }}\n\
         \x20 k8s_attributes: {{ source: static, inventory: \"{inventory}\", cluster_cidrs: {cidrs:?} }}\n\
         \x20 batch: {{ timeout: 5s }}\n\
         exporters:\n\
         \x20 parquet: {{ path: \"{data}\", max_file_age: 10s }}\n\
         service:\n\
         \x20 cluster: {CLUSTER}\n\
         \x20 telemetry: {{ metrics: {{ address: \"${{env:SPIDER_METRICS_ADDRESS:-127.0.0.1:8888}}\" }} }}\n\
         \x20 pipelines:\n\
         \x20   usage: {{ receivers: [{usage}], processors: [k8s_attributes, batch], exporters: [parquet] }}\n\
         \x20   capture: {{ receivers: [{capture}], processors: [session, k8s_attributes], exporters: [parquet] }}\n",
        data = data.display(),
        usage = usage.join(", "),
        capture = capture.join(", "),
    )
}

/// Asks the demo's own query service for a capture of the web tier, as "Attach Whisperer" does,
/// once it answers; the capture shows in the UI's captures panel, where it can be stopped.
async fn request_web_capture(ui: SocketAddr) {
    let url = format!("http://{ui}/api/captures");
    let (namespace, kind, name) = WEB;
    let body = serde_json::json!({
        "workload": { "namespace": namespace, "kind": kind, "name": name },
        "duration_seconds": 3600,
        "cluster": CLUSTER,
    });
    let client = reqwest::Client::new();
    for _ in 0..20 {
        let request = client
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                tracing::info!("capturing {namespace}/{name} for an hour (stop it in the UI)");
                return;
            }
            Ok(response) => {
                tracing::warn!("the web tier's capture was refused: {}", response.status());
                return;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(250)).await,
        }
    }
    tracing::warn!("the query service did not answer: no capture of the web tier");
}
