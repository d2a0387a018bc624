//! What a controller says of itself: served at `GET /v1/status`, and reported to the query
//! service (`PUT /api/clusters/{cluster}/controller`), which lists it with its cluster so users
//! pick the controller of their cluster first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The path of the controller's status.
pub const STATUS_PATH: &str = "/v1/status";

/// The most object kinds a status may count (a report with more is refused as hostile).
pub const MAX_KINDS: usize = 32;

/// A controller's status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControllerStatus {
    /// The cluster it watches (`service.cluster`, `$SPIDER_CLUSTER_NAME`).
    pub cluster: String,
    /// The URL node agents follow it at (`controller:` in their config), when it was given.
    #[serde(default)]
    pub feed: Option<String>,
    /// Whether every kind is listed (feeds are served only then).
    pub ready: bool,
    /// Objects held, by kind.
    pub objects: BTreeMap<String, usize>,
    /// Feeds being served: node agents and Whisperers following it.
    pub feeds: usize,
}
