//! The `debug` exporter: writes what a pipeline delivers to the log, so a pipeline can be seen
//! working before any real destination is configured. Like the Collector's debug exporter it has
//! three verbosities: `basic` (a count per batch), `normal` (one line per record), `detailed`
//! (every field of every record).

use async_trait::async_trait;
use serde::Deserialize;
use spider_collector::records::{Batch, Signal};
use spider_collector::{
    ComponentConfig, ComponentError, ConfigError, CreateContext, ExportError, Exporter, Factory,
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
pub struct DebugExporterFactory;

impl Factory<dyn Exporter> for DebugExporterFactory {
    type Config = DebugConfig;

    fn type_name(&self) -> &'static str {
        "debug"
    }

    fn signals(&self) -> &'static [Signal] {
        Signal::ALL
    }

    fn create(
        &self,
        config: DebugConfig,
        context: CreateContext,
    ) -> Result<Box<dyn Exporter>, ComponentError> {
        Ok(Box::new(DebugExporter {
            name: context.id.to_string(),
            config,
            records: 0,
        }))
    }
}

/// Logs batches; counts records so its shutdown line says how many went by.
pub struct DebugExporter {
    name: String,
    config: DebugConfig,
    records: u64,
}

impl DebugExporter {
    /// Records seen so far.
    pub fn records(&self) -> u64 {
        self.records
    }
}

/// The lines one batch is written as, at a verbosity.
pub fn render(batch: &Batch, config: &DebugConfig) -> Vec<String> {
    let mut lines = vec![format!("{} {} records", batch.len(), batch.kind())];
    if config.verbosity == Verbosity::Basic {
        return lines;
    }
    let limit = if config.sampling_max_records == 0 {
        usize::MAX
    } else {
        config.sampling_max_records
    };
    let detailed = config.verbosity == Verbosity::Detailed;
    let record_lines: Vec<String> = match batch {
        Batch::Usage(rows) => rows
            .iter()
            .take(limit)
            .map(|r| {
                line(r, detailed, || {
                    format!(
                        "{} {}:{} {} → {}B/{}msg ← {}B/{}msg",
                        r.client_ip,
                        r.server_ip,
                        r.server_port,
                        r.transport,
                        r.bytes_to_server,
                        r.messages_to_server,
                        r.bytes_to_client,
                        r.messages_to_client
                    )
                })
            })
            .collect(),
        Batch::Packets(rows) => rows
            .iter()
            .take(limit)
            .map(|r| {
                line(r, detailed, || {
                    format!(
                        "{} → {} proto {} {}B",
                        r.src_ip, r.dst_ip, r.protocol, r.wire_length
                    )
                })
            })
            .collect(),
        Batch::TcpSessions(rows) => rows
            .iter()
            .take(limit)
            .map(|r| {
                line(r, detailed, || {
                    format!(
                        "#{} {}:{} → {}:{} {}",
                        r.session_id,
                        r.client_ip,
                        r.client_port,
                        r.server_ip,
                        r.server_port,
                        r.close_reason
                    )
                })
            })
            .collect(),
        Batch::Http(rows) => rows
            .iter()
            .take(limit)
            .map(|r| {
                line(r, detailed, || {
                    format!(
                        "{} {} → {:?}",
                        r.method.as_deref().unwrap_or("?"),
                        r.path.as_deref().unwrap_or("?"),
                        r.status
                    )
                })
            })
            .collect(),
        Batch::Hosts(rows) => rows
            .iter()
            .take(limit)
            .map(|r| {
                line(r, detailed, || {
                    format!("{} = {} ({})", r.ip, r.name, r.source)
                })
            })
            .collect(),
    };
    lines.extend(record_lines);
    lines
}

fn line<T: std::fmt::Debug>(
    record: &T,
    detailed: bool,
    summary: impl FnOnce() -> String,
) -> String {
    if detailed {
        format!("  {record:?}")
    } else {
        format!("  {}", summary())
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
