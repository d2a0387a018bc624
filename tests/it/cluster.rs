//! Network usage in a cluster: two nodes simulated on this kernel, one `spider collect` per node
//! scoped to its node's cgroup, attributing from the fake API server, all writing one dataset
//! and one OTLP peer. Every kind of conversation a cluster has is counted exactly once, with
//! its bytes and messages each way, on the map, in the stats and in OTLP:
//! same-node pod → pod, cross-node pod → pod, pod → Service → pod over TCP, DNS over UDP
//! through the DNS Service, host-network pod → pod, and an outside client → NodePort → pod.

use std::collections::BTreeMap;
use std::process::Child;
use std::time::Duration;

use serde_json::{Value, json};
use spider_testkit::cluster::{Cluster, Workload, cluster_cidrs, objects};
use spider_testkit::kube_api::{self, FakeApi};
use spider_testkit::netns::{finished, started};
use spider_testkit::otlp_peer::Peer;
use spider_testkit::python_script;

use crate::end_to_end::{otlp_points, otlp_sum};
use crate::serve::{get_json, serving, sql_rows};
use crate::support::{config_file, scratch, spawn, stderr, terminate};

/// The agent of one node: eBPF usage scoped to the node's cgroup, enrichment from the API.
fn agent_config(
    cluster: &Cluster,
    node: usize,
    kubeconfig: &str,
    data: &str,
    peer: &Peer,
    metrics_port: u16,
) -> String {
    let cidrs = cluster_cidrs(cluster);
    format!(
        r#"
receivers:
  ebpf_usage: {{ read_interval: 200ms, reporter: {name}, cgroup_path: "{cgroup}" }}
processors:
  k8s_attributes:
    source: kubernetes
    auth_type: kube_config
    kubeconfig: "{kubeconfig}"
    wait_for_metadata: true
    cluster_cidrs: {cidrs:?}
  batch: {{ timeout: 200ms }}
exporters:
  parquet: {{ path: "{data}" }}
  otlp: {{ endpoint: "http://localhost:{grpc}", temporality: delta, dimensions: [namespace, owner, class, port] }}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{metrics_port}" }} }}
  pipelines:
    usage: {{ receivers: [ebpf_usage], processors: [k8s_attributes, batch], exporters: [parquet, otlp] }}
"#,
        name = cluster.nodes[node].name,
        cgroup = cluster.nodes[node].cgroup.display(),
        grpc = peer.grpc_port,
    )
}

