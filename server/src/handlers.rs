//! The route handlers: read parameters, call the query library, answer JSON.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::params::Params;
use super::saved::SavedQueryInput;
use super::{ApiError, AppState};
use spider_query::fields::{Dataset, dataset, datasets};
use spider_query::grid::GridRequest;
use spider_query::map::View;
use spider_query::stats::Measure;
use spider_records::RecordKind;
use spider_records::catalog::PARTITION_COLUMNS;

type Shared = State<Arc<AppState>>;
type QueryString = Query<HashMap<String, String>>;

/// `GET /api/health`.
pub async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

fn view(params: &Params) -> Result<View, ApiError> {
    match params.text("view").unwrap_or("logical") {
        "logical" => Ok(View::Logical),
        "physical" => Ok(View::Physical),
        "hosts" => Ok(View::Hosts),
        other => Err(ApiError::bad_request(format!(
            "view {other:?} is not logical, physical or hosts"
        ))),
    }
}

/// `GET /api/map`.
pub async fn map(State(state): Shared, Query(query): QueryString) -> Result<Response, ApiError> {
    let params = Params(query);
    let (view, scope) = (view(&params)?, params.scope()?);
    let offset = params.parsed("offset", 0usize)?;
    let limit = params.count("limit", 500, 10_000)?;
    let filter = params.text("filter");
    let answer = async {
        Ok(spider_query::map::map(&state.context, view, scope, filter, offset, limit).await?)
    };
    let reads = match view {
        View::Logical | View::Physical => RecordKind::NetworkUsage,
        View::Hosts => RecordKind::TcpSession,
    };
    state
        .answers
        .answer(params.request("map"), scope, &[reads], answer)
        .await
}

/// `GET /api/timeline`.
pub async fn timeline(
    State(state): Shared,
    Query(query): QueryString,
) -> Result<Response, ApiError> {
    let params = Params(query);
    let scope = params.scope()?;
    let step = params
        .text("step")
        .map(|_| params.parsed("step", 0i64))
        .transpose()?;
    let filter = params.text("filter");
    let answer =
        async { Ok(spider_query::timeline::timeline(&state.context, scope, filter, step).await?) };
    state
        .answers
        .answer(
            params.request("timeline"),
            scope,
            &[RecordKind::NetworkUsage],
            answer,
        )
        .await
}

/// The dataset a request names, or a 404 that lists the known ones.
fn known_dataset(name: &str) -> Result<Dataset, ApiError> {
    dataset(name).ok_or_else(|| {
        let known: Vec<&str> = datasets().map(|d| d.name).collect();
        ApiError::not_found(format!("no dataset {name:?} ({})", known.join(", ")))
    })
}

/// The filter fields of a dataset: name and kind (`text`, `number`, `address`).
fn field_list(dataset: &Dataset) -> Vec<Value> {
    dataset
        .fields
        .iter()
        .map(|(name, _, kind)| json!({"name": name, "kind": format!("{kind:?}").to_lowercase()}))
        .collect()
}

/// `GET /api/fields/{dataset}`: the filter fields of a dataset, for completion in the UI.
pub async fn fields(Path(dataset): Path<String>) -> Result<Response, ApiError> {
    let dataset = known_dataset(&dataset)?;
    Ok(Json(json!({"dataset": dataset.name, "fields": field_list(&dataset)})).into_response())
}

/// `GET /api/datasets`: the catalog — every dataset with its signal, time column, partition
/// columns and filter fields, so that clients need not hard-code them.
pub async fn datasets_catalog() -> Response {
    let listed: Vec<Value> = datasets()
        .map(|dataset| {
            json!({
                "name": dataset.name,
                "signal": dataset.kind.signal().as_str(),
                "time_column": dataset.time_column,
                "partitions": PARTITION_COLUMNS,
                "fields": field_list(&dataset),
            })
        })
        .collect();
    Json(json!({ "datasets": listed })).into_response()
}

