//! The handle a receiver sends through: it routes each batch to every pipeline of the batch's
//! signal that the receiver feeds, waiting for room (back-pressure) rather than dropping.

use std::sync::Arc;

use spider_records::{Batch, Signal};
use tokio::sync::mpsc;

use crate::telemetry::{ComponentTelemetry, Counter};

/// Where a receiver sends its batches. Cheap to clone; the pipelines it feeds close once every
/// clone is dropped, which is how a receiver that runs out of input (a pcap file) ends them.
#[derive(Clone)]
pub struct Output {
    inner: Arc<Routes>,
}

struct Routes {
    routes: Vec<(Signal, mpsc::Sender<Batch>)>,
    accepted: Counter,
    refused: Counter,
}

/// The pipelines behind an [`Output`] have stopped; nothing more will be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the pipeline is shutting down and takes no more records")]
pub struct OutputClosed;

impl Output {
    /// An output feeding the given pipeline inputs.
    pub(crate) fn new(
        routes: Vec<(Signal, mpsc::Sender<Batch>)>,
        telemetry: &ComponentTelemetry,
    ) -> Self {
        let accepted = telemetry.counter(
            "spider_receiver_accepted_items_total",
            "Records the receiver handed to pipelines.",
        );
        let refused = telemetry.counter(
            "spider_receiver_refused_items_total",
            "Records the receiver produced after its pipelines had stopped.",
        );
        Self {
            inner: Arc::new(Routes {
                routes,
                accepted,
                refused,
            }),
        }
    }

    /// An output that delivers every batch of `signals` to one channel (for tests and tools).
    pub fn channel(signals: &[Signal], capacity: usize) -> (Self, mpsc::Receiver<Batch>) {
        let (sender, receiver) = mpsc::channel(capacity);
        let routes = signals
            .iter()
            .map(|signal| (*signal, sender.clone()))
            .collect();
        (
            Self::new(
                routes,
                &ComponentTelemetry::detached(&[("receiver", "test")]),
            ),
            receiver,
        )
    }

    /// Whether any pipeline takes this signal (a receiver can skip work nobody wants).
    pub fn wants(&self, signal: Signal) -> bool {
        self.inner.routes.iter().any(|(s, _)| *s == signal)
    }

    /// Sends a batch to every pipeline of its signal, waiting while they are full.
    pub async fn send(&self, batch: Batch) -> Result<(), OutputClosed> {
        if batch.is_empty() {
            return Ok(());
        }
        let items = batch.len() as u64;
        let signal = batch.signal();
        let targets: Vec<&mpsc::Sender<Batch>> = self
            .inner
            .routes
            .iter()
            .filter(|(s, _)| *s == signal)
            .map(|(_, sender)| sender)
            .collect();
        let Some((last, others)) = targets.split_last() else {
            return Ok(());
        };
        let mut closed = false;
        for sender in others {
            closed |= sender.send(batch.clone()).await.is_err();
        }
        closed |= last.send(batch).await.is_err();
        if closed {
            self.inner.refused.add(items);
            return Err(OutputClosed);
        }
        self.inner.accepted.add(items);
        Ok(())
    }
}
