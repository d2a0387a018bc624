//! The capture request routes: start, list, stop, and the status node agents report.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::captures::{AgentStatus, CaptureRequest, CaptureState};
use super::{ApiError, AppState};

type Shared = State<Arc<AppState>>;

/// `GET /api/captures?state=active|stopped|expired`.
pub async fn list(
    State(state): Shared,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let wanted = match query.get("state") {
        None => None,
        Some(name) => Some(CaptureState::parse(name).ok_or_else(|| {
            ApiError::bad_request(format!("state {name:?} is not active, stopped or expired"))
        })?),
    };
    Ok(Json(state.captures.list(wanted)).into_response())
}

/// `POST /api/captures`.
pub async fn create(
    State(state): Shared,
    body: Result<Json<CaptureRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(input) = body.map_err(|e| ApiError::body(&e))?;
    match state.captures.create(input) {
        Ok(capture) => {
            tracing::info!(id = capture.id, workload = ?capture.workload, expires = capture.expires, "capture requested");
            Ok((StatusCode::CREATED, Json(capture)).into_response())
        }
        Err(refused) => Err(refused.into()),
    }
}

/// `GET /api/captures/{id}`.
pub async fn one(State(state): Shared, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = ApiError::parse_id(&id, "capture")?;
    state
        .captures
        .get(id)
        .map(|capture| Json(capture).into_response())
        .ok_or_else(|| ApiError::not_found(format!("no capture {id}")))
}

/// `POST /api/captures/{id}/stop`.
pub async fn stop(State(state): Shared, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = ApiError::parse_id(&id, "capture")?;
    match state
        .captures
        .stop(id)
        .map_err(|e| ApiError::internal(e.to_string()))?
    {
        Some(capture) => Ok(Json(capture).into_response()),
        None => Err(ApiError::not_found(format!("no capture {id}"))),
    }
}

/// `PUT /api/captures/{id}/agents/{node}[?cluster=NAME]`: a node agent's status.
pub async fn report(
    State(state): Shared,
    Path((id, node)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    body: Result<Json<AgentStatus>, JsonRejection>,
) -> Result<Response, ApiError> {
    let id = ApiError::parse_id(&id, "capture")?;
    let Json(status) = body.map_err(|e| ApiError::body(&e))?;
    let cluster = query.get("cluster").map(String::as_str);
    match state.captures.report(id, cluster, &node, status)? {
        Some(()) => Ok(StatusCode::NO_CONTENT.into_response()),
        None => Err(ApiError::not_found(format!("no capture {id}"))),
    }
}
