//! Compacted files and the files they replace, as every reader of the lake sees them.
//!
//! `spider compact` merges a closed hour's many small files into one
//! (`compact-FINGERPRINT.parquet`). An object store cannot swap a set of objects at once, so the
//! swap is a manifest: before the merged file is published, `compact-FINGERPRINT.replaces`
//! names, one per line and all in its own directory, every file whose rows the merged file
//! holds — the small files, and earlier merged files with everything their manifests named.
//! From the moment the merged file exists, a listing through the lake shows it and hides what its
//! manifest names ([`resolve`]); a file uploaded again after its deletion (a retried upload) is
//! hidden too, as the manifest stays while its merged file does. The replaced files are deleted
//! later, once no reader can still be reading them. A manifest without its merged file (a run cut
//! short before publishing) hides nothing; of two merged files of one hour, the one whose names
//! hold all of the other's counts alone.
//!
//! Readers other than Spider (DuckDB over the files themselves) do not read manifests: they see
//! both from the merged file's publication to the replaced files' deletion (`spider compact`'s
//! `--grace`).

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
/// Manifests kept read at once, and the names they may hold together (some 40 MB).
const MAX_KEPT_MANIFESTS: usize = 4096;
const MAX_KEPT_NAMES: usize = 500_000;

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

/// The manifests read so far, by location, size and time (a name rewritten with other contents
/// is read again), bounded by the names they hold together.
#[derive(Default)]
pub struct Manifests {
    read: Mutex<KeptManifests>,
}

#[derive(Default)]
struct KeptManifests {
    by_key: HashMap<(String, u64, i64), Arc<Vec<String>>>,
    names: usize,
}

