//! The usage map over one simulated day of a 10,000-pod cluster, logical and physical view, beside
//! DuckDB running the same aggregation (the same leaf SQL) on the same files in the same run; then
//! a load run: wrk against the API serving those files, reporting req/s and p99 latency, with
//! every answer computed and with answers kept (the same view opened again); then compaction of
//! two hours written as the agents write them (a file per node per minute).
//!
//! `cargo bench -p spider-server --bench map [-- HOURS] [2k]` (release; `2k` for a 2,002-pod
//! cluster instead; needs DuckDB from pip and wrk from apt; not run in CI). The generated day is
//! kept in `target/bench-data/` for the next run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use spider_collector::records::time::MICROS_PER_MINUTE;
use spider_collector::records::{Batch, Timestamp};
use spider_collector::{Factory, conformance};
use spider_exporter_parquet::{PARQUET_EXPORTER, ParquetConfig};
use spider_query::map::{View, leaf_sql, map};
use spider_query::range::{Scope, TimeRange};
use spider_query::timeline::timeline;
use spider_server::{ServerConfig, router};
use spider_synthetic::cluster::{Cluster, Shape};

/// 25 namespaces × 20 workloads × 20 pods on 50 nodes.
const LARGE: Shape = Shape {
    nodes: 50,
    namespaces: 25,
    workloads: 20,
    pods: 20,
};
/// 10 namespaces × 10 workloads × 20 pods on 20 nodes: the 2,000-pod cluster of the load goal.
const SMALL: Shape = Shape {
    nodes: 20,
    namespaces: 10,
    workloads: 10,
    pods: 20,
};
/// The simulated day ends at 2026-11-22T00:00Z, so it fills one date partition.
const END_MICROS: i64 = 1_795_305_600_000_000;
const RUNS: usize = 5;

fn main() {
    let hours: i64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(24);
    let shape = if std::env::args().any(|a| a == "2k") {
        SMALL
    } else {
        LARGE
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let data = runtime.block_on(simulated(shape, hours));
    println!(
        "data                 {} ({:.0} MB of Parquet)",
        data.display(),
        directory_size(&data) as f64 / 1e6
    );

    let hour = 3_600_000_000;
    let ranges = [
        (
            "whole range",
            TimeRange::new(END_MICROS - hours * hour, END_MICROS).unwrap(),
        ),
        (
            "last hour",
            TimeRange::new(END_MICROS - hour, END_MICROS).unwrap(),
        ),
    ];
    println!(
        "\n{:<10} {:<12} {:>8} {:>14} {:>14} {:>8}",
        "view", "range", "edges", "Spider median", "DuckDB median", "ratio"
    );
    let context = spider_query::open(&data).unwrap();
    for view in [View::Logical, View::Physical] {
        for (name, range) in ranges {
            let mut edges = 0;
            let ours = timed(|| {
                let answer = runtime
                    .block_on(map(&context, view, Scope::all(range), None, 0, 500))
                    .unwrap();
                edges = answer.total_edges;
            });
            let theirs = duckdb(&data, &duckdb_sql(view, range));
            println!(
                "{:<10} {:<12} {:>8} {:>12.0}ms {:>12.0}ms {:>7.2}×",
                format!("{view:?}"),
                name,
                edges,
                ours * 1e3,
                theirs * 1e3,
                theirs / ours
            );
        }
    }

    // The same day rolled up by hour: both maps then read the rollups.
    let lake = spider_query::LakeConfig::local(&data).open().unwrap();
    let started = Instant::now();
    let rolled = runtime
        .block_on(spider_query::rollup::roll_up(
            &lake,
            &context,
            Timestamp::now(),
            std::time::Duration::ZERO,
        ))
        .unwrap()
        .rolled;
    let rows: usize = std::fs::read_to_string(data.join(".complete"))
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(0);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "\nrollup               {} hours in {seconds:.1} s ({:.0} rows/s; 0 when already rolled up)",
        rolled.len(),
        if rolled.is_empty() {
            0.0
        } else {
            rows as f64 / seconds
        }
    );
    let context = spider_query::open_lake(&lake, None).unwrap();
    for view in [View::Logical, View::Physical] {
        for (name, range) in ranges {
            let ours = timed(|| {
                runtime
                    .block_on(map(&context, view, Scope::all(range), None, 0, 500))
                    .unwrap();
            });
            let view = format!("{view:?}");
            println!("{view:<10} {name:<12} from rollups {:>10.0}ms", ours * 1e3);
        }
    }
    // The timeline of the whole range (its default step, 15 minutes for a day), over raw rows
    // (a filter every row passes) and over the five-minute rollups.
    let range = ranges[0].1;
    for (name, filter) in [("raw rows", Some("port >= 0")), ("rollups", None)] {
        let ours = timed(|| {
            runtime
                .block_on(timeline(&context, Scope::all(range), filter, None))
                .unwrap();
        });
        println!(
            "Timeline   whole range  from {name:<8} {:>10.0}ms",
            ours * 1e3
        );
    }

    println!("\nload (wrk -t2 -c4 -d15s on loopback; wrk shares the 2 cores with the server)");
    let seconds = |micros: i64| micros / 1_000_000;
    let (day, hour, to) = (
        seconds(ranges[0].1.from),
        seconds(ranges[1].1.from),
        seconds(END_MICROS),
    );
    let routes = [
        (
            "map, last hour",
            format!("/api/map?view=logical&from={hour}&to={to}&limit=500"),
        ),
        (
            "map, whole range",
            format!("/api/map?view=logical&from={day}&to={to}&limit=500"),
        ),
        (
            "stats, last hour",
            format!("/api/stats?from={hour}&to={to}&group_by=dst.workload&measure=bytes"),
        ),
        ("health", "/api/health".to_owned()),
    ];
    // Every request computed (no answer cache), then a view opened again and again: the same
    // requests over files that do not change, answered from the cache after the first.
    for (cache, answer_cache) in [("computed", 0), ("kept", 64 << 20)] {
        let address = runtime.block_on(serve(&data, answer_cache));
        for (name, path) in &routes {
            let (requests_per_second, p99) = wrk(&format!("http://{address}{path}"));
            println!("{cache:<9} {name:<18} {requests_per_second:>10.1} req/s   p99 {p99}");
        }
    }

    compaction(&runtime, shape);
}

