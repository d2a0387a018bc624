//! Writing to an S3 API on loopback (moto), including while it is down.

use std::path::Path;

use serde_json::json;
use spider_collector::config::GoDuration;
use spider_collector::records::Batch;
use spider_exporter_parquet::ParquetConfig;

use spider_testkit::free_port;
use spider_testkit::moto::Moto;

use crate::support::{exporter, files_ending, python, scratch, usage};

fn s3_config(staging: &Path, port: u16) -> ParquetConfig {
    let options = Moto::options_for(port);
    ParquetConfig {
        path: staging.to_path_buf(),
        url: Some("s3://spider-test/cluster-a".into()),
        storage_options: options
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        max_file_age: GoDuration::from_millis(100),
        ..ParquetConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn datasets_land_in_the_bucket_and_read_back() {
    let port = free_port();
    let moto = Moto::start_on(port);
    moto.s3(&["create", "spider-test"]);
    let staging = scratch("s3-staging");
    let mut parquet = exporter(s3_config(&staging, port));
    parquet.start().await.unwrap();
    parquet.export(&Batch::Usage(usage(300))).await.unwrap();
    parquet.shutdown().await.unwrap();

    let fetched = scratch("s3-fetched");
    let keys = moto.s3(&["download", "spider-test", fetched.to_str().unwrap()]);
    let keys: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert_eq!(keys.len(), 2, "one object per hour partition: {keys:?}");
    assert!(
        keys.iter().all(
            |k| k.starts_with("cluster-a/network_usage/cluster=default/date=2026-11-21/hour=0")
        ),
        "{keys:?}"
    );
    let read = python(&["pyarrow", fetched.join("cluster-a").to_str().unwrap()]);
    assert_eq!(read["network_usage"]["rows"], json!(300));
    assert!(
        files_ending(&staging, "").is_empty(),
        "staging is emptied once uploaded"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn files_wait_in_staging_while_the_store_is_down_then_go_up() {
    let port = free_port();
    let staging = scratch("s3-down");
    let mut parquet = exporter(s3_config(&staging, port));
    parquet.start().await.unwrap();
    parquet.export(&Batch::Usage(usage(100))).await.unwrap();
    let error = parquet.shutdown().await.expect_err("the store is down");
    assert!(error.to_string().contains("cannot publish"), "{error}");
    assert_eq!(
        files_ending(&staging, ".ready").len(),
        2,
        "finished files are kept, not lost"
    );

    let moto = Moto::start_on(port);
    moto.s3(&["create", "spider-test"]);
    let mut restarted = exporter(s3_config(&staging, port));
    restarted.start().await.unwrap();
    assert!(
        files_ending(&staging, ".ready").is_empty(),
        "a restart uploads what was staged"
    );
    let fetched = scratch("s3-down-fetched");
    moto.s3(&["download", "spider-test", fetched.to_str().unwrap()]);
    let read = python(&["pyarrow", fetched.join("cluster-a").to_str().unwrap()]);
    assert_eq!(read["network_usage"]["rows"], json!(100));
    restarted.shutdown().await.unwrap();
}
