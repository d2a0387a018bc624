//! Map, timeline, grid, stats and filters over generated usage, each against DuckDB running the
//! equivalent SQL on the same files.

use spider_collector::records::RecordKind;
use spider_query::details::details;
use spider_query::grid::{GridRequest, grid};
use spider_query::map::{View, map};
use spider_query::range::{Scope, TimeRange};
use spider_query::stats::{Measure, stats};
use spider_query::timeline::timeline;
use spider_query::{QueryError, fields, open};

use crate::support::{duckdb, scratch, write_batches, write_usage};

/// The three hours `write_usage` covers: 2026-11-21T06:00Z to 09:00Z, in every cluster.
fn whole() -> Scope<'static> {
    Scope::all(
        TimeRange::new(
            1_795_240_800_000_000,
            1_795_240_800_000_000 + 3 * 3_600_000_000,
        )
        .unwrap(),
    )
}

/// The logical-view leaf of one end, as DuckDB SQL (the same rules as the map's).
fn leaf(end: &str) -> String {
    format!(
        "CASE {end}_class \
           WHEN 'pod' THEN concat('w|', coalesce({end}_namespace, ''), '|', coalesce({end}_owner_kind, 'Pod'), '|', coalesce({end}_owner_name, {end}_pod, {end}_ip)) \
           WHEN 'service' THEN concat('s|', coalesce({end}_namespace, ''), '|', coalesce({end}_owner_name, {end}_ip)) \
           WHEN 'node' THEN concat('n|', coalesce({end}_node, {end}_ip)) \
           WHEN 'external' THEN concat('e|', coalesce({end}_dns_name, {end}_ip)) \
           ELSE concat('u|', {end}_ip) END"
    )
}

#[tokio::test]
async fn map_edges_and_nodes_match_duckdb_and_page_through() {
    let dir = scratch("map");
    write_usage(&dir, 4000).await;
    let context = open(&dir).unwrap();
    let filter = "namespace = shop or dst.class = external";
    let answer = map(&context, View::Logical, whole(), Some(filter), 0, 1000)
        .await
        .unwrap();
    let sql = format!(
        "SELECT {}, {}, sum(bytes_to_server + bytes_to_client) AS b, sum(messages_to_server + messages_to_client) \
         FROM network_usage WHERE client_namespace = 'shop' OR server_namespace = 'shop' OR server_class = 'external' \
         GROUP BY 1, 2 ORDER BY b DESC, 1, 2",
        leaf("client"),
        leaf("server")
    );
    let expected = duckdb(&dir, &[&sql]).remove(0);
    let ours: Vec<Vec<String>> = answer
        .edges
        .iter()
        .map(|e| {
            vec![
                e.source.clone(),
                e.target.clone(),
                e.bytes.to_string(),
                e.messages.to_string(),
            ]
        })
        .collect();
    assert_eq!(ours, expected);
    assert_eq!(answer.total_edges, expected.len());
    assert!(
        answer.edges.iter().any(|e| e.target == "e|api.example.com"),
        "external ends are named"
    );

    let node = |id: &str| {
        answer
            .nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    };
    let shop = node("ns|shop");
    assert_eq!(
        (shop.kind.as_str(), shop.parent.as_deref()),
        ("Namespace", None)
    );
    let app = node("w|shop|Deployment|app-0");
    assert_eq!(
        (app.label.as_str(), app.kind.as_str(), app.parent.as_deref()),
        ("app-0", "Deployment", Some("ns|shop"))
    );
    assert_eq!(
        node("e|api.example.com").parent.as_deref(),
        Some("g|external")
    );
    let leaf_bytes: u64 = answer
        .nodes
        .iter()
        .filter(|n| n.parent.as_deref() == Some("ns|shop"))
        .map(|n| n.bytes)
        .sum();
    assert_eq!(shop.bytes, leaf_bytes, "a compound sums its leaves");

    let first = map(&context, View::Logical, whole(), Some(filter), 0, 3)
        .await
        .unwrap();
    let second = map(&context, View::Logical, whole(), Some(filter), 3, 3)
        .await
        .unwrap();
    assert_eq!(first.edges, answer.edges[..3]);
    assert_eq!(second.edges, answer.edges[3..6]);
    assert_eq!(first.rest.edges, answer.total_edges - 3);
    assert_eq!(
        first.rest.bytes,
        answer.edges[3..].iter().map(|e| e.bytes).sum::<u64>(),
        "the rest is summarised"
    );

    let physical = map(&context, View::Physical, whole(), None, 0, 1000)
        .await
        .unwrap();
    let pod = physical
        .nodes
        .iter()
        .find(|n| n.id == "p|node-0|shop|app-0-0")
        .expect("a pod leaf");
    assert_eq!(pod.parent.as_deref(), Some("pn|node-0|shop"));
    let namespace_in_node = physical
        .nodes
        .iter()
        .find(|n| n.id == "pn|node-0|shop")
        .unwrap();
    assert_eq!(namespace_in_node.parent.as_deref(), Some("node|node-0"));
}

