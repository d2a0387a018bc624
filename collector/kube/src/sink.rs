//! Where followed objects go: a component's own [`Index`], or the controller's store that serves
//! them on to the node agents. Every source (the API watchers, a controller's feed) writes
//! through this, so both ends of the controller tier apply changes the same way.

use std::sync::RwLock;

use crate::index::Index;
use crate::model::Object;

/// Receives a source's objects.
pub trait ObjectSink: Send + Sync + 'static {
    /// Every object of `kind` now, a complete list (after a start, an expired watch, a
    /// reconnect): what is no longer listed was deleted at `now` (microseconds).
    fn replace_kind(&self, kind: &str, objects: Vec<Object>, now: i64);
    /// An object added or changed.
    fn apply(&self, object: Object);
    /// An object deleted, seen gone at `now` (microseconds).
    fn delete(&self, object: &Object, now: i64);
}

impl ObjectSink for RwLock<Index> {
    fn replace_kind(&self, kind: &str, objects: Vec<Object>, now: i64) {
        write(self).replace_kind(kind, objects, now);
    }

    fn apply(&self, object: Object) {
        write(self).apply(object);
    }

    fn delete(&self, object: &Object, now: i64) {
        write(self).delete(object, now);
    }
}

fn write(index: &RwLock<Index>) -> std::sync::RwLockWriteGuard<'_, Index> {
    index
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
