//! The clusters: `GET /api/clusters` lists every cluster of the lake with its agents (read from
//! the lake's listings, [`spider_query::clusters`]) and its controller, which reports itself at
//! `PUT /api/clusters/{cluster}/controller`. Reports are kept in memory, bounded in number and
//! size: a controller reports every 15 s, so a restarted service knows them again that soon.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use spider_kube::feed::{ControllerStatus, MAX_KINDS};
use spider_query::Lake;
use spider_query::clusters::{AgentReport, clusters};
use spider_records::catalog::{CLUSTER_NAME_RULE, is_cluster_name};

use super::{ApiError, AppState};

/// The most controllers kept; a report of one more cluster is refused until others are
/// forgotten.
pub const MAX_CONTROLLERS: usize = 1_000;

/// A controller not heard from for this long is forgotten (its cluster stays listed while the
/// lake holds its data).
pub const FORGOTTEN_AFTER_MICROS: i64 = 24 * 3600 * 1_000_000;

/// The largest report body taken: a status is a few hundred bytes.
pub const MAX_REPORT_BYTES: usize = 16 * 1024;

/// The longest text a report may carry in one field (a URL, a kind).
const MAX_TEXT: usize = 2048;

/// The controllers' last reports, by cluster.
#[derive(Default)]
pub struct Controllers {
    reports: Mutex<BTreeMap<String, ControllerReport>>,
}

/// A controller as listed: its status, and when it last reported.
#[derive(Debug, Clone, Serialize)]
pub struct ControllerReport {
    /// What it said.
    #[serde(flatten)]
    pub status: ControllerStatus,
    /// When (microseconds since the epoch).
    pub reported: i64,
}

impl Controllers {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, ControllerReport>> {
        self.reports.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `status` as `cluster`'s controller at `now`.
    fn report(&self, cluster: &str, status: ControllerStatus, now: i64) -> Result<(), ApiError> {
        let mut reports = self.lock();
        reports.retain(|_, kept| now - kept.reported < FORGOTTEN_AFTER_MICROS);
        if !reports.contains_key(cluster) && reports.len() >= MAX_CONTROLLERS {
            return Err(ApiError::unavailable(format!(
                "{MAX_CONTROLLERS} controllers report already; one is forgotten a day after its last report"
            )));
        }
        reports.insert(
            cluster.to_owned(),
            ControllerReport {
                status,
                reported: now,
            },
        );
        Ok(())
    }

    /// Every controller heard from in the last day.
    fn listed(&self, now: i64) -> BTreeMap<String, ControllerReport> {
        let mut reports = self.lock().clone();
        reports.retain(|_, kept| now - kept.reported < FORGOTTEN_AFTER_MICROS);
        reports
    }
}

/// A cluster as `GET /api/clusters` answers it.
#[derive(Debug, Serialize)]
struct Listed {
    name: String,
    datasets: Vec<&'static str>,
    agents: Vec<AgentReport>,
    last_report: Option<i64>,
    controller: Option<ControllerReport>,
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// The lake's clusters with their agents, and every reporting controller's cluster.
async fn listed(lake: &Lake, controllers: &Controllers) -> Result<Vec<Listed>, ApiError> {
    let mut reports = controllers.listed(now_micros());
    let mut listed: Vec<Listed> = clusters(lake)
        .await?
        .into_iter()
        .map(|cluster| Listed {
            controller: reports.remove(&cluster.name),
            name: cluster.name,
            datasets: cluster.datasets,
            agents: cluster.agents,
            last_report: cluster.last_report,
        })
        .collect();
    // A cluster whose agents have written nothing yet is listed by its controller.
    listed.extend(reports.into_iter().map(|(name, report)| Listed {
        name,
        datasets: Vec::new(),
        agents: Vec::new(),
        last_report: None,
        controller: Some(report),
    }));
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(listed)
}

/// `GET /api/clusters`.
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let clusters = listed(state.answers.lake(), &state.controllers).await?;
    Ok(Json(serde_json::json!({ "clusters": clusters })).into_response())
}

/// Refuses a status that is not `cluster`'s or carries more than a status holds.
fn check(cluster: &str, status: &ControllerStatus) -> Result<(), ApiError> {
    if !is_cluster_name(cluster) {
        return Err(ApiError::bad_request(format!(
            "cluster {cluster:?}: {CLUSTER_NAME_RULE}"
        )));
    }
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
    let Json(status) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    check(&cluster, &status)?;
    state.controllers.report(&cluster, status, now_micros())?;
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
    fn controllers_are_bounded_and_forgotten_a_day_after_their_last_report() {
        let controllers = Controllers::default();
        for i in 0..MAX_CONTROLLERS {
            let name = format!("c{i}");
            controllers.report(&name, status(&name), 0).unwrap();
        }
        let refused = controllers.report("one-more", status("one-more"), 1);
        assert!(refused.is_err());
        // A known cluster still reports.
        controllers.report("c7", status("c7"), 10).unwrap();
        let later = FORGOTTEN_AFTER_MICROS + 5;
        assert_eq!(controllers.listed(later).keys().collect::<Vec<_>>(), ["c7"]);
        controllers
            .report("one-more", status("one-more"), later)
            .unwrap();
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