/// The map's edges as (source, target, bytes), sorted.
fn edge_set(answer: &spider_query::map::MapAnswer) -> Vec<(String, String, u64)> {
    let mut edges: Vec<_> = answer
        .edges
        .iter()
        .map(|e| (e.source.clone(), e.target.clone(), e.bytes))
        .collect();
    edges.sort();
    edges
}

#[tokio::test]
async fn every_node_and_edge_carries_the_filter_that_selects_exactly_it() {
    let dir = scratch("map-select");
    write_usage(&dir, 4000).await;
    let context = open(&dir).unwrap();
    for view in [View::Logical, View::Physical] {
        let all = map(&context, view, whole(), None, 0, 10_000).await.unwrap();
        assert_eq!(
            all.edges.len(),
            all.total_edges,
            "{view:?}: one page holds all"
        );
        let parent: std::collections::HashMap<&str, Option<&str>> = all
            .nodes
            .iter()
            .map(|n| (n.id.as_str(), n.parent.as_deref()))
            .collect();
        // A leaf is inside a node when the node is the leaf or one of its compounds.
        let inside = |leaf: &str, node: &str| {
            let mut at = Some(leaf);
            while let Some(id) = at {
                if id == node {
                    return true;
                }
                at = parent.get(id).copied().flatten();
            }
            false
        };
        for edge in all.edges.iter().take(25) {
            let clause = edge
                .select
                .as_deref()
                .expect("every edge of usage has a clause");
            let selected = map(&context, view, whole(), Some(clause), 0, 10_000)
                .await
                .unwrap();
            assert_eq!(
                edge_set(&selected),
                vec![(edge.source.clone(), edge.target.clone(), edge.bytes)],
                "{view:?} {clause}"
            );
        }
        let mut checked = 0;
        for node in &all.nodes {
            let Some(select) = &node.select else {
                panic!("{view:?}: {} has no clause", node.id);
            };
            for (clause, client) in [
                (&select.src, true),
                (&select.dst, false),
                (&select.any, true),
            ] {
                let selected = map(&context, view, whole(), Some(clause), 0, 10_000)
                    .await
                    .unwrap_or_else(|e| panic!("{clause}: {e}"));
                let mut expected: Vec<_> = all
                    .edges
                    .iter()
                    .filter(|e| {
                        let (from, to) = (inside(&e.source, &node.id), inside(&e.target, &node.id));
                        if clause == &select.any {
                            from || to
                        } else if client {
                            from
                        } else {
                            to
                        }
                    })
                    .map(|e| (e.source.clone(), e.target.clone(), e.bytes))
                    .collect();
                expected.sort();
                assert_eq!(
                    edge_set(&selected),
                    expected,
                    "{view:?} {}: {clause}",
                    node.id
                );
            }
            checked += 1;
        }
        assert!(checked >= 10, "{view:?}: {checked} nodes");
    }
}

