//! Starting and stopping a collector.
//!
//! Start order is exporters, processors, receivers; stop order is the reverse, so that on a clean
//! stop every record a receiver handed over reaches the exporters: receivers stop, pipelines drain
//! their inputs and flush their processors, exporter queues empty, exporters flush. All of it runs
//! against `service::shutdown_timeout`; whatever is left at the deadline is counted and reported.

mod exporter;
mod output;
mod pipeline;
mod timer;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use spider_records::{Batch, Signal};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, timeout_at};
use tokio_util::sync::CancellationToken;

pub use output::{Output, OutputClosed};

use self::exporter::{ExporterQueue, Pending, exporter_queue};
use self::pipeline::{PipelineTask, ProcessorSlot};
use crate::component::{ComponentError, ComponentId, ComponentKind, Receiver};
use crate::config::CollectorConfig;
use crate::factory::{CreateContext, Factories};
use crate::telemetry::{Counter, Telemetry, serve_metrics};

/// How long the stop waits for the periodic readers' last push.
const FINAL_PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Batches a pipeline's input holds before receivers wait.
const PIPELINE_INPUT_CAPACITY: usize = 64;

/// An exporter's worker as the collector tracks it.
struct ExporterTask {
    id: ComponentId,
    task: JoinHandle<Vec<String>>,
    pending: Pending,
    failed: Counter,
}

/// A collector whose pipelines are running.
pub struct RunningCollector {
    receivers: Vec<(ComponentId, Box<dyn Receiver>)>,
    drain: CancellationToken,
    pipelines: JoinSet<Vec<String>>,
    exporters: Vec<ExporterTask>,
    telemetry: Telemetry,
    metrics_address: Option<SocketAddr>,
    background: CancellationToken,
    background_tasks: Vec<JoinHandle<()>>,
    shutdown_timeout: Duration,
    node: String,
    cluster: String,
}

/// How a stop went: empty `errors` means nothing accepted was lost.
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Everything that went wrong while stopping.
    pub errors: Vec<String>,
}

impl ShutdownReport {
    /// True when every component stopped in time and without error.
    pub fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }
}

impl RunningCollector {
    /// Builds every component of `config` with `factories` and starts the pipelines.
    pub async fn start(
        config: &CollectorConfig,
        factories: &Factories,
    ) -> Result<Self, ComponentError> {
        let telemetry = Telemetry::with_readers(
            &config.node,
            &config.cluster,
            &config.telemetry.periodic_readers(),
        )
        .map_err(|error| ComponentError::new(error.to_string()))?;
        let mut running = Self {
            receivers: Vec::new(),
            drain: CancellationToken::new(),
            pipelines: JoinSet::new(),
            exporters: Vec::new(),
            telemetry,
            metrics_address: None,
            background: CancellationToken::new(),
            background_tasks: Vec::new(),
            shutdown_timeout: config.shutdown_timeout,
            node: config.node.clone(),
            cluster: config.cluster.clone(),
        };
        match running.start_all(config, factories).await {
            Ok(()) => Ok(running),
            Err(error) => {
                let report = running.shutdown().await;
                for problem in report.errors {
                    tracing::warn!("while abandoning the start: {problem}");
                }
                Err(error)
            }
        }
    }

    async fn start_all(
        &mut self,
        config: &CollectorConfig,
        factories: &Factories,
    ) -> Result<(), ComponentError> {
        self.start_telemetry(config).await?;
        let queues = self.start_exporters(config, factories).await?;
        let routes = self.start_pipelines(config, factories, &queues).await?;
        self.start_receivers(config, factories, routes).await
    }

    async fn start_telemetry(&mut self, config: &CollectorConfig) -> Result<(), ComponentError> {
        if let Some(address) = config.telemetry.metrics_address() {
            let (bound, task) =
                serve_metrics(address, self.telemetry.clone(), self.background.clone()).await?;
            tracing::info!("self-telemetry at http://{bound}/metrics");
            self.metrics_address = Some(bound);
            self.background_tasks.push(task);
        }
        if let Some(every) = config.telemetry.log_interval() {
            let telemetry = self.telemetry.clone();
            let stop = self.background.clone();
            self.background_tasks.push(tokio::spawn(async move {
                while tokio::time::timeout(every, stop.cancelled()).await.is_err() {
                    for line in telemetry.summary_lines() {
                        tracing::info!(target: "spider::telemetry", "{line}");
                    }
                }
            }));
        }
        Ok(())
    }

