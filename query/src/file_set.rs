//! The files a time range reads, as one fingerprint: what an answer over them can be kept by.
//!
//! A published file is never changed (the writers publish whole files by rename or single PUT),
//! so an answer is a function of its request and of the set of files in the directories its
//! range reads. A file that lands late (an agent back from an outage uploading what it staged)
//! changes the set, and so the fingerprint.

use std::hash::{DefaultHasher, Hash, Hasher};

use futures::TryStreamExt;
use spider_lake::Lake;
use spider_records::catalog::covering;
use spider_records::{RecordKind, Timestamp};

use crate::partitions::MAX_SPANS;
use crate::range::TimeRange;
use crate::sql::QueryError;

/// A fingerprint of every published file of every dataset in the directories `range` reads:
/// name, size, modification time and tag.
pub async fn fingerprint(lake: &Lake, range: TimeRange) -> Result<u64, QueryError> {
    let spans = covering(
        Timestamp::from_micros(range.from),
        Timestamp::from_micros(range.to),
        MAX_SPANS,
    );
    let store = lake.store();
    let mut files = Vec::new();
    for kind in RecordKind::ALL {
        let directories: Vec<String> = match &spans {
            Some(spans) => spans.iter().map(|span| span.directory(*kind)).collect(),
            None => vec![kind.as_str().to_owned()],
        };
        for directory in directories {
            let listed: Vec<_> = store
                .list(Some(&lake.key(&directory)))
                .try_collect()
                .await
                .map_err(|e| QueryError::Failed(format!("cannot list {directory}: {e}")))?;
            // What the readers read: files being written (`.NAME.parquet.inprogress`) change
            // size until they are published under their name.
            let published = listed
                .into_iter()
                .filter(|meta| meta.location.extension() == Some("parquet"));
            files.extend(published.map(|meta| {
                (
                    meta.location.to_string(),
                    meta.size,
                    meta.last_modified.timestamp_micros(),
                    meta.e_tag,
                )
            }));
        }
    }
    // Listings come in the store's order, which need not be stable.
    files.sort();
    let mut hasher = DefaultHasher::new();
    files.hash(&mut hasher);
    Ok(hasher.finish())
}