/// Hours of the cluster as its agents write them, a file per node per minute, then compacted:
/// the files before and after, the rows merged per second, and the logical map over those hours
/// before and after.
fn compaction(runtime: &tokio::runtime::Runtime, shape: Shape) {
    const HOURS: i64 = 2;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/bench-data")
        .join(format!("agents-{}-pods-{HOURS}h", shape.pod_count()));
    let _ = std::fs::remove_dir_all(&dir);
    let started = Instant::now();
    let rows = runtime.block_on(agents_files(&dir, shape, HOURS));
    let files_before = count_files(&dir);
    println!(
        "\ncompaction           {rows} rows in {files_before} files ({} per node per minute, \
         {:.0} per day), written in {:.0} s",
        files_before as i64 / (shape.nodes as i64 * HOURS * 60),
        files_before as f64 * 24.0 / HOURS as f64,
        started.elapsed().as_secs_f64()
    );
    let range = TimeRange::new(END_MICROS - HOURS * 3_600_000_000, END_MICROS).unwrap();
    let logical = |context: &datafusion::prelude::SessionContext| {
        timed(|| {
            runtime
                .block_on(map(context, View::Logical, Scope::all(range), None, 0, 500))
                .unwrap();
        })
    };
    let before = logical(&spider_query::open(&dir).unwrap());
    let lake = spider_query::LakeConfig::local(&dir).open().unwrap();
    let context = spider_query::open_lake(&lake, Some(256 << 20)).unwrap();
    let pass = || {
        runtime
            .block_on(spider_query::compaction::compact(
                &lake,
                &context,
                spider_query::compaction::Schedule {
                    now: Timestamp::now(),
                    settle: std::time::Duration::ZERO,
                    grace: std::time::Duration::ZERO,
                    lookback: std::time::Duration::from_secs(365 * 86_400),
                },
            ))
            .unwrap()
    };
    let started = Instant::now();
    let merged = pass();
    let seconds = started.elapsed().as_secs_f64();
    let cleaned = pass();
    assert!(merged.failed.is_empty() && cleaned.failed.is_empty());
    let merged_rows: u64 = merged.compacted.iter().map(|c| c.rows).sum();
    assert_eq!(merged_rows as usize, rows);
    let files_after = count_files(&dir);
    println!(
        "compaction           {} hours in {seconds:.1} s ({:.0} rows/s); {files_after} files after \
         ({:.0} per day)",
        merged.compacted.len(),
        merged_rows as f64 / seconds,
        files_after as f64 * 24.0 / HOURS as f64
    );
    let after = logical(&spider_query::open(&dir).unwrap());
    println!(
        "Logical    {HOURS} h over the agents' files {:>8.0}ms, compacted {:>8.0}ms",
        before * 1e3,
        after * 1e3
    );
}

/// Writes `hours` of the cluster ending at the simulated day's end as each node's agent does:
/// a file per node per minute. Returns the rows.
async fn agents_files(dir: &Path, shape: Shape, hours: i64) -> usize {
    let mut cluster = Cluster::new(shape, 7);
    let end = Timestamp::from_micros(END_MICROS);
    let mut rows = 0;
    for minute in (1..=hours * 60).rev() {
        let records = cluster.minute(end.plus_micros(-minute * MICROS_PER_MINUTE), shape.nodes);
        rows += records.len();
        let mut by_node: std::collections::BTreeMap<String, Vec<_>> = Default::default();
        for record in records {
            by_node
                .entry(record.reporter.clone())
                .or_default()
                .push(record);
        }
        for (node, records) in by_node {
            let config = ParquetConfig {
                path: dir.to_path_buf(),
                file_prefix: Some(format!("{node}-m{minute}")),
                ..ParquetConfig::default()
            };
            let context = conformance::context(&PARQUET_EXPORTER);
            let mut exporter = PARQUET_EXPORTER.create(config, context).unwrap();
            exporter.start().await.unwrap();
            exporter.export(&Batch::Usage(records)).await.unwrap();
            exporter.shutdown().await.unwrap();
        }
    }
    rows
}

