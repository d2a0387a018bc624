//! One SQL statement in a worker process, so that no statement can take the query service down.
//!
//! DataFusion's memory pool sees only the operators that ask it. A string concatenated with itself
//! through a chain of CTEs, a huge array or a deep plan is allocated outside it, and a Rust
//! process whose allocation fails aborts. The service therefore runs each statement of
//! `POST /api/sql` in a child process (`spider sql-worker`) held by the kernel to a memory bound
//! (`RLIMIT_DATA`) and by the service to a deadline: such a statement ends its worker, and the
//! client gets a 400 that names the limit.
//!
//! The protocol is private to the two ends here: the service writes one JSON [`Job`] on the
//! worker's stdin and closes it; the worker writes the response body on stdout and exits 0, or a
//! message and exits [`REFUSED`] or [`FAILED`].

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use spider_query::LakeConfig;
use spider_query::grid::json_rows;
use spider_query::sql::{MAX_SQL_BYTES, QueryError, SqlLimits, read_only_within, refuse_too_long};

/// The largest response body a statement may produce; a bigger one is refused.
pub const MAX_RESULT_BYTES: usize = 64 << 20;

/// Exit status of a worker whose statement was refused (the message is on stdout).
const REFUSED: u8 = 3;
/// Exit status of a worker whose statement failed (the message is on stdout).
const FAILED: u8 = 4;

/// Time a worker may take beyond the statement's own limit: to start, open the datasets and
/// write its answer.
const GRACE: Duration = Duration::from_secs(10);

/// What the service asks of a worker.
#[derive(Debug, Serialize, Deserialize)]
struct Job {
    lake: LakeConfig,
    query: String,
    max_rows: usize,
    max_time_ms: u64,
    max_memory: usize,
}

/// The command that runs one statement: `spider sql-worker` for the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlWorker {
    /// The program (the running `spider` binary).
    pub program: PathBuf,
    /// Its arguments before the job is written on its stdin.
    pub args: Vec<String>,
}

impl SqlWorker {
    /// Runs `query` over the datasets of `lake` in a worker held to `limits`, and returns the
    /// response body (`{"columns": […], "rows": […]}`).
    pub async fn answer(
        &self,
        lake: &LakeConfig,
        query: &str,
        limits: SqlLimits,
    ) -> Result<Vec<u8>, QueryError> {
        refuse_too_long(query)?;
        let job = serde_json::to_vec(&Job {
            lake: lake.clone(),
            query: query.to_owned(),
            max_rows: limits.max_rows,
            max_time_ms: u64::try_from(limits.max_time.as_millis()).unwrap_or(u64::MAX),
            max_memory: limits.max_memory,
        })
        .map_err(|e| QueryError::Failed(e.to_string()))?;
        // The worker's stderr is the service's: an abort's message lands in the service log.
        // Dropping the child (a request given up, a client gone) kills it.
        let mut child = tokio::process::Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                QueryError::Failed(format!(
                    "cannot start the SQL worker {}: {e}",
                    self.program.display()
                ))
            })?;
        let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(QueryError::Failed("the SQL worker has no pipes".into()));
        };
        stdin
            .write_all(&job)
            .await
            .map_err(|e| QueryError::Failed(format!("cannot hand the SQL worker its job: {e}")))?;
        drop(stdin);
        let deadline = limits.max_time.saturating_add(GRACE);
        let mut body = Vec::new();
        let cap = u64::try_from(MAX_RESULT_BYTES).unwrap_or(u64::MAX) + 1;
        let read = tokio::time::timeout(deadline, stdout.take(cap).read_to_end(&mut body)).await;
        let timed_out = || {
            QueryError::Refused(format!(
                "the query ran longer than {} s (the service's limit) and was cancelled",
                limits.max_time.as_secs()
            ))
        };
        match read {
            Err(_) => return Err(timed_out()),
            Ok(Err(error)) => {
                return Err(QueryError::Failed(format!(
                    "cannot read the SQL worker's answer: {error}"
                )));
            }
            Ok(Ok(_)) if body.len() > MAX_RESULT_BYTES => {
                return Err(QueryError::Refused(format!(
                    "the result is larger than {} MiB (the service's limit): select fewer \
                     columns or rows, or aggregate",
                    MAX_RESULT_BYTES >> 20
                )));
            }
            Ok(Ok(_)) => {}
        }
        // Its answer is written: a worker that does not end now is stuck, and is killed.
        let status = tokio::time::timeout(GRACE, child.wait())
            .await
            .map_err(|_| timed_out())?
            .map_err(|e| QueryError::Failed(format!("cannot wait for the SQL worker: {e}")))?;
        let message = || String::from_utf8_lossy(&body).trim().to_owned();
        match status.code().and_then(|code| u8::try_from(code).ok()) {
            Some(0) => Ok(body),
            Some(REFUSED) => Err(QueryError::Refused(message())),
            Some(FAILED) => Err(QueryError::Failed(message())),
            _ => Err(ended(status, limits.max_memory)),
        }
    }
}

