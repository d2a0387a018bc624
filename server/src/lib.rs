//! Spider's query service: the HTTP API (axum) around the query library (`spider-query`), its
//! JSON-file stores (saved queries, capture requests), roles and limits, the SQL worker process,
//! and the embedded web UI — what `spider serve --data DIR|URL` runs.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/health` | `{"status":"ok"}` (no token needed) |
//! | `GET /api/clusters` | every cluster: its datasets, agents (and when each last wrote), controller |
//! | `PUT /api/clusters/{cluster}/controller` | a controller's status report (agent role) |
//! | `PUT /api/clusters/{cluster}/whisperers/{node}` | a Whisperer's status report (agent role) |
//! | `GET /api/map?view=logical\|physical\|hosts&from&to&filter&offset&limit` | compound graph |
//! | `GET /api/details?id&from&to&filter&top` | one map leaf: pods, peers, ports, timeline |
//! | `GET /api/workloads/{namespace}/{kind}/{name}?…` | the same for a workload |
//! | `GET /api/timeline?from&to&filter&step` | bytes/messages per step |
//! | `GET /api/grid/{dataset}?from&to&filter&sort&order&limit&cursor` | a page of rows |
//! | `GET /api/datasets` | the catalog: every dataset's signal, time column, partitions, fields |
//! | `GET /api/fields/{dataset}` | its filter fields and their kinds |
//! | `GET /api/stats?dataset&from&to&filter&group_by&measure&top` | top groups |
//! | `GET /api/sessions/{id}/pcap` | the TCP session's stored packets as a pcap file |
//! | `GET /api/packets/pcap?from&to&filter&limit` | the packets a filter selects, as a pcap file |
//! | `POST /api/sql` `{"query": "SELECT …"}` | read-only SQL |
//! | `GET/POST /api/queries`, `PUT/DELETE /api/queries/{id}` | saved queries |
//! | `GET/POST /api/captures`, `GET /api/captures/{id}`, `POST /api/captures/{id}/stop` | capture requests |
//! | `PUT /api/captures/{id}/agents/{node}` | a node agent's capture status |
//!
//! Every route that reads the datasets (SQL aside, which filters on the `cluster` column itself)
//! takes `cluster=NAME` to read that cluster alone (all of them without it). The map, timeline, grid, stats and details are kept by request and by the files of their
//! range (`answers.rs`; the `x-spider-cache` header says `hit`, `miss` or `shared`).
//!
//! Every error has one shape, `{"error": {"code": "…", "message": "…"}}`: 400 for what the client
//! got wrong (never 500), 401 without a known token when tokens are set, 403 for a token whose
//! role may not call the route (or a Host not allowed), 404 for unknown routes, 409 at a store's
//! limit or for a report the capture does not take, 413 for a body over its route's limit, 415
//! for a change that is not JSON and carries no token, 503 at the limits of what runs at once.

mod anomaly_handlers;
pub mod anomaly_push;
mod answers;
mod capture_handlers;
mod captures;
mod clusters;
mod error;
mod handlers;
mod json_file;
mod middleware;
mod params;
mod roles;
mod saved;
mod ui;
pub mod worker;

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post, put};
use datafusion::prelude::SessionContext;

pub use answers::CACHE_HEADER;
pub use captures::{AgentStatus, Capture, CaptureLimits, CaptureStore, Workload};
pub use error::ApiError;
pub use roles::Tokens;
pub use saved::{SavedQuery, SavedStore};
pub use spider_collector::listen::serve;

use crate::worker::SqlWorker;
use spider_query::LakeConfig;
use spider_query::sql::SqlLimits;

/// How the server is set up.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The lake: a directory or an object store.
    pub data: LakeConfig,
    /// How long an object store's listings are reused (new files show this late at most).
    pub listing_ttl: std::time::Duration,
    /// Where saved queries and capture requests are kept (default: `DATA/.spider` for a
    /// directory; needed for an object store).
    pub state: Option<PathBuf>,
    /// The bearer tokens of the reader, agent and writer roles; with any set, `/api/*` (health
    /// aside) needs a token of a role that may call the route.
    pub tokens: Tokens,
    /// Origin allowed by CORS; none (CORS off) by default.
    pub cors_origin: Option<String>,
    /// What no capture request may exceed.
    pub capture_limits: CaptureLimits,
    /// What queries may take.
    pub query_limits: QueryLimits,
    /// Host names (any port) requests must be addressed to; any when `None`.
    pub allowed_hosts: Option<Vec<String>>,
    /// The worker each SQL statement runs in. Without one, statements run inside the service,
    /// where one that outgrows its memory takes the service with it: `spider serve` always
    /// sets one.
    pub sql_worker: Option<SqlWorker>,
}

/// What the service's queries may take, together and one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryLimits {
    /// Memory all queries may hold at once (DataFusion's memory pool), bytes.
    pub max_memory: usize,
    /// Rows, time and memory of one SQL statement.
    pub sql: SqlLimits,
    /// SQL statements running at once; more are answered 503.
    pub max_concurrent_sql: usize,
    /// pcap downloads streaming at once (each until its last piece is written); more are 503s.
    pub max_downloads: usize,
    /// API requests answered at once (health aside); more are answered 503.
    pub max_requests: usize,
    /// Time an API request may take; it is then given up with a 503.
    pub request_timeout: std::time::Duration,
    /// Memory for answers kept by their request and the files of their range, bytes (0: none).
    pub answer_cache: usize,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            max_memory: 2 << 30,
            sql: SqlLimits::default(),
            max_concurrent_sql: 2,
            max_downloads: 4,
            max_requests: 64,
            request_timeout: std::time::Duration::from_secs(60),
            answer_cache: 64 << 20,
        }
    }
}

