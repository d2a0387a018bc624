//! Network usage → OTLP metrics, with the semantic conventions' names (ARCHITECTURE.md, "Records").
//!
//! Three monotonic sums, each point carrying `network.io.direction` from the source's side
//! (`transmit`: client → server, `receive`: server → client):
//! `network.flow.bytes` (By), `spider.network.flow.messages` ({message}),
//! `spider.network.flow.packets` ({packet}). The source is the client, the destination the
//! server. One resource per reporter (`host.name`), plus the cluster (`k8s.cluster.name`) and configured
//! resource attributes.

use std::collections::{BTreeMap, HashMap};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value as Number;
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use spider_collector::records::time::MICROS_PER_MINUTE;
use spider_collector::records::{EndpointMeta, NetworkUsage, Timestamp};

use crate::config::{Dimension, Temporality};

/// An attribute value as compared and hashed while aggregating.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Attribute {
    Text(String),
    Int(i64),
    Bool(bool),
}

/// One time series: who reported it and its attributes (direction aside).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct SeriesKey {
    reporter: String,
    attributes: Vec<(&'static str, Attribute)>,
}

/// Counts of one series, `[transmit, receive]`.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    bytes: [u64; 2],
    messages: [u64; 2],
    packets: [u64; 2],
}

impl Totals {
    fn add(&mut self, record: &NetworkUsage) {
        self.bytes[0] += record.bytes_to_server;
        self.bytes[1] += record.bytes_to_client;
        self.messages[0] += record.messages_to_server;
        self.messages[1] += record.messages_to_client;
        self.packets[0] += record.packets_to_server;
        self.packets[1] += record.packets_to_client;
    }
}

/// A series' cumulative state.
struct Running {
    totals: Totals,
    start: Timestamp,
    end: Timestamp,
}

/// A point to emit: series, window, counts.
struct Point<'a> {
    key: &'a SeriesKey,
    start: Timestamp,
    end: Timestamp,
    totals: Totals,
}

/// Turns usage batches into OTLP requests; keeps running totals in cumulative mode.
pub struct Converter {
    temporality: Temporality,
    dimensions: Vec<Dimension>,
    resource: Vec<(String, String)>,
    max_series: usize,
    running: HashMap<SeriesKey, Running>,
    overflowed: u64,
}

/// Attribute set by the SDKs on the series that takes everything past the cardinality limit.
const OVERFLOW: &str = "otel.metric.overflow";

impl Converter {
    /// A converter with no history.
    pub fn new(
        temporality: Temporality,
        dimensions: Vec<Dimension>,
        resource: Vec<(String, String)>,
        max_series: usize,
    ) -> Self {
        Self {
            temporality,
            dimensions,
            resource,
            max_series,
            running: HashMap::new(),
            overflowed: 0,
        }
    }

