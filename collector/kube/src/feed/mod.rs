//! The controller's feed: how a node agent follows the cluster's metadata from its controller
//! instead of watching the API itself, so the API server has one watch per resource whatever the
//! number of nodes.
//!
//! The transport is HTTP/1.1 streaming of JSON lines (`GET /v1/objects[?node=NAME]`), chosen over
//! gRPC because it is what the kube-rs watchers already speak with the API server (a list, then a
//! watch of changes), needs no generated code, and reads with `curl`. A feed opens with one
//! listing per kind (`list_start`, one `listed` line per object, `list_end`), then carries every
//! change (`applied`, `deleted`) and a `heartbeat` every [`HEARTBEAT`], so a silent broken
//! connection is noticed. An agent that loses the feed keeps the index it has, and on reconnect
//! takes the new listings as a watcher takes a re-list: what is gone is deleted, with its grace.

mod client;
mod status;

pub use client::{follow, objects_url};
pub use status::{ControllerStatus, MAX_KINDS, STATUS_PATH};

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The feed's path.
pub const OBJECTS_PATH: &str = "/v1/objects";

/// The request header by which an agent asks for kinds beyond those attribution needs
/// ([`crate::follower::POLICY_KINDS`], comma-separated). A header, not a parameter: a controller
/// of an earlier version ignores it (where it refuses unknown parameters), and an agent of an
/// earlier version, which does not send it, is not sent objects it cannot read.
pub const KINDS_HEADER: &str = "spider-feed-kinds";

/// How often the controller writes a heartbeat on an idle feed; an agent hearing nothing for
/// three of them reconnects.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// The longest line either end accepts: an object is a few hundred bytes.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// One line of the feed, generic over how the object is held (borrowed when written, owned when
/// read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FeedEvent<O> {
    /// The complete list of `kind` follows.
    ListStart {
        /// A kind the source follows (`Pod`, `Node`, …, `NetworkPolicy`).
        kind: String,
    },
    /// One object of the list.
    Listed {
        /// The object.
        object: O,
    },
    /// The list of `kind` is complete: what the agent has of that kind and is not in it is gone.
    ListEnd {
        /// The kind listed.
        kind: String,
    },
    /// An object added or changed since.
    Applied {
        /// The object.
        object: O,
    },
    /// An object deleted since.
    Deleted {
        /// The object.
        object: O,
    },
    /// Nothing changed for a while; the connection is alive.
    Heartbeat,
}
