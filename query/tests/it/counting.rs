//! The counted-once rule: a conversation two agents reported (a cross-node one: the client's
//! node saw the client, the server's node the server) counts once, by the client's report, in
//! every answer; a report of only the server counts when its client is external; every report
//! stays readable in `network_usage_reports`.

use spider_collector::records::{
    EndpointClass, EndpointMeta, NetworkUsage, ObservedEnds, OwnerKind, RecordKind, Timestamp,
    Transport,
};
use spider_query::details::details;
use spider_query::grid::{GridRequest, grid};
use spider_query::map::{View, map};
use spider_query::range::{Scope, TimeRange};
use spider_query::stats::{Measure, stats};
use spider_query::timeline::timeline;
use spider_query::{fields, open, sql};

use crate::support::{cells, scratch, write_records};

const MINUTE: i64 = 1_795_240_800;

fn pod(namespace: &str, name: &str, node: &str) -> EndpointMeta {
    EndpointMeta {
        namespace: Some(namespace.into()),
        pod: Some(format!("{name}-0")),
        node: Some(node.into()),
        owner_kind: Some(OwnerKind::Deployment),
        owner_name: Some(name.into()),
        class: EndpointClass::Pod,
        dns_name: None,
    }
}

fn report(
    reporter: &str,
    observed: ObservedEnds,
    client: EndpointMeta,
    bytes: u64,
) -> NetworkUsage {
    NetworkUsage {
        bucket_start: Timestamp::from_secs(MINUTE),
        reporter: reporter.into(),
        client_ip: if client.class == EndpointClass::External {
            "203.0.113.9".parse().unwrap()
        } else {
            "10.244.1.5".parse().unwrap()
        },
        server_ip: "10.244.2.7".parse().unwrap(),
        server_port: 8080,
        transport: Transport::Tcp,
        observed: Some(observed),
        bytes_to_server: bytes,
        bytes_to_client: 2 * bytes,
        messages_to_server: 3,
        messages_to_client: 4,
        client,
        server: pod("shop", "api", "node-b"),
        ..NetworkUsage::default()
    }
}

#[tokio::test]
async fn a_cross_node_conversation_counts_once_everywhere_and_external_clients_count() {
    let dir = scratch("counting");
    let web = pod("shop", "web", "node-a");
    let outside = EndpointMeta {
        class: EndpointClass::External,
        ..EndpointMeta::default()
    };
    write_records(
        &dir,
        vec![
            report("node-a", ObservedEnds::Client, web.clone(), 1000),
            report("node-b", ObservedEnds::Server, web, 1000),
            report("node-b", ObservedEnds::Server, outside, 10),
        ],
    )
    .await;
    let context = open(&dir).unwrap();
    let range = Scope::all(TimeRange::new(MINUTE * 1_000_000, (MINUTE + 60) * 1_000_000).unwrap());

    let answer = map(&context, View::Logical, range, None, 0, 100)
        .await
        .unwrap();
    let edge = |source: &str| {
        answer
            .edges
            .iter()
            .find(|e| e.source == source)
            .map(|e| (e.bytes_to_server, e.bytes_to_client, e.messages))
    };
    assert_eq!(edge("w|shop|Deployment|web"), Some((1000, 2000, 7)));
    assert_eq!(edge("e|203.0.113.9"), Some((10, 20, 7)));

    let bars = timeline(&context, range, None, Some(60))
        .await
        .unwrap()
        .bars;
    assert_eq!(bars.iter().map(|b| b.bytes).sum::<u64>(), 3030);
    let by_client = stats(
        &context,
        fields::Dataset::of(RecordKind::NetworkUsage),
        range,
        None,
        "src.class",
        Measure::Bytes,
        10,
    )
    .await
    .unwrap();
    assert_eq!(by_client.total, Some(3030));
    let request = GridRequest {
        sort: None,
        ascending: false,
        limit: 100,
        cursor: None,
    };
    let rows = grid(
        &context,
        "network_usage",
        "bucket_start",
        fields::USAGE,
        range,
        None,
        request,
    )
    .await
    .unwrap()
    .rows;
    assert_eq!(
        rows.len(),
        2,
        "the server's report of a pod client is not a row"
    );
    let api = details(&context, "w|shop|Deployment|api", range, None, 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(api.volume.bytes, 3030);

    let reports = sql::read_only(
        &context,
        "SELECT reporter, observed, count(*) FROM network_usage_reports GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .await
    .unwrap();
    assert_eq!(
        cells(&reports),
        [["node-a", "client", "1"], ["node-b", "server", "2"]]
    );
}
