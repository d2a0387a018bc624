//! The processor: enriches every end of every record from the index, which its source fills.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockWriteGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use spider_collector::records::{Batch, EndpointClass, EndpointMeta, Record, Signal, Timestamp};
use spider_collector::telemetry::Counter;
use spider_collector::{ComponentError, CreateContext, Declared, Processor};

use spider_kube::MetadataSource;
use spider_kube::follower::Follower;
use spider_kube::index::{Index, RecordTime};
use spider_kube::inventory::FollowedInventory;

use crate::config::K8sAttributesConfig;
use crate::outside::Outside;

/// How often deleted pods past their grace period are forgotten.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(10);

/// Builds [`K8sAttributesProcessor`]s.
pub const K8S_ATTRIBUTES_PROCESSOR: Declared<dyn Processor, K8sAttributesConfig> =
    Declared::new("k8s_attributes", Signal::ALL, create);

/// Builds one from its validated config.
fn create(
    config: K8sAttributesConfig,
    context: CreateContext,
) -> Result<Box<dyn Processor>, ComponentError> {
    let telemetry = &context.telemetry;
    let pods = Arc::new(AtomicU64::new(0));
    let gauge_pods = pods.clone();
    telemetry.gauge(
        "spider_k8s_index_pods",
        "Pods in the index, deleted ones in their grace period included.",
        move || gauge_pods.load(Ordering::Relaxed) as f64,
    );
    let counters = Counters {
        attributed: telemetry.counter(
            "spider_k8s_ends_attributed_total",
            "Record ends found in the index (pod, node or service).",
        ),
        outside: telemetry.counter(
            "spider_k8s_ends_outside_total",
            "Record ends nothing in the cluster has (external or unknown).",
        ),
        unenriched: telemetry.counter(
            "spider_k8s_records_unenriched_total",
            "Records passed through before the metadata was listed.",
        ),
        watch_failures: telemetry.counter(
            "spider_k8s_watch_failures_total",
            "Kubernetes list/watch failures, or lost controller feeds (each is retried with backoff).",
        ),
    };
    let grace = config.deleted_pod_grace.0.as_micros() as i64;
    let inventory = match (config.source, &config.inventory) {
        (MetadataSource::Static, Some(path)) => Some(FollowedInventory::new(path.clone())),
        _ => None,
    };
    Ok(Box::new(K8sAttributesProcessor {
        index: Arc::new(RwLock::new(Index::new(grace))),
        outside: Outside::new(&config.cluster_cidrs, config.max_names),
        config,
        counters,
        pods,
        follower: None,
        inventory,
    }))
}

struct Counters {
    attributed: Counter,
    outside: Counter,
    unenriched: Counter,
    watch_failures: Counter,
}

/// Enriches records from an index.
pub struct K8sAttributesProcessor {
    config: K8sAttributesConfig,
    index: Arc<RwLock<Index>>,
    outside: Outside,
    counters: Counters,
    pods: Arc<AtomicU64>,
    /// The Kubernetes source's watchers or the controller's feed, once started.
    follower: Option<Follower>,
    /// The static source's inventory file, followed as it changes.
    inventory: Option<FollowedInventory>,
}

fn micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_micros() as i64)
}

impl K8sAttributesProcessor {
    /// Fills `meta`, the end at `address` of a record made at `at`.
    fn enrich(
        &self,
        index: &Index,
        meta: &mut EndpointMeta,
        address: IpAddr,
        at: RecordTime,
        now: i64,
    ) {
        let seen_name = meta.dns_name.take();
        match index.lookup(&address.to_canonical(), at, now) {
            Some(found) => {
                *meta = found;
                meta.dns_name = seen_name;
                self.counters.attributed.add(1);
            }
            None => {
                let (class, learnt) = self.outside.classify(&address);
                meta.class = class;
                meta.dns_name = seen_name.or(learnt);
                self.counters.outside.add(1);
            }
        }
    }

    /// Enriches both ends of every record of `batch`; host records teach names instead. Until
    /// the Kubernetes source has listed everything, records pass through as they are.
    fn enrich_batch(&mut self, batch: &mut Batch, now: SystemTime) {
        if let Batch::Hosts(records) = batch {
            for r in records.iter() {
                self.outside.learn(r.ip.to_canonical(), &r.name);
            }
            return;
        }
        if self.follower.as_ref().is_some_and(|w| !w.ready()) {
            self.counters.unenriched.add(batch.len() as u64);
            return;
        }
        let now = micros(now);
        let index = self.index.read().unwrap_or_else(|p| p.into_inner());
        let enrich = |meta: &mut EndpointMeta, address: IpAddr, at: RecordTime| {
            self.enrich(&index, meta, address, at, now);
        };
        // A record's own time decides who held an address: a session belongs to the pod of
        // its first packet and an exchange to the pod of its request, even if the IP passed
        // to a new pod within the minute; only minute-stamped usage gets a minute's slack.
        let exact = |time: Timestamp| RecordTime::Exact(time.as_micros());
        match batch {
            Batch::Usage(records) => records.iter_mut().for_each(|r| {
                let at = RecordTime::Minute(r.time().as_micros());
                enrich(&mut r.client, r.client_ip, at);
                enrich(&mut r.server, r.server_ip, at);
                // The Service a translated connection went through, by its address.
                if let Some(service) = r.service_ip
                    && let Some(found) = index.lookup(&service.to_canonical(), at, now)
                    && found.class == EndpointClass::Service
                {
                    r.service_namespace = found.namespace;
                    r.service_name = found.owner_name;
                }
                // A verdict only for ends known to be pods, nodes or outside: an unattributed
                // in-cluster address could be a pod that policies select.
                let known =
                    |class| !matches!(class, EndpointClass::Unknown | EndpointClass::Service);
                if known(r.client.class)
                    && known(r.server.class)
                    && let Some(verdict) = index.policy_verdict(
                        (r.client_ip, r.server_ip),
                        (r.server_port, r.transport),
                        at,
                        now,
                    )
                {
                    r.policy = Some(verdict.verdict);
                    r.policy_by = verdict.by_names();
                }
            }),
            Batch::Packets(records) => records.iter_mut().for_each(|r| {
                let at = exact(r.time());
                enrich(&mut r.src, r.src_ip, at);
                enrich(&mut r.dst, r.dst_ip, at);
            }),
            Batch::TcpSessions(records) => records.iter_mut().for_each(|r| {
                let at = exact(r.time());
                enrich(&mut r.client, r.client_ip, at);
                enrich(&mut r.server, r.server_ip, at);
            }),
            Batch::Http(records) => records.iter_mut().for_each(|r| {
                let at = exact(r.time());
                enrich(&mut r.client, r.client_ip, at);
                enrich(&mut r.server, r.server_ip, at);
            }),
            Batch::Hosts(_) => {}
        }
    }