    /// Records that went to the overflow series so far.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    /// The request for one batch (in cumulative mode, the batch is added to the totals). Reports
    /// that another agent counts (the counted-once rule, `NetworkUsage::counts`) are left out.
    pub fn request(&mut self, records: &[NetworkUsage]) -> ExportMetricsServiceRequest {
        let bucket_end = |r: &NetworkUsage| r.bucket_start.plus_micros(MICROS_PER_MINUTE);
        match self.temporality {
            Temporality::Delta => {
                let mut buckets: BTreeMap<(SeriesKey, Timestamp), Totals> = BTreeMap::new();
                for record in records.iter().filter(|r| r.counts()) {
                    let key = series_key(record, &self.dimensions);
                    buckets
                        .entry((key, record.bucket_start))
                        .or_default()
                        .add(record);
                }
                let points = buckets
                    .iter()
                    .map(|((key, start), totals)| Point {
                        key,
                        start: *start,
                        end: start.plus_micros(MICROS_PER_MINUTE),
                        totals: *totals,
                    })
                    .collect();
                self.build(points, AggregationTemporality::Delta)
            }
            Temporality::Cumulative => {
                let mut touched = Vec::new();
                for record in records.iter().filter(|r| r.counts()) {
                    let mut key = series_key(record, &self.dimensions);
                    if !self.running.contains_key(&key) && self.running.len() >= self.max_series {
                        self.overflowed += 1;
                        key = SeriesKey {
                            reporter: key.reporter,
                            attributes: vec![(OVERFLOW, Attribute::Bool(true))],
                        };
                    }
                    let running = self.running.entry(key.clone()).or_insert(Running {
                        totals: Totals::default(),
                        start: record.bucket_start,
                        end: bucket_end(record),
                    });
                    running.totals.add(record);
                    running.start = running.start.min(record.bucket_start);
                    running.end = running.end.max(bucket_end(record));
                    touched.push(key);
                }
                touched.sort();
                touched.dedup();
                let points = touched
                    .iter()
                    .filter_map(|key| {
                        self.running.get(key).map(|r| Point {
                            key,
                            start: r.start,
                            end: r.end,
                            totals: r.totals,
                        })
                    })
                    .collect();
                self.build(points, AggregationTemporality::Cumulative)
            }
        }
    }

    fn build(
        &self,
        points: Vec<Point<'_>>,
        temporality: AggregationTemporality,
    ) -> ExportMetricsServiceRequest {
        let mut by_reporter: BTreeMap<&str, Vec<&Point<'_>>> = BTreeMap::new();
        for point in &points {
            by_reporter
                .entry(point.key.reporter.as_str())
                .or_default()
                .push(point);
        }
        let resource_metrics = by_reporter
            .into_iter()
            .map(|(reporter, points)| {
                let mut attributes =
                    vec![text("service.name", "spider"), text("host.name", reporter)];
                attributes.extend(self.resource.iter().map(|(k, v)| text(k, v)));
                let metrics = [
                    (
                        "network.flow.bytes",
                        "By",
                        "Bytes sent between two endpoints, by direction from the source's side.",
                        0,
                    ),
                    (
                        "spider.network.flow.messages",
                        "{message}",
                        "Send calls (TCP writes, UDP datagrams) between two endpoints.",
                        1,
                    ),
                    (
                        "spider.network.flow.packets",
                        "{packet}",
                        "Packets between two endpoints.",
                        2,
                    ),
                ]
                .into_iter()
                .map(|(name, unit, description, which)| {
                    sum(name, unit, description, &points, which, temporality)
                })
                .collect();
                ResourceMetrics {
                    resource: Some(Resource {
                        attributes,
                        ..Default::default()
                    }),
                    scope_metrics: vec![ScopeMetrics {
                        scope: Some(InstrumentationScope {
                            name: "spider".into(),
                            version: env!("CARGO_PKG_VERSION").into(),
                            ..Default::default()
                        }),
                        metrics,
                        ..Default::default()
                    }],
                    ..Default::default()
                }
            })
            .collect();
        ExportMetricsServiceRequest { resource_metrics }
    }
}

