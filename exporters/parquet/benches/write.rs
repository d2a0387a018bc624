//! Parquet writer throughput for `network_usage`: rows/s on one core and bytes per row, beside
//! pyarrow (Arrow in memory → zstd Parquet) and DuckDB (`COPY … TO` with one thread) writing
//! the same rows in the same run.
//!
//! `cargo bench -p spider-exporter-parquet --bench write [-- ROWS]`

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use spider_collector::records::Batch;
use spider_collector::telemetry::ComponentTelemetry;
use spider_collector::{CreateContext, Factory};
use spider_exporter_parquet::{PARQUET_EXPORTER, ParquetConfig};
use spider_synthetic::Generator;

const BATCH: usize = 8192;

fn main() {
    let rows: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let dir = std::env::temp_dir().join(format!("spider-bench-parquet-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // The synthetic receiver's defaults (seed 1, reporter "synthetic") over a larger cluster.
    let mut generator = Generator::new(1, "synthetic", 2000, 50);
    let batches: Vec<Batch> = (0..rows.div_ceil(BATCH))
        .map(|_| Batch::Usage(generator.records(BATCH)))
        .collect();
    let rows = batches.iter().map(Batch::len).sum::<usize>();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let seconds = runtime.block_on(async {
        let context = CreateContext {
            id: "parquet".parse().unwrap(),
            pipeline: None,
            telemetry: ComponentTelemetry::detached(&[]),
            node: "bench".into(),
            cluster: spider_collector::DEFAULT_CLUSTER.into(),
        };
        let config = ParquetConfig {
            path: dir.clone(),
            ..ParquetConfig::default()
        };
        let mut exporter = PARQUET_EXPORTER.create(config, context).unwrap();
        exporter.start().await.unwrap();
        let started = Instant::now();
        for batch in &batches {
            exporter.export(batch).await.unwrap();
        }
        exporter.shutdown().await.unwrap();
        started.elapsed().as_secs_f64()
    });
    let bytes = directory_size(&dir);
    println!("rows                 {rows}");
    println!(
        "spider   records → zstd Parquet: {:>10.0} rows/s   {:>6.2} bytes/row   ({seconds:.2} s, one thread)",
        rows as f64 / seconds,
        bytes as f64 / rows as f64
    );
    let reference = Command::new("python3")
        .arg("-c")
        .arg(REFERENCE)
        .arg(&dir)
        .output()
        .expect("python3");
    print!("{}", String::from_utf8_lossy(&reference.stdout));
    if !reference.status.success() {
        eprintln!(
            "reference failed (pip install duckdb pyarrow): {}",
            String::from_utf8_lossy(&reference.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn directory_size(dir: &Path) -> u64 {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        total += if path.is_dir() {
            directory_size(&path)
        } else {
            entry.metadata().map(|m| m.len()).unwrap_or(0)
        };
    }
    total
}

/// The same rows written by pyarrow (from memory) and DuckDB (one thread), timed in Python.
const REFERENCE: &str = r#"
import os, sys, time, tempfile, duckdb, pyarrow.dataset as ds, pyarrow.parquet as pq
root = sys.argv[1]
table = ds.dataset(os.path.join(root, "network_usage"), format="parquet", partitioning="hive").to_table()
rows = table.num_rows
with tempfile.TemporaryDirectory() as out:
    target = os.path.join(out, "pyarrow.parquet")
    started = time.perf_counter()
    pq.write_table(table, target, compression="zstd", compression_level=3, row_group_size=131072)
    took = time.perf_counter() - started
    print(f"pyarrow  Arrow → zstd Parquet:   {rows / took:>10.0f} rows/s   {os.path.getsize(target) / rows:>6.2f} bytes/row   ({took:.2f} s)")
    con = duckdb.connect()
    con.execute("SET threads = 1")
    con.register("usage", table)
    con.execute("CREATE TABLE t AS SELECT * FROM usage")
    target = os.path.join(out, "duckdb.parquet")
    started = time.perf_counter()
    con.execute(f"COPY t TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
    took = time.perf_counter() - started
    print(f"duckdb   table → zstd Parquet:   {rows / took:>10.0f} rows/s   {os.path.getsize(target) / rows:>6.2f} bytes/row   ({took:.2f} s, one thread)")
"#;
