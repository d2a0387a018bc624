//! `GET /api/anomalies`: new edges, excessive DNS and excessive external traffic in range,
//! against each client's own past (`spider_query::anomalies`), every threshold a parameter.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use serde_json::Value;
use spider_collector::config::parse_duration;
use spider_query::anomalies::{AnomalyKind, Thresholds, anomalies};
use spider_query::range::{Scope, TimeRange};
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
                serde_json::from_value::<AnomalyKind>(Value::String(kind.trim().to_owned()))
                    .map_err(|_| {
                        ApiError::bad_request(format!(
                            "kind {kind:?} is not one of {}",
                            AnomalyKind::NAMES
                        ))
                    })
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
    // The answer is kept under the files of everything it reads: the baseline and the day
    // before the range too.
    let read_back = (thresholds.baseline.as_micros() as i64).saturating_add(86_400_000_000);
    let reads = Scope {
        range: TimeRange {
            from: scope.range.from.saturating_sub(read_back).max(0),
            to: scope.range.to,
        },
        ..scope
    };
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
