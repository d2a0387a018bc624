//! The controller: one per cluster, it alone lists and watches the Kubernetes API (the same
//! watchers a node agent runs, [`spider_kube::kubernetes`]) into a [`store::Store`], and serves
//! that store to every node agent as a feed ([`spider_kube::feed`]). The API server then carries
//! one watch per resource whatever the number of nodes, and only the controller's ServiceAccount
//! may list pods cluster-wide. It serves `/metrics` beside the feed, and reports its status to
//! the query service when given one ([`report`]), which lists it with its cluster.

pub mod report;
pub mod routes;
pub mod store;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use spider_collector::telemetry::{ComponentTelemetry, metrics_router};
use spider_kube::follower::Follower;
use spider_kube::kubernetes;
use tokio::task::JoinHandle;

use crate::report::ReportTo;
use crate::store::Store;

/// Who a controller is, and whom it reports to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The cluster it watches.
    pub cluster: String,
    /// The URL node agents follow it at, as reported (none: not reported).
    pub feed: Option<String>,
    /// The query service it reports its status to, if any.
    pub report_to: Option<ReportTo>,
    /// The bearer token its feed and status need (none: open to whoever reaches its port).
    pub token: Option<String>,
}

/// The most feeds served at once: one per node agent (and Whisperer), with room to spare.
pub const MAX_FEEDS: usize = 10_000;

/// An agent sends its request head at once; a connection that does not is let go.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A running controller.
pub struct Controller {
    store: Arc<Store>,
    watchers: Follower,
    server: JoinHandle<()>,
    feeds: routes::Feeds,
    address: SocketAddr,
    reporter: Option<JoinHandle<()>>,
}

impl Controller {
    /// Watches the API through `client` and serves the feed on `listen`, as `identity`.
    pub async fn start(
        client: kube::Client,
        listen: SocketAddr,
        identity: Identity,
        telemetry: &ComponentTelemetry,
    ) -> Result<Self, String> {
        let report_url = identity
            .report_to
            .as_ref()
            .map(|to| to.url(&identity.cluster))
            .transpose()?;
        let store = Arc::new(Store::new());
        let failures = telemetry.counter(
            "spider_controller_watch_failures_total",
            "The controller's Kubernetes list/watch failures (each is retried with backoff).",
        );
        let watchers = kubernetes::follow(client, None, store.clone(), failures);
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
        let address = listener
            .local_addr()
            .map_err(|e| format!("cannot read the listening address: {e}"))?;
        let feeds = routes::Feeds::new(MAX_FEEDS);
        let open = feeds.clone();
        telemetry.gauge(
            "spider_controller_feeds",
            "Feeds the controller is serving (node agents and Whisperers following it).",
            move || open.open() as f64,
        );
        let objects = store.clone();
        telemetry.gauge(
            "spider_controller_objects",
            "Objects in the controller's store (pods, nodes, services, ReplicaSets, Jobs, EndpointSlices).",
            move || objects.len() as f64,
        );
        let status = routes::Status {
            store: store.clone(),
            feeds: feeds.clone(),
            identity: Arc::new(identity.clone()),
        };
        let router =
            routes::router(status.clone()).merge(metrics_router(telemetry.registry().clone()));
        let stopping = feeds.ending();
        let reporter = match (identity.report_to, report_url) {
            (Some(to), Some(url)) => Some(report::spawn(
                to,
                url,
                move || status.now(),
                stopping.clone(),
            )?),
            _ => None,
        };
        let server = tokio::spawn(spider_collector::listen::serve(
            listener,
            router,
            HEADER_READ_TIMEOUT,
            stopping.cancelled_owned(),
        ));
        tracing::info!(%address, "controller serving the metadata feed");
        Ok(Self {
            store,
            watchers,
            server,
            feeds,
            address,
            reporter,
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// What it holds.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stops watching and serving; open feeds end.
    pub async fn stop(mut self) {
        self.feeds.end_all();
        let _ = (&mut self.server).await;
        if let Some(reporter) = self.reporter.take() {
            let _ = reporter.await;
        }
        self.watchers.stop().await;
    }
}
