//! The store every reader of the lake lists through: files that a compacted file replaces are
//! hidden ([`crate::compacted`]), and listings are kept for a short while.
//!
//! A query lists every partition it reads, and an object store answers a listing a thousand
//! objects per request, at a few tens of milliseconds each. A UI that refreshes its map, timeline
//! and grid every few seconds would list the same hour again and again; within `ttl` it gets
//! the last listing instead. New files are therefore seen at most `ttl` late, and the cache is
//! bounded: at most [`MAX_PREFIXES`] listings and [`MAX_OBJECTS`] objects in all, a listing of
//! more than a quarter of that passed through without being kept. A listing is read whole before
//! it is passed on: which files a compacted file replaces is known only once its directory is.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path;

use crate::compacted::{Manifests, visible};
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// Listings kept at once; the oldest goes first.
pub const MAX_PREFIXES: usize = 4096;
/// Objects kept in all listings together (a few hundred bytes each).
pub const MAX_OBJECTS: usize = 200_000;
/// A listing longer than this is not kept (a whole dataset listed by an unbounded query).
const MAX_KEPT_LISTING: usize = MAX_OBJECTS / 4;

/// The most directories one kept level may name, and all kept levels together.
const MAX_KEPT_LEVEL: usize = 10_000;
const MAX_KEPT_LEVELS: usize = 100_000;

/// How the cache has been used: what a test or an operator checks the listing cost by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ListingStats {
    /// Listings asked of the store.
    pub listed: u64,
    /// Objects those listings returned.
    pub objects: u64,
    /// Listings answered from the cache.
    pub reused: u64,
}

struct Kept {
    at: Instant,
    objects: Arc<Vec<ObjectMeta>>,
}

/// The kept listings and how many objects they hold.
#[derive(Default)]
struct Listings {
    by_prefix: HashMap<Option<Path>, Kept>,
    objects: usize,
}

impl Listings {
    fn remove(&mut self, prefix: &Option<Path>) {
        if let Some(gone) = self.by_prefix.remove(prefix) {
            self.objects -= gone.objects.len();
        }
    }
}

/// One level of directories as `list_with_delimiter` answered it, and when.
struct Level {
    at: Instant,
    common_prefixes: Vec<Path>,
}

/// A store whose listings hide what compacted files replace, and whose `list` answers, and
/// `list_with_delimiter` answers that name directories only, are kept `ttl` (the readers ask
/// which clusters a dataset has on every scan; a zero `ttl` keeps nothing); everything else goes
/// straight through.
pub struct ReadingStore {
    inner: Arc<dyn ObjectStore>,
    manifests: Arc<Manifests>,
    ttl: Duration,
    kept: Arc<Mutex<Listings>>,
    levels: Mutex<HashMap<Option<Path>, Level>>,
    listed: AtomicU64,
    objects: Arc<AtomicU64>,
    reused: AtomicU64,
}

impl ReadingStore {
    /// `inner` as readers see it, with its listings kept `ttl`.
    pub fn new(inner: Arc<dyn ObjectStore>, ttl: Duration) -> Self {
        Self {
            inner,
            manifests: Arc::default(),
            ttl,
            kept: Arc::default(),
            levels: Mutex::default(),
            listed: AtomicU64::new(0),
            objects: Arc::default(),
            reused: AtomicU64::new(0),
        }
    }

    /// How often the store was listed, and how often the cache answered instead.
    pub fn stats(&self) -> ListingStats {
        ListingStats {
            listed: self.listed.load(Ordering::Relaxed),
            objects: self.objects.load(Ordering::Relaxed),
            reused: self.reused.load(Ordering::Relaxed),
        }
    }

    fn fresh(&self, prefix: &Option<Path>) -> Option<Arc<Vec<ObjectMeta>>> {
        let kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.by_prefix
            .get(prefix)
            .filter(|entry| entry.at.elapsed() < self.ttl)
            .map(|entry| entry.objects.clone())
    }
}

