//! The files a time range reads, as one fingerprint: what an answer over them can be kept by.
//!
//! A published file is never changed (the writers publish whole files by rename or single PUT),
//! so an answer is a function of its request and of the set of files in the directories its
//! range reads. A file that lands late (an agent back from an outage uploading what it staged)
//! changes the set, and so the fingerprint.

use std::collections::HashMap;

use datafusion::object_store::ObjectMeta;
use datafusion::object_store::path::Path as ObjectPath;
use futures::TryStreamExt;
use spider_lake::Lake;
use spider_records::catalog::{PARTITION_COLUMNS, cluster_directory, cluster_of, covering};
use spider_records::{RecordKind, Timestamp};

use crate::partitions::MAX_SPANS;
use crate::range::TimeRange;
use crate::sql::QueryError;

/// A fingerprint of every published file of the datasets `kinds` in the directories `range`
/// reads, in `cluster` or in every cluster: name, size, modification time and tag.
pub async fn fingerprint(
    lake: &Lake,
    range: TimeRange,
    kinds: &[RecordKind],
    cluster: Option<&str>,
) -> Result<u64, QueryError> {
    let spans = covering(
        Timestamp::from_micros(range.from),
        Timestamp::from_micros(range.to),
        MAX_SPANS,
    );
    let mut directories = Vec::new();
    for kind in kinds {
        let clusters = clusters_of(lake, kind.as_str(), cluster).await?;
        for cluster in &clusters {
            match &spans {
                Some(spans) => {
                    directories.extend(spans.iter().map(|span| span.directory(*kind, cluster)));
                }
                None => directories.push(cluster_directory(*kind, cluster)),
            }
        }
    }
    Ok(hash(&published(lake, &directories).await?))
}

/// The clusters a query of `dataset` reads: the one it names, else every one holding part of it.
pub(crate) async fn clusters_of(
    lake: &Lake,
    dataset: &str,
    named: Option<&str>,
) -> Result<Vec<String>, QueryError> {
    if let Some(cluster) = named {
        return Ok(vec![cluster.to_owned()]);
    }
    lake.clusters(dataset)
        .await
        .map_err(|e| QueryError::Failed(format!("cannot list {dataset}: {e}")))
}

/// A fingerprint of the published files below one directory, and how many there are.
pub async fn directory_fingerprint(
    lake: &Lake,
    directory: &str,
) -> Result<(u64, usize), QueryError> {
    let files = published(lake, &[directory.to_owned()]).await?;
    Ok((hash(&files), files.len()))
}

/// An hour partition of one cluster: (cluster, date, hour).
pub type HourKey = (String, String, u32);

/// The published files below `directory`, fingerprinted by the hour partition each is in:
/// (cluster, date, hour) → (fingerprint, files).
pub async fn fingerprints_by_hour(
    lake: &Lake,
    directory: String,
) -> Result<HashMap<HourKey, (u64, usize)>, QueryError> {
    let mut by_hour: HashMap<HourKey, Vec<FileKey>> = HashMap::new();
    for file in published(lake, &[directory]).await? {
        if let Some(hour) = hour_partition(&file.0) {
            by_hour.entry(hour).or_default().push(file);
        }
    }
    Ok(by_hour
        .into_iter()
        .map(|(hour, files)| (hour, (hash(&files), files.len())))
        .collect())
}

/// The (cluster, date, hour) partition a file's path is in.
pub(crate) fn hour_partition(path: &str) -> Option<HourKey> {
    let [_, date, hour] = PARTITION_COLUMNS;
    let mut found = (None, None);
    for part in path.split('/') {
        if let Some(value) = part.strip_prefix(&format!("{date}=")) {
            found.0 = Some(value.to_owned());
        } else if let Some(value) = part.strip_prefix(&format!("{hour}=")) {
            found.1 = value.parse().ok();
        }
    }
    Some((cluster_of(path)?.to_owned(), found.0?, found.1?))
}

