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
}
