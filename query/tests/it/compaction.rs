//! Compaction: a closed hour's many small files become one sorted file, and every answer stays
//! exactly what it was, in the middle of the swap (where DuckDB over the bare files sees both)
//! as after it; a run cut short (a manifest without its merged file, replaced files not yet
//! deleted) is finished by the next; a file landing late in a merged hour is merged again; the
//! same in a bucket (moto's S3 API).

use std::path::Path;
use std::time::Duration;

use datafusion::prelude::SessionContext;
use spider_collector::records::time::MICROS_PER_MINUTE;
use spider_collector::records::{NetworkUsage, RecordKind, Timestamp};
use spider_query::compaction::{CompactionRun, Schedule, compact};
use spider_query::map::{View, map};
use spider_query::range::{Scope, TimeRange};
use spider_query::stats::{Measure, stats};
use spider_query::timeline::timeline;
use spider_query::{LakeConfig, fields, open_lake};
use spider_synthetic::cluster::{Cluster, Shape};

use crate::support::{duckdb, scratch, write_records};

/// 2026-11-21 00:00 UTC.
const MIDNIGHT: i64 = 1_795_219_200_000_000;
const HOUR: i64 = 3_600_000_000;
/// When the runs happen: hours 00 and 01 are closed and settled, hour 02 is not.
const NOW: i64 = MIDNIGHT + 2 * HOUR + 20 * MICROS_PER_MINUTE;
const LONG_GRACE: Duration = Duration::from_secs(3600);

/// A run at [`NOW`] with `grace`.
fn at_now(grace: Duration) -> Schedule {
    Schedule {
        now: Timestamp::from_micros(NOW),
        settle: Duration::from_secs(600),
        grace,
        lookback: Duration::from_secs(48 * 3600),
    }
}

/// Three hours of a small generated cluster.
fn three_hours(seed: u64) -> Vec<NetworkUsage> {
    let shape = Shape {
        nodes: 3,
        namespaces: 3,
        workloads: 3,
        pods: 2,
    };
    let mut cluster = Cluster::new(shape, seed);
    (0..3 * 60)
        .flat_map(|minute| {
            let at = Timestamp::from_micros(MIDNIGHT + minute * MICROS_PER_MINUTE);
            cluster.minute(at, shape.nodes)
        })
        .collect()
}

/// A whole swap, as `spider compact` runs it with no grace: merged, then cleaned by a second pass.
async fn swap(lake: &spider_query::Lake, context: &SessionContext) -> CompactionRun {
    let mut run = compact(lake, context, at_now(Duration::ZERO))
        .await
        .unwrap();
    let again = compact(lake, context, at_now(Duration::ZERO))
        .await
        .unwrap();
    assert!(again.compacted.is_empty(), "{again:?}");
    run.deleted += again.deleted;
    run.failed.extend(again.failed);
    run
}

/// Every view of the three hours as JSON: both maps, the timeline, a stats table.
async fn answers(context: &SessionContext) -> serde_json::Value {
    let range = Scope::all(TimeRange::new(MIDNIGHT, MIDNIGHT + 3 * HOUR).unwrap());
    let mut views = Vec::new();
    for view in [View::Logical, View::Physical] {
        let answer = map(context, view, range, None, 0, 10_000).await.unwrap();
        assert!(answer.total_edges > 10, "{view:?}");
        views.push(serde_json::to_value(answer).unwrap());
    }
    let bars = timeline(context, range, None, Some(300)).await.unwrap();
    views.push(serde_json::to_value(bars).unwrap());
    let table = stats(
        context,
        fields::Dataset::of(RecordKind::NetworkUsage),
        range,
        None,
        "dst.namespace",
        Measure::Bytes,
        10,
    )
    .await
    .unwrap();
    views.push(serde_json::to_value(table).unwrap());
    serde_json::Value::Array(views)
}

