//! The index on its own: owner chains resolved whatever order objects arrive in, a Deployment
//! rollout, CronJob jobs, host-network pods, dual stack, and an IP passing from a deleted pod to
//! a new one — records go to the pod that had the address when they were made.

use std::net::IpAddr;

use spider_collector::records::{EndpointClass, EndpointMeta, OwnerKind};
use spider_kube::index::{Index, RecordTime};
use spider_kube::model::{Controller, EndpointSlice, Key, Node, Object, Owner, Pod, Service};

const MINUTE: i64 = 60_000_000;
const GRACE: i64 = 2 * MINUTE;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn owner(kind: &str, name: &str) -> Option<Owner> {
    Some(Owner {
        kind: kind.into(),
        name: name.into(),
    })
}

fn pod(namespace: &str, name: &str, ips: &[&str], owned_by: Option<Owner>, created: i64) -> Pod {
    Pod {
        key: Key::new(namespace, name),
        node: Some("node-1".into()),
        ips: ips.iter().map(|text| ip(text)).collect(),
        host_network: false,
        owner: owned_by,
        created,
        labels: Default::default(),
        ports: Vec::new(),
    }
}

fn controller(kind: &str, namespace: &str, name: &str, owned_by: Option<Owner>) -> Object {
    Object::Controller(Controller {
        kind: kind.into(),
        key: Key::new(namespace, name),
        owner: owned_by,
    })
}

/// (namespace, pod, owner kind, owner name, class) of a lookup for a usage record of the
/// minute starting at `at`.
fn who(
    index: &Index,
    address: &str,
    at: i64,
    now: i64,
) -> Option<(String, String, OwnerKind, String, EndpointClass)> {
    who_at(index, address, RecordTime::Minute(at), now)
}

/// The same for a record made at `at`, either instant or minute.
fn who_at(
    index: &Index,
    address: &str,
    at: RecordTime,
    now: i64,
) -> Option<(String, String, OwnerKind, String, EndpointClass)> {
    index
        .lookup(&ip(address), at, now)
        .map(|meta: EndpointMeta| {
            (
                meta.namespace.unwrap_or_default(),
                meta.pod.unwrap_or_default(),
                meta.owner_kind.unwrap(),
                meta.owner_name.unwrap(),
                meta.class,
            )
        })
}

fn pod_of(
    namespace: &str,
    pod: &str,
    kind: OwnerKind,
    name: &str,
) -> Option<(String, String, OwnerKind, String, EndpointClass)> {
    Some((
        namespace.into(),
        pod.into(),
        kind,
        name.into(),
        EndpointClass::Pod,
    ))
}

#[test]
fn a_deployment_rollout_keeps_the_deployment_whatever_the_order_of_arrival() {
    let mut index = Index::new(GRACE);
    // The pod arrives before its ReplicaSet: until the ReplicaSet is known, that is the owner.
    index.apply(Object::Pod(pod(
        "shop",
        "web-aaa-1",
        &["10.1.0.5"],
        owner("ReplicaSet", "web-aaa"),
        0,
    )));
    assert_eq!(
        who(&index, "10.1.0.5", 0, 0),
        pod_of("shop", "web-aaa-1", OwnerKind::ReplicaSet, "web-aaa")
    );
    index.apply(controller(
        "ReplicaSet",
        "shop",
        "web-aaa",
        owner("Deployment", "web"),
    ));
    assert_eq!(
        who(&index, "10.1.0.5", 0, 0),
        pod_of("shop", "web-aaa-1", OwnerKind::Deployment, "web")
    );

    // The rollout: a new ReplicaSet, a new pod, the old pod deleted.
    index.apply(controller(
        "ReplicaSet",
        "shop",
        "web-bbb",
        owner("Deployment", "web"),
    ));
    index.apply(Object::Pod(pod(
        "shop",
        "web-bbb-1",
        &["10.1.0.6"],
        owner("ReplicaSet", "web-bbb"),
        5 * MINUTE,
    )));
    let old = pod(
        "shop",
        "web-aaa-1",
        &["10.1.0.5"],
        owner("ReplicaSet", "web-aaa"),
        0,
    );
    index.delete(&Object::Pod(old), 6 * MINUTE);
    assert_eq!(
        who(&index, "10.1.0.6", 6 * MINUTE, 6 * MINUTE),
        pod_of("shop", "web-bbb-1", OwnerKind::Deployment, "web")
    );
    assert_eq!(
        who(&index, "10.1.0.5", 5 * MINUTE, 7 * MINUTE),
        pod_of("shop", "web-aaa-1", OwnerKind::Deployment, "web"),
        "a late record of the deleted pod, within the grace period"
    );
    assert_eq!(
        who(&index, "10.1.0.5", 5 * MINUTE, 8 * MINUTE),
        None,
        "grace over"
    );
    index.expire(8 * MINUTE);
    assert_eq!(index.sizes().pods, 1);

    // A ReplicaSet without a Deployment is the workload itself.
    index.apply(controller("ReplicaSet", "shop", "lonely", None));
    index.apply(Object::Pod(pod(
        "shop",
        "lonely-1",
        &["10.1.0.9"],
        owner("ReplicaSet", "lonely"),
        0,
    )));
    assert_eq!(
        who(&index, "10.1.0.9", 0, 0),
        pod_of("shop", "lonely-1", OwnerKind::ReplicaSet, "lonely")
    );
}

