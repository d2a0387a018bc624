//! The kernel tests take turns: only one program set can hang off the cgroup root at a time.

use tokio::sync::{Mutex, MutexGuard};

static KERNEL: Mutex<()> = Mutex::const_new(());

/// Serializes tests that attach programs; `None` (skip) only when explicitly allowed.
pub async fn privileged() -> Option<MutexGuard<'static, ()>> {
    if !spider_testkit::netns::privileged() {
        return None;
    }
    Some(KERNEL.lock().await)
}
