//! Compacted files and the files they replace, as every reader of the lake sees them.
//!
//! `spider compact` merges a closed hour's many small files into one
//! (`compact-FINGERPRINT.parquet`). An object store cannot swap a set of objects at once, so the
//! swap is a manifest: before the merged file is written, `compact-FINGERPRINT.replaces` names
//! the files it replaces, one per line, all in its own directory. From the moment the merged file
//! exists, a listing through the lake shows it and hides what its manifest names, so a reader
//! sees either the small files or the merged one, never both and never neither; the replaced
//! files are deleted later, once no reader can still be reading them. A manifest without its
//! merged file (a run cut short before writing it) hides nothing.
//!
//! Readers other than Spider (DuckDB over the files themselves) do not read manifests: they see
//! both from the merged file's writing to the replaced files' deletion (`--grace`, a minute by
//! default).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt};

/// How a compacted file's name starts.
const COMPACTED_PREFIX: &str = "compact-";
/// How a compacted file's name ends.
const COMPACTED_SUFFIX: &str = ".parquet";
/// How a manifest's name ends.
const MANIFEST_SUFFIX: &str = ".replaces";
/// The largest manifest read (an hour of a thousand writers' per-minute files is 60k names of
/// some 40 bytes): a larger one is an error, not a reason to read without bound.
pub const MAX_MANIFEST_BYTES: u64 = 8 << 20;
/// Manifests kept read at once (they never change: a name is the fingerprint of what it lists).
const MAX_KEPT_MANIFESTS: usize = 4096;

/// The name of the compacted file of the files with `fingerprint`.
pub fn compacted_name(fingerprint: u64) -> String {
    format!("{COMPACTED_PREFIX}{fingerprint:016x}{COMPACTED_SUFFIX}")
}

/// The name of the manifest of the compacted file named `compacted`.
pub fn manifest_name(compacted: &str) -> Option<String> {
    let stem = compacted
        .strip_prefix(COMPACTED_PREFIX)?
        .strip_suffix(COMPACTED_SUFFIX)?;
    Some(format!("{COMPACTED_PREFIX}{stem}{MANIFEST_SUFFIX}"))
}

/// The name of the compacted file whose manifest is named `manifest`.
pub fn merged_name(manifest: &str) -> Option<String> {
    let stem = manifest
        .strip_prefix(COMPACTED_PREFIX)?
        .strip_suffix(MANIFEST_SUFFIX)?;
    Some(format!("{COMPACTED_PREFIX}{stem}{COMPACTED_SUFFIX}"))
}

/// Whether `name` is a manifest's.
pub fn is_manifest(name: &str) -> bool {
    merged_name(name).is_some()
}

/// A manifest's text: the names it replaces, a line each.
pub fn manifest_text(replaced: &[String]) -> String {
    replaced.iter().map(|name| format!("{name}\n")).collect()
}

/// The last part of a path, and the directory before it (empty at the root).
pub fn split(location: &str) -> (&str, &str) {
    location.rsplit_once('/').unwrap_or(("", location))
}

/// The names a manifest's text lists: each a file name of its directory, nothing else.
fn parse(location: &Path, bytes: &[u8]) -> object_store::Result<Vec<String>> {
    let damaged = |reason: &str| object_store::Error::Generic {
        store: "lake",
        source: format!("the compaction manifest {location} is damaged: {reason}").into(),
    };
    let text = std::str::from_utf8(bytes).map_err(|_| damaged("not UTF-8"))?;
    text.lines()
        .map(|name| {
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                Err(damaged("a line is not a file name"))
            } else {
                Ok(name.to_owned())
            }
        })
        .collect()
}

/// The names the manifest `meta` lists, read whole unless it is larger than a manifest may be.
pub async fn read_manifest(
    store: &dyn ObjectStore,
    meta: &ObjectMeta,
) -> object_store::Result<Vec<String>> {
    if meta.size > MAX_MANIFEST_BYTES {
        return Err(object_store::Error::Generic {
            store: "lake",
            source: format!(
                "the compaction manifest {} has {} bytes, more than the {MAX_MANIFEST_BYTES} \
                 a manifest may have",
                meta.location, meta.size
            )
            .into(),
        });
    }
    let bytes = store.get(&meta.location).await?.bytes().await?;
    parse(&meta.location, &bytes)
}

/// The manifests read so far, by location.
#[derive(Default)]
pub struct Manifests {
    read: Mutex<HashMap<String, Arc<Vec<String>>>>,
}

