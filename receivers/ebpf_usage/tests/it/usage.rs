//! Known TCP and UDP traffic, IPv4 and IPv6, between two namespaces: the usage records must carry
//! exactly its bytes and messages with the right client and server, and split at the minute.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use spider_collector::records::{Batch, NetworkUsage, Signal, Timestamp, Transport};
use spider_collector::telemetry::ComponentTelemetry;
use spider_collector::{CreateContext, Factory, Output, Receiver, conformance};
use spider_receiver_ebpf_usage::{EBPF_USAGE_RECEIVER, EbpfUsageConfig};
use tokio::sync::mpsc;

use crate::netns::privileged;
use spider_testkit::netns::{Pair, finished};

fn receiver() -> (Box<dyn Receiver>, ComponentTelemetry) {
    let telemetry = ComponentTelemetry::detached(&[("receiver", "ebpf_usage")]);
    let context = CreateContext {
        id: "ebpf_usage".parse().unwrap(),
        pipeline: None,
        telemetry: telemetry.clone(),
        // The reporter comes from the collector's node when the config names none.
        node: "test-node".into(),
        cluster: spider_collector::DEFAULT_CLUSTER.into(),
    };
    let config = EbpfUsageConfig {
        read_interval: spider_collector::config::GoDuration::from_millis(100),
        ..EbpfUsageConfig::default()
    };
    (
        EBPF_USAGE_RECEIVER.create(config, context).unwrap(),
        telemetry,
    )
}

/// Every record received, keeping only those between the test's own addresses.
async fn collect(mut records: mpsc::Receiver<Batch>, ours: &[IpAddr]) -> Vec<NetworkUsage> {
    let mut kept = Vec::new();
    while let Some(batch) = records.recv().await {
        let Batch::Usage(rows) = batch else { continue };
        kept.extend(
            rows.into_iter()
                .filter(|r| ours.contains(&r.client_ip) && ours.contains(&r.server_ip)),
        );
    }
    kept
}

/// Records summed over buckets per (client, server, port, transport).
fn totals(records: &[NetworkUsage]) -> BTreeMap<(IpAddr, IpAddr, u16, Transport), [u64; 6]> {
    let mut sums: BTreeMap<_, [u64; 6]> = BTreeMap::new();
    for r in records {
        let sum = sums
            .entry((r.client_ip, r.server_ip, r.server_port, r.transport))
            .or_default();
        let values = [
            r.bytes_to_server,
            r.messages_to_server,
            r.bytes_to_client,
            r.messages_to_client,
            r.packets_to_server,
            r.packets_to_client,
        ];
        for (total, value) in sum.iter_mut().zip(values) {
            *total += value;
        }
    }
    sums
}

