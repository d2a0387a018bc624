//! Every dataset written and read back by DuckDB and pyarrow with Hive partitioning.

use serde_json::json;
use spider_collector::records::Batch;

use crate::support::{capture, config, exporter, python, scratch, usage};

#[tokio::test]
async fn duckdb_and_pyarrow_read_every_dataset_with_its_values_and_partitions() {
    let dir = scratch("readers");
    let mut parquet = exporter(config(&dir));
    parquet.start().await.unwrap();
    parquet.export(&Batch::Usage(usage(1000))).await.unwrap();
    for batch in capture() {
        parquet.export(&batch).await.unwrap();
    }
    parquet.shutdown().await.unwrap();
    let root = dir.to_str().unwrap();

    let found = python(&["pyarrow", root]);
    for (dataset, rows, files, version) in [
        ("network_usage", 1000, 2, "3"),
        ("packets", 1, 1, "2"),
        ("tcp_sessions", 1, 1, "2"),
        ("http", 1, 1, "2"),
        ("hosts", 1, 1, "1"),
    ] {
        let entry = &found[dataset];
        assert_eq!(entry["rows"], json!(rows), "{dataset}: {found}");
        assert_eq!(
            entry["files"],
            json!(files),
            "{dataset}: one file per hour partition"
        );
        assert_eq!(
            entry["partition_fields"],
            json!(["date", "hour"]),
            "{dataset}"
        );
        assert_eq!(
            entry["datasets"],
            json!([dataset]),
            "{dataset}: dataset name in the file metadata"
        );
        assert_eq!(
            entry["schema_versions"],
            json!([version]),
            "{dataset}: schema version in the file metadata"
        );
    }

    let answers = python(&[
        "sql",
        root,
        "SELECT date::VARCHAR, hour, count(*), sum(bytes_to_server), sum(bytes_to_client) FROM network_usage GROUP BY ALL ORDER BY hour",
        "SELECT count(*) FROM network_usage WHERE server_ip = 'fd00::5'",
        "SELECT client_namespace, client_owner_kind, client_owner_name, server_class, server_namespace IS NULL, transport, strftime(bucket_start AT TIME ZONE 'UTC', '%H:%M') FROM network_usage WHERE bytes_to_server = 999",
        "SELECT method, path, query, status, latency_us, server_owner_name FROM http",
        "SELECT client_port, handshake_latency_us, close_reason, server_host, bytes_to_client FROM tcp_sessions",
        "SELECT octet_length(frame), link_type, tcp_flags, direction FROM packets",
        "SELECT ip, name, source FROM hosts",
    ]);
    let evens: u64 = (0..1000).filter(|i| i % 2 == 0).sum();
    let odds: u64 = (0..1000).filter(|i| i % 2 == 1).sum();
    assert_eq!(
        answers[0],
        json!([
            ["2026-11-21", "05", 500, evens, 2 * evens],
            ["2026-11-21", "06", 500, odds, 2 * odds]
        ]),
        "rows land in the partition of their bucket"
    );
    assert_eq!(answers[1], json!([[334]]));
    assert_eq!(
        answers[2],
        json!([[
            "shop",
            "Deployment",
            "cart",
            "service",
            true,
            "udp",
            "06:00"
        ]])
    );
    assert_eq!(
        answers[3],
        json!([["GET", "/index.html", "a=1", 200, 700, "cart"]])
    );
    assert_eq!(answers[4], json!([[40000, 150, "fin", "web.local", 900]]));
    assert_eq!(answers[5], json!([[74, 1, 2, "to_server"]]));
    assert_eq!(answers[6], json!([["10.0.0.2", "web.local", "host"]]));

    // How columns are encoded, as DuckDB reads the footers: frames plain, without dictionary or
    // statistics; counters plain; names dictionary-encoded.
    let footers = format!("{root}/packets/**/*.parquet");
    let encodings = python(&[
        "sql",
        root,
        &format!(
            "SELECT path_in_schema, encodings, compression, stats_null_count IS NULL \
             FROM parquet_metadata('{footers}') \
             WHERE path_in_schema IN ('frame', 'seq', 'src_ip') ORDER BY 1"
        ),
    ]);
    assert_eq!(
        encodings[0],
        json!([
            ["frame", "PLAIN, RLE", "ZSTD", true],
            ["seq", "PLAIN, RLE", "ZSTD", false],
            ["src_ip", "PLAIN, RLE, RLE_DICTIONARY", "ZSTD", false]
        ]),
        "{encodings}"
    );
}
