//! Network usage: bytes and messages exchanged between two endpoints during one minute.

use std::net::{IpAddr, Ipv4Addr};

use crate::columns::Record;
use crate::endpoint::{EndpointClass, EndpointMeta};
use crate::time::Timestamp;
use crate::{columns_struct, string_enum};

string_enum! {
    /// The transport protocol of a flow.
    pub enum Transport {
        /// TCP.
        Tcp = "tcp",
        /// UDP.
        Udp = "udp",
    }
}

string_enum! {
    /// Which ends of a conversation the reporting agent saw as its own sockets.
    pub enum ObservedEnds {
        /// Only the client's socket was local to the reporter.
        Client = "client",
        /// Only the server's socket was local to the reporter.
        Server = "server",
        /// Both sockets were local (same node, or an agent scoped to the whole host).
        Both = "both",
    }
}

string_enum! {
    /// What the NetworkPolicies that select a conversation's two pods say of it (client to the
    /// server's port), as enrichment evaluates them.
    pub enum PolicyVerdict {
        /// Each end a policy selects for its direction (the client's egress, the server's
        /// ingress) has one whose rules let it through.
        Allowed = "allowed",
        /// Seen although a policy selecting an end should have stopped it: the CNI does not
        /// enforce NetworkPolicies, or the policy changed since.
        Denied = "denied",
        /// No policy selects the client for egress or the server for ingress.
        Unrestricted = "unrestricted",
    }
}

columns_struct! {
    /// One minute of traffic between a client and a server endpoint, as seen by one reporter.
    ///
    /// A flow is always stored once, from the client's side: the `to_server` counters are what the
    /// client sent, the `to_client` counters what it got back.
    #[derive(Debug, Clone, PartialEq)]
    pub struct NetworkUsage {
        /// Start of the one-minute bucket.
        pub bucket_start: Timestamp,
        /// The node (or host) whose agent counted the traffic.
        pub reporter: String,
        /// The connecting (or first-sending) end.
        pub client_ip: IpAddr,
        /// The listening end.
        pub server_ip: IpAddr,
        /// The listening port.
        pub server_port: u16,
        /// TCP or UDP.
        pub transport: Transport,
        /// Which ends the reporter observed; `None` for records no agent counted (generated data).
        pub observed: Option<ObservedEnds>,
        /// The Service address the client connected to, when the kernel translated it (DNAT) to
        /// the `server_ip` that really served it.
        pub service_ip: Option<IpAddr>,
        /// The Service port the client connected to.
        pub service_port: Option<u16>,
        /// The Service's namespace (enrichment).
        pub service_namespace: Option<String>,
        /// The Service's name (enrichment).
        pub service_name: Option<String>,
        /// The NetworkPolicies' verdict on the conversation (enrichment); `None` when it cannot be
        /// told: an end unattributed, a Service not translated, or a source that carries no
        /// policies.
        pub policy: Option<PolicyVerdict>,
        /// The policies that decided a verdict other than `unrestricted`, as `namespace/name`
        /// joined by commas: for `denied`, those selecting the end that refuses it.
        pub policy_by: Option<String>,
        /// Payload bytes sent by the client.
        pub bytes_to_server: u64,
        /// Payload bytes sent by the server.
        pub bytes_to_client: u64,
        /// Send calls (TCP writes, UDP datagrams) by the client.
        pub messages_to_server: u64,
        /// Send calls by the server.
        pub messages_to_client: u64,
        /// Packets from the client.
        pub packets_to_server: u64,
        /// Packets from the server.
        pub packets_to_client: u64,
        /// Metadata of the client end (`client_*` columns).
        pub client: EndpointMeta,
        /// Metadata of the server end (`server_*` columns).
        pub server: EndpointMeta,
    }
}

impl Default for NetworkUsage {
    fn default() -> Self {
        Self {
            bucket_start: Timestamp::default(),
            reporter: String::new(),
            client_ip: Ipv4Addr::UNSPECIFIED.into(),
            server_ip: Ipv4Addr::UNSPECIFIED.into(),
            server_port: 0,
            transport: Transport::Tcp,
            observed: None,
            service_ip: None,
            service_port: None,
            service_namespace: None,
            service_name: None,
            policy: None,
            policy_by: None,
            bytes_to_server: 0,
            bytes_to_client: 0,
            messages_to_server: 0,
            messages_to_client: 0,
            packets_to_server: 0,
            packets_to_client: 0,
            client: EndpointMeta::default(),
            server: EndpointMeta::default(),
        }
    }
}

impl NetworkUsage {
    /// Whether this report is the one that counts its conversation (the counted-once rule):
    /// a report that observed the client counts; a report that observed only the server counts
    /// when the client is external (outside the cluster's ranges, where no agent runs). A
    /// cross-node conversation is reported by both agents and counted once, by the client's;
    /// a pod, node or unattributed in-cluster client is left to its own node's agent.
    pub fn counts(&self) -> bool {
        self.observed != Some(ObservedEnds::Server) || self.client.class == EndpointClass::External
    }
}

impl Record for NetworkUsage {
    const TIME_COLUMN: &'static str = "bucket_start";
    const SCHEMA_VERSION: u32 = 3;

    fn time(&self) -> Timestamp {
        self.bucket_start
    }
}
