//! The dataset catalog: what every record kind is as a dataset — its name
//! ([`RecordKind::as_str`]), its time column ([`RecordKind::time_column`]), its schema and
//! signal — and the Hive partition layout every dataset is written in and read back by
//! (`network_usage/cluster=prod/date=2026-11-21/hour=05`): the cluster first, so clusters sharing
//! a lake keep to their own prefixes (for bucket policies, retention and listing alike). The Parquet exporter, the query library and
//! `GET /api/datasets` read it. Adding a dataset is a record type, its [`RecordKind`] entry and
//! its filter fields in the query library (`Dataset::of`).

use std::fmt;

use crate::batch::RecordKind;
use crate::time::{MICROS_PER_HOUR, Timestamp};

/// The Hive partition columns of every dataset, outermost first.
pub const PARTITION_COLUMNS: [&str; 3] = ["cluster", "date", "hour"];

/// What [`is_cluster_name`] accepts, as errors say it.
pub const CLUSTER_NAME_RULE: &str =
    "1 to 63 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit";

/// Whether `name` will do as a cluster name: a DNS name of up to 63 characters, so it is safe as
/// a partition directory (`cluster=NAME`), a label value and a URL parameter.
pub fn is_cluster_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    (1..=63).contains(&bytes.len())
        && bytes.first().is_some_and(edge)
        && bytes.last().is_some_and(edge)
        && bytes.iter().all(|b| edge(b) || *b == b'-' || *b == b'.')
        && !name.contains("..")
}

/// `DATASET/cluster=NAME`: the part of a dataset one cluster wrote, every partition of it below.
pub fn cluster_directory(kind: impl fmt::Display, cluster: &str) -> String {
    let [column, ..] = PARTITION_COLUMNS;
    format!("{kind}/{column}={cluster}")
}

