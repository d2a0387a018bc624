//! The clusters: `GET /api/clusters` lists every cluster of the lake with its agents (read from
//! the lake's listings, [`spider_query::clusters`]), its controller, which reports itself at
//! `PUT /api/clusters/{cluster}/controller`, and its Whisperers (capture agents, on nodes or on
//! plain hosts), which report at `PUT /api/clusters/{cluster}/whisperers/{node}`. Reports are
//! kept in memory, bounded in number and size: each reporter reports every 15 s, so a restarted
//! service knows them again that soon.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use spider_capture_protocol::WhispererStatus;
use spider_kube::feed::{ControllerStatus, MAX_KINDS};
use spider_query::Lake;
use spider_query::clusters::{ClusterReport, clusters};
use spider_records::catalog::{CLUSTER_NAME_RULE, is_cluster_name};
use spider_records::workload::{MAX_NAME_BYTES, check_name};

use super::{ApiError, AppState};

/// The most controllers kept; beyond, the one heard from longest ago is let go.
pub const MAX_CONTROLLERS: usize = 1_000;

/// The most Whisperers kept, over every cluster.
pub const MAX_WHISPERERS: usize = 10_000;

/// A reporter not heard from for this long is forgotten (its cluster stays listed while the
/// lake holds its data).
pub const FORGOTTEN_AFTER_MICROS: i64 = 24 * 3600 * 1_000_000;

/// The largest report body taken: a status is a few hundred bytes.
pub const MAX_REPORT_BYTES: usize = 8 * 1024;

/// The longest URL or kind a controller's report may carry.
const MAX_TEXT: usize = 2048;

/// The longest interface name (Linux's are at most 15 bytes).
const MAX_INTERFACE: usize = 64;

/// The most interfaces, and the most captures, one Whisperer's report lists.
const MAX_LISTED: usize = 64;

/// The last reports of one kind of reporter, by key, bounded in number and forgotten a day after
/// their last report.
pub struct Reports<K, T> {
    kept: Mutex<BTreeMap<K, Reported<T>>>,
    max: usize,
}

/// A report as listed: what was said, and when.
#[derive(Debug, Clone, Serialize)]
pub struct Reported<T> {
    /// What it said.
    #[serde(flatten)]
    pub status: T,
    /// When (microseconds since the epoch).
    pub reported: i64,
}

