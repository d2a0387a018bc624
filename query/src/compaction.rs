//! `spider compact`: each closed hour's small files merged into one, sorted, and swapped in at
//! once for every reader of the lake.
//!
//! Every agent writes a file per dataset per minute, so a day of a 50-node cluster is some
//! 72,000 files per dataset, and a query over it opens each. Compaction reads an hour's files,
//! writes them as one under a name no reader reads, checks that it holds every row read, and
//! publishes it in their place, in row groups that a filter can skip: network usage sorted for
//! the filters users apply most (the server's then the client's namespace and workload, then
//! time), the other datasets in their writers' time order.
//!
//! The swap is the lake's manifest ([`spider_lake::compacted`]): the manifest naming every file
//! whose rows the merged file holds is written first, then the merged file is published; from
//! then on readers see it instead of those files, which are deleted `grace` later, when no query
//! can still be reading them. The manifest stays with its merged file. Every step is a whole
//! object, so a run cut short anywhere leaves the lake as it was or as it will be, and the next
//! run carries on: a manifest whose file never came hides nothing and goes hours later, replaced
//! files still there are deleted. A file landing late in a merged hour is merged with the merged
//! file by the next run; two runs on one hour at once leave one merged file that counts.

use std::collections::HashSet;
use std::time::Duration;

use datafusion::common::config::TableParquetOptions;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use datafusion::prelude::{ParquetReadOptions, SessionContext, col};
use futures::TryStreamExt;
use spider_lake::Lake;
use spider_lake::compacted::{
    MAX_MANIFEST_BYTES, Manifests, Resolution, compacted_name, manifest_name, manifest_text,
    merged_name, resolve, split,
};
use spider_records::catalog::{DATASET_KEY, SCHEMA_VERSION_KEY};
use spider_records::time::{MICROS_PER_HOUR, duration_micros};
use spider_records::{RecordKind, Timestamp};

use crate::file_set::fingerprint_of;
use crate::frame::{failed, unlisted};
use crate::sql::QueryError;

/// Rows per row group of a merged file: small enough that the sort lets a namespace's filter
/// skip most of an hour.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// How old a manifest without its merged file (or a merged file not yet published) must be to
/// be dropped: older than any run could take to publish that file. Were a manifest to go before
/// a slow run published its file, the file would count beside what it replaces.
const ORPHAN_AFTER: i64 = 6 * MICROS_PER_HOUR;

/// How an unpublished merged file's name ends: written, checked, then renamed into place.
const UNPUBLISHED: &str = ".inprogress";

/// One hour merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compacted {
    /// The hour's directory (`network_usage/cluster=…/date=…/hour=…`).
    pub hour: String,
    /// The files merged.
    pub files: usize,
    /// The rows they held, all in the merged file.
    pub rows: u64,
}

/// What one run did: hours merged, files deleted, hours that failed (the others are merged all
/// the same; the next run tries the failed ones again).
#[derive(Debug, Default)]
pub struct CompactionRun {
    /// Hours merged.
    pub compacted: Vec<Compacted>,
    /// Replaced files, and manifests done with, deleted.
    pub deleted: usize,
    /// Hours that failed, with why.
    pub failed: Vec<(String, QueryError)>,
}

/// When and how far back a run works.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// The run's time.
    pub now: Timestamp,
    /// How long after an hour ends it is merged.
    pub settle: Duration,
    /// How long after a merged file's publication what it replaces is deleted.
    pub grace: Duration,
    /// Hours that ended longer ago than this are left as they are (merged by earlier runs).
    pub lookback: Duration,
}

/// In every hour of every dataset but `packets` that ended between `lookback` and `settle`
/// before `now`: deletes what merged files published `grace` or more ago replace, then merges
/// the hour's files if there is more than one. What this run merges is deleted by a run `grace`
/// later. `packets` is left as written: its files are frames already large, and a merge would
/// rewrite gigabytes an hour.
pub async fn compact(
    lake: &Lake,
    context: &SessionContext,
    schedule: Schedule,
) -> Result<CompactionRun, QueryError> {
    let now = schedule.now.as_micros();
    let closed_before = now.saturating_sub(duration_micros(schedule.settle));
    let ended_after = now.saturating_sub(duration_micros(schedule.lookback));
    let mut hours = Vec::new();
    for kind in RecordKind::ALL
        .iter()
        .filter(|kind| **kind != RecordKind::Packet)
    {
        let dataset = kind.as_str();
        for cluster in lake.clusters(dataset).await.map_err(unlisted)? {
            for day in lake.days(dataset, &cluster).await.map_err(unlisted)? {
                if day.start.as_micros() + 24 * MICROS_PER_HOUR <= ended_after {
                    continue;
                }
                for hour in lake.hours(&day).await.map_err(unlisted)? {
                    let end = hour.start.as_micros() + MICROS_PER_HOUR;
                    if end <= closed_before && end > ended_after {
                        hours.push((*kind, hour.path));
                    }
                }
            }
        }
    }
    let mut run = CompactionRun::default();
    for (kind, hour) in &hours {
        let merged = async {
            run.deleted += clean(lake, hour, schedule.grace).await?;
            merge(lake, context, *kind, hour).await
        };
        match merged.await {
            Ok(Some(compacted)) => run.compacted.push(compacted),
            Ok(None) => {}
            Err(error) => run.failed.push((hour.clone(), error)),
        }
    }
    Ok(run)
}

