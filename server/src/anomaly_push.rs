//! The anomaly flags as an OTLP metric, so Grafana or Alertmanager can alert on them: every
//! `interval` the flags of the last `window` are computed (`spider_query::anomalies`, the same
//! as `GET /api/anomalies`), and each is pushed as a point of the gauge
//! `spider.network.flow.anomalies` (value 1) with its kind and its two ends as attributes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider;
use spider_collector::config::{OtlpPush, PeriodicReader, PushExporter};
use spider_collector::telemetry::otlp_provider;
use spider_query::anomalies::{Anomaly, Thresholds, anomalies};
use spider_query::range::{Scope, TimeRange};
use spider_query::{Lake, open_lake};
use tokio_util::sync::CancellationToken;

/// The gauge's name, as the Grafana alert rule asks for it.
pub const METRIC: &str = "spider.network.flow.anomalies";

/// Where and how often the flags are pushed.
#[derive(Debug, Clone)]
pub struct AnomalyPush {
    /// The OTLP/gRPC endpoint (`http://otel-collector:4317`).
    pub endpoint: String,
    /// Time between evaluations and pushes.
    pub interval: Duration,
    /// The range each evaluation flags: the last `window`.
    pub window: Duration,
    /// What is flagged.
    pub thresholds: Thresholds,
    /// Memory an evaluation may hold (the service's `--max-query-memory`), bytes.
    pub max_memory: usize,
}

/// The attributes of one flag's point.
fn attributes(anomaly: &Anomaly) -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("spider.anomaly.kind", anomaly.kind.as_str()),
        KeyValue::new("spider.anomaly.source", anomaly.source.clone()),
        KeyValue::new("spider.anomaly.source.label", anomaly.source_label.clone()),
    ];
    if let (Some(target), Some(label)) = (&anomaly.target, &anomaly.target_label) {
        attributes.push(KeyValue::new("spider.anomaly.target", target.clone()));
        attributes.push(KeyValue::new("spider.anomaly.target.label", label.clone()));
    }
    if let Some(port) = anomaly.port {
        attributes.push(KeyValue::new("server.port", i64::from(port)));
    }
    if let Some(transport) = &anomaly.transport {
        attributes.push(KeyValue::new("network.transport", transport.clone()));
    }
    if let Some(policies) = &anomaly.policies {
        attributes.push(KeyValue::new("spider.anomaly.policies", policies.clone()));
    }
    attributes
}

/// Evaluates and pushes until `stop`; a failed evaluation keeps the last flags and is logged,
/// and so is a push that cannot start.
pub async fn run(lake: Lake, push: AnomalyPush, stop: CancellationToken) {
    if let Err(message) = pushing(lake, push, stop).await {
        tracing::error!("the anomaly push stopped: {message}");
    }
}

async fn pushing(lake: Lake, push: AnomalyPush, stop: CancellationToken) -> Result<(), String> {
    let context =
        open_lake(&lake, Some(push.max_memory)).map_err(|e| format!("cannot open {lake}: {e}"))?;
    let reader = PeriodicReader {
        interval: push.interval.as_millis() as u64,
        timeout: 10_000,
        exporter: PushExporter {
            otlp: OtlpPush {
                protocol: "grpc".into(),
                endpoint: push.endpoint.clone(),
                headers: Default::default(),
            },
        },
    };
    let provider = otlp_provider(&reader, "spider-query").map_err(|e| e.to_string())?;
    let flags: Arc<Mutex<Vec<Anomaly>>> = Arc::default();
    let observed = flags.clone();
    let _gauge = provider
        .meter("spider")
        .u64_observable_gauge(METRIC)
        .with_description("1 for each anomaly flagged over the last window, by kind and ends")
        .with_callback(move |observer| {
            let flags = observed.lock().unwrap_or_else(|p| p.into_inner());
            for anomaly in flags.iter() {
                observer.observe(1, &attributes(anomaly));
            }
        })
        .build();
    let window = push.window.as_micros() as i64;
    loop {
        let now = spider_records::Timestamp::now().as_micros();
        let range = TimeRange::new((now - window).max(0), now).map_err(|e| e.to_string())?;
        // A stop does not wait for an evaluation to end.
        let evaluated = tokio::select! {
            evaluated = anomalies(&context, Scope::all(range), None, &[], push.thresholds) => evaluated,
            () = stop.cancelled() => break,
        };
        match evaluated {
            Ok(found) => {
                *flags.lock().unwrap_or_else(|p| p.into_inner()) = found.anomalies;
            }
            Err(error) => tracing::warn!("the anomalies could not be evaluated: {error}"),
        }
        if tokio::time::timeout(push.interval, stop.cancelled())
            .await
            .is_ok()
        {
            break;
        }
    }
    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}
