//! This machine's name, the node name a collector goes by (what node agents report as, name
//! their files after and call their node) and the cluster it is in (the first partition level of
//! every dataset). Declared once, at the `service` level of the config, and handed to every
//! component in its create context.

pub use spider_records::catalog::is_cluster_name;

/// The environment variable a node agent's name comes from (the chart sets it from the downward
/// API's `spec.nodeName`).
pub const NODE_NAME_VARIABLE: &str = "SPIDER_NODE_NAME";

/// The environment variable a collector's cluster comes from (the chart sets it from
/// `clusterName`).
pub const CLUSTER_NAME_VARIABLE: &str = "SPIDER_CLUSTER_NAME";

/// The cluster of a collector that names none (a single-cluster lake, a host on its own).
pub const DEFAULT_CLUSTER: &str = "default";

/// The collector's cluster: `configured` (`service::cluster`), else [`CLUSTER_NAME_VARIABLE`],
/// else [`DEFAULT_CLUSTER`].
pub fn cluster_name(configured: Option<String>) -> String {
    configured
        .or_else(|| {
            let named = std::env::var(CLUSTER_NAME_VARIABLE).ok()?;
            if is_cluster_name(&named) {
                return Some(named);
            }
            tracing::warn!(
                "${CLUSTER_NAME_VARIABLE}={named:?} is not a cluster name (a DNS name of up to 63 lowercase characters); the cluster is {DEFAULT_CLUSTER}"
            );
            None
        })
        .unwrap_or_else(|| DEFAULT_CLUSTER.to_owned())
}

/// The kernel's host name, or `localhost` when it cannot be read (or would not do as a file
/// name part).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| is_node_name(name))
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Whether `name` will do as a node name: in records, file names and label values.
pub fn is_node_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', ' ', '\n', '\t'])
}

/// The collector's node: `configured` (`service::node`), else [`NODE_NAME_VARIABLE`], else the
/// host name.
pub fn node_name(configured: Option<String>) -> String {
    configured
        .or_else(|| {
            std::env::var(NODE_NAME_VARIABLE)
                .ok()
                .filter(|name| is_node_name(name))
        })
        .unwrap_or_else(host_name)
}