/// `GET /api/grid/{dataset}`.
pub async fn grid(
    State(state): Shared,
    Path(dataset): Path<String>,
    Query(query): QueryString,
) -> Result<Response, ApiError> {
    let dataset = known_dataset(&dataset)?;
    let params = Params(query);
    let scope = params.scope()?;
    let ascending = match params.text("order").unwrap_or("desc") {
        "asc" => true,
        "desc" => false,
        other => {
            return Err(ApiError::bad_request(format!(
                "order {other:?} is not asc or desc"
            )));
        }
    };
    let request = GridRequest {
        sort: params.text("sort"),
        ascending,
        limit: params.count("limit", 100, 10_000)?,
        cursor: params.text("cursor"),
    };
    let filter = params.text("filter");
    let page = async {
        Ok(spider_query::grid::grid(
            &state.context,
            dataset.name,
            dataset.time_column,
            dataset.fields,
            scope,
            filter,
            request,
        )
        .await?)
    };
    let route = format!("grid/{}", dataset.name);
    state
        .answers
        .answer(params.request(&route), scope, &[dataset.kind], page)
        .await
}

/// `GET /api/sessions/{id}/pcap[?cluster=…]`: the session's stored packets as a pcap download.
pub async fn session_pcap(
    State(state): Shared,
    Path(id): Path<String>,
    Query(query): QueryString,
) -> Result<Response, ApiError> {
    let id = ApiError::parse_id(&id, "session")?;
    let cluster = Params(query).cluster()?.map(str::to_owned);
    let permit = download_permit(&state)?;
    let pcap =
        spider_query::pcap::session_pcap(&state.context, id, cluster.as_deref(), permit).await?;
    let Some(pcap) = pcap else {
        return Err(ApiError::not_found(format!("no packets of session {id}")));
    };
    Ok(pcap_download(&format!("session-{id}.pcap"), pcap))
}

/// A place among the pcap downloads streaming at once, or a 503.
fn download_permit(state: &AppState) -> Result<tokio::sync::OwnedSemaphorePermit, ApiError> {
    state.downloads.clone().try_acquire_owned().map_err(|_| {
        ApiError::unavailable("as many pcap downloads as the service allows are running: try again")
    })
}

/// A pcap file as a download called `name`, streamed.
fn pcap_download(name: &str, pcap: spider_query::pcap::PcapStream) -> Response {
    let headers = [
        (
            header::CONTENT_TYPE,
            "application/vnd.tcpdump.pcap".to_owned(),
        ),
        (
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ),
    ];
    (headers, axum::body::Body::from_stream(pcap)).into_response()
}

/// `GET /api/packets/pcap`: the packets a filter selects in a range, as a pcap download; at most
/// `limit`, the header `x-spider-packets-selected` says how many matched in all.
pub async fn packets_pcap(
    State(state): Shared,
    Query(query): QueryString,
) -> Result<Response, ApiError> {
    let params = Params(query);
    let scope = params.scope()?;
    let limit = params.count("limit", 100_000, 1_000_000)?;
    let permit = download_permit(&state)?;
    let Some((pcap, selected)) = spider_query::pcap::packets_pcap(
        &state.context,
        scope,
        params.text("filter"),
        limit,
        permit,
    )
    .await?
    else {
        return Err(ApiError::not_found("no stored packets match"));
    };
    let mut response = pcap_download("packets.pcap", pcap);
    response
        .headers_mut()
        .insert("x-spider-packets-selected", selected.into());
    Ok(response)
}

/// `GET /api/details?id=…`: a usage map leaf's pods, peers, ports and timeline.
pub async fn details(
    State(state): Shared,
    Query(query): QueryString,
) -> Result<Response, ApiError> {
    let params = Params(query);
    let id = params
        .text("id")
        .ok_or_else(|| ApiError::bad_request("parameter id (a logical map node id) is required"))?
        .to_owned();
    leaf_details(&state, &id, &params).await
}

/// `GET /api/workloads/{namespace}/{kind}/{name}`: [`details`] of a workload.
pub async fn workload(
    State(state): Shared,
    Path((namespace, kind, name)): Path<(String, String, String)>,
    Query(query): QueryString,
) -> Result<Response, ApiError> {
    let id = format!("w|{namespace}|{kind}|{name}");
    leaf_details(&state, &id, &Params(query)).await
}