/// Why a worker that did not answer ended: an abort or a kill is a bound (a failed allocation
/// and a stack overflow abort; the OOM killer kills), anything else the worker's own fault.
fn ended(status: std::process::ExitStatus, max_memory: usize) -> QueryError {
    use std::os::unix::process::ExitStatusExt;
    const SIGABRT: i32 = 6;
    const SIGKILL: i32 = 9;
    match status.signal() {
        Some(SIGABRT | SIGKILL) => QueryError::Refused(format!(
            "the query needed more than {} MiB of memory (the service's limit for one statement), \
             or a deeper stack than a statement has, and was stopped",
            max_memory >> 20
        )),
        _ => QueryError::Failed(format!("the SQL worker ended with {status}")),
    }
}

/// The response body of a statement's result: its column names and rows.
pub fn response_body(batches: &[RecordBatch]) -> Result<Value, QueryError> {
    let columns: Vec<String> = batches
        .first()
        .map(|b| {
            b.schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({"columns": columns, "rows": json_rows(batches)?}))
}

/// The worker's side: reads one job from stdin, bounds its own memory, answers on stdout, and
/// returns the exit status.
pub fn answer_one() -> u8 {
    let (status, text) = match run_job() {
        Ok(body) => (0, body),
        Err(QueryError::Refused(message)) => (REFUSED, message.into_bytes()),
        Err(QueryError::Failed(message)) => (FAILED, message.into_bytes()),
    };
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(&text).and_then(|()| stdout.flush()) {
        Ok(()) => status,
        Err(_) => FAILED,
    }
}

fn run_job() -> Result<Vec<u8>, QueryError> {
    let failed = |what: &str, e: &dyn std::fmt::Display| QueryError::Failed(format!("{what}: {e}"));
    let mut input = Vec::new();
    // The job is a statement of at most MAX_SQL_BYTES (escaped in JSON) and a few numbers.
    let bound = u64::try_from(MAX_SQL_BYTES * 8 + 64 * 1024).unwrap_or(u64::MAX);
    std::io::stdin()
        .take(bound)
        .read_to_end(&mut input)
        .map_err(|e| failed("cannot read the job", &e))?;
    let job: Job = serde_json::from_slice(&input).map_err(|e| failed("not a job", &e))?;
    let bytes = u64::try_from(job.max_memory).unwrap_or(u64::MAX);
    rustix::process::setrlimit(
        rustix::process::Resource::Data,
        rustix::process::Rlimit {
            current: Some(bytes),
            maximum: Some(bytes),
        },
    )
    .map_err(|e| failed("cannot bound the worker's memory", &e))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| failed("cannot start the worker's runtime", &e))?;
    runtime.block_on(async {
        // Half the bound for the operators DataFusion accounts for: they spill or refuse with a
        // message long before the kernel stops the worker.
        let cannot_open =
            |e: &dyn std::fmt::Display| failed(&format!("cannot open {}", job.lake.location), e);
        let lake = job.lake.open().map_err(|e| cannot_open(&e))?;
        let context = spider_query::open_lake(&lake, Some(job.max_memory / 2))
            .map_err(|e| cannot_open(&e))?;
        let limits = SqlLimits {
            max_rows: job.max_rows,
            max_time: Duration::from_millis(job.max_time_ms),
            max_memory: job.max_memory,
        };
        let batches = read_only_within(&context, &job.query, limits).await?;
        let body = response_body(&batches)?;
        serde_json::to_vec(&body).map_err(|e| failed("cannot write the answer", &e))
    })
}