#[tokio::test]
async fn workload_details_match_duckdb() {
    let dir = scratch("details");
    write_usage(&dir, 3000).await;
    let context = open(&dir).unwrap();
    let bytes = "(bytes_to_server + bytes_to_client)";
    let (client, server) = (leaf("client"), leaf("server"));
    for id in ["w|payments|StatefulSet|db", "w|shop|Deployment|app-1"] {
        let ours = details(&context, id, whole(), None, 1000)
            .await
            .unwrap()
            .expect("traffic in range");
        let mine = format!("({client} = '{id}' OR {server} = '{id}')");
        let expected = duckdb(
            &dir,
            &[
                &format!("SELECT sum({bytes}) FROM network_usage WHERE {mine}"),
                &format!(
                    "SELECT {client}, sum({bytes}) AS b FROM network_usage WHERE {server} = '{id}' \
                     GROUP BY 1 ORDER BY b DESC, 1"
                ),
                &format!(
                    "SELECT {server}, sum({bytes}) AS b FROM network_usage WHERE {client} = '{id}' \
                     GROUP BY 1 ORDER BY b DESC, 1"
                ),
                &format!(
                    "SELECT p, n, sum(b) AS b FROM ( \
                       SELECT client_pod p, client_node n, {bytes} b FROM network_usage WHERE {client} = '{id}' \
                       UNION ALL \
                       SELECT server_pod, server_node, {bytes} FROM network_usage WHERE {server} = '{id}') \
                     GROUP BY 1, 2 ORDER BY b DESC, 1"
                ),
                &format!(
                    "SELECT server_port, transport, sum({bytes}) AS b FROM network_usage \
                     WHERE {server} = '{id}' GROUP BY 1, 2 ORDER BY b DESC, 1, 2"
                ),
                &format!(
                    "SELECT server_port, transport, sum({bytes}) AS b FROM network_usage \
                     WHERE {client} = '{id}' GROUP BY 1, 2 ORDER BY b DESC, 1, 2"
                ),
            ],
        );
        assert_eq!(ours.volume.bytes.to_string(), expected[0][0][0], "{id}");
        let peers = |peers: &[spider_query::details::Peer]| -> Vec<Vec<String>> {
            peers
                .iter()
                .map(|p| vec![p.id.clone(), p.volume.bytes.to_string()])
                .collect()
        };
        assert_eq!(peers(&ours.clients), expected[1], "{id} clients");
        assert_eq!(peers(&ours.servers), expected[2], "{id} servers");
        let pods: Vec<Vec<String>> = ours
            .pods
            .iter()
            .map(|p| {
                let text = |v: &Option<String>| v.clone().unwrap_or_else(|| "NULL".into());
                vec![text(&p.pod), text(&p.node), p.volume.bytes.to_string()]
            })
            .collect();
        assert_eq!(pods, expected[3], "{id} pods");
        let ports = |ports: &[spider_query::details::PortVolume]| -> Vec<Vec<String>> {
            ports
                .iter()
                .map(|p| {
                    vec![
                        p.port.to_string(),
                        p.transport.clone(),
                        p.volume.bytes.to_string(),
                    ]
                })
                .collect()
        };
        assert_eq!(ports(&ours.ports_served), expected[4], "{id} ports served");
        assert_eq!(ports(&ours.ports_used), expected[5], "{id} ports used");
        let over_time: u64 = ours.timeline.bars.iter().map(|bar| bar.bytes).sum();
        assert_eq!(
            over_time, ours.volume.bytes,
            "{id}: the timeline holds it all"
        );
    }
    let db = details(&context, "w|payments|StatefulSet|db", whole(), None, 1000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (db.label.as_str(), db.kind.as_str(), db.parent.as_deref()),
        ("db", "StatefulSet", Some("ns|payments"))
    );
    let mut served: Vec<(u16, &str)> = db
        .ports_served
        .iter()
        .map(|p| (p.port, p.transport.as_str()))
        .collect();
    served.sort();
    assert_eq!(served, [(80, "tcp"), (443, "tcp"), (5432, "tcp")]);
    assert!(
        db.servers.is_empty() && db.ports_used.is_empty(),
        "db only serves"
    );
    let nothing = details(&context, "w|nowhere|Deployment|x", whole(), None, 10).await;
    assert!(matches!(nothing, Ok(None)));
}

#[tokio::test]
async fn timeline_bars_match_duckdb_buckets() {
    let dir = scratch("timeline");
    write_usage(&dir, 3000).await;
    let context = open(&dir).unwrap();
    let answer = timeline(&context, whole(), Some("port = 443"), None)
        .await
        .unwrap();
    assert_eq!(answer.step_seconds, 300, "3 hours → 5-minute bars");
    assert_eq!(answer.bars.len(), 36);
    let expected = duckdb(
        &dir,
        &["SELECT epoch_us(time_bucket(INTERVAL 300 SECONDS, bucket_start)) AS t, sum(bytes_to_server + bytes_to_client), sum(messages_to_server + messages_to_client) \
           FROM network_usage WHERE server_port = 443 GROUP BY 1 ORDER BY 1"],
    )
    .remove(0);
    let ours: Vec<Vec<String>> = answer
        .bars
        .iter()
        .filter(|bar| bar.messages > 0)
        .map(|bar| {
            vec![
                bar.time.to_string(),
                bar.bytes.to_string(),
                bar.messages.to_string(),
            ]
        })
        .collect();
    assert_eq!(ours, expected);
    let refused = timeline(&context, whole(), None, Some(7))
        .await
        .unwrap_err();
    assert!(matches!(refused, QueryError::Refused(_)));
}