    async fn start_exporters(
        &mut self,
        config: &CollectorConfig,
        factories: &Factories,
    ) -> Result<BTreeMap<ComponentId, ExporterQueue>, ComponentError> {
        let mut queues = BTreeMap::new();
        for ((kind, id), spec) in &config.components {
            if *kind != ComponentKind::Exporter {
                continue;
            }
            let factory = factories
                .exporter(id.type_name())
                .ok_or_else(|| unknown(*kind, id))?;
            let telemetry = self.telemetry.component(&[("exporter", &id.to_string())]);
            let context = CreateContext {
                id: id.clone(),
                pipeline: None,
                telemetry: telemetry.clone(),
                node: self.node.clone(),
                cluster: self.cluster.clone(),
            };
            let mut exporter = factory
                .create(&spec.config, context)
                .map_err(|e| failed("create", *kind, id, e))?;
            exporter
                .start()
                .await
                .map_err(|e| failed("start", *kind, id, e))?;
            let (queue, worker) = exporter_queue(id.clone(), exporter, &spec.delivery, &telemetry);
            let (pending, failed) = (worker.pending(), worker.failed());
            let task = tokio::spawn(worker.run());
            self.exporters.push(ExporterTask {
                id: id.clone(),
                task,
                pending,
                failed,
            });
            queues.insert(id.clone(), queue);
        }
        Ok(queues)
    }

    /// Starts every pipeline; returns, per receiver, the pipeline inputs it feeds.
    async fn start_pipelines(
        &mut self,
        config: &CollectorConfig,
        factories: &Factories,
        queues: &BTreeMap<ComponentId, ExporterQueue>,
    ) -> Result<BTreeMap<ComponentId, Vec<(Signal, mpsc::Sender<Batch>)>>, ComponentError> {
        let mut routes: BTreeMap<ComponentId, Vec<_>> = BTreeMap::new();
        for (pipeline_id, pipeline) in &config.pipelines {
            let mut processors = Vec::new();
            for id in &pipeline.processors {
                let kind = ComponentKind::Processor;
                let spec = config
                    .component(kind, id)
                    .ok_or_else(|| unknown(kind, id))?;
                let factory = factories
                    .processor(id.type_name())
                    .ok_or_else(|| unknown(kind, id))?;
                let labels = [
                    ("processor", id.to_string()),
                    ("pipeline", pipeline_id.to_string()),
                ];
                let telemetry = self
                    .telemetry
                    .component(&labels.each_ref().map(|(k, v)| (*k, v.as_str())));
                let context = CreateContext {
                    id: id.clone(),
                    pipeline: Some(pipeline_id.clone()),
                    telemetry: telemetry.clone(),
                    node: self.node.clone(),
                    cluster: self.cluster.clone(),
                };
                let mut slot = ProcessorSlot::new(
                    id.clone(),
                    factory
                        .create(&spec.config, context)
                        .map_err(|e| failed("create", kind, id, e))?,
                    &telemetry,
                );
                if let Err(error) = slot.processor_mut().start().await {
                    for started in &mut processors {
                        let _ = ProcessorSlot::processor_mut(started)
                            .shutdown(&mut Vec::new())
                            .await;
                    }
                    return Err(failed("start", kind, id, error));
                }
                processors.push(slot);
            }
            let (sender, input) = mpsc::channel(PIPELINE_INPUT_CAPACITY);
            for receiver in &pipeline.receivers {
                routes
                    .entry(receiver.clone())
                    .or_default()
                    .push((pipeline_id.signal, sender.clone()));
            }
            let exporters = pipeline
                .exporters
                .iter()
                .filter_map(|id| queues.get(id).cloned())
                .collect();
            let task = PipelineTask {
                id: pipeline_id.clone(),
                input,
                processors,
                exporters,
                drain: self.drain.clone(),
            };
            self.pipelines.spawn(task.run());
        }
        Ok(routes)
    }

