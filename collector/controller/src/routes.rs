//! The controller's HTTP surface: the feed (`GET /v1/objects[?node=NAME]`, JSON lines), its
//! readiness (`GET /readyz`: 200 once the cluster is listed), its liveness (`GET /livez`) and what
//! it holds
//! (`GET /v1/status`, a [`ControllerStatus`]). With a token, the feed and the status answer 401
//! to a request without it: they carry every pod's address and owner. Feeds are bounded in number; a feed too far behind the changes is ended
//! so its agent lists again rather than the controller keeping changes for it without bound.
//! A feed carries the kinds attribution needs, and namespaces and NetworkPolicies to an agent
//! that asks for them (the `spider-feed-kinds` header), so agents of an earlier version keep
//! reading it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::get;
use bytes::Bytes;
use serde::Deserialize;
use spider_collector::listen::{constant_time_eq, presented_token};
use spider_kube::feed::{
    ControllerStatus, FeedEvent, HEARTBEAT, KINDS_HEADER, OBJECTS_PATH, STATUS_PATH,
};
use spider_kube::follower::{KINDS, POLICY_KINDS};
use spider_kube::model::Object;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::store::{Change, FeedChange, Store};

/// A node name is a DNS subdomain: at most 253 characters.
const MAX_NODE_NAME: usize = 253;

/// A feed's writes are gathered into chunks of about this size.
const CHUNK_BYTES: usize = 64 * 1024;

/// A feed whose reader takes nothing for this long is ended (an agent reconnects on its side
/// after the same silence).
const STALLED: std::time::Duration = std::time::Duration::from_secs(15);

/// The feeds being served: how many may be, how many are, and the signal that ends them all.
#[derive(Clone)]
pub struct Feeds {
    slots: Arc<Semaphore>,
    open: Arc<AtomicUsize>,
    ending: CancellationToken,
}

impl Feeds {
    /// Room for `max` feeds at once.
    pub fn new(max: usize) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(max)),
            open: Arc::new(AtomicUsize::new(0)),
            ending: CancellationToken::new(),
        }
    }

    /// Feeds open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Ends every feed (the controller is stopping).
    pub fn end_all(&self) {
        self.ending.cancel();
    }

    /// The signal that ends them, for the server to stop with.
    pub fn ending(&self) -> CancellationToken {
        self.ending.clone()
    }
}

/// What the routes serve: the store, the feeds of it, and who the controller is.
#[derive(Clone)]
pub struct Status {
    /// The store.
    pub store: Arc<Store>,
    /// Its feeds.
    pub feeds: Feeds,
    /// The controller's identity.
    pub identity: Arc<crate::Identity>,
}

impl Status {
    /// The controller's status now.
    pub fn now(&self) -> ControllerStatus {
        ControllerStatus {
            cluster: self.identity.cluster.clone(),
            feed: self.identity.feed.clone(),
            ready: self.store.ready(),
            objects: self.store.counts(),
            feeds: self.feeds.open(),
        }
    }
}

/// The routes over the store.
pub fn router(status: Status) -> Router {
    let guarded = Router::new()
        .route(OBJECTS_PATH, get(feed))
        .route(STATUS_PATH, get(status_route))
        .layer(axum::middleware::from_fn_with_state(
            status.identity.clone(),
            require_token,
        ));
    Router::new()
        .route("/readyz", get(ready))
        .route("/livez", get(|| async { "alive\n" }))
        .merge(guarded)
        .with_state(status)
}

/// Refuses a request without the controller's token, when it has one.
async fn require_token(
    State(identity): State<Arc<crate::Identity>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(token) = &identity.token {
        let presented = presented_token(request.headers());
        if !presented.is_some_and(|p| constant_time_eq(p.as_bytes(), token.as_bytes())) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "this controller needs its token (Authorization: Bearer …)",
            );
        }
    }
    next.run(request).await
}

async fn ready(State(app): State<Status>) -> Response {
    if app.store.ready() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "the cluster is not listed yet\n",
        )
            .into_response()
    }
}

async fn status_route(State(app): State<Status>) -> Json<ControllerStatus> {
    Json(app.now())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedParams {
    node: Option<String>,
}

fn refuse(status: StatusCode, message: &str) -> Response {
    (status, format!("{message}\n")).into_response()
}

/// The kinds beyond attribution's that the agent asked for and this controller follows.
fn asked_kinds(headers: &HeaderMap) -> Vec<&'static str> {
    let asked = headers
        .get(KINDS_HEADER)
        .and_then(|value| value.to_str().ok());
    let asked: Vec<&str> = asked
        .into_iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    POLICY_KINDS
        .into_iter()
        .filter(|kind| asked.contains(kind))
        .collect()
}

