//! Datasets written by the real parquet exporter, and DuckDB answers for comparison.

use std::net::IpAddr;
use std::path::Path;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use spider_collector::records::{
    Batch, EndpointClass, EndpointMeta, NetworkUsage, OwnerKind, Timestamp, Transport,
};
use spider_collector::telemetry::ComponentTelemetry;
use spider_collector::{CreateContext, Factory};
use spider_exporter_parquet::{PARQUET_EXPORTER, ParquetConfig};
use spider_testkit::python_json;
pub use spider_testkit::scratch;

fn ip(text: String) -> IpAddr {
    text.parse().unwrap()
}

/// Usage between a few namespaces over three hours, written with small files to exercise listing.
pub async fn write_usage(dir: &Path, rows: u64) {
    let namespaces = ["shop", "payments", "kube-system"];
    let records: Vec<NetworkUsage> = (0..rows)
        .map(|i| NetworkUsage {
            bucket_start: Timestamp::from_secs(1_795_240_800 + 60 * (i as i64 % 180)),
            reporter: format!("node-{}", i % 2),
            client_ip: ip(format!("10.244.0.{}", i % 7)),
            server_ip: ip(format!("10.244.1.{}", i % 5)),
            server_port: [80, 443, 5432][i as usize % 3],
            transport: if i % 4 == 0 {
                Transport::Udp
            } else {
                Transport::Tcp
            },
            bytes_to_server: i * 10,
            bytes_to_client: i * 100 % 977,
            messages_to_server: 1 + i % 3,
            messages_to_client: 1,
            packets_to_server: 1,
            packets_to_client: 1,
            client: EndpointMeta {
                namespace: Some(namespaces[i as usize % 3].into()),
                owner_kind: Some(OwnerKind::Deployment),
                owner_name: Some(format!("app-{}", i % 4)),
                pod: Some(format!("app-{}-{}", i % 4, i % 3)),
                node: Some(format!("node-{}", i % 2)),
                class: EndpointClass::Pod,
                dns_name: None,
            },
            server: match i % 4 {
                0 => EndpointMeta {
                    namespace: Some("kube-system".into()),
                    owner_kind: Some(OwnerKind::Service),
                    owner_name: Some("kube-dns".into()),
                    class: EndpointClass::Service,
                    ..EndpointMeta::default()
                },
                1 => EndpointMeta {
                    namespace: Some("payments".into()),
                    owner_kind: Some(OwnerKind::StatefulSet),
                    owner_name: Some("db".into()),
                    pod: Some("db-0".into()),
                    node: Some("node-1".into()),
                    class: EndpointClass::Pod,
                    dns_name: None,
                },
                2 => EndpointMeta {
                    class: EndpointClass::External,
                    dns_name: Some("api.example.com".into()),
                    ..EndpointMeta::default()
                },
                _ => EndpointMeta::default(),
            },
            ..NetworkUsage::default()
        })
        .collect();
    write_records(dir, records).await;
}

/// moto's S3 API with a new bucket, and the lake `s3://BUCKET/lake` in it.
pub fn bucket_lake(bucket: &str) -> (spider_testkit::moto::Moto, spider_query::LakeConfig) {
    let moto = spider_testkit::moto::Moto::start();
    let remote = bucket_in(&moto, bucket);
    (moto, remote)
}

/// A new bucket of `moto`, and the lake `s3://BUCKET/lake` in it.
pub fn bucket_in(moto: &spider_testkit::moto::Moto, bucket: &str) -> spider_query::LakeConfig {
    moto.s3(&["create", bucket]);
    spider_query::LakeConfig {
        location: format!("s3://{bucket}/lake"),
        options: moto
            .options()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
    }
}

/// A usage record from an address nothing knows at `at`: a file landing late.
pub fn late_record(at: Timestamp) -> NetworkUsage {
    NetworkUsage {
        bucket_start: at,
        client_ip: "10.9.9.9".parse().unwrap(),
        server_ip: "10.9.9.8".parse().unwrap(),
        server_port: 8443,
        bytes_to_server: 777_777,
        ..NetworkUsage::default()
    }
}

/// A Parquet exporter's config that uploads to `remote`, staging in a scratch directory.
pub fn uploading_to(remote: &spider_query::LakeConfig) -> ParquetConfig {
    ParquetConfig {
        path: scratch("staging"),
        url: Some(remote.location.clone()),
        storage_options: remote.options.clone(),
        ..ParquetConfig::default()
    }
}

/// Writes usage records with the Parquet exporter, in small files.
pub async fn write_records(dir: &Path, records: Vec<NetworkUsage>) {
    let config = ParquetConfig {
        path: dir.to_path_buf(),
        max_file_rows: 700,
        ..ParquetConfig::default()
    };
    write_with(config, records).await;
}

/// Writes usage records with a Parquet exporter of `config`.
pub async fn write_with(config: ParquetConfig, records: Vec<NetworkUsage>) {
    write_in_cluster(config, spider_collector::DEFAULT_CLUSTER, records).await;
}

/// Writes usage records with a Parquet exporter of `config` in a collector of `cluster`.
pub async fn write_in_cluster(config: ParquetConfig, cluster: &str, records: Vec<NetworkUsage>) {
    let batches = records
        .chunks(1000)
        .map(|chunk| Batch::Usage(chunk.to_vec()))
        .collect();
    write_batches(config, cluster, batches).await;
}

/// Writes `batches` with a Parquet exporter of `config` in a collector of `cluster` on `node-1`.
pub async fn write_batches(config: ParquetConfig, cluster: &str, batches: Vec<Batch>) {
    let context = CreateContext {
        id: "parquet".parse().unwrap(),
        pipeline: None,
        telemetry: ComponentTelemetry::detached(&[]),
        node: "node-1".into(),
        cluster: cluster.into(),
    };
    let mut exporter = PARQUET_EXPORTER.create(config, context).unwrap();
    exporter.start().await.unwrap();
    for batch in &batches {
        exporter.export(batch).await.unwrap();
    }
    exporter.shutdown().await.unwrap();
}

/// Result rows as text cells (`NULL` for nulls), the common ground of both engines.
pub fn cells(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<_> = batch
            .columns()
            .iter()
            .map(|column| ArrayFormatter::try_new(column.as_ref(), &options).unwrap())
            .collect();
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    rows
}

/// DuckDB's answers to `queries` over the datasets in `dir`, as text cells.
pub fn duckdb(dir: &Path, queries: &[&str]) -> Vec<Vec<Vec<String>>> {
    let mut args = vec!["sql", dir.to_str().unwrap()];
    args.extend_from_slice(queries);
    let answers = python_json("datasets.py", &args);
    let text = |value: &serde_json::Value| match value {
        serde_json::Value::Null => "NULL".to_owned(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    };
    answers
        .as_array()
        .unwrap()
        .iter()
        .map(|rows| {
            rows.as_array()
                .unwrap()
                .iter()
                .map(|row| row.as_array().unwrap().iter().map(text).collect())
                .collect()
        })
        .collect()
}