#[tokio::test]
async fn grid_pages_follow_each_other_in_duckdb_order() {
    let dir = scratch("grid");
    write_usage(&dir, 700).await;
    let context = open(&dir).unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let request = GridRequest {
            sort: Some("bytes_to_server"),
            ascending: false,
            limit: 64,
            cursor: cursor.as_deref(),
        };
        let page = grid(
            &context,
            "network_usage",
            "bucket_start",
            fields::USAGE,
            whole(),
            Some("transport = tcp"),
            request,
        )
        .await
        .unwrap();
        seen.extend(
            page.rows
                .iter()
                .map(|row| row["bytes_to_server"].to_string()),
        );
        assert!(page.rows.len() <= 64);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = duckdb(&dir, &["SELECT bytes_to_server FROM network_usage WHERE transport = 'tcp' ORDER BY bytes_to_server DESC"])
        .remove(0)
        .into_iter()
        .map(|row| row[0].clone())
        .collect();
    assert_eq!(seen, expected);
    let bad_sort = GridRequest {
        sort: Some("nope"),
        ascending: true,
        limit: 10,
        cursor: None,
    };
    assert!(matches!(
        grid(
            &context,
            "network_usage",
            "bucket_start",
            fields::USAGE,
            whole(),
            None,
            bad_sort
        )
        .await,
        Err(QueryError::Refused(_))
    ));
    let bad_cursor = GridRequest {
        sort: None,
        ascending: true,
        limit: 10,
        cursor: Some("x"),
    };
    assert!(matches!(
        grid(
            &context,
            "network_usage",
            "bucket_start",
            fields::USAGE,
            whole(),
            None,
            bad_cursor
        )
        .await,
        Err(QueryError::Refused(_))
    ));
}

#[tokio::test]
async fn stats_top_groups_match_duckdb() {
    let dir = scratch("stats");
    write_usage(&dir, 2000).await;
    let context = open(&dir).unwrap();
    for (group, column, measure, sql_measure) in [
        (
            "src.workload",
            "client_owner_name",
            Measure::Bytes,
            "sum(bytes_to_server + bytes_to_client)",
        ),
        (
            "port",
            "server_port",
            Measure::Messages,
            "sum(messages_to_server + messages_to_client)",
        ),
        (
            "dst.namespace",
            "server_namespace",
            Measure::Records,
            "count(*)",
        ),
    ] {
        let answer = stats(
            &context,
            fields::Dataset::of(RecordKind::NetworkUsage),
            whole(),
            None,
            group,
            measure,
            3,
        )
        .await
        .unwrap();
        let sql = format!(
            "SELECT {column}, {sql_measure} AS v FROM network_usage GROUP BY 1 ORDER BY v DESC, 1 NULLS FIRST LIMIT 3"
        );
        let expected = duckdb(&dir, &[&sql]).remove(0);
        let ours: Vec<Vec<String>> = answer
            .groups
            .iter()
            .map(|g| {
                vec![
                    g.key.clone().unwrap_or_else(|| "NULL".into()),
                    g.value.unwrap().to_string(),
                ]
            })
            .collect();
        assert_eq!(ours, expected, "{group}");
    }
    let either = stats(
        &context,
        fields::Dataset::of(RecordKind::NetworkUsage),
        whole(),
        None,
        "namespace",
        Measure::Bytes,
        3,
    )
    .await
    .unwrap_err();
    assert!(
        either
            .to_string()
            .contains("group by src.namespace or dst.namespace"),
        "{either}"
    );
}

