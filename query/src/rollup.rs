//! Rollups of network usage, which the logical and physical maps and the timeline read for the
//! whole hours of their range.
//!
//! A day of a 10,000-pod cluster is 39 M usage rows; its logical map has a few thousand edges and
//! its physical map some hundreds of thousands. A leaf rollup keeps, per closed hour, the sums of
//! the counted rows grouped by what one view's leaf is made of ([`leaf_columns`]: each end's
//! class, namespace, owner kind or node, and the one name the leaf is called by; server port;
//! transport), so the map of a day reads thousands of rows an hour instead of millions. The
//! five-minute rollup keeps an hour's sums per five minutes: twelve rows, the bars of an
//! unfiltered timeline whose step they divide.
//!
//! A rollup is exact or unused. It is filed as
//! `DATASET/cluster=…/date=…/hour=…/rollup-FP.parquet` (DATASET `network_usage_hourly` for the
//! logical view, `network_usage_hourly_physical` for the physical one, `network_usage_5m` for the
//! timeline), FP the fingerprint of that cluster's hour of raw files when it was made; a reader
//! uses an hour's rollup only while the raw files still have that fingerprint, so a file landing
//! late (an agent back from an outage) sends the hour back to raw rows until `spider rollup` runs
//! again. The edges of a range, hours without a rollup, filtered views and the other answers
//! read raw rows.

use std::collections::HashMap;
use std::time::Duration;

use futures::future::try_join_all;

use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::functions::string::expr_fn::concat;
use datafusion::object_store::ObjectStoreExt;
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext, col, lit};
use spider_lake::Lake;
use spider_records::catalog::{PARTITION_COLUMNS, PartitionSpan, covering, date_partition};
use spider_records::time::{MICROS_PER_HOUR, duration_micros};
use spider_records::{RecordKind, Timestamp};

use crate::file_set::{
    HourKey, clusters_of, directory_fingerprint, fingerprints_by_hour, hour_partition,
};
use crate::frame::{failed, usage};
use crate::map::View;
use crate::partitions::MAX_SPANS;
use crate::range::Scope;
use crate::sql::QueryError;

/// What a rollup's rows are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// Over the hour, each end's leaf in a map view, the server port and the transport.
    Leaves(View),
    /// The five minutes the rows are in (what an unfiltered timeline's bars are made of).
    FiveMinutes,
}

/// A rollup of network usage: the dataset it is filed in and what it groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollup {
    /// Its directory in the lake.
    pub dataset: &'static str,
    /// What its rows are grouped by.
    pub grouping: Grouping,
}

/// The logical map's rollup: each end's workload (or Service, node, external name, address).
pub const LOGICAL: Rollup = Rollup {
    dataset: "network_usage_hourly",
    grouping: Grouping::Leaves(View::Logical),
};

/// The physical map's rollup: each end's pod with its node (or Service, node, external name,
/// address).
pub const PHYSICAL: Rollup = Rollup {
    dataset: "network_usage_hourly_physical",
    grouping: Grouping::Leaves(View::Physical),
};

/// The timeline's rollup: the sums of each five minutes, for steps that are whole multiples.
pub const FIVE_MINUTES: Rollup = Rollup {
    dataset: "network_usage_5m",
    grouping: Grouping::FiveMinutes,
};

/// Every rollup `spider rollup` writes, and retention deletes with the raw hours they sum.
pub const ROLLUPS: [Rollup; 3] = [LOGICAL, PHYSICAL, FIVE_MINUTES];

/// The five-minute rollup's bucket, in seconds: a timeline step it divides reads it.
pub const FIVE_MINUTE_SECONDS: i64 = 300;

impl Rollup {
    /// The rollup a map of `view` reads, if any.
    pub fn of(view: View) -> Option<Rollup> {
        ROLLUPS
            .into_iter()
            .find(|rollup| rollup.grouping == Grouping::Leaves(view))
    }
}

/// The most hours one map reads from rollups (as many days as a scan is split into); a longer
/// range reads raw rows.
const MAX_HOURS: i64 = MAX_SPANS as i64 * 24;

/// The parts of one end a leaf is made of, by name, in the order of a rollup's columns.
const LEAF_PARTS: [&str; 8] = [
    "class",
    "namespace",
    "owner_kind",
    "owner_name",
    "pod",
    "node",
    "dns_name",
    "ip",
];

/// One end's columns as a view's map needs them, each leaf's name folded into one column (its
/// other columns null): the map's leaf SQL gives the same id over these as over the raw columns
/// they come from.
fn leaf_columns(view: View, end: &str) -> Vec<String> {
    let unnamed = format!(
        "CASE WHEN {end}_class IS NULL OR {end}_class NOT IN ('pod', 'service', 'node', 'external') \
         THEN {end}_ip END"
    );
    let external =
        format!("CASE WHEN {end}_class = 'external' THEN coalesce({end}_dns_name, {end}_ip) END");
    let namespace = format!("CASE WHEN {end}_class IN ('pod', 'service') THEN {end}_namespace END");
    let parts: [String; 8] = match view {
        View::Physical => [
            format!("{end}_class"),
            namespace,
            "NULL".into(),
            format!(
                "CASE WHEN {end}_class = 'service' THEN coalesce({end}_owner_name, {end}_ip) END"
            ),
            format!("CASE WHEN {end}_class = 'pod' THEN coalesce({end}_pod, {end}_ip) END"),
            format!(
                "CASE {end}_class WHEN 'pod' THEN {end}_node \
                 WHEN 'node' THEN coalesce({end}_node, {end}_ip) END"
            ),
            external,
            unnamed,
        ],
        View::Logical | View::Hosts => [
            format!("{end}_class"),
            namespace,
            format!("CASE WHEN {end}_class = 'pod' THEN {end}_owner_kind END"),
            format!(
                "CASE {end}_class WHEN 'pod' THEN coalesce({end}_owner_name, {end}_pod, {end}_ip) \
                 WHEN 'service' THEN coalesce({end}_owner_name, {end}_ip) END"
            ),
            "NULL".into(),
            format!("CASE WHEN {end}_class = 'node' THEN coalesce({end}_node, {end}_ip) END"),
            external,
            unnamed,
        ],
    };
    parts
        .iter()
        .zip(LEAF_PARTS)
        .map(|(expr, name)| format!("CAST({expr} AS VARCHAR) AS {end}_{name}"))
        .collect()
}

