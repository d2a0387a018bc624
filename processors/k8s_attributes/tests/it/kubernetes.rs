//! The Kubernetes source against the fake API server (tests/kit/src/kube_api): kubectl 1.32 reads
//! the fake (its fidelity), then the processor's watchers follow a Deployment rollout, CronJob
//! job pods, a host-network DaemonSet, a StatefulSet, a pod deleted and its IP reused, a watch
//! expiry mid-run (410 → re-list) and an API server restart, each asserting both ends exactly.

use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use spider_collector::conformance;
use spider_collector::records::{
    Batch, EndpointClass, EndpointMeta, OwnerKind, TcpSession, Timestamp,
};
use spider_collector::{Factory, Processor};
use spider_kube::{AuthType, MetadataSource};
use spider_processor_k8s_attributes::{K8S_ATTRIBUTES_PROCESSOR, K8sAttributesConfig};
use spider_testkit::kube_api::{
    FakeApi, Resource, endpoint_slice, job, node, pod, replica_set, service,
};

use crate::support::{ends, exchange, pod_meta, started, through};

const BOOKMARKS: Duration = Duration::from_millis(200);

/// The fake with a small cluster: two nodes, a Deployment's ReplicaSet and pod, a service.
pub(crate) async fn cluster() -> FakeApi {
    let api = FakeApi::start_new(BOOKMARKS).await;
    api.apply(node("node-1", &["192.168.0.1"]));
    api.apply(node("node-2", &["192.168.0.2"]));
    api.apply(replica_set("shop", "web-6d4f", Some("web")));
    api.apply(pod(
        "shop",
        "web-6d4f-a",
        "node-1",
        &["10.244.1.10", "fd00::10"],
        Some(("ReplicaSet", "web-6d4f")),
        false,
    ));
    api.apply(service("shop", "web", &["10.96.0.10"]));
    api
}

pub(crate) fn kubernetes_config(api: &FakeApi) -> K8sAttributesConfig {
    let kubeconfig = spider_testkit::scratch("kubeconfig").join("config");
    api.write_kubeconfig(&kubeconfig);
    K8sAttributesConfig {
        source: MetadataSource::Kubernetes,
        auth_type: AuthType::KubeConfig,
        kubeconfig: Some(kubeconfig),
        wait_for_metadata: true,
        ..K8sAttributesConfig::default()
    }
}

/// The metadata the processor gives `address` now.
pub(crate) async fn client_of(processor: &mut Box<dyn Processor>, address: &str) -> EndpointMeta {
    ends(processor, address, "203.0.113.1", now()).await.0
}

