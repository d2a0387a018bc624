//! Time ranges of queries: parsed from RFC 3339 or Unix seconds, applied to a dataset's time
//! column and to its `date` partitions (so whole directories are skipped).

use chrono::{DateTime, Utc};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, col, lit};

/// `[from, to)`, in microseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    /// Inclusive start.
    pub from: i64,
    /// Exclusive end.
    pub to: i64,
}

/// Reads `2026-11-21T05:00:00Z` or `1795240800`.
pub fn parse_instant(text: &str) -> Result<i64, String> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds * 1_000_000);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros())
        .map_err(|_| {
            format!("{text:?} is neither RFC 3339 (2026-11-21T05:00:00Z) nor Unix seconds")
        })
}

impl TimeRange {
    /// A range from two instants; `to` must come after `from`.
    pub fn new(from: i64, to: i64) -> Result<Self, String> {
        if to <= from {
            return Err("'to' must be after 'from'".into());
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

    fn date(micros: i64) -> String {
        DateTime::<Utc>::from_timestamp_micros(micros)
            .unwrap_or_default()
            .format("%Y-%m-%d")
            .to_string()
    }

    /// `time_column` in range, plus the partitions that can hold it.
    pub fn to_expr(&self, time_column: &str) -> Expr {
        let partitions = col("date")
            .gt_eq(lit(Self::date(self.from)))
            .and(col("date").lt_eq(lit(Self::date(self.to - 1))));
        col(time_column)
            .gt_eq(Self::timestamp(self.from))
            .and(col(time_column).lt(Self::timestamp(self.to)))
            .and(partitions)
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
        assert!(parse_instant("yesterday").is_err());
        assert!(TimeRange::new(5, 5).is_err());
    }
}
