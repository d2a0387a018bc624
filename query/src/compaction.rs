//! `spider compact`: each closed hour's small files merged into one, sorted, and swapped in at
//! once for every reader of the lake.
//!
//! Every agent writes a file per dataset per minute, so a day of a 50-node cluster is some
//! 72,000 files per dataset, and a query over it opens each. Compaction reads an hour's files,
//! checks that it wrote every row it read, and publishes one file in their place, in row groups
//! that a filter can skip: network usage sorted for the filters users apply most (the server's
//! then the client's namespace and workload, then time), every other dataset in its writers' time
//! order.
//!
//! The swap is the lake's manifest ([`spider_lake::compacted`]): the manifest naming the hour's
//! files is written first, then the merged file; once that exists, readers see it instead of
//! the files it replaces. Those are deleted `grace` later, when no query can still be reading
//! them, and then the manifest. Every step is a whole object, so a run cut short anywhere leaves
//! the lake as it was or as it will be, and the next run carries on: a manifest without its
//! merged file is dropped and the hour merged again, replaced files still there are deleted.
//! A file landing late in a merged hour is merged with the merged file by the next run.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use datafusion::common::config::TableParquetOptions;
use datafusion::dataframe::DataFrameWriteOptions;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use datafusion::prelude::{ParquetReadOptions, SessionContext, col};
use futures::TryStreamExt;
use spider_lake::Lake;
use spider_lake::compacted::{
    compacted_name, manifest_name, manifest_text, merged_name, read_manifest, split,
};
use spider_records::catalog::{DATASET_KEY, SCHEMA_VERSION_KEY};
use spider_records::time::MICROS_PER_HOUR;
use spider_records::{RecordKind, Timestamp};

use crate::file_set::directory_fingerprint;
use crate::frame::failed;
use crate::sql::QueryError;

/// Rows per row group of a merged file: small enough that the sort lets a namespace's filter
/// skip most of an hour.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// How old a manifest without its merged file must be to be dropped: older than any run could
/// take to write that file.
const ORPHAN_AFTER: i64 = MICROS_PER_HOUR;

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