#[tokio::test]
async fn filters_select_what_the_equivalent_sql_selects() {
    let dir = scratch("filters");
    write_usage(&dir, 2000).await;
    let context = open(&dir).unwrap();
    let cases = [
        ("src.namespace = shop", "client_namespace = 'shop'"),
        ("scope = internal", "client_namespace = server_namespace"),
        ("scope = cross", "client_namespace <> server_namespace"),
        (
            "port in (80, 443) and not transport = udp",
            "server_port IN (80, 443) AND NOT transport = 'udp'",
        ),
        (
            "ip = 10.244.1.0/30",
            "client_ip IN ('10.244.1.0','10.244.1.1','10.244.1.2','10.244.1.3') OR server_ip IN ('10.244.1.0','10.244.1.1','10.244.1.2','10.244.1.3')",
        ),
        ("dst.name ~ EXAMPLE", "server_dns_name ILIKE '%example%'"),
        // How a map clause says "no name": an address the map shows in its stead.
        ("not dst.name ~ \"\"", "server_dns_name IS NULL"),
        (
            "namespace != payments",
            "(client_namespace IS NULL OR client_namespace <> 'payments') AND (server_namespace IS NULL OR server_namespace <> 'payments')",
        ),
        (
            "bytes >= 15000 or messages = 2",
            "bytes_to_server + bytes_to_client >= 15000 OR messages_to_server + messages_to_client = 2",
        ),
        (
            "dst.workload not in (db, kube-dns)",
            "server_owner_name IS NULL OR server_owner_name NOT IN ('db', 'kube-dns')",
        ),
        (
            "not dst.workload = db and ip != 10.244.1.1",
            "(server_owner_name IS NULL OR server_owner_name <> 'db') AND client_ip <> '10.244.1.1' AND server_ip <> '10.244.1.1'",
        ),
        (
            "dst.ip != 10.244.1.0/30",
            "server_ip NOT IN ('10.244.1.0','10.244.1.1','10.244.1.2','10.244.1.3')",
        ),
    ];
    for (filter, sql) in cases {
        let ours = stats(
            &context,
            fields::Dataset::of(RecordKind::NetworkUsage),
            whole(),
            Some(filter),
            "transport",
            Measure::Records,
            10,
        )
        .await
        .unwrap()
        .total
        .expect("a count always has a total");
        let expected = duckdb(
            &dir,
            &[&format!("SELECT count(*) FROM network_usage WHERE {sql}")],
        )
        .remove(0);
        assert_eq!(ours.to_string(), expected[0][0], "{filter}");
        assert!(ours > 0, "{filter} selects something");
    }
    let invalid = stats(
        &context,
        fields::Dataset::of(RecordKind::NetworkUsage),
        whole(),
        Some("port = "),
        "transport",
        Measure::Records,
        10,
    )
    .await
    .unwrap_err();
    assert_eq!(
        invalid.to_string(),
        "filter error at position 7: expected a value"
    );
}

/// A capture file written before `capturer` (schema version 1) is read beside new ones: its rows
/// have no Whisperer, the grid shows them, and a filter on the Whisperer passes them over.
#[tokio::test]
async fn capture_files_from_before_the_capturer_column_still_read() {
    use spider_collector::records::{Batch, TcpSession};
    use spider_exporter_parquet::ParquetConfig;

    let dir = scratch("capturer-v1");
    let config = ParquetConfig {
        path: dir.clone(),
        ..ParquetConfig::default()
    };
    let session = TcpSession {
        session_id: 7,
        ..spider_testkit::records::tcp_session("10.0.0.1", "10.0.0.2", 1_795_240_900)
    };
    write_batches(
        config,
        spider_collector::DEFAULT_CLUSTER,
        vec![Batch::TcpSessions(vec![session])],
    )
    .await;
    let hour = dir.join("tcp_sessions/cluster=default/date=2026-11-21/hour=06");
    let old = hour.join("node-0-1-1795240900000-000001.parquet");
    duckdb(
        &dir,
        &[&format!(
            "COPY (SELECT * EXCLUDE (capturer, cluster, date, hour) REPLACE (8::UBIGINT AS session_id) \
             FROM tcp_sessions) TO '{}' (FORMAT parquet)",
            old.display()
        )],
    );
    assert!(old.is_file());
    let context = open(&dir).unwrap();
    let rows = |filter: Option<&'static str>| {
        let context = context.clone();
        async move {
            let request = GridRequest {
                sort: Some("session_id"),
                ascending: true,
                limit: 10,
                cursor: None,
            };
            let page = grid(
                &context,
                "tcp_sessions",
                "first_packet",
                fields::TCP_SESSIONS,
                whole(),
                filter,
                request,
            )
            .await
            .unwrap();
            page.rows
                .iter()
                .map(|row| {
                    let capturer = row.get("capturer").cloned().unwrap_or_default();
                    (row["session_id"].clone(), capturer)
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        rows(None).await,
        [
            (serde_json::json!(7), serde_json::json!("node-1")),
            (serde_json::json!(8), serde_json::Value::Null)
        ]
    );
    assert_eq!(rows(Some("whisperer = node-1")).await.len(), 1);
}
