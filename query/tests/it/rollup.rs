//! Rollups: the logical and physical maps and the timeline read from them for whole hours (raw
//! rows at the edges) answer exactly as raw rows do, and a file landing late in a rolled-up hour sends that hour
//! back to raw rows until it is rolled up again; rollups are written to and read from a bucket
//! (moto's S3 API) as from a directory.

use std::time::Duration;

use spider_collector::records::time::MICROS_PER_MINUTE;
use spider_collector::records::{EndpointClass, EndpointMeta, NetworkUsage, OwnerKind, Timestamp};
use spider_query::map::{View, map};
use spider_query::range::{Scope, TimeRange};
use spider_query::rollup::{LOGICAL, PHYSICAL, ROLLUPS, roll_up, rows};
use spider_query::timeline::timeline;
use spider_query::{LakeConfig, open_lake};
use spider_synthetic::cluster::{Cluster, Shape};

use crate::support::{scratch, write_records};

/// 2026-11-21 00:00 UTC.
const MIDNIGHT: i64 = 1_795_219_200_000_000;
const HOUR: i64 = 3_600_000_000;

/// The logical and physical maps and the timeline (five- and fifteen-minute bars) over `range` as
/// JSON, read the given way: unfiltered (rollups where they are present) or through a filter
/// every record passes (raw rows only).
async fn maps(
    context: &datafusion::prelude::SessionContext,
    range: TimeRange,
    raw: bool,
) -> Vec<serde_json::Value> {
    let filter = raw.then_some("port >= 0");
    let mut answers = Vec::new();
    for view in [View::Logical, View::Physical] {
        let drawn = map(context, view, Scope::all(range), filter, 0, 10_000)
            .await
            .unwrap();
        assert!(drawn.total_edges > 10, "{view:?}: {}", drawn.total_edges);
        answers.push(serde_json::to_value(drawn).unwrap());
    }
    for step in [300, 900] {
        let bars = timeline(context, Scope::all(range), filter, Some(step))
            .await
            .unwrap();
        assert!(bars.bars.iter().filter(|b| b.bytes > 0).count() > 8);
        answers.push(serde_json::to_value(bars).unwrap());
    }
    answers
}

/// Whether every rollup has rows for `range`.
async fn rolled_up(
    context: &datafusion::prelude::SessionContext,
    lake: &spider_query::Lake,
    range: TimeRange,
) -> bool {
    for rollup in ROLLUPS {
        if rows(context, lake, rollup, Scope::all(range))
            .await
            .unwrap()
            .is_none()
        {
            return false;
        }
    }
    true
}

/// A server end of each class, with and without the name its leaf is called by.
fn every_class() -> Vec<EndpointMeta> {
    let named = |class, name: Option<&str>| EndpointMeta {
        class,
        namespace: Some("kube-system".into()),
        owner_kind: Some(OwnerKind::Service),
        owner_name: name.map(str::to_owned),
        node: name.map(|n| format!("node-{n}")),
        dns_name: name.map(|n| format!("{n}.example")),
        ..EndpointMeta::default()
    };
    vec![
        named(EndpointClass::Service, Some("kube-dns")),
        named(EndpointClass::Service, None),
        named(EndpointClass::Node, Some("a")),
        named(EndpointClass::Node, None),
        named(EndpointClass::External, Some("api")),
        named(EndpointClass::External, None),
        EndpointMeta::default(),
    ]
}

/// Four hours of a small generated cluster, plus ends of every class.
fn four_hours() -> Vec<NetworkUsage> {
    let shape = Shape {
        nodes: 3,
        namespaces: 3,
        workloads: 3,
        pods: 2,
    };
    let mut cluster = Cluster::new(shape, 11);
    let mut records = Vec::new();
    for minute in 0..4 * 60 {
        let at = Timestamp::from_micros(MIDNIGHT + minute * MICROS_PER_MINUTE);
        records.extend(cluster.minute(at, shape.nodes));
    }
    // Ends of every class, named and unnamed, which the generated cluster does not have.
    for minute in (0..4 * 60).step_by(17) {
        let at = Timestamp::from_micros(MIDNIGHT + minute * MICROS_PER_MINUTE);
        for (index, server) in every_class().into_iter().enumerate() {
            records.push(NetworkUsage {
                bucket_start: at,
                client_ip: "10.244.0.5".parse().unwrap(),
                server_ip: format!("10.96.0.{index}").parse().unwrap(),
                server_port: 53 + index as u16,
                bytes_to_server: 100 + minute as u64,
                messages_to_server: 1,
                client: EndpointMeta {
                    class: EndpointClass::Pod,
                    namespace: Some("shop".into()),
                    pod: Some("bare-pod".into()),
                    ..EndpointMeta::default()
                },
                server,
                ..NetworkUsage::default()
            });
        }
    }
    records
}

