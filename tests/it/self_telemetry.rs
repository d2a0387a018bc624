//! The collector's self-telemetry through the OpenTelemetry SDK, as the Collector's own is: the
//! same instruments scraped from a `pull` reader and pushed by a `periodic` OTLP/gRPC reader to a
//! receiver that decodes them with the official protobuf messages; the last push is made at the
//! stop, so the final counts arrive. And the query service's anomaly flags, pushed the same way
//! as a gauge the Grafana alert rule example asks for.

use std::time::{Duration, Instant};

use serde_json::Value;
use spider_testkit::free_port;
use spider_testkit::otlp_peer::Peer;

use crate::end_to_end::otlp_points;
use crate::support::{config_file, spawn, stderr};

const RECORDS: u64 = 600;

/// The data points of metric `name` in one decoded request, each as (attributes, value).
fn points(request: &Value, name: &str) -> Vec<(Vec<(String, String)>, f64)> {
    otlp_points(std::slice::from_ref(request), name)
        .map(|point| {
            let attributes = point["attributes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|kv| {
                    let key = kv["key"].as_str().unwrap_or_default().to_owned();
                    let value = kv["value"]["string_value"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    (key, value)
                })
                .collect();
            // Protobuf's JSON writes 64-bit integers as strings.
            let value = match (&point["as_int"], &point["as_double"]) {
                (Value::String(int), _) => int.parse().unwrap(),
                (_, Value::Number(double)) => double.as_f64().unwrap(),
                _ => 0.0,
            };
            (attributes, value)
        })
        .collect()
}

/// The value of `name` for the component with label `key=value` in one request.
fn value_of(request: &Value, name: &str, key: &str, value: &str) -> Option<f64> {
    points(request, name)
        .into_iter()
        .find(|(attributes, _)| attributes.iter().any(|(k, v)| k == key && v == value))
        .map(|(_, v)| v)
}

