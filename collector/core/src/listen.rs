//! Serving the router over HTTP/1.1 with a header-read timeout, which `axum::serve` lacks: a
//! client that sends its request head a byte a minute (slowloris), or holds a keep-alive
//! connection idle, is let go after `header_read_timeout` instead of holding a connection and
//! its task forever. On shutdown, accepting stops, idle keep-alive connections close at once and
//! busy ones after their response, within a few seconds. Every HTTP surface of Spider serves through it: the query service, the controller's
//! feed and the collectors' telemetry. Their bearer tokens are read and compared here too.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long open connections may take to finish once the service stops.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let mut connections = JoinSet::new();
    // Told to every connection at the stop: an idle keep-alive one closes at once, a busy one
    // after its response, so a stop waits for work in flight and not for idle clients.
    let stopping = CancellationToken::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // Out of file descriptors, say: wait rather than spin.
                        tracing::warn!(%error, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let service = TowerToHyperService::new(router.clone());
                let stopping = stopping.clone();
                connections.spawn(async move {
                    let mut builder = http1::Builder::new();
                    builder.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
                    let connection = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades();
                    tokio::pin!(connection);
                    // A connection's end (a reset, a timeout) is the client's business.
                    tokio::select! {
                        _ = connection.as_mut() => {}
                        () = stopping.cancelled() => {
                            connection.as_mut().graceful_shutdown();
                            let _ = connection.await;
                        }
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    stopping.cancel();
    let drained = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    });
    if drained.await.is_err() {
        tracing::info!(
            open = connections.len(),
            "connections still open at the stop are closed"
        );
    }
}

/// The bearer token a request presents (`Authorization: Bearer TOKEN`), if it does.
pub fn presented_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// Compares secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use axum::routing::get;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn a_stop_closes_an_idle_keep_alive_connection_without_waiting_for_the_drain() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let router = Router::new().route("/", get(|| async { "ok" }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, Duration::from_secs(30), async {
            let _ = stopped.await;
        }));
        let mut client = tokio::net::TcpStream::connect(address).await.unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut answer = [0u8; 256];
        let read = client.read(&mut answer).await.unwrap();
        assert!(answer[..read].starts_with(b"HTTP/1.1 200"));
        // The connection stays open, idle; the stop must not wait the drain out for it.
        let asked = Instant::now();
        stop.send(()).unwrap();
        server.await.unwrap();
        assert!(asked.elapsed() < DRAIN / 2, "{:?}", asked.elapsed());
        assert_eq!(
            client.read(&mut answer).await.unwrap(),
            0,
            "closed by the server"
        );
    }
}
