//! The simulated cluster ([`spider_simcluster`]) and, for the fake API server, its objects.

pub use spider_simcluster::*;

use serde_json::Value;

use crate::kube_api;

/// The cluster as the API server holds it: nodes, namespaces, pods with their owners
/// (ReplicaSets for Deployments) and an `app` label of their workload's name, Services and their
/// EndpointSlices.
pub fn objects(cluster: &Cluster) -> Vec<Value> {
    let mut objects = Vec::new();
    let namespaces: std::collections::BTreeSet<&str> = cluster
        .pods
        .iter()
        .map(|pod| pod.workload.namespace.as_str())
        .chain(cluster.services.iter().map(|s| s.namespace.as_str()))
        .collect();
    objects.extend(
        namespaces
            .into_iter()
            .map(|name| kube_api::namespace(name, &[])),
    );
    for node in &cluster.nodes {
        objects.push(kube_api::node(&node.name, &[&node.ip.to_string()]));
    }
    for pod in &cluster.pods {
        let w = &pod.workload;
        let owner = match w.kind.as_str() {
            "Deployment" => {
                let replica_set = format!("{}-5d9c7", w.name);
                objects.push(kube_api::replica_set(
                    &w.namespace,
                    &replica_set,
                    Some(&w.name),
                ));
                Some(("ReplicaSet".to_owned(), replica_set))
            }
            "Pod" => None,
            kind => Some((kind.to_owned(), w.name.clone())),
        };
        let ips: Vec<String> = pod.ips().iter().map(ToString::to_string).collect();
        let listed = kube_api::pod(
            &w.namespace,
            &pod.name,
            &cluster.nodes[pod.node].name,
            &ips.iter().map(String::as_str).collect::<Vec<_>>(),
            owner
                .as_ref()
                .map(|(kind, name)| (kind.as_str(), name.as_str())),
            pod.netns.is_none(),
        );
        objects.push(kube_api::labelled(listed, &[("app", &w.name)]));
    }
    for service in &cluster.services {
        objects.push(kube_api::service(
            &service.namespace,
            &service.name,
            &[&service.ip.to_string()],
        ));
        objects.push(kube_api::endpoint_slice(
            &service.namespace,
            &format!("{}-abcde", service.name),
            &service.name,
            &[&cluster.backend_ip(service).to_string()],
        ));
    }
    objects
}
