//! The query service as node agents see it: the active capture requests, and where each agent
//! reports what it is doing (`/api/captures?state=active`, `/api/captures/{id}/agents/{node}`).

use serde::{Deserialize, Serialize};

use crate::config::Workload;

/// A capture request as the service answers it.
#[derive(Debug, Clone, Deserialize)]
pub struct Requested {
    /// Its id.
    pub id: u64,
    /// Whose pods.
    pub workload: Workload,
    /// The extra capture filter.
    #[serde(default)]
    pub filter: String,
    /// Its rate ceiling.
    pub max_packets_per_second: u64,
    /// When it was asked for (Unix seconds).
    pub created: u64,
    /// When it ends.
    pub expires: u64,
}

/// What this agent reports of one capture.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Status {
    /// The pods it captures here.
    pub pods: Vec<String>,
    /// Packets captured.
    pub packets: u64,
    /// Packets dropped (rate ceiling, kernel).
    pub dropped: u64,
    /// What went wrong.
    pub error: Option<String>,
    /// Whether it is capturing now.
    pub capturing: bool,
}

/// A client of one query service.
pub struct Server {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Server {
    /// A client of the service at `base`.
    pub fn new(base: &str, token: Option<String>) -> Result<Self, String> {
        // reqwest is built without a bundled crypto provider: ring serves https.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// The requests that are active now.
    pub async fn active(&self) -> Result<Vec<Requested>, String> {
        let url = format!("{}/api/captures?state=active", self.base);
        let response = self
            .authorized(self.http.get(&url))
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(format!("{url}: {status}: {body}"));
        }
        let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
    }

    /// Tells the service what this node does for capture `id`.
    pub async fn report(&self, id: u64, node: &str, status: &Status) -> Result<(), String> {
        let url = format!("{}/api/captures/{id}/agents/{node}", self.base);
        let response = self
            .authorized(self.http.put(&url))
            .header("content-type", "application/json")
            .body(serde_json::to_vec(status).map_err(|e| e.to_string())?)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        match response.status() {
            status if status.is_success() => Ok(()),
            status => Err(format!("{url}: {status}")),
        }
    }
}
