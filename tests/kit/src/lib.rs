//! What Spider's tests share: scratch directories, free loopback ports, and the Python test
//! peers in `tests/python/` (DuckDB, pyarrow, the OTLP receiver, S3 calls), network namespaces,
//! public captures and tshark, a fake Kubernetes API server, and a cluster simulated on this
//! kernel (nodes as cgroups, pods as network namespaces, Services as kube-proxy's DNAT rules),
//! and records built by hand.

pub mod captures;
pub mod cluster;
pub mod frames;
pub mod http_capture;
pub mod kube_api;
pub mod memory_cap;
pub mod moto;
pub mod netns;
pub mod otlp_peer;
pub mod payloads;
pub mod records;

/// The HTTP client crate [`http`] builds on, for tests that name its types.
pub use reqwest;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// A fresh, empty directory for one test, unique within the run.
pub fn scratch(name: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("spider-test-{}-{name}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The path of a peer script in `tests/python/`.
pub fn python_script(name: &str) -> PathBuf {
    repo_root().join("tests/python").join(name)
}

/// Runs `tests/python/SCRIPT ARGS…` and parses what it prints as JSON; fails the test on error.
pub fn python_json<S: AsRef<std::ffi::OsStr>>(script: &str, args: &[S]) -> Value {
    let output = Command::new("python3")
        .arg(python_script(script))
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{script} printed no JSON: {e}"))
}

/// An HTTP client for tests (reqwest is built without a bundled TLS provider: ring is installed).
///
/// An idle pooled connection is dropped after half a second: the service lets an idle keep-alive
/// connection go at its header-read timeout (1 s in the shortest test), and a request sent on a
/// connection the server is closing fails with "incomplete message".
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .pool_idle_timeout(std::time::Duration::from_millis(500))
        .build()
        .expect("a default reqwest client builds")
}
