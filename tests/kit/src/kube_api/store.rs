//! The fake's etcd: objects by resource, namespace and name, a cluster-wide resourceVersion, and
//! the history of changes since the last compaction.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The resources the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// v1 pods.
    Pods,
    /// v1 nodes.
    Nodes,
    /// v1 services.
    Services,
    /// apps/v1 replicasets.
    ReplicaSets,
    /// batch/v1 jobs.
    Jobs,
    /// discovery.k8s.io/v1 endpointslices.
    EndpointSlices,
    /// v1 namespaces.
    Namespaces,
    /// networking.k8s.io/v1 networkpolicies.
    NetworkPolicies,
}

impl Resource {
    /// Every resource.
    pub const ALL: [Resource; 8] = [
        Resource::Pods,
        Resource::Nodes,
        Resource::Services,
        Resource::ReplicaSets,
        Resource::Jobs,
        Resource::EndpointSlices,
        Resource::Namespaces,
        Resource::NetworkPolicies,
    ];

    /// (group/version, plural, kind, namespaced).
    pub fn describe(self) -> (&'static str, &'static str, &'static str, bool) {
        match self {
            Resource::Pods => ("v1", "pods", "Pod", true),
            Resource::Nodes => ("v1", "nodes", "Node", false),
            Resource::Services => ("v1", "services", "Service", true),
            Resource::ReplicaSets => ("apps/v1", "replicasets", "ReplicaSet", true),
            Resource::Jobs => ("batch/v1", "jobs", "Job", true),
            Resource::EndpointSlices => (
                "discovery.k8s.io/v1",
                "endpointslices",
                "EndpointSlice",
                true,
            ),
            Resource::Namespaces => ("v1", "namespaces", "Namespace", false),
            Resource::NetworkPolicies => (
                "networking.k8s.io/v1",
                "networkpolicies",
                "NetworkPolicy",
                true,
            ),
        }
    }

    /// The resource at `group_version` called `plural`.
    pub fn find(group_version: &str, plural: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| {
            let (gv, name, _, _) = r.describe();
            gv == group_version && name == plural
        })
    }

    fn of(object: &Value) -> Self {
        let (api_version, kind) = (object["apiVersion"].as_str(), object["kind"].as_str());
        Self::ALL
            .into_iter()
            .find(|r| {
                let (gv, _, k, _) = r.describe();
                Some(gv) == api_version && Some(k) == kind
            })
            .unwrap_or_else(|| panic!("the fake does not serve {api_version:?} {kind:?}"))
    }
}

/// One change, as a watch event.
#[derive(Debug, Clone)]
pub struct Change {
    /// Its resourceVersion.
    pub revision: u64,
    /// `ADDED`, `MODIFIED` or `DELETED`.
    pub kind: &'static str,
    /// The resource changed.
    pub resource: Resource,
    /// The object after the change (before, for a deletion).
    pub object: Value,
}

/// A field selector: `path=value` or `path!=value` terms, all of which must hold.
#[derive(Debug, Clone, Default)]
pub struct Selector(Vec<(&'static str, bool, String)>);

impl Selector {
    /// Parses a `fieldSelector`; an unsupported field is an error, as on a real server.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for term in text.split(',').filter(|t| !t.is_empty()) {
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (f, true, v)
            } else {
                return Err(format!("invalid selector: {term:?}"));
            };
            let path = match field {
                "spec.nodeName" => "/spec/nodeName",
                "metadata.name" => "/metadata/name",
                "metadata.namespace" => "/metadata/namespace",
                other => return Err(format!("field label not supported: {other}")),
            };
            terms.push((path, equal, value.to_owned()));
        }
        Ok(Self(terms))
    }

    /// Whether `object` is selected.
    pub fn matches(&self, object: &Value) -> bool {
        self.0.iter().all(|(path, equal, value)| {
            let actual = object.pointer(path).and_then(Value::as_str).unwrap_or("");
            (actual == value) == *equal
        })
    }
}