/// Keeps a listing: expired ones go first, then the oldest while the bounds are exceeded.
fn keep(
    kept: &Mutex<Listings>,
    ttl: Duration,
    prefix: Option<Path>,
    objects: Arc<Vec<ObjectMeta>>,
) {
    if ttl.is_zero() || objects.len() > MAX_KEPT_LISTING {
        return;
    }
    let mut kept = kept.lock().unwrap_or_else(|e| e.into_inner());
    let expired: Vec<Option<Path>> = kept
        .by_prefix
        .iter()
        .filter(|(_, entry)| entry.at.elapsed() >= ttl)
        .map(|(key, _)| key.clone())
        .chain(std::iter::once(prefix.clone()))
        .collect();
    for key in &expired {
        kept.remove(key);
    }
    while kept.by_prefix.len() >= MAX_PREFIXES || kept.objects + objects.len() > MAX_OBJECTS {
        let Some(oldest) = kept
            .by_prefix
            .iter()
            .min_by_key(|(_, entry)| entry.at)
            .map(|(key, _)| key.clone())
        else {
            break;
        };
        kept.remove(&oldest);
    }
    kept.objects += objects.len();
    kept.by_prefix.insert(
        prefix,
        Kept {
            at: Instant::now(),
            objects,
        },
    );
}

/// A kept or fresh listing, passed on object by object.
fn stream_of(objects: Arc<Vec<ObjectMeta>>) -> BoxStream<'static, Result<ObjectMeta>> {
    stream::iter((0..objects.len()).map(move |i| Ok(objects[i].clone()))).boxed()
}

impl fmt::Debug for ReadingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadingStore")
            .field("inner", &self.inner)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ReadingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (listings kept {:?})", self.inner, self.ttl)
    }
}

