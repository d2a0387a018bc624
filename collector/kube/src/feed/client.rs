//! The agent's end of the feed: one task that connects, applies listings and changes to the
//! component's sink, and reconnects with backoff when the controller is away, keeping what it
//! knows meanwhile.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use spider_collector::telemetry::Counter;

use super::{FeedEvent, HEARTBEAT, KINDS_HEADER, MAX_LINE_BYTES, OBJECTS_PATH};
use crate::follower::{Follower, KINDS, Listed, POLICY_KINDS, now_micros};
use crate::model::Object;
use crate::sink::ObjectSink;

const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const LAST_BACKOFF: Duration = Duration::from_secs(30);

/// A fraction in [0, 0.5) that differs between agents and between retries.
fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    // Microseconds: some clocks have no finer grain.
    f64::from((nanos / 1_000) % 1_000) / 2_000.0
}

/// The most objects one listing may carry before the feed is refused as hostile or broken.
const MAX_LISTED: usize = 2_000_000;

/// Follows the controller at `endpoint` (`http://host:port`), presenting `token` when it needs
/// one, feeding `sink`; pods only on `node` when one is given. Each lost feed counts one failure
/// and is retried.
pub fn follow(
    endpoint: &str,
    token: Option<String>,
    node: Option<String>,
    sink: Arc<dyn ObjectSink>,
    failures: Counter,
) -> Result<Follower, String> {
    let url = objects_url(endpoint, node.as_deref())?;
    // reqwest is built without a bundled crypto provider: ring serves https.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
    let (mut follower, listed) = Follower::new();
    let feed = Feed {
        url,
        token,
        http,
        sink,
        failures,
        listed,
        kinds_listed: HashSet::new(),
    };
    follower.spawn(feed.run());
    Ok(follower)
}

/// The feed's URL at the controller `endpoint` (`http://host:port[/path]`), for `node`'s pods
/// or all; the one check of an endpoint, which configs validate by.
pub fn objects_url(endpoint: &str, node: Option<&str>) -> Result<reqwest::Url, String> {
    let mut url = reqwest::Url::parse(endpoint)
        .map_err(|e| format!("controller endpoint {endpoint:?}: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || !url.has_host() {
        return Err(format!(
            "controller endpoint {endpoint:?}: must be http://host:port or https://host:port"
        ));
    }
    // Below whatever path the endpoint has (a controller behind a path-routing proxy).
    let path = format!("{}{OBJECTS_PATH}", url.path().trim_end_matches('/'));
    url.set_path(&path);
    if let Some(node) = node {
        url.query_pairs_mut().append_pair("node", node);
    }
    Ok(url)
}

struct Feed {
    url: reqwest::Url,
    token: Option<String>,
    http: reqwest::Client,
    sink: Arc<dyn ObjectSink>,
    failures: Counter,
    listed: Listed,
    /// Kinds listed at least once, by any connection.
    kinds_listed: HashSet<String>,
}

impl Feed {
    async fn run(mut self) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let mut listed_here = 0;
            let Err(error) = self.connection(&mut listed_here).await;
            self.failures.add(1);
            self.listed.failed(&error);
            tracing::warn!(url = %self.url, %error, "controller feed lost; records use what is known meanwhile, retrying");
            // A connection that got its listings was a working one: start the backoff again.
            if listed_here >= KINDS.len() {
                backoff = FIRST_BACKOFF;
            }
            // Jittered, so agents that lost one controller do not all come back at once.
            tokio::time::sleep(backoff.mul_f64(1.0 + jitter())).await;
            backoff = (backoff * 2).min(LAST_BACKOFF);
        }
    }

    /// One connection, until it fails (it never ends otherwise); `listed_here` counts the
    /// listings it completed.
    async fn connection(&mut self, listed_here: &mut usize) -> Result<Infallible, String> {
        // A controller that takes the connection and never answers is let go like a silent one.
        let mut request = self
            .http
            .get(self.url.clone())
            .header(KINDS_HEADER, POLICY_KINDS.join(","));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let mut response = tokio::time::timeout(HEARTBEAT * 3, request.send())
            .await
            .map_err(|_| format!("no answer for {:?}", HEARTBEAT * 3))?
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            let status = response.status();
            // The first chunk of the reason is enough, whatever the body's size.
            let body = match tokio::time::timeout(HEARTBEAT, response.chunk()).await {
                Ok(Ok(Some(chunk))) => {
                    String::from_utf8_lossy(&chunk[..chunk.len().min(512)]).into_owned()
                }
                _ => String::new(),
            };
            return Err(format!("{status}: {}", body.trim()));
        }
        let mut pending: Vec<u8> = Vec::new();
        let mut listing: Option<(String, Vec<Object>)> = None;
        loop {
            let chunk = tokio::time::timeout(HEARTBEAT * 3, response.chunk())
                .await
                .map_err(|_| format!("no heartbeat for {:?}", HEARTBEAT * 3))?
                .map_err(|e| e.to_string())?
                .ok_or("the controller closed the feed")?;
            pending.extend_from_slice(&chunk);
            while let Some(end) = pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = pending.drain(..=end).collect();
                let event: FeedEvent<serde_json::Value> = serde_json::from_slice(&line)
                    .map_err(|e| format!("unreadable feed line: {e}"))?;
                if let Some(event) = readable(event)?
                    && self.take(event, &mut listing)?
                {
                    *listed_here += 1;
                }
            }
            if pending.len() > MAX_LINE_BYTES {
                return Err(format!("a feed line is longer than {MAX_LINE_BYTES} bytes"));
            }
        }
    }

    /// Applies one event; true when it completed a listing.
    fn take(
        &mut self,
        event: FeedEvent<Object>,
        listing: &mut Option<(String, Vec<Object>)>,
    ) -> Result<bool, String> {
        match event {
            FeedEvent::ListStart { kind } => *listing = Some((kind, Vec::new())),
            FeedEvent::Listed { object } => {
                let (_, objects) = listing.as_mut().ok_or("an object outside a listing")?;
                if objects.len() >= MAX_LISTED {
                    return Err(format!("a listing of more than {MAX_LISTED} objects"));
                }
                objects.push(object);
            }
            FeedEvent::ListEnd { kind } => {
                let (started, objects) = listing.take().ok_or("a listing end without start")?;
                if started != kind {
                    return Err(format!("the listing of {started} ended as {kind}"));
                }
                tracing::debug!(kind, objects = objects.len(), "listed by the controller");
                self.sink.replace_kind(&kind, objects, now_micros());
                if KINDS.contains(&kind.as_str()) && self.kinds_listed.insert(kind) {
                    self.listed.one_more();
                }
                return Ok(true);
            }
            FeedEvent::Applied { object } => self.sink.apply(object),
            FeedEvent::Deleted { object } => self.sink.delete(&object, now_micros()),
            FeedEvent::Heartbeat => {}
        }
        Ok(false)
    }
}