/// The resourceVersion asked for is older than the history.
pub struct Expired {
    /// The oldest version still known.
    pub oldest: u64,
}

/// Objects and history.
#[derive(Default)]
pub struct Store {
    revision: u64,
    objects: BTreeMap<(Resource, String, String), Value>,
    history: Vec<Change>,
    /// Versions up to this one are forgotten.
    pub compacted: u64,
    /// Compactions so far: a watch started before one ends.
    pub expirations: u64,
    /// Watches answered with a 410.
    pub expired_answers: u64,
    /// Lists answered.
    pub lists: u64,
    /// Watches open now, by resource.
    pub open_watches: BTreeMap<Resource, usize>,
}

fn key(resource: Resource, object: &Value) -> (Resource, String, String) {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    (
        resource,
        text("/metadata/namespace"),
        text("/metadata/name"),
    )
}

impl Store {
    /// The current resourceVersion.
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Adds or replaces an object.
    pub fn apply(&mut self, mut object: Value) {
        let resource = Resource::of(&object);
        let key = key(resource, &object);
        self.revision += 1;
        let metadata = &mut object["metadata"];
        metadata["resourceVersion"] = json!(self.revision.to_string());
        if metadata["uid"].is_null() {
            metadata["uid"] = json!(format!("uid-{}-{}-{}", key.1, key.2, self.revision));
        }
        if metadata["creationTimestamp"].is_null() {
            metadata["creationTimestamp"] = json!("2026-11-21T00:00:00Z");
        }
        let kind = if self.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        self.objects.insert(key, object.clone());
        self.history.push(Change {
            revision: self.revision,
            kind,
            resource,
            object,
        });
    }

    /// Deletes an object.
    pub fn delete(&mut self, resource: Resource, namespace: &str, name: &str) -> bool {
        let Some(mut object) =
            self.objects
                .remove(&(resource, namespace.to_owned(), name.to_owned()))
        else {
            return false;
        };
        self.revision += 1;
        object["metadata"]["resourceVersion"] = json!(self.revision.to_string());
        self.history.push(Change {
            revision: self.revision,
            kind: "DELETED",
            resource,
            object,
        });
        true
    }

    /// Forgets the history. The revision moves on first, as a real cluster's constant writes
    /// (leases, events) move it past any idle watcher, so every watcher must list again.
    pub fn compact(&mut self) {
        self.revision += 1;
        self.compacted = self.revision;
        self.history.clear();
        self.expirations += 1;
    }

    /// One object.
    pub fn get(&self, resource: Resource, namespace: &str, name: &str) -> Option<&Value> {
        self.objects
            .get(&(resource, namespace.to_owned(), name.to_owned()))
    }

    /// The objects of `resource` (in `namespace` when given) that `selector` selects, in
    /// namespace and name order.
    pub fn list(
        &self,
        resource: Resource,
        namespace: Option<&str>,
        selector: &Selector,
    ) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((r, ns, _), object)| {
                *r == resource && namespace.is_none_or(|n| n == ns) && selector.matches(object)
            })
            .map(|(_, object)| object.clone())
            .collect()
    }

    /// The changes after `revision` that a watch of `resource` sees, and the revision they bring
    /// it to; or `Expired` when the history no longer reaches back that far.
    pub fn changes_after(
        &mut self,
        revision: u64,
        resource: Resource,
        namespace: Option<&str>,
        selector: &Selector,
    ) -> Result<(Vec<Change>, u64), Expired> {
        if revision < self.compacted {
            self.expired_answers += 1;
            return Err(Expired {
                oldest: self.compacted,
            });
        }
        let changes = self
            .history
            .iter()
            .filter(|change| {
                change.revision > revision
                    && change.resource == resource
                    && namespace
                        .is_none_or(|n| change.object["metadata"]["namespace"].as_str() == Some(n))
                    && selector.matches(&change.object)
            })
            .cloned()
            .collect();
        Ok((changes, self.revision))
    }
}