#[tokio::test(flavor = "multi_thread")]
async fn the_map_over_rollups_equals_the_map_over_raw_rows_and_late_files_are_not_missed() {
    let records = four_hours();
    let dir = scratch("rollup");
    write_records(&dir, records).await;
    let lake = LakeConfig::local(&dir).open().unwrap();
    let context = open_lake(&lake, None).unwrap();
    // 00:20 to 03:40: hours 01 and 02 whole, edges of raw rows on both sides.
    let range = TimeRange::new(MIDNIGHT + HOUR / 3, MIDNIGHT + 3 * HOUR + 2 * HOUR / 3).unwrap();
    let before = maps(&context, range, false).await;
    for rollup in ROLLUPS {
        assert!(
            rows(&context, &lake, rollup, Scope::all(range))
                .await
                .unwrap()
                .is_none(),
            "no rollups yet"
        );
    }

    let now = Timestamp::from_micros(MIDNIGHT + 5 * HOUR);
    let rolled = roll_up(&lake, &context, now, Duration::from_secs(600))
        .await
        .unwrap()
        .rolled;
    let hours: Vec<&str> = rolled.iter().map(|r| r.hour.as_str()).collect();
    assert_eq!(
        hours,
        (0..4)
            .map(|h| format!("network_usage/cluster=default/date=2026-11-21/hour={h:02}"))
            .collect::<Vec<_>>(),
        "the four closed hours"
    );
    assert!(rolled.iter().all(|r| r.rollups == ROLLUPS), "{rolled:?}");
    // A physical rollup keeps each pod: more rows than the logical one, fewer than raw rows.
    let mut counts = Vec::new();
    for rollup in [LOGICAL, PHYSICAL] {
        let rows = rows(&context, &lake, rollup, Scope::all(range))
            .await
            .unwrap()
            .expect("rollups are read");
        counts.push(rows.count().await.unwrap());
    }
    assert!(0 < counts[0] && counts[0] < counts[1], "{counts:?}");
    assert_eq!(maps(&context, range, false).await, before);
    assert_eq!(maps(&context, range, true).await, before);
    // A whole-hour range reads rollups alone.
    let whole = TimeRange::new(MIDNIGHT, MIDNIGHT + 4 * HOUR).unwrap();
    assert_eq!(
        maps(&context, whole, false).await,
        maps(&context, whole, true).await
    );
    // Nothing new: a second run rolls nothing up.
    assert!(
        roll_up(&lake, &context, now, Duration::ZERO)
            .await
            .unwrap()
            .rolled
            .is_empty()
    );

    // A file landing late in hour 01: that hour goes back to raw rows, and the answer has it.
    let late = crate::support::late_record(Timestamp::from_micros(
        MIDNIGHT + HOUR + 5 * MICROS_PER_MINUTE,
    ));
    write_records(&dir, vec![late]).await;
    let with_late = maps(&context, range, true).await;
    assert_ne!(with_late, before);
    assert_eq!(maps(&context, range, false).await, with_late);
    let again = roll_up(&lake, &context, now, Duration::ZERO).await.unwrap();
    assert!(again.failed.is_empty(), "{:?}", again.failed);
    let hours: Vec<&str> = again.rolled.iter().map(|r| r.hour.as_str()).collect();
    assert_eq!(
        hours,
        ["network_usage/cluster=default/date=2026-11-21/hour=01"]
    );
    assert_eq!(maps(&context, range, false).await, with_late);
    // The replaced rollup stays for maps that chose it, and goes the run after.
    let rollups = |dataset: &str| {
        std::fs::read_dir(dir.join(format!("{dataset}/cluster=default/date=2026-11-21/hour=01")))
            .unwrap()
            .count()
    };
    for rollup in ROLLUPS {
        assert_eq!(rollups(rollup.dataset), 2, "{rollup:?}");
    }
    let last = roll_up(&lake, &context, now, Duration::ZERO).await.unwrap();
    assert!(last.rolled.is_empty() && last.failed.is_empty(), "{last:?}");
    for rollup in ROLLUPS {
        assert_eq!(rollups(rollup.dataset), 1, "the replaced rollup is gone");
    }
    assert_eq!(maps(&context, range, false).await, with_late);
}

#[tokio::test(flavor = "multi_thread")]
async fn rollups_are_written_to_and_read_from_a_bucket() {
    let (moto, remote) = crate::support::bucket_lake("rolled");
    crate::support::write_with(crate::support::uploading_to(&remote), four_hours()).await;
    let lake = remote.open().unwrap();
    let context = open_lake(&lake, None).unwrap();
    let now = Timestamp::from_micros(MIDNIGHT + 5 * HOUR);
    let run = roll_up(&lake, &context, now, Duration::ZERO).await.unwrap();
    assert!(run.failed.is_empty(), "{:?}", run.failed);
    assert_eq!(run.rolled.len(), 4);
    let range = TimeRange::new(MIDNIGHT + HOUR / 3, MIDNIGHT + 3 * HOUR + 2 * HOUR / 3).unwrap();
    assert!(rolled_up(&context, &lake, range).await);
    assert_eq!(
        maps(&context, range, false).await,
        maps(&context, range, true).await
    );
    let fetched = scratch("rolled-fetched");
    let keys = moto.s3(&["download", "rolled", fetched.to_str().unwrap()]);
    let rollups = keys
        .as_array()
        .unwrap()
        .iter()
        .filter(|key| key.as_str().unwrap().starts_with("lake/network_usage_"))
        .count();
    assert_eq!(rollups, 4 * ROLLUPS.len(), "{keys}");
}
