//! `tests/python/otlp_receiver.py` as a child process: an OTLP metrics receiver that decodes
//! every request with the official protobuf messages, for the exporter's tests and the
//! end-to-end test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{free_port, python_script, scratch};

/// A running `tests/python/otlp_receiver.py`.
pub struct Peer {
    child: Child,
    /// Where it takes OTLP/gRPC.
    pub grpc_port: u16,
    /// Where it takes OTLP/HTTP.
    pub http_port: u16,
    out: PathBuf,
}

impl Peer {
    /// Starts a receiver on fresh ports with extra arguments.
    pub fn start(args: &[&str]) -> Self {
        Self::start_on(
            free_port(),
            free_port(),
            &scratch("peer").join("requests.jsonl"),
            args,
        )
    }

    /// Starts a receiver on given ports, appending to `out`.
    pub fn start_on(grpc_port: u16, http_port: u16, out: &Path, args: &[&str]) -> Self {
        let mut child = Command::new("python3")
            .arg(python_script("otlp_receiver.py"))
            .args([
                "--grpc-port",
                &grpc_port.to_string(),
                "--http-port",
                &http_port.to_string(),
            ])
            .args(["--out", out.to_str().unwrap()])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs otlp_receiver.py");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "otlp_receiver.py did not start");
        Self {
            child,
            grpc_port,
            http_port,
            out: out.to_path_buf(),
        }
    }

    /// The requests accepted so far, each `{transport, headers, request}`.
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.out)
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }

    /// Waits until at least `count` requests arrived.
    pub fn wait_for(&self, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let requests = self.requests();
            if requests.len() >= count {
                return requests;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {count} requests arrived",
                requests.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
