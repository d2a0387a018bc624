//! Tests of the synthetic receiver: conformance, counts, pacing and stop.

use std::time::{Duration, Instant};

use spider_collector::conformance;
use spider_collector::records::{Batch, Signal};
use spider_collector::{
    ComponentConfig, CreateContext, Factory, Output, Receiver, telemetry::ComponentTelemetry,
};
use spider_receiver_synthetic::{SYNTHETIC_RECEIVER, SyntheticConfig};

fn receiver(config: SyntheticConfig) -> Box<dyn Receiver> {
    let context = CreateContext {
        id: "synthetic".parse().unwrap(),
        pipeline: None,
        telemetry: ComponentTelemetry::detached(&[]),
        node: "node-1".into(),
        cluster: spider_collector::DEFAULT_CLUSTER.into(),
    };
    SYNTHETIC_RECEIVER.create(config, context).unwrap()
}

#[tokio::test]
async fn lifecycle_and_config_conform() {
    conformance::check_component(SYNTHETIC_RECEIVER, SyntheticConfig::default()).await;
}

#[test]
fn impossible_shapes_are_refused_by_path() {
    let config = SyntheticConfig {
        batch_size: 0,
        pods: 1,
        ports: 0,
        ..SyntheticConfig::default()
    };
    let paths: Vec<_> = config.validate().into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["batch_size", "pods", "ports"]);
}

#[test]
fn generation_is_seeded_and_never_self_talk() {
    let config = SyntheticConfig {
        pods: 2,
        ..SyntheticConfig::default()
    };
    let first = config.generator().records(500);
    let again = config.generator().records(500);
    assert_eq!(first, again);
    assert!(first.iter().all(|r| r.client_ip != r.server_ip));
    assert!(first.iter().all(|r| (8080..8085).contains(&r.server_port)));
    assert!(
        first
            .iter()
            .all(|r| r.bytes_to_server >= 40 * r.messages_to_server)
    );
}

#[tokio::test]
async fn emits_exactly_the_configured_count_then_lets_go() {
    let config = SyntheticConfig {
        records: 1050,
        batch_size: 100,
        rate: 0,
        ..SyntheticConfig::default()
    };
    let mut synthetic = receiver(config);
    let (output, mut batches) = Output::channel(&[Signal::Usage], 4);
    synthetic.start(output).await.unwrap();
    let mut total = 0;
    while let Some(batch) = batches.recv().await {
        assert!(matches!(&batch, Batch::Usage(rows) if rows.len() <= 100));
        total += batch.len();
    }
    assert_eq!(total, 1050, "the channel closes once the count is reached");
    synthetic.shutdown().await.unwrap();
}

#[tokio::test]
async fn rate_paces_emission_and_shutdown_stops_it() {
    let config = SyntheticConfig {
        records: 0,
        batch_size: 10,
        rate: 200,
        ..SyntheticConfig::default()
    };
    let mut synthetic = receiver(config);
    let (output, mut batches) = Output::channel(&[Signal::Usage], 1000);
    let started = Instant::now();
    synthetic.start(output).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    synthetic.shutdown().await.unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    let mut total = 0;
    while let Some(batch) = batches.recv().await {
        total += batch.len();
    }
    let ceiling = (200.0 * elapsed) as usize + 10;
    assert!(
        total <= ceiling,
        "{total} records in {elapsed:.2}s is above 200/s"
    );
    assert!(total >= 20, "only {total} records in {elapsed:.2}s");
}
