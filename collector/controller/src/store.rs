//! The controller's store: every object its watchers follow, the kinds listed so far, and a
//! broadcast of changes that feeds subscribe to. A subscription is taken under the same lock the
//! changes are made under, so a feed's listing and the changes after it neither miss nor repeat
//! one. Objects are held in `Arc`s so a listing for a new feed copies pointers, not pods.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use spider_kube::follower::KINDS;
use spider_kube::model::{Key, Object};
use spider_kube::sink::ObjectSink;
use tokio::sync::broadcast;

/// Changes kept for feeds that are behind; a feed further behind than this is ended, and its
/// agent lists again on reconnect (memory stays bounded whatever a slow agent does).
pub const CHANGES_KEPT: usize = 65_536;

/// A change, as feeds carry it.
#[derive(Debug, Clone)]
pub enum Change {
    /// Added or changed, with what it was before: a pod name reused on another node (a
    /// StatefulSet's pod rescheduled) leaves the old node's feed, which must hear it gone.
    Applied {
        /// The object now.
        object: Arc<Object>,
        /// The object before, if it was held.
        previous: Option<Arc<Object>>,
    },
    /// Deleted.
    Deleted(Arc<Object>),
    /// A kind listed for the first time (an empty list makes no other change): a feed that
    /// carries it but started without its listing must list again.
    Listed(String),
}

impl Change {
    /// The object changed, if one did.
    pub fn object(&self) -> Option<&Object> {
        match self {
            Change::Applied { object, .. } | Change::Deleted(object) => Some(object),
            Change::Listed(_) => None,
        }
    }

    /// What a feed for `node` (every pod without one) carries of it: the change, a deletion
    /// (the object left the node), or nothing.
    pub fn for_node(&self, node: Option<&str>) -> Option<FeedChange<'_>> {
        match self {
            Change::Applied { object, previous } => {
                if for_node(object, node) {
                    Some(FeedChange::Applied(object))
                } else {
                    previous
                        .as_deref()
                        .filter(|previous| for_node(previous, node))
                        .map(FeedChange::Deleted)
                }
            }
            Change::Deleted(object) => {
                for_node(object, node).then_some(FeedChange::Deleted(object))
            }
            Change::Listed(_) => None,
        }
    }
}

/// One change as one feed writes it.
#[derive(Debug, PartialEq, Eq)]
pub enum FeedChange<'a> {
    /// Added or changed.
    Applied(&'a Object),
    /// Deleted (or gone from the feed's node).
    Deleted(&'a Object),
}

impl FeedChange<'_> {
    /// The object changed.
    pub fn object(&self) -> &Object {
        match self {
            Self::Applied(object) | Self::Deleted(object) => object,
        }
    }
}

/// What a new feed starts from: a listing per kind, then the changes after it.
pub struct Subscription {
    /// Each listed kind with its objects.
    pub listings: Vec<(String, Vec<Arc<Object>>)>,
    /// Every change made after the listings.
    pub changes: broadcast::Receiver<Change>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<(String, Key), Arc<Object>>,
    listed: BTreeSet<String>,
}

/// The controller's objects.
pub struct Store {
    state: Mutex<State>,
    changes: broadcast::Sender<Change>,
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether a node's feed carries `object`: pods of that node only, everything else always.
fn for_node(object: &Object, node: Option<&str>) -> bool {
    match (object, node) {
        (Object::Pod(pod), Some(node)) => pod.node.as_deref() == Some(node),
        _ => true,
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            state: Mutex::default(),
            changes: broadcast::channel(CHANGES_KEPT).0,
        }
    }

    /// Whether every kind has been listed: only then does a feed start (a listing of a kind not
    /// yet listed would tell agents that everything they know of it is gone).
    pub fn ready(&self) -> bool {
        let state = self.lock();
        KINDS.iter().all(|kind| state.listed.contains(*kind))
    }

