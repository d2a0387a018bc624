//! The dataset catalog: what every record kind is as a dataset — its name
//! ([`RecordKind::as_str`]), its time column ([`RecordKind::time_column`]), its schema and
//! signal — and the Hive partition layout every dataset is written in and read back by
//! (`network_usage/date=2026-11-21/hour=05`). The Parquet exporter, the query library and
//! `GET /api/datasets` read it. Adding a dataset is a record type, its [`RecordKind`] entry and
//! its filter fields in the query library (`Dataset::of`).

use std::fmt;

use crate::batch::RecordKind;
use crate::time::Timestamp;

/// The Hive partition columns of every dataset, outermost first.
pub const PARTITION_COLUMNS: [&str; 2] = ["date", "hour"];

/// A dataset and one hour of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Partition {
    /// The dataset.
    pub kind: RecordKind,
    /// Calendar date (UTC).
    pub date: (i64, u32, u32),
    /// Hour of the day (UTC).
    pub hour: u32,
}

impl Partition {
    /// The partition of a record of `kind` filed at `time`.
    pub fn of(kind: RecordKind, time: Timestamp) -> Self {
        let (year, month, day, hour) = time.civil();
        Self {
            kind,
            date: (year, month, day),
            hour,
        }
    }

    /// The `date` partition value: `YYYY-MM-DD`.
    pub fn date_value(&self) -> String {
        date_text(self.date)
    }
}

/// The `date` partition value of the hour holding `time` (what a time range prunes by).
pub fn date_partition(time: Timestamp) -> String {
    let (year, month, day, _) = time.civil();
    date_text((year, month, day))
}

/// A directory a time range reads whole: a day it covers entirely, or one hour of a day it
/// covers in part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionSpan {
    /// `date=YYYY-MM-DD`.
    Day(String),
    /// `date=YYYY-MM-DD/hour=HH`.
    Hour(String, u32),
}

const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// The fewest partition directories holding every record whose time is in `[from, to)`, in time
/// order (none for an empty range): whole days inside it, single hours at its edges. A range of
/// `d` days is at most `d + 1` days and 46 hours.
pub fn covering(from: Timestamp, to: Timestamp) -> Vec<PartitionSpan> {
    let mut spans = Vec::new();
    if from >= to {
        return spans;
    }
    let first_hour = from.as_micros().div_euclid(MICROS_PER_HOUR);
    let end_hour = (to.as_micros() - 1).div_euclid(MICROS_PER_HOUR) + 1;
    let mut hour = first_hour;
    while hour < end_hour {
        let day_start = hour - hour.rem_euclid(24);
        let date = date_partition(Timestamp::from_micros(hour * MICROS_PER_HOUR));
        if hour == day_start && end_hour >= day_start + 24 {
            spans.push(PartitionSpan::Day(date));
            hour += 24;
        } else {
            spans.push(PartitionSpan::Hour(date, hour.rem_euclid(24) as u32));
            hour += 1;
        }
    }
    spans
}

fn date_text((year, month, day): (i64, u32, u32)) -> String {
    format!("{year:04}-{month:02}-{day:02}")
}

/// `dataset/date=YYYY-MM-DD/hour=HH`, the directory of the partition.
impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [date, hour] = PARTITION_COLUMNS;
        write!(
            f,
            "{}/{date}={}/{hour}={:02}",
            self.kind,
            self.date_value(),
            self.hour
        )
    }
}

#[cfg(test)]
mod tests {
    use arrow_schema::DataType;

    use super::*;

    #[test]
    fn every_kind_has_a_timestamp_time_column_and_a_partition_directory() {
        for kind in RecordKind::ALL {
            let schema = kind.schema();
            let column = schema
                .field_with_name(kind.time_column())
                .unwrap_or_else(|_| panic!("{kind}: no column {}", kind.time_column()));
            assert!(
                matches!(column.data_type(), DataType::Timestamp(_, _)),
                "{kind}: {} is {:?}",
                column.name(),
                column.data_type()
            );
            for partition in PARTITION_COLUMNS {
                assert!(
                    schema.field_with_name(partition).is_err(),
                    "{kind}: {partition} is a column too"
                );
            }
        }
        let at = Timestamp::from_secs(1_795_237_200);
        assert_eq!(
            Partition::of(RecordKind::Http, at).to_string(),
            "http/date=2026-11-21/hour=05"
        );
        // Midnight: the last microsecond before it is the previous day's partition.
        let midnight = Timestamp::from_secs(1_795_219_200);
        assert_eq!(date_partition(midnight), "2026-11-21");
        assert_eq!(date_partition(midnight.plus_micros(-1)), "2026-11-20");
    }

    #[test]
    fn a_range_is_covered_by_whole_days_inside_and_hours_at_its_edges() {
        let midnight = Timestamp::from_secs(1_795_219_200); // 2026-11-21 00:00
        let hour = |h: i64| midnight.plus_micros(h * MICROS_PER_HOUR);
        let day = |d: &str| PartitionSpan::Day(d.into());
        let at = |d: &str, h| PartitionSpan::Hour(d.into(), h);
        assert!(covering(hour(1), hour(1)).is_empty());
        // Within one hour, and ending exactly on the next hour.
        assert_eq!(
            covering(hour(5).plus_micros(7), hour(6)),
            [at("2026-11-21", 5)]
        );
        // One microsecond into the next hour reads it too.
        assert_eq!(
            covering(hour(5), hour(6).plus_micros(1)),
            [at("2026-11-21", 5), at("2026-11-21", 6)]
        );
        // 22:30 yesterday to 01:10 tomorrow: two edge hours, a whole day, two edge hours.
        assert_eq!(
            covering(
                hour(-2).plus_micros(1_800_000_000),
                hour(25).plus_micros(600_000_000)
            ),
            [
                at("2026-11-20", 22),
                at("2026-11-20", 23),
                day("2026-11-21"),
                at("2026-11-22", 0),
                at("2026-11-22", 1),
            ]
        );
        assert_eq!(
            covering(hour(0), hour(48)),
            [day("2026-11-21"), day("2026-11-22")]
        );
        // Before the epoch, hours still floor down.
        assert_eq!(
            covering(Timestamp::from_micros(-1), Timestamp::from_micros(1)),
            [at("1969-12-31", 23), at("1970-01-01", 0)]
        );
    }
}
