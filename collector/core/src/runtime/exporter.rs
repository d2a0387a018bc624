//! The queue in front of each exporter and the worker that drains it, retrying retryable failures
//! with exponential backoff (the OTel Collector's exporterhelper, in small).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use spider_records::Batch;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::timer::{next_tick, ticker};
use crate::component::{ComponentId, ExportError, Exporter};
use crate::config::{DeliverySettings, RetrySettings, WhenFull};
use crate::telemetry::{ComponentTelemetry, Counter};

/// Items accepted into a queue and not yet delivered or given up on.
#[derive(Clone, Default)]
pub(crate) struct Pending(Arc<AtomicU64>);

impl Pending {
    fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    fn remove(&self, n: u64) {
        self.0.fetch_sub(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The sending side of an exporter's queue, held by each pipeline that fans out to it.
#[derive(Clone)]
pub(crate) struct ExporterQueue {
    id: ComponentId,
    sender: mpsc::Sender<Batch>,
    when_full: WhenFull,
    pending: Pending,
    enqueue_failed: Counter,
}

impl ExporterQueue {
    /// Queues a batch: waits for room under `block`, drops and counts it under `drop_newest`.
    pub(crate) async fn enqueue(&self, batch: Batch) {
        let items = batch.len() as u64;
        self.pending.add(items);
        let refused = match self.when_full {
            WhenFull::Block => self.sender.send(batch).await.is_err(),
            WhenFull::DropNewest => match self.sender.try_send(batch) {
                Ok(()) => false,
                Err(TrySendError::Full(_)) => {
                    tracing::debug!(exporter = %self.id, items, "queue full: batch dropped (when_full: drop_newest)");
                    true
                }
                Err(TrySendError::Closed(_)) => true,
            },
        };
        if refused {
            self.pending.remove(items);
            self.enqueue_failed.add(items);
        }
    }
}

/// The receiving side: delivers batches one at a time, then shuts the exporter down.
pub(crate) struct ExporterWorker {
    id: ComponentId,
    exporter: Box<dyn Exporter>,
    receiver: mpsc::Receiver<Batch>,
    retry: RetrySettings,
    pending: Pending,
    sent: Counter,
    failed: Counter,
}

/// Creates the queue of an exporter and the worker that drains it.
pub(crate) fn exporter_queue(
    id: ComponentId,
    exporter: Box<dyn Exporter>,
    delivery: &DeliverySettings,
    telemetry: &ComponentTelemetry,
) -> (ExporterQueue, ExporterWorker) {
    let capacity = delivery.sending_queue.queue_size;
    let (sender, receiver) = mpsc::channel(capacity);
    let pending = Pending::default();
    let reading = pending.clone();
    telemetry.gauge(
        "spider_exporter_queue_items",
        "Records queued or being exported.",
        move || reading.get() as f64,
    );
    telemetry.gauge(
        "spider_exporter_queue_capacity",
        "Batches the queue holds.",
        move || capacity as f64,
    );
    let queue = ExporterQueue {
        id: id.clone(),
        sender,
        when_full: delivery.sending_queue.when_full,
        pending: pending.clone(),
        enqueue_failed: telemetry.counter(
            "spider_exporter_enqueue_failed_items_total",
            "Records dropped because the queue was full (when_full: drop_newest).",
        ),
    };
    let worker = ExporterWorker {
        id,
        exporter,
        receiver,
        retry: delivery.retry_on_failure.clone(),
        pending,
        sent: telemetry.counter("spider_exporter_sent_items_total", "Records delivered."),
        failed: telemetry.counter(
            "spider_exporter_send_failed_items_total",
            "Records given up on after export errors.",
        ),
    };
    (queue, worker)
}

impl ExporterWorker {
    /// Records still pending when the worker was abandoned.
    pub(crate) fn pending(&self) -> Pending {
        self.pending.clone()
    }

    /// The counter of records given up on.
    pub(crate) fn failed(&self) -> Counter {
        self.failed.clone()
    }

    /// Drains the queue until every pipeline has let go of it, then shuts the exporter down.
    pub(crate) async fn run(mut self) -> Vec<String> {
        let mut ticker = ticker(self.exporter.tick_interval());
        loop {
            tokio::select! {
                batch = self.receiver.recv() => {
                    let Some(batch) = batch else { break };
                    self.deliver(&batch).await;
                    self.pending.remove(batch.len() as u64);
                }
                _ = next_tick(&mut ticker) => {
                    if let Err(error) = self.exporter.tick().await {
                        tracing::warn!(exporter = %self.id, %error, "exporter tick failed");
                    }
                }
            }
        }
        match self.exporter.shutdown().await {
            Ok(()) => Vec::new(),
            Err(error) => vec![format!("exporter {}: shutdown failed: {error}", self.id)],
        }
    }

    async fn deliver(&mut self, batch: &Batch) {
        let items = batch.len() as u64;
        let started = Instant::now();
        let mut backoff = self.retry.initial_interval.0;
        let mut first_attempt = true;
        loop {
            let attempt = if first_attempt {
                self.exporter.export(batch).await
            } else {
                self.exporter.retry(batch).await
            };
            first_attempt = false;
            let message = match attempt {
                Ok(()) => {
                    self.sent.add(items);
                    return;
                }
                Err(ExportError::Permanent(message)) => {
                    tracing::error!(exporter = %self.id, items, %message, "export failed permanently; records dropped");
                    self.failed.add(items);
                    return;
                }
                Err(ExportError::Retryable {
                    message,
                    retry_after,
                }) => {
                    // A server's hint is honoured up to max_interval: a hostile or broken
                    // `Retry-After` cannot park the queue or overflow the arithmetic.
                    let wait =
                        retry_after.map_or(backoff, |hint| hint.min(self.retry.max_interval.0));
                    if self.give_up(started, wait) {
                        tracing::error!(exporter = %self.id, items, %message, "export failed; retries exhausted, records dropped");
                        self.failed.add(items);
                        return;
                    }
                    tracing::warn!(exporter = %self.id, %message, retry_in = ?wait, "export failed; will retry");
                    tokio::time::sleep(wait).await;
                    message
                }
            };
            backoff = next_backoff(backoff, self.retry.max_interval.0);
            tracing::debug!(exporter = %self.id, %message, "retrying export");
        }
    }

    fn give_up(&self, started: Instant, wait: Duration) -> bool {
        let budget = self.retry.max_elapsed_time.0;
        !self.retry.enabled
            || (!budget.is_zero() && started.elapsed().saturating_add(wait) > budget)
    }
}

/// The next wait: 1.5× the last, at most `max`.
fn next_backoff(last: Duration, max: Duration) -> Duration {
    last.mul_f64(1.5).min(max)
}
