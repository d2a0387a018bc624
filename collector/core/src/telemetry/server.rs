//! The `/metrics` endpoint, scraped by Prometheus or read with curl.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Telemetry;

/// A scraper sends its request head at once; a connection that does not is let go.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The `/metrics` route over `telemetry`, for any service to serve beside its own.
pub fn metrics_router(telemetry: Telemetry) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let body = telemetry.render_prometheus();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    body,
                )
                    .into_response()
            }
        }),
    )
}

/// Binds `address` and serves `/metrics` until `stop` is cancelled; returns the bound address.
pub async fn serve_metrics(
    address: SocketAddr,
    telemetry: Telemetry,
    stop: CancellationToken,
) -> std::io::Result<(SocketAddr, JoinHandle<()>)> {
    let listener = TcpListener::bind(address).await.map_err(|error| {
        std::io::Error::new(
            error.kind(),
            format!("cannot serve metrics on {address}: {error}"),
        )
    })?;
    let bound = listener.local_addr()?;
    let router = metrics_router(telemetry);
    let task = tokio::spawn(crate::listen::serve(
        listener,
        router,
        HEADER_READ_TIMEOUT,
        stop.cancelled_owned(),
    ));
    Ok((bound, task))
}
