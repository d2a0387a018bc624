//! The fake's HTTP surface: discovery, get, list and watch, answered in the shapes a real API
//! server uses (Status objects for errors, watch events as JSON lines).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};

use super::store::{Resource, Selector, Store};

/// What every request can reach.
#[derive(Clone)]
pub struct Shared {
    pub store: Arc<Mutex<Store>>,
    pub changes: watch::Receiver<u64>,
    pub bookmark_interval: Duration,
}

type Params = Query<HashMap<String, String>>;

/// The routes.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/api", get(api_versions))
        .route("/apis", get(api_groups))
        .route("/api/{*rest}", get(core))
        .route("/apis/{*rest}", get(grouped))
        .with_state(shared)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn status(code: StatusCode, reason: &str, message: String) -> Response {
    json_response(
        code,
        json!({
            "kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Failure", "message": message, "reason": reason, "code": code.as_u16(),
        }),
    )
}

async fn version() -> Response {
    json_response(
        StatusCode::OK,
        json!({"major": "1", "minor": "36", "gitVersion": "v1.36.0-spider-fake",
               "goVersion": "go1.24.0", "compiler": "gc", "platform": "linux/amd64"}),
    )
}

async fn api_versions() -> Response {
    json_response(
        StatusCode::OK,
        json!({"kind": "APIVersions", "versions": ["v1"],
               "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
    )
}

async fn api_groups() -> Response {
    // Every named group the fake serves a resource of (the core group is `/api`'s).
    let mut named: Vec<&str> = Resource::ALL
        .iter()
        .map(|resource| resource.describe().0)
        .filter(|gv| gv.contains('/'))
        .collect();
    named.sort_unstable();
    named.dedup();
    let groups: Vec<Value> = named
        .iter()
        .map(|gv| {
            let (group, version) = gv.split_once('/').expect("group/version");
            let listed = json!({"groupVersion": gv, "version": version});
            json!({"name": group, "versions": [listed.clone()], "preferredVersion": listed})
        })
        .collect();
    json_response(
        StatusCode::OK,
        json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
    )
}

fn resource_list(group_version: &str) -> Response {
    let resources: Vec<Value> = Resource::ALL
        .into_iter()
        .filter(|r| r.describe().0 == group_version)
        .map(|r| {
            let (_, plural, kind, namespaced) = r.describe();
            json!({"name": plural, "singularName": kind.to_lowercase(), "namespaced": namespaced,
                   "kind": kind, "verbs": ["get", "list", "watch"]})
        })
        .collect();
    if resources.is_empty() {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("no group version {group_version}"),
        );
    }
    json_response(
        StatusCode::OK,
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}

async fn core(
    State(shared): State<Shared>,
    Path(rest): Path<String>,
    Query(params): Params,
) -> Response {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match segments.split_first() {
        Some((&"v1", tail)) => dispatch(&shared, "v1", tail, &params),
        _ => status(StatusCode::NOT_FOUND, "NotFound", format!("/api/{rest}")),
    }
}

async fn grouped(
    State(shared): State<Shared>,
    Path(rest): Path<String>,
    Query(params): Params,
) -> Response {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        [group, version, tail @ ..] => {
            dispatch(&shared, &format!("{group}/{version}"), tail, &params)
        }
        _ => status(StatusCode::NOT_FOUND, "NotFound", format!("/apis/{rest}")),
    }
}

/// `tail` after the group/version: nothing (discovery), `PLURAL[/NAME]` or
/// `namespaces/NS/PLURAL[/NAME]`.
fn dispatch(
    shared: &Shared,
    group_version: &str,
    tail: &[&str],
    params: &HashMap<String, String>,
) -> Response {
    let (namespace, plural, name) = match tail {
        [] => return resource_list(group_version),
        ["namespaces", namespace, plural] => (Some(*namespace), *plural, None),
        ["namespaces", namespace, plural, name] => (Some(*namespace), *plural, Some(*name)),
        [plural] => (None, *plural, None),
        [plural, name] => (None, *plural, Some(*name)),
        _ => return status(StatusCode::NOT_FOUND, "NotFound", format!("{tail:?}")),
    };
    let Some(resource) = Resource::find(group_version, plural) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            format!("the server could not find the requested resource ({group_version} {plural})"),
        );
    };
    if let Some(name) = name {
        let store = shared.store.lock().unwrap();
        return match store.get(resource, namespace.unwrap_or(""), name) {
            Some(object) => json_response(StatusCode::OK, object.clone()),
            None => status(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("{plural} \"{name}\" not found"),
            ),
        };
    }
    let selector = match Selector::parse(params.get("fieldSelector").map_or("", String::as_str)) {
        Ok(selector) => selector,
        Err(message) => return status(StatusCode::BAD_REQUEST, "BadRequest", message),
    };
    let watching = matches!(params.get("watch").map(String::as_str), Some("true" | "1"));
    if watching {
        watch_response(shared, resource, namespace, selector, params)
    } else {
        list_response(shared, resource, namespace, &selector, params)
    }
}

