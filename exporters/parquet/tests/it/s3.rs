//! Writing to an S3 API on loopback (moto), including while it is down.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spider_collector::config::GoDuration;
use spider_collector::records::Batch;
use spider_exporter_parquet::ParquetConfig;

use spider_testkit::{free_port, python_json};

use crate::support::{exporter, files_ending, python, scratch, usage};

/// A moto S3 server on a free loopback port, stopped on drop.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start_on(port: u16) -> Self {
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server runs (pip install 'moto[server]')");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    fn s3(&self, args: &[&str]) -> Value {
        let mut all = vec![self.endpoint.as_str()];
        all.extend_from_slice(args);
        python_json("s3.py", &all)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn s3_config(staging: &Path, port: u16) -> ParquetConfig {
    let options = [
        ("endpoint", format!("http://127.0.0.1:{port}")),
        ("allow_http", "true".into()),
        ("region", "us-east-1".into()),
        ("access_key_id", "test".into()),
        ("secret_access_key", "test".into()),
    ];
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
        keys.iter()
            .all(|k| k.starts_with("cluster-a/network_usage/date=2026-11-21/hour=0")),
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
