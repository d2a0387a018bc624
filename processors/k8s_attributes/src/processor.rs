//! The processor: enriches every end of every record from the index.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use spider_collector::records::{Batch, EndpointMeta, Record, Signal, Timestamp};
use spider_collector::telemetry::Counter;
use spider_collector::{ComponentError, CreateContext, Factory, Processor};

use crate::config::K8sAttributesConfig;
use crate::index::Index;
use crate::outside::Outside;

/// How often deleted pods past their grace period are forgotten.
const EXPIRY_INTERVAL: Duration = Duration::from_secs(10);

/// Builds [`K8sAttributesProcessor`]s.
pub struct K8sAttributesProcessorFactory;

impl Factory<dyn Processor> for K8sAttributesProcessorFactory {
    type Config = K8sAttributesConfig;

    fn type_name(&self) -> &'static str {
        "k8s_attributes"
    }

    fn signals(&self) -> &'static [Signal] {
        Signal::ALL
    }

    fn create(
        &self,
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
        };
        Ok(Box::new(K8sAttributesProcessor::new(
            config, counters, pods,
        )))
    }
}

struct Counters {
    attributed: Counter,
    outside: Counter,
}

/// Enriches records from an index.
pub struct K8sAttributesProcessor {
    config: K8sAttributesConfig,
    index: Index,
    outside: Outside,
    counters: Counters,
    pods: Arc<AtomicU64>,
}

fn micros(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_micros() as i64)
}

impl K8sAttributesProcessor {
    fn new(config: K8sAttributesConfig, counters: Counters, pods: Arc<AtomicU64>) -> Self {
        let grace = config.deleted_pod_grace.0.as_micros() as i64;
        Self {
            index: Index::new(grace),
            outside: Outside::new(&config.cluster_cidrs, config.max_names),
            config,
            counters,
            pods,
        }
    }

    /// Fills `meta`, the end at `address` of a record made at `at`.
    fn enrich(&self, meta: &mut EndpointMeta, address: IpAddr, at: Timestamp, now: i64) {
        let seen_name = meta.dns_name.take();
        match self
            .index
            .lookup(&address.to_canonical(), at.as_micros(), now)
        {
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

    /// Enriches both ends of every record of `batch`; host records teach names instead.
    pub fn enrich_batch(&mut self, batch: &mut Batch, now: SystemTime) {
        let now = micros(now);
        match batch {
            Batch::Usage(records) => {
                for r in records {
                    let at = r.time();
                    self.enrich(&mut r.client, r.client_ip, at, now);
                    self.enrich(&mut r.server, r.server_ip, at, now);
                }
            }
            Batch::Packets(records) => {
                for r in records {
                    let at = r.time();
                    self.enrich(&mut r.src, r.src_ip, at, now);
                    self.enrich(&mut r.dst, r.dst_ip, at, now);
                }
            }
            Batch::TcpSessions(records) => {
                for r in records {
                    let at = r.time();
                    self.enrich(&mut r.client, r.client_ip, at, now);
                    self.enrich(&mut r.server, r.server_ip, at, now);
                }
            }
            Batch::Http(records) => {
                for r in records {
                    let at = r.time();
                    self.enrich(&mut r.client, r.client_ip, at, now);
                    self.enrich(&mut r.server, r.server_ip, at, now);
                }
            }
            Batch::Hosts(records) => {
                for r in records.iter() {
                    self.outside.learn(r.ip.to_canonical(), &r.name);
                }
            }
        }
    }

    /// Number of names learnt for outside addresses.
    pub fn names(&self) -> usize {
        self.outside.names()
    }
}

#[async_trait]
impl Processor for K8sAttributesProcessor {
    async fn start(&mut self) -> Result<(), ComponentError> {
        let inventory = self.config.load_inventory().map_err(ComponentError::new)?;
        for name in &inventory.external {
            self.outside.learn(name.ip.to_canonical(), &name.name);
        }
        for object in inventory.objects() {
            self.index.apply(object);
        }
        self.pods
            .store(self.index.sizes().pods as u64, Ordering::Relaxed);
        tracing::info!(sizes = ?self.index.sizes(), "metadata index loaded from the static inventory");
        Ok(())
    }

    async fn process(
        &mut self,
        mut batch: Batch,
        out: &mut Vec<Batch>,
    ) -> Result<(), ComponentError> {
        self.enrich_batch(&mut batch, SystemTime::now());
        out.push(batch);
        Ok(())
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(EXPIRY_INTERVAL)
    }

    async fn tick(&mut self, now: SystemTime, _out: &mut Vec<Batch>) -> Result<(), ComponentError> {
        self.index.expire(micros(now));
        self.pods
            .store(self.index.sizes().pods as u64, Ordering::Relaxed);
        Ok(())
    }

    async fn shutdown(&mut self, _out: &mut Vec<Batch>) -> Result<(), ComponentError> {
        Ok(())
    }
}