/// In every hour of every dataset that ended `settle` or more before `now`: deletes what merged
/// files written `grace` or more ago replace, then merges the files if there is more than one.
/// What this run merges is deleted by a run `grace` later.
pub async fn compact(
    lake: &Lake,
    context: &SessionContext,
    now: Timestamp,
    settle: Duration,
    grace: Duration,
) -> Result<CompactionRun, QueryError> {
    let settle = micros(settle);
    let closed_before = now.as_micros().saturating_sub(settle);
    let mut hours = Vec::new();
    for kind in RecordKind::ALL {
        let dataset = kind.as_str();
        for cluster in lake.clusters(dataset).await.map_err(listing)? {
            for day in lake.days(dataset, &cluster).await.map_err(listing)? {
                for hour in lake.hours(&day).await.map_err(listing)? {
                    if hour.start.as_micros() + MICROS_PER_HOUR <= closed_before {
                        hours.push((*kind, hour.path));
                    }
                }
            }
        }
    }
    let mut run = CompactionRun::default();
    for (kind, hour) in &hours {
        let merged = async {
            run.deleted += clean(lake, hour, grace).await?;
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

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

fn listing(error: datafusion::object_store::Error) -> QueryError {
    QueryError::Failed(format!("cannot list the lake: {error}"))
}

/// Every object of an hour directory, those readers do not see included.
async fn everything(lake: &Lake, hour: &str) -> Result<Vec<ObjectMeta>, QueryError> {
    lake.raw_store()
        .list(Some(&lake.key(hour)))
        .try_collect()
        .await
        .map_err(|e| QueryError::Failed(format!("cannot list {hour}: {e}")))
}

/// Deletes, in an hour directory, the files that merged files older than `grace` replace, then
/// the manifests that hide nothing any more; returns how many objects went.
///
/// A merged file that is itself replaced (a late file merged with it) goes only after the files
/// it replaces: were it to go first and the run stop there, those would be seen again beside the
/// newer merged file, which holds their rows too.
async fn clean(lake: &Lake, hour: &str, grace: Duration) -> Result<usize, QueryError> {
    let store = lake.raw_store();
    let objects = everything(lake, hour).await?;
    let settled = Timestamp::now().as_micros().saturating_sub(micros(grace));
    let orphaned = Timestamp::now().as_micros().saturating_sub(ORPHAN_AFTER);
    let by_location: HashMap<&str, &ObjectMeta> =
        objects.iter().map(|m| (m.location.as_ref(), m)).collect();
    // Each manifest: itself, its merged file's location, and the locations it names.
    let mut manifests = Vec::new();
    for meta in &objects {
        let (directory, name) = split(meta.location.as_ref());
        let Some(merged) = merged_name(name) else {
            continue;
        };
        let names = read_manifest(store.as_ref(), meta)
            .await
            .map_err(|e| QueryError::Failed(format!("cannot read {}: {e}", meta.location)))?;
        let replaced: Vec<String> = names
            .iter()
            .map(|name| format!("{directory}/{name}"))
            .collect();
        manifests.push((meta, format!("{directory}/{merged}"), replaced));
    }
    let mut gone: HashSet<String> = HashSet::new();
    let there = |location: &str, gone: &HashSet<String>| {
        by_location.contains_key(location) && !gone.contains(location)
    };
    // Merged files still hiding something, by location.
    let hiding = |gone: &HashSet<String>| -> HashSet<String> {
        manifests
            .iter()
            .filter(|(_, merged, replaced)| {
                there(merged, gone) && replaced.iter().any(|r| there(r, gone))
            })
            .map(|(_, merged, _)| merged.clone())
            .collect()
    };
    loop {
        let still_hiding = hiding(&gone);
        let doomed: Vec<String> = manifests
            .iter()
            .filter(|(_, merged, _)| {
                there(merged, &gone)
                    && by_location[merged.as_str()]
                        .last_modified
                        .timestamp_micros()
                        <= settled
            })
            .flat_map(|(_, _, replaced)| replaced.iter())
            .filter(|location| there(location, &gone) && !still_hiding.contains(*location))
            .cloned()
            .collect();
        if doomed.is_empty() {
            break;
        }
        for location in doomed {
            delete(store.as_ref(), &by_location[location.as_str()].location).await?;
            gone.insert(location);
        }
    }
    // A manifest whose files are all gone hides nothing; one whose merged file never came is
    // dropped once no run can still be writing that file.
    let mut deleted = gone.len();
    for (meta, merged, replaced) in &manifests {
        let done = replaced.iter().all(|r| !there(r, &gone));
        let abandoned = !by_location.contains_key(merged.as_str())
            && meta.last_modified.timestamp_micros() <= orphaned;
        if done || abandoned {
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
    let listed: Vec<ObjectMeta> = lake
        .store()
        .list(Some(&lake.key(hour)))
        .try_collect()
        .await
        .map_err(|e| QueryError::Failed(format!("cannot list {hour}: {e}")))?;
    let mut names: Vec<String> = listed
        .iter()
        .filter(|meta| meta.location.extension() == Some("parquet"))
        .map(|meta| split(meta.location.as_ref()).1.to_owned())
        .collect();
    if names.len() < 2 {
        return Ok(None);
    }
    names.sort();
    let (fingerprint, _) = directory_fingerprint(lake, hour).await?;
    let merged = compacted_name(fingerprint);
    let manifest = manifest_name(&merged).expect("a compacted name has a manifest");
    lake.raw_store()
        .put(
            &lake.key(&format!("{hour}/{manifest}")),
            PutPayload::from(manifest_text(&names)),
        )
        .await
        .map_err(|e| QueryError::Failed(format!("cannot write {hour}/{manifest}: {e}")))?;
    let url = |name: &str| format!("{}{hour}/{name}", lake.url());
    let schema = kind.schema();
    let inputs = context
        .read_parquet(
            names.iter().map(|name| url(name)).collect::<Vec<_>>(),
            ParquetReadOptions::default().schema(&schema),
        )
        .await
        .map_err(failed)?;
    let rows = inputs.clone().count().await.map_err(failed)? as u64;
    let sorted = match sort_columns(kind) {
        Some(columns) => inputs
            .sort(columns.iter().map(|c| col(*c).sort(true, true)).collect())
            .map_err(failed)?,
        None => inputs,
    };
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
    sorted
        .write_parquet(
            &url(&merged),
            DataFrameWriteOptions::new().with_single_file_output(true),
            Some(options),
        )
        .await
        .map_err(failed)?;
    // Published now: readers see it in place of its inputs. Had it lost a row, take it back.
    let written = context
        .read_parquet(url(&merged), ParquetReadOptions::default())
        .await
        .map_err(failed)?
        .count()
        .await
        .map_err(failed)? as u64;
    if written != rows {
        delete(
            lake.raw_store().as_ref(),
            &lake.key(&format!("{hour}/{merged}")),
        )
        .await?;
        return Err(QueryError::Failed(format!(
            "{hour}/{merged} has {written} rows of the {rows} read: removed"
        )));
    }
    Ok(Some(Compacted {
        hour: hour.to_owned(),
        files: names.len(),
        rows,
    }))
}

/// The columns a dataset's merged file is sorted by: what its filters name most, then time.
/// The other datasets are written in their files' order, which is each writer's time order:
/// sorting an hour of frames would spill gigabytes for little.
fn sort_columns(kind: RecordKind) -> Option<[&'static str; 5]> {
    (kind == RecordKind::NetworkUsage).then_some([
        "server_namespace",
        "server_owner_name",
        "client_namespace",
        "client_owner_name",
        kind.time_column(),
    ])
}
