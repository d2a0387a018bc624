//! Pipelines end to end: receiver → processor → two exporters, with back-pressure, the drop
//! policy, retries, permanent failures, the shutdown deadline and processor ticks.

use std::time::Duration;

use spider_collector::{CollectorConfig, RunningCollector};

use crate::support::{Sink, factories, numbers, start};

const N: u64 = 20_000;

fn two_exporters(records: u64, fast: &str, slow: &str) -> String {
    format!(
        r#"
receivers: {{ counting: {{ records: {records}, batch_size: 50 }} }}
processors: {{ holding: {{ release_on_tick: 5ms }} }}
exporters:
  collecting/fast: {fast}
  collecting/slow: {slow}
service:
  telemetry: {{ metrics: {{ level: none }} }}
  pipelines:
    usage:
      receivers: [counting]
      processors: [holding]
      exporters: [collecting/fast, collecting/slow]
"#
    )
}

fn counter(collector: &RunningCollector, name: &str, label: (&str, &str)) -> u64 {
    collector.telemetry().value(name, &[label]) as u64
}

#[tokio::test]
async fn both_exporters_get_every_record_exactly_once_after_a_clean_stop() {
    let sink = Sink::default();
    let mut collector = start(&two_exporters(N, "", ""), &sink).await;
    collector.receivers_finished().await;
    let report = collector.shutdown().await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(
        sink.received("collecting/fast"),
        numbers(N),
        "in order, none lost, none twice"
    );
    assert_eq!(sink.received("collecting/slow"), numbers(N));
}

#[tokio::test]
async fn a_slow_exporter_applies_back_pressure_and_loses_nothing() {
    let sink = Sink::default();
    // 400 batches at 5 ms each: the slow exporter needs 2 s, so the sample at 150 ms holds even
    // on a machine busy enough to wake the test late (2 ms once let a late sample see all).
    // No processor in between: the holding one takes batches without bound until its first
    // tick, and a fast start once put all 400 into it before that.
    let slow = "{ delay: 5ms, sending_queue: { queue_size: 2, when_full: block } }";
    let yaml = two_exporters(
        N,
        "{ sending_queue: { queue_size: 2, when_full: block } }",
        slow,
    )
    .replace("processors: { holding: { release_on_tick: 5ms } }\n", "")
    .replace("      processors: [holding]\n", "");
    let started = std::time::Instant::now();
    let mut collector = start(&yaml, &sink).await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let sampled_after = started.elapsed();
    let accepted = counter(
        &collector,
        "spider_receiver_accepted_items_total",
        ("receiver", "counting"),
    );
    assert!(
        accepted < N,
        "the receiver must be held back by the slow exporter, it got {accepted} through in \
         {sampled_after:?}"
    );
    collector.receivers_finished().await;
    let telemetry = collector.telemetry().clone();
    let report = collector.shutdown().await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(sink.received("collecting/slow"), numbers(N));
    assert_eq!(sink.received("collecting/fast"), numbers(N));
    assert_eq!(
        telemetry.value("spider_exporter_enqueue_failed_items_total", &[]),
        0.0
    );
    assert_eq!(
        telemetry.value(
            "spider_exporter_sent_items_total",
            &[("exporter", "collecting/slow")]
        ),
        N as f64
    );
}

#[tokio::test]
async fn the_drop_policy_drops_and_counts_only_on_its_exporter() {
    let sink = Sink::default();
    let slow = "{ delay: 2ms, sending_queue: { queue_size: 1, when_full: drop_newest } }";
    let fast = "{ sending_queue: { when_full: block } }";
    let mut collector = start(&two_exporters(N, fast, slow), &sink).await;
    collector.receivers_finished().await;
    let telemetry = collector.telemetry().clone();
    let report = collector.shutdown().await;
    assert!(report.is_clean(), "{report:?}");

    assert_eq!(
        sink.received("collecting/fast"),
        numbers(N),
        "the blocking exporter loses nothing"
    );
    let delivered = sink.received("collecting/slow");
    let dropped = telemetry.value(
        "spider_exporter_enqueue_failed_items_total",
        &[("exporter", "collecting/slow")],
    ) as u64;
    assert!(
        dropped > 0,
        "a 2 ms exporter behind a 1-batch queue must drop"
    );
    assert_eq!(
        delivered.len() as u64 + dropped,
        N,
        "every record is either delivered or counted as dropped"
    );
    assert!(
        delivered.windows(2).all(|w| w[0] < w[1]),
        "what is delivered stays in order, without duplicates"
    );
    let sent = telemetry.value(
        "spider_exporter_sent_items_total",
        &[("exporter", "collecting/slow")],
    ) as u64;
    assert_eq!(sent, delivered.len() as u64);
}