async fn feed(
    State(app): State<Status>,
    headers: HeaderMap,
    params: Result<Query<FeedParams>, QueryRejection>,
) -> Response {
    let Ok(Query(params)) = params else {
        return refuse(StatusCode::BAD_REQUEST, "the only parameter is node=NAME");
    };
    if params
        .node
        .as_ref()
        .is_some_and(|node| node.is_empty() || node.len() > MAX_NODE_NAME)
    {
        return refuse(StatusCode::BAD_REQUEST, "node: 1 to 253 characters");
    }
    if app.feeds.ending.is_cancelled() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the controller is stopping; retry",
        );
    }
    // Before the cluster is listed a feed would tell agents that what they know is gone.
    if !app.store.ready() {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the cluster is not listed yet; retry",
        );
    }
    let Ok(slot) = app.feeds.slots.clone().try_acquire_owned() else {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many feeds open; retry",
        );
    };
    let also = asked_kinds(&headers);
    let mut subscription = app.store.subscribe(params.node.as_deref());
    let carried = move |kind: &str| KINDS.contains(&kind) || also.contains(&kind);
    subscription.listings.retain(|(kind, _)| carried(kind));
    let listed: Vec<String> = subscription
        .listings
        .iter()
        .map(|(kind, _)| kind.clone())
        .collect();
    let (sender, receiver) = mpsc::channel::<Bytes>(4);
    let writer = Writer {
        sender,
        chunk: Vec::with_capacity(CHUNK_BYTES),
        node: params.node,
        carried: Box::new(carried),
        listed,
        last_write: Instant::now(),
    };
    tokio::spawn(writer.run(subscription, app.feeds.clone(), slot));
    let body = futures::stream::unfold(receiver, |mut receiver| async move {
        let chunk = receiver.recv().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), receiver))
    });
    (
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(body),
    )
        .into_response()
}

/// Writes one feed until its agent goes (or stops reading), it falls too far behind, or the
/// controller stops.
struct Writer {
    sender: mpsc::Sender<Bytes>,
    chunk: Vec<u8>,
    node: Option<String>,
    /// Whether the feed carries objects of a kind.
    carried: Box<dyn Fn(&str) -> bool + Send>,
    /// The kinds its listings gave.
    listed: Vec<String>,
    last_write: Instant,
}

/// The agent went away, or read nothing for [`STALLED`]: nothing more to write.
struct Gone;

impl Writer {
    async fn run(
        mut self,
        subscription: crate::store::Subscription,
        feeds: Feeds,
        _slot: OwnedSemaphorePermit,
    ) {
        feeds.open.fetch_add(1, Ordering::Relaxed);
        tokio::select! {
            _ = self.write(subscription) => {}
            () = feeds.ending.cancelled() => {}
        }
        feeds.open.fetch_sub(1, Ordering::Relaxed);
    }

    async fn write(&mut self, subscription: crate::store::Subscription) -> Result<(), Gone> {
        let crate::store::Subscription {
            listings,
            mut changes,
        } = subscription;
        for (kind, objects) in listings {
            self.line(&FeedEvent::<&Object>::ListStart { kind: kind.clone() })
                .await?;
            for object in &objects {
                self.line(&FeedEvent::Listed { object: &**object }).await?;
            }
            self.line(&FeedEvent::<&Object>::ListEnd { kind }).await?;
        }
        self.flush().await?;
        loop {
            // A heartbeat follows the last write, not the last change: a node's feed passes
            // over the changes of other nodes' pods, and its agent must still hear it live.
            let idle_until = self.last_write + HEARTBEAT;
            let change = match tokio::time::timeout_at(idle_until, changes.recv()).await {
                Err(_idle) => {
                    self.line(&FeedEvent::<&Object>::Heartbeat).await?;
                    self.flush().await?;
                    continue;
                }
                // A kind it carries was listed after its listings: ended, so its agent lists it.
                Ok(Ok(Change::Listed(kind)))
                    if (self.carried)(&kind) && !self.listed.contains(&kind) =>
                {
                    tracing::debug!(kind, node = ?self.node, "a kind was listed after the feed started; ended, so its agent lists again");
                    return Ok(());
                }
                Ok(Ok(change)) => change,
                Ok(Err(broadcast::error::RecvError::Lagged(missed))) => {
                    tracing::warn!(missed, node = ?self.node, "a feed fell behind the changes; ended, so its agent lists again");
                    return Ok(());
                }
                Ok(Err(broadcast::error::RecvError::Closed)) => return Ok(()),
            };
            if let Some(carried) = change
                .for_node(self.node.as_deref())
                .filter(|carried| (self.carried)(carried.object().kind()))
            {
                let event = match carried {
                    FeedChange::Applied(object) => FeedEvent::Applied { object },
                    FeedChange::Deleted(object) => FeedEvent::Deleted { object },
                };
                self.line(&event).await?;
            }
            // Changes come in bursts (a rollout): gather what is already there into one write.
            if changes.is_empty() {
                self.flush().await?;
            }
        }
    }

    async fn line(&mut self, event: &FeedEvent<&Object>) -> Result<(), Gone> {
        serde_json::to_writer(&mut self.chunk, event).expect("feed events serialize");
        self.chunk.push(b'\n');
        if self.chunk.len() >= CHUNK_BYTES {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Gone> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.chunk,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        // A reader that stops reading would hold this writer, and its slot, forever.
        match tokio::time::timeout(STALLED, self.sender.send(chunk)).await {
            Ok(Ok(())) => {
                self.last_write = Instant::now();
                Ok(())
            }
            Ok(Err(_)) | Err(_) => Err(Gone),
        }
    }
}