/// Every object of an hour directory, those readers do not see included, and how its merged
/// files stand.
async fn survey(lake: &Lake, hour: &str) -> Result<(Vec<ObjectMeta>, Resolution), QueryError> {
    let store = lake.raw_store();
    let objects: Vec<ObjectMeta> = store
        .list(Some(&lake.key(hour)))
        .try_collect()
        .await
        .map_err(|e| QueryError::Failed(format!("cannot list {hour}: {e}")))?;
    let resolution = resolve(store.as_ref(), &Manifests::default(), &objects)
        .await
        .map_err(|e| QueryError::Failed(format!("cannot read {hour}'s manifests: {e}")))?;
    Ok((objects, resolution))
}

/// Deletes, in an hour directory: a merged file that conflicts with the one that counts (and
/// its manifest); what merged files published `grace` or more before `now` hide, with the
/// manifests of the merged files among them; manifests and unpublished files left by runs that
/// stopped. The manifest of a merged file that counts stays with it, to hide a replaced file
/// uploaded again (and this deletes that again). Returns how many objects went.
///
/// Ages are those of the files, as the store stamps them, against this machine's clock (not the
/// run's `now`, which says which hours are closed).
async fn clean(lake: &Lake, hour: &str, grace: Duration) -> Result<usize, QueryError> {
    let store = lake.raw_store();
    let (objects, resolution) = survey(lake, hour).await?;
    let now = Timestamp::now().as_micros();
    let settled = now.saturating_sub(duration_micros(grace));
    let orphaned = now.saturating_sub(ORPHAN_AFTER);
    let written = |meta: &ObjectMeta| meta.last_modified.timestamp_micros();
    let conflicting: HashSet<&str> = resolution
        .conflicting
        .iter()
        .map(|m| m.location.as_ref())
        .collect();
    let hidden_by_settled: HashSet<&str> = resolution
        .effective
        .iter()
        .filter(|e| e.written <= settled)
        .flat_map(|e| e.hides.iter().map(String::as_str))
        .collect();
    let mut gone: HashSet<&str> = HashSet::new();
    for meta in &objects {
        let location = meta.location.as_ref();
        let name = split(location).1;
        let replaced = hidden_by_settled.contains(location) || conflicting.contains(location);
        let abandoned = name.ends_with(UNPUBLISHED) && written(meta) <= orphaned;
        if replaced || abandoned {
            delete(store.as_ref(), &meta.location).await?;
            gone.insert(location);
        }
    }
    // A manifest goes with its merged file, or once it is clear that file will not come.
    let present: HashSet<&str> = objects
        .iter()
        .map(|m| m.location.as_ref())
        .filter(|location| !gone.contains(location))
        .collect();
    let mut deleted = gone.len();
    for meta in &objects {
        let (directory, name) = split(meta.location.as_ref());
        let Some(merged) = merged_name(name) else {
            continue;
        };
        let merged = format!("{directory}/{merged}");
        let with_its_file = gone.contains(merged.as_str());
        let never_came = !present.contains(merged.as_str()) && written(meta) <= orphaned;
        if with_its_file || never_came {
            delete(store.as_ref(), &meta.location).await?;
            deleted += 1;
        }
    }
    Ok(deleted)
}