impl Manifests {
    /// The names the manifest `meta` lists, read once.
    async fn replaced(
        &self,
        store: &dyn ObjectStore,
        meta: &ObjectMeta,
    ) -> object_store::Result<Arc<Vec<String>>> {
        let key = meta.location.to_string();
        if let Some(names) = self.lock().get(&key) {
            return Ok(names.clone());
        }
        let names = Arc::new(read_manifest(store, meta).await?);
        let mut read = self.lock();
        if read.len() >= MAX_KEPT_MANIFESTS {
            read.clear();
        }
        read.insert(key, names.clone());
        Ok(names)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Vec<String>>>> {
        self.read.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// What a listing shows a reader: `objects` without the files that a present compacted file's
/// manifest replaces, and without the manifests.
pub async fn visible(
    store: &dyn ObjectStore,
    manifests: &Manifests,
    objects: Vec<ObjectMeta>,
) -> object_store::Result<Vec<ObjectMeta>> {
    let mut by_location: HashMap<&str, &ObjectMeta> = HashMap::new();
    let mut compacted = Vec::new();
    for meta in &objects {
        let location = meta.location.as_ref();
        by_location.insert(location, meta);
        let (directory, name) = split(location);
        if let Some(manifest) = manifest_name(name) {
            compacted.push((directory, manifest));
        }
    }
    if compacted.is_empty()
        && !objects
            .iter()
            .any(|m| is_manifest(split(m.location.as_ref()).1))
    {
        return Ok(objects);
    }
    let mut hidden: HashSet<String> = HashSet::new();
    for (directory, manifest) in compacted {
        let location = format!("{directory}/{manifest}");
        let Some(meta) = by_location.get(location.as_str()) else {
            continue;
        };
        for name in manifests.replaced(store, meta).await?.iter() {
            hidden.insert(format!("{directory}/{name}"));
        }
    }
    Ok(objects
        .into_iter()
        .filter(|meta| {
            let location = meta.location.as_ref();
            !hidden.contains(location) && !is_manifest(split(location).1)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;
    use object_store::PutPayload;
    use object_store::memory::InMemory;

    use super::*;

    async fn put(store: &InMemory, path: &str, text: &str) {
        store
            .put(&Path::from(path), PutPayload::from(text.to_owned()))
            .await
            .unwrap();
    }

    async fn seen(store: &InMemory) -> Vec<String> {
        let objects = store.list(None).try_collect().await.unwrap();
        let mut names: Vec<String> = visible(store, &Manifests::default(), objects)
            .await
            .unwrap()
            .iter()
            .map(|meta| meta.location.to_string())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_compacted_file_hides_what_its_manifest_names_once_it_exists() {
        let store = InMemory::new();
        put(&store, "d/h=01/a.parquet", "a").await;
        put(&store, "d/h=01/b.parquet", "b").await;
        put(&store, "d/h=02/a.parquet", "other hour").await;
        let compacted = compacted_name(0xab);
        let manifest = manifest_name(&compacted).unwrap();
        assert_eq!(manifest, "compact-00000000000000ab.replaces");
        // The manifest alone (a run cut short) hides nothing, and is not shown.
        let text = manifest_text(&["a.parquet".into(), "b.parquet".into()]);
        put(&store, &format!("d/h=01/{manifest}"), &text).await;
        assert_eq!(
            seen(&store).await,
            ["d/h=01/a.parquet", "d/h=01/b.parquet", "d/h=02/a.parquet"]
        );
        // With its compacted file: that file, not the two; the same name in another hour stays.
        put(&store, &format!("d/h=01/{compacted}"), "ab").await;
        assert_eq!(
            seen(&store).await,
            [format!("d/h=01/{compacted}").as_str(), "d/h=02/a.parquet"]
        );
        // A compacted file without a manifest replaces nothing.
        put(&store, &format!("d/h=02/{}", compacted_name(1)), "x").await;
        assert_eq!(seen(&store).await.len(), 3);
    }

    #[tokio::test]
    async fn a_damaged_or_oversized_manifest_is_an_error_not_a_guess() {
        for text in ["../x.parquet\n", "a\n\nb\n"] {
            let store = InMemory::new();
            let compacted = compacted_name(2);
            put(&store, &format!("d/{compacted}"), "x").await;
            put(
                &store,
                &format!("d/{}", manifest_name(&compacted).unwrap()),
                text,
            )
            .await;
            let objects = store.list(None).try_collect().await.unwrap();
            let error = visible(&store, &Manifests::default(), objects)
                .await
                .unwrap_err();
            assert!(error.to_string().contains("damaged"), "{error}");
        }
        let store = InMemory::new();
        let compacted = compacted_name(3);
        put(&store, &format!("d/{compacted}"), "x").await;
        let huge = "a.parquet\n".repeat((MAX_MANIFEST_BYTES / 10 + 1) as usize);
        put(
            &store,
            &format!("d/{}", manifest_name(&compacted).unwrap()),
            &huge,
        )
        .await;
        let objects = store.list(None).try_collect().await.unwrap();
        let error = visible(&store, &Manifests::default(), objects)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("more than"), "{error}");
    }
}
