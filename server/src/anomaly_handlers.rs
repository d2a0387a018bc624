//! `GET /api/anomalies`: new edges, excessive DNS and excessive external traffic in range,
//! against each client's own past (`spider_query::anomalies`), every threshold a parameter.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use spider_collector::config::parse_duration;
use spider_query::anomalies::{AnomalyKind, Thresholds, anomalies};
use spider_records::RecordKind;

use super::params::Params;
use super::{ApiError, AppState};

/// `GET /api/anomalies?from&to[&cluster][&filter][&kind=new_edge,excessive_dns,…][&baseline=168h]
/// [&dns_floor][&dns_factor][&external_floor][&external_factor]`.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let params = Params(query);
    let scope = params.scope()?;
    let kinds = match params.text("kind") {
        None => Vec::new(),
        Some(text) => text
            .split(',')
            .map(|kind| {
                kind.trim()
                    .parse::<AnomalyKind>()
                    .map_err(|e| ApiError::bad_request(format!("parameter kind: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let defaults = Thresholds::default();
    let thresholds = Thresholds {
        baseline: match params.text("baseline") {
            None => defaults.baseline,
            Some(text) => parse_duration(text)
                .map_err(|e| ApiError::bad_request(format!("parameter baseline: {e}")))?,
        },
        dns_floor: params.parsed("dns_floor", defaults.dns_floor)?,
        dns_factor: params.parsed("dns_factor", defaults.dns_factor)?,
        external_floor: params.parsed("external_floor", defaults.external_floor)?,
        external_factor: params.parsed("external_factor", defaults.external_factor)?,
    };
    thresholds.check()?;
    // The answer is kept under the files of everything it reads, the past it compares with too.
    let reads = spider_query::anomalies::reads(scope, thresholds);
    let filter = params.text("filter");
    let answer = async { Ok(anomalies(&state.context, scope, filter, &kinds, thresholds).await?) };
    state
        .answers
        .answer(
            params.request("anomalies"),
            reads,
            &[RecordKind::NetworkUsage],
            answer,
        )
        .await
}
