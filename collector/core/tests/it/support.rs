//! Test components: a counting receiver, a processor that holds records until flushed, and an
//! exporter that collects (optionally slowly, optionally failing) into a shared sink.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde::Deserialize;
use spider_collector::config::GoDuration;
use spider_collector::records::{Batch, NetworkUsage, Signal};
use spider_collector::{
    CollectorConfig, ComponentConfig, ComponentError, CreateContext, ExportError, Exporter,
    Factories, Factory, Output, Processor, Receiver, RunningCollector,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// `receivers::counting`: emits `records` usage records (0: until stopped), numbered in
/// `server_port`'s place by `bytes_to_server`, then lets go of its output.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CountingConfig {
    pub records: u64,
    pub batch_size: u64,
    pub fail_start: bool,
}

impl Default for CountingConfig {
    fn default() -> Self {
        Self {
            records: 1000,
            batch_size: 10,
            fail_start: false,
        }
    }
}

impl ComponentConfig for CountingConfig {}

pub struct CountingFactory;

impl Factory<dyn Receiver> for CountingFactory {
    type Config = CountingConfig;
    fn type_name(&self) -> &'static str {
        "counting"
    }
    fn signals(&self) -> &'static [Signal] {
        &[Signal::Usage]
    }
    fn create(
        &self,
        config: CountingConfig,
        _: CreateContext,
    ) -> Result<Box<dyn Receiver>, ComponentError> {
        Ok(Box::new(Counting {
            config,
            stop: CancellationToken::new(),
            task: None,
        }))
    }
}

struct Counting {
    config: CountingConfig,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

#[async_trait]
impl Receiver for Counting {
    async fn start(&mut self, output: Output) -> Result<(), ComponentError> {
        if self.config.fail_start {
            return Err(ComponentError::new("refused to start"));
        }
        let (config, stop) = (self.config.clone(), self.stop.clone());
        self.task = Some(tokio::spawn(async move {
            let mut next = 0;
            while config.records == 0 || next < config.records {
                let end = if config.records == 0 {
                    next + config.batch_size
                } else {
                    (next + config.batch_size).min(config.records)
                };
                let rows = (next..end)
                    .map(|n| NetworkUsage {
                        bytes_to_server: n,
                        ..NetworkUsage::default()
                    })
                    .collect();
                tokio::select! {
                    _ = stop.cancelled() => return,
                    sent = output.send(Batch::Usage(rows)) => if sent.is_err() { return },
                }
                next = end;
                tokio::task::yield_now().await;
            }
        }));
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), ComponentError> {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        Ok(())
    }
}

/// `processors::holding`: keeps every record until shutdown, or until a tick when
/// `release_on_tick` is set — the shape of a stateful processor.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HoldingConfig {
    pub release_on_tick: Option<GoDuration>,
}

impl ComponentConfig for HoldingConfig {}

pub struct HoldingFactory;

impl Factory<dyn Processor> for HoldingFactory {
    type Config = HoldingConfig;
    fn type_name(&self) -> &'static str {
        "holding"
    }
    fn signals(&self) -> &'static [Signal] {
        Signal::ALL
    }
    fn create(
        &self,
        config: HoldingConfig,
        _: CreateContext,
    ) -> Result<Box<dyn Processor>, ComponentError> {
        Ok(Box::new(Holding {
            config,
            held: Vec::new(),
        }))
    }
}

struct Holding {
    config: HoldingConfig,
    held: Vec<Batch>,
}

#[async_trait]
impl Processor for Holding {
    async fn process(&mut self, batch: Batch, _: &mut Vec<Batch>) -> Result<(), ComponentError> {
        self.held.push(batch);
        Ok(())
    }
    fn tick_interval(&self) -> Option<Duration> {
        self.config.release_on_tick.map(|d| d.0)
    }
    async fn tick(&mut self, _: SystemTime, out: &mut Vec<Batch>) -> Result<(), ComponentError> {
        out.append(&mut self.held);
        Ok(())
    }
    async fn shutdown(&mut self, out: &mut Vec<Batch>) -> Result<(), ComponentError> {
        out.append(&mut self.held);
        Ok(())
    }
}

