//! Hourly rollups of network usage, which the logical map reads for the whole hours of its range.
//!
//! A day of a 10,000-pod cluster is 39 M usage rows, and its logical map has a few thousand
//! edges. A rollup keeps, per closed hour, the sums of the counted rows grouped by what a
//! logical-map leaf is made of ([`leaf_columns`]: each end's class, namespace, owner kind and
//! the one name the leaf is called by; server port; transport), so the map of a day reads some
//! thousands of rows an hour instead of some millions.
//!
//! A rollup is exact or unused. It is filed as
//! `network_usage_hourly/cluster=…/date=…/hour=…/rollup-FP.parquet`, FP the fingerprint of that
//! cluster's hour of raw files when it was made; the map uses an hour's rollup
//! only while the raw files still have that fingerprint, so a file landing late (an agent back
//! from an outage) sends the hour back to raw rows until `spider rollup` runs again. The edges
//! of a range, hours without a rollup, the other views and filtered maps read raw rows.

use std::collections::HashMap;
use std::time::Duration;

use futures::future::try_join_all;

use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::functions::string::expr_fn::concat;
use datafusion::object_store::ObjectStoreExt;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext, col, lit};
use spider_lake::Lake;
use spider_records::catalog::{PARTITION_COLUMNS, PartitionSpan, covering, date_partition};
use spider_records::time::MICROS_PER_HOUR;
use spider_records::{RecordKind, Timestamp};

use crate::file_set::{
    HourKey, clusters_of, directory_fingerprint, fingerprints_by_hour, hour_partition,
};
use crate::frame::{failed, usage};
use crate::partitions::MAX_SPANS;
use crate::range::Scope;
use crate::sql::QueryError;

/// The rollup dataset's directory in the lake.
pub const DATASET: &str = "network_usage_hourly";

/// The most hours one map reads from rollups (as many days as a scan is split into); a longer
/// range reads raw rows.
const MAX_HOURS: i64 = MAX_SPANS as i64 * 24;

/// One end's columns as the logical map needs them, each leaf's name folded into one column:
/// the map's leaf SQL gives the same id over these as over the raw columns they come from.
fn leaf_columns(end: &str) -> Vec<String> {
    let text = |expr: String, name: &str| format!("CAST({expr} AS VARCHAR) AS {end}_{name}");
    [
        text(format!("{end}_class"), "class"),
        text(
            format!("CASE WHEN {end}_class IN ('pod', 'service') THEN {end}_namespace END"),
            "namespace",
        ),
        text(format!("CASE WHEN {end}_class = 'pod' THEN {end}_owner_kind END"), "owner_kind"),
        text(
            format!(
                "CASE {end}_class WHEN 'pod' THEN coalesce({end}_owner_name, {end}_pod, {end}_ip) \
                 WHEN 'service' THEN coalesce({end}_owner_name, {end}_ip) END"
            ),
            "owner_name",
        ),
        text("NULL".into(), "pod"),
        text(
            format!("CASE WHEN {end}_class = 'node' THEN coalesce({end}_node, {end}_ip) END"),
            "node",
        ),
        text(
            format!(
                "CASE WHEN {end}_class = 'external' THEN coalesce({end}_dns_name, {end}_ip) END"
            ),
            "dns_name",
        ),
        text(
            format!(
                "CASE WHEN {end}_class IS NULL OR {end}_class NOT IN ('pod', 'service', 'node', 'external') \
                 THEN {end}_ip END"
            ),
            "ip",
        ),
    ]
    .into()
}

/// The grouping columns of a rollup row, as SQL over raw rows.
fn keys() -> Vec<String> {
    let mut keys = leaf_columns("client");
    keys.extend(leaf_columns("server"));
    keys.extend([
        "server_port".into(),
        "CAST(transport AS VARCHAR) AS transport".into(),
    ]);
    keys
}

const MEASURES: [&str; 6] = [
    "bytes_to_server",
    "bytes_to_client",
    "messages_to_server",
    "messages_to_client",
    "packets_to_server",
    "packets_to_client",
];