#[tokio::test]
async fn stopping_mid_stream_flushes_what_was_accepted() {
    let sink = Sink::default();
    let yaml = two_exporters(
        0,
        "",
        "{ sending_queue: { queue_size: 1, when_full: block } }",
    )
    .replace("{ release_on_tick: 5ms }", "");
    let collector = start(&yaml, &sink).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        sink.received("collecting/fast").is_empty(),
        "the holding processor keeps everything until shutdown"
    );
    let telemetry = collector.telemetry().clone();
    let report = collector.shutdown().await;
    assert!(report.is_clean(), "{report:?}");
    let accepted = telemetry.value("spider_receiver_accepted_items_total", &[]) as u64;
    assert!(accepted > 0);
    assert_eq!(
        sink.received("collecting/fast"),
        numbers(accepted),
        "the processor's state is flushed on stop"
    );
    assert_eq!(sink.received("collecting/slow"), numbers(accepted));
}

#[tokio::test]
async fn retryable_failures_are_retried_until_delivered() {
    let sink = Sink::default();
    let flaky =
        "{ fail_first: 3, retry_on_failure: { initial_interval: 5ms, max_interval: 10ms } }";
    let mut collector = start(&two_exporters(500, "", flaky), &sink).await;
    collector.receivers_finished().await;
    let telemetry = collector.telemetry().clone();
    assert!(collector.shutdown().await.is_clean());
    assert_eq!(sink.received("collecting/slow"), numbers(500));
    assert!(
        sink.attempts("collecting/slow") > sink.attempts("collecting/fast"),
        "failed attempts were repeated"
    );
    assert_eq!(
        sink.retries("collecting/slow"),
        3,
        "each failure is followed by a retry, not a new export"
    );
    assert_eq!(sink.retries("collecting/fast"), 0);
    assert_eq!(
        telemetry.value("spider_exporter_send_failed_items_total", &[]),
        0.0
    );
}

#[tokio::test]
async fn a_hostile_retry_after_is_clamped_to_the_retry_settings() {
    let sink = Sink::default();
    // A server's hint of u64::MAX seconds once overflowed the retry arithmetic (a panic).
    let flaky = "{ fail_first: 2, retry_after_secs: 18446744073709551615, \
                 retry_on_failure: { initial_interval: 5ms, max_interval: 20ms } }";
    let started = std::time::Instant::now();
    let mut collector = start(&two_exporters(100, "", flaky), &sink).await;
    collector.receivers_finished().await;
    assert!(collector.shutdown().await.is_clean());
    assert_eq!(sink.received("collecting/slow"), numbers(100));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "each wait is at most max_interval"
    );
}

#[tokio::test]
async fn permanent_failures_and_exhausted_retries_are_counted_as_failed() {
    let sink = Sink::default();
    let yaml = two_exporters(
        500,
        "{ reject: true }",
        "{ fail_first: 1000, retry_on_failure: { enabled: false } }",
    );
    let mut collector = start(&yaml, &sink).await;
    collector.receivers_finished().await;
    let telemetry = collector.telemetry().clone();
    assert!(
        collector.shutdown().await.is_clean(),
        "failed exports are counted, not shutdown errors"
    );
    for exporter in ["collecting/fast", "collecting/slow"] {
        assert!(sink.received(exporter).is_empty());
        let failed = telemetry.value(
            "spider_exporter_send_failed_items_total",
            &[("exporter", exporter)],
        );
        assert_eq!(failed, 500.0, "{exporter}");
    }
}

#[tokio::test]
async fn the_shutdown_deadline_reports_what_was_left_undelivered() {
    let sink = Sink::default();
    let yaml = two_exporters(200, "", "{ hang: true }")
        .replace("service:\n", "service:\n  shutdown_timeout: 300ms\n");
    let mut collector = start(&yaml, &sink).await;
    collector.receivers_finished().await;
    let started = std::time::Instant::now();
    let report = collector.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "the deadline bounds the stop"
    );
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert!(
        report.errors[0].starts_with("exporter collecting/slow: 200 records still undelivered"),
        "{report:?}"
    );
    assert_eq!(sink.received("collecting/fast"), numbers(200));
}

#[tokio::test]
async fn a_component_that_fails_to_start_stops_the_rest_and_names_itself() {
    let sink = Sink::default();
    let yaml =
        two_exporters(10, "", "").replace("batch_size: 50", "batch_size: 50, fail_start: true");
    let factories = factories(&sink);
    let config = CollectorConfig::from_yaml_with_env(&yaml, &factories, &|_| None).unwrap();
    let error = RunningCollector::start(&config, &factories)
        .await
        .err()
        .expect("start must fail");
    assert_eq!(
        error.to_string(),
        "receiver counting: start failed: refused to start"
    );
}

#[tokio::test]
async fn ticks_let_a_stateful_processor_emit_while_running() {
    let sink = Sink::default();
    let collector = start(&two_exporters(100, "", ""), &sink).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sink.received("collecting/fast").len() < 100 {
        assert!(
            std::time::Instant::now() < deadline,
            "ticks never released the held records"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(collector.shutdown().await.is_clean());
    assert_eq!(sink.received("collecting/fast"), numbers(100));
}
