//! NetworkPolicy verdicts on usage records, end to end: policies and namespaces followed from
//! the fake API server (kubectl reads them) and from a static inventory, each change followed,
//! and no verdict where one cannot be told.

use std::time::{Duration, Instant};

use serde_json::json;
use spider_collector::Processor;
use spider_collector::records::{Batch, NetworkUsage, PolicyVerdict, Transport};
use spider_kube::MetadataSource;
use spider_processor_k8s_attributes::K8sAttributesConfig;
use spider_testkit::kube_api::{
    FakeApi, Resource, labelled, namespace, network_policy, node, pod, service,
};

use crate::kubernetes::{kubectl, kubernetes_config, now};
use crate::support::{started, through, usage};

const WEB: &str = "10.244.1.10";
const API: &str = "10.244.2.20";
const REPORT: &str = "10.244.2.30";
const OUTSIDE: &str = "203.0.113.9";
const UNKNOWN: &str = "10.244.9.9";
const API_SERVICE: &str = "10.96.0.20";

/// api takes web on its port named `http` (8080), as the API server would hold it.
fn api_from_web() -> serde_json::Value {
    network_policy(
        "shop",
        "api-from-web",
        json!({
            "podSelector": {"matchLabels": {"app": "api"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                         "ports": [{"protocol": "TCP", "port": "http"}]}],
        }),
    )
}

/// The fake with web and api in shop, report in batch (a namespace labelled `team: batch`),
/// and api-from-web.
async fn cluster() -> FakeApi {
    let api = FakeApi::start_new(Duration::from_millis(200)).await;
    api.apply(node("node-1", &["192.168.0.1"]));
    api.apply(namespace("shop", &[]));
    api.apply(namespace("batch", &[("team", "batch")]));
    let web = pod("shop", "web-a", "node-1", &[WEB], None, false);
    api.apply(labelled(web, &[("app", "web")]));
    let mut api_pod = labelled(
        pod("shop", "api-a", "node-1", &[API], None, false),
        &[("app", "api")],
    );
    api_pod["spec"]["containers"][0]["ports"] =
        json!([{"name": "http", "containerPort": 8080, "protocol": "TCP"}]);
    api.apply(api_pod);
    let report = pod("batch", "report-a", "node-1", &[REPORT], None, false);
    api.apply(labelled(report, &[("app", "report")]));
    api.apply(service("shop", "api", &[API_SERVICE]));
    api.apply(api_from_web());
    api
}

/// A TCP record from `client` to `server`:`port` now.
fn to_port(client: &str, server: &str, port: u16) -> NetworkUsage {
    NetworkUsage {
        server_port: port,
        transport: Transport::Tcp,
        ..usage(client, server, now())
    }
}

/// The verdict and policies each conversation gets.
async fn verdicts(
    processor: &mut Box<dyn Processor>,
    conversations: &[(&str, &str, u16)],
) -> Vec<(Option<PolicyVerdict>, Option<String>)> {
    let records = conversations
        .iter()
        .map(|(client, server, port)| to_port(client, server, *port))
        .collect();
    let Batch::Usage(records) = through(processor, Batch::Usage(records)).await else {
        panic!("usage stays usage");
    };
    records
        .into_iter()
        .map(|r| (r.policy, r.policy_by))
        .collect()
}

const CONVERSATIONS: [(&str, &str, u16); 6] = [
    (WEB, API, 8080),
    (REPORT, API, 8080),
    (WEB, API, 9090),
    (WEB, OUTSIDE, 443),
    (WEB, UNKNOWN, 80),
    (WEB, API_SERVICE, 80),
];

fn expected(report: (PolicyVerdict, &str)) -> Vec<(Option<PolicyVerdict>, Option<String>)> {
    let by = |name: &str| Some(name.to_owned());
    vec![
        (Some(PolicyVerdict::Allowed), by("shop/api-from-web")),
        (Some(report.0), by(report.1)),
        (Some(PolicyVerdict::Denied), by("shop/api-from-web")),
        (Some(PolicyVerdict::Unrestricted), None),
        // An unattributed in-cluster address, a Service not translated: no verdict.
        (None, None),
        (None, None),
    ]
}

