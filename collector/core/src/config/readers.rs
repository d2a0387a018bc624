//! `service::telemetry::metrics::readers`, as the OTel Collector writes them: a `pull` reader
//! serves the self-telemetry for Prometheus to scrape, a `periodic` reader pushes it over OTLP.
//!
//! ```yaml
//! readers:
//!   - pull: { exporter: { prometheus: { host: 0.0.0.0, port: 8888 } } }
//!   - periodic:
//!       interval: 10000            # milliseconds, as in the Collector
//!       exporter: { otlp: { protocol: grpc, endpoint: http://otel-collector:4317 } }
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

use super::error::ConfigError;

/// One reader: exactly one of `pull` or `periodic`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricReader {
    /// Served for scraping.
    pub pull: Option<PullReader>,
    /// Pushed on an interval.
    pub periodic: Option<PeriodicReader>,
}

/// `pull`: where Prometheus scrapes `/metrics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullReader {
    /// The one pull exporter there is.
    pub exporter: PullExporter,
}

/// `pull::exporter`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PullExporter {
    /// The Prometheus endpoint.
    pub prometheus: PrometheusEndpoint,
}

/// `pull::exporter::prometheus`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusEndpoint {
    /// The address to listen on (`0.0.0.0` for every interface).
    pub host: String,
    /// The port (`0` takes a free one).
    pub port: u16,
}

/// `periodic`: every series pushed every `interval` milliseconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeriodicReader {
    /// Milliseconds between pushes (the Collector's default, 60000).
    #[serde(default = "default_interval")]
    pub interval: u64,
    /// Milliseconds one push may take (the Collector's default, 30000).
    #[serde(default = "default_timeout")]
    pub timeout: u64,
    /// Where the pushes go.
    pub exporter: PushExporter,
}

fn default_interval() -> u64 {
    60_000
}

fn default_timeout() -> u64 {
    30_000
}

impl PeriodicReader {
    /// The time between pushes.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval)
    }

    /// The time a push may take.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout)
    }
}

/// `periodic::exporter`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushExporter {
    /// OTLP.
    pub otlp: OtlpPush,
}

/// `periodic::exporter::otlp`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OtlpPush {
    /// `grpc`, the one transport the push speaks.
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// `http://host:4317` or `https://host:4317`.
    pub endpoint: String,
    /// Metadata sent with every push (an `authorization` header, say).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_protocol() -> String {
    "grpc".into()
}

impl MetricReader {
    /// Checks one reader; paths are relative to it.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        match (&self.pull, &self.periodic) {
            (Some(pull), None) => {
                if pull.exporter.prometheus.host.parse::<IpAddr>().is_err() {
                    errors.push(ConfigError::new(
                        "pull::exporter::prometheus::host",
                        format!(
                            "{:?} is not an IP address, such as 0.0.0.0 or 127.0.0.1",
                            pull.exporter.prometheus.host
                        ),
                    ));
                }
            }
            (None, Some(periodic)) => errors.extend(periodic.validate()),
            _ => errors.push(ConfigError::new(
                "",
                "a reader is either pull or periodic: give exactly one",
            )),
        }
        errors
    }

    /// Where a pull reader serves `/metrics`.
    pub fn pull_address(&self) -> Option<SocketAddr> {
        let prometheus = &self.pull.as_ref()?.exporter.prometheus;
        Some(SocketAddr::new(
            prometheus.host.parse().ok()?,
            prometheus.port,
        ))
    }
}

impl PeriodicReader {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if !(100..=86_400_000).contains(&self.interval) {
            errors.push(ConfigError::new(
                "periodic::interval",
                format!(
                    "{} ms is out of range: from 100 (a tenth of a second) to 86400000 (a day)",
                    self.interval
                ),
            ));
        }
        if !(1..=600_000).contains(&self.timeout) {
            errors.push(ConfigError::new(
                "periodic::timeout",
                format!(
                    "{} ms is out of range: from 1 to 600000 (ten minutes)",
                    self.timeout
                ),
            ));
        }
        let otlp = &self.exporter.otlp;
        if otlp.protocol != "grpc" {
            errors.push(ConfigError::new(
                "periodic::exporter::otlp::protocol",
                format!(
                    "{:?} is not supported: self-telemetry is pushed over grpc",
                    otlp.protocol
                ),
            ));
        }
        let endpoint = otlp.endpoint.as_str();
        let authority = endpoint
            .strip_prefix("http://")
            .or_else(|| endpoint.strip_prefix("https://"));
        if !authority.is_some_and(|rest| !rest.is_empty() && !rest.contains(char::is_whitespace)) {
            errors.push(ConfigError::new(
                "periodic::exporter::otlp::endpoint",
                format!("{endpoint:?} is not an http(s)://host:port address"),
            ));
        }
        for (name, value) in &otlp.headers {
            // `-bin` names carry binary values and `grpc-` names are gRPC's own.
            let valid_name = !name.is_empty()
                && !name.ends_with("-bin")
                && !name.starts_with("grpc-")
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
            if !valid_name || value.bytes().any(|b| b.is_ascii_control()) {
                errors.push(ConfigError::new(
                    format!("periodic::exporter::otlp::headers::{name}"),
                    "gRPC metadata names are lowercase letters, digits, '-', '_' and '.' (not grpc-…, not …-bin), and values have no control characters",
                ));
            }
        }
        errors
    }
}
