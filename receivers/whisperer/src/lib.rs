//! The `whisperer` receiver: attach a Whisperer to a workload. A node agent polls the query
//! service for capture requests (made in the UI or with `spider capture`), finds the workload's
//! pods on its node (from the Kubernetes API, or a static inventory), captures their packets on
//! the host's interfaces by their addresses, follows them as the workload scales, stops when the
//! request is stopped or expires, and reports packets, drops and errors back. Captures can also
//! be declared in the config (the sidecar pattern), for the collector's lifetime. Records are
//! `packets`, like the pcap receiver's, for the session processor to reassemble.

mod config;
mod control;
mod pods;
mod running;

use async_trait::async_trait;
use spider_collector::records::Signal;
use spider_collector::{ComponentError, CreateContext, Declared, Output, Receiver};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use config::{DeclaredCapture, WhispererConfig, Workload};
pub use running::pods_filter;

use crate::control::Agent;
use crate::pods::Pods;

/// Builds [`WhispererReceiver`]s.
pub const WHISPERER_RECEIVER: Declared<dyn Receiver, WhispererConfig> =
    Declared::new("whisperer", &[Signal::Capture], create);

/// Builds one from its validated config.
fn create(
    mut config: WhispererConfig,
    context: CreateContext,
) -> Result<Box<dyn Receiver>, ComponentError> {
    let node = config.node_name.get_or_insert_with(|| context.node.clone());
    // The query service takes reports of a node by a name Kubernetes could give.
    if config.server.is_some()
        && let Err(message) = spider_collector::records::workload::check_name(
            "the node name",
            node,
            spider_collector::records::workload::MAX_NAME_BYTES,
        )
    {
        return Err(ComponentError::new(format!(
            "{message}: set node_name (or service.node) to one the query service can take"
        )));
    }
    Ok(Box::new(WhispererReceiver {
        config,
        context,
        stop: CancellationToken::new(),
        task: None,
    }))
}

/// The agent loop, on a task of its own.
pub struct WhispererReceiver {
    config: WhispererConfig,
    context: CreateContext,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

#[async_trait]
impl Receiver for WhispererReceiver {
    async fn start(&mut self, output: Output) -> Result<(), ComponentError> {
        let pods = match Pods::start(&self.config, &self.context.telemetry).await {
            Ok(pods) => pods,
            Err(message) => {
                // Like a capture without privileges: said plainly, and the rest keeps running.
                tracing::error!(receiver = %self.context.id, "{message}; no workload can be captured");
                return Ok(());
            }
        };
        let agent = Agent::new(
            self.config.clone(),
            self.context.cluster.clone(),
            pods,
            output,
        )
        .map_err(ComponentError::new)?;
        tracing::info!(
            receiver = %self.context.id,
            node = %self.config.node(),
            server = self.config.server.as_deref().unwrap_or("none"),
            declared = self.config.captures.len(),
            "waiting for captures"
        );
        self.task = Some(tokio::spawn(agent.run(self.stop.clone())));
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), ComponentError> {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.await
                .map_err(|e| ComponentError::new(format!("the whisperer task failed: {e}")))?;
        }
        Ok(())
    }
}