#[test]
fn cronjob_jobs_statefulsets_daemonsets_and_bare_pods() {
    let mut index = Index::new(GRACE);
    index.apply(controller(
        "Job",
        "batch",
        "report-29000000",
        owner("CronJob", "report"),
    ));
    index.apply(Object::Pod(pod(
        "batch",
        "report-29000000-x",
        &["10.1.1.1"],
        owner("Job", "report-29000000"),
        0,
    )));
    index.apply(Object::Pod(pod(
        "batch",
        "once-y",
        &["10.1.1.2"],
        owner("Job", "once"),
        0,
    )));
    index.apply(Object::Pod(pod(
        "data",
        "db-0",
        &["10.1.1.3", "fd00::3"],
        owner("StatefulSet", "db"),
        0,
    )));
    index.apply(Object::Pod(pod(
        "infra",
        "agent-z",
        &["10.1.1.4"],
        owner("DaemonSet", "agent"),
        0,
    )));
    index.apply(Object::Pod(pod("dev", "scratch", &["10.1.1.5"], None, 0)));
    index.apply(Object::Pod(pod(
        "kube-system",
        "etcd-node-1",
        &["10.1.1.6"],
        owner("Node", "node-1"),
        0,
    )));

    let expected = [
        (
            "10.1.1.1",
            ("batch", "report-29000000-x", OwnerKind::CronJob, "report"),
        ),
        ("10.1.1.2", ("batch", "once-y", OwnerKind::Job, "once")),
        ("10.1.1.3", ("data", "db-0", OwnerKind::StatefulSet, "db")),
        ("fd00::3", ("data", "db-0", OwnerKind::StatefulSet, "db")),
        (
            "10.1.1.4",
            ("infra", "agent-z", OwnerKind::DaemonSet, "agent"),
        ),
        ("10.1.1.5", ("dev", "scratch", OwnerKind::Pod, "scratch")),
        // A mirror pod (owned by its Node) stands alone.
        (
            "10.1.1.6",
            ("kube-system", "etcd-node-1", OwnerKind::Pod, "etcd-node-1"),
        ),
    ];
    for (address, (namespace, pod, kind, owner)) in expected {
        assert_eq!(
            who(&index, address, 0, 0),
            pod_of(namespace, pod, kind, owner),
            "{address}"
        );
    }
    let node = index
        .lookup(&ip("10.1.1.3"), RecordTime::Minute(0), 0)
        .unwrap()
        .node;
    assert_eq!(node.as_deref(), Some("node-1"));
}

#[test]
fn host_network_pods_are_their_node_and_services_have_their_addresses() {
    let mut index = Index::new(GRACE);
    index.apply(Object::Node(Node {
        name: "node-1".into(),
        addresses: vec![ip("192.168.0.11"), ip("203.0.113.11")],
    }));
    let mut proxy = pod(
        "kube-system",
        "kube-proxy-q",
        &["192.168.0.11"],
        owner("DaemonSet", "kube-proxy"),
        0,
    );
    proxy.host_network = true;
    index.apply(Object::Pod(proxy));
    for address in ["192.168.0.11", "203.0.113.11"] {
        assert_eq!(
            who(&index, address, 0, 0),
            Some((
                String::new(),
                String::new(),
                OwnerKind::Node,
                "node-1".into(),
                EndpointClass::Node
            )),
            "{address}"
        );
    }
    index.apply(Object::Service(Service {
        key: Key::new("shop", "web"),
        cluster_ips: vec![ip("10.96.0.10")],
    }));
    index.apply(Object::EndpointSlice(EndpointSlice {
        key: Key::new("default", "kubernetes-abc"),
        service: "kubernetes".into(),
        addresses: vec![ip("172.18.0.2")],
    }));
    let service = |namespace: &str, name: &str| {
        Some((
            namespace.into(),
            String::new(),
            OwnerKind::Service,
            name.into(),
            EndpointClass::Service,
        ))
    };
    assert_eq!(who(&index, "10.96.0.10", 0, 0), service("shop", "web"));
    assert_eq!(
        who(&index, "172.18.0.2", 0, 0),
        service("default", "kubernetes"),
        "an endpoint outside pods"
    );

    index.delete(
        &Object::Service(Service {
            key: Key::new("shop", "web"),
            cluster_ips: vec![],
        }),
        0,
    );
    assert_eq!(who(&index, "10.96.0.10", 0, 0), None);
    index.apply(Object::Node(Node {
        name: "node-1".into(),
        addresses: vec![ip("192.168.0.12")],
    }));
    assert_eq!(
        who(&index, "192.168.0.11", 0, 0),
        None,
        "a node's old address is forgotten"
    );
}