    async fn start_receivers(
        &mut self,
        config: &CollectorConfig,
        factories: &Factories,
        mut routes: BTreeMap<ComponentId, Vec<(Signal, mpsc::Sender<Batch>)>>,
    ) -> Result<(), ComponentError> {
        for ((kind, id), spec) in &config.components {
            if *kind != ComponentKind::Receiver {
                continue;
            }
            let factory = factories
                .receiver(id.type_name())
                .ok_or_else(|| unknown(*kind, id))?;
            let telemetry = self.telemetry.component(&[("receiver", &id.to_string())]);
            let output = Output::new(routes.remove(id).unwrap_or_default(), &telemetry);
            let context = CreateContext {
                id: id.clone(),
                pipeline: None,
                telemetry,
                node: self.node.clone(),
                cluster: self.cluster.clone(),
            };
            let mut receiver = factory
                .create(&spec.config, context)
                .map_err(|e| failed("create", *kind, id, e))?;
            let started = receiver.start(output).await;
            self.receivers.push((id.clone(), receiver));
            started.map_err(|e| failed("start", *kind, id, e))?;
        }
        Ok(())
    }

    /// The collector's self-telemetry.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// Where `/metrics` is served, when it is.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_address
    }

    /// Waits until every receiver has finished on its own (e.g. a pcap file is read to the end)
    /// and the pipelines have flushed.
    pub async fn receivers_finished(&mut self) {
        while let Some(result) = self.pipelines.join_next().await {
            match result {
                Ok(errors) => errors.iter().for_each(|error| tracing::error!("{error}")),
                Err(error) => tracing::error!(%error, "a pipeline task failed"),
            }
        }
    }

    /// Stops everything in order and reports what, if anything, was lost.
    pub async fn shutdown(mut self) -> ShutdownReport {
        let deadline = Instant::now() + self.shutdown_timeout;
        let mut report = ShutdownReport::default();
        for (id, receiver) in &mut self.receivers {
            match timeout_at(deadline, receiver.shutdown()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => report
                    .errors
                    .push(format!("receiver {id}: shutdown failed: {error}")),
                Err(_) => report.errors.push(format!(
                    "receiver {id}: did not stop before the shutdown deadline"
                )),
            }
        }
        self.receivers.clear();
        self.drain.cancel();
        let pipelines = async {
            while let Some(result) = self.pipelines.join_next().await {
                match result {
                    Ok(errors) => report.errors.extend(errors),
                    Err(error) => report
                        .errors
                        .push(format!("a pipeline task failed: {error}")),
                }
            }
        };
        if timeout_at(deadline, pipelines).await.is_err() {
            self.pipelines.abort_all();
            report
                .errors
                .push("pipelines did not drain before the shutdown deadline".into());
        }
        for exporter in &mut self.exporters {
            match timeout_at(deadline, &mut exporter.task).await {
                Ok(Ok(errors)) => report.errors.extend(errors),
                Ok(Err(error)) => report
                    .errors
                    .push(format!("exporter {}: task failed: {error}", exporter.id)),
                Err(_) => {
                    exporter.task.abort();
                    let lost = exporter.pending.get();
                    exporter.failed.add(lost);
                    report.errors.push(format!(
                        "exporter {}: {lost} records still undelivered at the shutdown deadline",
                        exporter.id
                    ));
                }
            }
        }
        self.background.cancel();
        for task in self.background_tasks.drain(..) {
            let _ = task.await;
        }
        for line in self.telemetry.summary_lines() {
            tracing::info!(target: "spider::telemetry", "final: {line}");
        }
        // The last push is telemetry about the stop, not data: a peer that is down delays the
        // stop by a bounded time and loses nothing accepted.
        match tokio::time::timeout(FINAL_PUSH_TIMEOUT, self.telemetry.shutdown()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!("the last self-telemetry push failed: {error}"),
            Err(_) => tracing::warn!(
                "the last self-telemetry push took more than {FINAL_PUSH_TIMEOUT:?}; stopping without it"
            ),
        }
        report
    }
}

fn unknown(kind: ComponentKind, id: &ComponentId) -> ComponentError {
    ComponentError::new(format!(
        "{kind} {id}: not in the configuration or of an unknown type"
    ))
}

fn failed(
    step: &str,
    kind: ComponentKind,
    id: &ComponentId,
    error: ComponentError,
) -> ComponentError {
    ComponentError::new(format!("{kind} {id}: {step} failed: {error}"))
}
