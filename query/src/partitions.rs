//! A dataset read through only the partition directories its time range needs.
//!
//! DataFusion's listing table narrows its listing by leading partition equalities only: a range
//! on the `date` column lists every file of every day, then drops the names outside it. Over a
//! month-old lake in an object store that is thousands of listing requests for a one-hour map.
//! [`RangeScan`] reads the bounds on the dataset's time column that every query carries, and
//! scans the directories that can hold them ([`covering`]: the hours of a range of up to six,
//! else the days it touches, at most [`MAX_SPANS`]) in each cluster the query reads (the one its
//! `cluster = '…'` names, else every cluster the dataset has, one listing), listed at once, as
//! one union. A query without both bounds, or over more days or clusters, reads the whole
//! dataset as before.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::ScalarValue;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{Between, BinaryExpr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::union::UnionExec;
use datafusion::prelude::{Expr, col, lit};
use futures::future::try_join_all;
use spider_lake::Lake;
use spider_records::Timestamp;
use spider_records::catalog::{PARTITION_COLUMNS, PartitionSpan, covering};

/// The most directories one scan is split into: each is a listing and a stream of files of its
/// own, so a wider union opens more files at once than the single scan it replaces. A longer
/// range lists the whole dataset.
pub(crate) const MAX_SPANS: usize = 8;

/// The most directories one scan is split into over all its clusters.
const MAX_SCANS: usize = 64;

/// A listing table scanned per partition directory of the query's time range.
#[derive(Debug)]
pub struct RangeScan {
    inner: Arc<ListingTable>,
    dataset: &'static str,
    time_column: &'static str,
    lake: Lake,
}

impl RangeScan {
    /// `inner`, the dataset `dataset` of `lake`, whose records are filed by the hour of
    /// `time_column`.
    pub fn new(
        inner: ListingTable,
        dataset: &'static str,
        time_column: &'static str,
        lake: Lake,
    ) -> Self {
        Self {
            inner: Arc::new(inner),
            dataset,
            time_column,
            lake,
        }
    }

    /// The clusters a query reads: the one its filters name, else every one the dataset has.
    async fn clusters(&self, fixed: &[(String, String)]) -> Result<Vec<String>> {
        let [cluster, ..] = PARTITION_COLUMNS;
        let named = fixed
            .iter()
            .find(|(column, _)| column == cluster)
            .map(|(_, name)| name.as_str());
        crate::file_set::clusters_of(&self.lake, self.dataset, named)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))
    }
}

#[async_trait]
impl TableProvider for RangeScan {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let spans = time_bounds(filters, self.time_column)
            .and_then(|(from, to)| covering(from, to, MAX_SPANS))
            .filter(|spans| !spans.is_empty());
        let Some(spans) = spans else {
            return self.inner.scan(state, projection, filters, limit).await;
        };
        let fixed = partition_equalities(filters);
        let clusters = self.clusters(&fixed).await?;
        if clusters.len() * spans.len() > MAX_SCANS {
            return self.inner.scan(state, projection, filters, limit).await;
        }
        let narrowed: Vec<Vec<Expr>> = clusters
            .iter()
            .flat_map(|cluster| spans.iter().map(move |span| (cluster, span)))
            .filter_map(|(cluster, span)| span_filters(cluster, span, &fixed))
            .map(|narrowing| filters.iter().cloned().chain(narrowing).collect())
            .collect();
        // Listed at once: in an object store each listing is a round trip.
        let plans = try_join_all(
            narrowed
                .iter()
                .map(|filters| self.inner.scan(state, projection, filters, limit)),
        )
        .await?;
        if plans.is_empty() {
            // No directory of the range agrees with the query's own partition equalities (or
            // the dataset has no cluster yet).
            return self.inner.scan(state, projection, filters, limit).await;
        }
        UnionExec::try_new(plans)
    }
}