/// Every column of a rollup, by name, in order: what its rows and raw rows are both read as.
fn column_names() -> Vec<String> {
    let mut names = Vec::new();
    for end in ["client", "server"] {
        for part in [
            "class",
            "namespace",
            "owner_kind",
            "owner_name",
            "pod",
            "node",
            "dns_name",
            "ip",
        ] {
            names.push(format!("{end}_{part}"));
        }
    }
    names.extend(["server_port".into(), "transport".into()]);
    names.extend(MEASURES.iter().map(|m| (*m).to_owned()));
    names
}

/// What `spider rollup` did with one hour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rolled {
    /// The hour's directory (`network_usage/cluster=…/date=…/hour=…`).
    pub hour: String,
    /// Raw files read.
    pub files: usize,
}

/// What one `spider rollup` run did: the hours rolled up, and those that failed (the others
/// are rolled up all the same; the next run tries the failed ones again).
#[derive(Debug, Default)]
pub struct RollupRun {
    /// Hours rolled up.
    pub rolled: Vec<Rolled>,
    /// Hours that failed, with why.
    pub failed: Vec<(String, QueryError)>,
}

fn rollup_name(fingerprint: u64) -> String {
    format!("rollup-{fingerprint:016x}.parquet")
}

/// Rolls up every hour of network usage that ended `settle` or more before `now` and has no
/// rollup of its present files. The rollups those replace go one run later, once their
/// successor is `settle` old: a map that chose one just before may still be reading it.
pub async fn roll_up(
    lake: &Lake,
    context: &SessionContext,
    now: Timestamp,
    settle: Duration,
) -> Result<RollupRun, QueryError> {
    let listing = |e: datafusion::object_store::Error| {
        QueryError::Failed(format!("cannot list the lake: {e}"))
    };
    let settle = i64::try_from(settle.as_micros()).unwrap_or(i64::MAX);
    let closed_before = now.as_micros().saturating_sub(settle);
    let usage = RecordKind::NetworkUsage.as_str();
    let mut run = RollupRun::default();
    for cluster in lake.clusters(usage).await.map_err(listing)? {
        for day in lake.days(usage, &cluster).await.map_err(listing)? {
            for directory in lake.hours(&day).await.map_err(listing)? {
                let start = directory.start.as_micros();
                if start + MICROS_PER_HOUR > closed_before {
                    continue;
                }
                let hour = Hour {
                    cluster: &cluster,
                    date: &day.date,
                    hour: directory.hour,
                    start,
                    raw: &directory.path,
                };
                match roll_up_hour(lake, context, &hour, settle).await {
                    Ok(Some(files)) => run.rolled.push(Rolled {
                        hour: directory.path,
                        files,
                    }),
                    Ok(None) => {}
                    Err(error) => run.failed.push((directory.path, error)),
                }
            }
        }
    }
    Ok(run)
}

/// One hour of one cluster's raw usage: its cluster, date partition, hour, start and directory.
struct Hour<'a> {
    cluster: &'a str,
    date: &'a str,
    hour: u32,
    start: i64,
    raw: &'a str,
}

/// Rolls up one hour unless its present files have a rollup; returns the files read. Drops the
/// rollups of earlier file sets once the present one is `settle` old.
async fn roll_up_hour(
    lake: &Lake,
    context: &SessionContext,
    hour: &Hour<'_>,
    settle: i64,
) -> Result<Option<usize>, QueryError> {
    let (fingerprint, files) = directory_fingerprint(lake, hour.raw).await?;
    let target =
        PartitionSpan::Hour(hour.date.to_owned(), hour.hour).directory(DATASET, hour.cluster);
    let existing = rollup_metas(lake, &target).await?;
    let present = rollup_name(fingerprint);
    let Some(current) = existing.iter().find(|(name, _)| *name == present) else {
        if files == 0 {
            return Ok(None);
        }
        write_hour(context, lake, hour, &target, fingerprint).await?;
        return Ok(Some(files));
    };
    let settled = Timestamp::now().as_micros().saturating_sub(settle);
    if current.1 <= settled {
        for (name, _) in existing.iter().filter(|(name, _)| *name != present) {
            let location = lake.key(&format!("{target}/{name}"));
            lake.store()
                .delete(&location)
                .await
                .map_err(|e| QueryError::Failed(format!("cannot delete {location}: {e}")))?;
        }
    }
    Ok(None)
}

