//! Capture requests (attach a Whisperer to a workload): what the UI and `spider capture` ask
//! for, what node agents poll and carry out, and the status they send back. Kept in the server's
//! JSON file `captures.json`. Every request is held to the server's limits on duration and rate:
//! one over them is refused, never trimmed silently.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
pub use spider_capture_protocol::{AgentStatus, Capture, CaptureRequest, CaptureState, Workload};

use super::json_file::{JsonFile, Refused, StoreError};

use spider_records::workload::{MAX_NAME_BYTES, check_name};

/// How long an ended capture is kept, in seconds.
const KEEP_ENDED_SECONDS: u64 = 7 * 86_400;
/// How long after its end a capture still takes its agents' last reports, in seconds.
const LAST_REPORTS_SECONDS: u64 = 300;
/// The most node agents one capture keeps a status of (the nodes of a large cluster).
pub const MAX_AGENTS_PER_CAPTURE: usize = 5_000;
/// The most pods one agent may list in a status.
pub const MAX_PODS_PER_REPORT: usize = 1_000;
/// The longest error an agent may report, in bytes.
pub const MAX_REPORTED_ERROR_BYTES: usize = 4_096;

/// The limits no capture may exceed.
#[derive(Debug, Clone, Copy)]
pub struct CaptureLimits {
    /// Longest capture.
    pub max_duration: Duration,
    /// Highest packet rate per agent.
    pub max_packets_per_second: u64,
    /// Captures active at once, in all.
    pub max_active: usize,
    /// Captures active at once on one workload.
    pub max_active_per_workload: usize,
}

impl Default for CaptureLimits {
    fn default() -> Self {
        Self {
            max_duration: Duration::from_secs(3600),
            max_packets_per_second: 10_000,
            max_active: 16,
            max_active_per_workload: 2,
        }
    }
}

/// The captures of `workload` among `active` that one agent of `cluster` (of the busiest cluster
/// when `None`) carries out at once: those of every cluster, and its own cluster's.
fn per_agent(active: &[&Capture], workload: &Workload, cluster: Option<&str>) -> usize {
    let of = |wanted: Option<&str>| {
        active
            .iter()
            .filter(|c| c.workload == *workload && c.cluster.as_deref() == wanted)
            .count()
    };
    let own = match cluster {
        Some(cluster) => of(Some(cluster)),
        None => active
            .iter()
            .filter_map(|c| c.cluster.as_deref())
            .map(|cluster| of(Some(cluster)))
            .max()
            .unwrap_or(0),
    };
    of(None) + own
}