/// The grouping columns of a rollup row, as SQL over raw rows.
fn keys(grouping: Grouping) -> Vec<String> {
    let view = match grouping {
        Grouping::Leaves(view) => view,
        Grouping::FiveMinutes => {
            return vec![format!(
                "date_bin(INTERVAL '{FIVE_MINUTE_SECONDS} seconds', bucket_start, \
                 TIMESTAMP '1970-01-01T00:00:00Z') AS bucket_start"
            )];
        }
    };
    let mut keys = leaf_columns(view, "client");
    keys.extend(leaf_columns(view, "server"));
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
fn column_names(grouping: Grouping) -> Vec<String> {
    let mut names = Vec::new();
    match grouping {
        Grouping::Leaves(_) => {
            for end in ["client", "server"] {
                names.extend(LEAF_PARTS.iter().map(|part| format!("{end}_{part}")));
            }
            names.extend(["server_port".into(), "transport".into()]);
        }
        Grouping::FiveMinutes => names.push("bucket_start".into()),
    }
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
    /// The rollups written for it (those it had of its present files are not written again).
    pub rollups: Vec<Rollup>,
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
    let listing = crate::frame::unlisted;
    let settle = duration_micros(settle);
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
                    Ok(Some(rolled)) => run.rolled.push(rolled),
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

/// Writes each rollup of one hour that its present files do not have; `None` when it wrote none.
async fn roll_up_hour(
    lake: &Lake,
    context: &SessionContext,
    hour: &Hour<'_>,
    settle: i64,
) -> Result<Option<Rolled>, QueryError> {
    let (fingerprint, files) = directory_fingerprint(lake, hour.raw).await?;
    let mut rollups = Vec::new();
    for rollup in ROLLUPS {
        if files > 0 && roll_up_one(lake, context, hour, settle, rollup, fingerprint).await? {
            rollups.push(rollup);
        }
    }
    Ok((!rollups.is_empty()).then(|| Rolled {
        hour: hour.raw.to_owned(),
        files,
        rollups,
    }))
}

/// Writes one rollup of an hour unless the hour's present files (`fingerprint`) have it; says
/// whether it wrote it. Drops the rollups of earlier file sets once the present one is `settle`
/// old.
async fn roll_up_one(
    lake: &Lake,
    context: &SessionContext,
    hour: &Hour<'_>,
    settle: i64,
    rollup: Rollup,
    fingerprint: u64,
) -> Result<bool, QueryError> {
    let target = PartitionSpan::Hour(hour.date.to_owned(), hour.hour)
        .directory(rollup.dataset, hour.cluster);
    let existing = rollup_metas(lake, &target).await?;
    let present = rollup_name(fingerprint);
    let Some(current) = existing.iter().find(|(name, _)| *name == present) else {
        write_hour(context, lake, hour, rollup.grouping, &target, fingerprint).await?;
        return Ok(true);
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
    Ok(false)
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
    grouping: Grouping,
    directory: &str,
    fingerprint: u64,
) -> Result<(), QueryError> {
    let (cluster, date, hour_start) = (hour.cluster, hour.date, hour.start);
    let hour = hour.hour;
    let sums: Vec<String> = MEASURES
        .iter()
        .map(|m| format!("CAST(sum({m}) AS BIGINT UNSIGNED) AS {m}"))
        .collect();
    let keys = keys(grouping);
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

/// The rows `rollup` answers for over `scope`: rollups for its whole hours that have a present
/// one, raw rows (read through the same columns) for the rest; `None` when no hour can be read
/// from a rollup.
pub async fn rows(
    context: &SessionContext,
    lake: &Lake,
    rollup: Rollup,
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
            .map(|(cluster, span)| rollups_by_hour(lake, span.directory(rollup.dataset, cluster))),
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
                    PartitionSpan::Hour(key.1.clone(), key.2).directory(rollup.dataset, cluster);
                rollups.push(format!("{}{directory}/{name}", lake.url()));
                rolled_hours.push(lit(format!("{cluster}|{}|{:02}", key.1, key.2)));
            }
        }
    }
    if rollups.is_empty() {
        return Ok(None);
    }
    let names = column_names(rollup.grouping);
    let columns: Vec<&str> = names.iter().map(String::as_str).collect();
    let rolled = context
        .read_parquet(rollups, ParquetReadOptions::default())
        .await
        .map_err(failed)?
        .select_columns(&columns)
        .map_err(failed)?;
    let mut projection = keys(rollup.grouping);
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
