//! The query service's capture API as a client sees it: node agents read the active requests and
//! report what they do (`/api/captures?state=active`, `/api/captures/{id}/agents/{node}`);
//! `spider capture` makes, lists and stops requests through the same client.

use serde::de::DeserializeOwned;

use crate::{AgentStatus, Capture, CaptureRequest, WhispererStatus};

/// Why a call to the query service failed: a caller tells a service that is down (worth a retry)
/// from one that refused (a token, a request it will not take) from an answer it cannot read.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The HTTP client could not be built.
    #[error("cannot build an HTTP client: {0}")]
    Client(String),
    /// The service could not be reached, or the answer was cut.
    #[error("{url}: {reason}")]
    Unreachable {
        /// What was asked.
        url: String,
        /// The transport's reason.
        reason: String,
    },
    /// The service answered with an error status.
    #[error("{url}: {status}: {message}")]
    Refused {
        /// What was asked.
        url: String,
        /// Its status.
        status: reqwest::StatusCode,
        /// The service's own message, or "no message".
        message: String,
    },
    /// The answer, or the request, is not the JSON the protocol says.
    #[error("{what}: {reason}")]
    Json {
        /// The path asked, or the body sent.
        what: String,
        /// serde's reason.
        reason: String,
    },
}

/// A client of one query service.
pub struct CaptureClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl CaptureClient {
    /// A client of the service at `base`.
    pub fn new(base: &str, token: Option<String>) -> Result<Self, ClientError> {
        // reqwest is built without a bundled crypto provider: ring serves https.
        let _ = rustls::crypto::ring::default_provider().install_default();
        // The service drops a keep-alive connection idle for its header-read timeout (10 s by
        // default); a pooled connection is let go sooner so a poll never races that close.
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .pool_idle_timeout(std::time::Duration::from_secs(4))
            .build()
            .map_err(|e| ClientError::Client(e.to_string()))?;
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
    ) -> Result<Vec<u8>, ClientError> {
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
        let unreachable = |e: reqwest::Error| ClientError::Unreachable {
            url: url.clone(),
            reason: e.to_string(),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return Ok(bytes.to_vec());
        }
        let answer: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let message = answer["error"]["message"].as_str().unwrap_or("no message");
        Err(ClientError::Refused {
            url,
            status,
            message: message.to_owned(),
        })
    }

    /// `method path` with `body` as JSON, its answer read as a `T`.
    async fn json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T, ClientError> {
        let answer = self.call(method, path, body).await?;
        serde_json::from_slice(&answer).map_err(|e| ClientError::Json {
            what: path.to_owned(),
            reason: e.to_string(),
        })
    }

    /// Every capture the service keeps, newest first.
    pub async fn list(&self) -> Result<Vec<Capture>, ClientError> {
        self.json(reqwest::Method::GET, "/api/captures", None).await
    }

    /// The captures that are active now.
    pub async fn active(&self) -> Result<Vec<Capture>, ClientError> {
        let path = "/api/captures?state=active";
        self.json(reqwest::Method::GET, path, None).await
    }

    /// Asks for a capture.
    pub async fn create(&self, request: &CaptureRequest) -> Result<Capture, ClientError> {
        let body = serde_json::to_vec(request).map_err(|e| json_body("/api/captures", e))?;
        self.json(reqwest::Method::POST, "/api/captures", Some(body))
            .await
    }

    /// Stops capture `id`.
    pub async fn stop(&self, id: u64) -> Result<Capture, ClientError> {
        let path = format!("/api/captures/{id}/stop");
        self.json(reqwest::Method::POST, &path, None).await
    }

    /// Tells the service what this Whisperer is: `node` of `cluster`.
    pub async fn whisperer(
        &self,
        cluster: &str,
        node: &str,
        status: &WhispererStatus,
    ) -> Result<(), ClientError> {
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
    ) -> Result<(), ClientError> {
        let path = format!("/api/captures/{id}/agents/{node}?cluster={cluster}");
        self.put(&path, status).await
    }

    /// `PUT path` with `body` as JSON; the answer's body is not read.
    async fn put(&self, path: &str, body: &impl serde::Serialize) -> Result<(), ClientError> {
        let body = serde_json::to_vec(body).map_err(|e| json_body(path, e))?;
        self.call(reqwest::Method::PUT, path, Some(body))
            .await
            .map(drop)
    }
}

/// A body that did not serialize (a map with non-string keys, say).
fn json_body(path: &str, error: serde_json::Error) -> ClientError {
    ClientError::Json {
        what: format!("the body for {path}"),
        reason: error.to_string(),
    }
}