/// `capture` with its state as of `now`.
fn with_state(mut capture: Capture, now: u64) -> Capture {
    capture.state = capture.state_at(now);
    capture
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Document {
    next_id: u64,
    captures: Vec<Capture>,
}

/// The capture requests' file and the limits they are held to.
pub struct CaptureStore {
    file: JsonFile<Document>,
    limits: CaptureLimits,
}

/// Now, in Unix seconds.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

impl CaptureStore {
    /// Opens (or starts) the store at `path`.
    pub fn open(path: PathBuf, limits: CaptureLimits) -> Result<Self, StoreError> {
        Ok(Self {
            file: JsonFile::open(path)?,
            limits,
        })
    }

    /// The limits requests are held to.
    pub fn limits(&self) -> CaptureLimits {
        self.limits
    }

    /// Every capture, newest first, with its state; only those in `state` when given.
    pub fn list(&self, state: Option<CaptureState>) -> Vec<Capture> {
        let now = unix_now();
        self.file.read(|document| {
            document
                .captures
                .iter()
                .rev()
                .map(|capture| with_state(capture.clone(), now))
                .filter(|capture| state.is_none_or(|state| capture.state == state))
                .collect()
        })
    }

    /// One capture, with its state.
    pub fn get(&self, id: u64) -> Option<Capture> {
        let now = unix_now();
        self.file.read(|document| {
            document
                .captures
                .iter()
                .find(|c| c.id == id)
                .map(|c| with_state(c.clone(), now))
        })
    }

    /// Starts a capture, if it is within the limits.
    pub fn create(&self, input: CaptureRequest) -> Result<Capture, Refused> {
        let limits = self.limits;
        input
            .workload
            .check()
            .map_err(|message| Refused::Invalid(format!("workload: {message}")))?;
        let longest = limits.max_duration.as_secs();
        if input.duration_seconds == 0 || input.duration_seconds > longest {
            return Err(Refused::Invalid(format!(
                "duration_seconds must be 1 to {longest} (the server's limit), not {}",
                input.duration_seconds
            )));
        }
        let rate = input
            .max_packets_per_second
            .unwrap_or(limits.max_packets_per_second);
        if rate == 0 || rate > limits.max_packets_per_second {
            return Err(Refused::Invalid(format!(
                "max_packets_per_second must be 1 to {} (the server's limit), not {rate}",
                limits.max_packets_per_second
            )));
        }
        if input.filter.len() > 1024 || input.filter.contains(['\n', '\0']) {
            return Err(Refused::Invalid(
                "filter must be one line of at most 1024 bytes".into(),
            ));
        }
        compiles_alone(input.filter.trim()).map_err(Refused::Invalid)?;
        if let Some(cluster) = &input.cluster
            && !spider_records::catalog::is_cluster_name(cluster)
        {
            return Err(Refused::Invalid(format!(
                "cluster {cluster:?}: {}",
                spider_records::catalog::CLUSTER_NAME_RULE
            )));
        }
        let now = unix_now();
        self.file
            .change(|document| {
                // Ended captures are kept a week for their final status, then forgotten, so
                // the file (rewritten on every agent report) stays small.
                document
                    .captures
                    .retain(|c| c.stopped.unwrap_or(c.expires) + KEEP_ENDED_SECONDS > now);
                let active: Vec<&Capture> = document
                    .captures
                    .iter()
                    .filter(|c| c.state_at(now) == CaptureState::Active)
                    .collect();
                let on_workload = per_agent(&active, &input.workload, input.cluster.as_deref());
                if active.len() >= limits.max_active {
                    return Err(Refused::Busy(format!(
                        "{} captures are active, the server's limit: stop one first",
                        active.len()
                    )));
                }
                if on_workload >= limits.max_active_per_workload {
                    return Err(Refused::Busy(format!(
                        "{on_workload} captures of this workload are active, the server's limit: \
                         stop one first"
                    )));
                }
                document.next_id += 1;
                let capture = Capture {
                    id: document.next_id,
                    workload: input.workload,
                    filter: input.filter.trim().to_owned(),
                    max_packets_per_second: rate,
                    created: now,
                    expires: now + input.duration_seconds,
                    stopped: None,
                    state: CaptureState::Active,
                    agents: BTreeMap::new(),
                    cluster: input.cluster,
                };
                document.captures.push(capture.clone());
                Ok(with_state(capture, now))
            })
            .map_err(Refused::Storage)?
    }

    /// Stops a capture (again is fine); `None` when there is no such id.
    pub fn stop(&self, id: u64) -> Result<Option<Capture>, StoreError> {
        let now = unix_now();
        self.change_one(id, |capture| {
            capture.stopped.get_or_insert(now.min(capture.expires));
            with_state(capture.clone(), now)
        })
    }

    /// Records what a node agent (of `cluster`, when it names its own) says of capture `id`;
    /// `None` when there is no such id. Only a capture that is active, or ended moments ago,
    /// takes reports, each within the limits on its size, from at most
    /// [`MAX_AGENTS_PER_CAPTURE`] nodes. A capture of one cluster keeps its agents by node, one
    /// of every cluster by `NODE@CLUSTER` when they name it: two clusters may have nodes of one
    /// name.
    pub fn report(
        &self,
        id: u64,
        cluster: Option<&str>,
        node: &str,
        mut status: AgentStatus,
    ) -> Result<Option<()>, Refused> {
        check_report(node, &status).map_err(Refused::Invalid)?;
        if let Some(cluster) = cluster
            && !spider_records::catalog::is_cluster_name(cluster)
        {
            return Err(Refused::Invalid(format!(
                "cluster {cluster:?}: {}",
                spider_records::catalog::CLUSTER_NAME_RULE
            )));
        }
        let now = unix_now();
        status.updated = now;
        let outcome = self.change_one(id, |capture| {
            let node = match (capture.cluster.as_deref(), cluster) {
                (Some(wanted), Some(from)) if wanted != from => {
                    return Err(Refused::Busy(format!(
                        "capture {id} is of cluster {wanted}, not {from}"
                    )));
                }
                (None, Some(from)) => format!("{node}@{from}"),
                _ => node.to_owned(),
            };
            let node = node.as_str();
            if capture.stopped.unwrap_or(capture.expires) + LAST_REPORTS_SECONDS <= now {
                return Err(Refused::Busy(format!(
                    "capture {id} ended more than {LAST_REPORTS_SECONDS} s ago: no more reports"
                )));
            }
            if capture.agents.len() >= MAX_AGENTS_PER_CAPTURE && !capture.agents.contains_key(node)
            {
                return Err(Refused::Busy(format!(
                    "capture {id} has reports of {MAX_AGENTS_PER_CAPTURE} nodes, the most it keeps"
                )));
            }
            capture.agents.insert(node.to_owned(), status);
            Ok(())
        });
        outcome.map_err(Refused::Storage)?.transpose()
    }

    /// Changes capture `id` and saves; `None` when there is no such id.
    fn change_one<T>(
        &self,
        id: u64,
        edit: impl FnOnce(&mut Capture) -> T,
    ) -> Result<Option<T>, StoreError> {
        self.file
            .change(|document| document.captures.iter_mut().find(|c| c.id == id).map(edit))
    }
}

/// Whether a report is one a node agent could make: a node's name, its pods' names, a bounded
/// error.
fn check_report(node: &str, status: &AgentStatus) -> Result<(), String> {
    check_name("node", node, MAX_NAME_BYTES).map_err(|e| e.to_string())?;
    if status.pods.len() > MAX_PODS_PER_REPORT {
        return Err(format!(
            "a report lists at most {MAX_PODS_PER_REPORT} pods, not {}",
            status.pods.len()
        ));
    }
    for pod in &status.pods {
        check_name("pod", pod, MAX_NAME_BYTES).map_err(|e| e.to_string())?;
    }
    if status
        .error
        .as_ref()
        .is_some_and(|e| e.len() > MAX_REPORTED_ERROR_BYTES)
    {
        return Err(format!(
            "error must be at most {MAX_REPORTED_ERROR_BYTES} bytes"
        ));
    }
    Ok(())
}

/// Whether a capture filter compiles on its own, as libpcap compiles it: the agents put it in
/// parentheses after the pods' addresses, and only a filter that compiles alone cannot escape
/// them (`tcp) or (ip` would capture every packet of the node). The agents check it again.
fn compiles_alone(filter: &str) -> Result<(), String> {
    if filter.is_empty() {
        return Ok(());
    }
    let dead = pcap::Capture::dead(pcap::Linktype::ETHERNET).map_err(|e| e.to_string())?;
    dead.compile(filter, true)
        .map(drop)
        .map_err(|e| format!("filter {filter:?} is not a capture filter: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use spider_records::OwnerKind;

    /// A store in a fresh file of its own.
    fn fresh_store(name: &str) -> (CaptureStore, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!("spider-{name}-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let store = CaptureStore::open(path.clone(), CaptureLimits::default()).unwrap();
        (store, path)
    }

    #[test]
    fn a_filter_that_would_escape_its_parentheses_is_refused() {
        let (store, path) = fresh_store("captures-filter");
        for bad in ["tcp) or (ip or ip6", "port eighty", "(tcp"] {
            let refused = store.create(CaptureRequest {
                filter: bad.into(),
                ..input(60)
            });
            assert!(
                matches!(&refused, Err(Refused::Invalid(m)) if m.contains("not a capture filter")),
                "{bad}"
            );
        }
        let accepted = store.create(CaptureRequest {
            filter: "tcp port 80 or udp port 53".into(),
            ..input(60)
        });
        assert!(accepted.is_ok());
        let _ = std::fs::remove_file(&path);
    }

    fn input(seconds: u64) -> CaptureRequest {
        CaptureRequest {
            workload: Workload {
                namespace: "shop".into(),
                kind: OwnerKind::Deployment,
                name: "web".into(),
            },
            duration_seconds: seconds,
            filter: String::new(),
            max_packets_per_second: None,
            cluster: None,
        }
    }

    #[test]
    fn the_per_workload_limit_counts_captures_of_all_clusters_with_each_one() {
        let (store, path) = fresh_store("captures-clusters");
        let of = |cluster: Option<&str>| CaptureRequest {
            cluster: cluster.map(str::to_owned),
            ..input(60)
        };
        // Two of east's: one for all clusters, one for east.
        store.create(of(None)).unwrap();
        store.create(of(Some("east"))).unwrap();
        assert!(matches!(
            store.create(of(Some("east"))),
            Err(Refused::Busy(_))
        ));
        assert!(matches!(store.create(of(None)), Err(Refused::Busy(_))));
        // West has one so far (the one for all).
        store.create(of(Some("west"))).unwrap();
        assert!(matches!(
            store.create(of(Some("west"))),
            Err(Refused::Busy(_))
        ));
        assert!(matches!(
            store.create(of(Some("West"))),
            Err(Refused::Invalid(_))
        ));
        let _ = std::fs::remove_file(&path);
        // One in each of two clusters leaves room for one of all: each agent then runs two.
        let (store, path) = fresh_store("captures-clusters-all");
        store.create(of(Some("east"))).unwrap();
        store.create(of(Some("west"))).unwrap();
        store.create(of(None)).unwrap();
        assert!(matches!(store.create(of(None)), Err(Refused::Busy(_))));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn agents_of_two_clusters_with_one_node_name_keep_their_own_status() {
        let (store, path) = fresh_store("captures-agents");
        let everywhere = store.create(input(60)).unwrap();
        let east_only = store
            .create(CaptureRequest {
                cluster: Some("east".into()),
                filter: "tcp".into(),
                ..input(60)
            })
            .unwrap();
        let status = |packets| AgentStatus {
            packets,
            ..AgentStatus::default()
        };
        for (cluster, packets) in [("east", 1), ("west", 2)] {
            store
                .report(everywhere.id, Some(cluster), "node-1", status(packets))
                .unwrap()
                .unwrap();
        }
        let agents = store.get(everywhere.id).unwrap().agents;
        let keys: Vec<&String> = agents.keys().collect();
        assert_eq!(keys, ["node-1@east", "node-1@west"]);
        assert_eq!(agents["node-1@west"].packets, 2);
        store
            .report(east_only.id, Some("east"), "node-1", status(3))
            .unwrap()
            .unwrap();
        let refused = store.report(east_only.id, Some("west"), "node-1", status(4));
        assert!(matches!(refused, Err(Refused::Busy(_))));
        assert!(matches!(
            store.report(east_only.id, Some("West"), "node-1", status(4)),
            Err(Refused::Invalid(_))
        ));
        let agents = store.get(east_only.id).unwrap().agents;
        assert_eq!(agents.keys().collect::<Vec<_>>(), ["node-1"]);
        assert_eq!(agents["node-1"].packets, 3);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn captures_ended_a_week_ago_are_forgotten_and_ids_never_reused() {
        let (store, path) = fresh_store("captures");
        let old = store.create(input(60)).unwrap();
        let recent = store.create(input(60)).unwrap();
        store
            .change_one(old.id, |c| {
                c.stopped = Some(unix_now() - KEEP_ENDED_SECONDS - 1)
            })
            .unwrap();
        store.stop(recent.id).unwrap();
        let newest = store.create(input(60)).unwrap();
        let reopened = CaptureStore::open(path.clone(), CaptureLimits::default()).unwrap();
        let kept: Vec<(u64, CaptureState)> = reopened
            .list(None)
            .into_iter()
            .map(|c| (c.id, c.state))
            .collect();
        assert_eq!(
            kept,
            [
                (newest.id, CaptureState::Active),
                (recent.id, CaptureState::Stopped)
            ]
        );
        // The names the parameter takes are the ones JSON carries.
        for state in CaptureState::ALL {
            let json = serde_json::to_string(&state).unwrap();
            assert_eq!(json, format!("\"{}\"", state.as_str()));
            assert_eq!(CaptureState::parse(state.as_str()), Some(state));
        }
        // Files written when the state was a string held "" for it.
        let before: CaptureState = serde_json::from_str("\"\"").unwrap();
        assert_eq!(before, CaptureState::Active);
        assert_eq!(newest.id, 3);
        let _ = std::fs::remove_file(&path);
    }
}
