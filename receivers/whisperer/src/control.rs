//! The agent's loop: every poll, the captures wanted (declared in the config, or requested on
//! the query service and active) are matched with this node's pods; captures start, follow their
//! pods as the workload scales (a new filter, a new capture), end when stopped or expired, and
//! report what they did. A capture never outlives its own end or the receiver's `max_duration`,
//! and never takes more than its rate ceiling, even when the query service cannot be reached.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use spider_collector::Output;
use tokio_util::sync::CancellationToken;

use crate::config::{WhispererConfig, Workload};
use crate::pods::Pods;
use crate::running::{Plan, Running, Tally, pods_filter};
use spider_capture_protocol::{AgentStatus, Capture, CaptureClient, WhispererStatus};

/// How often a Whisperer tells the query service what it is (its interfaces and captures).
pub const WHISPERER_REPORT_EVERY: Duration = Duration::from_secs(15);

/// Which capture: declared in the config (by position) or requested (by id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Origin {
    Declared(usize),
    Requested(u64),
}

/// A capture that should be running.
struct Wanted {
    workload: Workload,
    filter: String,
    max_packets_per_second: u64,
    /// Unix seconds after which it stops; `None` for as long as the collector runs.
    ends: Option<u64>,
}

/// A capture this node carries out.
struct Active {
    wanted: Wanted,
    tally: Tally,
    ips: Vec<IpAddr>,
    pods: Vec<String>,
    running: Option<Running>,
    error: Option<String>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// The agent: its config, its pods, its query service, what it captures.
pub struct Agent {
    config: WhispererConfig,
    node: String,
    /// The cluster it is in: it carries out the requests of its cluster (or of all) alone.
    cluster: String,
    /// When it last told the service what it is, and whether that failed (said once).
    described: Option<tokio::time::Instant>,
    describe_failing: bool,
    pods: Pods,
    server: Option<CaptureClient>,
    output: Output,
    active: BTreeMap<Origin, Active>,
    /// Requested captures last seen on the service, kept while it cannot be reached.
    requested: Vec<Capture>,
    server_down: bool,
}

impl Agent {
    /// An agent with nothing running yet.
    pub fn new(
        config: WhispererConfig,
        cluster: String,
        pods: Pods,
        output: Output,
    ) -> Result<Self, String> {
        let server = match &config.server {
            Some(base) => {
                Some(CaptureClient::new(base, config.token.clone()).map_err(|e| e.to_string())?)
            }
            None => None,
        };
        Ok(Self {
            node: config.node(),
            cluster,
            described: None,
            describe_failing: false,
            config,
            pods,
            server,
            output,
            active: BTreeMap::new(),
            requested: Vec::new(),
            server_down: false,
        })
    }

