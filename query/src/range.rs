//! What a query reads: a time range (parsed from RFC 3339 or Unix seconds, applied to a
//! dataset's time column and to its `date` partitions, so whole directories are skipped), of one
//! cluster (its `cluster` partitions) or of every cluster.

use chrono::DateTime;
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, col, lit};
use spider_records::Timestamp;
use spider_records::catalog::{PARTITION_COLUMNS, date_partition};

/// `[from, to)`, in microseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: i64,
    /// Exclusive end.
    pub to: i64,
}

/// The latest instant accepted, 9999-12-31T23:59:59Z, in Unix seconds; the earliest is the
/// epoch. Within them every difference and partition date is computed without overflow.
pub const MAX_INSTANT_SECONDS: i64 = 253_402_300_799;

/// A time range's instant or bounds that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Neither form of an instant.
    #[error("{0:?} is neither RFC 3339 (2026-11-21T05:00:00Z) nor Unix seconds")]
    Unreadable(String),
    /// Before 1970 or after 9999.
    #[error("{0:?} is outside 1970-01-01 … 9999-12-31 (0 … {MAX_INSTANT_SECONDS} Unix seconds)")]
    OutOfBounds(String),
    /// `to` is not after `from`.
    #[error("'to' must be after 'from'")]
    Empty,
}

/// Reads `2026-11-21T05:00:00Z` or `1795240800`, between 1970 and 9999.
pub fn parse_instant(text: &str) -> Result<i64, RangeError> {
    let micros = match text.parse::<i64>() {
        Ok(seconds) => seconds.checked_mul(1_000_000),
        Err(_) => Some(
            DateTime::parse_from_rfc3339(text)
                .map_err(|_| RangeError::Unreadable(text.to_owned()))?
                .timestamp_micros(),
        ),
    };
    match micros {
        Some(micros) if (0..=MAX_INSTANT_SECONDS * 1_000_000).contains(&micros) => Ok(micros),
        _ => Err(RangeError::OutOfBounds(text.to_owned())),
    }
}

impl TimeRange {
    /// A range from two instants; `to` must come after `from`.
    pub fn new(from: i64, to: i64) -> Result<Self, RangeError> {
        if to <= from {
            return Err(RangeError::Empty);
        }
        Ok(Self { from, to })
    }

    /// Length in seconds.
    pub fn seconds(&self) -> i64 {
        (self.to - self.from) / 1_000_000
    }

    fn timestamp(micros: i64) -> Expr {
        lit(ScalarValue::TimestampMicrosecond(
            Some(micros),
            Some("UTC".into()),
        ))
    }

    /// `time_column` in range, plus the `date` partitions that can hold it.
    pub fn to_expr(&self, time_column: &str) -> Expr {
        let date = |micros| lit(date_partition(Timestamp::from_micros(micros)));
        let [_, date_column, _] = PARTITION_COLUMNS;
        let partitions = col(date_column)
            .gt_eq(date(self.from))
            .and(col(date_column).lt_eq(date(self.to - 1)));
        col(time_column)
            .gt_eq(Self::timestamp(self.from))
            .and(col(time_column).lt(Self::timestamp(self.to)))
            .and(partitions)
    }
}

/// The partitions of `cluster` alone, when one is named: an equality the range scan lists that
/// cluster's directories by.
pub fn in_cluster(cluster: Option<&str>) -> Option<Expr> {
    let [cluster_column, ..] = PARTITION_COLUMNS;
    cluster.map(|name| col(cluster_column).eq(lit(name)))
}

/// A time range of one cluster, or of all: what every query is cut to before its filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    /// The time range.
    pub range: TimeRange,
    /// The cluster (a name [`spider_records::catalog::is_cluster_name`] accepts), or every one
    /// when `None`.
    pub cluster: Option<&'a str>,
}

impl<'a> Scope<'a> {
    /// `range` in every cluster.
    pub fn all(range: TimeRange) -> Self {
        Self {
            range,
            cluster: None,
        }
    }

    /// `range` in `cluster` only.
    pub fn of(range: TimeRange, cluster: &'a str) -> Self {
        Self {
            range,
            cluster: Some(cluster),
        }
    }

    /// The same, its range starting `micros` earlier (never before the epoch): what a query that
    /// compares with the past reads.
    pub fn reaching_back(self, micros: i64) -> Self {
        Self {
            range: TimeRange {
                from: self.range.from.saturating_sub(micros).max(0),
                to: self.range.to,
            },
            ..self
        }
    }

    /// `time_column` in range, in the cluster when one is named.
    pub fn to_expr(&self, time_column: &str) -> Expr {
        let in_range = self.range.to_expr(time_column);
        match in_cluster(self.cluster) {
            Some(cluster) => in_range.and(cluster),
            None => in_range,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_parse_both_ways() {
        assert_eq!(parse_instant("1795240800"), Ok(1_795_240_800_000_000));
        assert_eq!(
            parse_instant("2026-11-21T06:00:00Z"),
            Ok(1_795_240_800_000_000)
        );
        assert_eq!(
            parse_instant("2026-11-21T07:00:00+01:00"),
            Ok(1_795_240_800_000_000)
        );
        assert_eq!(
            parse_instant("yesterday"),
            Err(RangeError::Unreadable("yesterday".into()))
        );
        for outside in [
            "-1",
            "253402300800",
            "9223372036854775807",
            "0001-01-01T00:00:00Z",
        ] {
            assert_eq!(
                parse_instant(outside),
                Err(RangeError::OutOfBounds(outside.into()))
            );
        }
        assert_eq!(parse_instant("253402300799"), Ok(253_402_300_799_000_000));
        assert_eq!(TimeRange::new(5, 5), Err(RangeError::Empty));
    }
}