/// Waits until the agent's programs are attached (its self-telemetry says so); it has listed
/// the cluster by then, since receivers start after processors.
async fn attached(agent: &mut Child, metrics_port: u16) {
    let client = spider_testkit::http();
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(&url).send().await
            && let Ok(text) = response.text().await
            && text.contains("spider_ebpf_attached{receiver=\"ebpf_usage\"} 1")
        {
            return;
        }
        assert!(
            agent.try_wait().unwrap().is_none(),
            "the agent exited before attaching"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the agent did not attach"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts `traffic.py ARGS` (or another peer script) as pod `pod` and waits for "ready".
fn serve_in(cluster: &Cluster, pod: usize, script: &str, args: &[&str]) -> Child {
    let script = python_script(script);
    let mut all = vec![script.to_str().unwrap()];
    all.extend(args);
    started(
        &mut cluster.command_in(pod, "python3", &all),
        &format!("server {args:?}"),
    )
}

/// Who runs a client.
#[derive(Clone, Copy)]
enum Caller {
    /// A pod of the cluster.
    Pod(usize),
    /// The host outside it.
    Outside,
}

/// Serves one client: starts `script SERVER_ARGS` as pod `server`, runs `traffic.py
/// CLIENT_ARGS` as `client` to completion, waits for the server; returns what the client printed.
fn exchange(
    cluster: &Cluster,
    (server, script, server_args): (usize, &str, &[&str]),
    client: Caller,
    client_args: &[&str],
) -> String {
    let serving = serve_in(cluster, server, script, server_args);
    let traffic = python_script("traffic.py");
    let mut args = vec![traffic.to_str().unwrap()];
    args.extend(client_args);
    let mut command = match client {
        Caller::Pod(pod) => cluster.command_in(pod, "python3", &args),
        Caller::Outside => cluster.command_outside("python3", &args),
    };
    let output = command.output().expect("client runs");
    assert!(
        output.status.success(),
        "client {client_args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    finished(serving);
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A map edge's bytes each way and messages, by (source, target).
fn edges(map: &Value) -> BTreeMap<(String, String), [u64; 3]> {
    map["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                (
                    e["source"].as_str().unwrap().to_owned(),
                    e["target"].as_str().unwrap().to_owned(),
                ),
                [
                    e["bytes_to_server"].as_u64().unwrap(),
                    e["bytes_to_client"].as_u64().unwrap(),
                    e["messages"].as_u64().unwrap(),
                ],
            )
        })
        .collect()
}

/// The simulated cluster's pods and Services the test talks through, by index.
struct Built {
    web: usize,
    cache: usize,
    api: usize,
    dns: usize,
    probe: usize,
    api_service: usize,
    dns_service: usize,
    api_service6: usize,
    dns_service6: usize,
}

/// Two nodes with pods of every kind, a TCP and a DNS Service in each address family (pods are
/// dual-stack), a NodePort and the outside host.
fn build(cluster: &mut Cluster) -> anyhow::Result<Built> {
    let (n1, n2) = (cluster.add_node("node-1")?, cluster.add_node("node-2")?);
    let web = cluster.add_pod(
        n1,
        "web-5d9c7-a1",
        Workload::new("shop", "Deployment", "web"),
    )?;
    let cache = cluster.add_pod(n1, "cache-0", Workload::new("shop", "StatefulSet", "cache"))?;
    let api = cluster.add_pod(
        n2,
        "api-5d9c7-b2",
        Workload::new("shop", "Deployment", "api"),
    )?;
    let dns = cluster.add_pod(
        n2,
        "coredns-5d9c7-c3",
        Workload::new("kube-system", "Deployment", "coredns"),
    )?;
    let probe = cluster.add_host_pod(
        n1,
        "probe-x7",
        Workload::new("kube-system", "DaemonSet", "probe"),
    )?;
    let api_service = cluster.add_service("shop", "api", 80, "tcp", (api, 7777))?;
    let dns_service = cluster.add_service("kube-system", "kube-dns", 53, "udp", (dns, 53))?;
    let api_service6 = cluster.add_service_v6("shop", "api-v6", 80, "tcp", (api, 7777))?;
    let dns_service6 =
        cluster.add_service_v6("kube-system", "kube-dns-v6", 53, "udp", (dns, 53))?;
    cluster.add_node_port(n2, 30080, "tcp", (api, 7777))?;
    cluster.add_outside()?;
    Ok(Built {
        web,
        cache,
        api,
        dns,
        probe,
        api_service,
        dns_service,
        api_service6,
        dns_service6,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_cluster_conversation_is_counted_once_on_map_stats_and_otlp() {
    let Some(_turn) = spider_testkit::netns::kernel_turn().await else {
        return;
    };
    let mut cluster = Cluster::new().expect("a simulated cluster");
    let Built {
        web,
        cache,
        api,
        dns,
        probe,
        api_service,
        dns_service,
        api_service6,
        dns_service6,
    } = build(&mut cluster).expect("the cluster's nodes, pods and Services");
    let (n1, n2) = (0, 1);

    let mut api_server = FakeApi::start_new(Duration::from_secs(5)).await;
    for object in objects(&cluster) {
        api_server.apply(object);
    }
    // api takes web on 7777 only; no CNI enforces it here, so what else reaches api is denied.
    api_server.apply(kube_api::network_policy(
        "shop",
        "api-from-web",
        json!({
            "podSelector": {"matchLabels": {"app": "api"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                         "ports": [{"protocol": "TCP", "port": 7777}]}],
        }),
    ));
    let dir = scratch("cluster");
    let kubeconfig = dir.join("kubeconfig");
    api_server.write_kubeconfig(&kubeconfig);
    let data = dir.join("data");
    let peer = Peer::start(&[]);
    let mut agents: Vec<Child> = Vec::new();
    for node in [n1, n2] {
        let metrics_port = spider_testkit::free_port();
        let config = config_file(
            "cluster-agent",
            &agent_config(
                &cluster,
                node,
                kubeconfig.to_str().unwrap(),
                data.to_str().unwrap(),
                &peer,
                metrics_port,
            ),
        );
        agents.push(spawn(&["collect", "--config", config.to_str().unwrap()]));
        // Until the agent has listed the cluster and attached, traffic would go unseen.
        attached(agents.last_mut().unwrap(), metrics_port).await;
    }

    let ip = |pod: usize| cluster.pods[pod].ip.to_string();
    let web_ip6 = cluster.pods[web].ip6.unwrap().to_string();
    let (web_ip, cache_ip, api_ip, dns_ip) = (ip(web), ip(cache), ip(api), ip(dns));
    let node1 = cluster.nodes[n1].ip.to_string();
    let node2 = cluster.nodes[n2].ip.to_string();
    let api_vip = cluster.services[api_service].ip.to_string();
    let dns_vip = cluster.services[dns_service].ip.to_string();
    let api_vip6 = cluster.services[api_service6].ip.to_string();
    let dns_vip6 = cluster.services[dns_service6].ip.to_string();
    let dns_ip6 = cluster.pods[dns].ip6.unwrap().to_string();

    let run = |server: usize, script: &str, server_args: &[&str], client, client_args: &[&str]| {
        exchange(&cluster, (server, script, server_args), client, client_args)
    };
    // Same node: web → cache, 3 × 1000 bytes, 2 × 500 back.
    run(
        cache,
        "traffic.py",
        &["tcp-server", &cache_ip, "6379", "2", "500", "3000"],
        Caller::Pod(web),
        &["tcp-client", &cache_ip, "6379", "3", "1000", "1000"],
    );
    // Cross node, to the pod's address: web → api:7778, 4 × 1500, 3 × 700 back. The client's
    // agent counts it, and sees the replies only as the client's receive calls: the server
    // pauses between its replies so that each is one (here and through the Service).
    run(
        api,
        "traffic.py",
        &["tcp-server", &api_ip, "7778", "3", "700", "6000", "0.05"],
        Caller::Pod(web),
        &["tcp-client", &api_ip, "7778", "4", "1500", "2100"],
    );
    // Through the Service: web → api's ClusterIP:80 → api:7777, 5 × 2000, 2 × 3000 back.
    run(
        api,
        "traffic.py",
        &[
            "tcp-server",
            "0.0.0.0",
            "7777",
            "2",
            "3000",
            "10000",
            "0.05",
        ],
        Caller::Pod(web),
        &["tcp-client", &api_vip, "80", "5", "2000", "6000"],
    );
    // DNS through a DNS Service, over a connected UDP socket: what the client sent and received.
    let ask = |server_ip: &str, vip: &str, questions: &str| -> Value {
        let said = run(
            dns,
            "dns_server.py",
            &[server_ip, "53", &api_vip, questions],
            Caller::Pod(web),
            &[
                "dns-client",
                vip,
                "53",
                "api.shop.svc.cluster.local",
                questions,
            ],
        );
        serde_json::from_str(&said).unwrap()
    };
    let asked = ask(&dns_ip, &dns_vip, "4");
    // Over IPv6 through an IPv6 Service (ip6tables DNAT): web → api-v6's ClusterIP:80 → api's
    // IPv6 address:7777, 2 × 1200, 1 × 800 back.
    run(
        api,
        "traffic.py",
        &["tcp-server", "::", "7777", "1", "800", "2400", "0.05"],
        Caller::Pod(web),
        &["tcp-client", &api_vip6, "80", "2", "1200", "800"],
    );
    // And DNS through the IPv6 DNS Service: 2 questions.
    let asked6 = ask(&dns_ip6, &dns_vip6, "2");
    // A host-network pod on node-1, from the node's address: 2 × 100, 1 × 50 back.
    run(
        api,
        "traffic.py",
        &["tcp-server", &api_ip, "7779", "1", "50", "200"],
        Caller::Pod(probe),
        &["tcp-client", &api_ip, "7779", "2", "100", "50", "0", &node1],
    );
    // From outside the cluster, through node-2's NodePort: 3 × 400, 1 × 900 back. Only the
    // server's socket is local, so its receive calls count the messages: the client pauses
    // between its sends so that each arrives as one.
    run(
        api,
        "traffic.py",
        &["tcp-server", "0.0.0.0", "7777", "1", "900", "1200"],
        Caller::Outside,
        &["tcp-client", &node2, "30080", "3", "400", "900", "0.1"],
    );

    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut logs = String::new();
    for agent in agents {
        let output = terminate(agent);
        logs += &stderr(&output);
        assert!(output.status.success(), "{logs}");
    }

    let (server, base, client) = serving(&data, &[]).await;
    let range = "from=0&to=9999999999";
    let (status, map) = get_json(
        &client,
        &format!("http://{base}/api/map?view=logical&{range}"),
    )
    .await;
    assert_eq!(status, 200, "{map}");
    let edges = edges(&map);
    let dns_sent = asked["sent"].as_u64().unwrap() + asked6["sent"].as_u64().unwrap();
    let dns_received = asked["received"].as_u64().unwrap() + asked6["received"].as_u64().unwrap();
    let w = |ns: &str, kind: &str, name: &str| format!("w|{ns}|{kind}|{name}");
    let (web_id, api_id) = (
        w("shop", "Deployment", "web"),
        w("shop", "Deployment", "api"),
    );
    let expected: BTreeMap<(String, String), [u64; 3]> = [
        (
            (web_id.clone(), w("shop", "StatefulSet", "cache")),
            [3000, 1000, 5],
        ),
        // Cross node (pod address), through the Service and through the IPv6 Service: one
        // pair of workloads.
        (
            (web_id.clone(), api_id.clone()),
            [6000 + 10_000 + 2400, 2100 + 6000 + 800, 7 + 7 + 3],
        ),
        (
            (web_id.clone(), w("kube-system", "Deployment", "coredns")),
            [dns_sent, dns_received, 8 + 4],
        ),
        (("n|node-1".to_owned(), api_id.clone()), [200, 50, 3]),
        (
            (
                format!("e|{}", cluster.outside.as_ref().unwrap().ip),
                api_id.clone(),
            ),
            [1200, 900, 4],
        ),
    ]
    .into_iter()
    .collect();
    // The agents count only their nodes' pods, so the whole map is the simulator's.
    assert_eq!(
        edges, expected,
        "every conversation once, nothing under a Service address; agents:\n{logs}"
    );
    let total: u64 = expected
        .values()
        .map(|[to_server, to_client, _]| to_server + to_client)
        .sum();
    let (status, by_class) = get_json(
        &client,
        &format!("http://{base}/api/stats?{range}&group_by=src.class&measure=bytes"),
    )
    .await;
    assert_eq!(status, 200, "{by_class}");
    assert_eq!(by_class["total"], total, "{by_class}");

    // Each agent reported what it observed; the rule keeps one report of each conversation.
    let (status, reports) = get_json(
        &client,
        &format!(
            "http://{base}/api/stats?{range}&group_by=port&measure=bytes&filter={}",
            urlencode("src.workload = web and dst.workload = api")
        ),
    )
    .await;
    assert_eq!(status, 200, "{reports}");
    assert_eq!(
        reports["groups"],
        json!([{"key": "7777", "value": 16000 + 3200}, {"key": "7778", "value": 8100}]),
        "stats by backend port (7777 through both Services)"
    );
    let sql = |query: String| {
        let (client, base) = (client.clone(), base.clone());
        async move { Value::Array(sql_rows(&client, &base, &query).await) }
    };
    let observed = sql(format!(
        "SELECT reporter, observed, count(*) AS n FROM network_usage_reports \
         WHERE client_ip = '{web_ip}' AND server_ip = '{api_ip}' AND server_port = 7778 \
         GROUP BY reporter, observed ORDER BY reporter"
    ))
    .await;
    assert_eq!(
        observed,
        json!([
            {"reporter": "node-1", "observed": "client", "n": 1},
            {"reporter": "node-2", "observed": "server", "n": 1},
        ]),
        "the cross-node conversation was reported by both agents"
    );
    let service = sql(format!(
        "SELECT DISTINCT service_ip, service_port, service_namespace, service_name, server_port \
         FROM network_usage WHERE client_ip IN ('{web_ip}', '{web_ip6}') AND service_ip IS NOT NULL \
         ORDER BY server_port, service_ip"
    ))
    .await;
    assert_eq!(
        service,
        json!([
            {"service_ip": dns_vip, "service_port": 53, "service_namespace": "kube-system", "service_name": "kube-dns", "server_port": 53},
            {"service_ip": dns_vip6, "service_port": 53, "service_namespace": "kube-system", "service_name": "kube-dns-v6", "server_port": 53},
            {"service_ip": api_vip, "service_port": 80, "service_namespace": "shop", "service_name": "api", "server_port": 7777},
            {"service_ip": api_vip6, "service_port": 80, "service_namespace": "shop", "service_name": "api-v6", "server_port": 7777},
        ]),
        "the Service is kept as attributes"
    );
    let strays = sql(format!(
        "SELECT count(*) AS n FROM network_usage_reports WHERE server_port = 0 \
         OR server_ip IN ('{api_vip}', '{dns_vip}', '{api_vip6}', '{dns_vip6}') \
         OR client_ip IN ('{api_vip}', '{dns_vip}', '{api_vip6}', '{dns_vip6}')"
    ))
    .await;
    assert_eq!(
        strays,
        json!([{"n": 0}]),
        "no record keyed by a ClusterIP, none with port 0"
    );
    // Policies are judged after the Service translation (web reaches api's 7777 through both
    // Services), by every agent alike, and an outside client or another node's host is no pod.
    let verdicts = sql(
        "SELECT DISTINCT client_class, coalesce(client_owner_name, '') AS client, \
         server_owner_name AS server, server_port, policy, coalesce(policy_by, '') AS policy_by \
         FROM network_usage_reports ORDER BY server, server_port, client"
            .into(),
    )
    .await;
    let verdict = |class: &str, client: &str, server: &str, port: u16, policy: &str| {
        let by = if policy == "unrestricted" {
            ""
        } else {
            "shop/api-from-web"
        };
        json!({"client_class": class, "client": client, "server": server, "server_port": port,
               "policy": policy, "policy_by": by})
    };
    assert_eq!(
        verdicts,
        json!([
            verdict("external", "", "api", 7777, "denied"),
            verdict("pod", "web", "api", 7777, "allowed"),
            verdict("pod", "web", "api", 7778, "denied"),
            verdict("node", "node-1", "api", 7779, "denied"),
            verdict("pod", "web", "cache", 6379, "unrestricted"),
            verdict("pod", "web", "coredns", 53, "unrestricted"),
        ]),
        "each conversation's NetworkPolicy verdict"
    );
    let same_node = sql(format!(
        "SELECT reporter, observed FROM network_usage_reports WHERE client_ip = '{web_ip}' AND server_ip = '{cache_ip}'"
    ))
    .await;
    assert_eq!(
        same_node,
        json!([{"reporter": "node-1", "observed": "both"}]),
        "node-2's agent did not see node-1's pods"
    );

    // OTLP: both agents exported; the sums per workload pair, and over everything, are the map's.
    let requests = peer.wait_for(2);
    let exported: u64 = otlp_points(&requests, "network.flow.bytes")
        .map(|point| point["as_int"].as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(exported, total);
    for ((source, target), [to_server, to_client, _]) in &expected {
        let name = |id: &str| id.rsplit('|').next().unwrap().to_owned();
        if source.starts_with("w|") {
            assert_eq!(
                otlp_sum(
                    &requests,
                    "network.flow.bytes",
                    &name(source),
                    &name(target)
                ),
                to_server + to_client,
                "OTLP {source} → {target}"
            );
        }
    }
    assert!(terminate(server).status.success());
    api_server.stop().await;
    drop(cluster);
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
