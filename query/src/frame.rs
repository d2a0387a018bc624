//! The common start of every query: a dataset, cut to a time range and a filter; and reading
//! result columns whatever Arrow string or integer type DataFusion chose for them.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Int64Type, UInt64Type};
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;

use crate::filter::{Fields, parse};
use crate::range::TimeRange;
use crate::sql::QueryError;

/// Turns a DataFusion error into a query failure.
pub fn failed(error: datafusion::error::DataFusionError) -> QueryError {
    QueryError::Failed(error.strip_backtrace())
}

/// `dataset` in `range` (on `time_column`), with the filter text applied when there is one.
pub async fn filtered(
    context: &SessionContext,
    dataset: &str,
    time_column: &str,
    range: TimeRange,
    filter: Option<&str>,
    fields: Fields,
) -> Result<DataFrame, QueryError> {
    let mut frame = context
        .table(dataset)
        .await
        .map_err(failed)?
        .filter(range.to_expr(time_column))
        .map_err(failed)?;
    if let Some(text) = filter.filter(|t| !t.trim().is_empty()) {
        let expr: Expr = parse(text)
            .and_then(|f| f.to_expr(fields))
            .map_err(|e| QueryError::Refused(e.to_string()))?;
        frame = frame.filter(expr).map_err(failed)?;
    }
    Ok(frame)
}

/// A column as optional strings.
pub fn strings(column: &ArrayRef) -> Vec<Option<String>> {
    let column = cast(column, &DataType::Utf8).expect("any column casts to text");
    let column = column.as_string::<i32>();
    (0..column.len())
        .map(|i| column.is_valid(i).then(|| column.value(i).to_owned()))
        .collect()
}

/// A column of counts (nulls as 0).
pub fn counts(column: &ArrayRef) -> Vec<u64> {
    let column = cast(column, &DataType::UInt64).expect("counts cast to u64");
    let column = column.as_primitive::<UInt64Type>();
    (0..column.len())
        .map(|i| {
            if column.is_valid(i) {
                column.value(i)
            } else {
                0
            }
        })
        .collect()
}

/// A column of signed numbers, timestamps as microseconds (nulls as 0).
pub fn integers(column: &ArrayRef) -> Vec<i64> {
    let column = cast(column, &DataType::Int64).expect("integers cast to i64");
    let column = column.as_primitive::<Int64Type>();
    (0..column.len())
        .map(|i| {
            if column.is_valid(i) {
                column.value(i)
            } else {
                0
            }
        })
        .collect()
}