/// Polls until the conversations get `wanted` (the watchers apply changes asynchronously).
async fn eventually(
    processor: &mut Box<dyn Processor>,
    wanted: &[(Option<PolicyVerdict>, Option<String>)],
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = verdicts(processor, &CONVERSATIONS).await;
        if found == wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still {found:?}, expected {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verdicts_follow_the_policies_and_namespaces_of_the_api() {
    let api = cluster().await;
    let api = tokio::task::spawn_blocking(move || {
        let listed = kubectl(&api, &["get", "networkpolicies", "-A", "-o", "name"]);
        assert_eq!(listed, "networkpolicy.networking.k8s.io/api-from-web\n");
        let labels = kubectl(
            &api,
            &[
                "get",
                "namespace",
                "batch",
                "-o",
                "jsonpath={.metadata.labels.team}",
            ],
        );
        assert_eq!(labels, "batch");
        api
    })
    .await
    .unwrap();
    let mut processor = started(kubernetes_config(&api)).await;
    let denied = (PolicyVerdict::Denied, "shop/api-from-web");
    eventually(&mut processor, &expected(denied)).await;

    // A second policy lets the batch team's namespace in, by its label: the verdicts add up.
    api.apply(network_policy(
        "shop",
        "api-from-batch",
        json!({
            "podSelector": {"matchLabels": {"app": "api"}},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "batch"}}}]}],
        }),
    ));
    let allowed = (PolicyVerdict::Allowed, "shop/api-from-batch");
    let mut wanted = expected(allowed);
    // Any port from batch, still only `http` from web: web's 9090 is refused by both.
    wanted[2].1 = Some("shop/api-from-batch,shop/api-from-web".into());
    eventually(&mut processor, &wanted).await;

    // The namespace loses its label: report is refused again.
    api.apply(namespace("batch", &[]));
    let mut wanted = expected(denied);
    wanted[1].1 = Some("shop/api-from-batch,shop/api-from-web".into());
    wanted[2].1 = Some("shop/api-from-batch,shop/api-from-web".into());
    eventually(&mut processor, &wanted).await;

    // Without policies, nothing is restricted.
    assert!(api.delete(Resource::NetworkPolicies, "shop", "api-from-web"));
    assert!(api.delete(Resource::NetworkPolicies, "shop", "api-from-batch"));
    let unrestricted = (Some(PolicyVerdict::Unrestricted), None);
    let mut wanted = vec![unrestricted.clone(); 4];
    wanted.extend([(None, None), (None, None)]);
    eventually(&mut processor, &wanted).await;
    processor.shutdown(&mut Vec::new()).await.unwrap();
}

