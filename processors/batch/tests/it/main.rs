//! Tests of the batch processor: conformance, size and age thresholds, splitting, flush.

use std::time::{Duration, SystemTime};

use spider_collector::config::GoDuration;
use spider_collector::conformance;
use spider_collector::records::{Batch, HostName, NameSource, NetworkUsage, Timestamp};
use spider_collector::{ComponentConfig, Processor};
use spider_processor_batch::{BATCH_PROCESSOR, BatchConfig, BatchProcessor};

fn usage(n: usize) -> Batch {
    Batch::Usage(vec![NetworkUsage::default(); n])
}

fn host() -> Batch {
    let name = HostName {
        ip: "10.1.2.3".parse().unwrap(),
        name: "db".into(),
        source: NameSource::Dns,
        first_seen: Timestamp::from_secs(1),
        last_seen: Timestamp::from_secs(2),
    };
    Batch::Hosts(vec![name])
}

fn sizes(batches: &[Batch]) -> Vec<usize> {
    batches.iter().map(Batch::len).collect()
}

#[tokio::test]
async fn lifecycle_and_config_conform() {
    conformance::check_component(BATCH_PROCESSOR, BatchConfig::default()).await;
}

#[test]
fn bad_sizes_are_refused_by_path() {
    let config = BatchConfig {
        send_batch_size: 0,
        timeout: GoDuration::default(),
        send_batch_max_size: 0,
    };
    let paths: Vec<_> = config.validate().into_iter().map(|e| e.path).collect();
    assert_eq!(paths, ["send_batch_size", "timeout"]);
    let config = BatchConfig {
        send_batch_size: 10,
        send_batch_max_size: 5,
        ..BatchConfig::default()
    };
    assert_eq!(config.validate()[0].path, "send_batch_max_size");
}

#[tokio::test]
async fn a_full_batch_leaves_at_once_and_is_split_to_the_maximum() {
    let config = BatchConfig {
        send_batch_size: 10,
        send_batch_max_size: 12,
        ..BatchConfig::default()
    };
    let mut processor = BatchProcessor::new(config);
    let mut out = Vec::new();
    processor.process(usage(6), &mut out).await.unwrap();
    processor.process(host(), &mut out).await.unwrap();
    assert!(out.is_empty(), "below the size nothing leaves");
    processor.process(usage(20), &mut out).await.unwrap();
    assert_eq!(sizes(&out), [12, 12, 2]);
    out.clear();
    processor.shutdown(&mut out).await.unwrap();
    assert_eq!(
        out,
        [host()],
        "the kinds are buffered apart and flushed on shutdown"
    );
}

#[tokio::test]
async fn a_batch_leaves_when_its_oldest_record_times_out() {
    let config = BatchConfig {
        timeout: GoDuration::from_millis(30),
        ..BatchConfig::default()
    };
    let mut processor = BatchProcessor::new(config);
    let mut out = Vec::new();
    processor.process(usage(3), &mut out).await.unwrap();
    processor.tick(SystemTime::now(), &mut out).await.unwrap();
    assert!(out.is_empty(), "too early");
    tokio::time::sleep(Duration::from_millis(40)).await;
    processor.tick(SystemTime::now(), &mut out).await.unwrap();
    assert_eq!(sizes(&out), [3]);
}
