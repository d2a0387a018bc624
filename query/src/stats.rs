//! Stats: the top groups of a dataset by a measure (top talkers by workload, ports by bytes, …).

use datafusion::arrow::array::ArrayRef;
use datafusion::functions_aggregate::expr_fn::{avg, count, percentile_cont, sum};
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::fields::Dataset;
use crate::frame::{aggregate, counts, filtered, floats, strings};
use crate::range::Scope;
use crate::sql::QueryError;

/// What groups are measured by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Bytes both ways.
    Bytes,
    /// Messages both ways.
    Messages,
    /// Packets both ways.
    Packets,
    /// Rows (one-minute flow records, sessions, HTTP exchanges, packets).
    Records,
    /// Mean HTTP latency (request to response), microseconds.
    LatencyAvg,
    /// Median HTTP latency, microseconds (exact, interpolated like DuckDB's `quantile_cont`).
    LatencyP50,
    /// 90th percentile HTTP latency, microseconds.
    LatencyP90,
    /// 99th percentile HTTP latency, microseconds.
    LatencyP99,
}

impl Measure {
    /// Every measure, by its API name.
    pub const NAMES: &str =
        "bytes, messages, packets, records, latency_avg, latency_p50, latency_p90, latency_p99";

    /// A count that adds up across groups (the total is the sum of the groups), unlike a latency.
    fn additive(self) -> bool {
        matches!(
            self,
            Measure::Bytes | Measure::Messages | Measure::Packets | Measure::Records
        )
    }

    fn expr(self) -> Expr {
        let latency = || col("latency_us").sort(true, false);
        match self {
            Measure::Bytes => sum(col("bytes_to_server") + col("bytes_to_client")),
            Measure::Messages => sum(col("messages_to_server") + col("messages_to_client")),
            Measure::Packets => sum(col("packets_to_server") + col("packets_to_client")),
            Measure::Records => count(lit(1)),
            Measure::LatencyAvg => avg(col("latency_us")),
            Measure::LatencyP50 => percentile_cont(latency(), lit(0.5)),
            Measure::LatencyP90 => percentile_cont(latency(), lit(0.9)),
            Measure::LatencyP99 => percentile_cont(latency(), lit(0.99)),
        }
    }

    /// The columns a measure reads; `Records` needs none.
    fn columns(self) -> &'static [&'static str] {
        match self {
            Measure::Bytes => &["bytes_to_server", "bytes_to_client"],
            Measure::Messages => &["messages_to_server", "messages_to_client"],
            Measure::Packets => &["packets_to_server", "packets_to_client"],
            Measure::Records => &[],
            Measure::LatencyAvg
            | Measure::LatencyP50
            | Measure::LatencyP90
            | Measure::LatencyP99 => &["latency_us"],
        }
    }

    /// The measure's values in a result column: counts exactly, latencies rounded to the
    /// microsecond (`None` when a group has no latency at all).
    fn values(self, column: &ArrayRef) -> Vec<Option<u64>> {
        if self.additive() {
            counts(column).into_iter().map(Some).collect()
        } else {
            floats(column)
                .into_iter()
                .map(|value| value.map(|v| v.round() as u64))
                .collect()
        }
    }
}

/// One group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// The group's value (`null` when unknown).
    pub key: Option<String>,
    /// Its measure (`null` for a latency of a group without any).
    pub value: Option<u64>,
}

/// The answer to a stats query.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Groups, largest first.
    pub groups: Vec<Group>,
    /// The measure over everything in range, groups beyond the top included.
    pub total: Option<u64>,
}

/// Answers a stats query on `dataset`, grouping by one of its one-column fields.
pub async fn stats(
    context: &SessionContext,
    dataset: Dataset,
    scope: Scope<'_>,
    filter: Option<&str>,
    group_by: &str,
    measure: Measure,
    top: usize,
) -> Result<Stats, QueryError> {
    let key = match dataset.fields.iter().find(|(name, _, _)| *name == group_by) {
        Some((_, column, _)) => column.single().ok_or_else(|| {
            QueryError::Refused(format!(
                "{group_by:?} spans both ends: group by src.{group_by} or dst.{group_by}"
            ))
        })?,
        None => return Err(QueryError::Refused(format!("unknown group {group_by:?}"))),
    };
    let frame = filtered(
        context,
        dataset.name,
        dataset.time_column,
        scope,
        filter,
        dataset.fields,
    )
    .await?;
    let schema = frame.schema();
    if let Some(missing) = measure
        .columns()
        .iter()
        .find(|column| schema.field_with_unqualified_name(column).is_err())
    {
        return Err(QueryError::Refused(format!(
            "{} has no {missing} to measure {measure:?} by; records is always there",
            dataset.name
        )));
    }
    let total = if measure.additive() {
        None
    } else {
        let overall = aggregate(frame.clone(), vec![], vec![measure.expr()]).await?;
        overall
            .first()
            .filter(|batch| batch.num_rows() > 0)
            .and_then(|batch| measure.values(batch.column(0))[0])
    };
    let grouped = aggregate(
        frame,
        vec![key.alias("key")],
        vec![measure.expr().alias("value")],
    )
    .await?;
    let mut groups: Vec<Group> = Vec::new();
    for batch in &grouped {
        let (keys, values) = (strings(batch.column(0)), measure.values(batch.column(1)));
        groups.extend(
            keys.into_iter()
                .zip(values)
                .map(|(key, value)| Group { key, value }),
        );
    }
    let total = match measure.additive() {
        true => Some(groups.iter().filter_map(|g| g.value).sum()),
        false => total,
    };
    groups.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.key.cmp(&b.key)));
    groups.truncate(top);
    Ok(Stats { groups, total })
}