/// Now, Unix seconds.
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Polls until `address` is attributed as `expected` (the watchers apply changes asynchronously).
pub(crate) async fn eventually(
    processor: &mut Box<dyn Processor>,
    address: &str,
    expected: &EndpointMeta,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = client_of(processor, address).await;
        if &found == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{address}: still {found:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn kubectl(api: &FakeApi, args: &[&str]) -> String {
    let kubeconfig = spider_testkit::scratch("kubectl").join("config");
    api.write_kubeconfig(&kubeconfig);
    let output = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(args)
        .output()
        .expect("kubectl (1.32) is installed");
    assert!(
        output.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_reads_the_fake_as_a_real_api_server() {
    let api = cluster().await;
    let api = tokio::task::spawn_blocking(move || {
        let names = kubectl(&api, &["get", "pods", "--all-namespaces", "-o", "name"]);
        assert_eq!(names, "pod/web-6d4f-a\n");
        let listed: Value =
            serde_json::from_str(&kubectl(&api, &["get", "pods", "-n", "shop", "-o", "json"]))
                .unwrap();
        assert_eq!(listed["items"][0]["status"]["podIPs"][1]["ip"], "fd00::10");
        let on_node = kubectl(
            &api,
            &[
                "get",
                "pods",
                "-A",
                "--field-selector",
                "spec.nodeName=node-2",
                "-o",
                "name",
            ],
        );
        assert_eq!(on_node, "", "no pod on node-2");
        let owner = kubectl(
            &api,
            &[
                "get",
                "replicaset",
                "web-6d4f",
                "-n",
                "shop",
                "-o",
                "jsonpath={.metadata.ownerReferences[0].name}",
            ],
        );
        assert_eq!(owner, "web");
        let nodes = kubectl(&api, &["get", "nodes", "-o", "name"]);
        assert_eq!(nodes, "node/node-1\nnode/node-2\n");
        let resources = kubectl(
            &api,
            &[
                "api-resources",
                "--api-group=discovery.k8s.io",
                "-o",
                "name",
            ],
        );
        assert_eq!(resources.trim(), "endpointslices.discovery.k8s.io");
        api
    })
    .await
    .unwrap();
    assert_eq!(api.lists(), 4, "every get but the named one was a list");
}

#[tokio::test(flavor = "multi_thread")]
async fn workloads_are_followed_through_rollouts_jobs_host_network_and_ip_reuse() {
    let api = cluster().await;
    let mut processor = started(kubernetes_config(&api)).await;
    let web_a = pod_meta("shop", "web-6d4f-a", "node-1", OwnerKind::Deployment, "web");
    let service_web = EndpointMeta {
        namespace: Some("shop".into()),
        owner_kind: Some(OwnerKind::Service),
        owner_name: Some("web".into()),
        class: EndpointClass::Service,
        ..EndpointMeta::default()
    };
    assert_eq!(
        ends(&mut processor, "fd00::10", "10.96.0.10", now()).await,
        (web_a.clone(), service_web)
    );

    // Deployment rollout: a new ReplicaSet and pod, the old pod gone.
    api.apply(replica_set("shop", "web-7b8c", Some("web")));
    api.apply(pod(
        "shop",
        "web-7b8c-b",
        "node-2",
        &["10.244.2.20"],
        Some(("ReplicaSet", "web-7b8c")),
        false,
    ));
    api.delete(Resource::Pods, "shop", "web-6d4f-a");
    eventually(
        &mut processor,
        "10.244.2.20",
        &pod_meta("shop", "web-7b8c-b", "node-2", OwnerKind::Deployment, "web"),
    )
    .await;
    assert_eq!(
        client_of(&mut processor, "10.244.1.10").await,
        web_a,
        "deleted, still in its grace period"
    );

    // CronJob job pods, a StatefulSet, a host-network DaemonSet pod, a bare pod.
    api.apply(job("batch", "report-29111", Some("report")));
    api.apply(pod(
        "batch",
        "report-29111-x",
        "node-1",
        &["10.244.1.30"],
        Some(("Job", "report-29111")),
        false,
    ));
    api.apply(pod(
        "data",
        "db-0",
        "node-2",
        &["10.244.2.40"],
        Some(("StatefulSet", "db")),
        false,
    ));
    api.apply(pod(
        "kube-system",
        "proxy-q",
        "node-2",
        &["192.168.0.2"],
        Some(("DaemonSet", "proxy")),
        true,
    ));
    api.apply(pod(
        "dev",
        "scratch",
        "node-1",
        &["10.244.1.50"],
        None,
        false,
    ));
    api.apply(endpoint_slice(
        "default",
        "kubernetes-x1",
        "kubernetes",
        &["172.18.0.9"],
    ));
    eventually(
        &mut processor,
        "10.244.1.50",
        &pod_meta("dev", "scratch", "node-1", OwnerKind::Pod, "scratch"),
    )
    .await;
    let (job_pod, db) = ends(&mut processor, "10.244.1.30", "10.244.2.40", now()).await;
    assert_eq!(
        job_pod,
        pod_meta(
            "batch",
            "report-29111-x",
            "node-1",
            OwnerKind::CronJob,
            "report"
        )
    );
    assert_eq!(
        db,
        pod_meta("data", "db-0", "node-2", OwnerKind::StatefulSet, "db")
    );
    let (host, api_endpoint) = ends(&mut processor, "192.168.0.2", "172.18.0.9", now()).await;
    assert_eq!(
        host,
        EndpointMeta {
            node: Some("node-2".into()),
            owner_kind: Some(OwnerKind::Node),
            owner_name: Some("node-2".into()),
            class: EndpointClass::Node,
            ..EndpointMeta::default()
        },
        "a host-network pod's address is its node's"
    );
    assert_eq!(
        (api_endpoint.class, api_endpoint.owner_name.as_deref()),
        (EndpointClass::Service, Some("kubernetes"))
    );

    // The StatefulSet pod is deleted and its IP goes to a new pod of another workload: records
    // made before the new pod started still go to the old one (grace period), later ones to the new.
    api.delete(Resource::Pods, "data", "db-0");
    let mut reuse = pod(
        "pay",
        "ledger-1",
        "node-1",
        &["10.244.2.40"],
        Some(("DaemonSet", "ledger")),
        false,
    );
    let started_at = now();
    reuse["metadata"]["creationTimestamp"] = json!(rfc3339(started_at));
    api.apply(reuse);
    let ledger = pod_meta("pay", "ledger-1", "node-1", OwnerKind::DaemonSet, "ledger");
    eventually(&mut processor, "10.244.2.40", &ledger).await;
    let before = ends(
        &mut processor,
        "10.244.2.40",
        "203.0.113.1",
        started_at - 600,
    )
    .await
    .0;
    assert_eq!(
        before,
        pod_meta("data", "db-0", "node-2", OwnerKind::StatefulSet, "db")
    );
    processor.shutdown(&mut Vec::new()).await.unwrap();
}

/// A closed session from `client` to `server` whose first packet was at `first` (Unix seconds).
fn session(client: &str, server: &str, first: i64) -> TcpSession {
    spider_testkit::records::tcp_session(client, server, first)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_session_begun_on_a_deleted_pod_stays_its_own_when_the_ip_is_reused_within_the_minute() {
    let api = cluster().await;
    let mut processor = started(kubernetes_config(&api)).await;
    let web = pod_meta("shop", "web-6d4f-a", "node-1", OwnerKind::Deployment, "web");
    assert_eq!(client_of(&mut processor, "10.244.1.10").await, web);
    // A connection opens on web's pod; the pod is deleted and, 20 s later, a pod of Deployment
    // api takes its IP while the capture still has the session open.
    let opened = now();
    api.delete(Resource::Pods, "shop", "web-6d4f-a");
    api.apply(replica_set("shop", "api-5c9d", Some("api")));
    let mut api_pod = pod(
        "shop",
        "api-5c9d-x",
        "node-1",
        &["10.244.1.10"],
        Some(("ReplicaSet", "api-5c9d")),
        false,
    );
    let reused = opened + 20;
    api_pod["metadata"]["creationTimestamp"] = json!(rfc3339(reused));
    api.apply(api_pod);
    let api_end = pod_meta("shop", "api-5c9d-x", "node-1", OwnerKind::Deployment, "api");
    eventually(&mut processor, "10.244.1.10", &api_end).await;

    let server = "10.244.2.40";
    let batch = Batch::TcpSessions(vec![session("10.244.1.10", server, opened)]);
    let Batch::TcpSessions(sessions) = through(&mut processor, batch).await else {
        panic!("sessions stay sessions");
    };
    assert_eq!(
        sessions[0].client, web,
        "the pod of the session's first packet"
    );
    let batch = Batch::Http(vec![
        exchange("10.244.1.10", server, opened + 5),
        exchange("10.244.1.10", server, reused + 5),
    ]);
    let Batch::Http(exchanges) = through(&mut processor, batch).await else {
        panic!("exchanges stay exchanges");
    };
    assert_eq!(exchanges[0].client, web, "an exchange before the reuse");
    assert_eq!(exchanges[1].client, api_end, "an exchange after it");
    // Usage is stamped with its minute's start, so the minute of the reuse is the new pod's.
    let minute = Timestamp::from_secs(reused).minute_start().as_micros() / 1_000_000;
    assert_eq!(
        ends(&mut processor, "10.244.1.10", server, minute).await.0,
        api_end
    );
    processor.shutdown(&mut Vec::new()).await.unwrap();
}

fn rfc3339(unix: i64) -> String {
    let (days, seconds) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_expiry_and_an_api_server_restart_lose_nothing() {
    let mut api = cluster().await;
    let mut processor = started(kubernetes_config(&api)).await;
    let web_a = pod_meta("shop", "web-6d4f-a", "node-1", OwnerKind::Deployment, "web");
    eventually(&mut processor, "10.244.1.10", &web_a).await;
    let lists = api.lists();

    // Expiry mid-run: every watch ends, resuming gets a 410 ERROR event, the watchers list again.
    api.expire_watches();
    api.apply(pod(
        "shop",
        "web-6d4f-c",
        "node-2",
        &["10.244.2.11"],
        Some(("ReplicaSet", "web-6d4f")),
        false,
    ));
    eventually(
        &mut processor,
        "10.244.2.11",
        &pod_meta("shop", "web-6d4f-c", "node-2", OwnerKind::Deployment, "web"),
    )
    .await;
    assert!(
        api.expired_answers() > 0,
        "a resumed watch was told its version expired"
    );
    // The other watchers were idle: they list again once their backoff after the 410 is over.
    let deadline = Instant::now() + Duration::from_secs(20);
    while api.lists() < lists + 6 {
        assert!(
            Instant::now() < deadline,
            "each watcher lists again: {lists} → {}",
            api.lists()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Restart: while the server is away, records are still attributed from what is known.
    api.stop().await;
    assert_eq!(client_of(&mut processor, "10.244.1.10").await, web_a);
    api.delete(Resource::Pods, "shop", "web-6d4f-a");
    api.apply(pod(
        "shop",
        "web-6d4f-d",
        "node-1",
        &["10.244.1.12"],
        Some(("ReplicaSet", "web-6d4f")),
        false,
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    api.start().await;
    eventually(
        &mut processor,
        "10.244.1.12",
        &pod_meta("shop", "web-6d4f-d", "node-1", OwnerKind::Deployment, "web"),
    )
    .await;
    assert_eq!(
        client_of(&mut processor, "10.244.1.10").await,
        web_a,
        "the pod deleted while the server was away was seen gone by the re-list, and is in its grace period"
    );
    processor.shutdown(&mut Vec::new()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_agent_watches_its_own_pods_and_an_unreachable_api_loses_no_records() {
    let api = cluster().await;
    api.apply(pod(
        "shop",
        "web-6d4f-b",
        "node-2",
        &["10.244.2.10"],
        Some(("ReplicaSet", "web-6d4f")),
        false,
    ));
    let config = K8sAttributesConfig {
        node_name: Some("node-2".into()),
        ..kubernetes_config(&api)
    };
    let mut processor = started(config).await;
    let (local, remote) = ends(&mut processor, "10.244.2.10", "10.244.1.10", now()).await;
    assert_eq!(
        local,
        pod_meta("shop", "web-6d4f-b", "node-2", OwnerKind::Deployment, "web")
    );
    assert_eq!(
        remote.class,
        EndpointClass::Unknown,
        "pods of other nodes are not watched"
    );

    // An API server that cannot be reached: without waiting, records pass through, counted.
    let down = K8sAttributesConfig {
        source: MetadataSource::Kubernetes,
        auth_type: AuthType::KubeConfig,
        kubeconfig: kubernetes_config(&api).kubeconfig,
        ..K8sAttributesConfig::default()
    };
    drop(api);
    let factory = K8S_ATTRIBUTES_PROCESSOR;
    let context = conformance::context(&factory);
    let registry = context.telemetry.registry().clone();
    let mut unready = factory.create(down.clone(), context).unwrap();
    unready.start().await.unwrap();
    let (client, _) = ends(&mut unready, "10.244.2.10", "10.244.1.10", now()).await;
    assert_eq!(client, EndpointMeta::default(), "passed through as it came");
    let rendered = registry.render_prometheus();
    assert!(
        rendered.contains("spider_k8s_records_unenriched_total{component=\"k8s_attributes\"} 1"),
        "{rendered}"
    );
    unready.shutdown(&mut Vec::new()).await.unwrap();
    let waiting = K8sAttributesConfig {
        wait_for_metadata: true,
        wait_for_metadata_timeout: spider_collector::config::GoDuration::from_millis(500),
        ..down
    };
    let mut processor = factory
        .create(waiting, conformance::context(&factory))
        .unwrap();
    let error = processor.start().await.unwrap_err().to_string();
    assert!(error.contains("not listed within 500ms"), "{error}");
}

#[test]
fn the_written_rbac_grants_exactly_list_and_watch_of_what_is_watched() {
    // The Helm chart's ClusterRole is these rules (the chart's own test holds it to them).
    let path = spider_testkit::repo_root().join("deploy/spider/files/k8s-attributes-rules.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let rules: Value = serde_yaml_ng::from_str(&text).unwrap();
    let mut granted = Vec::new();
    for rule in rules.as_array().unwrap() {
        assert_eq!(rule["verbs"], json!(["list", "watch"]), "{rule}");
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                granted.push((
                    group.as_str().unwrap().to_owned(),
                    resource.as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    granted.sort();
    let mut watched: Vec<(String, String)> = spider_kube::kubernetes::WATCHED
        .iter()
        .map(|(group, resource)| ((*group).to_owned(), (*resource).to_owned()))
        .collect();
    watched.sort();
    assert_eq!(granted, watched);
}
