//! Read-only SQL: queries only — no DDL, DML (`INSERT`, `COPY`), `SET`, external tables or reads of
//! arbitrary paths (URL tables stay off).

use std::time::Duration;

use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::SessionContext;

/// Why a query was not answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The statement is not a query, or not SQL DataFusion understands.
    #[error("{0}")]
    Refused(String),
    /// The query failed while running.
    #[error("{0}")]
    Failed(String),
}

/// What one statement of the query service may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqlLimits {
    /// Rows of a result; a statement that would return more is refused (it is cut off as soon
    /// as it has one more, so it never holds more).
    pub max_rows: usize,
    /// Time it may run; it is cancelled then.
    pub max_time: Duration,
}

impl Default for SqlLimits {
    fn default() -> Self {
        Self {
            max_rows: 100_000,
            max_time: Duration::from_secs(30),
        }
    }
}

/// Runs one read-only statement within `limits`; going over one is a refusal that names it.
pub async fn read_only_within(
    context: &SessionContext,
    sql: &str,
    limits: SqlLimits,
) -> Result<Vec<RecordBatch>, QueryError> {
    let frame = statement(context, sql).await?;
    let capped = frame
        .limit(0, Some(limits.max_rows + 1))
        .map_err(classify)?;
    let batches = tokio::time::timeout(limits.max_time, capped.collect())
        .await
        .map_err(|_| {
            QueryError::Refused(format!(
                "the query ran longer than {} s (the service's limit) and was cancelled",
                limits.max_time.as_secs()
            ))
        })?
        .map_err(classify)?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    if rows > limits.max_rows {
        return Err(QueryError::Refused(format!(
            "the result holds more than {} rows (the service's limit): add a LIMIT or aggregate",
            limits.max_rows
        )));
    }
    Ok(batches)
}

/// Runs one read-only statement and collects its whole result (the command line's `spider sql`).
pub async fn read_only(
    context: &SessionContext,
    sql: &str,
) -> Result<Vec<RecordBatch>, QueryError> {
    statement(context, sql)
        .await?
        .collect()
        .await
        .map_err(classify)
}

/// Plans one statement, refusing anything but a query.
async fn statement(
    context: &SessionContext,
    sql: &str,
) -> Result<datafusion::dataframe::DataFrame, QueryError> {
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    context
        .sql_with_options(sql, options)
        .await
        .map_err(classify)
}

/// A 400 for what the statement itself got wrong (a plan that cannot be made, a division by
/// zero, a bad cast, an out-of-range argument, more than the resources allowed), a 500 for the
/// rest (reading the files, internal errors).
pub fn classify(error: DataFusionError) -> QueryError {
    let from_the_statement = match error.find_root() {
        DataFusionError::ArrowError(arrow, _) => matches!(
            arrow.as_ref(),
            ArrowError::DivideByZero
                | ArrowError::CastError(_)
                | ArrowError::ComputeError(_)
                | ArrowError::InvalidArgumentError(_)
                | ArrowError::ParseError(_)
                | ArrowError::ArithmeticOverflow(_)
        ),
        DataFusionError::Plan(_)
        | DataFusionError::SQL(..)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_)
        | DataFusionError::Configuration(_)
        | DataFusionError::Execution(_)
        | DataFusionError::ResourcesExhausted(_) => true,
        _ => false,
    };
    if from_the_statement {
        QueryError::Refused(error.strip_backtrace())
    } else {
        QueryError::Failed(error.strip_backtrace())
    }
}
