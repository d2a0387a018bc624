//! `exporters::otlp` settings, and how they combine with the standard `OTEL_EXPORTER_OTLP_*`
//! environment variables (the config wins; the variables fill what it leaves out).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use spider_collector::config::{GoDuration, parse_duration};
use spider_collector::{ComponentConfig, ConfigError};

/// The wire protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Protocol {
    /// OTLP/gRPC (port 4317 by convention).
    #[serde(rename = "grpc")]
    Grpc,
    /// OTLP/HTTP with protobuf bodies (port 4318, path `/v1/metrics`).
    #[serde(rename = "http/protobuf")]
    HttpProtobuf,
}

/// Counter temporality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Temporality {
    /// Running totals per series since the exporter started (what Prometheus expects).
    #[default]
    Cumulative,
    /// One point per one-minute bucket.
    Delta,
}

/// Attribute groups that can be put on data points; each costs cardinality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// `source/destination.k8s.namespace.name`.
    Namespace,
    /// `source/destination.k8s.owner.name` and `.type`.
    Owner,
    /// `source/destination.k8s.pod.name`.
    Pod,
    /// `source/destination.k8s.node.name`.
    Node,
    /// `spider.source/destination.endpoint_class`.
    Class,
    /// `source.address` and `destination.address`.
    Address,
    /// `destination.port`.
    Port,
    /// `spider.network.policy`: the NetworkPolicies' verdict (`allowed`, `denied`,
    /// `unrestricted`), when enrichment could tell it.
    Policy,
}

/// TLS settings (used with `https://` endpoints).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// CA bundle (PEM) to trust instead of the system roots.
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    pub key_file: Option<PathBuf>,
}

/// `exporters::otlp`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OtlpConfig {
    /// `http(s)://host:port` (gRPC) or `http(s)://host:port[/path]` (HTTP; `/v1/metrics` is
    /// appended to a bare host). Default: the environment, then localhost:4317/4318.
    pub endpoint: Option<String>,
    /// `grpc` or `http/protobuf`. Default: the environment, then grpc.
    pub protocol: Option<Protocol>,
    /// Headers on every request (an API key, say), over `OTEL_EXPORTER_OTLP_HEADERS`.
    pub headers: BTreeMap<String, String>,
    /// Per-request timeout. Default: `OTEL_EXPORTER_OTLP_TIMEOUT`, then 10s.
    pub timeout: Option<GoDuration>,
    /// TLS for https endpoints.
    pub tls: TlsSettings,
    /// Cumulative (default) or delta counters.
    pub temporality: Temporality,
    /// Attribute groups on data points; transport, IP version and direction are always there.
    pub dimensions: Option<Vec<Dimension>>,
    /// Extra resource attributes, e.g. `deployment.environment: prod`; `k8s.cluster.name` is the
    /// collector's cluster (`service.cluster`) unless given here.
    pub resource: BTreeMap<String, String>,
    /// Most series kept for cumulative totals; more are folded into one overflow series.
    pub max_series: usize,
}

impl OtlpConfig {
    /// The dimensions in force: namespace and owner unless configured.
    pub fn dimensions(&self) -> Vec<Dimension> {
        let mut dimensions = self
            .dimensions
            .clone()
            .unwrap_or_else(|| vec![Dimension::Namespace, Dimension::Owner]);
        dimensions.sort();
        dimensions.dedup();
        dimensions
    }

    fn series_cap(&self) -> usize {
        if self.max_series == 0 {
            DEFAULT_MAX_SERIES
        } else {
            self.max_series
        }
    }
}

const DEFAULT_MAX_SERIES: usize = 100_000;

impl ComponentConfig for OtlpConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            errors.push(ConfigError::new(
                "endpoint",
                "must start with http:// or https://",
            ));
        }
        if self.timeout.is_some_and(|t| t.0.is_zero()) {
            errors.push(ConfigError::new("timeout", "must be more than 0"));
        }
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            errors.push(ConfigError::new(
                "tls",
                "cert_file and key_file go together",
            ));
        }
        for name in self.headers.keys() {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                errors.push(ConfigError::new(
                    format!("headers::{name}"),
                    "is not a valid header name",
                ));
            }
        }
        errors
    }
}

/// Everything needed to send, after the environment filled the gaps.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// Full URL requests go to.
    pub url: String,
    /// Wire protocol.
    pub protocol: Protocol,
    /// Request headers, lower-cased names.
    pub headers: Vec<(String, String)>,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Series cap.
    pub max_series: usize,
}

