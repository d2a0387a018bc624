//! This machine's name: what node agents report as, name their files after and call their node
//! when no name is configured.

/// The kernel's host name, or `localhost` when it cannot be read (or would not do as a file
/// name part).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty() && !name.contains('/'))
        .unwrap_or_else(|| "localhost".to_owned())
}
