//! A fake Kubernetes API server, for tests (no real one can be installed here).
//!
//! It keeps objects as JSON with a cluster-wide resourceVersion and answers what watchers and
//! kubectl ask: discovery (`/api`, `/apis`, the v1, apps/v1, batch/v1, discovery.k8s.io/v1 and
//! networking.k8s.io/v1 resource lists, `/version`), get, list (with `resourceVersion`; list items without
//! kind/apiVersion, as the real server sends them) and watch (history after the given version,
//! then live changes, `BOOKMARK`s when asked, `timeoutSeconds`). A watch from a version older
//! than the history is answered as the real server does: HTTP 200 and one `ERROR` event with a
//! 410 `Expired` status — a plain HTTP 410 would make kube-rs retry forever. `fieldSelector`
//! supports `spec.nodeName`, `metadata.name` and `metadata.namespace`.
//!
//! It counts what it answers (lists, expired watches, watches open now per resource), so a test
//! can hold a client to the load it puts on an API server.
//!
//! Tests change the cluster directly ([`FakeApi::apply`], [`FakeApi::delete`]), expire watches
//! mid-stream ([`FakeApi::expire_watches`]) and stop and restart the server on the same port
//! ([`FakeApi::stop`], [`FakeApi::start`]); a restart drops every connection and forgets the
//! history, as a new API server's watch cache would.

mod objects;
mod routes;
mod store;

pub use objects::{
    endpoint_slice, job, labelled, namespace, network_policy, node, pod, replica_set, service,
};
pub use store::Resource;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinSet;

use store::Store;

/// The fake server and its cluster.
pub struct FakeApi {
    store: Arc<Mutex<Store>>,
    /// Bumped on every change, expiry and stop, to wake or end watches.
    changes: watch::Sender<u64>,
    address: SocketAddr,
    connections: Option<JoinSet<()>>,
    bookmark_interval: Duration,
}

impl FakeApi {
    /// A server on a free loopback port, sending bookmarks every `bookmark_interval`.
    pub async fn start_new(bookmark_interval: Duration) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake API server");
        let address = listener.local_addr().expect("local address");
        let mut api = Self {
            store: Arc::new(Mutex::new(Store::default())),
            changes: watch::channel(0).0,
            address,
            connections: None,
            bookmark_interval,
        };
        api.serve(listener);
        api
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Writes a kubeconfig pointing at this server to `path`.
    pub fn write_kubeconfig(&self, path: &Path) {
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: tester\n\
             current-context: fake\nusers:\n- name: tester\n  user:\n    token: fake-token\n",
            self.url()
        );
        std::fs::write(path, text).expect("write the kubeconfig");
    }

    /// Adds or replaces an object (built with [`pod`], [`node`], …).
    pub fn apply(&self, object: Value) {
        self.store.lock().unwrap().apply(object);
        self.changes.send_modify(|n| *n += 1);
    }

    /// Deletes an object; false when it did not exist.
    pub fn delete(&self, resource: Resource, namespace: &str, name: &str) -> bool {
        let deleted = self.store.lock().unwrap().delete(resource, namespace, name);
        self.changes.send_modify(|n| *n += 1);
        deleted
    }

    /// Ends every open watch and forgets the history, so watchers resuming from where they were
    /// get a 410 and must list again.
    pub fn expire_watches(&self) {
        self.store.lock().unwrap().compact();
        self.changes.send_modify(|n| *n += 1);
    }

    /// How many watch requests were answered with a 410 so far.
    pub fn expired_answers(&self) -> u64 {
        self.store.lock().unwrap().expired_answers
    }

    /// How many list requests were answered so far.
    pub fn lists(&self) -> u64 {
        self.store.lock().unwrap().lists
    }

    /// How many watches of `resource` are open now.
    pub fn open_watches(&self, resource: Resource) -> usize {
        let store = self.store.lock().unwrap();
        store.open_watches.get(&resource).copied().unwrap_or(0)
    }

    /// Stops listening and drops every connection.
    pub async fn stop(&mut self) {
        if let Some(mut connections) = self.connections.take() {
            connections.abort_all();
            while connections.join_next().await.is_some() {}
        }
        self.changes.send_modify(|n| *n += 1);
    }

    /// Listens again on the same port, with a fresh watch cache (no history).
    pub async fn start(&mut self) {
        self.store.lock().unwrap().compact();
        let listener = tokio::net::TcpListener::bind(self.address)
            .await
            .expect("bind the same port again");
        self.serve(listener);
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let router = routes::router(routes::Shared {
            store: self.store.clone(),
            changes: self.changes.subscribe(),
            bookmark_interval: self.bookmark_interval,
        });
        let mut connections = JoinSet::new();
        let mut accepted = JoinSet::new();
        connections.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = hyper_util::service::TowerToHyperService::new(router.clone());
                accepted.spawn(async move {
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                });
                while accepted.try_join_next().is_some() {}
            }
        });
        self.connections = Some(connections);
    }
}
