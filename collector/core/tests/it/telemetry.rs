//! Self-telemetry served as Prometheus text while the collector runs.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{Sink, start};

#[tokio::test]
async fn metrics_endpoint_serves_every_component_counter() {
    let sink = Sink::default();
    let yaml = r#"
receivers: { counting: { records: 300 } }
processors: { holding: }
exporters: { collecting: }
service:
  telemetry: { metrics: { address: "127.0.0.1:0", log_interval: 0 } }
  pipelines:
    usage: { receivers: [counting], processors: [holding], exporters: [collecting] }
"#;
    let collector = start(yaml, &sink).await;
    let address = collector.metrics_address().expect("metrics endpoint on");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;

    let mut stream = TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: spider\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("content-type: text/plain; version=0.0.4"),
        "{response}"
    );
    assert!(
        response.contains("spider_receiver_accepted_items_total{receiver=\"counting\"} 300\n"),
        "{response}"
    );
    assert!(response.contains(
        "spider_processor_incoming_items_total{pipeline=\"usage\",processor=\"holding\"} 300\n"
    ));
    assert!(
        response.contains("# TYPE spider_exporter_queue_items gauge\n"),
        "{response}"
    );

    let report = collector.shutdown().await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(sink.received("collecting").len(), 300);
    assert!(
        TcpStream::connect(address).await.is_err(),
        "the endpoint stops with the collector"
    );
}