/// The partition equalities the filters already hold (`date = '…'`: the optimizer writes a
/// one-day range so), by column.
fn partition_equalities(filters: &[Expr]) -> Vec<(String, String)> {
    filters
        .iter()
        .flat_map(split_conjunction)
        .filter_map(|conjunct| match conjunct {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) => match (left.as_ref(), right.as_ref()) {
                (Expr::Column(c), Expr::Literal(v, _)) | (Expr::Literal(v, _), Expr::Column(c))
                    if PARTITION_COLUMNS.contains(&c.name.as_str()) =>
                {
                    Some((c.name.clone(), v.try_as_str()??.to_owned()))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The partition equalities that name one directory of one cluster, for DataFusion to list by;
/// `None` when the query's own equalities exclude it. An equality the query holds already is not
/// repeated: two on one column, even equal, make DataFusion list the whole dataset.
fn span_filters(
    cluster: &str,
    span: &PartitionSpan,
    fixed: &[(String, String)],
) -> Option<Vec<Expr>> {
    let [cluster_column, date, hour] = PARTITION_COLUMNS;
    let mut wanted = vec![(cluster_column, cluster.to_owned())];
    match span {
        PartitionSpan::Day(day) => wanted.push((date, day.clone())),
        PartitionSpan::Hour(day, h) => {
            wanted.extend([(date, day.clone()), (hour, format!("{h:02}"))]);
        }
    }
    let mut filters = Vec::new();
    for (column, value) in wanted {
        let held: Vec<&String> = fixed
            .iter()
            .filter(|(c, _)| c == column)
            .map(|(_, v)| v)
            .collect();
        if held.iter().any(|v| **v != value) {
            return None;
        }
        if held.is_empty() {
            filters.push(col(column).eq(lit(value)));
        }
    }
    Some(filters)
}

/// `[from, to)` holding every time `column` may take under `filters`, when they bound it on both
/// sides; wider than the filters say is allowed, narrower never.
fn time_bounds(filters: &[Expr], column: &str) -> Option<(Timestamp, Timestamp)> {
    let is_column = |expr: &Expr| matches!(expr, Expr::Column(c) if c.name == column);
    let mut bounds: Vec<(Operator, Micros)> = Vec::new();
    for conjunct in filters.iter().flat_map(split_conjunction) {
        match conjunct {
            Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
                let (op, value) = match (left.as_ref(), right.as_ref()) {
                    (column, Expr::Literal(v, _)) if is_column(column) => (*op, v),
                    (Expr::Literal(v, _), column) if is_column(column) => match op.swap() {
                        Some(swapped) => (swapped, v),
                        None => continue,
                    },
                    _ => continue,
                };
                bounds.extend(Micros::of(value).map(|micros| (op, micros)));
            }
            Expr::Between(Between {
                expr,
                negated: false,
                low,
                high,
            }) if is_column(expr) => {
                if let (Expr::Literal(low, _), Expr::Literal(high, _)) =
                    (low.as_ref(), high.as_ref())
                    && let (Some(low), Some(high)) = (Micros::of(low), Micros::of(high))
                {
                    bounds.push((Operator::GtEq, low));
                    bounds.push((Operator::LtEq, high));
                }
            }
            _ => {}
        }
    }
    let lower = |op: Operator, value: Micros| match op {
        Operator::Gt | Operator::GtEq | Operator::Eq => Some(value.floor),
        _ => None,
    };
    let upper = |op: Operator, value: Micros| match op {
        Operator::Lt => Some(value.ceil),
        Operator::LtEq | Operator::Eq => Some(value.floor.saturating_add(1)),
        _ => None,
    };
    let from = bounds.iter().filter_map(|(op, v)| lower(*op, *v)).max()?;
    let to = bounds.iter().filter_map(|(op, v)| upper(*op, *v)).min()?;
    Some((Timestamp::from_micros(from), Timestamp::from_micros(to)))
}

/// A timestamp literal in microseconds, rounded down and up (nanoseconds may fall between).
#[derive(Debug, Clone, Copy)]
struct Micros {
    floor: i64,
    ceil: i64,
}

impl Micros {
    fn of(value: &ScalarValue) -> Option<Self> {
        let exact = |micros: Option<i64>| micros.map(|m| Self { floor: m, ceil: m });
        match value {
            ScalarValue::TimestampSecond(Some(s), _) => exact(s.checked_mul(1_000_000)),
            ScalarValue::TimestampMillisecond(Some(ms), _) => exact(ms.checked_mul(1_000)),
            ScalarValue::TimestampMicrosecond(Some(us), _) => exact(Some(*us)),
            ScalarValue::TimestampNanosecond(Some(ns), _) => Some(Self {
                floor: ns.div_euclid(1_000),
                ceil: ns.div_euclid(1_000) + i64::from(ns.rem_euclid(1_000) != 0),
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(micros: i64) -> Expr {
        lit(ScalarValue::TimestampMicrosecond(
            Some(micros),
            Some("UTC".into()),
        ))
    }

    #[test]
    fn both_bounds_are_read_from_the_conjuncts_and_the_tightest_wins() {
        let filters = [
            col("minute").gt_eq(at(100)).and(col("minute").lt(at(900))),
            col("minute").gt(at(300)),
            at(800).gt_eq(col("minute")),
            col("client_pod").eq(lit("a")),
        ];
        let (from, to) = time_bounds(&filters, "minute").unwrap();
        assert_eq!((from.as_micros(), to.as_micros()), (300, 801));
    }

    #[test]
    fn a_missing_bound_or_another_column_reads_the_whole_dataset() {
        assert!(time_bounds(&[col("minute").gt_eq(at(1))], "minute").is_none());
        assert!(
            time_bounds(
                &[col("other").gt_eq(at(1)), col("other").lt(at(2))],
                "minute"
            )
            .is_none()
        );
        // A disjunction bounds nothing by itself.
        let either = col("minute").gt_eq(at(1)).or(col("minute").lt(at(2)));
        assert!(time_bounds(&[either], "minute").is_none());
    }

    #[test]
    fn a_span_repeats_no_equality_the_query_holds_and_is_dropped_when_it_contradicts_one() {
        let day = PartitionSpan::Day("2026-11-22".into());
        let hour = PartitionSpan::Hour("2026-11-22".into(), 6);
        let held = partition_equalities(&[col("date")
            .eq(lit("2026-11-22"))
            .and(col("bytes").eq(lit(3)))]);
        assert_eq!(held, [("date".to_owned(), "2026-11-22".to_owned())]);
        assert_eq!(
            span_filters("a", &day, &held),
            Some(vec![col("cluster").eq(lit("a"))])
        );
        assert_eq!(
            span_filters("a", &hour, &held),
            Some(vec![col("cluster").eq(lit("a")), col("hour").eq(lit("06"))])
        );
        let other_day = partition_equalities(&[lit("2026-11-21").eq(col("date"))]);
        assert_eq!(span_filters("a", &hour, &other_day), None);
        assert_eq!(
            span_filters("a", &hour, &[]),
            Some(vec![
                col("cluster").eq(lit("a")),
                col("date").eq(lit("2026-11-22")),
                col("hour").eq(lit("06"))
            ])
        );
        let one_cluster = partition_equalities(&[col("cluster").eq(lit("b"))]);
        assert_eq!(span_filters("a", &day, &one_cluster), None);
        assert_eq!(
            span_filters("b", &day, &one_cluster),
            Some(vec![col("date").eq(lit("2026-11-22"))])
        );
    }

    #[test]
    fn nanoseconds_widen_the_range_and_between_counts() {
        let ns = |v: i64| lit(ScalarValue::TimestampNanosecond(Some(v), None));
        let filters = [col("t").gt(ns(1_500)), col("t").lt(ns(9_001))];
        let (from, to) = time_bounds(&filters, "t").unwrap();
        assert_eq!((from.as_micros(), to.as_micros()), (1, 10));
        let between = [col("t").between(at(5), at(7))];
        let (from, to) = time_bounds(&between, "t").unwrap();
        assert_eq!((from.as_micros(), to.as_micros()), (5, 8));
    }
}
