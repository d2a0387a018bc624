//! One pipeline's task: takes batches from its receivers, runs them through its processors in
//! order, and fans what comes out to every exporter queue. Timer ticks reach stateful processors;
//! on drain, the input is closed, what is buffered is processed, and processors are flushed.

use std::time::SystemTime;

use spider_records::Batch;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::exporter::ExporterQueue;
use super::timer::{next_tick, ticker};
use crate::component::{ComponentError, ComponentId, Processor};
use crate::config::PipelineId;
use crate::telemetry::{ComponentTelemetry, Counter};

/// A processor with its counters.
pub(crate) struct ProcessorSlot {
    id: ComponentId,
    processor: Box<dyn Processor>,
    incoming: Counter,
    outgoing: Counter,
    dropped: Counter,
}

impl ProcessorSlot {
    pub(crate) fn new(
        id: ComponentId,
        processor: Box<dyn Processor>,
        telemetry: &ComponentTelemetry,
    ) -> Self {
        Self {
            id,
            processor,
            incoming: telemetry.counter(
                "spider_processor_incoming_items_total",
                "Records given to the processor.",
            ),
            outgoing: telemetry.counter(
                "spider_processor_outgoing_items_total",
                "Records the processor emitted.",
            ),
            dropped: telemetry.counter(
                "spider_processor_dropped_items_total",
                "Records lost to processor errors (filtered records are not counted here).",
            ),
        }
    }

    pub(crate) fn processor_mut(&mut self) -> &mut dyn Processor {
        self.processor.as_mut()
    }

    /// Counts what a call emitted, and what it lost if it failed.
    fn account(
        &self,
        step: &str,
        lost: u64,
        emitted: &[Batch],
        result: Result<(), ComponentError>,
    ) {
        self.outgoing
            .add(emitted.iter().map(|b| b.len() as u64).sum());
        if let Err(error) = result {
            self.dropped.add(lost);
            tracing::warn!(processor = %self.id, %error, lost, "processor {step} failed");
        }
    }
}

/// What woke the pipeline up.
enum Event {
    Batch(Batch),
    InputClosed,
    Drain,
    Tick,
}

/// The running state of one pipeline.
pub(crate) struct PipelineTask {
    pub(crate) id: PipelineId,
    pub(crate) input: mpsc::Receiver<Batch>,
    pub(crate) processors: Vec<ProcessorSlot>,
    pub(crate) exporters: Vec<ExporterQueue>,
    pub(crate) drain: CancellationToken,
}

impl PipelineTask {
    /// Runs until every receiver let go of the input, or until told to drain; then flushes.
    pub(crate) async fn run(mut self) -> Vec<String> {
        let tick_every = self
            .processors
            .iter()
            .filter_map(|slot| slot.processor.tick_interval())
            .min();
        let mut ticker = ticker(tick_every);
        loop {
            let event = tokio::select! {
                batch = self.input.recv() => batch.map_or(Event::InputClosed, Event::Batch),
                _ = self.drain.cancelled() => Event::Drain,
                _ = next_tick(&mut ticker) => Event::Tick,
            };
            match event {
                Event::Batch(batch) => self.push(0, vec![batch]).await,
                Event::Tick => self.tick().await,
                Event::InputClosed => break,
                Event::Drain => {
                    self.input.close();
                    while let Some(batch) = self.input.recv().await {
                        self.push(0, vec![batch]).await;
                    }
                    break;
                }
            }
        }
        self.flush().await
    }

    /// Runs batches through processors `start..`, then fans them out.
    async fn push(&mut self, start: usize, mut batches: Vec<Batch>) {
        for slot in &mut self.processors[start..] {
            let mut next = Vec::new();
            for batch in batches {
                let items = batch.len() as u64;
                slot.incoming.add(items);
                let first_new = next.len();
                let result = slot.processor.process(batch, &mut next).await;
                slot.account("process", items, &next[first_new..], result);
            }
            batches = next;
        }
        for batch in batches.into_iter().filter(|b| !b.is_empty()) {
            fan_out(&self.exporters, batch).await;
        }
    }

    async fn tick(&mut self) {
        let now = SystemTime::now();
        for index in 0..self.processors.len() {
            let mut out = Vec::new();
            let slot = &mut self.processors[index];
            let result = slot.processor.tick(now, &mut out).await;
            slot.account("tick", 0, &out, result);
            self.push(index + 1, out).await;
        }
    }

    /// Shuts processors down in order, so what one flushes still goes through the next ones.
    async fn flush(mut self) -> Vec<String> {
        let mut errors = Vec::new();
        for index in 0..self.processors.len() {
            let mut out = Vec::new();
            let slot = &mut self.processors[index];
            if let Err(error) = slot.processor.shutdown(&mut out).await {
                errors.push(format!(
                    "processor {} in pipeline {}: shutdown failed: {error}",
                    slot.id, self.id
                ));
            }
            slot.account("shutdown", 0, &out, Ok(()));
            self.push(index + 1, out).await;
        }
        errors
    }
}

/// Gives every exporter the batch (a borrow of the queues alone keeps the task `Send`).
async fn fan_out(exporters: &[ExporterQueue], batch: Batch) {
    let Some((last, others)) = exporters.split_last() else {
        return;
    };
    for queue in others {
        queue.enqueue(batch.clone()).await;
    }
    last.enqueue(batch).await;
}
