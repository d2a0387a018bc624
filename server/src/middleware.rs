//! Cross-cutting behaviour: CORS (off unless an origin is configured), the
//! Host allowlist and the browser's safety headers, a bound on the requests answered at once
//! and on their time, and a log line per request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;

/// Adds CORS headers for the configured origin and answers its preflights.
pub async fn cors(
    State(origin): State<Option<Arc<String>>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(origin) = origin else {
        return next.run(request).await;
    };
    let allowed = HeaderValue::from_str(&origin).unwrap_or(HeaderValue::from_static("null"));
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    response
}

/// Refuses requests whose `Host` is not an allowed name (any port), when names are configured:
/// a page of another site that rebinds its DNS name to 127.0.0.1 reaches the service under its
/// own name, and is turned away.
pub async fn check_host(
    State(allowed): State<Option<Arc<Vec<String>>>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(allowed) = allowed {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let name = host_name(host);
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(name)) {
            return ApiError::forbidden(format!(
                "Host {host:?} is not one this service answers to (--allowed-host)"
            ))
            .into_response();
        }
    }
    next.run(request).await
}

/// The name of a `Host` header, without its port (`[::1]:8080` → `::1`).
fn host_name(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    host.split(':').next().unwrap_or("")
}

/// What browsers are told: only this origin's scripts, never in a frame, no type sniffing.
pub async fn safety_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; \
             base-uri 'none'; form-action 'self'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// What the API answers at once, for how long, and where its queries run.
pub struct Gate {
    /// Free places for requests.
    pub slots: Arc<tokio::sync::Semaphore>,
    /// Time a request may take before it is given up (and its query cancelled).
    pub timeout: Duration,
    /// The runtime API requests run on, apart from the one that accepts connections and answers
    /// `/api/health`: a query that keeps every query thread busy computing cannot stop the
    /// service from answering, or from giving that query up at its time limit.
    pub queries: QueryRuntime,
}

/// A runtime of its own for the queries, shut down without waiting when the router goes.
pub struct QueryRuntime(Option<tokio::runtime::Runtime>);

impl QueryRuntime {
    /// A multi-threaded runtime with a thread per core.
    pub fn new() -> Result<Self, String> {
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("spider-query")
            .enable_all()
            .build()
            .map(|runtime| Self(Some(runtime)))
            .map_err(|e| format!("cannot start the query runtime: {e}"))
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.0
            .as_ref()
            .expect("the runtime lives as long as the gate")
            .handle()
    }
}

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Aborts a task when its answer is no longer awaited (given up, or the client went away).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Answers 503 beyond the requests allowed at once, runs each on the query runtime, and gives up
/// a request that takes longer than allowed (aborting it cancels its query).
pub async fn bound_requests(
    State(gate): State<Arc<Gate>>,
    request: Request,
    next: Next,
) -> Response {
    let Ok(slot) = gate.slots.clone().try_acquire_owned() else {
        return ApiError::unavailable(
            "the service is answering as many requests as it allows: try again",
        )
        .into_response();
    };
    // The place is the task's: a given-up request holds it until its query has stopped.
    let task = gate.queries.handle().spawn(async move {
        let response = next.run(request).await;
        drop(slot);
        response
    });
    let _abort = AbortOnDrop(task.abort_handle());
    match tokio::time::timeout(gate.timeout, task).await {
        Ok(Ok(response)) => response,
        Ok(Err(failed)) => {
            ApiError::internal(format!("the request failed: {failed}")).into_response()
        }
        Err(_) => ApiError::unavailable(format!(
            "the request took longer than {} s (the service's limit) and was given up",
            gate.timeout.as_secs()
        ))
        .into_response(),
    }
}

/// One log line per request: method, path, status, time taken.
pub async fn log_requests(request: Request, next: Next) -> Response {
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    tracing::info!(%method, %path, status = response.status().as_u16(), millis = started.elapsed().as_millis() as u64, "request");
    response
}
