//! Retention: a dataset's partitions older than its maximum age, deleted whole.
//!
//! Every cluster's part of the dataset is walked. A partition goes when all of it is older than the cutoff (`now - max_age`): a whole day when
//! the day ended before it, else the hours of that day that did. Nothing younger is touched, and
//! a partition is deleted file by file through the store (a local lake also loses its emptied
//! directories), so a run cut short leaves whole files and the next run finishes the job.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectMeta;
use object_store::path::Path as ObjectPath;
use spider_records::Timestamp;
use spider_records::time::MICROS_PER_HOUR;

use crate::Lake;

/// A partition retention removed (or, in a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    /// Its directory in the lake (`packets/cluster=prod/date=2026-11-21` or `…/hour=05`).
    pub partition: String,
    /// Its files.
    pub files: usize,
    /// Their bytes.
    pub bytes: u64,
}

/// Deletes the partitions of `dataset` (a record kind's, or a dataset derived from one) that
/// ended `max_age` or more before `now` (only lists them with `dry_run`), oldest first.
pub async fn apply(
    lake: &Lake,
    dataset: &str,
    max_age: Duration,
    now: Timestamp,
    dry_run: bool,
) -> object_store::Result<Vec<Removed>> {
    let age = spider_records::time::duration_micros(max_age);
    let cutoff = now.as_micros().saturating_sub(age);
    let mut expired = Vec::new();
    for cluster in lake.clusters(dataset).await? {
        for day in lake.days(dataset, &cluster).await? {
            let start = day.start.as_micros();
            if start + 24 * MICROS_PER_HOUR <= cutoff {
                expired.push(day.path);
            } else if start < cutoff {
                for hour in lake.hours(&day).await? {
                    if hour.start.as_micros() + MICROS_PER_HOUR <= cutoff {
                        expired.push(hour.path);
                    }
                }
            }
        }
    }
    expired.sort();
    let mut removed = Vec::with_capacity(expired.len());
    for partition in expired {
        removed.push(remove(lake, partition, dry_run).await?);
    }
    Ok(removed)
}

async fn remove(lake: &Lake, partition: String, dry_run: bool) -> object_store::Result<Removed> {
    // Every file, those a compacted file replaces and the manifests included.
    let store = lake.raw_store();
    let files: Vec<ObjectMeta> = store
        .list(Some(&lake.key(&partition)))
        .try_collect()
        .await?;
    let removed = Removed {
        files: files.len(),
        bytes: files.iter().map(|meta| meta.size).sum(),
        partition,
    };
    if dry_run {
        return Ok(removed);
    }
    // Plain files, then merged files, then the manifests: were a manifest to go first and the
    // run stop there, its merged file would be read beside what it replaces.
    let rank = |meta: &ObjectMeta| {
        let name = crate::compacted::split(meta.location.as_ref()).1;
        if crate::compacted::is_manifest(name) {
            2
        } else {
            u8::from(crate::compacted::manifest_name(name).is_some())
        }
    };
    for pass in 0..3 {
        let locations: Vec<ObjectPath> = files
            .iter()
            .filter(|meta| rank(meta) == pass)
            .map(|meta| meta.location.clone())
            .collect();
        store
            .delete_stream(futures::stream::iter(locations.into_iter().map(Ok)).boxed())
            .try_collect::<Vec<_>>()
            .await?;
    }
    if let Some(root) = lake.local_dir() {
        // The store deletes files; a directory's emptied tree goes with it.
        let _ = std::fs::remove_dir_all(root.join(&removed.partition));
    }
    Ok(removed)
}
