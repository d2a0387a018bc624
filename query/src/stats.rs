//! Stats: the top groups of a dataset by a measure (top talkers by workload, ports by bytes, …).

use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::fields::Dataset;
use crate::filter::Column;
use crate::frame::{aggregate, counts, filtered, strings};
use crate::range::TimeRange;
use crate::sql::QueryError;

/// What is added up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Bytes both ways.
    Bytes,
    /// Messages both ways.
    Messages,
    /// Packets both ways.
    Packets,
    /// Rows (one-minute flow records).
    Records,
}

/// One group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Group {
    /// The group's value (`null` when unknown).
    pub key: Option<String>,
    /// Its measure.
    pub value: u64,
}

/// The answer to a stats query.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Groups, largest first.
    pub groups: Vec<Group>,
    /// The measure over everything in range, groups beyond the top included.
    pub total: u64,
}

fn measure_expr(measure: Measure) -> Expr {
    match measure {
        Measure::Bytes => sum(col("bytes_to_server") + col("bytes_to_client")),
        Measure::Messages => sum(col("messages_to_server") + col("messages_to_client")),
        Measure::Packets => sum(col("packets_to_server") + col("packets_to_client")),
        Measure::Records => count(lit(1)),
    }
}

/// The columns a measure adds up; `Records` needs none.
fn measure_columns(measure: Measure) -> &'static [&'static str] {
    match measure {
        Measure::Bytes => &["bytes_to_server", "bytes_to_client"],
        Measure::Messages => &["messages_to_server", "messages_to_client"],
        Measure::Packets => &["packets_to_server", "packets_to_client"],
        Measure::Records => &[],
    }
}

/// Answers a stats query on `dataset`, grouping by one of its one-column fields.
pub async fn stats(
    context: &SessionContext,
    dataset: Dataset,
    range: TimeRange,
    filter: Option<&str>,
    group_by: &str,
    measure: Measure,
    top: usize,
) -> Result<Stats, QueryError> {
    let column = match dataset.fields.iter().find(|(name, _, _)| *name == group_by) {
        Some((_, Column::One(column), _)) => *column,
        Some(_) => {
            return Err(QueryError::Refused(format!(
                "{group_by:?} spans both ends: group by src.{group_by} or dst.{group_by}"
            )));
        }
        None => return Err(QueryError::Refused(format!("unknown group {group_by:?}"))),
    };
    let frame = filtered(
        context,
        dataset.name,
        dataset.time_column,
        range,
        filter,
        dataset.fields,
    )
    .await?;
    let schema = frame.schema();
    if let Some(missing) = measure_columns(measure)
        .iter()
        .find(|column| schema.field_with_unqualified_name(column).is_err())
    {
        return Err(QueryError::Refused(format!(
            "{} has no {missing} to measure {measure:?} by; records is always there",
            dataset.name
        )));
    }
    let grouped = aggregate(
        frame,
        vec![col(column).alias("key")],
        vec![measure_expr(measure).alias("value")],
    )
    .await?;
    let mut groups: Vec<Group> = Vec::new();
    for batch in &grouped {
        let (keys, values) = (strings(batch.column(0)), counts(batch.column(1)));
        groups.extend(
            keys.into_iter()
                .zip(values)
                .map(|(key, value)| Group { key, value }),
        );
    }
    let total = groups.iter().map(|g| g.value).sum();
    groups.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.key.cmp(&b.key)));
    groups.truncate(top);
    Ok(Stats { groups, total })
}