#[tokio::test]
async fn lifecycle_and_config_conform() {
    let Some(_turn) = privileged().await else {
        return;
    };
    conformance::check_component(EBPF_USAGE_RECEIVER, EbpfUsageConfig::default()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn known_tcp_and_udp_traffic_is_counted_exactly_both_ways_v4_and_v6() {
    let Some(_turn) = privileged().await else {
        return;
    };
    let pair = Pair::create();
    let (mut usage, telemetry) = receiver();
    let (output, records) = Output::channel(&[Signal::Usage], 10_000);
    usage.start(output).await.unwrap();
    assert_eq!(
        telemetry.registry().value("spider_ebpf_attached", &[]),
        1.0,
        "programs attached"
    );

    let (a, b) = (&pair.a, &pair.b);
    let (b4, b6) = (pair.b4.to_string(), pair.b6.to_string());
    let server = pair.serve(b, &["tcp-server", &b4, "9000", "3", "2500", "7000"]);
    pair.client(a, &["tcp-client", &b4, "9000", "7", "1000", "7500"]);
    finished(server);
    let server = pair.serve(b, &["udp-server", &b4, "9001", "5", "120"]);
    pair.client(a, &["udp-client", &b4, "9001", "5", "300"]);
    finished(server);
    let server = pair.serve(b, &["tcp-server", &b6, "9002", "2", "4000", "6000"]);
    pair.client(a, &["tcp-client", &b6, "9002", "4", "1500", "8000"]);
    finished(server);
    let server = pair.serve(b, &["udp-server", &b6, "9003", "6", "50"]);
    pair.client(a, &["udp-client", &b6, "9003", "6", "200"]);
    finished(server);
    tokio::time::sleep(Duration::from_millis(300)).await;
    usage.shutdown().await.unwrap();
    drop(usage);

    let records = collect(records, &[pair.a4, pair.b4, pair.a6, pair.b6]).await;
    assert!(records.iter().all(|r| r.reporter == "test-node"));
    let totals = totals(&records);
    let expected = [
        ((pair.a4, pair.b4, 9000, Transport::Tcp), [7000, 7, 7500, 3]),
        ((pair.a4, pair.b4, 9001, Transport::Udp), [1500, 5, 600, 5]),
        ((pair.a6, pair.b6, 9002, Transport::Tcp), [6000, 4, 8000, 2]),
        ((pair.a6, pair.b6, 9003, Transport::Udp), [1200, 6, 300, 6]),
    ];
    assert_eq!(
        totals.len(),
        expected.len(),
        "exactly one client→server flow per exchange, never both ways: {totals:#?}"
    );
    for (key, [bytes_up, messages_up, bytes_down, messages_down]) in expected {
        let sums = totals
            .get(&key)
            .unwrap_or_else(|| panic!("no record for {key:?} in {totals:#?}"));
        assert_eq!(
            sums[..4],
            [bytes_up, messages_up, bytes_down, messages_down],
            "{key:?}"
        );
        assert!(sums[4] > 0 && sums[5] > 0, "{key:?}: packets both ways");
        if key.3 == Transport::Udp {
            assert_eq!(
                [sums[4], sums[5]],
                [messages_up, messages_down],
                "{key:?}: one packet per datagram"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn buckets_split_at_the_minute_and_sum_to_the_totals() {
    let Some(_turn) = privileged().await else {
        return;
    };
    // Start 3 s before a minute boundary; 10 messages 0.6 s apart cross it.
    let now = Timestamp::now();
    let into_minute = now.micros_since(now.minute_start());
    let wait = (57_000_000 - into_minute).rem_euclid(60_000_000);
    tokio::time::sleep(Duration::from_micros(wait as u64)).await;

    let pair = Pair::create();
    let (mut usage, _) = receiver();
    let (output, records) = Output::channel(&[Signal::Usage], 10_000);
    usage.start(output).await.unwrap();
    let server = pair.serve(
        &pair.b,
        &[
            "tcp-server",
            &pair.b4.to_string(),
            "9100",
            "1",
            "10",
            "1230",
        ],
    );
    pair.client(
        &pair.a,
        &[
            "tcp-client",
            &pair.b4.to_string(),
            "9100",
            "10",
            "123",
            "10",
            "0.6",
        ],
    );
    finished(server);
    usage.shutdown().await.unwrap();
    drop(usage);

    let records = collect(records, &[pair.a4, pair.b4]).await;
    let buckets: Vec<(Timestamp, u64, u64)> = records
        .iter()
        .map(|r| (r.bucket_start, r.messages_to_server, r.bytes_to_server))
        .collect();
    assert_eq!(buckets.len(), 2, "one record per minute: {buckets:?}");
    assert_eq!(
        buckets[1].0.micros_since(buckets[0].0),
        60_000_000,
        "consecutive minutes: {buckets:?}"
    );
    assert!(
        buckets.iter().all(|(_, messages, _)| *messages > 0),
        "both minutes saw messages: {buckets:?}"
    );
    assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 10);
    assert_eq!(buckets.iter().map(|b| b.2).sum::<u64>(), 1230);
}
