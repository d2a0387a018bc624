//! The grid: rows of a dataset in a range, filtered, sorted and paged with an opaque cursor.

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::json::ArrayWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::logical_expr::col;
use datafusion::prelude::SessionContext;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::filter::Fields;
use crate::frame::{failed, filtered};
use crate::range::Scope;
use crate::sql::QueryError;

/// What to show and in which order.
#[derive(Debug, Clone)]
pub struct GridRequest<'a> {
    /// Column to sort on (default: the time column, newest first).
    pub sort: Option<&'a str>,
    /// Ascending.
    pub ascending: bool,
    /// Rows per page.
    pub limit: usize,
    /// Where the previous page ended.
    pub cursor: Option<&'a str>,
}

/// One page of rows.
#[derive(Debug, Clone, Serialize)]
pub struct GridPage {
    /// Rows as JSON objects (column → value).
    pub rows: Vec<Map<String, Value>>,
    /// Cursor of the next page, if there is one.
    pub next: Option<String>,
}

/// Cursors are the offset of the next row, in a form clients should not rely on.
fn decode(cursor: &str) -> Result<usize, QueryError> {
    cursor
        .strip_prefix("o")
        .and_then(|offset| offset.parse().ok())
        .ok_or_else(|| QueryError::Refused(format!("cursor {cursor:?} was not given by this API")))
}

fn encode(offset: usize) -> String {
    format!("o{offset}")
}

/// Answers a grid query on `dataset`, whose time column is `time_column`.
pub async fn grid(
    context: &SessionContext,
    dataset: &str,
    time_column: &str,
    fields: Fields,
    scope: Scope<'_>,
    filter: Option<&str>,
    request: GridRequest<'_>,
) -> Result<GridPage, QueryError> {
    let frame = filtered(context, dataset, time_column, scope, filter, fields).await?;
    // Raw bytes (a packet's frame) are for pcap downloads, not for a grid.
    let shown: Vec<String> = frame
        .schema()
        .fields()
        .iter()
        .filter(|field| !matches!(field.data_type(), DataType::Binary | DataType::LargeBinary))
        .map(|field| field.name().clone())
        .collect();
    let shown: Vec<&str> = shown.iter().map(String::as_str).collect();
    let frame = frame.select_columns(&shown).map_err(failed)?;
    let sort = request.sort.unwrap_or(time_column);
    if frame.schema().field_with_unqualified_name(sort).is_err() {
        return Err(QueryError::Refused(format!(
            "cannot sort {dataset} on {sort:?}: no such column"
        )));
    }
    let offset = request.cursor.map(decode).transpose()?.unwrap_or(0);
    let ascending = request.ascending;
    // The time column breaks ties, so pages follow each other without gaps or repeats.
    let order = vec![
        col(sort).sort(ascending, !ascending),
        col(time_column).sort(ascending, !ascending),
    ];
    let batches = frame
        .sort(order)
        .map_err(failed)?
        .limit(offset, Some(request.limit + 1))
        .map_err(failed)?
        .collect()
        .await
        .map_err(failed)?;
    let mut rows = json_rows(&batches)?;
    let next = (rows.len() > request.limit).then(|| encode(offset + request.limit));
    rows.truncate(request.limit);
    Ok(GridPage { rows, next })
}

/// Record batches as JSON objects. An integer a browser cannot hold exactly (beyond ±2^53, such
/// as a session id) is written as a string, so a page that reads it back links the right row.
pub fn json_rows(batches: &[RecordBatch]) -> Result<Vec<Map<String, Value>>, QueryError> {
    let mut writer = ArrayWriter::new(Vec::new());
    let refs: Vec<&RecordBatch> = batches.iter().collect();
    writer
        .write_batches(&refs)
        .map_err(|e| QueryError::Failed(e.to_string()))?;
    writer
        .finish()
        .map_err(|e| QueryError::Failed(e.to_string()))?;
    let bytes = writer.into_inner();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows: Vec<Map<String, Value>> =
        serde_json::from_slice(&bytes).map_err(|e| QueryError::Failed(e.to_string()))?;
    for value in rows.iter_mut().flat_map(|row| row.values_mut()) {
        if let Value::Number(number) = value
            && !fits_a_browser(number)
        {
            *value = Value::String(number.to_string());
        }
    }
    Ok(rows)
}

/// Whether a JSON number survives JavaScript's doubles: a float, or an integer within ±2^53.
fn fits_a_browser(number: &serde_json::Number) -> bool {
    const SAFE: u64 = (1 << 53) - 1;
    match (number.as_u64(), number.as_i64()) {
        (Some(unsigned), _) => unsigned <= SAFE,
        (None, Some(signed)) => signed.unsigned_abs() <= SAFE,
        (None, None) => true,
    }
}
