//! The same SQL over the same files, answered by DataFusion (Spider) and by DuckDB.

use spider_query::{open, read_only};

use crate::support::{cells, duckdb, scratch, write_usage};

const QUERIES: [&str; 6] = [
    "SELECT count(*) FROM network_usage",
    "SELECT hour, count(*), sum(bytes_to_server) FROM network_usage GROUP BY hour ORDER BY hour",
    "SELECT server_ip, server_port, sum(bytes_to_client) AS b FROM network_usage GROUP BY server_ip, server_port ORDER BY b DESC, server_ip, server_port LIMIT 5",
    "SELECT client_namespace, client_owner_name, count(*), sum(messages_to_server) FROM network_usage WHERE transport = 'tcp' AND server_class = 'service' GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT reporter, count(DISTINCT client_ip) FROM network_usage WHERE server_port IN (80, 443) GROUP BY reporter ORDER BY reporter",
    "SELECT count(*) FROM network_usage WHERE client_pod IS NULL AND date = '2026-11-21'",
];

#[tokio::test]
async fn datafusion_and_duckdb_agree_on_the_same_files() {
    let dir = scratch("versus");
    write_usage(&dir, 5000).await;
    let context = open(&dir).unwrap();
    let expected = duckdb(&dir, &QUERIES);
    for (query, duck) in QUERIES.iter().zip(expected) {
        let ours = cells(&read_only(&context, query).await.unwrap());
        assert_eq!(ours, duck, "{query}");
    }
    assert_eq!(
        cells(&read_only(&context, QUERIES[0]).await.unwrap()),
        [["5000"]]
    );
}

#[tokio::test]
async fn datasets_not_written_yet_are_empty_tables() {
    let dir = scratch("empty");
    write_usage(&dir, 10).await;
    let context = open(&dir).unwrap();
    for table in ["packets", "tcp_sessions", "http", "hosts"] {
        let rows = cells(
            &read_only(&context, &format!("SELECT count(*) FROM {table}"))
                .await
                .unwrap(),
        );
        assert_eq!(rows, [["0"]], "{table}");
    }
    let hosts = context.table("hosts").await.unwrap();
    let names: Vec<&str> = hosts
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(
        names.first(),
        Some(&"ip"),
        "the record schema comes first: {names:?}"
    );
    assert_eq!(
        names[names.len() - 2..],
        ["date", "hour"],
        "then the partition columns"
    );
}
