//! Anomalies on planted data: a week of steady traffic, one edge of which a NetworkPolicy
//! denies all along, then in the last hour a CronJob that floods DNS, a workload whose external
//! traffic jumps, and a new cross-namespace edge. The flags find exactly those, and nothing in
//! the steady rest.

use std::net::IpAddr;

use spider_collector::records::{
    EndpointClass, EndpointMeta, NetworkUsage, OwnerKind, PolicyVerdict, Timestamp, Transport,
};
use spider_query::anomalies::{AnomalyKind, Thresholds, anomalies};
use spider_query::map::{View, map};
use spider_query::open;
use spider_query::range::{Scope, TimeRange};

use crate::support::{duckdb, scratch, write_records};

/// The end of the range: 2026-11-21T06:00Z.
const END: i64 = 1_795_240_800;
const HOUR: i64 = 3_600;
const MIB: u64 = 1 << 20;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn workload(namespace: &str, kind: OwnerKind, name: &str) -> EndpointMeta {
    EndpointMeta {
        namespace: Some(namespace.into()),
        owner_kind: Some(kind),
        owner_name: Some(name.into()),
        pod: Some(format!("{name}-0")),
        node: Some("node-1".into()),
        class: EndpointClass::Pod,
        dns_name: None,
    }
}

fn kube_dns() -> EndpointMeta {
    EndpointMeta {
        namespace: Some("kube-system".into()),
        owner_kind: Some(OwnerKind::Service),
        owner_name: Some("kube-dns".into()),
        class: EndpointClass::Service,
        ..EndpointMeta::default()
    }
}

fn external(name: &str) -> EndpointMeta {
    EndpointMeta {
        class: EndpointClass::External,
        dns_name: Some(name.into()),
        ..EndpointMeta::default()
    }
}

