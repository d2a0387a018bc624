//! The `synthetic` receiver: generates network-usage records between the pods of a made-up
//! cluster, at a set rate or as fast as the pipeline takes them — a load generator in the manner
//! of the Collector's telemetrygen, for tests, demos and benchmarks. Generation is seeded, so the
//! same config gives the same records (the generator is [`spider_synthetic`]'s).

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use spider_collector::records::{Batch, Signal};
use spider_collector::{
    ComponentConfig, ComponentError, ConfigError, CreateContext, Declared, Output, Receiver,
};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use spider_synthetic::Generator;

/// `receivers::synthetic`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticConfig {
    /// Records to emit in all; 0 emits until the collector stops.
    pub records: u64,
    /// Records per batch.
    pub batch_size: usize,
    /// Records per second; 0 for as fast as the pipeline takes them.
    pub rate: u64,
    /// Seed of the generator.
    pub seed: u64,
    /// The reporter (node) name written into records.
    pub reporter: String,
    /// Distinct pod addresses that talk (10.244.0.0/16).
    pub pods: u32,
    /// Distinct server ports.
    pub ports: u16,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        Self {
            records: 0,
            batch_size: 100,
            rate: 1000,
            seed: 1,
            reporter: "synthetic".into(),
            pods: 50,
            ports: 5,
        }
    }
}

impl SyntheticConfig {
    /// The generator of the records this config makes.
    pub fn generator(&self) -> Generator {
        Generator::new(self.seed, &self.reporter, self.pods, self.ports)
    }
}

impl ComponentConfig for SyntheticConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.batch_size == 0 {
            errors.push(ConfigError::new("batch_size", "must be at least 1"));
        }
        if !(2..=65_000).contains(&self.pods) {
            errors.push(ConfigError::new("pods", "must be between 2 and 65000"));
        }
        if self.ports == 0 {
            errors.push(ConfigError::new("ports", "must be at least 1"));
        }
        errors
    }
}

/// Builds [`SyntheticReceiver`]s.
pub const SYNTHETIC_RECEIVER: Declared<dyn Receiver, SyntheticConfig> =
    Declared::new("synthetic", &[Signal::Usage], create);

/// Builds one from its validated config.
fn create(
    config: SyntheticConfig,
    _context: CreateContext,
) -> Result<Box<dyn Receiver>, ComponentError> {
    Ok(Box::new(SyntheticReceiver {
        config,
        stop: CancellationToken::new(),
        task: None,
    }))
}

/// Emits generated batches from a background task.
pub struct SyntheticReceiver {
    config: SyntheticConfig,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

#[async_trait]
impl Receiver for SyntheticReceiver {
    async fn start(&mut self, output: Output) -> Result<(), ComponentError> {
        let config = self.config.clone();
        let stop = self.stop.clone();
        self.task = Some(tokio::spawn(emit(config, output, stop)));
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), ComponentError> {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.await
                .map_err(|e| ComponentError::new(format!("generator task failed: {e}")))?;
        }
        Ok(())
    }
}

/// Sends batches until the count is reached, the output closes, or `stop` is cancelled.
/// A batch cut short by `stop` was never accepted, so stopping loses nothing accepted.
async fn emit(config: SyntheticConfig, output: Output, stop: CancellationToken) {
    let mut generator = config.generator();
    let started = Instant::now();
    let mut emitted = 0u64;
    while config.records == 0 || emitted < config.records {
        let remaining = if config.records == 0 {
            u64::MAX
        } else {
            config.records - emitted
        };
        let size = remaining.min(config.batch_size as u64) as usize;
        let batch = Batch::Usage(generator.records(size));
        tokio::select! {
            _ = stop.cancelled() => return,
            sent = output.send(batch) => if sent.is_err() { return },
        }
        emitted += size as u64;
        if config.rate > 0 {
            let due = started + Duration::from_secs_f64(emitted as f64 / config.rate as f64);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep_until(due) => {}
            }
        }
    }
}
