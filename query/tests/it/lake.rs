//! A lake in object storage (the S3 API of moto on loopback): the same answers as the same files
//! in a directory, SQL over ranges (boundaries included) as DuckDB answers it over the
//! directory, each query listing only the partition directories of its range, and a listing
//! reused within its TTL. Two clusters writing one lake: each files below its own
//! `cluster=NAME`, a range reads both (or the one it names), as DuckDB reads them, and rollups
//! are made per cluster.

use std::time::Duration;

use spider_collector::records::{NetworkUsage, Timestamp};
use spider_exporter_parquet::ParquetConfig;
use spider_query::map::{View, map};
use spider_query::range::{Scope, TimeRange};
use spider_query::timeline::timeline;
use spider_query::{LakeConfig, open_lake, read_only};
use spider_testkit::moto::Moto;

use crate::support::{cells, duckdb, scratch, write_in_cluster, write_records, write_with};

/// 2026-11-21 00:00 UTC.
const MIDNIGHT: i64 = 1_795_219_200;
const HOUR: i64 = 3600;

/// One record every seven minutes for three days, one file per hour: 72 partitions.
fn three_days() -> Vec<NetworkUsage> {
    (0..3 * 24 * 60 / 7)
        .map(|i: i64| NetworkUsage {
            bucket_start: Timestamp::from_secs(MIDNIGHT + i * 7 * 60),
            client_ip: format!("10.0.0.{}", i % 9).parse().unwrap(),
            server_ip: format!("10.0.1.{}", i % 4).parse().unwrap(),
            server_port: 80,
            bytes_to_server: 1000 + i as u64,
            messages_to_server: 1,
            ..NetworkUsage::default()
        })
        .collect()
}

fn micros(seconds: i64) -> i64 {
    seconds * 1_000_000
}