/// An event with its object read; `None` for an object of a type this agent does not know (a
/// kind a controller of a later version follows), skipped so that such a controller does not cut
/// the feed. Anything else unreadable is an error.
fn readable(event: FeedEvent<serde_json::Value>) -> Result<Option<FeedEvent<Object>>, String> {
    let object = |value: serde_json::Value| {
        let tag = value.get("type").and_then(serde_json::Value::as_str);
        if let Some(tag) = tag.filter(|tag| !Object::TYPES.contains(tag)) {
            tracing::debug!(
                tag,
                "skipped a feed object of a type this agent does not know"
            );
            return Ok(None);
        }
        serde_json::from_value::<Object>(value)
            .map(Some)
            .map_err(|error| format!("unreadable feed object: {error}"))
    };
    Ok(match event {
        FeedEvent::ListStart { kind } => Some(FeedEvent::ListStart { kind }),
        FeedEvent::ListEnd { kind } => Some(FeedEvent::ListEnd { kind }),
        FeedEvent::Heartbeat => Some(FeedEvent::Heartbeat),
        FeedEvent::Listed { object: value } => {
            object(value)?.map(|object| FeedEvent::Listed { object })
        }
        FeedEvent::Applied { object: value } => {
            object(value)?.map(|object| FeedEvent::Applied { object })
        }
        FeedEvent::Deleted { object: value } => {
            object(value)?.map(|object| FeedEvent::Deleted { object })
        }
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{FeedEvent, readable};

    #[test]
    fn objects_of_unknown_types_are_skipped_and_broken_ones_refused() {
        let listed = |object| FeedEvent::Listed { object };
        let node = json!({"type": "Node", "name": "n1", "addresses": ["10.0.0.1"]});
        assert!(matches!(
            readable(listed(node)),
            Ok(Some(FeedEvent::Listed { .. }))
        ));
        let later = json!({"type": "Gateway", "name": "g", "listeners": []});
        assert!(matches!(readable(listed(later)), Ok(None)));
        let broken = json!({"type": "Node", "name": 7});
        let error = readable(listed(broken)).unwrap_err();
        assert!(error.starts_with("unreadable feed object"), "{error}");
        // An unknown value inside a known type is no later version's type: refused, not skipped.
        let policy = json!({"type": "NetworkPolicy", "key": {"namespace": "a", "name": "b"},
            "pod_selector": {}, "ingress": [{"ports": [{"protocol": "Quic", "port": null, "end_port": null}]}],
            "egress": null});
        let error = readable(listed(policy)).unwrap_err();
        assert!(error.contains("unknown variant `Quic`"), "{error}");
        let heartbeat = readable(FeedEvent::Heartbeat).unwrap();
        assert_eq!(heartbeat, Some(FeedEvent::Heartbeat));
    }
}
