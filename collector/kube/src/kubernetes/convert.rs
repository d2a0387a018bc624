//! Kubernetes API objects to the index's model: only what attribution needs.

use std::net::IpAddr;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Node as KubeNode, Pod as KubePod, Service as KubeService};
use k8s_openapi::api::discovery::v1::EndpointSlice as KubeEndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::model::{Controller, EndpointSlice, Key, Node, Object, Owner, Pod, Service};

fn key(metadata: &ObjectMeta) -> Key {
    Key::new(
        metadata.namespace.clone().unwrap_or_default(),
        metadata.name.clone().unwrap_or_default(),
    )
}

/// The owner reference marked as the controller.
fn controller(metadata: &ObjectMeta) -> Option<Owner> {
    metadata
        .owner_references
        .iter()
        .flatten()
        .find(|reference| reference.controller == Some(true))
        .map(|reference| Owner {
            kind: reference.kind.clone(),
            name: reference.name.clone(),
        })
}

/// Addresses that parse; the API has been seen to carry empty strings.
fn addresses<'a>(texts: impl IntoIterator<Item = &'a String>) -> Vec<IpAddr> {
    texts
        .into_iter()
        .filter_map(|text| text.parse::<IpAddr>().ok())
        .map(|address| address.to_canonical())
        .collect()
}

/// A pod.
pub fn pod(pod: &KubePod) -> Object {
    let spec = pod.spec.as_ref();
    let status = pod.status.as_ref();
    let mut ips = addresses(
        status
            .and_then(|s| s.pod_ips.as_ref())
            .into_iter()
            .flatten()
            .map(|p| &p.ip),
    );
    if ips.is_empty() {
        ips = addresses(status.and_then(|s| s.pod_ip.as_ref()));
    }
    Object::Pod(Pod {
        key: key(&pod.metadata),
        node: spec.and_then(|s| s.node_name.clone()),
        ips,
        host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
        owner: controller(&pod.metadata),
        created: pod
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(0, |time| time.0.as_microsecond()),
    })
}

/// A node, by all its addresses (internal and external; host names are not addresses).
pub fn node(node: &KubeNode) -> Object {
    let listed = node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
        .map(|a| &a.address);
    Object::Node(Node {
        name: node.metadata.name.clone().unwrap_or_default(),
        addresses: addresses(listed),
    })
}

/// A service, by its ClusterIPs (`None` for headless services is not an address).
pub fn service(service: &KubeService) -> Object {
    let spec = service.spec.as_ref();
    let mut listed: Vec<&String> = spec
        .and_then(|s| s.cluster_ips.as_ref())
        .into_iter()
        .flatten()
        .collect();
    if listed.is_empty() {
        listed.extend(spec.and_then(|s| s.cluster_ip.as_ref()));
    }
    Object::Service(Service {
        key: key(&service.metadata),
        cluster_ips: addresses(listed),
    })
}

/// A ReplicaSet, to reach its Deployment.
pub fn replica_set(replica_set: &ReplicaSet) -> Object {
    Object::Controller(Controller {
        kind: "ReplicaSet".into(),
        key: key(&replica_set.metadata),
        owner: controller(&replica_set.metadata),
    })
}

/// A Job, to reach its CronJob.
pub fn job(job: &Job) -> Object {
    Object::Controller(Controller {
        kind: "Job".into(),
        key: key(&job.metadata),
        owner: controller(&job.metadata),
    })
}

/// An EndpointSlice, by the addresses of its endpoints.
pub fn endpoint_slice(slice: &KubeEndpointSlice) -> Object {
    let service = slice
        .metadata
        .labels
        .as_ref()
        .and_then(|labels| labels.get("kubernetes.io/service-name"))
        .cloned()
        .unwrap_or_default();
    let listed = slice
        .endpoints
        .iter()
        .flatten()
        .flat_map(|endpoint| endpoint.addresses.iter());
    Object::EndpointSlice(EndpointSlice {
        key: key(&slice.metadata),
        service,
        addresses: addresses(listed),
    })
}