/// [`three_days`] written twice by the Parquet exporter: to `bucket` (a new bucket of `moto`),
/// and to a fresh directory. Returns the bucket's lake and the directory.
async fn three_days_twice(moto: &Moto, bucket: &str) -> (LakeConfig, std::path::PathBuf) {
    let remote = crate::support::bucket_in(moto, bucket);
    write_with(
        ParquetConfig {
            path: scratch(&format!("{bucket}-staging")),
            url: Some(remote.location.clone()),
            storage_options: remote.options.clone(),
            ..ParquetConfig::default()
        },
        three_days(),
    )
    .await;
    let dir = scratch(&format!("{bucket}-local"));
    write_records(&dir, three_days()).await;
    (remote, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_object_store_lake_answers_as_a_directory_does_listing_only_its_range() {
    let moto = Moto::start();
    let (remote, dir) = three_days_twice(&moto, "lake").await;

    let lake = remote
        .open()
        .unwrap()
        .listed_within(Duration::from_secs(600));
    let in_bucket = open_lake(&lake, None).unwrap();
    let in_directory = open_lake(&LakeConfig::local(&dir).open().unwrap(), None).unwrap();
    let listed = || lake.listing_stats().unwrap().listed;

    // One hour, inside a day: one listing, of that hour's directory.
    let hour = TimeRange::new(micros(MIDNIGHT + 30 * HOUR), micros(MIDNIGHT + 31 * HOUR)).unwrap();
    let answer = map(&in_bucket, View::Logical, Scope::all(hour), None, 0, 100)
        .await
        .unwrap();
    // The dataset's clusters (one level, kept for the later scans), the hour's directory, and
    // the same hour of the rollups (none yet) the map would read.
    assert_eq!(listed(), 3, "a one-hour map lists one of the 72 hours");
    let files = || lake.listing_stats().unwrap().objects;
    assert_eq!(
        files(),
        1,
        "and reads its one file's name, not the 72 of the dataset"
    );
    let local = map(&in_directory, View::Logical, Scope::all(hour), None, 0, 100)
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&answer).unwrap(),
        serde_json::to_value(&local).unwrap()
    );
    // The same view again within the TTL lists nothing.
    map(&in_bucket, View::Logical, Scope::all(hour), None, 0, 100)
        .await
        .unwrap();
    assert_eq!(listed(), 3);
    assert!(lake.listing_stats().unwrap().reused >= 1);

    // Across midnight, 22:30 to 01:30: four hours of two days, listed hour by hour.
    let (before, files_before) = (listed(), files());
    let night = TimeRange::new(
        micros(MIDNIGHT + 22 * HOUR + 1800),
        micros(MIDNIGHT + 25 * HOUR + 1800),
    )
    .unwrap();
    let bucket_timeline = timeline(&in_bucket, Scope::all(night), None, Some(3600))
        .await
        .unwrap();
    let local_timeline = timeline(&in_directory, Scope::all(night), None, Some(3600))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&bucket_timeline).unwrap(),
        serde_json::to_value(&local_timeline).unwrap()
    );
    // Each hour of usage, and the same hour of the five-minute rollups the timeline would read.
    assert_eq!(listed() - before, 8, "hours 22, 23, 00, 01, twice");
    assert_eq!(files() - files_before, 4);

    // Seven hours and more go day by day: 20:30 to 03:30 lists two days, not three.
    let (before, files_before) = (listed(), files());
    let evening = TimeRange::new(
        micros(MIDNIGHT + 20 * HOUR + 1800),
        micros(MIDNIGHT + 27 * HOUR + 1800),
    )
    .unwrap();
    let bucket_map = map(&in_bucket, View::Logical, Scope::all(evening), None, 0, 100)
        .await
        .unwrap();
    let local_map = map(
        &in_directory,
        View::Logical,
        Scope::all(evening),
        None,
        0,
        100,
    )
    .await
    .unwrap();
    assert_eq!(
        serde_json::to_value(&bucket_map).unwrap(),
        serde_json::to_value(&local_map).unwrap()
    );
    // Two days of usage (shared with the rollup check) and the same two days of rollups.
    assert_eq!(listed() - before, 4);
    assert_eq!(files() - files_before, 48);

    // SQL over ranges and without one, against DuckDB reading the same files from the directory.
    let queries = [
        "SELECT count(*), sum(bytes_to_server) FROM network_usage",
        "SELECT count(*), sum(bytes_to_server) FROM network_usage \
         WHERE bucket_start >= TIMESTAMP '2026-11-21 23:10:00' AND bucket_start < TIMESTAMP '2026-11-22 00:50:00'",
        "SELECT count(*), min(bytes_to_server), max(bytes_to_server) FROM network_usage \
         WHERE bucket_start BETWEEN TIMESTAMP '2026-11-22 05:00:00' AND TIMESTAMP '2026-11-23 06:00:00'",
        // Exactly on the hours: 07:00 has a record (every seven minutes from midnight), and
        // BETWEEN includes it from the next hour's directory while < leaves it out.
        "SELECT count(*), max(bytes_to_server) FROM network_usage \
         WHERE bucket_start BETWEEN TIMESTAMP '2026-11-21 06:00:00' AND TIMESTAMP '2026-11-21 07:00:00'",
        "SELECT count(*), max(bytes_to_server) FROM network_usage \
         WHERE bucket_start >= TIMESTAMP '2026-11-21 06:00:00' AND bucket_start < TIMESTAMP '2026-11-21 07:00:00'",
        "SELECT count(*) FROM network_usage WHERE bucket_start = TIMESTAMP '2026-11-21 07:00:00'",
    ];
    let expected = duckdb(&dir, &queries);
    for (query, duck) in queries.iter().zip(expected) {
        let ours = cells(&read_only(&in_bucket, query).await.unwrap());
        assert_eq!(ours, duck, "{query}");
    }
    assert_eq!(
        cells(&read_only(&in_bucket, queries[0]).await.unwrap()),
        [["617", &(617 * 1000 + 616 * 617 / 2).to_string()]]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_deletes_whole_partitions_past_the_age_in_a_directory_and_a_bucket() {
    use spider_collector::records::RecordKind;
    use spider_lake::retention;

    let moto = Moto::start();
    let (remote, dir) = three_days_twice(&moto, "retained").await;

    // 2026-11-24 00:30 with 36 hours kept: the cutoff is 2026-11-22 12:30, so the 21st goes
    // whole, the 22nd loses hours 00 to 11 (hour 12 ends after the cutoff), the 23rd stays.
    let now = Timestamp::from_secs(MIDNIGHT + 72 * HOUR + 1800);
    let age = Duration::from_secs(36 * 3600);
    let kept_from = MIDNIGHT + 36 * HOUR;
    let survivors = three_days()
        .iter()
        .filter(|r| r.bucket_start.as_micros() >= micros(kept_from))
        .count();
    let mut expected = vec!["network_usage/cluster=default/date=2026-11-21".to_owned()];
    expected.extend(
        (0..12).map(|h| format!("network_usage/cluster=default/date=2026-11-22/hour={h:02}")),
    );
    for lake in [
        remote.open().unwrap(),
        LakeConfig::local(&dir).open().unwrap(),
    ] {
        let count = || async {
            let context = open_lake(&lake, None).unwrap();
            let rows = read_only(&context, "SELECT count(*) FROM network_usage").await;
            cells(&rows.unwrap())[0][0].parse::<usize>().unwrap()
        };
        let planned = retention::apply(&lake, RecordKind::NetworkUsage.as_str(), age, now, true)
            .await
            .unwrap();
        let names: Vec<&str> = planned.iter().map(|p| p.partition.as_str()).collect();
        assert_eq!(names, expected, "{lake}");
        assert_eq!(planned.iter().map(|p| p.files).sum::<usize>(), 24 + 12);
        assert_eq!(count().await, 617, "a dry run deletes nothing");

        let removed = retention::apply(&lake, RecordKind::NetworkUsage.as_str(), age, now, false)
            .await
            .unwrap();
        assert_eq!(removed, planned);
        assert_eq!(count().await, survivors, "{lake}");
        // Other datasets are not touched, and a second run finds nothing more.
        let again =
            retention::apply(&lake, RecordKind::NetworkUsage.as_str(), age, now, false).await;
        assert_eq!(again.unwrap(), []);
    }
    assert!(
        !dir.join("network_usage/cluster=default/date=2026-11-21")
            .exists(),
        "emptied directories go too"
    );
    assert!(
        dir.join("network_usage/cluster=default/date=2026-11-22/hour=12")
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn two_clusters_share_a_lake_each_below_its_own_prefix() {
    let dir = scratch("two-clusters");
    let config = || ParquetConfig {
        path: dir.clone(),
        max_file_rows: 700,
        ..ParquetConfig::default()
    };
    let records = three_days();
    let (east, west): (Vec<_>, Vec<_>) = records
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| i % 3 == 0);
    let strip = |rows: Vec<(usize, NetworkUsage)>| rows.into_iter().map(|(_, r)| r).collect();
    let (east, west): (Vec<NetworkUsage>, Vec<NetworkUsage>) = (strip(east), strip(west));
    write_in_cluster(config(), "east", east.clone()).await;
    write_in_cluster(config(), "west", west.clone()).await;
    for cluster in ["east", "west"] {
        assert!(
            dir.join(format!(
                "network_usage/cluster={cluster}/date=2026-11-21/hour=00"
            ))
            .is_dir()
        );
    }
    let context = spider_query::open(&dir).unwrap();
    // A range over hours 30 to 40 (one day and a half: read day by day, in each cluster).
    let (from, to) = (MIDNIGHT + 30 * HOUR, MIDNIGHT + 40 * HOUR);
    let in_range = |rows: &[NetworkUsage]| {
        rows.iter()
            .filter(|r| (micros(from)..micros(to)).contains(&r.bucket_start.as_micros()))
            .count()
            .to_string()
    };
    let bounds = format!(
        "bucket_start >= to_timestamp_seconds({from}) AND bucket_start < to_timestamp_seconds({to})"
    );
    let by_cluster = format!(
        "SELECT cluster, count(*) FROM network_usage WHERE {bounds} GROUP BY cluster ORDER BY cluster"
    );
    let ours = cells(&read_only(&context, &by_cluster).await.unwrap());
    assert_eq!(
        ours,
        [
            vec!["east".to_owned(), in_range(&east)],
            vec!["west".to_owned(), in_range(&west)]
        ]
    );
    let theirs = duckdb(
        &dir,
        &[&format!(
            "SELECT cluster, count(*) FROM network_usage WHERE bucket_start >= to_timestamp({from}) \
             AND bucket_start < to_timestamp({to}) GROUP BY cluster ORDER BY cluster"
        )],
    );
    assert_eq!(ours, theirs[0], "DuckDB reads the same clusters");
    let one = format!("SELECT count(*) FROM network_usage WHERE {bounds} AND cluster = 'west'");
    let west_only = cells(&read_only(&context, &one).await.unwrap());
    assert_eq!(west_only, [vec![in_range(&west)]]);

    // A directory that is no cluster name (nothing Spider writes) is passed over: a name read
    // from the lake goes into paths and SQL.
    for bad in [
        "cluster=x' OR cluster <> 'x",
        "cluster=Upper",
        "date=2026-11-21",
    ] {
        std::fs::create_dir_all(
            dir.join("network_usage")
                .join(bad)
                .join("date=2026-11-21/hour=00"),
        )
        .unwrap();
    }
    let lake = LakeConfig::local(&dir).open().unwrap();
    assert_eq!(
        lake.clusters("network_usage").await.unwrap(),
        ["east", "west"]
    );

    // Rollups per cluster: every closed hour of each, below its own prefix.
    let run = spider_query::rollup::roll_up(
        &lake,
        &context,
        Timestamp::from_secs(MIDNIGHT + 4 * 24 * HOUR),
        Duration::from_secs(600),
    )
    .await
    .unwrap();
    assert!(run.failed.is_empty(), "{:?}", run.failed);
    for cluster in ["east", "west"] {
        let rolled = run
            .rolled
            .iter()
            .filter(|r| {
                r.hour
                    .starts_with(&format!("network_usage/cluster={cluster}/"))
            })
            .count();
        assert_eq!(rolled, 72, "{cluster}");
        assert!(
            dir.join(format!(
                "network_usage_hourly/cluster={cluster}/date=2026-11-22/hour=05"
            ))
            .is_dir()
        );
    }
    // The logical map of a whole day reads both clusters' rollups: the same answer as raw rows.
    let day = TimeRange::new(micros(MIDNIGHT + 24 * HOUR), micros(MIDNIGHT + 48 * HOUR)).unwrap();
    // The map of one cluster reads its own rollups alone, and equals its raw rows too.
    let maps = |context: datafusion::prelude::SessionContext| async move {
        let mut answers = Vec::new();
        for scope in [Scope::all(day), Scope::of(day, "west")] {
            let answer = map(&context, View::Logical, scope, None, 0, 100)
                .await
                .unwrap();
            answers.push(serde_json::to_value(answer).unwrap());
        }
        answers
    };
    let from_rollups = maps(context).await;
    std::fs::remove_dir_all(dir.join("network_usage_hourly")).unwrap();
    let from_raw = maps(spider_query::open(&dir).unwrap()).await;
    assert_eq!(from_rollups, from_raw);
    let bytes_of_day = |rows: &[NetworkUsage]| {
        rows.iter()
            .filter(|r| (day.from..day.to).contains(&r.bucket_start.as_micros()))
            .map(|r| r.bytes_to_server)
            .sum::<u64>()
    };
    let edge_bytes = |answer: &serde_json::Value| {
        answer["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["bytes"].as_u64().unwrap())
            .sum::<u64>()
    };
    assert_eq!(
        edge_bytes(&from_rollups[0]),
        bytes_of_day(&east) + bytes_of_day(&west)
    );
    assert_eq!(edge_bytes(&from_rollups[1]), bytes_of_day(&west));
}