    fn write_index(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|p| p.into_inner())
    }

    fn update_gauges(&self) {
        let pods = self
            .index
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .sizes()
            .pods;
        self.pods.store(pods as u64, Ordering::Relaxed);
    }

    /// Loads the static inventory when it changed (the first time, always): its external
    /// names are learnt, and the gauges follow.
    fn follow_inventory(&mut self) -> Result<(), String> {
        let Some(inventory) = &mut self.inventory else {
            return Ok(());
        };
        let refreshed = inventory
            .refresh(&self.index, micros(SystemTime::now()))
            .map_err(|error| error.to_string())?;
        if let Some(loaded) = refreshed {
            for name in &loaded.external {
                self.outside.learn(name.ip.to_canonical(), &name.name);
            }
            let sizes = self.index.read().unwrap_or_else(|p| p.into_inner()).sizes();
            tracing::info!(?sizes, "metadata index loaded from the static inventory");
            self.update_gauges();
        }
        Ok(())
    }

    /// Starts the Kubernetes watchers or the controller's feed. Without a way to reach either,
    /// the rest of the pipeline keeps running, its records unenriched and counted — unless the
    /// config asked to wait.
    async fn start_following(&mut self) -> Result<(), ComponentError> {
        let config = &self.config;
        let follower = config
            .source_settings()
            .follow(
                config.node_name.clone(),
                self.index.clone(),
                self.counters.watch_failures.clone(),
            )
            .await;
        let mut follower = match follower {
            Ok(follower) => follower,
            Err(message) if !config.wait_for_metadata => {
                tracing::error!(
                    "Kubernetes metadata unavailable: {message}; records pass through unenriched"
                );
                self.counters.watch_failures.add(1);
                return Ok(());
            }
            Err(message) => return Err(ComponentError::new(message)),
        };
        if config.wait_for_metadata {
            let timeout = config.wait_for_metadata_timeout.0;
            if tokio::time::timeout(timeout, follower.wait_ready())
                .await
                .is_err()
            {
                let last = follower.last_failure().map_or(String::new(), |failure| {
                    format!(" (last failure: {failure})")
                });
                follower.stop().await;
                let asked = match config.source {
                    MetadataSource::Controller => format!(
                        "is the controller at {} up, and has it listed the cluster?",
                        config.controller.as_deref().unwrap_or_default()
                    ),
                    _ => "is the API server reachable, and may this account list and watch pods, nodes, services, replicasets, jobs and endpointslices?".to_owned(),
                };
                return Err(ComponentError::new(format!(
                    "Kubernetes metadata not listed within {timeout:?}: {asked}{last}"
                )));
            }
        }
        self.follower = Some(follower);
        Ok(())
    }
}

#[async_trait]
impl Processor for K8sAttributesProcessor {
    async fn start(&mut self) -> Result<(), ComponentError> {
        match self.config.source {
            MetadataSource::Static => self.follow_inventory().map_err(ComponentError::new)?,
            MetadataSource::Kubernetes | MetadataSource::Controller => {
                self.start_following().await?
            }
        }
        self.update_gauges();
        Ok(())
    }

    async fn process(
        &mut self,
        mut batch: Batch,
        out: &mut Vec<Batch>,
    ) -> Result<(), ComponentError> {
        // Before every batch, so no record is attributed from an inventory older than the
        // records before it; a file that stops parsing leaves the last good one in force.
        if let Err(error) = self.follow_inventory() {
            tracing::warn!("{error}; the inventory loaded before is kept");
        }
        self.enrich_batch(&mut batch, SystemTime::now());
        out.push(batch);
        Ok(())
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(EXPIRY_INTERVAL)
    }

    async fn tick(&mut self, now: SystemTime, _out: &mut Vec<Batch>) -> Result<(), ComponentError> {
        self.write_index().expire(micros(now));
        self.update_gauges();
        Ok(())
    }

    async fn shutdown(&mut self, _out: &mut Vec<Batch>) -> Result<(), ComponentError> {
        if let Some(mut follower) = self.follower.take() {
            follower.stop().await;
        }
        Ok(())
    }
}
