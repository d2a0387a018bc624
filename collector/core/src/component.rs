//! The three component roles and their lifecycle contract.
//!
//! As in the OTel Collector: `shutdown` is safe without `start`, and after it returns the
//! component holds nothing that was handed to it (exporters have flushed, processors have
//! emitted their state, receivers no longer send).

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use spider_records::Batch;

use crate::runtime::Output;

/// A source of records (eBPF maps, a network interface, a pcap file, …).
#[async_trait]
pub trait Receiver: Send {
    /// Starts producing into `output`; returns once running (work goes on in spawned tasks).
    async fn start(&mut self, output: Output) -> Result<(), ComponentError>;
    /// Stops producing; once it returns nothing more is sent. Safe without `start`.
    async fn shutdown(&mut self) -> Result<(), ComponentError>;
}

/// A step in a pipeline; may keep state (sessions, one-minute buckets) and act on timer ticks.
#[async_trait]
pub trait Processor: Send {
    /// Prepares the processor (opens watches, loads tables).
    async fn start(&mut self) -> Result<(), ComponentError> {
        Ok(())
    }
    /// Handles one batch, pushing what it produces (possibly nothing yet) onto `out`.
    async fn process(&mut self, batch: Batch, out: &mut Vec<Batch>) -> Result<(), ComponentError>;
    /// How often the processor wants [`Processor::tick`]; `None` for a stateless one.
    fn tick_interval(&self) -> Option<Duration> {
        None
    }
    /// A timer tick: emit what is due (expired sessions, closed buckets).
    async fn tick(
        &mut self,
        _now: SystemTime,
        _out: &mut Vec<Batch>,
    ) -> Result<(), ComponentError> {
        Ok(())
    }
    /// Emits everything still held and releases resources. Safe without `start`.
    async fn shutdown(&mut self, out: &mut Vec<Batch>) -> Result<(), ComponentError>;
}

/// A destination (OTLP endpoint, Parquet dataset, the log, …).
#[async_trait]
pub trait Exporter: Send {
    /// Opens connections or files.
    async fn start(&mut self) -> Result<(), ComponentError> {
        Ok(())
    }
    /// Delivers one batch. A retryable error makes the runtime retry the same batch with backoff.
    async fn export(&mut self, batch: &Batch) -> Result<(), ExportError>;
    /// Delivers again a batch whose last [`Exporter::export`] or `retry` failed retryably. An
    /// exporter that keeps state (cumulative totals) resends what it built instead of counting
    /// the batch twice.
    async fn retry(&mut self, batch: &Batch) -> Result<(), ExportError> {
        self.export(batch).await
    }
    /// How often the exporter wants [`Exporter::tick`] (to roll files by age, say).
    fn tick_interval(&self) -> Option<Duration> {
        None
    }
    /// A timer tick between exports.
    async fn tick(&mut self) -> Result<(), ComponentError> {
        Ok(())
    }
    /// Flushes and closes. Safe without `start`.
    async fn shutdown(&mut self) -> Result<(), ComponentError>;
}

/// A failure of a component to start, process or stop.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ComponentError(pub String);

impl ComponentError {
    /// An error with a message for the operator.
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl From<std::io::Error> for ComponentError {
    fn from(error: std::io::Error) -> Self {
        Self(error.to_string())
    }
}

/// Why an export failed, which decides whether the runtime tries again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// Worth retrying (endpoint down, throttled); `retry_after` is the server's hint if any.
    #[error("{message} (will retry)")]
    Retryable {
        /// What went wrong.
        message: String,
        /// The delay the destination asked for.
        retry_after: Option<Duration>,
    },
    /// Retrying cannot help (rejected data, bad credentials); the batch is counted as failed.
    #[error("{0}")]
    Permanent(String),
}

impl ExportError {
    /// A retryable error without a server hint.
    pub fn retryable(message: impl Into<String>) -> Self {
        Self::Retryable {
            message: message.into(),
            retry_after: None,
        }
    }
}

/// Which role a component plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ComponentKind {
    /// A receiver.
    Receiver,
    /// A processor.
    Processor,
    /// An exporter.
    Exporter,
}

impl ComponentKind {
    /// The singular name, as used in messages and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Receiver => "receiver",
            ComponentKind::Processor => "processor",
            ComponentKind::Exporter => "exporter",
        }
    }

    /// The config section that defines components of this kind.
    pub fn section(self) -> &'static str {
        match self {
            ComponentKind::Receiver => "receivers",
            ComponentKind::Processor => "processors",
            ComponentKind::Exporter => "exporters",
        }
    }
}

impl fmt::Display for ComponentKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A component's name in the config: `type` or `type/name` (e.g. `pcap/eth0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentId {
    type_name: String,
    name: Option<String>,
}

impl ComponentId {
    /// The component type (the factory that builds it).
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The instance name after `/`, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
}

impl fmt::Display for ComponentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "{}/{}", self.type_name, name),
            None => f.write_str(&self.type_name),
        }
    }
}

/// Checks the `type` part of an id as the Collector does: a letter, then letters, digits or `_`.
pub(crate) fn check_type_name(type_name: &str) -> Result<(), String> {
    let mut chars = type_name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !starts_with_letter
        || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        || type_name.len() > 63
    {
        return Err(format!(
            "invalid type {type_name:?}: it must start with a letter and hold only letters, digits and '_' (at most 63)"
        ));
    }
    Ok(())
}

/// Checks the `name` part of an id: not empty, no white space, control characters or `/`.
pub(crate) fn check_instance_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err(format!(
            "invalid name {name:?} after '/': it must be non-empty, without spaces, control characters or '/'"
        ));
    }
    Ok(())
}

impl FromStr for ComponentId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (type_name, name) = match text.split_once('/') {
            Some((type_name, name)) => (type_name, Some(name)),
            None => (text, None),
        };
        check_type_name(type_name)?;
        if let Some(name) = name {
            check_instance_name(name)?;
        }
        Ok(Self {
            type_name: type_name.to_owned(),
            name: name.map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_type_slash_name() {
        let id: ComponentId = "pcap/eth0".parse().unwrap();
        assert_eq!((id.type_name(), id.name()), ("pcap", Some("eth0")));
        assert_eq!(id.to_string(), "pcap/eth0");
        assert_eq!("debug".parse::<ComponentId>().unwrap().name(), None);
        for bad in ["", "9lives", "pcap/", "pcap/a b", "pcap/a/b", "pc-ap"] {
            assert!(
                bad.parse::<ComponentId>().is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
