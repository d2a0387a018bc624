//! Read-only SQL: queries only — no DDL, DML (`INSERT`, `COPY`), `SET`, external tables or reads of
//! arbitrary paths (URL tables stay off).

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
        .map_err(|error| match error {
            DataFusionError::Execution(_) | DataFusionError::ResourcesExhausted(_) => {
                QueryError::Failed(error.to_string())
            }
            other => QueryError::Refused(other.strip_backtrace()),
        })?;
    frame
        .collect()
        .await
        .map_err(|error| QueryError::Failed(error.strip_backtrace()))
}