impl<K: Ord + Clone, T: Clone> Reports<K, T> {
    /// Room for `max` reporters.
    pub fn new(max: usize) -> Self {
        Self {
            kept: Mutex::default(),
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<K, Reported<T>>> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `status` as `key`'s at `now`. When full, what was forgotten goes first, then the
    /// report heard from longest ago: a live reporter reports again within 15 s, so a flood of
    /// made-up names cannot keep real reporters out.
    fn report(&self, key: K, status: T, now: i64) {
        let mut kept = self.lock();
        if !kept.contains_key(&key) && kept.len() >= self.max {
            kept.retain(|_, report| now - report.reported < FORGOTTEN_AFTER_MICROS);
            if kept.len() >= self.max
                && let Some(oldest) = kept
                    .iter()
                    .min_by_key(|(_, report)| report.reported)
                    .map(|(key, _)| key.clone())
            {
                kept.remove(&oldest);
            }
        }
        kept.insert(
            key,
            Reported {
                status,
                reported: now,
            },
        );
    }

    /// Every report of the last day.
    fn listed(&self, now: i64) -> BTreeMap<K, Reported<T>> {
        let mut kept = self.lock().clone();
        kept.retain(|_, report| now - report.reported < FORGOTTEN_AFTER_MICROS);
        kept
    }
}

/// How long the lake's clusters, as last listed, are answered from: the listing costs a few
/// object-store round trips per cluster and dataset, and a writer reports every minute at most.
pub const LISTING_KEPT: std::time::Duration = std::time::Duration::from_secs(15);

/// What the clusters route keeps: the controllers by cluster, the Whisperers by cluster and
/// node, and the lake's clusters as last listed.
pub struct Clusters {
    /// Controllers, by cluster.
    pub controllers: Reports<String, ControllerStatus>,
    /// Whisperers, by (cluster, node).
    pub whisperers: Reports<(String, String), WhispererStatus>,
    /// The lake's clusters and when they were listed; held while listing, so that requests in
    /// the meantime wait for that one listing.
    listing: tokio::sync::Mutex<Option<(std::time::Instant, Vec<ClusterReport>)>>,
}

impl Default for Clusters {
    fn default() -> Self {
        Self {
            controllers: Reports::new(MAX_CONTROLLERS),
            whisperers: Reports::new(MAX_WHISPERERS),
            listing: tokio::sync::Mutex::default(),
        }
    }
}

impl Clusters {
    /// The lake's clusters, listed at most every [`LISTING_KEPT`].
    async fn of_lake(&self, lake: &Lake) -> Result<Vec<ClusterReport>, ApiError> {
        let mut listing = self.listing.lock().await;
        if let Some((at, clusters)) = listing.as_ref()
            && at.elapsed() < LISTING_KEPT
        {
            return Ok(clusters.clone());
        }
        let clusters = clusters(lake).await?;
        *listing = Some((std::time::Instant::now(), clusters.clone()));
        Ok(clusters)
    }
}

/// A Whisperer as listed.
#[derive(Debug, Serialize)]
struct ListedWhisperer {
    node: String,
    #[serde(flatten)]
    report: Reported<WhispererStatus>,
}

/// A cluster as `GET /api/clusters` answers it: what the lake says of it, and its reporters.
#[derive(Debug, Serialize)]
struct Listed {
    #[serde(flatten)]
    lake: ClusterReport,
    controller: Option<Reported<ControllerStatus>>,
    whisperers: Vec<ListedWhisperer>,
}

impl Listed {
    /// A cluster as the lake has it, none of its reporters heard yet.
    fn of(lake: ClusterReport) -> Self {
        Self {
            lake,
            controller: None,
            whisperers: Vec::new(),
        }
    }

    /// A cluster that reports before it has written anything.
    fn named(name: String) -> Self {
        Self::of(ClusterReport {
            name,
            datasets: Vec::new(),
            agents: Vec::new(),
            last_report: None,
        })
    }
}

fn now_micros() -> i64 {
    spider_records::Timestamp::now().as_micros()
}

/// The lake's clusters with their agents, and every cluster a controller or Whisperer reports
/// from (one whose agents have written nothing yet).
async fn listed(lake: &Lake, known: &Clusters) -> Result<Vec<Listed>, ApiError> {
    let now = now_micros();
    let mut listed: BTreeMap<String, Listed> = known
        .of_lake(lake)
        .await?
        .into_iter()
        .map(|cluster| (cluster.name.clone(), Listed::of(cluster)))
        .collect();
    for (name, report) in known.controllers.listed(now) {
        let entry = listed
            .entry(name.clone())
            .or_insert_with(|| Listed::named(name));
        entry.controller = Some(report);
    }
    for ((name, node), report) in known.whisperers.listed(now) {
        let entry = listed
            .entry(name.clone())
            .or_insert_with(|| Listed::named(name));
        entry.whisperers.push(ListedWhisperer { node, report });
    }
    Ok(listed.into_values().collect())
}

/// `GET /api/clusters`.
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let clusters = listed(state.answers.lake(), &state.clusters).await?;
    Ok(Json(serde_json::json!({ "clusters": clusters })).into_response())
}

fn check_cluster(cluster: &str) -> Result<(), ApiError> {
    if is_cluster_name(cluster) {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "cluster {cluster:?}: {CLUSTER_NAME_RULE}"
    )))
}

/// Refuses a status that is not `cluster`'s or carries more than a status holds.
fn check(cluster: &str, status: &ControllerStatus) -> Result<(), ApiError> {
    check_cluster(cluster)?;
    if status.cluster != cluster {
        return Err(ApiError::bad_request(format!(
            "the report is of cluster {:?}, put at {cluster:?}",
            status.cluster
        )));
    }
    if status.objects.len() > MAX_KINDS {
        return Err(ApiError::bad_request(format!(
            "a status counts at most {MAX_KINDS} kinds"
        )));
    }
    let too_long = status
        .feed
        .iter()
        .chain(status.objects.keys())
        .any(|text| text.len() > MAX_TEXT);
    if too_long {
        return Err(ApiError::bad_request(format!(
            "a feed URL or kind is at most {MAX_TEXT} bytes"
        )));
    }
    Ok(())
}