#[tokio::test]
async fn an_inventory_carries_namespaces_labels_and_policy_manifests() {
    let inventory = format!(
        "nodes: [{{ name: node-1, addresses: [192.168.0.1] }}]
workloads:
  - {{ namespace: shop, kind: Deployment, name: web, labels: {{ app: web }}, pods: [{{ name: web-a, node: node-1, ips: [{WEB}] }}] }}
  - {{ namespace: shop, kind: Deployment, name: api, labels: {{ app: api }}, pods: [{{ name: api-a, node: node-1, ips: [{API}] }}] }}
  - {{ namespace: batch, kind: CronJob, name: report, pods: [{{ name: report-a, node: node-1, ips: [{REPORT}], labels: {{ app: report }} }}] }}
services:
  - {{ namespace: shop, name: api, cluster_ips: [{API_SERVICE}] }}
namespaces:
  - {{ name: batch, labels: {{ team: batch }} }}
network_policies:
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {{ namespace: shop, name: api-from-web }}
    spec:
      podSelector: {{ matchLabels: {{ app: api }} }}
      ingress: [{{ from: [{{ podSelector: {{ matchLabels: {{ app: web }} }} }}], ports: [{{ port: 8080 }}] }}]
  - metadata: {{ namespace: shop, name: api-not-from-batch }}
    spec:
      podSelector: {{ matchLabels: {{ app: api }} }}
      ingress:
        - from: [{{ namespaceSelector: {{ matchExpressions: [{{ key: team, operator: NotIn, values: [batch] }}] }} }}]
"
    );
    let path = spider_testkit::scratch("policy-inventory").join("inventory.yaml");
    std::fs::write(&path, &inventory).unwrap();
    let mut processor = started(K8sAttributesConfig {
        source: MetadataSource::Static,
        inventory: Some(path.clone()),
        ..K8sAttributesConfig::default()
    })
    .await;
    let found = verdicts(&mut processor, &CONVERSATIONS).await;
    let mut wanted = expected((
        PolicyVerdict::Denied,
        "shop/api-from-web,shop/api-not-from-batch",
    ));
    // web's namespace is not batch's: the second policy lets it in on any port.
    wanted[0].1 = Some("shop/api-from-web,shop/api-not-from-batch".into());
    wanted[2] = (
        Some(PolicyVerdict::Allowed),
        Some("shop/api-not-from-batch".into()),
    );
    assert_eq!(found, wanted);

    // The same inventory, saying nothing of policies: no verdict at all, rather than a made-up
    // "unrestricted".
    let silent = &inventory[..inventory.find("network_policies:").unwrap()];
    std::fs::write(&path, format!("{silent}external: []\n")).unwrap();
    let mut out = Vec::new();
    processor
        .tick(std::time::SystemTime::now(), &mut out)
        .await
        .unwrap();
    let found = verdicts(&mut processor, &CONVERSATIONS).await;
    assert_eq!(found, vec![(None, None); CONVERSATIONS.len()]);
}

/// The kinds one feed request lists, read until the listings are over (a heartbeat follows).
async fn kinds_fed(url: &str, asked: Option<&str>) -> Vec<String> {
    let mut request = reqwest::Client::new().get(url);
    if let Some(asked) = asked {
        request = request.header(spider_kube::feed::KINDS_HEADER, asked);
    }
    let mut response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let (mut text, mut kinds) = (String::new(), Vec::new());
    while let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_secs(10), response.chunk())
        .await
        .unwrap()
    {
        text.push_str(&String::from_utf8_lossy(&chunk));
        if text.contains("\"heartbeat\"") {
            break;
        }
    }
    for line in text.lines() {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        if event["event"] == "list_end" {
            kinds.push(event["kind"].as_str().unwrap().to_owned());
        }
    }
    kinds.sort();
    kinds
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_get_verdicts_through_a_controller_and_older_agents_are_not_sent_policies() {
    let api = cluster().await;
    let controller = crate::controller::controller_of(&api, "127.0.0.1:0".parse().unwrap()).await;
    // Attribution's kinds make it ready; the policy kinds may come a moment later.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !["Namespace", "NetworkPolicy"]
        .iter()
        .all(|kind| controller.store().counts().contains_key(*kind))
    {
        assert!(
            Instant::now() < deadline,
            "the controller lists the policy kinds"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut agent = started(crate::controller::through(&controller)).await;
    eventually(
        &mut agent,
        &expected((PolicyVerdict::Denied, "shop/api-from-web")),
    )
    .await;

    // A request without the header, as an agent of an earlier version makes it: the six kinds
    // attribution needs, nothing it could not read.
    let url = format!("http://{}/v1/objects", controller.address());
    let attribution = [
        "EndpointSlice",
        "Job",
        "Node",
        "Pod",
        "ReplicaSet",
        "Service",
    ];
    assert_eq!(kinds_fed(&url, None).await, attribution);
    let mut all: Vec<&str> = attribution.to_vec();
    all.extend(["Namespace", "NetworkPolicy"]);
    all.sort_unstable();
    assert_eq!(
        kinds_fed(&url, Some("Namespace, NetworkPolicy, Secret")).await,
        all,
        "what this agent asks for, of what the controller follows"
    );
    agent.shutdown(&mut Vec::new()).await.unwrap();
}