/// The cluster a path is below (`…/cluster=NAME/…`), if it is.
pub fn cluster_of(path: &str) -> Option<&str> {
    let [column, ..] = PARTITION_COLUMNS;
    path.split('/')
        .find_map(|part| part.strip_prefix(column)?.strip_prefix('='))
}

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

    /// Its directory in `cluster`'s part of the dataset
    /// (`http/cluster=prod/date=2026-11-21/hour=05`).
    pub fn directory(&self, cluster: &str) -> String {
        let [_, date, hour] = PARTITION_COLUMNS;
        format!(
            "{}/{date}={}/{hour}={:02}",
            cluster_directory(self.kind, cluster),
            self.date_value(),
            self.hour
        )
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

impl PartitionSpan {
    /// The directory of this span in `cluster`'s part of a dataset
    /// (`http/cluster=prod/date=2026-11-21/hour=05`).
    pub fn directory(&self, kind: impl fmt::Display, cluster: &str) -> String {
        let [_, date, hour] = PARTITION_COLUMNS;
        let root = cluster_directory(kind, cluster);
        match self {
            PartitionSpan::Day(day) => format!("{root}/{date}={day}"),
            PartitionSpan::Hour(day, h) => format!("{root}/{date}={day}/{hour}={h:02}"),
        }
    }
}

/// 0000-01-01 and 10000-01-01: the calendar partitions are named in.
const CALENDAR_MICROS: std::ops::Range<i64> = -62_167_219_200_000_000..253_402_300_800_000_000;

/// Ranges of at most this many hours are read hour by hour, longer ones day by day.
pub const HOURLY_UP_TO: i64 = 6;

/// The partition directories holding every record whose time is in `[from, to)`, in time order
/// (none for an empty range), or `None` when there would be more than `max` or the range leaves
/// the calendar (a caller then reads the whole dataset): the hours of a range of at most
/// [`HOURLY_UP_TO`] hours, else the days it touches. Days rather than hours keep a long range's
/// scan a few directories wide (each is a listing and a stream of its own), at the price of
/// listing its edge days whole. Nothing is allocated beyond `max` spans.
pub fn covering(from: Timestamp, to: Timestamp, max: usize) -> Option<Vec<PartitionSpan>> {
    if from >= to {
        return Some(Vec::new());
    }
    if !CALENDAR_MICROS.contains(&from.as_micros()) || !CALENDAR_MICROS.contains(&to.as_micros()) {
        return None;
    }
    let first_hour = from.as_micros().div_euclid(MICROS_PER_HOUR);
    let end_hour = (to.as_micros() - 1).div_euclid(MICROS_PER_HOUR) + 1;
    let date_of = |hour: i64| date_partition(Timestamp::from_micros(hour * MICROS_PER_HOUR));
    let spans: Vec<PartitionSpan> = if end_hour - first_hour <= HOURLY_UP_TO {
        (first_hour..end_hour)
            .map(|hour| PartitionSpan::Hour(date_of(hour), hour.rem_euclid(24) as u32))
            .collect()
    } else {
        let (first_day, last_day) = (first_hour.div_euclid(24), (end_hour - 1).div_euclid(24));
        if last_day - first_day >= max as i64 {
            return None;
        }
        (first_day..=last_day)
            .map(|day| PartitionSpan::Day(date_of(day * 24)))
            .collect()
    };
    (spans.len() <= max).then_some(spans)
}

/// Midnight (UTC) starting a `date` partition value (`YYYY-MM-DD`); `None` for anything else,
/// such as a day a month does not have.
pub fn date_start(value: &str) -> Option<Timestamp> {
    let mut parts = value.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    let (year, month, day) = (year.parse().ok()?, month.parse().ok()?, day.parse().ok()?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let start = Timestamp::from_date(year, month, day);
    (date_partition(start) == value).then_some(start)
}

fn date_text((year, month, day): (i64, u32, u32)) -> String {
    format!("{year:04}-{month:02}-{day:02}")
}

/// Parquet metadata key holding the dataset a file belongs to.
pub const DATASET_KEY: &str = "spider.dataset";
/// Parquet metadata key holding the schema version of the dataset a file was written with.
pub const SCHEMA_VERSION_KEY: &str = "spider.schema_version";

/// A data file's name: `WRITER-PROCESS-MILLIS-SEQUENCE.parquet`, WRITER the node or host whose
/// collector wrote it, PROCESS its process id, MILLIS when the file was opened. Several writers
/// share a directory without a clash, and a listing says who wrote what ([`writer_of`]).
pub fn data_file_name(writer: &str, process: u32, millis: u128, sequence: u64) -> String {
    format!("{writer}-{process}-{millis}-{sequence:06}.parquet")
}

/// The writer of a file named by [`data_file_name`] (not of a name that only looks alike: the
/// three numbers must be there, so `node` and `node-1` are told apart).
pub fn writer_of(file_name: &str) -> Option<&str> {
    data_file_parts(file_name).map(|(writer, _)| writer)
}

/// The writer of a file named by [`data_file_name`], and when it opened the file.
pub fn data_file_parts(file_name: &str) -> Option<(&str, Timestamp)> {
    let mut parts = file_name.strip_suffix(".parquet")?.rsplitn(4, '-');
    let numbers = [parts.next()?, parts.next()?, parts.next()?];
    let writer = parts.next().filter(|w| !w.is_empty())?;
    if !numbers
        .iter()
        .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let millis: i64 = numbers[1].parse().ok()?;
    Some((writer, Timestamp::from_micros(millis.checked_mul(1000)?)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_data_file_name_gives_its_writer_back() {
        let name = super::data_file_name("node-1", 42, 1_795_240_800_000, 7);
        assert_eq!(name, "node-1-42-1795240800000-000007.parquet");
        assert_eq!(super::writer_of(&name), Some("node-1"));
        assert_eq!(
            super::data_file_parts(&name).map(|(_, opened)| opened.as_micros()),
            Some(1_795_240_800_000_000)
        );
        for other in [
            "rollup-00ff.parquet",
            "node-x-42-7.parquet",
            "-1-2-3.parquet",
            "node-1-x-2-3.parquet.inprogress",
        ] {
            assert_eq!(super::writer_of(other), None, "{other}");
        }
    }

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
            Partition::of(RecordKind::Http, at).directory("prod"),
            "http/cluster=prod/date=2026-11-21/hour=05"
        );
        assert_eq!(
            cluster_of("lake/http/cluster=prod/date=2026-11-21/a.parquet"),
            Some("prod")
        );
        assert_eq!(cluster_of("http/date=2026-11-21"), None);
        // Midnight: the last microsecond before it is the previous day's partition.
        let midnight = Timestamp::from_secs(1_795_219_200);
        assert_eq!(date_partition(midnight), "2026-11-21");
        assert_eq!(date_partition(midnight.plus_micros(-1)), "2026-11-20");
    }

    #[test]
    fn a_date_partition_reads_back_as_its_midnight() {
        let midnight = Timestamp::from_secs(1_795_219_200);
        assert_eq!(date_start("2026-11-21"), Some(midnight));
        for days in [-719_162i64, -1, 0, 59, 365 * 30 + 7, 2_932_896] {
            let day = Timestamp::from_secs(days * 86_400);
            assert_eq!(date_start(&date_partition(day)), Some(day), "{days}");
        }
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "2026-1-01",
            "26-11-21",
            "2026-11-21x",
            "",
            "date",
        ] {
            assert_eq!(date_start(bad), None, "{bad}");
        }
        assert_eq!(
            date_start("2024-02-29").map(date_partition).as_deref(),
            Some("2024-02-29")
        );
    }

    #[test]
    fn a_short_range_is_covered_by_its_hours_and_a_long_one_by_its_days() {
        let midnight = Timestamp::from_secs(1_795_219_200); // 2026-11-21 00:00
        let hour = |h: i64| midnight.plus_micros(h * MICROS_PER_HOUR);
        let day = |d: &str| PartitionSpan::Day(d.into());
        let at = |d: &str, h| PartitionSpan::Hour(d.into(), h);
        let cover = |from, to| covering(from, to, 8).unwrap();
        assert!(cover(hour(1), hour(1)).is_empty());
        // Within one hour, and ending exactly on the next hour.
        assert_eq!(
            cover(hour(5).plus_micros(7), hour(6)),
            [at("2026-11-21", 5)]
        );
        // One microsecond into the next hour reads it too.
        assert_eq!(
            cover(hour(5), hour(6).plus_micros(1)),
            [at("2026-11-21", 5), at("2026-11-21", 6)]
        );
        // 22:30 to 01:30 across midnight: four hours of two days.
        assert_eq!(
            cover(
                hour(-2).plus_micros(1_800_000_000),
                hour(1).plus_micros(1_800_000_000)
            ),
            [
                at("2026-11-20", 22),
                at("2026-11-20", 23),
                at("2026-11-21", 0),
                at("2026-11-21", 1),
            ]
        );
        // Seven hours and more: the days touched, edges included.
        assert_eq!(
            cover(hour(20), hour(27)),
            [day("2026-11-21"), day("2026-11-22")]
        );
        assert_eq!(
            cover(hour(0), hour(48)),
            [day("2026-11-21"), day("2026-11-22")]
        );
        // Before the epoch, hours still floor down.
        assert_eq!(
            cover(Timestamp::from_micros(-1), Timestamp::from_micros(1)),
            [at("1969-12-31", 23), at("1970-01-01", 0)]
        );
        // More days than allowed, or beyond the calendar: none, and nothing built.
        assert_eq!(covering(hour(0), hour(24 * 8), 8).map(|s| s.len()), Some(8));
        assert!(covering(hour(0), hour(24 * 8 + 1), 8).is_none());
        assert!(covering(Timestamp::from_micros(i64::MIN), hour(0), 8).is_none());
        assert!(
            covering(
                Timestamp::from_micros(0),
                Timestamp::from_micros(i64::MAX),
                8
            )
            .is_none()
        );
        assert_eq!(
            at("2026-11-21", 5).directory(RecordKind::Http, "a"),
            Partition::of(RecordKind::Http, hour(5)).directory("a")
        );
        assert_eq!(
            day("2026-11-21").directory(RecordKind::Packet, "a"),
            "packets/cluster=a/date=2026-11-21"
        );
    }
}