impl Manifests {
    /// The names the manifest `meta` lists, read once.
    async fn replaced(
        &self,
        store: &dyn ObjectStore,
        meta: &ObjectMeta,
    ) -> object_store::Result<Arc<Vec<String>>> {
        let key = (
            meta.location.to_string(),
            meta.size,
            meta.last_modified.timestamp_micros(),
        );
        if let Some(names) = self.lock().by_key.get(&key) {
            return Ok(names.clone());
        }
        let names = Arc::new(read_manifest(store, meta).await?);
        let mut kept = self.lock();
        if kept.by_key.len() >= MAX_KEPT_MANIFESTS || kept.names + names.len() > MAX_KEPT_NAMES {
            kept.by_key.clear();
            kept.names = 0;
        }
        kept.names += names.len();
        kept.by_key.insert(key, names.clone());
        Ok(names)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, KeptManifests> {
        self.read.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A merged file that counts: what it stands for in its directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Its location.
    pub merged: String,
    /// When it was written (µs).
    pub written: i64,
    /// Every location its manifest names, and the merged files whose names it holds all of.
    pub hides: HashSet<String>,
}

/// How the merged files of a listing stand.
#[derive(Debug, Default)]
pub struct Resolution {
    /// The merged files that count, at most one per directory unless their names are apart.
    pub effective: Vec<Effective>,
    /// Merged files whose names overlap an effective one's without being held by it: two
    /// compactions that disagree, which nothing written by `spider compact` leads to. A reader
    /// refuses the directory rather than count rows twice; compaction deletes these.
    pub conflicting: Vec<ObjectMeta>,
    /// Every location the effective merged files hide.
    pub hidden: HashSet<String>,
}

/// Which merged files of `objects` count and what they hide.
///
/// A merged file counts when its manifest is there. Manifests are cumulative (each names every
/// file of its directory it holds the rows of, earlier merged files and what they held
/// included), so of two merged files the one whose names hold all of the other's stands for
/// both: two compactions of one hour running at once, or one run after another, leave one that
/// counts.
pub async fn resolve(
    store: &dyn ObjectStore,
    manifests: &Manifests,
    objects: &[ObjectMeta],
) -> object_store::Result<Resolution> {
    let by_location: HashMap<&str, &ObjectMeta> =
        objects.iter().map(|m| (m.location.as_ref(), m)).collect();
    // Merged files with their manifests, by directory.
    let mut candidates: HashMap<&str, Vec<(&ObjectMeta, HashSet<String>)>> = HashMap::new();
    for meta in objects {
        let (directory, name) = split(meta.location.as_ref());
        let Some(manifest) = manifest_name(name) else {
            continue;
        };
        let Some(manifest) = by_location.get(format!("{directory}/{manifest}").as_str()) else {
            continue;
        };
        let names = manifests.replaced(store, manifest).await?;
        let names = names
            .iter()
            .map(|name| format!("{directory}/{name}"))
            .collect();
        candidates.entry(directory).or_default().push((meta, names));
    }
    let mut resolution = Resolution::default();
    for (_, mut merged) in candidates {
        // The widest first, then the newest: what the others are measured against.
        merged.sort_by(|(a, a_names), (b, b_names)| {
            (b_names.len(), b.last_modified, &b.location).cmp(&(
                a_names.len(),
                a.last_modified,
                &a.location,
            ))
        });
        let mut effective: Vec<Effective> = Vec::new();
        for (meta, names) in merged {
            let location = meta.location.as_ref();
            if let Some(holder) = effective
                .iter_mut()
                .find(|e| e.hides.contains(location) || names.is_subset(&e.hides))
            {
                holder.hides.insert(location.to_owned());
            } else if effective.iter().any(|e| !e.hides.is_disjoint(&names)) {
                resolution.conflicting.push(meta.clone());
            } else {
                effective.push(Effective {
                    merged: location.to_owned(),
                    written: meta.last_modified.timestamp_micros(),
                    hides: names,
                });
            }
        }
        // A merged file that an effective one names is held by it, as a name.
        let held: HashSet<String> = effective.iter().flat_map(|e| e.hides.clone()).collect();
        effective.retain(|e| !held.contains(&e.merged));
        resolution.hidden.extend(held);
        resolution.effective.extend(effective);
    }
    Ok(resolution)
}

/// What a listing shows a reader: `objects` without the files that a present merged file's
/// manifest replaces, and without the manifests; an error where two merged files conflict.
pub async fn visible(
    store: &dyn ObjectStore,
    manifests: &Manifests,
    objects: Vec<ObjectMeta>,
) -> object_store::Result<Vec<ObjectMeta>> {
    let any_compaction = objects.iter().any(|m| {
        let name = split(m.location.as_ref()).1;
        is_manifest(name) || manifest_name(name).is_some()
    });
    if !any_compaction {
        return Ok(objects);
    }
    let resolution = resolve(store, manifests, &objects).await?;
    if let Some(conflict) = resolution.conflicting.first() {
        return Err(object_store::Error::Generic {
            store: "lake",
            source: format!(
                "{} and another merged file of its hour hold some of the same files: run \
                 `spider compact` to resolve it before this hour is read",
                conflict.location
            )
            .into(),
        });
    }
    Ok(objects
        .into_iter()
        .filter(|meta| {
            let location = meta.location.as_ref();
            !resolution.hidden.contains(location) && !is_manifest(split(location).1)
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
    async fn of_several_merged_files_the_one_holding_the_others_counts_and_a_conflict_is_refused() {
        let store = InMemory::new();
        for name in ["a", "b", "late"] {
            put(&store, &format!("d/{name}.parquet"), name).await;
        }
        let merged = |n| compacted_name(n);
        let manifest = |n| manifest_name(&compacted_name(n)).unwrap();
        // X merged a and b; Y then merged X and a late file, naming what X held too; Z, a run
        // that listed before b landed, merged a alone.
        for (n, names) in [
            (1, "a.parquet\nb.parquet\n".to_owned()),
            (
                2,
                format!("a.parquet\nb.parquet\n{}\nlate.parquet\n", merged(1)),
            ),
            (3, "a.parquet\n".to_owned()),
        ] {
            put(&store, &format!("d/{}", manifest(n)), &names).await;
            put(&store, &format!("d/{}", merged(n)), "rows").await;
        }
        assert_eq!(seen(&store).await, [format!("d/{}", merged(2))]);
        // Two whose names overlap without one holding the other: refused, not counted twice.
        put(
            &store,
            &format!("d/{}", manifest(4)),
            "late.parquet\nother.parquet\n",
        )
        .await;
        put(&store, &format!("d/{}", merged(4)), "rows").await;
        let objects = store.list(None).try_collect().await.unwrap();
        let error = visible(&store, &Manifests::default(), objects)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("spider compact"), "{error}");
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