/// `exporters::collecting`: appends what it gets to the sink under its id.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CollectingConfig {
    /// Time each export takes.
    pub delay: Option<GoDuration>,
    /// Retryable failures before the first success.
    pub fail_first: u32,
    /// The `Retry-After` hint (seconds) those failures carry.
    pub retry_after_secs: Option<u64>,
    /// Every export fails permanently.
    pub reject: bool,
    /// Every export hangs forever.
    pub hang: bool,
}

impl ComponentConfig for CollectingConfig {}

/// Records each collecting exporter received, by id, and the attempts it saw.
#[derive(Clone, Default)]
pub struct Sink(
    Arc<Mutex<BTreeMap<String, Received>>>,
    Arc<Mutex<BTreeMap<String, u32>>>,
);

/// What one exporter got: the record numbers delivered, and how many export calls it saw.
type Received = (Vec<u64>, u32);

impl Sink {
    /// The `bytes_to_server` numbers an exporter received, in order.
    pub fn received(&self, id: &str) -> Vec<u64> {
        self.0
            .lock()
            .unwrap()
            .get(id)
            .map(|(numbers, _)| numbers.clone())
            .unwrap_or_default()
    }

    /// `retry` calls an exporter got.
    pub fn retries(&self, id: &str) -> u32 {
        self.1.lock().unwrap().get(id).copied().unwrap_or_default()
    }

    /// Export and retry calls an exporter got, failed ones included.
    pub fn attempts(&self, id: &str) -> u32 {
        self.0
            .lock()
            .unwrap()
            .get(id)
            .map(|(_, attempts)| *attempts)
            .unwrap_or_default()
    }
}

pub struct CollectingFactory(pub Sink);

impl Factory<dyn Exporter> for CollectingFactory {
    type Config = CollectingConfig;
    fn type_name(&self) -> &'static str {
        "collecting"
    }
    fn signals(&self) -> &'static [Signal] {
        Signal::ALL
    }
    fn create(
        &self,
        config: CollectingConfig,
        context: CreateContext,
    ) -> Result<Box<dyn Exporter>, ComponentError> {
        Ok(Box::new(Collecting {
            id: context.id.to_string(),
            config,
            sink: self.0.clone(),
        }))
    }
}

struct Collecting {
    id: String,
    config: CollectingConfig,
    sink: Sink,
}

#[async_trait]
impl Exporter for Collecting {
    async fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        let attempt = {
            let mut sink = self.sink.0.lock().unwrap();
            let entry = sink.entry(self.id.clone()).or_default();
            entry.1 += 1;
            entry.1
        };
        if self.config.hang {
            std::future::pending::<()>().await;
        }
        if let Some(delay) = self.config.delay {
            tokio::time::sleep(delay.0).await;
        }
        if self.config.reject {
            return Err(ExportError::Permanent("rejected".into()));
        }
        if attempt <= self.config.fail_first {
            return Err(ExportError::Retryable {
                message: "endpoint down".into(),
                retry_after: self.config.retry_after_secs.map(Duration::from_secs),
            });
        }
        let Batch::Usage(rows) = batch else {
            return Err(ExportError::Permanent("usage only".into()));
        };
        let mut sink = self.sink.0.lock().unwrap();
        sink.entry(self.id.clone())
            .or_default()
            .0
            .extend(rows.iter().map(|r| r.bytes_to_server));
        Ok(())
    }

    async fn retry(&mut self, batch: &Batch) -> Result<(), ExportError> {
        *self
            .sink
            .1
            .lock()
            .unwrap()
            .entry(self.id.clone())
            .or_default() += 1;
        self.export(batch).await
    }

    async fn shutdown(&mut self) -> Result<(), ComponentError> {
        Ok(())
    }
}

/// The registry of test components, collecting into `sink`.
pub fn factories(sink: &Sink) -> Factories {
    Factories::new()
        .with_receiver(CountingFactory)
        .with_processor(HoldingFactory)
        .with_exporter(CollectingFactory(sink.clone()))
}

/// Parses a config (failing the test on errors) and starts it.
pub async fn start(yaml: &str, sink: &Sink) -> RunningCollector {
    let factories = factories(sink);
    let config = CollectorConfig::from_yaml_with_env(yaml, &factories, &|_| None)
        .unwrap_or_else(|errors| panic!("config errors: {errors:#?}"));
    RunningCollector::start(&config, &factories)
        .await
        .expect("collector starts")
}

/// 0..n, what a counting receiver of `n` records emits.
pub fn numbers(n: u64) -> Vec<u64> {
    (0..n).collect()
}