async fn delete(store: &dyn ObjectStore, location: &ObjectPath) -> Result<(), QueryError> {
    match store.delete(location).await {
        Ok(()) | Err(datafusion::object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(QueryError::Failed(format!("cannot delete {location}: {e}"))),
    }
}

/// Merges an hour's visible files into one when it has more than one.
async fn merge(
    lake: &Lake,
    context: &SessionContext,
    kind: RecordKind,
    hour: &str,
) -> Result<Option<Compacted>, QueryError> {
    let (objects, resolution) = survey(lake, hour).await?;
    if !resolution.conflicting.is_empty() {
        // The next run's clean-up settles it first.
        return Ok(None);
    }
    let is_data = |meta: &&ObjectMeta| meta.location.extension() == Some("parquet");
    let inputs: Vec<ObjectMeta> = objects
        .iter()
        .filter(is_data)
        .filter(|meta| !resolution.hidden.contains(meta.location.as_ref()))
        .cloned()
        .collect();
    if inputs.len() < 2 {
        return Ok(None);
    }
    let url = |name: &str| format!("{}{hour}/{name}", lake.url());
    let input_urls: Vec<String> = inputs
        .iter()
        .map(|meta| url(split(meta.location.as_ref()).1))
        .collect();
    refuse_newer_columns(context, kind, hour, &format!("{}{hour}/", lake.url())).await?;
    // Every name whose rows the merged file holds: the inputs, and all the merged files that
    // count hide (some long deleted: a retried upload of one is hidden too).
    let mut names: Vec<String> = inputs
        .iter()
        .map(|meta| meta.location.as_ref())
        .chain(resolution.hidden.iter().map(String::as_str))
        .map(|location| split(location).1.to_owned())
        .collect();
    names.sort();
    names.dedup();
    let text = manifest_text(&names);
    if text.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(QueryError::Failed(format!(
            "{hour} has {} files: their names pass the {MAX_MANIFEST_BYTES} bytes a manifest \
             may have, so it is left as it is",
            names.len()
        )));
    }
    let merged = compacted_name(fingerprint_of(lake, &inputs));
    let manifest = manifest_name(&merged).expect("a compacted name has a manifest");
    let store = lake.raw_store();
    store
        .put(
            &lake.key(&format!("{hour}/{manifest}")),
            PutPayload::from(text),
        )
        .await
        .map_err(|e| QueryError::Failed(format!("cannot write {hour}/{manifest}: {e}")))?;
    let frame = context
        .read_parquet(
            input_urls,
            ParquetReadOptions::default().schema(&kind.schema()),
        )
        .await
        .map_err(failed)?;
    let rows = frame.clone().count().await.map_err(failed)? as u64;
    let sorted = match sort_columns(kind) {
        Some(columns) => frame
            .sort(columns.iter().map(|c| col(*c).sort(true, true)).collect())
            .map_err(failed)?,
        None => frame,
    };
    // Written under a name no reader reads, checked, then published by a rename (a copy in an
    // object store: whole or not at all).
    let unpublished = format!("{merged}{UNPUBLISHED}");
    sorted
        .write_parquet(
            &url(&unpublished),
            DataFrameWriteOptions::new().with_single_file_output(true),
            Some(writer_options(kind)),
        )
        .await
        .map_err(failed)?;
    let written = context
        .read_parquet(
            url(&unpublished),
            ParquetReadOptions::default().file_extension(UNPUBLISHED),
        )
        .await
        .map_err(failed)?
        .count()
        .await
        .map_err(failed)? as u64;
    let (from, to) = (
        lake.key(&format!("{hour}/{unpublished}")),
        lake.key(&format!("{hour}/{merged}")),
    );
    if written != rows {
        delete(store.as_ref(), &from).await?;
        return Err(QueryError::Failed(format!(
            "{hour}: the merged file held {written} rows of the {rows} read; not published"
        )));
    }
    store
        .rename(&from, &to)
        .await
        .map_err(|e| QueryError::Failed(format!("cannot publish {to}: {e}")))?;
    Ok(Some(Compacted {
        hour: hour.to_owned(),
        files: inputs.len(),
        rows,
    }))
}

/// Refuses an hour one of whose files has a column this build does not know (written by a newer
/// agent): merged, it would lose that column. The hour's directory is read as one table, whose
/// schema DataFusion merges from every file's (a list of files takes the first one's).
async fn refuse_newer_columns(
    context: &SessionContext,
    kind: RecordKind,
    hour: &str,
    directory: &str,
) -> Result<(), QueryError> {
    let known = kind.schema();
    let read = context
        .read_parquet(directory, ParquetReadOptions::default())
        .await
        .map_err(failed)?;
    let unknown: Vec<&str> = read
        .schema()
        .fields()
        .iter()
        .map(|field| field.name().as_str())
        .filter(|name| known.field_with_name(name).is_err())
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(QueryError::Failed(format!(
            "{hour} has columns this version does not know ({}): written by a newer Spider, so \
             left as it is",
            unknown.join(", ")
        )))
    }
}

/// How a merged file is written: zstd, row groups a filter can skip, the dataset's metadata as
/// the exporter writes it.
fn writer_options(kind: RecordKind) -> TableParquetOptions {
    let mut options = TableParquetOptions::default();
    options.global.compression = Some("zstd(3)".into());
    options.global.max_row_group_size = ROW_GROUP_ROWS;
    options
        .key_value_metadata
        .insert(DATASET_KEY.into(), Some(kind.as_str().into()));
    options.key_value_metadata.insert(
        SCHEMA_VERSION_KEY.into(),
        Some(kind.schema_version().to_string()),
    );
    options
}

/// The columns a dataset's merged file is sorted by: what its filters name most, then time.
/// The other datasets are written in their files' order, which is each writer's time order.
fn sort_columns(kind: RecordKind) -> Option<[&'static str; 5]> {
    (kind == RecordKind::NetworkUsage).then_some([
        "server_namespace",
        "server_owner_name",
        "client_namespace",
        "client_owner_name",
        kind.time_column(),
    ])
}