async fn leaf_details(state: &AppState, id: &str, params: &Params) -> Result<Response, ApiError> {
    let scope = params.scope()?;
    let top = params.count("top", 50, 1000)?;
    let filter = params.text("filter");
    let details = async {
        spider_query::details::details(&state.context, id, scope, filter, top)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no traffic of {id:?} in range")))
    };
    let route = format!("details/{id}");
    state
        .answers
        .answer(
            params.request(&route),
            scope,
            &[RecordKind::NetworkUsage],
            details,
        )
        .await
}

/// `GET /api/stats`.
pub async fn stats(State(state): Shared, Query(query): QueryString) -> Result<Response, ApiError> {
    let params = Params(query);
    let scope = params.scope()?;
    let group_by = params
        .text("group_by")
        .ok_or_else(|| ApiError::bad_request("parameter group_by is required"))?;
    let measure: Measure = serde_json::from_value(Value::String(
        params.text("measure").unwrap_or("bytes").to_owned(),
    ))
    .map_err(|_| ApiError::bad_request(format!("measure is one of {}", Measure::NAMES)))?;
    let top = params.count("top", 10, 1000)?;
    let dataset = known_dataset(params.text("dataset").unwrap_or("network_usage"))?;
    let filter = params.text("filter");
    let answer = async {
        Ok(spider_query::stats::stats(
            &state.context,
            dataset,
            scope,
            filter,
            group_by,
            measure,
            top,
        )
        .await?)
    };
    state
        .answers
        .answer(params.request("stats"), scope, &[dataset.kind], answer)
        .await
}

/// The body of `POST /api/sql`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlBody {
    query: String,
}

/// `POST /api/sql`: read-only SQL.
pub async fn sql(
    State(state): Shared,
    body: Result<Json<SqlBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| ApiError::body(&e))?;
    let _slot = state.sql_slots.try_acquire().map_err(|_| {
        ApiError::unavailable("as many SQL statements as the service allows are running: try again")
    })?;
    if let Some((worker, data)) = &state.sql_worker {
        let answer = worker.answer(data, &body.query, state.sql_limits).await?;
        return Ok(([(header::CONTENT_TYPE, "application/json")], answer).into_response());
    }
    let batches =
        spider_query::sql::read_only_within(&state.context, &body.query, state.sql_limits).await?;
    Ok(Json(crate::worker::response_body(&batches)?).into_response())
}

/// `GET /api/queries`.
pub async fn list_saved(State(state): Shared) -> Response {
    Json(state.saved.list()).into_response()
}

fn saved_input(
    body: Result<Json<SavedQueryInput>, axum::extract::rejection::JsonRejection>,
) -> Result<SavedQueryInput, ApiError> {
    let Json(input) = body.map_err(|e| ApiError::body(&e))?;
    input.check().map_err(ApiError::bad_request)?;
    Ok(input)
}

/// `POST /api/queries`.
pub async fn create_saved(
    State(state): Shared,
    body: Result<Json<SavedQueryInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let created = state.saved.create(saved_input(body)?)?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

/// `PUT /api/queries/{id}`.
pub async fn update_saved(
    State(state): Shared,
    Path(id): Path<String>,
    body: Result<Json<SavedQueryInput>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let id = ApiError::parse_id(&id, "saved query")?;
    match state
        .saved
        .update(id, saved_input(body)?)
        .map_err(|e| ApiError::internal(e.to_string()))?
    {
        Some(updated) => Ok(Json(updated).into_response()),
        None => Err(ApiError::not_found(format!("no saved query {id}"))),
    }
}

/// `DELETE /api/queries/{id}`.
pub async fn delete_saved(
    State(state): Shared,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = ApiError::parse_id(&id, "saved query")?;
    if state
        .saved
        .delete(id)
        .map_err(|e| ApiError::internal(e.to_string()))?
    {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(format!("no saved query {id}")))
    }
}
