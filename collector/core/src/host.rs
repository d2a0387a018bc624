//! This machine's name, and the node name a collector goes by: what node agents report as, name
//! their files after and call their node. Declared once, at the `service` level of the config,
//! and handed to every component in its create context.

/// The environment variable a node agent's name comes from (the chart sets it from the downward
/// API's `spec.nodeName`).
pub const NODE_NAME_VARIABLE: &str = "SPIDER_NODE_NAME";

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