/// One minute of one conversation.
struct Minute {
    at: i64,
    client: (&'static str, EndpointMeta),
    server: (&'static str, EndpointMeta, u16, Transport),
    bytes: u64,
    messages: u64,
}

impl Minute {
    fn record(self) -> NetworkUsage {
        NetworkUsage {
            bucket_start: Timestamp::from_secs(self.at),
            reporter: "node-1".into(),
            client_ip: ip(self.client.0),
            server_ip: ip(self.server.0),
            server_port: self.server.2,
            transport: self.server.3,
            bytes_to_server: self.bytes / 2,
            bytes_to_client: self.bytes - self.bytes / 2,
            messages_to_server: self.messages,
            messages_to_client: self.messages,
            packets_to_server: self.messages,
            packets_to_client: self.messages,
            client: self.client.1,
            server: self.server.1,
            ..NetworkUsage::default()
        }
    }
}

const WEB: &str = "10.244.0.10";
const API: &str = "10.244.0.11";
const REPORT: &str = "10.244.0.12";
const LEDGER: &str = "10.244.0.13";
const DNS: &str = "10.96.0.10";
const PARTNER: &str = "203.0.113.7";
const EXAMPLE: &str = "198.51.100.7";

/// The steady week: every hour, one minute of each conversation, from `start` hours before the
/// end to the end (the range's hour included).
fn steady(hours: i64) -> Vec<NetworkUsage> {
    let web = || (WEB, workload("shop", OwnerKind::Deployment, "web"));
    let api = || (API, workload("shop", OwnerKind::Deployment, "api"));
    let report = || (REPORT, workload("batch", OwnerKind::CronJob, "report"));
    let dns = || (DNS, kube_dns(), 53, Transport::Udp);
    let mut records = Vec::new();
    for hour in 0..hours {
        let at = END - (hour + 1) * HOUR + 120;
        let minutes = [
            (
                web(),
                (
                    API,
                    workload("shop", OwnerKind::Deployment, "api"),
                    8080,
                    Transport::Tcp,
                ),
                10_000,
                10,
            ),
            (web(), dns(), 800, 20),
            (
                web(),
                (EXAMPLE, external("api.example.com"), 443, Transport::Tcp),
                100_000,
                30,
            ),
            (report(), dns(), 400, 10),
            (
                report(),
                (
                    API,
                    workload("shop", OwnerKind::Deployment, "api"),
                    8080,
                    Transport::Tcp,
                ),
                3_000,
                3,
            ),
            (
                api(),
                (
                    PARTNER,
                    external("partner.example.com"),
                    443,
                    Transport::Tcp,
                ),
                MIB,
                40,
            ),
        ];
        for (client, server, bytes, messages) in minutes {
            records.push(
                Minute {
                    at,
                    client,
                    server,
                    bytes,
                    messages,
                }
                .record(),
            );
        }
    }
    records.iter_mut().for_each(judge);
    records
}

/// The verdicts of one policy, `shop/api-from-web`: api takes web only.
fn judge(record: &mut NetworkUsage) {
    let (client, server) = (record.client_ip.to_string(), record.server_ip.to_string());
    record.policy = Some(match (client.as_str(), server.as_str()) {
        (WEB, API) => PolicyVerdict::Allowed,
        (_, API) => PolicyVerdict::Denied,
        _ => PolicyVerdict::Unrestricted,
    });
    record.policy_by = (server == API).then(|| "shop/api-from-web".to_owned());
}

/// What the last hour adds: the flood, the jump and the new edge.
fn planted() -> Vec<NetworkUsage> {
    vec![
        Minute {
            at: END - 20 * 60,
            client: (REPORT, workload("batch", OwnerKind::CronJob, "report")),
            server: (DNS, kube_dns(), 53, Transport::Udp),
            bytes: 200_000,
            messages: 5_000,
        }
        .record(),
        Minute {
            at: END - 10 * 60,
            client: (API, workload("shop", OwnerKind::Deployment, "api")),
            server: (
                PARTNER,
                external("partner.example.com"),
                443,
                Transport::Tcp,
            ),
            bytes: 200 * MIB,
            messages: 900,
        }
        .record(),
        Minute {
            at: END - 30 * 60,
            client: (WEB, workload("shop", OwnerKind::Deployment, "web")),
            server: (
                LEDGER,
                workload("payments", OwnerKind::Deployment, "ledger"),
                8443,
                Transport::Tcp,
            ),
            bytes: 4_000,
            messages: 4,
        }
        .record(),
    ]
}

/// A flag as compared: kind, source, target, minute (s), value, baseline.
type Flag<'a> = (AnomalyKind, &'a str, Option<&'a str>, i64, f64, f64);

fn last_hour() -> Scope<'static> {
    Scope::all(TimeRange::new((END - HOUR) * 1_000_000, END * 1_000_000).unwrap())
}

#[tokio::test]
async fn the_planted_anomalies_are_found_and_nothing_else() {
    let dir = scratch("anomalies");
    let mut records = steady(8 * 24 + 1);
    records.extend(planted());
    write_records(&dir, records).await;
    let context = open(&dir).unwrap();
    let found = anomalies(&context, last_hour(), None, &[], Thresholds::default())
        .await
        .unwrap();
    let flags: Vec<Flag> = found
        .anomalies
        .iter()
        .map(|a| {
            (
                a.kind,
                a.source.as_str(),
                a.target.as_deref(),
                a.at / 1_000_000,
                a.value,
                a.baseline,
            )
        })
        .collect();
    assert_eq!(
        flags,
        vec![
            (
                AnomalyKind::ExcessiveExternal,
                "w|shop|Deployment|api",
                None,
                END - 10 * 60,
                (200 * MIB) as f64,
                MIB as f64
            ),
            (
                AnomalyKind::ExcessiveDns,
                "w|batch|CronJob|report",
                None,
                END - 20 * 60,
                5_000.0,
                10.0
            ),
            (
                AnomalyKind::NewEdge,
                "w|shop|Deployment|web",
                Some("w|payments|Deployment|ledger"),
                END - 30 * 60,
                4_000.0,
                0.0
            ),
            (
                AnomalyKind::DeniedByPolicy,
                "w|batch|CronJob|report",
                Some("w|shop|Deployment|api"),
                END - HOUR + 120,
                3_000.0,
                0.0
            ),
        ],
        "exactly the planted four, most recent first"
    );
    let edge = &found.anomalies[2];
    assert_eq!(
        (edge.port, edge.transport.as_deref()),
        (Some(8443), Some("tcp"))
    );
    let denied = &found.anomalies[3];
    assert_eq!(
        (denied.port, denied.policies.as_deref()),
        (Some(8080), Some("shop/api-from-web")),
        "the denied edge names the policy that refuses it"
    );

    // Each flag's clause selects its own records.
    for anomaly in &found.anomalies {
        let clause = anomaly.select.as_deref().expect("a clause");
        let selected = map(&context, View::Logical, last_hour(), Some(clause), 0, 100)
            .await
            .unwrap();
        assert!(
            selected.edges.iter().all(|e| e.source == anomaly.source),
            "{clause}: {:?}",
            selected.edges
        );
        let bytes: u64 = selected.edges.iter().map(|e| e.bytes).sum();
        match anomaly.kind {
            AnomalyKind::NewEdge => assert_eq!(bytes, 4_000, "{clause}"),
            // The flood's minute and the steady minute of the range's hour.
            AnomalyKind::ExcessiveDns => assert_eq!(bytes, 200_000 + 400, "{clause}"),
            AnomalyKind::ExcessiveExternal => assert_eq!(bytes, 201 * MIB, "{clause}"),
            AnomalyKind::DeniedByPolicy => assert_eq!(bytes, 3_000, "{clause}"),
        }
    }

    // One kind at a time, and thresholds that move the flags.
    let only_dns = anomalies(
        &context,
        last_hour(),
        None,
        &[AnomalyKind::ExcessiveDns],
        Thresholds::default(),
    )
    .await
    .unwrap();
    assert_eq!(only_dns.anomalies.len(), 1);
    let strict = Thresholds {
        dns_floor: 10,
        dns_factor: 1.5,
        ..Thresholds::default()
    };
    let more = anomalies(
        &context,
        last_hour(),
        None,
        &[AnomalyKind::ExcessiveDns],
        strict,
    )
    .await
    .unwrap();
    let sources: Vec<&str> = more.anomalies.iter().map(|a| a.source.as_str()).collect();
    assert_eq!(
        sources,
        vec!["w|batch|CronJob|report"],
        "web's 20 a minute is its own median: not excessive at any factor"
    );
    let lenient = Thresholds {
        dns_factor: 1_000.0,
        ..Thresholds::default()
    };
    let none = anomalies(
        &context,
        last_hour(),
        None,
        &[AnomalyKind::ExcessiveDns],
        lenient,
    )
    .await
    .unwrap();
    assert!(none.anomalies.is_empty(), "5,000 is not 1,000 × 10");

    // A filter narrows what is compared: the batch namespace's clients made no new edge.
    let filtered = anomalies(
        &context,
        last_hour(),
        Some("src.namespace = batch"),
        &[],
        Thresholds::default(),
    )
    .await
    .unwrap();
    let kinds: Vec<AnomalyKind> = filtered.anomalies.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        vec![AnomalyKind::ExcessiveDns, AnomalyKind::DeniedByPolicy]
    );
}

