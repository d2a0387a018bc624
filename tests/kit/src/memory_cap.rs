//! A memory cgroup for one process under test: what a pod's memory limit does to it. The cgroup
//! v1 memory controller (`/sys/fs/cgroup/memory`, hybrid hosts) or cgroup v2 with the memory
//! controller; the kernel OOM-kills the process when it goes beyond.

use std::path::PathBuf;

use crate::cluster::cgroup_root;

/// A memory cgroup, removed when dropped (once its process is gone).
pub struct MemoryCap {
    path: PathBuf,
    v1: bool,
}

impl MemoryCap {
    /// A cgroup `name` holding at most `bytes`.
    pub fn new(name: &str, bytes: u64) -> Self {
        let v1 = PathBuf::from("/sys/fs/cgroup/memory");
        let (parent, is_v1) = if v1.join("memory.limit_in_bytes").exists() {
            (v1, true)
        } else {
            let root = cgroup_root();
            let controllers =
                std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
            assert!(
                controllers.split_whitespace().any(|c| c == "memory"),
                "no memory cgroup controller on this host (v1 memory/ or v2 with memory)"
            );
            (root, false)
        };
        let path = parent.join(format!("spider-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {} (root is needed): {e}", path.display()));
        let (file, value) = if is_v1 {
            ("memory.limit_in_bytes", bytes.to_string())
        } else {
            ("memory.max", bytes.to_string())
        };
        std::fs::write(path.join(file), value).expect("set the memory limit");
        if !is_v1 {
            std::fs::write(path.join("memory.swap.max"), "0").ok();
        }
        Self { path, v1: is_v1 }
    }

    /// Moves process `pid` into the cgroup.
    pub fn add(&self, pid: u32) {
        std::fs::write(self.path.join("cgroup.procs"), pid.to_string()).expect("join the cgroup");
    }

    /// Times the kernel's OOM killer acted in the cgroup.
    pub fn oom_kills(&self) -> u64 {
        let (file, key) = if self.v1 {
            ("memory.oom_control", "oom_kill ")
        } else {
            ("memory.events", "oom_kill ")
        };
        std::fs::read_to_string(self.path.join(file))
            .unwrap_or_default()
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The most memory the cgroup held, bytes (v1: its high-water mark; v2: `memory.peak`).
    pub fn peak(&self) -> u64 {
        let file = if self.v1 {
            "memory.max_usage_in_bytes"
        } else {
            "memory.peak"
        };
        std::fs::read_to_string(self.path.join(file))
            .ok()
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for MemoryCap {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.path);
    }
}