    /// Runs until `stop`, then stops every capture.
    pub async fn run(mut self, stop: CancellationToken) {
        loop {
            self.poll().await;
            // Wake for the next poll, or sooner when a capture is due to end, so none overruns.
            let until_end = self
                .active
                .values()
                .filter_map(|active| active.wanted.ends)
                .min()
                .map(|ends| Duration::from_secs(ends.saturating_sub(unix_now())));
            let pause = until_end.map_or(self.config.poll_interval.0, |d| {
                d.min(self.config.poll_interval.0)
            });
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
        for (_, active) in std::mem::take(&mut self.active) {
            if let Some(running) = active.running {
                running.stop().await;
            }
        }
        self.pods.stop().await;
    }

    async fn poll(&mut self) {
        self.pods.refresh();
        if let Some(server) = &self.server {
            match server.active().await {
                Ok(requested) => {
                    if self.server_down {
                        tracing::info!("the query service answers again");
                    }
                    self.server_down = false;
                    self.requested = requested
                        .into_iter()
                        .filter(|capture| capture.is_for(&self.cluster))
                        .collect();
                }
                Err(error) if !self.server_down => {
                    self.server_down = true;
                    tracing::warn!(
                        "cannot read capture requests ({error}); running captures go on until they end"
                    );
                }
                Err(_) => {}
            }
        }
        let wanted = self.wanted(unix_now());
        self.reconcile(wanted).await;
        self.report().await;
        self.describe().await;
    }

    /// Tells the service what this Whisperer is, every [`WHISPERER_REPORT_EVERY`].
    async fn describe(&mut self) {
        let Some(server) = &self.server else { return };
        let due = self
            .described
            .is_none_or(|last| last.elapsed() >= WHISPERER_REPORT_EVERY);
        if !due {
            return;
        }
        self.described = Some(tokio::time::Instant::now());
        let status = WhispererStatus {
            interfaces: self.config.interfaces.clone(),
            captures: self
                .active
                .iter()
                .filter(|(_, active)| active.running.is_some())
                .filter_map(|(origin, _)| match origin {
                    Origin::Requested(id) => Some(*id),
                    Origin::Declared(_) => None,
                })
                .collect(),
            declared: self.config.captures.len(),
        };
        match server.whisperer(&self.cluster, &self.node, &status).await {
            Ok(()) => self.describe_failing = false,
            Err(error) if !self.describe_failing && !self.server_down => {
                self.describe_failing = true;
                tracing::warn!(
                    "cannot tell the query service what this Whisperer is (retried): {error}"
                );
            }
            Err(_) => {}
        }
    }

    /// Every capture that should run now, each within the receiver's limits.
    fn wanted(&self, now: u64) -> BTreeMap<Origin, Wanted> {
        let ceiling = self.config.max_packets_per_second;
        let longest = self.config.max_duration.0.as_secs();
        let mut wanted = BTreeMap::new();
        for (index, declared) in self.config.captures.iter().enumerate() {
            wanted.insert(
                Origin::Declared(index),
                Wanted {
                    workload: declared.workload.clone(),
                    filter: declared.filter.clone(),
                    max_packets_per_second: declared
                        .max_packets_per_second
                        .unwrap_or(ceiling)
                        .min(ceiling),
                    ends: None,
                },
            );
        }
        for request in &self.requested {
            let ends = request.expires.min(request.created.saturating_add(longest));
            if now < ends {
                wanted.insert(
                    Origin::Requested(request.id),
                    Wanted {
                        workload: request.workload.clone(),
                        filter: request.filter.clone(),
                        max_packets_per_second: request.max_packets_per_second.min(ceiling),
                        ends: Some(ends),
                    },
                );
            }
        }
        wanted
    }

    async fn reconcile(&mut self, mut wanted: BTreeMap<Origin, Wanted>) {
        let ended: Vec<Origin> = self
            .active
            .keys()
            .filter(|origin| !wanted.contains_key(origin))
            .copied()
            .collect();
        for origin in ended {
            if let Some(active) = self.active.remove(&origin) {
                tracing::info!(?origin, workload = %active.wanted.workload, packets = active.tally.packets(), "capture ended");
                if let Some(running) = active.running {
                    running.stop().await;
                }
                if let Origin::Requested(id) = origin {
                    self.report_one(
                        id,
                        &AgentStatus {
                            pods: active.pods,
                            packets: active.tally.packets(),
                            dropped: active.tally.dropped(),
                            error: active.error,
                            capturing: false,
                            updated: 0,
                        },
                    )
                    .await;
                }
            }
        }
        let origins: Vec<Origin> = wanted.keys().copied().collect();
        for origin in origins {
            let Some(want) = wanted.remove(&origin) else {
                continue;
            };
            let pods = self.pods.of(&want.workload);
            let mut ips: Vec<IpAddr> = pods.iter().flat_map(|p| p.ips.iter().copied()).collect();
            ips.sort();
            let names: Vec<String> = pods.into_iter().map(|p| p.name).collect();
            let active = self.active.entry(origin).or_insert_with(|| {
                tracing::info!(?origin, workload = %want.workload, "capture starting");
                Active {
                    tally: Tally::new(&format!("{origin:?}")),
                    wanted: want,
                    ips: Vec::new(),
                    pods: Vec::new(),
                    running: None,
                    error: None,
                }
            });
            active.pods = names;
            if active.ips == ips && (active.running.is_some() || ips.is_empty()) {
                continue;
            }
            if let Some(running) = active.running.take() {
                running.stop().await;
            }
            active.ips = ips;
            if active.ips.is_empty() {
                tracing::info!(workload = %active.wanted.workload, node = %self.node, "no pod of the workload on this node for now");
                continue;
            }
            let interfaces = &self.config.interfaces;
            // The ceiling holds for the capture as a whole, whatever the number of interfaces.
            let per_interface =
                (active.wanted.max_packets_per_second / interfaces.len() as u64).max(1);
            let filter = match pods_filter(&active.ips, &active.wanted.filter) {
                Ok(filter) => filter,
                Err(error) => {
                    tracing::error!(workload = %active.wanted.workload, "{error}");
                    active.error = Some(error);
                    continue;
                }
            };
            let (running, error) = Running::start(
                &Plan {
                    interfaces,
                    snaplen: self.config.snaplen,
                    filter: &filter,
                    max_packets_per_second: per_interface,
                    capturer: &self.node,
                },
                &active.tally,
                &self.output,
            );
            if let Some(error) = &error {
                tracing::error!(workload = %active.wanted.workload, "{error}");
            } else {
                tracing::info!(workload = %active.wanted.workload, pods = ?active.pods, filter, "capturing");
            }
            active.error = error;
            active.running = running.capturing().then_some(running);
        }
    }

    async fn report(&self) {
        for (origin, active) in &self.active {
            if let Origin::Requested(id) = origin {
                self.report_one(
                    *id,
                    &AgentStatus {
                        pods: active.pods.clone(),
                        packets: active.tally.packets(),
                        dropped: active.tally.dropped(),
                        error: active.error.clone(),
                        capturing: active.running.is_some(),
                        updated: 0,
                    },
                )
                .await;
            }
        }
    }

    async fn report_one(&self, id: u64, status: &AgentStatus) {
        if let Some(server) = &self.server
            && let Err(error) = server.report(id, &self.cluster, &self.node, status).await
            && !self.server_down
        {
            tracing::warn!("cannot report on capture {id}: {error}");
        }
    }
}