fn list_response(
    shared: &Shared,
    resource: Resource,
    namespace: Option<&str>,
    selector: &Selector,
    params: &HashMap<String, String>,
) -> Response {
    let (group_version, _, kind, _) = resource.describe();
    let mut store = shared.store.lock().unwrap();
    store.lists += 1;
    let items = store.list(resource, namespace, selector);
    let offset: usize = params
        .get("continue")
        .and_then(|token| token.strip_prefix('c'))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let limit: usize = params
        .get("limit")
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(usize::MAX);
    let total = items.len();
    let page: Vec<Value> = items
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(|mut item| {
            // A real server leaves kind and apiVersion out of list items.
            if let Some(fields) = item.as_object_mut() {
                fields.remove("kind");
                fields.remove("apiVersion");
            }
            item
        })
        .collect();
    let next = offset + page.len();
    let mut metadata = json!({"resourceVersion": store.revision().to_string()});
    if next < total {
        metadata["continue"] = json!(format!("c{next}"));
        metadata["remainingItemCount"] = json!(total - next);
    }
    json_response(
        StatusCode::OK,
        json!({"kind": format!("{kind}List"), "apiVersion": group_version, "metadata": metadata, "items": page}),
    )
}

fn watch_response(
    shared: &Shared,
    resource: Resource,
    namespace: Option<&str>,
    selector: Selector,
    params: &HashMap<String, String>,
) -> Response {
    let (sender, receiver) = mpsc::channel::<Bytes>(64);
    let watch = Watch {
        shared: shared.clone(),
        resource,
        namespace: namespace.map(str::to_owned),
        selector,
        start: params
            .get("resourceVersion")
            .and_then(|rv| rv.parse().ok())
            .filter(|rv| *rv > 0),
        bookmarks: params
            .get("allowWatchBookmarks")
            .is_some_and(|b| b == "true"),
        timeout: params
            .get("timeoutSeconds")
            .and_then(|t| t.parse().ok())
            .map(Duration::from_secs),
        sender,
    };
    let open = OpenWatch::new(shared, resource);
    tokio::spawn(async move {
        watch.run().await;
        drop(open);
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver
            .recv()
            .await
            .map(|line| (Ok::<_, Infallible>(line), receiver))
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Counts a watch open for as long as it is held.
struct OpenWatch {
    shared: Shared,
    resource: Resource,
}

impl OpenWatch {
    fn new(shared: &Shared, resource: Resource) -> Self {
        *shared
            .store
            .lock()
            .unwrap()
            .open_watches
            .entry(resource)
            .or_default() += 1;
        Self {
            shared: shared.clone(),
            resource,
        }
    }
}

impl Drop for OpenWatch {
    fn drop(&mut self) {
        let mut store = self.shared.store.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = store.open_watches.get_mut(&self.resource) {
            *open -= 1;
        }
    }
}

/// One watch request being answered.
struct Watch {
    shared: Shared,
    resource: Resource,
    namespace: Option<String>,
    selector: Selector,
    /// The resourceVersion to start after; none or 0 starts with the current objects.
    start: Option<u64>,
    bookmarks: bool,
    timeout: Option<Duration>,
    sender: mpsc::Sender<Bytes>,
}

impl Watch {
    async fn send(&self, event: Value) -> bool {
        let mut line = event.to_string();
        line.push('\n');
        self.sender.send(Bytes::from(line)).await.is_ok()
    }

    async fn run(self) {
        let mut changes = self.shared.changes.clone();
        let deadline =
            tokio::time::Instant::now() + self.timeout.unwrap_or(Duration::from_secs(3600));
        let (expirations, mut revision) = {
            let store = self.shared.store.lock().unwrap();
            (store.expirations, self.start.unwrap_or(store.revision()))
        };
        if self.start.is_none() {
            let current = {
                let store = self.shared.store.lock().unwrap();
                store.list(self.resource, self.namespace.as_deref(), &self.selector)
            };
            for object in current {
                if !self.send(json!({"type": "ADDED", "object": object})).await {
                    return;
                }
            }
        }
        let mut bookmark = tokio::time::interval(self.shared.bookmark_interval);
        bookmark.tick().await;
        loop {
            let step = self.shared.store.lock().unwrap().changes_after(
                revision,
                self.resource,
                self.namespace.as_deref(),
                &self.selector,
            );
            match step {
                Err(expired) => {
                    let status = json!({
                        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": format!("too old resource version: {revision} ({})", expired.oldest),
                        "reason": "Expired", "code": 410,
                    });
                    self.send(json!({"type": "ERROR", "object": status})).await;
                    return;
                }
                Ok((list, now)) => {
                    for change in list {
                        if !self
                            .send(json!({"type": change.kind, "object": change.object}))
                            .await
                        {
                            return;
                        }
                    }
                    revision = now;
                }
            }
            tokio::select! {
                changed = changes.changed() => {
                    let expired = self.shared.store.lock().unwrap().expirations != expirations;
                    if changed.is_err() || expired {
                        return;
                    }
                }
                _ = bookmark.tick(), if self.bookmarks => {
                    let (group_version, _, kind, _) = self.resource.describe();
                    let mark = json!({"type": "BOOKMARK", "object": {
                        "kind": kind, "apiVersion": group_version,
                        "metadata": {"resourceVersion": revision.to_string()},
                    }});
                    if !self.send(mark).await {
                        return;
                    }
                }
                () = tokio::time::sleep_until(deadline) => return,
            }
        }
    }
}
