//! The endpoint down for a while under the real runtime: the queue holds, retries deliver,
//! nothing within the queue bound is lost.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use spider_collector::records::{Batch, NetworkUsage, Signal, Timestamp};
use spider_collector::{
    CollectorConfig, ComponentConfig, ComponentError, CreateContext, Factories, Factory, Output,
    Receiver, RunningCollector,
};
use spider_exporter_otlp::OTLP_EXPORTER;
use tokio::task::JoinHandle;

use crate::peer::{Peer, free_port, scratch};
use crate::points::points;

/// `receivers::sequence`: `count` records, one per batch every 10 ms, numbered by server port.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SequenceConfig {
    count: u16,
}

impl ComponentConfig for SequenceConfig {}

struct SequenceFactory;

impl Factory<dyn Receiver> for SequenceFactory {
    type Config = SequenceConfig;
    fn type_name(&self) -> &'static str {
        "sequence"
    }
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Usage]
    }
    fn create(
        &self,
        config: SequenceConfig,
        _: CreateContext,
    ) -> Result<Box<dyn Receiver>, ComponentError> {
        Ok(Box::new(Sequence {
            count: config.count,
            task: None,
        }))
    }
}

struct Sequence {
    count: u16,
    task: Option<JoinHandle<()>>,
}

#[async_trait]
impl Receiver for Sequence {
    async fn start(&mut self, output: Output) -> Result<(), ComponentError> {
        let count = self.count;
        self.task = Some(tokio::spawn(async move {
            for port in 0..count {
                let record = NetworkUsage {
                    bucket_start: Timestamp::now().minute_start(),
                    reporter: "node-a".into(),
                    server_port: port,
                    bytes_to_server: 10,
                    ..NetworkUsage::default()
                };
                if output.send(Batch::Usage(vec![record])).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }));
        Ok(())
    }
    async fn shutdown(&mut self) -> Result<(), ComponentError> {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn records_queued_while_the_endpoint_is_down_arrive_once_it_is_back() {
    let (grpc_port, http_port) = (free_port(), free_port());
    let yaml = format!(
        r#"
receivers: {{ sequence: {{ count: 60 }} }}
exporters:
  otlp:
    endpoint: http://127.0.0.1:{grpc_port}
    timeout: 500ms
    temporality: delta
    dimensions: [port]
    retry_on_failure: {{ initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 0 }}
    sending_queue: {{ queue_size: 100 }}
service:
  telemetry: {{ metrics: {{ level: none }} }}
  pipelines:
    usage: {{ receivers: [sequence], exporters: [otlp] }}
"#
    );
    let factories = Factories::new()
        .with_receiver(SequenceFactory)
        .with_exporter(OTLP_EXPORTER);
    let config = CollectorConfig::from_yaml_with_env(&yaml, &factories, &|_| None).unwrap();
    let mut collector = RunningCollector::start(&config, &factories).await.unwrap();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let telemetry = collector.telemetry().clone();
    assert_eq!(
        telemetry.value("spider_exporter_sent_items_total", &[]),
        0.0,
        "nothing can be sent yet"
    );

    let out = scratch("outage").join("requests.jsonl");
    let peer = Peer::start_on(grpc_port, http_port, &out, &[]);
    collector.receivers_finished().await;
    let report = collector.shutdown().await;
    assert!(report.is_clean(), "{report:?}");

    let mut ports: Vec<i64> = points(&peer.requests())
        .into_iter()
        .filter(|p| {
            p.metric == "network.flow.bytes" && p.attributes["network.io.direction"] == "transmit"
        })
        .map(|p| p.attributes["destination.port"].parse().unwrap())
        .collect();
    ports.sort();
    ports.dedup();
    assert_eq!(
        ports,
        (0..60).collect::<Vec<_>>(),
        "every record sent while the endpoint was down arrived"
    );
    assert_eq!(
        telemetry.value("spider_exporter_sent_items_total", &[]),
        60.0
    );
    assert_eq!(
        telemetry.value("spider_exporter_send_failed_items_total", &[]),
        0.0
    );
}