    /// Objects held.
    pub fn len(&self) -> usize {
        self.lock().objects.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Objects held, by kind.
    pub fn counts(&self) -> BTreeMap<String, usize> {
        let state = self.lock();
        let mut counts: BTreeMap<&str, usize> =
            state.listed.iter().map(|kind| (kind.as_str(), 0)).collect();
        for (kind, _) in state.objects.keys() {
            *counts.entry(kind.as_str()).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|(kind, count)| (kind.to_owned(), count))
            .collect()
    }

    /// The listings a feed for `node` (every pod without one) starts with, and its changes.
    pub fn subscribe(&self, node: Option<&str>) -> Subscription {
        let state = self.lock();
        let changes = self.changes.subscribe();
        let listings = state
            .listed
            .iter()
            .map(|kind| {
                let objects = state
                    .objects
                    .range((kind.clone(), Key::new("", ""))..)
                    .take_while(|((of, _), _)| of == kind)
                    .map(|(_, object)| object.clone())
                    .filter(|object| for_node(object, node))
                    .collect();
                (kind.clone(), objects)
            })
            .collect();
        Subscription { listings, changes }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Sets `object`, telling the feeds when it changed. A watch reports every status change of
    /// a pod; most leave the fields attribution uses alone and go no further.
    fn put(&self, state: &mut State, object: Object) {
        let id = (object.kind().to_owned(), object.key());
        if state.objects.get(&id).is_some_and(|held| **held == object) {
            return;
        }
        let object = Arc::new(object);
        let previous = state.objects.insert(id, object.clone());
        // No receiver is not an error: no agent follows yet.
        let _ = self.changes.send(Change::Applied { object, previous });
    }

    fn remove(&self, state: &mut State, kind: &str, key: Key) {
        if let Some(object) = state.objects.remove(&(kind.to_owned(), key)) {
            let _ = self.changes.send(Change::Deleted(object));
        }
    }
}

impl ObjectSink for Store {
    fn replace_kind(&self, kind: &str, objects: Vec<Object>, _now: i64) {
        let mut state = self.lock();
        let listed: BTreeSet<Key> = objects.iter().map(Object::key).collect();
        let gone: Vec<Key> = state
            .objects
            .keys()
            .filter(|(of, key)| of == kind && !listed.contains(key))
            .map(|(_, key)| key.clone())
            .collect();
        for key in gone {
            self.remove(&mut state, kind, key);
        }
        for object in objects {
            self.put(&mut state, object);
        }
        if state.listed.insert(kind.to_owned()) {
            let _ = self.changes.send(Change::Listed(kind.to_owned()));
        }
    }

    fn apply(&self, object: Object) {
        let mut state = self.lock();
        self.put(&mut state, object);
    }

    fn delete(&self, object: &Object, _now: i64) {
        let mut state = self.lock();
        self.remove(&mut state, object.kind(), object.key());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spider_kube::model::{Node, Pod};

    fn pod(name: &str, node: &str, ip: &str) -> Object {
        Object::Pod(Pod {
            key: Key::new("shop", name),
            node: Some(node.into()),
            ips: vec![ip.parse().unwrap()],
            host_network: false,
            owner: None,
            created: 0,
            labels: Default::default(),
            ports: Vec::new(),
        })
    }

    fn changes(receiver: &mut broadcast::Receiver<Change>) -> Vec<String> {
        let mut seen = Vec::new();
        while let Ok(change) = receiver.try_recv() {
            let what = match &change {
                Change::Applied { .. } => "applied",
                Change::Deleted(_) => "deleted",
                Change::Listed(kind) => {
                    seen.push(format!("listed {kind}"));
                    continue;
                }
            };
            seen.push(format!("{what} {}", change.object().unwrap().key().name));
        }
        seen
    }

    #[test]
    fn unchanged_objects_are_not_sent_again_and_a_relist_sends_only_the_difference() {
        let store = Store::new();
        let mut feed = store.subscribe(None).changes;
        store.replace_kind(
            "Pod",
            vec![pod("a", "n1", "10.0.0.1"), pod("b", "n2", "10.0.0.2")],
            0,
        );
        assert_eq!(changes(&mut feed), ["applied a", "applied b", "listed Pod"]);
        // A watch's status-only update: the same object as far as attribution goes.
        store.apply(pod("a", "n1", "10.0.0.1"));
        assert!(changes(&mut feed).is_empty());
        // A re-list after an expired watch: b gone, c new, a changed its address.
        store.replace_kind(
            "Pod",
            vec![pod("a", "n1", "10.0.0.9"), pod("c", "n1", "10.0.0.3")],
            0,
        );
        assert_eq!(changes(&mut feed), ["deleted b", "applied a", "applied c"]);
        store.delete(&pod("c", "n1", "10.0.0.3"), 0);
        assert_eq!(changes(&mut feed), ["deleted c"]);
    }

    #[test]
    fn a_feed_starts_when_every_kind_is_listed_with_its_nodes_pods_only() {
        let store = Store::new();
        for kind in KINDS {
            assert!(!store.ready());
            store.replace_kind(kind, Vec::new(), 0);
        }
        assert!(store.ready());
        store.apply(pod("a", "n1", "10.0.0.1"));
        store.apply(pod("b", "n2", "10.0.0.2"));
        store.apply(Object::Node(Node {
            name: "n2".into(),
            addresses: Vec::new(),
        }));
        let listed = |node: Option<&str>| -> Vec<String> {
            store
                .subscribe(node)
                .listings
                .iter()
                .flat_map(|(_, objects)| objects.iter().map(|o| o.key().name))
                .collect()
        };
        assert_eq!(listed(None), ["n2", "a", "b"]);
        assert_eq!(listed(Some("n2")), ["n2", "b"]);
        assert_eq!(store.subscribe(None).listings.len(), KINDS.len());
        assert_eq!(store.counts()["Pod"], 2);
        assert_eq!(store.counts()["Job"], 0);
    }

    #[test]
    fn a_pod_name_reused_on_another_node_leaves_the_old_nodes_feed() {
        let store = Store::new();
        store.apply(pod("web-0", "n1", "10.0.0.1"));
        let mut feed = store.subscribe(None).changes;
        // The StatefulSet's pod rescheduled: same name, another node and address.
        store.apply(pod("web-0", "n2", "10.0.0.2"));
        let change = feed.try_recv().unwrap();
        let old = pod("web-0", "n1", "10.0.0.1");
        let new = pod("web-0", "n2", "10.0.0.2");
        assert_eq!(change.for_node(Some("n1")), Some(FeedChange::Deleted(&old)));
        assert_eq!(change.for_node(Some("n2")), Some(FeedChange::Applied(&new)));
        assert_eq!(change.for_node(Some("n3")), None);
        assert_eq!(change.for_node(None), Some(FeedChange::Applied(&new)));
    }

    #[test]
    fn a_kind_listed_after_a_feed_started_is_announced_once_even_empty() {
        let store = Store::new();
        let mut feed = store.subscribe(None).changes;
        store.replace_kind("NetworkPolicy", Vec::new(), 0);
        store.replace_kind("NetworkPolicy", Vec::new(), 0);
        assert_eq!(changes(&mut feed), vec!["listed NetworkPolicy"]);
    }
}
