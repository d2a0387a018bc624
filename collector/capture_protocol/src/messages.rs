//! The messages of the capture protocol, as JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use spider_records::Workload;

/// What a client sends to start a capture (`POST /api/captures`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureRequest {
    /// The workload whose pods are captured.
    pub workload: Workload,
    /// How long, in seconds.
    pub duration_seconds: u64,
    /// A capture filter in tcpdump's syntax, on top of the pods' addresses.
    #[serde(default)]
    pub filter: String,
    /// The packet rate ceiling on each node (default: the service's limit).
    pub max_packets_per_second: Option<u64>,
    /// The cluster whose agents capture; every cluster's agents with the workload when `None`.
    #[serde(default)]
    pub cluster: Option<String>,
}

/// Where a capture is in its life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureState {
    /// Agents carry it out now.
    #[default]
    // Files written before the state was typed hold an empty string.
    #[serde(alias = "")]
    Active,
    /// Stopped before its end.
    Stopped,
    /// Past its end.
    Expired,
}

impl CaptureState {
    /// Every state.
    pub const ALL: [Self; 3] = [Self::Active, Self::Stopped, Self::Expired];

    /// Its name, as JSON and the `state` parameter have it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Stopped => "stopped",
            Self::Expired => "expired",
        }
    }

    /// The state named `name` (`active`, `stopped`, `expired`).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == name)
    }
}

/// A capture as the service keeps and answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capture {
    /// Stable id.
    pub id: u64,
    /// What is captured.
    pub workload: Workload,
    /// The extra capture filter.
    #[serde(default)]
    pub filter: String,
    /// The packet rate ceiling on each node.
    pub max_packets_per_second: u64,
    /// When it was asked for (Unix seconds).
    pub created: u64,
    /// When it ends by itself.
    pub expires: u64,
    /// When it was stopped, if it was.
    #[serde(default)]
    pub stopped: Option<u64>,
    /// Where it is, as of the answer.
    #[serde(default)]
    pub state: CaptureState,
    /// Each node agent's last status, by node.
    #[serde(default)]
    pub agents: BTreeMap<String, AgentStatus>,
    /// The cluster whose agents capture (all when `None`).
    #[serde(default)]
    pub cluster: Option<String>,
}

impl Capture {
    /// Whether the agents of `cluster` carry it out.
    pub fn is_for(&self, cluster: &str) -> bool {
        self.cluster
            .as_deref()
            .is_none_or(|wanted| wanted == cluster)
    }

    /// Its state at `now` (Unix seconds).
    pub fn state_at(&self, now: u64) -> CaptureState {
        match (self.stopped, now >= self.expires) {
            (Some(_), _) => CaptureState::Stopped,
            (None, true) => CaptureState::Expired,
            (None, false) => CaptureState::Active,
        }
    }
}

/// What one node agent says of a capture (`PUT /api/captures/{id}/agents/{node}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentStatus {
    /// The workload's pods it captures (on its node).
    #[serde(default)]
    pub pods: Vec<String>,
    /// Packets captured.
    #[serde(default)]
    pub packets: u64,
    /// Packets dropped (over the rate ceiling, or by the kernel).
    #[serde(default)]
    pub dropped: u64,
    /// What went wrong, if anything (a filter that does not compile, no privileges…).
    #[serde(default)]
    pub error: Option<String>,
    /// Whether it is capturing now.
    #[serde(default)]
    pub capturing: bool,
    /// When it said so (Unix seconds; set by the service, whatever the agent sends).
    #[serde(default)]
    pub updated: u64,
}

/// What a Whisperer says of itself, every few polls
/// (`PUT /api/clusters/{cluster}/whisperers/{node}`): the query service lists the capture agents
/// of each cluster with it.
// Unknown fields are taken: a newer Whisperer may say more to an older service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WhispererStatus {
    /// The interfaces it captures on.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// The requested captures it carries out now, by id.
    #[serde(default)]
    pub captures: Vec<u64>,
    /// How many captures its own config declares (running for as long as it runs).
    #[serde(default)]
    pub declared: usize,
}