/// A published file: its path below the lake, size, modification time (µs) and tag.
pub(crate) type FileKey = (String, u64, i64, Option<String>);

/// The published files below `directories`: name, size, modification time and tag, sorted
/// (listings come in the store's order, which need not be stable).
pub(crate) async fn published(
    lake: &Lake,
    directories: &[String],
) -> Result<Vec<FileKey>, QueryError> {
    let store = lake.store();
    let root = lake.key("");
    let mut files = Vec::new();
    for directory in directories {
        let listed: Vec<_> = store
            .list(Some(&lake.key(directory)))
            .try_collect()
            .await
            .map_err(|e| QueryError::Failed(format!("cannot list {directory}: {e}")))?;
        files.extend(file_keys(&root, listed));
    }
    files.sort();
    Ok(files)
}

/// The published files of a listing below `root`, by their key. What the readers read: files
/// being written (`.NAME.parquet.inprogress`) change size until they are published under their
/// name.
fn file_keys(
    root: &ObjectPath,
    listed: impl IntoIterator<Item = ObjectMeta>,
) -> impl Iterator<Item = FileKey> {
    listed
        .into_iter()
        .filter(|meta| meta.location.extension() == Some("parquet"))
        .map(|meta| {
            // Relative to the root: the same lake mounted elsewhere is the same files.
            let relative = meta.location.prefix_match(root).map_or_else(
                || meta.location.to_string(),
                |parts| {
                    parts
                        .map(|part| part.as_ref().to_owned())
                        .collect::<Vec<_>>()
                        .join("/")
                },
            );
            (
                relative,
                meta.size,
                meta.last_modified.timestamp_micros(),
                meta.e_tag,
            )
        })
}

/// The fingerprint of the published files among `listed`, as [`directory_fingerprint`] gives it.
pub(crate) fn fingerprint_of(lake: &Lake, listed: &[ObjectMeta]) -> u64 {
    let mut files: Vec<FileKey> = file_keys(&lake.key(""), listed.iter().cloned()).collect();
    files.sort();
    hash(&files)
}

/// FNV-1a over each file's fields: stable across builds, since rollups are named by it.
fn hash(files: &[FileKey]) -> u64 {
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for byte in bytes {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(PRIME);
        }
    };
    for (path, size, modified, tag) in files {
        eat(path.as_bytes());
        eat(&[0]);
        eat(&size.to_le_bytes());
        eat(&modified.to_le_bytes());
        eat(tag.as_deref().unwrap_or("").as_bytes());
        eat(&[0]);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_fixed_and_sees_every_field() {
        let file = |path: &str, size, modified, tag: Option<&str>| {
            (path.to_owned(), size, modified, tag.map(str::to_owned))
        };
        let files = vec![file(
            "network_usage/cluster=default/date=2026-11-21/hour=05/a.parquet",
            10,
            7,
            None,
        )];
        // Rollups are named by it: a new build must give the same value for the same files
        // (FNV-1a, as computed independently).
        assert_eq!(hash(&files), 0xdfe0_8b4d_9040_9f63);
        assert_ne!(hash(&files), hash(&[file(&files[0].0, 11, 7, None)]));
        assert_ne!(hash(&files), hash(&[file(&files[0].0, 10, 8, None)]));
        assert_ne!(hash(&files), hash(&[file(&files[0].0, 10, 7, Some("e"))]));
        assert_ne!(hash(&files), hash(&[]));
        assert_eq!(
            hour_partition("lake/network_usage/cluster=a/date=2026-11-21/hour=05/x.parquet"),
            Some(("a".to_owned(), "2026-11-21".to_owned(), 5))
        );
        assert_eq!(
            hour_partition("network_usage/cluster=a/date=2026-11-21/x.parquet"),
            None
        );
        assert_eq!(
            hour_partition("network_usage/date=2026-11-21/hour=05/x.parquet"),
            None
        );
    }
}
