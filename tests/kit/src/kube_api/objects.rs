//! Builders of the objects tests put in the fake cluster, with the fields a real API server
//! would return for them.

use serde_json::{Value, json};

fn owner_references(owner: Option<(&str, &str)>, api_version: &str) -> Value {
    match owner {
        Some((kind, name)) => json!([{
            "apiVersion": api_version,
            "kind": kind,
            "name": name,
            "uid": format!("uid-owner-{name}"),
            "controller": true,
            "blockOwnerDeletion": true,
        }]),
        None => json!([]),
    }
}

/// A running pod on `node` with `ips` (the first is `podIP`), owned by `owner` (kind, name).
pub fn pod(
    namespace: &str,
    name: &str,
    node: &str,
    ips: &[&str],
    owner: Option<(&str, &str)>,
    host_network: bool,
) -> Value {
    let owner_api = match owner.map(|(kind, _)| kind) {
        Some("Job") => "batch/v1",
        _ => "apps/v1",
    };
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "ownerReferences": owner_references(owner, owner_api),
        },
        "spec": {
            "nodeName": node,
            "hostNetwork": host_network,
            "containers": [{"name": "main", "image": "registry.example/app:1"}],
        },
        "status": {
            "phase": "Running",
            "hostIP": "192.168.0.1",
            "podIP": ips.first(),
            "podIPs": ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
        },
    })
}

/// A node with internal addresses.
pub fn node(name: &str, addresses: &[&str]) -> Value {
    let mut listed: Vec<Value> = addresses
        .iter()
        .map(|ip| json!({"type": "InternalIP", "address": ip}))
        .collect();
    listed.push(json!({"type": "Hostname", "address": name}));
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name},
        "spec": {},
        "status": {"addresses": listed},
    })
}

/// A ClusterIP service.
pub fn service(namespace: &str, name: &str, cluster_ips: &[&str]) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ips.first(),
            "clusterIPs": cluster_ips,
            "ports": [{"port": 80, "protocol": "TCP"}],
        },
    })
}

/// A ReplicaSet, owned by a Deployment when one is named.
pub fn replica_set(namespace: &str, name: &str, deployment: Option<&str>) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "ownerReferences": owner_references(deployment.map(|d| ("Deployment", d)), "apps/v1"),
        },
        "spec": {"selector": {"matchLabels": {"app": name}}},
    })
}

/// A Job, owned by a CronJob when one is named.
pub fn job(namespace: &str, name: &str, cronjob: Option<&str>) -> Value {
    json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "ownerReferences": owner_references(cronjob.map(|c| ("CronJob", c)), "batch/v1"),
        },
        "spec": {"template": {"spec": {"containers": []}}},
    })
}

/// An EndpointSlice of `service` with ready endpoints at `addresses`.
pub fn endpoint_slice(namespace: &str, name: &str, service: &str, addresses: &[&str]) -> Value {
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service},
        },
        "addressType": "IPv4",
        "endpoints": addresses.iter().map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}})).collect::<Vec<_>>(),
        "ports": [{"port": 443, "protocol": "TCP"}],
    })
}

/// A namespace with `labels`, and the name label the API server adds to every namespace.
pub fn namespace(name: &str, labels: &[(&str, &str)]) -> Value {
    let mut listed: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(key, value)| ((*key).to_owned(), json!(value)))
        .collect();
    listed.insert("kubernetes.io/metadata.name".into(), json!(name));
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": listed},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })
}

/// A NetworkPolicy with `spec` as the API takes it.
pub fn network_policy(namespace: &str, name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    })
}

/// `object` with `labels` on its metadata.
pub fn labelled(mut object: Value, labels: &[(&str, &str)]) -> Value {
    let listed: serde_json::Map<String, Value> = labels
        .iter()
        .map(|(key, value)| ((*key).to_owned(), json!(value)))
        .collect();
    object["metadata"]["labels"] = Value::Object(listed);
    object
}
