//! The query service's capture API as a client sees it: node agents read the active requests and
//! report what they do (`/api/captures?state=active`, `/api/captures/{id}/agents/{node}`);
//! `spider capture` makes, lists and stops requests through the same client.

use serde::de::DeserializeOwned;

use crate::{AgentStatus, Capture, CaptureRequest, WhispererStatus};

/// A client of one query service.
pub struct CaptureClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl CaptureClient {
    /// A client of the service at `base`.
    pub fn new(base: &str, token: Option<String>) -> Result<Self, String> {
        // reqwest is built without a bundled crypto provider: ring serves https.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // The service drops a keep-alive connection idle for its header-read timeout (10 s by
        // default); a pooled connection is let go sooner so a poll never races that close.
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .pool_idle_timeout(std::time::Duration::from_secs(4))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            token,
            http,
        })
    }

    /// Sends `method path` (with a JSON body) and returns the answer's body; an error names the
    /// URL and the status, with the service's own message when it gave one.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, String> {
        let url = format!("{}{path}", self.base);
        let changes = method != reqwest::Method::GET;
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        // The service takes a change only as JSON (what a plain HTML form cannot send).
        if changes {
            request = request.header("content-type", "application/json");
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let message = answer["error"]["message"].as_str().unwrap_or("no message");
        Err(format!("{url}: {status}: {message}"))
    }

    /// `method path` with `body` as JSON, its answer read as a `T`.
    async fn json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, String> {
        let answer = self.call(method, path, body).await?;
        serde_json::from_slice(&answer).map_err(|e| format!("{path}: {e}"))
    }

    /// Every capture the service keeps, newest first.
    pub async fn list(&self) -> Result<Vec<Capture>, String> {
        self.json(reqwest::Method::GET, "/api/captures", None).await
    }

    /// The captures that are active now.
    pub async fn active(&self) -> Result<Vec<Capture>, String> {
        let path = "/api/captures?state=active";
        self.json(reqwest::Method::GET, path, None).await
    }

    /// Asks for a capture.
    pub async fn create(&self, request: &CaptureRequest) -> Result<Capture, String> {
        let body = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        self.json(reqwest::Method::POST, "/api/captures", Some(body))
            .await
    }

    /// Stops capture `id`.
    pub async fn stop(&self, id: u64) -> Result<Capture, String> {
        let path = format!("/api/captures/{id}/stop");
        self.json(reqwest::Method::POST, &path, None).await
    }

    /// Tells the service what this Whisperer is: `node` of `cluster`.
    pub async fn whisperer(
        &self,
        cluster: &str,
        node: &str,
        status: &WhispererStatus,
    ) -> Result<(), String> {
        self.put(
            &format!("/api/clusters/{cluster}/whisperers/{node}"),
            status,
        )
        .await
    }

    /// Tells the service what this node of `cluster` does for capture `id`.
    pub async fn report(
        &self,
        id: u64,
        cluster: &str,
        node: &str,
        status: &AgentStatus,
    ) -> Result<(), String> {
        let path = format!("/api/captures/{id}/agents/{node}?cluster={cluster}");
        self.put(&path, status).await
    }

    /// `PUT path` with `body` as JSON; the answer's body is not read.
    async fn put(&self, path: &str, body: &impl serde::Serialize) -> Result<(), String> {
        let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
        self.call(reqwest::Method::PUT, path, Some(body))
            .await
            .map(drop)
    }
}