/// A resource attribute of the first resource of a request.
fn resource_attribute(request: &Value, key: &str) -> Option<String> {
    request["request"]["resource_metrics"][0]["resource"]["attributes"]
        .as_array()?
        .iter()
        .find(|kv| kv["key"] == key)
        .and_then(|kv| kv["value"]["string_value"].as_str())
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread")]
async fn self_telemetry_is_scraped_and_pushed_over_otlp_with_the_final_counts() {
    let peer = Peer::start(&["--require-header", "authorization=Bearer self"]);
    let metrics_port = free_port();
    let config = config_file(
        "self-telemetry",
        &format!(
            r#"
receivers:
  synthetic: {{ records: {RECORDS}, rate: 300, batch_size: 20 }}
exporters:
  debug:
service:
  node: node-7
  telemetry:
    metrics:
      log_interval: 0
      readers:
        - pull: {{ exporter: {{ prometheus: {{ host: 127.0.0.1, port: {metrics_port} }} }} }}
        - periodic:
            interval: 300
            exporter:
              otlp:
                protocol: grpc
                endpoint: http://127.0.0.1:{grpc}
                headers: {{ authorization: Bearer self }}
  pipelines:
    usage: {{ receivers: [synthetic], exporters: [debug] }}
"#,
            grpc = peer.grpc_port
        ),
    );
    let collector = spawn(&["collect", "--config", config.to_str().unwrap()]);

    // Scraped while it runs: the same series, in the Prometheus text format.
    let url = format!("http://127.0.0.1:{metrics_port}/metrics");
    let deadline = Instant::now() + Duration::from_secs(20);
    let scraped = loop {
        if let Ok(response) = spider_testkit::http().get(&url).send().await
            && let Ok(text) = response.text().await
            && text.contains("spider_receiver_accepted_items_total{receiver=\"synthetic\"}")
        {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "/metrics did not answer on the pull reader's port"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        scraped.contains("# TYPE spider_receiver_accepted_items_total counter"),
        "{scraped}"
    );
    assert!(
        scraped.contains("# TYPE spider_exporter_queue_items gauge"),
        "{scraped}"
    );

    // Pushed on the interval, and once more at the stop with what was counted last.
    let stopped = tokio::task::spawn_blocking(move || collector.wait_with_output().unwrap())
        .await
        .unwrap();
    assert!(stopped.status.success(), "{}", stderr(&stopped));
    let requests = peer.requests();
    assert!(
        requests.len() >= 2,
        "pushes every 300 ms over a 2 s run, and at the stop: {} requests",
        requests.len()
    );
    assert!(requests.iter().all(|r| r["transport"] == "grpc"));
    assert!(
        requests
            .iter()
            .all(|r| r["headers"]["authorization"] == "Bearer self"),
        "every push carries the configured header"
    );
    let last = requests.last().unwrap();
    assert_eq!(
        value_of(
            last,
            "spider_receiver_accepted_items",
            "receiver",
            "synthetic"
        ),
        Some(RECORDS as f64),
        "the last push has the receiver's final count"
    );
    assert_eq!(
        value_of(last, "spider_exporter_sent_items", "exporter", "debug"),
        Some(RECORDS as f64),
        "the last push has the exporter's final count"
    );
    let earlier = value_of(
        &requests[0],
        "spider_receiver_accepted_items",
        "receiver",
        "synthetic",
    )
    .expect("the first push has the receiver's counter");
    assert!(
        earlier < RECORDS as f64,
        "the first push came while it ran: {earlier}"
    );
    let counters: Vec<&Value> =
        last["request"]["resource_metrics"][0]["scope_metrics"][0]["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["name"] == "spider_receiver_accepted_items")
            .collect();
    assert_eq!(
        counters[0]["sum"]["is_monotonic"], true,
        "{:?}",
        counters[0]
    );
    assert_eq!(
        counters[0]["sum"]["aggregation_temporality"],
        "AGGREGATION_TEMPORALITY_CUMULATIVE"
    );
    assert!(
        !points(last, "spider_exporter_queue_items").is_empty(),
        "gauges are pushed too"
    );
    assert_eq!(
        resource_attribute(last, "service.name").as_deref(),
        Some("spider")
    );
    assert_eq!(
        resource_attribute(last, "service.instance.id").as_deref(),
        Some("node-7")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_endpoint_that_is_down_neither_stops_the_pipeline_nor_holds_the_stop() {
    let metrics_port = free_port();
    let config = config_file(
        "self-telemetry-down",
        &format!(
            r#"
receivers:
  synthetic: {{ records: {RECORDS}, rate: 0 }}
exporters:
  debug:
service:
  telemetry:
    metrics:
      address: 127.0.0.1:{metrics_port}
      log_interval: 0
      readers:
        - periodic:
            interval: 200
            timeout: 30000
            exporter: {{ otlp: {{ endpoint: http://127.0.0.1:{down} }} }}
  pipelines:
    usage: {{ receivers: [synthetic], exporters: [debug] }}
"#,
            down = free_port()
        ),
    );
    let started = Instant::now();
    let collector = spawn(&["collect", "--config", config.to_str().unwrap()]);
    let stopped = tokio::task::spawn_blocking(move || collector.wait_with_output().unwrap())
        .await
        .unwrap();
    let log = stderr(&stopped);
    assert!(stopped.status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "final: receiver=synthetic: receiver_accepted_items={RECORDS}"
        )),
        "{log}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the stop waited {:?} for a push that cannot arrive",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_query_service_pushes_its_anomaly_flags_as_an_otlp_gauge() {
    let peer = Peer::start(&[]);
    let data = crate::support::scratch("anomaly-push").join("data");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let end = now - now % 60;
    crate::support::generate_into(&data, end, 2, &["--plant-anomalies"]);
    let endpoint = format!("http://127.0.0.1:{}", peer.grpc_port);
    let (server, listen, client) = crate::serve::serving(
        &data,
        &[
            "--anomalies-otlp-endpoint",
            &endpoint,
            "--anomalies-interval",
            "1s",
            "--anomalies-baseline",
            "1h",
        ],
    )
    .await;
    // What the API flags over the same last hour.
    let (status, answer) = crate::serve::get_json(
        &client,
        &format!(
            "http://{listen}/api/anomalies?from={}&to={}&baseline=1h",
            end - 3_600,
            end + 60
        ),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let expected: std::collections::BTreeSet<(String, String, String)> = answer["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["kind"].as_str().unwrap().to_owned(),
                a["source"].as_str().unwrap().to_owned(),
                a["target"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(expected.len(), 5, "the planted flags: {answer}");

    // A push after the first evaluation carries one point a flag, value 1, named by kind and ends.
    let deadline = Instant::now() + Duration::from_secs(20);
    let pushed = loop {
        let requests = peer.requests();
        let seen: std::collections::BTreeSet<(String, String, String)> = requests
            .last()
            .map(|last| {
                points(last, "spider.network.flow.anomalies")
                    .into_iter()
                    .map(|(attributes, value)| {
                        assert_eq!(value, 1.0);
                        let get = |key: &str| {
                            attributes
                                .iter()
                                .find(|(k, _)| k == key)
                                .map(|(_, v)| v.clone())
                                .unwrap_or_default()
                        };
                        (
                            get("spider.anomaly.kind"),
                            get("spider.anomaly.source"),
                            get("spider.anomaly.target"),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if !seen.is_empty() {
            break seen;
        }
        assert!(
            Instant::now() < deadline,
            "no flag was pushed: {requests:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(pushed, expected, "the gauge carries what the API flags");

    // The Grafana alert rule asks for that gauge and for labels the points carry.
    let last = peer.requests().pop().unwrap();
    let keys: std::collections::BTreeSet<String> = points(&last, "spider.network.flow.anomalies")
        .into_iter()
        .flat_map(|(attributes, _)| attributes.into_iter().map(|(k, _)| k.replace('.', "_")))
        .collect();
    let rule = std::fs::read_to_string(
        crate::support::repo_root().join("examples/grafana/spider-anomaly-alerts.yaml"),
    )
    .unwrap();
    assert!(rule.contains("spider_network_flow_anomalies"), "{rule}");
    let asked: Vec<&str> = rule
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("spider_anomaly_"))
        .collect();
    assert!(asked.len() >= 3, "{asked:?}");
    for label in asked {
        assert!(
            keys.contains(label),
            "the rule asks for {label}, pushed: {keys:?}"
        );
    }
    assert_eq!(
        resource_attribute(&last, "service.name").as_deref(),
        Some("spider-query")
    );
    crate::support::terminate(server);
}