/// DuckDB over the bare files: rows and bytes per hour.
fn duckdb_hours(dir: &Path) -> Vec<Vec<String>> {
    duckdb(
        dir,
        &[
            "SELECT hour, count(*), sum(bytes_to_server + bytes_to_client) FROM network_usage \
           GROUP BY hour ORDER BY hour",
        ],
    )
    .remove(0)
}

/// The files of one hour of network usage: (data files, manifests).
fn files_of(dir: &Path, hour: u32) -> (Vec<String>, Vec<String>) {
    let directory = dir.join(format!(
        "network_usage/cluster=default/date=2026-11-21/hour={hour:02}"
    ));
    let mut names: Vec<String> = std::fs::read_dir(directory)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let (data, rest): (Vec<String>, Vec<String>) =
        names.into_iter().partition(|n| n.ends_with(".parquet"));
    (
        data,
        rest.into_iter()
            .filter(|n| n.ends_with(".replaces"))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_hours_files_become_one_sorted_file_and_no_answer_changes_during_or_after_the_swap() {
    let dir = scratch("compaction");
    // Two agents' worth of small files per hour.
    write_records(&dir, three_hours(3)).await;
    write_records(&dir, three_hours(4)).await;
    let (small, small_next) = (files_of(&dir, 0).0.len(), files_of(&dir, 1).0.len());
    assert!(small >= 4, "{small} files");
    let lake = LakeConfig::local(&dir).open().unwrap();
    let context = open_lake(&lake, None).unwrap();
    let before = answers(&context).await;
    let duck_before = duckdb_hours(&dir);
    assert_eq!(duck_before.len(), 3);

    // Merged, not yet cleaned: readers through the lake see the merged file alone; DuckDB over
    // the bare files sees both, which is what the grace period is.
    let run = compact(&lake, &context, at_now(LONG_GRACE)).await.unwrap();
    assert!(run.failed.is_empty(), "{:?}", run.failed);
    let hours: Vec<&str> = run.compacted.iter().map(|c| c.hour.as_str()).collect();
    assert_eq!(
        hours,
        [
            "network_usage/cluster=default/date=2026-11-21/hour=00",
            "network_usage/cluster=default/date=2026-11-21/hour=01"
        ],
        "the closed hours only"
    );
    assert_eq!(run.compacted[0].files, small);
    let rows: u64 = duck_before[0][1].parse().unwrap();
    assert_eq!(run.compacted[0].rows, rows, "every row read is written");
    assert_eq!(run.deleted, 0, "nothing goes within the grace period");
    assert_eq!(answers(&context).await, before);
    let during = duckdb_hours(&dir);
    assert_eq!(
        during[0][1],
        (2 * rows).to_string(),
        "the bare files hold both"
    );
    assert_eq!(during[2], duck_before[2], "the open hour is not touched");

    // The next run, past the grace period: the replaced files go; the manifest stays with its
    // merged file.
    let hour = dir.join("network_usage/cluster=default/date=2026-11-21/hour=00");
    let (inputs, _) = files_of(&dir, 0);
    let retried = inputs
        .iter()
        .find(|name| !name.starts_with("compact-"))
        .unwrap()
        .clone();
    let retried_bytes = std::fs::read(hour.join(&retried)).unwrap();
    let run = compact(&lake, &context, at_now(Duration::ZERO))
        .await
        .unwrap();
    assert!(run.failed.is_empty() && run.compacted.is_empty(), "{run:?}");
    assert_eq!(run.deleted, small + small_next, "each replaced file");
    for hour in [0, 1] {
        let (data, manifests) = files_of(&dir, hour);
        assert_eq!(data.len(), 1, "{data:?}");
        assert!(data[0].starts_with("compact-"), "{data:?}");
        assert_eq!(manifests.len(), 1, "{manifests:?}");
    }
    assert!(files_of(&dir, 2).0.len() >= 4);
    assert_eq!(answers(&context).await, before);
    assert_eq!(duckdb_hours(&dir), duck_before);

    // An upload retried after its file was merged and deleted: hidden still, and deleted again.
    std::fs::write(hour.join(&retried), &retried_bytes).unwrap();
    assert_eq!(answers(&context).await, before);
    let run = compact(&lake, &context, at_now(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!((run.deleted, run.compacted.len()), (1, 0), "{run:?}");
    assert_eq!(duckdb_hours(&dir), duck_before);

    // Sorted by the server's namespace first, with the dataset's metadata, as DuckDB reads it.
    let merged = dir.join(format!(
        "network_usage/cluster=default/date=2026-11-21/hour=00/{}",
        files_of(&dir, 0).0[0]
    ));
    let merged = merged.to_str().unwrap();
    let checks = duckdb(
        &dir,
        &[
            &format!(
                "SELECT count(*) FROM (SELECT server_namespace AS ns, \
                 lag(server_namespace) OVER () AS before FROM read_parquet('{merged}')) \
                 WHERE ns < before OR (ns IS NULL AND before IS NOT NULL)"
            ),
            &format!("SELECT count(DISTINCT server_namespace) FROM read_parquet('{merged}')"),
            &format!(
                "SELECT decode(value) FROM parquet_kv_metadata('{merged}') \
                 WHERE decode(key) = 'spider.dataset'"
            ),
        ],
    );
    assert_eq!(checks[0], [["0"]], "out of order");
    // The agents that wrote a merged hour are still named (from its manifest) when no newer hour
    // names them.
    std::fs::remove_dir_all(dir.join("network_usage/cluster=default/date=2026-11-21/hour=02"))
        .unwrap();
    let clusters = spider_query::clusters::clusters(&lake).await.unwrap();
    let agents: Vec<&str> = clusters[0].agents.iter().map(|a| a.node.as_str()).collect();
    assert_eq!(agents, ["node-1"]);
    assert!(checks[1][0][0].parse::<u32>().unwrap() > 1);
    assert_eq!(checks[2], [["network_usage"]]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_cut_short_is_finished_by_the_next_and_a_late_file_is_merged_again() {
    let dir = scratch("compaction-resumed");
    write_records(&dir, three_hours(5)).await;
    let lake = LakeConfig::local(&dir).open().unwrap();
    let context = open_lake(&lake, None).unwrap();
    let before = answers(&context).await;
    let hour = dir.join("network_usage/cluster=default/date=2026-11-21/hour=00");
    // A run stopped after its manifest, before its merged file: the manifest hides nothing, and
    // goes once no run can still be writing that file.
    let (data, _) = files_of(&dir, 0);
    let abandoned = hour.join("compact-00000000000000aa.replaces");
    std::fs::write(
        &abandoned,
        data.iter().map(|n| format!("{n}\n")).collect::<String>(),
    )
    .unwrap();
    assert_eq!(answers(&context).await, before);
    // And one stopped after writing, before publishing: nobody reads it.
    let unpublished = hour.join("compact-00000000000000cc.parquet.inprogress");
    std::fs::copy(hour.join(&data[0]), &unpublished).unwrap();
    assert_eq!(answers(&context).await, before);
    // A file with a column this build does not know (a newer agent): its hour is left alone.
    let next = dir.join("network_usage/cluster=default/date=2026-11-21/hour=01");
    let future = next.join("future.parquet");
    let (next_files, _) = files_of(&dir, 1);
    duckdb(
        &dir,
        &[&format!(
            "COPY (SELECT *, 1 AS column_of_tomorrow FROM read_parquet('{}')) TO '{}' \
             (FORMAT parquet)",
            next.join(&next_files[0]).display(),
            future.display()
        )],
    );
    let before = answers(&context).await;
    // A manifest that names a path outside its directory is refused, not followed.
    std::fs::write(hour.join("compact-00000000000000bb.parquet"), b"not read").unwrap();
    std::fs::write(
        hour.join("compact-00000000000000bb.replaces"),
        "../hour=01/x.parquet\n",
    )
    .unwrap();
    let refused = spider_query::map::map(
        &context,
        View::Logical,
        Scope::all(TimeRange::new(MIDNIGHT, MIDNIGHT + HOUR).unwrap()),
        None,
        0,
        10,
    )
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("damaged"), "{refused}");
    std::fs::remove_file(hour.join("compact-00000000000000bb.parquet")).unwrap();
    std::fs::remove_file(hour.join("compact-00000000000000bb.replaces")).unwrap();

    let run = swap(&lake, &context).await;
    assert_eq!(run.compacted.len(), 1);
    assert_eq!(run.failed.len(), 2, "once each pass: {:?}", run.failed);
    assert!(
        run.failed[0].0.ends_with("hour=01")
            && run.failed[0].1.to_string().contains("column_of_tomorrow"),
        "{:?}",
        run.failed
    );
    let (data, manifests) = files_of(&dir, 0);
    assert_eq!(data.len(), 1, "{data:?}");
    assert_eq!(manifests.len(), 2, "{manifests:?}");
    assert!(unpublished.exists());
    assert_eq!(answers(&context).await, before);
    // Hours later, the abandoned manifest and unpublished file go.
    let long_ago = std::time::SystemTime::now() - Duration::from_secs(7 * 3600);
    for path in [&abandoned, &unpublished] {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
    }
    let run = compact(&lake, &context, at_now(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(run.deleted, 2, "{run:?}");
    assert!(!abandoned.exists() && !unpublished.exists());
    std::fs::remove_file(&future).unwrap();
    let rows: u64 = duckdb_hours(&dir)[0][1].parse().unwrap();

    // A file landing late in the merged hour is read beside the merged file, then merged with it.
    let late =
        crate::support::late_record(Timestamp::from_micros(MIDNIGHT + 7 * MICROS_PER_MINUTE));
    write_records(&dir, vec![late]).await;
    let with_late = answers(&context).await;
    assert_ne!(with_late, before);
    // Merged again but cut short before the clean-up: the first merged file, the late file and
    // the second merged file are all there, and readers see the second alone.
    let run = compact(&lake, &context, at_now(LONG_GRACE)).await.unwrap();
    assert_eq!(run.compacted.len(), 2, "{run:?}");
    assert_eq!(run.compacted[0].files, 2);
    assert_eq!(files_of(&dir, 0).0.len(), 3);
    assert_eq!(answers(&context).await, with_late);
    let run = swap(&lake, &context).await;
    assert!(run.failed.is_empty() && run.compacted.is_empty(), "{run:?}");
    let (data, manifests) = files_of(&dir, 0);
    assert_eq!(
        (data.len(), manifests.len()),
        (1, 1),
        "{data:?} {manifests:?}"
    );
    assert_eq!(answers(&context).await, with_late);
    assert_eq!(duckdb_hours(&dir)[0][1], (rows + 1).to_string());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_is_compacted_as_a_directory_is() {
    let (moto, remote) = crate::support::bucket_lake("merged");
    crate::support::write_with(
        spider_exporter_parquet::ParquetConfig {
            max_file_rows: 700,
            ..crate::support::uploading_to(&remote)
        },
        three_hours(6),
    )
    .await;
    let lake = remote.open().unwrap();
    let context = open_lake(&lake, None).unwrap();
    let before = answers(&context).await;
    let run = swap(&lake, &context).await;
    assert!(run.failed.is_empty(), "{:?}", run.failed);
    assert_eq!(run.compacted.len(), 2);
    assert_eq!(answers(&context).await, before);
    let fetched = scratch("merged-fetched");
    let keys = moto.s3(&["download", "merged", fetched.to_str().unwrap()]);
    let in_hour = |hour: u32| {
        keys.as_array()
            .unwrap()
            .iter()
            .filter(|key| {
                key.as_str().unwrap().starts_with(&format!(
                    "lake/network_usage/cluster=default/date=2026-11-21/hour={hour:02}/"
                ))
            })
            .count()
    };
    assert_eq!(
        (in_hour(0), in_hour(1)),
        (2, 2),
        "a file and its manifest: {keys}"
    );
    assert!(in_hour(2) > 1);
}