/// The rollup files below a rollup directory, by the hour partition each is in.
async fn rollups_by_hour(
    lake: &Lake,
    directory: String,
) -> Result<HashMap<HourKey, Vec<String>>, QueryError> {
    let mut by_hour: HashMap<HourKey, Vec<String>> = HashMap::new();
    for (path, _) in rollup_paths(lake, &directory).await? {
        if let (Some(hour), Some(name)) = (hour_partition(&path), path.rsplit('/').next()) {
            by_hour.entry(hour).or_default().push(name.to_owned());
        }
    }
    Ok(by_hour)
}

/// The rollup files in a rollup hour directory: name and modification time (µs).
async fn rollup_metas(lake: &Lake, directory: &str) -> Result<Vec<(String, i64)>, QueryError> {
    Ok(rollup_paths(lake, directory)
        .await?
        .into_iter()
        .filter_map(|(path, modified)| Some((path.rsplit('/').next()?.to_owned(), modified)))
        .collect())
}

/// The rollup files below a directory of the rollup dataset: path and modification time (µs).
async fn rollup_paths(lake: &Lake, directory: &str) -> Result<Vec<(String, i64)>, QueryError> {
    use futures::TryStreamExt;
    let listed: Vec<_> = lake
        .store()
        .list(Some(&lake.key(directory)))
        .try_collect()
        .await
        .map_err(|e| QueryError::Failed(format!("cannot list {directory}: {e}")))?;
    Ok(listed
        .into_iter()
        .map(|meta| {
            (
                meta.location.to_string(),
                meta.last_modified.timestamp_micros(),
            )
        })
        .filter(|(path, _)| {
            path.rsplit('/')
                .next()
                .is_some_and(|name| name.starts_with("rollup-") && name.ends_with(".parquet"))
        })
        .collect())
}