/// `PUT /api/clusters/{cluster}/controller`: a controller's status (agent role).
pub async fn report(
    State(state): State<Arc<AppState>>,
    Path(cluster): Path<String>,
    body: Result<Json<ControllerStatus>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(status) = body.map_err(|e| ApiError::body(&e))?;
    check(&cluster, &status)?;
    state
        .clusters
        .controllers
        .report(cluster, status, now_micros());
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Refuses a Whisperer's status that lists more than one holds.
fn check_whisperer(cluster: &str, node: &str, status: &WhispererStatus) -> Result<(), ApiError> {
    check_cluster(cluster)?;
    check_name("node", node, MAX_NAME_BYTES).map_err(|e| ApiError::bad_request(e.to_string()))?;
    if status.interfaces.len() > MAX_LISTED || status.captures.len() > MAX_LISTED {
        return Err(ApiError::bad_request(format!(
            "a report lists at most {MAX_LISTED} interfaces and {MAX_LISTED} captures"
        )));
    }
    if status.interfaces.iter().any(|i| i.len() > MAX_INTERFACE) {
        return Err(ApiError::bad_request(format!(
            "an interface is at most {MAX_INTERFACE} bytes"
        )));
    }
    Ok(())
}

/// `PUT /api/clusters/{cluster}/whisperers/{node}`: a Whisperer's status (agent role).
pub async fn report_whisperer(
    State(state): State<Arc<AppState>>,
    Path((cluster, node)): Path<(String, String)>,
    body: Result<Json<WhispererStatus>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(status) = body.map_err(|e| ApiError::body(&e))?;
    check_whisperer(&cluster, &node, &status)?;
    state
        .clusters
        .whisperers
        .report((cluster, node), status, now_micros());
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(cluster: &str) -> ControllerStatus {
        ControllerStatus {
            cluster: cluster.to_owned(),
            ..ControllerStatus::default()
        }
    }

    #[test]
    fn reporters_are_bounded_the_longest_silent_let_go_and_forgotten_after_a_day() {
        let controllers = Clusters::default().controllers;
        for i in 0..MAX_CONTROLLERS {
            let name = format!("c{i}");
            controllers.report(name.clone(), status(&name), 0);
        }
        // A known cluster reports again; one more takes the place of one silent since 0.
        controllers.report("c7".into(), status("c7"), 10);
        controllers.report("one-more".into(), status("one-more"), 20);
        let all = controllers.listed(20);
        assert_eq!(all.len(), MAX_CONTROLLERS);
        assert!(all.contains_key("c7") && all.contains_key("one-more"));
        let later = FORGOTTEN_AFTER_MICROS + 5;
        assert_eq!(
            controllers.listed(later).keys().collect::<Vec<_>>(),
            ["c7", "one-more"]
        );
    }

    #[test]
    fn a_whisperers_report_is_bounded() {
        let fine = WhispererStatus {
            interfaces: vec!["eth0".into()],
            ..WhispererStatus::default()
        };
        assert!(check_whisperer("east", "node-1", &fine).is_ok());
        assert!(check_whisperer("East", "node-1", &fine).is_err());
        assert!(check_whisperer("east", "node/1", &fine).is_err());
        let many = WhispererStatus {
            captures: (0..=MAX_LISTED as u64).collect(),
            ..WhispererStatus::default()
        };
        assert!(check_whisperer("east", "node-1", &many).is_err());
    }

    #[test]
    fn a_report_is_of_its_own_cluster_and_small() {
        assert!(check("east", &status("east")).is_ok());
        assert!(check("east", &status("west")).is_err());
        assert!(check("East", &status("East")).is_err());
        let mut many = status("east");
        many.objects = (0..=MAX_KINDS).map(|i| (format!("K{i}"), 1)).collect();
        assert!(check("east", &many).is_err());
        let mut long = status("east");
        long.feed = Some("x".repeat(MAX_TEXT + 1));
        assert!(check("east", &long).is_err());
    }
}
