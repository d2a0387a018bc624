//! The `batch` processor: groups records into larger batches, as the OTel Collector's batch
//! processor does, so exporters write fewer, bigger units (Parquet row groups, OTLP requests).
//!
//! A batch leaves when it reaches `send_batch_size` records or when its oldest record has waited
//! `timeout`; `send_batch_max_size` splits anything larger. Kinds are buffered apart, and
//! everything buffered is emitted on shutdown, so nothing is lost on a clean stop.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use serde::Deserialize;
use spider_collector::config::GoDuration;
use spider_collector::records::{Batch, RecordKind, Signal};
use spider_collector::{
    ComponentConfig, ComponentError, ConfigError, CreateContext, Declared, Processor,
};

/// `processors::batch`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Records that make a batch leave at once.
    pub send_batch_size: usize,
    /// Longest a record waits for its batch to fill.
    pub timeout: GoDuration,
    /// Largest batch sent; bigger ones are split (0: no limit).
    pub send_batch_max_size: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            send_batch_size: 8192,
            timeout: GoDuration::from_millis(200),
            send_batch_max_size: 0,
        }
    }
}

impl ComponentConfig for BatchConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.send_batch_size == 0 {
            errors.push(ConfigError::new("send_batch_size", "must be at least 1"));
        }
        if self.timeout.0.is_zero() {
            errors.push(ConfigError::new("timeout", "must be more than 0"));
        }
        if self.send_batch_max_size != 0 && self.send_batch_max_size < self.send_batch_size {
            errors.push(ConfigError::new(
                "send_batch_max_size",
                "must be 0 or at least send_batch_size",
            ));
        }
        errors
    }
}

/// Builds [`BatchProcessor`]s.
pub const BATCH_PROCESSOR: Declared<dyn Processor, BatchConfig> =
    Declared::new("batch", Signal::ALL, create);

/// Builds one from its validated config.
fn create(
    config: BatchConfig,
    _context: CreateContext,
) -> Result<Box<dyn Processor>, ComponentError> {
    Ok(Box::new(BatchProcessor::new(config)))
}

/// Buffers records per kind until a size or age threshold.
pub struct BatchProcessor {
    config: BatchConfig,
    buffers: BTreeMap<RecordKind, (Batch, Instant)>,
}

impl BatchProcessor {
    /// A processor with nothing buffered.
    pub fn new(config: BatchConfig) -> Self {
        Self {
            config,
            buffers: BTreeMap::new(),
        }
    }

    /// Emits a buffer in pieces of at most `send_batch_max_size`.
    fn emit(&self, mut batch: Batch, out: &mut Vec<Batch>) {
        let max = match self.config.send_batch_max_size {
            0 => usize::MAX,
            max => max,
        };
        while batch.len() > max {
            out.push(batch.take_front(max));
        }
        out.push(batch);
    }
}

#[async_trait]
impl Processor for BatchProcessor {
    async fn process(&mut self, batch: Batch, out: &mut Vec<Batch>) -> Result<(), ComponentError> {
        let kind = batch.kind();
        let (buffer, _) = self
            .buffers
            .entry(kind)
            .or_insert_with(|| (Batch::empty(kind), Instant::now()));
        buffer
            .append(batch)
            .map_err(|_| ComponentError::new("a buffer holds one kind of record"))?;
        if buffer.len() >= self.config.send_batch_size
            && let Some((full, _)) = self.buffers.remove(&kind)
        {
            self.emit(full, out);
        }
        Ok(())
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(self.config.timeout.0)
    }

    async fn tick(&mut self, _now: SystemTime, out: &mut Vec<Batch>) -> Result<(), ComponentError> {
        let timeout = self.config.timeout.0;
        let due: Vec<RecordKind> = self
            .buffers
            .iter()
            .filter(|(_, (_, since))| since.elapsed() >= timeout)
            .map(|(kind, _)| *kind)
            .collect();
        for kind in due {
            if let Some((batch, _)) = self.buffers.remove(&kind) {
                self.emit(batch, out);
            }
        }
        Ok(())
    }

    async fn shutdown(&mut self, out: &mut Vec<Batch>) -> Result<(), ComponentError> {
        for (_, (batch, _)) in std::mem::take(&mut self.buffers) {
            self.emit(batch, out);
        }
        Ok(())
    }
}
