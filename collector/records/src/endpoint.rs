//! What is known about one end of a flow: its place in Kubernetes, or why it has none.

use crate::{columns_struct, string_enum};

string_enum! {
    /// What kind of endpoint an address turned out to be.
    #[derive(Default)]
    pub enum EndpointClass {
        /// A pod IP (not host-network).
        Pod = "pod",
        /// A node address, including host-network pods.
        Node = "node",
        /// A Service ClusterIP.
        Service = "service",
        /// Outside the cluster's address ranges.
        External = "external",
        /// Not (yet) attributed.
        #[default]
        Unknown = "unknown",
    }
}

string_enum! {
    /// The top of a pod's owner chain: the workload the logical view shows.
    pub enum OwnerKind {
        /// Pod → ReplicaSet → Deployment.
        Deployment = "Deployment",
        /// A ReplicaSet with no Deployment above it.
        ReplicaSet = "ReplicaSet",
        /// Pod → DaemonSet.
        DaemonSet = "DaemonSet",
        /// Pod → StatefulSet.
        StatefulSet = "StatefulSet",
        /// Pod → Job → CronJob.
        CronJob = "CronJob",
        /// A Job with no CronJob above it.
        Job = "Job",
        /// A pod with no controller.
        Pod = "Pod",
        /// A Service (for ClusterIP ends).
        Service = "Service",
        /// A node (for node addresses and host-network pods).
        Node = "Node",
    }
}

impl OwnerKind {
    /// Whether it is a workload, as the logical map shows it and a capture can target: every
    /// kind but a Service or a node.
    pub fn is_workload(self) -> bool {
        !matches!(self, Self::Service | Self::Node)
    }

    /// The workload kind named `text`, or an error naming the workload kinds.
    pub fn workload(text: &str) -> Result<Self, crate::workload::NameError> {
        match text.parse::<Self>() {
            Ok(kind) if kind.is_workload() => Ok(kind),
            _ => {
                let kinds: Vec<&str> = Self::ALL
                    .iter()
                    .filter(|kind| kind.is_workload())
                    .map(|kind| kind.as_str())
                    .collect();
                Err(crate::workload::NameError::Kind {
                    text: text.to_owned(),
                    kinds: kinds.join(", "),
                })
            }
        }
    }

    /// A workload kind for serde (`deserialize_with`): any other name is refused as
    /// [`Self::workload`] says.
    pub fn deserialize_workload<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(deserializer)?;
        Self::workload(&text).map_err(serde::de::Error::custom)
    }
}

columns_struct! {
    /// Kubernetes (or static inventory) metadata of one end; stored as `client_*`/`server_*` columns.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct EndpointMeta {
        /// Namespace of the pod or service.
        pub namespace: Option<String>,
        /// Pod name.
        pub pod: Option<String>,
        /// Node the pod runs on, or the node itself.
        pub node: Option<String>,
        /// Kind of the top-level owner.
        pub owner_kind: Option<OwnerKind>,
        /// Name of the top-level owner.
        pub owner_name: Option<String>,
        /// What the address is.
        pub class: EndpointClass,
        /// A name seen for the address (DNS answer, TLS SNI, HTTP Host).
        pub dns_name: Option<String>,
    }
}
