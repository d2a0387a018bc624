//! One exporter's outage under the default queue policy: the OTLP endpoint is down long enough
//! for its queue to fill many times over, and the Parquet files keep arriving all along; when the
//! endpoint comes back, what the OTLP queue kept is delivered and new records flow again.
//!
//! The outage lasts seconds, not hours: the queue is made small so that it is full after a
//! fraction of a second, and from then on the collector is in the state a long outage puts it in.

use std::process::Child;
use std::time::{Duration, Instant};

use spider_testkit::free_port;
use spider_testkit::otlp_peer::Peer;

use crate::parquet::published_files;
use crate::support::{config_file, scratch, spawn, stderr, terminate};

const QUEUE_BATCHES: u64 = 10;
const BATCH: u64 = 20;

/// One sample of the collector's self-telemetry.
struct Sample {
    text: String,
}

impl Sample {
    /// The collector's `/metrics` now, if it answers.
    async fn fetch(port: u16) -> Option<Sample> {
        let url = format!("http://127.0.0.1:{port}/metrics");
        let response = spider_testkit::http().get(&url).send().await.ok()?;
        Some(Sample {
            text: response.text().await.ok()?,
        })
    }

    async fn take(port: u16) -> Sample {
        Self::fetch(port)
            .await
            .expect("the metrics endpoint answers")
    }

    /// The value of `name{labels}`, 0 when absent.
    fn value(&self, name: &str, labels: &str) -> u64 {
        let series = format!("{name}{{{labels}}} ");
        self.text
            .lines()
            .find_map(|line| line.strip_prefix(&series))
            .map_or(0, |value| value.trim().parse::<f64>().unwrap() as u64)
    }
}

/// Waits until `ready` holds of a sample, up to 20 s.
async fn until(collector: &mut Child, port: u16, what: &str, ready: impl Fn(&Sample) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            collector.try_wait().unwrap().is_none(),
            "the collector exited"
        );
        if Sample::fetch(port)
            .await
            .is_some_and(|sample| ready(&sample))
        {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_otlp_outage_leaves_parquet_flowing_and_the_queue_delivers_when_it_is_back() {
    let (grpc_port, http_port, metrics_port) = (free_port(), free_port(), free_port());
    let dir = scratch("outage");
    let data = dir.join("data");
    let config = config_file(
        "outage",
        &format!(
            r#"
receivers:
  synthetic: {{ rate: 400, batch_size: {BATCH}, ports: 3 }}
exporters:
  parquet: {{ path: "{data}", max_file_age: 300ms }}
  otlp:
    endpoint: http://127.0.0.1:{grpc_port}
    timeout: 300ms
    temporality: delta
    retry_on_failure: {{ initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 0 }}
    sending_queue: {{ queue_size: {QUEUE_BATCHES} }}
service:
  telemetry: {{ metrics: {{ address: "127.0.0.1:{metrics_port}" }} }}
  pipelines:
    usage: {{ receivers: [synthetic], exporters: [parquet, otlp] }}
"#,
            data = data.display()
        ),
    );
    let mut collector = spawn(&["collect", "--config", config.to_str().unwrap()]);
    let otlp = r#"exporter="otlp""#;
    let parquet = r#"exporter="parquet""#;
    until(
        &mut collector,
        metrics_port,
        "the OTLP queue to fill",
        |s| s.value("spider_exporter_enqueue_failed_items_total", otlp) > 0,
    )
    .await;

    // Down, full, and dropping: the receiver and the Parquet files go on as if nothing happened.
    let before = Sample::take(metrics_port).await;
    let files_before = published_files(&data);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = Sample::take(metrics_port).await;
    let files_during = published_files(&data);
    let accepted = during.value(
        "spider_receiver_accepted_items_total",
        r#"receiver="synthetic""#,
    ) - before.value(
        "spider_receiver_accepted_items_total",
        r#"receiver="synthetic""#,
    );
    assert!(
        accepted >= 600,
        "the receiver was held back during the outage: {accepted} records in 3 s at 400/s"
    );
    let written = during.value("spider_exporter_sent_items_total", parquet)
        - before.value("spider_exporter_sent_items_total", parquet);
    assert!(
        written + 2 * BATCH >= accepted,
        "Parquet fell behind during the outage: {written} of {accepted} records written"
    );
    assert!(
        files_during >= files_before + 5,
        "Parquet files stopped arriving: {files_before} before, {files_during} 3 s later"
    );
    assert_eq!(during.value("spider_exporter_sent_items_total", otlp), 0);
    assert_eq!(
        during.value("spider_exporter_enqueue_failed_items_total", parquet),
        0,
        "Parquet dropped nothing"
    );
    let dropped = during.value("spider_exporter_enqueue_failed_items_total", otlp);
    assert!(
        dropped >= accepted - (QUEUE_BATCHES + 2) * BATCH,
        "a full OTLP queue drops and counts what it cannot take: {dropped} of {accepted}"
    );

    // Back: the queue's batches arrive, then the records that come after them.
    let out = dir.join("requests.jsonl");
    let peer = Peer::start_on(grpc_port, http_port, &out, &[]);
    let kept = QUEUE_BATCHES * BATCH;
    until(&mut collector, metrics_port, "the kept records", |s| {
        s.value("spider_exporter_sent_items_total", otlp) >= kept + 10 * BATCH
    })
    .await;
    let requests = peer.requests();
    assert!(
        requests.len() as u64 >= QUEUE_BATCHES + 10,
        "one request per batch: {} requests",
        requests.len()
    );
    let output = terminate(collector);
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
}
