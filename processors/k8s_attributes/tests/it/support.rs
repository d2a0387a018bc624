//! What the tests share: a started processor, a record through it, the metadata of a pod end.

use spider_collector::conformance;
use spider_collector::records::{
    Batch, EndpointClass, EndpointMeta, HttpTransaction, NetworkUsage, OwnerKind, Timestamp,
};
use spider_collector::{Factory, Processor};
use spider_processor_k8s_attributes::{K8S_ATTRIBUTES_PROCESSOR, K8sAttributesConfig};

/// A processor with `config`, started.
pub async fn started(config: K8sAttributesConfig) -> Box<dyn Processor> {
    let factory = K8S_ATTRIBUTES_PROCESSOR;
    let mut processor = factory
        .create(config, conformance::context(&factory))
        .unwrap();
    processor.start().await.unwrap();
    processor
}

/// `batch` after the processor.
pub async fn through(processor: &mut Box<dyn Processor>, batch: Batch) -> Batch {
    let mut out = Vec::new();
    processor.process(batch, &mut out).await.unwrap();
    assert_eq!(out.len(), 1);
    out.remove(0)
}

/// A usage record from `client` to `server` made at `at` (Unix seconds).
pub fn usage(client: &str, server: &str, at: i64) -> NetworkUsage {
    NetworkUsage {
        bucket_start: Timestamp::from_secs(at),
        client_ip: client.parse().unwrap(),
        server_ip: server.parse().unwrap(),
        ..NetworkUsage::default()
    }
}

/// A GET from `client` to `server` requested at `at` (Unix seconds), answered 200.
pub fn exchange(client: &str, server: &str, at: i64) -> HttpTransaction {
    let request_time = Timestamp::from_secs(at);
    HttpTransaction {
        session_id: 1,
        capturer: Some("node-1".into()),
        client_ip: client.parse().unwrap(),
        client_port: 40_000,
        server_ip: server.parse().unwrap(),
        server_port: 80,
        method: Some("GET".into()),
        host: None,
        path: Some("/".into()),
        query: None,
        version: Some("HTTP/1.1".into()),
        status: Some(200),
        user_agent: None,
        request_content_type: None,
        response_content_type: None,
        request_body_size: Some(0),
        response_body_size: Some(2),
        request_time: Some(request_time),
        response_time: Some(request_time),
        latency_us: Some(0),
        anomalies: None,
        client: EndpointMeta::default(),
        server: EndpointMeta::default(),
    }
}

/// Both ends of such a record after the processor.
pub async fn ends(
    processor: &mut Box<dyn Processor>,
    client: &str,
    server: &str,
    at: i64,
) -> (EndpointMeta, EndpointMeta) {
    let batch = Batch::Usage(vec![usage(client, server, at)]);
    let Batch::Usage(mut records) = through(processor, batch).await else {
        panic!("usage stays usage");
    };
    let record = records.remove(0);
    (record.client, record.server)
}

/// The metadata of a pod end.
pub fn pod_meta(
    namespace: &str,
    pod: &str,
    node: &str,
    kind: OwnerKind,
    owner: &str,
) -> EndpointMeta {
    EndpointMeta {
        namespace: Some(namespace.into()),
        pod: Some(pod.into()),
        node: Some(node.into()),
        owner_kind: Some(kind),
        owner_name: Some(owner.into()),
        class: EndpointClass::Pod,
        dns_name: None,
    }
}
