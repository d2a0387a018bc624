//! Read-only SQL: queries only — no DDL, DML (`INSERT`, `COPY`), `SET`, external tables or reads of
//! arbitrary paths (URL tables stay off).

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

/// Runs one read-only statement and collects its result.
pub async fn read_only(
    context: &SessionContext,
    sql: &str,
) -> Result<Vec<RecordBatch>, QueryError> {
    let options = SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false);
    let frame = context
        .sql_with_options(sql, options)
        .await
        .map_err(classify)?;
    frame.collect().await.map_err(classify)
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