async fn write_hour(
    context: &SessionContext,
    lake: &Lake,
    hour: &Hour<'_>,
    directory: &str,
    fingerprint: u64,
) -> Result<(), QueryError> {
    let (cluster, date, hour_start) = (hour.cluster, hour.date, hour.start);
    let hour = hour.hour;
    let sums: Vec<String> = MEASURES
        .iter()
        .map(|m| format!("CAST(sum({m}) AS BIGINT UNSIGNED) AS {m}"))
        .collect();
    let keys = keys();
    let [cluster_column, date_column, hour_column] = PARTITION_COLUMNS;
    // Over the hour's counted rows, grouped by the same expressions the map reads raw rows
    // through. The time bounds let the scan list the hour's directory alone. A cluster name is
    // a DNS name (`Lake::clusters` passes nothing else over), so the quotes are quoting enough.
    let sql = format!(
        "SELECT {}, {} FROM network_usage \
         WHERE {cluster_column} = '{cluster}' AND {date_column} = '{date}' \
         AND {hour_column} = '{hour:02}' \
         AND bucket_start >= to_timestamp_micros({hour_start}) \
         AND bucket_start < to_timestamp_micros({}) \
         GROUP BY {}",
        keys.join(", "),
        sums.join(", "),
        hour_start + MICROS_PER_HOUR,
        (1..=keys.len())
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let frame = context.sql(&sql).await.map_err(failed)?;
    let url = format!("{}{directory}/{}", lake.url(), rollup_name(fingerprint));
    frame
        .write_parquet(
            &url,
            DataFrameWriteOptions::new().with_single_file_output(true),
            None,
        )
        .await
        .map_err(failed)?;
    Ok(())
}

/// The logical map's rows over `scope`: rollups for its whole hours that have a present one,
/// raw rows (read through the same columns) for the rest; `None` when no hour can be read from
/// a rollup.
pub async fn logical_rows(
    context: &SessionContext,
    lake: &Lake,
    scope: Scope<'_>,
) -> Result<Option<DataFrame>, QueryError> {
    let range = scope.range;
    let first_hour = (range.from + MICROS_PER_HOUR - 1).div_euclid(MICROS_PER_HOUR);
    let end_hour = range.to.div_euclid(MICROS_PER_HOUR);
    if end_hour <= first_hour || end_hour - first_hour > MAX_HOURS {
        return Ok(None);
    }
    // The directories the range's scan lists anyway (an hour, or the days touched), listed at
    // once for both datasets: in an object store each is a round trip.
    let Some(spans) = covering(
        Timestamp::from_micros(range.from),
        Timestamp::from_micros(range.to),
        MAX_SPANS,
    ) else {
        return Ok(None);
    };
    let usage_kind = RecordKind::NetworkUsage.as_str();
    let clusters = clusters_of(lake, usage_kind, scope.cluster).await?;
    let directories: Vec<(&String, &PartitionSpan)> = clusters
        .iter()
        .flat_map(|cluster| spans.iter().map(move |span| (cluster, span)))
        .collect();
    let raw_listings =
        try_join_all(directories.iter().map(|(cluster, span)| {
            fingerprints_by_hour(lake, span.directory(usage_kind, cluster))
        }));
    let rollup_listings = try_join_all(
        directories
            .iter()
            .map(|(cluster, span)| rollups_by_hour(lake, span.directory(DATASET, cluster))),
    );
    let (raw_listings, rollup_listings) = futures::try_join!(raw_listings, rollup_listings)?;
    let raw_by_hour: HashMap<_, _> = raw_listings.into_iter().flatten().collect();
    let rollups_by_hour: HashMap<_, _> = rollup_listings.into_iter().flatten().collect();
    let mut rollups = Vec::new();
    let mut rolled_hours = Vec::new();
    for cluster in &clusters {
        for hour in first_hour..end_hour {
            let key = (
                cluster.clone(),
                date_partition(Timestamp::from_micros(hour * MICROS_PER_HOUR)),
                hour.rem_euclid(24) as u32,
            );
            let Some((fingerprint, _)) = raw_by_hour.get(&key) else {
                continue;
            };
            let name = rollup_name(*fingerprint);
            if rollups_by_hour
                .get(&key)
                .is_some_and(|names| names.contains(&name))
            {
                let directory =
                    PartitionSpan::Hour(key.1.clone(), key.2).directory(DATASET, cluster);
                rollups.push(format!("{}{directory}/{name}", lake.url()));
                rolled_hours.push(lit(format!("{cluster}|{}|{:02}", key.1, key.2)));
            }
        }
    }
    if rollups.is_empty() {
        return Ok(None);
    }
    let names = column_names();
    let columns: Vec<&str> = names.iter().map(String::as_str).collect();
    let rolled = context
        .read_parquet(rollups, ParquetReadOptions::default())
        .await
        .map_err(failed)?
        .select_columns(&columns)
        .map_err(failed)?;
    let mut projection = keys();
    projection.extend(
        MEASURES
            .iter()
            .map(|m| format!("CAST({m} AS BIGINT UNSIGNED) AS {m}")),
    );
    let projection: Vec<&str> = projection.iter().map(String::as_str).collect();
    // The rest as one scan of the whole range, so that it lists what the range lists (the
    // answers are kept by those listings' fingerprint), the rolled-up hours' files left out by
    // their partition values.
    let [cluster_column, date_column, hour_column] = PARTITION_COLUMNS;
    let partition = concat(vec![
        col(cluster_column),
        lit("|"),
        col(date_column),
        lit("|"),
        col(hour_column),
    ]);
    let raw = usage(context, scope, None)
        .await?
        .filter(partition.in_list(rolled_hours, true))
        .map_err(failed)?
        .select_exprs(&projection)
        .map_err(failed)?;
    let frame = rolled.union(raw).map_err(failed)?;
    Ok(Some(frame))
}