#[async_trait::async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for ReadingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        let prefix = prefix.cloned();
        if let Some(objects) = self.fresh(&prefix) {
            self.reused.fetch_add(1, Ordering::Relaxed);
            return stream_of(objects);
        }
        self.listed.fetch_add(1, Ordering::Relaxed);
        let listing = self.inner.list(prefix.as_ref());
        let (inner, manifests, count) = (
            self.inner.clone(),
            self.manifests.clone(),
            self.objects.clone(),
        );
        let (kept, ttl) = (self.kept.clone(), self.ttl);
        // A failed listing is not kept, and the next query asks again.
        stream::once(async move {
            let objects: Vec<ObjectMeta> = listing.try_collect().await?;
            count.fetch_add(objects.len() as u64, Ordering::Relaxed);
            let objects = Arc::new(visible(inner.as_ref(), &manifests, objects).await?);
            keep(&kept, ttl, prefix, objects.clone());
            Ok::<_, object_store::Error>(stream_of(objects))
        })
        .try_flatten()
        .boxed()
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        // What is hidden depends on the whole directory, which an offset may cut: the whole
        // listing, then what follows the offset.
        let offset = offset.clone();
        self.list(prefix)
            .try_filter(move |meta| futures::future::ready(meta.location > offset))
            .boxed()
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        let key = prefix.cloned();
        {
            let levels = self.levels.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(level) = levels.get(&key).filter(|l| l.at.elapsed() < self.ttl) {
                self.reused.fetch_add(1, Ordering::Relaxed);
                return Ok(ListResult {
                    common_prefixes: level.common_prefixes.clone(),
                    objects: Vec::new(),
                });
            }
        }
        self.listed.fetch_add(1, Ordering::Relaxed);
        let mut listed = self.inner.list_with_delimiter(prefix).await?;
        listed.objects = visible(self.inner.as_ref(), &self.manifests, listed.objects).await?;
        // Only levels of directories are kept (a dataset's clusters, a cluster's days): a level
        // with files is what a scan reads, and must be as fresh as the fingerprint of its files.
        if !self.ttl.is_zero()
            && listed.objects.is_empty()
            && listed.common_prefixes.len() <= MAX_KEPT_LEVEL
        {
            let mut levels = self.levels.lock().unwrap_or_else(|e| e.into_inner());
            levels.retain(|_, level| level.at.elapsed() < self.ttl);
            let held: usize = levels.values().map(|l| l.common_prefixes.len()).sum();
            if levels.len() >= MAX_PREFIXES || held + listed.common_prefixes.len() > MAX_KEPT_LEVELS
            {
                levels.clear();
            }
            levels.insert(
                key,
                Level {
                    at: Instant::now(),
                    common_prefixes: listed.common_prefixes.clone(),
                },
            );
        }
        Ok(listed)
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;
    use object_store::ObjectStoreExt;
    use object_store::memory::InMemory;

    use super::*;

    async fn names(store: &ReadingStore, prefix: &str) -> Vec<String> {
        let mut names: Vec<String> = store
            .list(Some(&Path::from(prefix)))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .unwrap();
        names.sort();
        names
    }

    #[tokio::test]
    async fn a_listing_is_reused_within_its_ttl_and_asked_again_after() {
        let inner = Arc::new(InMemory::new());
        inner
            .put(&Path::from("usage/hour=01/a"), PutPayload::from("a"))
            .await
            .unwrap();
        let store = ReadingStore::new(inner.clone(), Duration::from_millis(300));
        assert_eq!(names(&store, "usage/hour=01").await, ["usage/hour=01/a"]);
        inner
            .put(&Path::from("usage/hour=01/b"), PutPayload::from("b"))
            .await
            .unwrap();
        // Within the TTL: the kept listing, without the new file.
        assert_eq!(names(&store, "usage/hour=01").await, ["usage/hour=01/a"]);
        // Another prefix is its own listing.
        assert!(names(&store, "usage/hour=02").await.is_empty());
        assert_eq!(
            store.stats(),
            ListingStats {
                listed: 2,
                objects: 1,
                reused: 1
            }
        );
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(
            names(&store, "usage/hour=01").await,
            ["usage/hour=01/a", "usage/hour=01/b"]
        );
        assert_eq!(store.stats().listed, 3);
    }

    fn objects(count: usize) -> Arc<Vec<ObjectMeta>> {
        Arc::new(vec![
            ObjectMeta {
                location: Path::from("x"),
                last_modified: Default::default(),
                size: 1,
                e_tag: None,
                version: None,
            };
            count
        ])
    }

    #[test]
    fn the_cache_stays_within_its_bounds() {
        let kept = Mutex::new(Listings::default());
        let ttl = Duration::from_secs(60);
        for index in 0..MAX_PREFIXES + 10 {
            keep(
                &kept,
                ttl,
                Some(Path::from(format!("p{index}"))),
                Arc::default(),
            );
        }
        {
            let kept = kept.lock().unwrap();
            assert_eq!(kept.by_prefix.len(), MAX_PREFIXES);
            assert!(
                !kept.by_prefix.contains_key(&Some(Path::from("p0"))),
                "the oldest went first"
            );
        }
        // Objects in all: five listings of a quarter each cannot all stay.
        let many = Mutex::new(Listings::default());
        for index in 0..5 {
            keep(
                &many,
                ttl,
                Some(Path::from(format!("q{index}"))),
                objects(MAX_KEPT_LISTING),
            );
        }
        let many = many.into_inner().unwrap();
        assert!(many.objects <= MAX_OBJECTS, "{}", many.objects);
        assert_eq!(many.by_prefix.len(), 4);
        // Too long a listing is not kept; the same prefix again replaces its listing.
        let small = Mutex::new(Listings::default());
        keep(&small, ttl, None, objects(MAX_KEPT_LISTING + 1));
        assert!(small.lock().unwrap().by_prefix.is_empty());
        keep(&small, ttl, None, objects(3));
        keep(&small, ttl, None, objects(2));
        assert_eq!(small.lock().unwrap().objects, 2);
    }

    #[tokio::test]
    async fn an_abandoned_listing_is_kept_whole() {
        let inner = Arc::new(InMemory::new());
        for name in ["a", "b", "c"] {
            let path = Path::from(format!("d/{name}"));
            inner.put(&path, PutPayload::from("x")).await.unwrap();
        }
        let store = ReadingStore::new(inner, Duration::from_secs(60));
        let first = store.list(Some(&Path::from("d"))).next().await;
        assert!(first.is_some());
        assert_eq!(names(&store, "d").await.len(), 3, "read whole, then kept");
        assert_eq!(store.stats().listed, 1);
        assert_eq!(store.stats().reused, 1);
    }
}