/// What handlers share.
pub struct AppState {
    /// The datasets.
    pub context: SessionContext,
    /// Saved queries.
    pub saved: SavedStore,
    /// Capture requests.
    pub captures: CaptureStore,
    /// Rows and time of one SQL statement.
    pub sql_limits: SqlLimits,
    /// Free places for SQL statements.
    pub sql_slots: tokio::sync::Semaphore,
    /// Where SQL statements run, and over which lake.
    pub sql_worker: Option<(SqlWorker, LakeConfig)>,
    /// Free places for pcap downloads.
    pub downloads: Arc<tokio::sync::Semaphore>,
    /// Answers kept by their request and the files they read.
    pub answers: answers::AnswerCache,
    /// The controllers' and Whisperers' last reports, and the lake's clusters as last listed.
    pub clusters: clusters::Clusters,
}

/// The router of the API, ready to serve.
pub fn router(config: &ServerConfig) -> Result<Router, String> {
    config.tokens.check()?;
    let lake = config
        .data
        .open()
        .map_err(|e| format!("cannot open the lake: {e}"))?
        .listed_within(config.listing_ttl);
    let context = spider_query::open_lake(&lake, Some(config.query_limits.max_memory))
        .map_err(|e| format!("cannot open {lake}: {e}"))?;
    let state_dir = match (&config.state, lake.local_dir()) {
        (Some(dir), _) => dir.clone(),
        (None, Some(root)) => root.join(".spider"),
        (None, None) => {
            return Err(format!(
                "{lake} is an object store: give a local directory for saved queries and \
                 capture requests (--state DIR)"
            ));
        }
    };
    let saved =
        SavedStore::open(state_dir.join("saved_queries.json")).map_err(|e| e.to_string())?;
    let captures = CaptureStore::open(state_dir.join("captures.json"), config.capture_limits)
        .map_err(|e| e.to_string())?;
    let state = Arc::new(AppState {
        context,
        saved,
        captures,
        sql_limits: config.query_limits.sql,
        sql_slots: tokio::sync::Semaphore::new(config.query_limits.max_concurrent_sql),
        downloads: Arc::new(tokio::sync::Semaphore::new(
            config.query_limits.max_downloads.max(1),
        )),
        sql_worker: config
            .sql_worker
            .clone()
            .map(|worker| (worker, config.data.clone())),
        answers: answers::AnswerCache::new(lake, config.query_limits.answer_cache),
        clusters: clusters::Clusters::default(),
    });
    let api = Router::new()
        .route("/api/clusters", get(clusters::list))
        .route(
            "/api/clusters/{cluster}/controller",
            put(clusters::report).layer(axum::extract::DefaultBodyLimit::max(
                clusters::MAX_REPORT_BYTES,
            )),
        )
        .route(
            "/api/clusters/{cluster}/whisperers/{node}",
            put(clusters::report_whisperer).layer(axum::extract::DefaultBodyLimit::max(
                clusters::MAX_REPORT_BYTES,
            )),
        )
        .route("/api/map", get(handlers::map))
        .route("/api/timeline", get(handlers::timeline))
        .route("/api/grid/{dataset}", get(handlers::grid))
        .route("/api/datasets", get(handlers::datasets_catalog))
        .route("/api/fields/{dataset}", get(handlers::fields))
        .route("/api/stats", get(handlers::stats))
        .route("/api/anomalies", get(anomaly_handlers::list))
        .route("/api/sessions/{id}/pcap", get(handlers::session_pcap))
        .route("/api/packets/pcap", get(handlers::packets_pcap))
        .route("/api/details", get(handlers::details))
        .route(
            "/api/workloads/{namespace}/{kind}/{name}",
            get(handlers::workload),
        )
        .route("/api/sql", post(handlers::sql))
        .route(
            "/api/queries",
            get(handlers::list_saved).post(handlers::create_saved),
        )
        .route(
            "/api/queries/{id}",
            put(handlers::update_saved).delete(handlers::delete_saved),
        )
        .route(
            "/api/captures",
            get(capture_handlers::list).post(capture_handlers::create),
        )
        .route("/api/captures/{id}", get(capture_handlers::one))
        .route("/api/captures/{id}/stop", post(capture_handlers::stop))
        .route(
            "/api/captures/{id}/agents/{node}",
            put(capture_handlers::report),
        )
        .layer(axum::middleware::from_fn(roles::refuse_plain_forms))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(config.tokens.clone()),
            roles::require_role,
        ))
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(middleware::Gate {
                slots: Arc::new(tokio::sync::Semaphore::new(
                    config.query_limits.max_requests.max(1),
                )),
                timeout: config.query_limits.request_timeout,
                queries: middleware::QueryRuntime::new()?,
            }),
            middleware::bound_requests,
        ));
    let router = Router::new()
        .route("/api/health", get(handlers::health))
        .merge(api)
        .route("/ui/{*path}", get(ui::file))
        .fallback(ui::app_or_not_found)
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            config.cors_origin.clone().map(Arc::new),
            middleware::cors,
        ))
        .layer(axum::middleware::from_fn(middleware::safety_headers))
        .layer(axum::middleware::from_fn_with_state(
            config.allowed_hosts.clone().map(Arc::new),
            middleware::check_host,
        ))
        .layer(axum::middleware::from_fn(middleware::log_requests));
    Ok(router)
}