fn sum(
    name: &str,
    unit: &str,
    description: &str,
    points: &[&Point<'_>],
    which: usize,
    temporality: AggregationTemporality,
) -> Metric {
    let data_points = points
        .iter()
        .flat_map(|point| {
            let counts = match which {
                0 => point.totals.bytes,
                1 => point.totals.messages,
                _ => point.totals.packets,
            };
            [("transmit", counts[0]), ("receive", counts[1])].map(|(direction, value)| {
                let mut attributes: Vec<KeyValue> = point
                    .key
                    .attributes
                    .iter()
                    .map(|(k, v)| key_value(k, v))
                    .collect();
                attributes.push(text("network.io.direction", direction));
                NumberDataPoint {
                    attributes,
                    start_time_unix_nano: nanos(point.start),
                    time_unix_nano: nanos(point.end),
                    value: Some(Number::AsInt(value as i64)),
                    ..Default::default()
                }
            })
        })
        .collect();
    Metric {
        name: name.into(),
        description: description.into(),
        unit: unit.into(),
        data: Some(Data::Sum(Sum {
            data_points,
            aggregation_temporality: temporality as i32,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

fn nanos(time: Timestamp) -> u64 {
    (time.as_micros().max(0) as u64) * 1000
}

fn text(key: &str, value: &str) -> KeyValue {
    key_value(key, &Attribute::Text(value.to_owned()))
}

fn key_value(key: &str, value: &Attribute) -> KeyValue {
    let value = match value {
        Attribute::Text(text) => Value::StringValue(text.clone()),
        Attribute::Int(int) => Value::IntValue(*int),
        Attribute::Bool(bool) => Value::BoolValue(*bool),
    };
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// The series a record belongs to under the configured dimensions.
fn series_key(record: &NetworkUsage, dimensions: &[Dimension]) -> SeriesKey {
    let mut attributes = vec![
        (
            "network.transport",
            Attribute::Text(record.transport.as_str().to_owned()),
        ),
        (
            "network.type",
            Attribute::Text(
                if record.client_ip.is_ipv4() {
                    "ipv4"
                } else {
                    "ipv6"
                }
                .to_owned(),
            ),
        ),
    ];
    let ends = [("source", &record.client), ("destination", &record.server)];
    for dimension in dimensions {
        match dimension {
            Dimension::Address => {
                attributes.push((
                    "source.address",
                    Attribute::Text(record.client_ip.to_string()),
                ));
                attributes.push((
                    "destination.address",
                    Attribute::Text(record.server_ip.to_string()),
                ));
            }
            Dimension::Port => attributes.push((
                "destination.port",
                Attribute::Int(i64::from(record.server_port)),
            )),
            Dimension::Policy => {
                if let Some(verdict) = record.policy {
                    attributes.push((
                        "spider.network.policy",
                        Attribute::Text(verdict.as_str().to_owned()),
                    ));
                }
            }
            _ => {
                for (side, meta) in ends {
                    end_attributes(side, meta, *dimension, &mut attributes);
                }
            }
        }
    }
    SeriesKey {
        reporter: record.reporter.clone(),
        attributes,
    }
}

/// The attributes of one end for a metadata dimension; unknown values are left out.
fn end_attributes(
    side: &str,
    meta: &EndpointMeta,
    dimension: Dimension,
    out: &mut Vec<(&'static str, Attribute)>,
) {
    let source = side == "source";
    let pick = |source_key: &'static str, destination_key: &'static str| {
        if source { source_key } else { destination_key }
    };
    let mut push = |key: &'static str, value: Option<&str>| {
        if let Some(value) = value {
            out.push((key, Attribute::Text(value.to_owned())));
        }
    };
    match dimension {
        Dimension::Namespace => push(
            pick(
                "source.k8s.namespace.name",
                "destination.k8s.namespace.name",
            ),
            meta.namespace.as_deref(),
        ),
        Dimension::Owner => {
            push(
                pick("source.k8s.owner.name", "destination.k8s.owner.name"),
                meta.owner_name.as_deref(),
            );
            push(
                pick("source.k8s.owner.type", "destination.k8s.owner.type"),
                meta.owner_kind.map(|k| k.as_str()),
            );
        }
        Dimension::Pod => push(
            pick("source.k8s.pod.name", "destination.k8s.pod.name"),
            meta.pod.as_deref(),
        ),
        Dimension::Node => push(
            pick("source.k8s.node.name", "destination.k8s.node.name"),
            meta.node.as_deref(),
        ),
        Dimension::Class => push(
            pick(
                "spider.source.endpoint_class",
                "spider.destination.endpoint_class",
            ),
            Some(meta.class.as_str()),
        ),
        Dimension::Address | Dimension::Port | Dimension::Policy => {}
    }
}
