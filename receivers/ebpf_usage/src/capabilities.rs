//! Which of the capabilities eBPF counting needs this process lacks, read from /proc.

/// The capabilities needed: loading programs, attaching to cgroups, BTF-typed tracing.
pub const NEEDED: [(&str, u32); 3] = [("CAP_BPF", 39), ("CAP_NET_ADMIN", 12), ("CAP_PERFMON", 38)];
/// CAP_SYS_ADMIN covers all of them on the kernels that predate CAP_BPF/CAP_PERFMON.
const CAP_SYS_ADMIN: u32 = 21;

/// The effective capability set of this process, from `CapEff` in `/proc/self/status`.
pub fn effective() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_effective(&status)
}

fn parse_effective(status: &str) -> Option<u64> {
    let hex = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// The names of the needed capabilities missing from `effective`.
pub fn missing(effective: u64) -> Vec<&'static str> {
    let has = |bit: u32| effective & (1 << bit) != 0;
    if has(CAP_SYS_ADMIN) && has(12) {
        return Vec::new();
    }
    NEEDED
        .iter()
        .filter(|(_, bit)| !has(*bit))
        .map(|(name, _)| *name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_names_the_missing_capabilities() {
        let root = parse_effective("Name:\tx\nCapEff:\t000001ffffffffff\n").unwrap();
        assert!(missing(root).is_empty());
        assert_eq!(missing(0), ["CAP_BPF", "CAP_NET_ADMIN", "CAP_PERFMON"]);
        let net_admin_only = 1 << 12;
        assert_eq!(missing(net_admin_only), ["CAP_BPF", "CAP_PERFMON"]);
        assert_eq!(parse_effective("CapEff:\tzz\n"), None);
    }
}
