//! The timeline: bytes and messages per step over a range, the step chosen from the range so
//! the histogram has about a hundred bars.

use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::dataframe::DataFrame;
use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::col;
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::frame::{aggregate, counts, failed, integers, usage};
use crate::range::{Scope, TimeRange};
use crate::rollup::{FIVE_MINUTE_SECONDS, FIVE_MINUTES};
use crate::sql::QueryError;

/// Steps a timeline uses, in seconds.
pub const STEPS: [i64; 12] = [
    60,
    300,
    900,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
    7 * 86_400,
    30 * 86_400,
    365 * 86_400,
];

/// The smallest step giving at most ~120 bars over `range`.
pub fn step_for(range: TimeRange) -> i64 {
    let wanted = (range.seconds() + 119) / 120;
    STEPS
        .iter()
        .copied()
        .find(|step| *step >= wanted)
        .unwrap_or(365 * 86_400)
}

/// One bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Bar {
    /// Start of the step, microseconds since the epoch.
    pub time: i64,
    /// Bytes both ways.
    pub bytes: u64,
    /// Messages both ways.
    pub messages: u64,
}

/// The answer to a timeline query.
#[derive(Debug, Clone, Serialize)]
pub struct Timeline {
    /// Step, seconds.
    pub step_seconds: i64,
    /// Every step of the range, empty ones included.
    pub bars: Vec<Bar>,
}

/// The most bars one answer holds (the steps are allocated before the data is read).
pub const MAX_STEPS: i64 = 10_000;

/// Answers a timeline query; `step` (seconds) must be one of [`STEPS`] when given.
pub async fn timeline(
    context: &SessionContext,
    scope: Scope<'_>,
    filter: Option<&str>,
    step: Option<i64>,
) -> Result<Timeline, QueryError> {
    let step = match step {
        Some(step) if STEPS.contains(&step) => step,
        Some(step) => {
            return Err(QueryError::Refused(format!(
                "step {step} is not one of {STEPS:?} seconds"
            )));
        }
        None => step_for(scope.range),
    };
    // An unfiltered timeline whose bars are whole five-minute buckets reads the whole hours of
    // its range from the five-minute rollups (exact, as the map's hourly ones are).
    let unfiltered = filter.is_none_or(|text| text.trim().is_empty());
    let rolled_up = match crate::datasets::lake_of(context) {
        Some(lake) if unfiltered && step % FIVE_MINUTE_SECONDS == 0 => {
            crate::rollup::rows(context, &lake, FIVE_MINUTES, scope).await?
        }
        _ => None,
    };
    let frame = match rolled_up {
        Some(frame) => frame,
        None => usage(context, scope, filter).await?,
    };
    histogram(context, frame, scope.range, step).await
}

/// Bytes and messages of the usage records in `frame` per `step` seconds over `range`.
pub async fn histogram(
    context: &SessionContext,
    frame: DataFrame,
    range: TimeRange,
    step: i64,
) -> Result<Timeline, QueryError> {
    let bin = context
        .parse_sql_expr(&format!("date_bin(INTERVAL '{step} seconds', bucket_start, TIMESTAMP '1970-01-01T00:00:00Z')"), frame.schema())
        .map_err(failed)?;
    let batches = aggregate(
        frame,
        vec![bin.alias("t")],
        vec![
            sum(col("bytes_to_server") + col("bytes_to_client")).alias("bytes"),
            sum(col("messages_to_server") + col("messages_to_client")).alias("messages"),
        ],
    )
    .await?;
    let step_micros = step * 1_000_000;
    let first = range.from.div_euclid(step_micros) * step_micros;
    let steps = (range.to - first + step_micros - 1) / step_micros;
    if steps > MAX_STEPS {
        return Err(QueryError::Refused(format!(
            "the range holds {steps} steps of {step} s; at most {MAX_STEPS}: choose a larger step or a shorter range"
        )));
    }
    let mut bars: Vec<Bar> = (first..range.to)
        .step_by(step_micros as usize)
        .map(|time| Bar {
            time,
            bytes: 0,
            messages: 0,
        })
        .collect();
    for batch in &batches {
        // date_bin answers in nanoseconds whatever the input's unit.
        let micros = cast(
            batch.column(0),
            &DataType::Timestamp(TimeUnit::Microsecond, None),
        )
        .map_err(|e| QueryError::Failed(e.to_string()))?;
        let (times, bytes, messages) = (
            integers(&micros),
            counts(batch.column(1)),
            counts(batch.column(2)),
        );
        for row in 0..batch.num_rows() {
            let index = ((times[row] - first) / step_micros) as usize;
            if let Some(bar) = bars.get_mut(index) {
                bar.bytes += bytes[row];
                bar.messages += messages[row];
            }
        }
    }
    Ok(Timeline {
        step_seconds: step,
        bars,
    })
}
