//! The controller's report to the query service: its [`ControllerStatus`], put every
//! [`REPORT_EVERY`] at `PUT /api/clusters/{cluster}/controller` with the agent role's token, so
//! the service lists the cluster with its controller even before an agent has written anything.
//! A service that is down costs a warning, once until it answers again; the feed is not touched.

use std::time::Duration;

use spider_kube::feed::ControllerStatus;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the status is reported.
pub const REPORT_EVERY: Duration = Duration::from_secs(15);

/// Where the controller reports to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportTo {
    /// The query service (`http://spider-query:8080`).
    pub service: String,
    /// Its agent role's bearer token, when it needs one.
    pub token: Option<String>,
}

impl ReportTo {
    /// The URL `cluster`'s controller reports at; the service must be an http(s) URL.
    pub fn url(&self, cluster: &str) -> Result<String, String> {
        let base = self.service.trim_end_matches('/');
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "{base:?} is not an http(s) URL of the query service"
            ));
        }
        Ok(format!("{base}/api/clusters/{cluster}/controller"))
    }
}

/// Reports `status()` to `to` until `stopping`.
pub fn spawn(
    to: ReportTo,
    url: String,
    status: impl Fn() -> ControllerStatus + Send + 'static,
    stopping: CancellationToken,
) -> Result<JoinHandle<()>, String> {
    // reqwest is built without a bundled crypto provider: ring serves https.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    Ok(tokio::spawn(async move {
        let mut failing = false;
        loop {
            let body = serde_json::to_vec(&status()).unwrap_or_default();
            let mut request = http
                .put(&url)
                .header("content-type", "application/json")
                .body(body);
            if let Some(token) = &to.token {
                request = request.bearer_auth(token);
            }
            let sent = tokio::select! {
                () = stopping.cancelled() => return,
                sent = request.send() => sent,
            };
            let answer = match sent {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => Err(format!("{url}: {}", response.status())),
                Err(e) => Err(format!("{url}: {e}")),
            };
            match answer {
                Ok(()) if failing => {
                    tracing::info!(%url, "the query service takes the controller's reports again");
                    failing = false;
                }
                Err(message) if !failing => {
                    tracing::warn!("cannot report to the query service (retried): {message}");
                    failing = true;
                }
                _ => {}
            }
            tokio::select! {
                () = stopping.cancelled() => return,
                () = tokio::time::sleep(REPORT_EVERY) => {}
            }
        }
    }))
}
