//! The collector writing Parquet: what a `kill -9` leaves behind, and what a restart does with it.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{collect_synthetic, config_file, scratch, spawn, terminate};

fn datasets(args: &[&str]) -> Value {
    spider_testkit::python_json("datasets.py", args)
}

fn writer_config(data: &str) -> String {
    format!(
        r#"
receivers:
  synthetic: {{ rate: 200000, batch_size: 500 }}
exporters:
  parquet: {{ path: "{data}", max_file_rows: 20000, max_file_age: 200ms }}
service:
  telemetry: {{ metrics: {{ level: none }} }}
  pipelines:
    usage: {{ receivers: [synthetic], exporters: [parquet] }}
"#
    )
}

/// Published `.parquet` files below `dir`, counted without Python so it can be polled.
pub fn published_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| entry.path())
        .map(|path| match path.is_dir() {
            true => published_files(&path),
            false => usize::from(path.extension().is_some_and(|e| e == "parquet")),
        })
        .sum()
}

#[test]
fn kill_9_mid_stream_leaves_only_complete_files_and_a_restart_cleans_up() {
    let data = scratch("kill9").join("data");
    let config = config_file("kill9", &writer_config(data.to_str().unwrap()));
    let config = config.to_str().unwrap();
    // Each start removes the previous run's leftovers, and a kill can land in the instant between
    // two files; so kill again until a kill has left an open file behind (it almost always does).
    let mut before = Value::Null;
    for round in 0..10u64 {
        let published = published_files(&data);
        let mut child = spawn(&["collect", "--config", config]);
        // Kill only once this run has published files of its own, so the kill is mid-stream even
        // when a loaded machine is slow to start the binary.
        let deadline = Instant::now() + Duration::from_secs(60);
        while published_files(&data) < published + 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(37 * round));
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        before = datasets(&["files", data.to_str().unwrap()]);
        assert_eq!(
            before["unreadable"],
            serde_json::json!([]),
            "round {round}: {before}"
        );
        assert!(
            before["files"].as_u64().unwrap() as usize >= published + 2,
            "round {round}: files keep arriving: {before}"
        );
        if round >= 2 && before["in_progress"].as_u64().unwrap() > 0 {
            break;
        }
    }
    assert!(
        before["in_progress"].as_u64().unwrap() > 0,
        "a killed writer leaves its open files: {before}"
    );

    let restarted = spawn(&["collect", "--config", config]);
    std::thread::sleep(Duration::from_millis(800));
    assert!(terminate(restarted).status.success());
    let after = datasets(&["files", data.to_str().unwrap()]);
    assert_eq!(
        after["in_progress"], 0,
        "the restart removed leftovers and the clean stop closed its own: {after}"
    );
    assert_eq!(after["unreadable"], serde_json::json!([]));
    assert!(after["rows"].as_u64() > before["rows"].as_u64());
}

#[test]
fn what_collect_wrote_is_queried_with_spider_sql() {
    let data = collect_synthetic("sql", 3000, 4);

    let data = data.to_str().unwrap();
    let query = "SELECT count(*) AS n, count(DISTINCT server_port) AS ports FROM network_usage";
    let csv = crate::support::run(&["sql", "--data", data, "--format", "csv", query]);
    assert!(csv.status.success(), "{}", crate::support::stderr(&csv));
    assert_eq!(String::from_utf8_lossy(&csv.stdout), "n,ports\n3000,4\n");
    let table = crate::support::run(&["sql", "--data", data, query]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(
        table.contains("| n    | ports |") && table.contains("| 3000 | 4     |"),
        "{table}"
    );

    let refused = crate::support::run(&["sql", "--data", data, "DROP TABLE network_usage"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        crate::support::stderr(&refused).starts_with("query refused or failed: "),
        "{}",
        crate::support::stderr(&refused)
    );
}
