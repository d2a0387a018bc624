//! The common start of every query: a dataset, cut to a time range and a filter; and reading
//! result columns whatever Arrow string or integer type DataFusion chose for them.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Float64Type, Int64Type, UInt64Type,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::logical_expr::Expr;
use datafusion::prelude::SessionContext;

use crate::filter::{Fields, parse};
use crate::range::Scope;
use crate::sql::QueryError;

/// Turns a DataFusion error into a query failure, or a refusal when the query needed more
/// memory than the pool (`--max-query-memory`) had for it: a limit, not a fault.
pub fn failed(error: datafusion::error::DataFusionError) -> QueryError {
    match error.find_root() {
        datafusion::error::DataFusionError::ResourcesExhausted(_) => {
            QueryError::Refused(error.strip_backtrace())
        }
        _ => QueryError::Failed(error.strip_backtrace()),
    }
}

/// A failed listing of the lake as a query failure.
pub fn unlisted(error: datafusion::object_store::Error) -> QueryError {
    QueryError::Failed(format!("cannot list the lake: {error}"))
}

/// `dataset` in `scope` (its range on `time_column`), with the filter text applied when there is
/// one.
pub async fn filtered(
    context: &SessionContext,
    dataset: &str,
    time_column: &str,
    scope: Scope<'_>,
    filter: Option<&str>,
    fields: Fields,
) -> Result<DataFrame, QueryError> {
    let mut frame = context
        .table(dataset)
        .await
        .map_err(failed)?
        .filter(scope.to_expr(time_column))
        .map_err(failed)?;
    if let Some(text) = filter.filter(|t| !t.trim().is_empty()) {
        let expr: Expr = parse(text)
            .and_then(|f| f.to_expr(fields))
            .map_err(|e| QueryError::Refused(e.to_string()))?;
        frame = frame.filter(expr).map_err(failed)?;
    }
    Ok(frame)
}

/// `network_usage` in `scope` (on its bucket start), with the filter applied.
pub async fn usage(
    context: &SessionContext,
    scope: Scope<'_>,
    filter: Option<&str>,
) -> Result<DataFrame, QueryError> {
    filtered(
        context,
        "network_usage",
        "bucket_start",
        scope,
        filter,
        crate::fields::USAGE,
    )
    .await
}

/// A column as optional strings.
pub fn strings(column: &ArrayRef) -> Vec<Option<String>> {
    let column = cast(column, &DataType::Utf8).expect("any column casts to text");
    let column = column.as_string::<i32>();
    (0..column.len())
        .map(|i| column.is_valid(i).then(|| column.value(i).to_owned()))
        .collect()
}

/// A column of numbers of Arrow type `T` (nulls as 0).
fn numbers<T: ArrowPrimitiveType>(column: &ArrayRef) -> Vec<T::Native> {
    let column = cast(column, &T::DATA_TYPE).expect("numbers cast to numbers");
    let column = column.as_primitive::<T>();
    (0..column.len())
        .map(|i| {
            if column.is_valid(i) {
                column.value(i)
            } else {
                T::Native::default()
            }
        })
        .collect()
}

/// A column of real numbers, nulls kept.
pub fn floats(column: &ArrayRef) -> Vec<Option<f64>> {
    let column = cast(column, &DataType::Float64).expect("numbers cast to reals");
    let column = column.as_primitive::<Float64Type>();
    (0..column.len())
        .map(|i| column.is_valid(i).then(|| column.value(i)))
        .collect()
}

/// A column of counts (nulls as 0).
pub fn counts(column: &ArrayRef) -> Vec<u64> {
    numbers::<UInt64Type>(column)
}

/// A column of signed numbers, timestamps as their raw value (nulls as 0).
pub fn integers(column: &ArrayRef) -> Vec<i64> {
    numbers::<Int64Type>(column)
}

/// Groups `frame` and collects the result.
pub async fn aggregate(
    frame: DataFrame,
    group: Vec<Expr>,
    aggregates: Vec<Expr>,
) -> Result<Vec<RecordBatch>, QueryError> {
    frame
        .aggregate(group, aggregates)
        .map_err(failed)?
        .collect()
        .await
        .map_err(failed)
}
