//! The `debug` exporter: writes what a pipeline delivers to the log, so a pipeline can be seen
//! working before any real destination is configured. Like the Collector's debug exporter it has
//! three verbosities: `basic` (a count per batch), `normal` (one line per record), `detailed`
//! (every field of every record).

use async_trait::async_trait;
use serde::Deserialize;
use std::fmt::Debug;

use spider_collector::records::{
    Batch, HostName, HttpTransaction, NetworkUsage, Packet, Signal, TcpSession,
};
use spider_collector::{
    ComponentConfig, ComponentError, ConfigError, CreateContext, Declared, ExportError, Exporter,
};

/// How much the exporter writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verbosity {
    /// One line per batch: kind and count.
    #[default]
    Basic,
    /// One line per record.
    Normal,
    /// Every field of every record.
    Detailed,
}

/// `exporters::debug`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DebugConfig {
    /// How much to write.
    pub verbosity: Verbosity,
    /// At most this many records written per batch at `normal`/`detailed` (0: all).
    pub sampling_max_records: usize,
}

impl ComponentConfig for DebugConfig {
    fn validate(&self) -> Vec<ConfigError> {
        Vec::new()
    }
}

/// Builds [`DebugExporter`]s.
pub const DEBUG_EXPORTER: Declared<dyn Exporter, DebugConfig> =
    Declared::new("debug", Signal::ALL, create);

/// Builds one from its validated config.
fn create(
    config: DebugConfig,
    context: CreateContext,
) -> Result<Box<dyn Exporter>, ComponentError> {
    Ok(Box::new(DebugExporter {
        name: context.id.to_string(),
        config,
        records: 0,
    }))
}

/// Logs batches; counts records so its shutdown line says how many went by.
pub struct DebugExporter {
    name: String,
    config: DebugConfig,
    records: u64,
}

/// The lines one batch is written as, at a verbosity.
pub fn render(batch: &Batch, config: &DebugConfig) -> Vec<String> {
    let mut lines = vec![format!("{} {} records", batch.len(), batch.kind())];
    if config.verbosity == Verbosity::Basic {
        return lines;
    }
    let limit = match config.sampling_max_records {
        0 => usize::MAX,
        limit => limit,
    };
    let detailed = config.verbosity == Verbosity::Detailed;
    let record_lines = match batch {
        Batch::Usage(rows) => record_lines(rows, limit, detailed),
        Batch::Packets(rows) => record_lines(rows, limit, detailed),
        Batch::TcpSessions(rows) => record_lines(rows, limit, detailed),
        Batch::Http(rows) => record_lines(rows, limit, detailed),
        Batch::Hosts(rows) => record_lines(rows, limit, detailed),
    };
    lines.extend(record_lines);
    lines
}

/// Up to `limit` records, each as its summary or, when `detailed`, every field.
fn record_lines<T: Summary + Debug>(rows: &[T], limit: usize, detailed: bool) -> Vec<String> {
    let line = |row: &T| {
        if detailed {
            format!("  {row:?}")
        } else {
            format!("  {}", row.summary())
        }
    };
    rows.iter().take(limit).map(line).collect()
}

/// The one line a record is written as at `normal` verbosity.
trait Summary {
    fn summary(&self) -> String;
}

impl Summary for NetworkUsage {
    fn summary(&self) -> String {
        format!(
            "{} {}:{} {} → {}B/{}msg ← {}B/{}msg",
            self.client_ip,
            self.server_ip,
            self.server_port,
            self.transport,
            self.bytes_to_server,
            self.messages_to_server,
            self.bytes_to_client,
            self.messages_to_client
        )
    }
}

impl Summary for Packet {
    fn summary(&self) -> String {
        format!(
            "{} → {} proto {} {}B",
            self.src_ip, self.dst_ip, self.protocol, self.wire_length
        )
    }
}

impl Summary for TcpSession {
    fn summary(&self) -> String {
        let (client, server) = (
            (self.client_ip, self.client_port),
            (self.server_ip, self.server_port),
        );
        format!(
            "#{} {}:{} → {}:{} {}",
            self.session_id, client.0, client.1, server.0, server.1, self.close_reason
        )
    }
}

impl Summary for HttpTransaction {
    fn summary(&self) -> String {
        let method = self.method.as_deref().unwrap_or("?");
        let path = self.path.as_deref().unwrap_or("?");
        format!("{method} {path} → {:?}", self.status)
    }
}

impl Summary for HostName {
    fn summary(&self) -> String {
        format!("{} = {} ({})", self.ip, self.name, self.source)
    }
}

#[async_trait]
impl Exporter for DebugExporter {
    async fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        self.records += batch.len() as u64;
        for text in render(batch, &self.config) {
            tracing::info!(exporter = %self.name, "{text}");
        }
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), ComponentError> {
        tracing::info!(exporter = %self.name, records = self.records, "debug exporter stopped");
        Ok(())
    }
}
