//! Local datasets: rolling by rows and age, atomic publication, leftovers, config checks.

use std::time::Duration;

use serde_json::json;
use spider_collector::config::GoDuration;
use spider_collector::records::Batch;
use spider_collector::{ComponentConfig, conformance};
use spider_exporter_parquet::{IN_PROGRESS, PARQUET_EXPORTER, ParquetConfig};

use crate::support::{config, exporter, files_ending, python, scratch, usage};

#[tokio::test]
async fn lifecycle_and_config_conform() {
    let dir = scratch("conformance");
    conformance::check_component(PARQUET_EXPORTER, config(&dir)).await;
}

#[test]
fn bad_settings_are_refused_by_path() {
    let bad = ParquetConfig {
        max_file_rows: 0,
        zstd_level: 30,
        frame_zstd_level: 0,
        url: Some("ftp://bucket".into()),
        file_prefix: Some("a/b".into()),
        ..ParquetConfig::default()
    };
    let paths: Vec<_> = bad.validate().into_iter().map(|e| e.path).collect();
    assert_eq!(
        paths,
        [
            "max_file_rows",
            "zstd_level",
            "frame_zstd_level",
            "url",
            "file_prefix"
        ]
    );
    // A directory is `path`; a misspelt option is named, not ignored (it would send the files
    // to the cloud's default endpoint instead of the one meant).
    for (url, option, named) in [
        ("file:///data", None, "a directory is `path`"),
        ("s3://bucket/p", Some("endpiont"), "endpiont"),
    ] {
        let config = ParquetConfig {
            url: Some(url.into()),
            storage_options: option
                .map(|key| [(key.to_owned(), "http://minio:9000".to_owned())].into())
                .unwrap_or_default(),
            ..ParquetConfig::default()
        };
        let errors = config.validate();
        assert_eq!(errors.len(), 1, "{url}: {errors:?}");
        assert!(
            errors[0].to_string().contains(named),
            "{url}: {}",
            errors[0]
        );
    }
}

#[tokio::test]
async fn files_roll_at_the_row_limit_and_nothing_is_visible_half_written() {
    let dir = scratch("rows");
    let mut parquet = exporter(ParquetConfig {
        max_file_rows: 100,
        ..config(&dir)
    });
    parquet.start().await.unwrap();
    // 500 rows alternate between two hours: 250 each, so 100 + 100 rolled, 50 left open per hour.
    parquet.export(&Batch::Usage(usage(480))).await.unwrap();
    parquet.export(&Batch::Usage(usage(20))).await.unwrap();
    assert_eq!(
        files_ending(&dir, ".parquet").len(),
        4,
        "two full files per hour are published"
    );
    assert_eq!(
        files_ending(&dir, IN_PROGRESS).len(),
        2,
        "the partial ones are hidden"
    );
    let visible = python(&["files", dir.to_str().unwrap()]);
    assert_eq!(visible["rows"], json!(400));
    assert_eq!(visible["unreadable"], json!([]));
    parquet.shutdown().await.unwrap();
    let all = python(&["files", dir.to_str().unwrap()]);
    assert_eq!(
        (
            all["files"].clone(),
            all["rows"].clone(),
            all["in_progress"].clone()
        ),
        (json!(6), json!(500), json!(0))
    );
}

#[tokio::test]
async fn files_roll_by_age_on_ticks() {
    let dir = scratch("age");
    let mut parquet = exporter(ParquetConfig {
        max_file_age: GoDuration::from_millis(50),
        ..config(&dir)
    });
    assert_eq!(parquet.tick_interval(), Some(Duration::from_micros(12_500)));
    parquet.start().await.unwrap();
    parquet.export(&Batch::Usage(usage(10))).await.unwrap();
    parquet.tick().await.unwrap();
    assert!(
        files_ending(&dir, ".parquet").is_empty(),
        "too young to roll"
    );
    tokio::time::sleep(Duration::from_millis(60)).await;
    parquet.tick().await.unwrap();
    assert_eq!(files_ending(&dir, ".parquet").len(), 2);
    assert!(files_ending(&dir, IN_PROGRESS).is_empty());
    parquet.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_restart_removes_what_a_killed_writer_left_in_progress_and_only_that() {
    let dir = scratch("leftovers");
    let hour = dir.join("network_usage/cluster=default/date=2026-11-21/hour=05");
    std::fs::create_dir_all(&hour).unwrap();
    // Its own host's leftover goes; another node's open file on a shared volume stays.
    let ours = hour.join(".node-a-1-2-000001.parquet.inprogress");
    let theirs = hour.join(".node-a2-1-2-000001.parquet.inprogress");
    for file in [&ours, &theirs] {
        std::fs::write(file, b"PAR1 half a file").unwrap();
    }
    let mut parquet = exporter(ParquetConfig {
        file_prefix: Some("node-a".into()),
        ..config(&dir)
    });
    parquet.start().await.unwrap();
    assert!(!ours.exists());
    assert!(theirs.exists(), "another writer's file was removed");
    parquet.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unwritable_directory_is_a_clear_permanent_error() {
    let dir = scratch("unwritable");
    let blocker = dir.join("file-not-dir");
    std::fs::write(&blocker, b"").unwrap();
    let mut parquet = exporter(config(&blocker));
    parquet.start().await.unwrap();
    let error = parquet
        .export(&Batch::Usage(usage(1)))
        .await
        .expect_err("cannot write below a file");
    assert!(
        error.to_string().contains(
            "cannot create a file in network_usage/cluster=default/date=2026-11-21/hour=05"
        ),
        "{error}"
    );
    parquet.shutdown().await.unwrap();
}