#[tokio::test]
async fn a_lake_younger_than_its_baseline_flags_no_new_edge() {
    let dir = scratch("anomalies-young");
    let mut records = steady(3);
    records.extend(planted());
    write_records(&dir, records).await;
    let context = open(&dir).unwrap();
    let found = anomalies(
        &context,
        last_hour(),
        None,
        &[AnomalyKind::NewEdge],
        Thresholds::default(),
    )
    .await
    .unwrap();
    assert!(
        found.anomalies.is_empty(),
        "three hours of history say nothing about a week: {:?}",
        found.anomalies
    );
    let short = Thresholds {
        baseline: std::time::Duration::from_secs(2 * 3_600),
        ..Thresholds::default()
    };
    let found = anomalies(&context, last_hour(), None, &[AnomalyKind::NewEdge], short)
        .await
        .unwrap();
    let targets: Vec<Option<&str>> = found
        .anomalies
        .iter()
        .map(|a| a.target.as_deref())
        .collect();
    assert_eq!(
        targets,
        vec![Some("w|payments|Deployment|ledger")],
        "with a two-hour baseline, the ledger edge is new"
    );
}

#[tokio::test]
async fn thresholds_out_of_bounds_are_refused() {
    let dir = scratch("anomalies-bounds");
    let context = open(&dir).unwrap();
    for thresholds in [
        Thresholds {
            baseline: std::time::Duration::from_secs(40 * 86_400),
            ..Thresholds::default()
        },
        Thresholds {
            dns_factor: 0.5,
            ..Thresholds::default()
        },
        Thresholds {
            external_floor: 0,
            ..Thresholds::default()
        },
        Thresholds {
            dns_factor: f64::NAN,
            ..Thresholds::default()
        },
    ] {
        assert!(
            anomalies(&context, last_hour(), None, &[], thresholds)
                .await
                .is_err(),
            "{thresholds:?}"
        );
    }
}

/// Usage files written before the policy columns (schema version 2) read them as null beside new
/// ones: their rows count on the map, and are never flagged as denied.
#[tokio::test]
async fn usage_files_from_before_the_policy_columns_still_read() {
    let dir = scratch("policy-v2");
    write_records(&dir, steady(1)).await;
    let hour = dir.join("network_usage/cluster=default/date=2026-11-21/hour=05");
    let old = hour.join("node-9-1-1795237320000-000001.parquet");
    duckdb(
        &dir,
        &[&format!(
            "COPY (SELECT * EXCLUDE (policy, policy_by, cluster, date, hour) \
             REPLACE ('node-9' AS reporter) FROM network_usage) TO '{}' (FORMAT parquet)",
            old.display()
        )],
    );
    assert!(old.is_file());
    let context = open(&dir).unwrap();
    let logical = map(&context, View::Logical, last_hour(), None, 0, 100)
        .await
        .unwrap();
    let report_to_api = logical
        .edges
        .iter()
        .find(|e| e.source == "w|batch|CronJob|report" && e.target == "w|shop|Deployment|api")
        .expect("report → api");
    assert_eq!(report_to_api.bytes, 2 * 3_000, "both files' rows count");
    let found = anomalies(
        &context,
        last_hour(),
        None,
        &[AnomalyKind::DeniedByPolicy],
        Thresholds::default(),
    )
    .await
    .unwrap();
    let values: Vec<f64> = found.anomalies.iter().map(|a| a.value).collect();
    assert_eq!(values, vec![3_000.0], "only the judged rows are denied");
}
