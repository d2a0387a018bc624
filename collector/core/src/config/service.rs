//! The typed parts of a config that belong to the runtime rather than to a component:
//! pipelines, self-telemetry, the shutdown deadline, and each exporter's queue and retry settings.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;
use spider_records::Signal;

use super::duration::GoDuration;
use super::error::ConfigError;
use super::readers::{MetricReader, PeriodicReader};
use crate::component::check_instance_name;

/// A pipeline's name: its signal, then optionally `/name` (`usage`, `capture/http`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineId {
    /// The type of data it carries.
    pub signal: Signal,
    /// The instance name, if any.
    pub name: Option<String>,
}

impl fmt::Display for PipelineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{}", self.signal, name),
            None => write!(f, "{}", self.signal),
        }
    }
}

impl FromStr for PipelineId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (signal, name) = match text.split_once('/') {
            Some((signal, name)) => (signal, Some(name)),
            None => (text, None),
        };
        let signal = signal
            .parse::<Signal>()
            .map_err(|_| format!("unknown signal {signal:?} in pipeline {text:?}; pipelines are named usage[/name] or capture[/name]"))?;
        if let Some(name) = name {
            check_instance_name(name)?;
        }
        Ok(Self {
            signal,
            name: name.map(str::to_owned),
        })
    }
}

/// A pipeline as written: the ids it references, in order.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// Where its records come from.
    #[serde(default)]
    pub receivers: Vec<String>,
    /// What they go through, in order.
    #[serde(default)]
    pub processors: Vec<String>,
    /// Where they go (each gets every record).
    #[serde(default)]
    pub exporters: Vec<String>,
}

/// `service::telemetry`: how the collector reports on itself.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetrySettings {
    /// Log settings.
    pub logs: LogSettings,
    /// Metrics settings.
    pub metrics: MetricsSettings,
}

/// `service::telemetry::logs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// Minimum level: error, warn, info, debug or trace (`RUST_LOG` overrides it).
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            level: "info".into(),
        }
    }
}

/// `service::telemetry::metrics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// `none` turns the endpoint, the pushes and the periodic log off; `basic` keeps them.
    pub level: MetricsLevel,
    /// Where `/metrics` (Prometheus text format) is served, when no `pull` reader says
    /// (`127.0.0.1:8888` when neither does).
    pub address: Option<String>,
    /// The Collector's readers: at most one `pull`, any number of `periodic` OTLP pushes.
    pub readers: Vec<MetricReader>,
    /// How often every component's counters are written to the log; `0` for never.
    pub log_interval: GoDuration,
}

/// Where `/metrics` is served when nothing says.
const DEFAULT_METRICS_ADDRESS: &str = "127.0.0.1:8888";

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            level: MetricsLevel::Basic,
            address: None,
            readers: Vec::new(),
            log_interval: GoDuration::from_secs(60),
        }
    }
}

/// How much self-telemetry is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetricsLevel {
    /// Nothing served or logged.
    None,
    /// Per-component counters.
    #[default]
    Basic,
}

/// Settings every exporter block may carry beside its own: how batches queue and are retried.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeliverySettings {
    /// The queue in front of the exporter.
    pub sending_queue: QueueSettings,
    /// Retries of retryable failures.
    pub retry_on_failure: RetrySettings,
}

/// `sending_queue`: a bounded queue of batches.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSettings {
    /// Batches the queue holds.
    pub queue_size: usize,
    /// What happens when it is full.
    pub when_full: WhenFull,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            queue_size: 1000,
            when_full: WhenFull::DropNewest,
        }
    }
}

/// The policy of a full queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Wait for room: back-pressure up to the receivers, nothing lost — and every other
    /// exporter of the pipeline waits too. For sources that can wait (a file).
    Block,
    /// Drop the incoming batch and count its records as dropped: one exporter's outage never
    /// stalls another exporter or the receivers (the Collector's exporterhelper default).
    #[default]
    DropNewest,
}

impl fmt::Display for WhenFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WhenFull::Block => "block",
            WhenFull::DropNewest => "drop_newest",
        })
    }
}

/// `retry_on_failure`: exponential backoff for retryable export errors.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrySettings {
    /// Off: a failed batch is counted as failed at once.
    pub enabled: bool,
    /// First wait.
    pub initial_interval: GoDuration,
    /// Longest wait.
    pub max_interval: GoDuration,
    /// Give up on a batch after this long (`0`: never).
    pub max_elapsed_time: GoDuration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            enabled: true,
            initial_interval: GoDuration::from_secs(5),
            max_interval: GoDuration::from_secs(30),
            max_elapsed_time: GoDuration::from_secs(300),
        }
    }
}

impl DeliverySettings {
    /// Checks the values, with paths relative to the exporter block.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.sending_queue.queue_size == 0 {
            errors.push(ConfigError::new(
                "sending_queue::queue_size",
                "must be at least 1",
            ));
        }
        let retry = &self.retry_on_failure;
        if retry.enabled && retry.initial_interval.0.is_zero() {
            errors.push(ConfigError::new(
                "retry_on_failure::initial_interval",
                "must be more than 0",
            ));
        }
        if retry.enabled && retry.max_interval < retry.initial_interval {
            errors.push(ConfigError::new(
                "retry_on_failure::max_interval",
                "must not be less than initial_interval",
            ));
        }
        errors
    }
}

impl TelemetrySettings {
    /// Checks the values, with paths relative to `service::telemetry`.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if !["error", "warn", "info", "debug", "trace"].contains(&self.logs.level.as_str()) {
            errors.push(ConfigError::new(
                "logs::level",
                format!(
                    "unknown level {:?}; expected error, warn, info, debug or trace",
                    self.logs.level
                ),
            ));
        }
        let metrics = &self.metrics;
        if let Some(address) = &metrics.address
            && address.parse::<SocketAddr>().is_err()
        {
            errors.push(ConfigError::new(
                "metrics::address",
                format!("{address:?} is not an IP address and port, such as 127.0.0.1:8888"),
            ));
        }
        for (index, reader) in metrics.readers.iter().enumerate() {
            let path = format!("metrics::readers::{index}");
            errors.extend(reader.validate().into_iter().map(|e| e.under(&path)));
        }
        let pulls = metrics.readers.iter().filter(|r| r.pull.is_some()).count();
        if pulls > 1 || (pulls == 1 && metrics.address.is_some()) {
            errors.push(ConfigError::new(
                "metrics::readers",
                "/metrics is served at one address: give one pull reader, or address, not both",
            ));
        }
        errors
    }

    /// The address of the metrics endpoint, when it is on.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        if self.metrics.level == MetricsLevel::None {
            return None;
        }
        match self
            .metrics
            .readers
            .iter()
            .find_map(MetricReader::pull_address)
        {
            Some(pulled) => Some(pulled),
            None => self
                .metrics
                .address
                .as_deref()
                .unwrap_or(DEFAULT_METRICS_ADDRESS)
                .parse()
                .ok(),
        }
    }

    /// The OTLP pushes, when self-telemetry is on.
    pub fn periodic_readers(&self) -> Vec<PeriodicReader> {
        if self.metrics.level == MetricsLevel::None {
            return Vec::new();
        }
        self.metrics
            .readers
            .iter()
            .filter_map(|reader| reader.periodic.clone())
            .collect()
    }

    /// How often counters are logged, when they are.
    pub fn log_interval(&self) -> Option<Duration> {
        let interval = self.metrics.log_interval.0;
        (self.metrics.level != MetricsLevel::None && !interval.is_zero()).then_some(interval)
    }
}