/// Reads `OTEL_EXPORTER_OTLP_METRICS_<NAME>`, then `OTEL_EXPORTER_OTLP_<NAME>`, as the spec says.
fn otel_env(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<(String, bool)> {
    env(&format!("OTEL_EXPORTER_OTLP_METRICS_{name}"))
        .map(|value| (value, true))
        .or_else(|| env(&format!("OTEL_EXPORTER_OTLP_{name}")).map(|value| (value, false)))
        .filter(|(value, _)| !value.trim().is_empty())
}

impl OtlpConfig {
    /// Combines the config with the environment.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<Resolved, String> {
        let protocol = match self.protocol {
            Some(protocol) => protocol,
            None => match otel_env(env, "PROTOCOL").map(|(v, _)| v) {
                None => Protocol::Grpc,
                Some(value) if value == "grpc" => Protocol::Grpc,
                Some(value) if value == "http/protobuf" => Protocol::HttpProtobuf,
                Some(value) => {
                    return Err(format!(
                        "OTEL_EXPORTER_OTLP_PROTOCOL={value:?}: grpc or http/protobuf"
                    ));
                }
            },
        };
        // A signal-specific variable is a full URL; the general one and the config are a base.
        let (base, full) = match (&self.endpoint, otel_env(env, "ENDPOINT")) {
            (Some(endpoint), _) => (endpoint.clone(), false),
            (None, Some((value, signal_specific))) => (value, signal_specific),
            (None, None) if protocol == Protocol::Grpc => {
                ("http://localhost:4317".to_owned(), false)
            }
            (None, None) => ("http://localhost:4318".to_owned(), false),
        };
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(format!(
                "endpoint {base:?} must start with http:// or https://"
            ));
        }
        let url = match protocol {
            Protocol::HttpProtobuf if !full && !has_path(&base) => {
                format!("{}/v1/metrics", base.trim_end_matches('/'))
            }
            _ => base,
        };
        let mut headers: BTreeMap<String, String> = otel_env(env, "HEADERS")
            .map(|(value, _)| parse_header_list(&value))
            .transpose()?
            .unwrap_or_default();
        headers.extend(
            self.headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone())),
        );
        let timeout = match (self.timeout, otel_env(env, "TIMEOUT")) {
            (Some(timeout), _) => timeout.0,
            (None, Some((millis, _))) => millis
                .parse::<u64>()
                .map(Duration::from_millis)
                .or_else(|_| parse_duration(&millis))
                .map_err(|_| {
                    format!("OTEL_EXPORTER_OTLP_TIMEOUT={millis:?} is not milliseconds")
                })?,
            (None, None) => Duration::from_secs(10),
        };
        Ok(Resolved {
            url,
            protocol,
            headers: headers.into_iter().collect(),
            timeout,
            max_series: self.series_cap(),
        })
    }
}

/// Whether a URL has a path beyond `/`.
fn has_path(url: &str) -> bool {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme
        .split_once('/')
        .is_some_and(|(_, path)| !path.is_empty())
}

/// `k1=v1,k2=v2` with percent-encoded values (the W3C baggage format the spec uses).
fn parse_header_list(text: &str) -> Result<BTreeMap<String, String>, String> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("OTEL_EXPORTER_OTLP_HEADERS: {pair:?} is not key=value"))?;
            Ok((
                key.trim().to_ascii_lowercase(),
                percent_decode(value.trim()),
            ))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults_follow_the_protocol() {
        let grpc = OtlpConfig::default().resolve(&env(&[])).unwrap();
        assert_eq!(
            (grpc.url.as_str(), grpc.protocol),
            ("http://localhost:4317", Protocol::Grpc)
        );
        let http = OtlpConfig {
            protocol: Some(Protocol::HttpProtobuf),
            ..OtlpConfig::default()
        };
        assert_eq!(
            http.resolve(&env(&[])).unwrap().url,
            "http://localhost:4318/v1/metrics"
        );
    }

    #[test]
    fn the_environment_fills_what_the_config_leaves_out() {
        let vars = env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otel.example:4318/"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "Api-Key=s%3Dcret, tenant = a"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ]);
        let resolved = OtlpConfig::default().resolve(&vars).unwrap();
        assert_eq!(resolved.url, "https://otel.example:4318/v1/metrics");
        assert_eq!(
            resolved.headers,
            [
                ("api-key".to_owned(), "s=cret".to_owned()),
                ("tenant".to_owned(), "a".to_owned())
            ]
        );
        assert_eq!(resolved.timeout, Duration::from_millis(2500));

        let config = OtlpConfig {
            endpoint: Some("http://collector:4317".into()),
            protocol: Some(Protocol::Grpc),
            headers: [("tenant".to_owned(), "b".to_owned())].into(),
            ..OtlpConfig::default()
        };
        let resolved = config.resolve(&vars).unwrap();
        assert_eq!(resolved.url, "http://collector:4317", "the config wins");
        assert_eq!(resolved.headers[1], ("tenant".to_owned(), "b".to_owned()));
    }

    #[test]
    fn a_signal_specific_endpoint_is_used_as_is() {
        let vars = env(&[
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://h:9/custom"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ]);
        assert_eq!(
            OtlpConfig::default().resolve(&vars).unwrap().url,
            "http://h:9/custom"
        );
        let bad = env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift")]);
        assert!(
            OtlpConfig::default()
                .resolve(&bad)
                .unwrap_err()
                .contains("thrift")
        );
    }

    #[test]
    fn invalid_settings_are_named() {
        let config = OtlpConfig {
            endpoint: Some("collector:4317".into()),
            timeout: Some(GoDuration::default()),
            tls: TlsSettings {
                cert_file: Some("c.pem".into()),
                ..TlsSettings::default()
            },
            headers: [("bad header".to_owned(), "x".to_owned())].into(),
            ..OtlpConfig::default()
        };
        let paths: Vec<_> = config.validate().into_iter().map(|e| e.path).collect();
        assert_eq!(paths, ["endpoint", "timeout", "tls", "headers::bad header"]);
    }
}