#[test]
fn a_reused_ip_goes_to_whoever_had_it_when_the_record_was_made() {
    let mut index = Index::new(GRACE);
    let first = pod(
        "shop",
        "cart-1",
        &["10.1.2.3"],
        owner("StatefulSet", "cart"),
        0,
    );
    index.apply(Object::Pod(first.clone()));
    index.delete(&Object::Pod(first), 10 * MINUTE);
    index.apply(Object::Pod(pod(
        "pay",
        "ledger-1",
        &["10.1.2.3"],
        owner("DaemonSet", "ledger"),
        10 * MINUTE + 30_000_000,
    )));

    let now = 11 * MINUTE;
    assert_eq!(
        who(&index, "10.1.2.3", 8 * MINUTE, now),
        pod_of("shop", "cart-1", OwnerKind::StatefulSet, "cart")
    );
    assert_eq!(
        who(&index, "10.1.2.3", 10 * MINUTE, now),
        pod_of("pay", "ledger-1", OwnerKind::DaemonSet, "ledger"),
        "the minute the new pod started in is the new pod's"
    );
    assert_eq!(
        who(&index, "10.1.2.3", 11 * MINUTE, now),
        pod_of("pay", "ledger-1", OwnerKind::DaemonSet, "ledger")
    );
    // Once the old pod's grace is over, even its late records go to the new tenant.
    assert_eq!(
        who(&index, "10.1.2.3", 8 * MINUTE, 13 * MINUTE),
        pod_of("pay", "ledger-1", OwnerKind::DaemonSet, "ledger")
    );
    index.expire(13 * MINUTE);
    assert_eq!(index.sizes().pod_addresses, 1);

    // The same pod applied again (a status update) keeps a single tenancy.
    index.apply(Object::Pod(pod(
        "pay",
        "ledger-1",
        &["10.1.2.3"],
        owner("DaemonSet", "ledger"),
        10 * MINUTE + 30_000_000,
    )));
    index.expire(20 * MINUTE);
    assert_eq!((index.sizes().pods, index.sizes().pod_addresses), (1, 1));
}

#[test]
fn an_instant_goes_to_the_pod_of_that_instant_and_a_minute_to_any_pod_of_that_minute() {
    let mut index = Index::new(GRACE);
    let web = pod(
        "shop",
        "web-1",
        &["10.1.2.3"],
        owner("StatefulSet", "web"),
        0,
    );
    index.apply(Object::Pod(web.clone()));
    index.delete(&Object::Pod(web), 10 * MINUTE + 10_000_000);
    index.apply(Object::Pod(pod(
        "shop",
        "api-1",
        &["10.1.2.3"],
        owner("StatefulSet", "api"),
        10 * MINUTE + 30_000_000,
    )));
    let now = 11 * MINUTE;
    let web_1 = pod_of("shop", "web-1", OwnerKind::StatefulSet, "web");
    let api_1 = pod_of("shop", "api-1", OwnerKind::StatefulSet, "api");
    // A session whose first packet came 5 s into the minute, on web's pod, before the IP moved.
    assert_eq!(
        who_at(
            &index,
            "10.1.2.3",
            RecordTime::Exact(10 * MINUTE + 5_000_000),
            now
        ),
        web_1
    );
    // An exchange of the same connection after api's pod took the address is api's.
    assert_eq!(
        who_at(
            &index,
            "10.1.2.3",
            RecordTime::Exact(10 * MINUTE + 31_000_000),
            now
        ),
        api_1
    );
    // The usage of that minute may be the new pod's traffic, so it goes to the newest tenant.
    assert_eq!(
        who_at(&index, "10.1.2.3", RecordTime::Minute(10 * MINUTE), now),
        api_1
    );
    // Within the second after api's creation (whole seconds, IP assigned after it), still web's.
    assert_eq!(
        who_at(
            &index,
            "10.1.2.3",
            RecordTime::Exact(10 * MINUTE + 30_500_000),
            now
        ),
        web_1
    );
    // An instant before any tenant started goes to the oldest one.
    assert_eq!(
        who_at(&index, "10.1.2.3", RecordTime::Exact(-MINUTE), now),
        web_1
    );
}
