//! Which pods a workload has on this node, kept current: from the Kubernetes API (watchers of
//! this node's pods and of the controllers above them), from the cluster's controller (the same,
//! fed), or from a static inventory file that is read again whenever it changes (so a scaled
//! workload is followed either way).

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use spider_collector::telemetry::ComponentTelemetry;
use spider_kube::MetadataSource;
use spider_kube::follower::Follower;
use spider_kube::index::Index;
use spider_kube::inventory::FollowedInventory;

use crate::config::{WhispererConfig, Workload};

/// Deleted pods leave at once: a capture follows the pods that exist.
const NO_GRACE: i64 = 0;

enum Source {
    Static(FollowedInventory),
    /// The API's watchers, or the controller's feed.
    Followed(Follower),
}

/// This node's pods and the workloads above them.
pub struct Pods {
    index: Arc<RwLock<Index>>,
    source: Source,
    node: String,
}

/// One pod a capture covers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PodAddresses {
    /// Its name.
    pub name: String,
    /// Its addresses.
    pub ips: Vec<IpAddr>,
}

impl Pods {
    /// Starts following pods as configured.
    pub async fn start(
        config: &WhispererConfig,
        telemetry: &ComponentTelemetry,
    ) -> Result<Self, String> {
        let index = Arc::new(RwLock::new(Index::new(NO_GRACE)));
        let node = config.node();
        let source = match config.source {
            MetadataSource::Static => Source::Static(FollowedInventory::new(
                config
                    .inventory
                    .clone()
                    .ok_or("source: static needs an inventory")?,
            )),
            MetadataSource::Kubernetes | MetadataSource::Controller => {
                let failures = telemetry.counter(
                    "spider_whisperer_watch_failures_total",
                    "Kubernetes watch (or controller feed) errors, each retried with backoff.",
                );
                let follower = config
                    .source_settings()
                    .follow(Some(node.clone()), index.clone(), failures)
                    .await
                    .map_err(|e| format!("cannot follow this node's pods: {e}"))?;
                Source::Followed(follower)
            }
        };
        let mut pods = Self {
            index,
            source,
            node,
        };
        pods.refresh();
        Ok(pods)
    }

    /// Reads the inventory again if it changed (the API's watchers keep themselves current),
    /// and forgets deleted pods.
    pub fn refresh(&mut self) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_micros() as i64);
        if let Source::Static(inventory) = &mut self.source
            && let Err(error) = inventory.refresh(&self.index, now)
        {
            tracing::warn!("{error}; the pods known before are kept");
        }
        self.index
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .expire(now);
    }

    /// The workload's pods on this node.
    pub fn of(&self, workload: &Workload) -> Vec<PodAddresses> {
        self.index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .pods_of(
                &workload.namespace,
                workload.kind,
                &workload.name,
                &self.node,
            )
            .into_iter()
            .map(|(name, ips)| PodAddresses { name, ips })
            .collect()
    }

    /// Stops following.
    pub async fn stop(&mut self) {
        if let Source::Followed(follower) = &mut self.source {
            follower.stop().await;
        }
    }
}