/// The Parquet files below `dir`.
fn count_files(dir: &Path) -> usize {
    files_below(dir)
        .iter()
        .filter(|(path, _)| path.extension().is_some_and(|e| e == "parquet"))
        .count()
}

/// The dataset directory of `hours` simulated hours, generated on the first run.
async fn simulated(shape: Shape, hours: i64) -> PathBuf {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    let dir = target.join(format!("usage-{}-pods-{hours}h", shape.pod_count()));
    let complete = dir.join(".complete");
    if complete.exists() {
        return dir;
    }
    let _ = std::fs::remove_dir_all(&dir);
    let config = ParquetConfig {
        path: dir.clone(),
        ..ParquetConfig::default()
    };
    let context = conformance::context(&PARQUET_EXPORTER);
    let mut exporter = PARQUET_EXPORTER.create(config, context).unwrap();
    exporter.start().await.unwrap();
    let mut cluster = Cluster::new(shape, 7);
    let (started, mut rows) = (Instant::now(), 0);
    let end = Timestamp::from_micros(END_MICROS);
    for minute in (1..=hours * 60).rev() {
        let records = cluster.minute(end.plus_micros(-minute * MICROS_PER_MINUTE), shape.nodes);
        rows += records.len();
        exporter.export(&Batch::Usage(records)).await.unwrap();
    }
    exporter.shutdown().await.unwrap();
    println!(
        "generated            {rows} rows in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    std::fs::write(&complete, rows.to_string()).unwrap();
    dir
}

/// Median seconds of `RUNS` runs after one warm-up.
fn timed(mut run: impl FnMut()) -> f64 {
    run();
    let mut seconds: Vec<f64> = (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            run();
            started.elapsed().as_secs_f64()
        })
        .collect();
    median(&mut seconds)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The map's aggregation as DuckDB SQL: the same leaf ids, range and sums.
fn duckdb_sql(view: View, range: TimeRange) -> String {
    let instant = |micros: i64| {
        chrono::DateTime::from_timestamp_micros(micros)
            .unwrap()
            .format("TIMESTAMPTZ '%Y-%m-%d %H:%M:%S+00'")
            .to_string()
    };
    format!(
        "SELECT {} AS c, {} AS s, server_port, transport, sum(bytes_to_server), sum(bytes_to_client), \
         sum(messages_to_server), sum(messages_to_client) FROM network_usage \
         WHERE bucket_start >= {} AND bucket_start < {} GROUP BY 1, 2, 3, 4",
        leaf_sql(view, "client"),
        leaf_sql(view, "server"),
        instant(range.from),
        instant(range.to)
    )
}

/// DuckDB's median seconds for `sql` over `data` (one warm-up run, then `RUNS`).
fn duckdb(data: &Path, sql: &str) -> f64 {
    let runs = (RUNS + 1).to_string();
    let answer =
        spider_testkit::python_json("duckdb_time.py", &[data.to_str().unwrap(), &runs, sql]);
    let mut seconds: Vec<f64> = answer[0]["seconds"]
        .as_array()
        .unwrap()
        .iter()
        .skip(1)
        .map(|s| s.as_f64().unwrap())
        .collect();
    median(&mut seconds)
}

/// Serves `data` on a free loopback port, in the background of the runtime, with `answer_cache`
/// bytes of kept answers.
async fn serve(data: &Path, answer_cache: usize) -> std::net::SocketAddr {
    let config = ServerConfig {
        data: spider_query::LakeConfig::local(data),
        listing_ttl: std::time::Duration::ZERO,
        state: Some(std::env::temp_dir().join("spider-bench-map-state")),
        tokens: Default::default(),
        cors_origin: None,
        capture_limits: Default::default(),
        query_limits: spider_server::QueryLimits {
            answer_cache,
            ..Default::default()
        },
        allowed_hosts: None,
        sql_worker: None,
    };
    let app = router(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

/// wrk's requests per second and 99th percentile latency for `url`.
fn wrk(url: &str) -> (f64, String) {
    let output = Command::new("wrk")
        .args(["-t2", "-c4", "-d15s", "--timeout", "60s", "--latency", url])
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    let value = |prefix: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(prefix))
            .map(|rest| rest.trim().to_owned())
            .unwrap_or_else(|| panic!("no {prefix:?} in wrk's output:\n{text}"))
    };
    (value("Requests/sec:").parse().unwrap(), value("99%"))
}

/// Every file below `dir`, with its size.
fn files_below(dir: &Path) -> Vec<(PathBuf, u64)> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .flat_map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => files_below(&entry.path()),
            _ => vec![(entry.path(), entry.metadata().map(|m| m.len()).unwrap_or(0))],
        })
        .collect()
}

fn directory_size(dir: &Path) -> u64 {
    files_below(dir).iter().map(|(_, size)| size).sum()
}
