//! Read-only SQL: queries only — no DDL, DML (`INSERT`, `COPY`), `SET`, external tables or reads of
//! arbitrary paths (URL tables stay off). What the query service runs for any client is held to
//! more: a length, and none of the functions whose output size an argument sets (`repeat('x',
//! 1e9)` is a gigabyte no memory pool sees).

use std::time::Duration;

use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::error::DataFusionError;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::{Expr, LogicalPlan};
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
    /// Memory it may take, bytes: the kernel's bound on the worker process that runs it (see
    /// the query service's SQL worker, `spider_server::worker`); half of it is DataFusion's memory pool there.
    pub max_memory: usize,
}

impl Default for SqlLimits {
    fn default() -> Self {
        Self {
            max_rows: 100_000,
            max_time: Duration::from_secs(30),
            max_memory: 768 << 20,
        }
    }
}

/// The longest statement the query service takes, in bytes: a literal is repeated once per row,
/// so its size multiplies.
pub const MAX_SQL_BYTES: usize = 16 * 1024;

/// Functions whose output size one of their arguments sets, beyond what the memory pool tracks:
/// refused in the query service's SQL (`spider sql` on the command line keeps them).
pub const UNBOUNDED_FUNCTIONS: [&str; 11] = [
    "repeat",
    "array_resize",
    "encode",
    "lpad",
    "rpad",
    "array_repeat",
    "range",
    "generate_series",
    "replace",
    "regexp_replace",
    "overlay",
];

/// Runs one read-only statement within `limits`; going over one is a refusal that names it.
pub async fn read_only_within(
    context: &SessionContext,
    sql: &str,
    limits: SqlLimits,
) -> Result<Vec<RecordBatch>, QueryError> {
    refuse_too_long(sql)?;
    let frame = statement(context, sql).await?;
    refuse_unbounded_functions(frame.logical_plan())?;
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

/// Refuses a statement longer than [`MAX_SQL_BYTES`].
pub fn refuse_too_long(sql: &str) -> Result<(), QueryError> {
    if sql.len() > MAX_SQL_BYTES {
        return Err(QueryError::Refused(format!(
            "the statement is longer than {MAX_SQL_BYTES} bytes (the service's limit)"
        )));
    }
    Ok(())
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

/// Refuses a plan that calls one of [`UNBOUNDED_FUNCTIONS`] anywhere, subqueries included
/// (`generate_series` in `FROM` is a table, bounded by the row cap, and stays allowed).
fn refuse_unbounded_functions(plan: &LogicalPlan) -> Result<(), QueryError> {
    let mut found = None;
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::ScalarFunction(call) = e
                    && UNBOUNDED_FUNCTIONS.contains(&call.name())
                {
                    found = Some(call.name().to_owned());
                    return Ok(TreeNodeRecursion::Stop);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })
    .map_err(classify)?;
    match found {
        Some(name) => Err(QueryError::Refused(format!(
            "{name}() is not available here: its output has no bound the service can hold it \
             to (`spider sql` on the command line has it)"
        ))),
        None => Ok(()),
    }
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
