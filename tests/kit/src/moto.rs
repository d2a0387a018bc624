//! The S3 API on loopback: a moto server for the tests that write to or read from object
//! storage, with the options that reach it and the Python calls that check the bucket.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{free_port, python_json};

/// A moto S3 server on a loopback port, stopped on drop.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// A server on a free port.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// A server on `port` (a test of a store that comes up late picks the port first).
    pub fn start_on(port: u16) -> Self {
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server runs (pip install 'moto[server]')");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port }
    }

    /// The object_store options that reach a moto server on `port` (the parquet exporter's
    /// `storage_options`, `spider serve --storage-option`).
    pub fn options_for(port: u16) -> Vec<(&'static str, String)> {
        vec![
            ("endpoint", format!("http://127.0.0.1:{port}")),
            ("allow_http", "true".into()),
            ("region", "us-east-1".into()),
            ("access_key_id", "test".into()),
            ("secret_access_key", "test".into()),
        ]
    }

    /// The options that reach this server.
    pub fn options(&self) -> Vec<(&'static str, String)> {
        Self::options_for(self.port)
    }

    /// `tests/python/s3.py ENDPOINT ARGS…`: `create BUCKET`, `download BUCKET DIR` (the keys).
    pub fn s3(&self, args: &[&str]) -> Value {
        let endpoint = format!("http://127.0.0.1:{}", self.port);
        let mut all = vec![endpoint.as_str()];
        all.extend_from_slice(args);
        python_json("s3.py", &all)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
