//! Where a record is filed: its dataset and the Hive partition of its time
//! (`network_usage/date=2026-11-21/hour=05`).

use std::collections::BTreeMap;
use std::fmt;

use arrow_array::{RecordBatch, UInt32Array};
use spider_records::{Batch, RecordKind, Timestamp};

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
}

/// `dataset/date=YYYY-MM-DD/hour=HH`, the directory of the partition.
impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (year, month, day) = self.date;
        write!(
            f,
            "{}/date={year:04}-{month:02}-{day:02}/hour={:02}",
            self.kind, self.hour
        )
    }
}

/// Converts a batch to Arrow and splits it by partition, keeping the record order within each.
pub fn split(batch: &Batch) -> Vec<(Partition, RecordBatch)> {
    let kind = batch.kind();
    let times = batch.record_times();
    let arrow = batch.to_record_batch();
    let first = match times.first() {
        Some(time) => Partition::of(kind, *time),
        None => return Vec::new(),
    };
    if times.iter().all(|time| Partition::of(kind, *time) == first) {
        return vec![(first, arrow)];
    }
    let mut rows: BTreeMap<Partition, Vec<u32>> = BTreeMap::new();
    for (index, time) in times.iter().enumerate() {
        rows.entry(Partition::of(kind, *time))
            .or_default()
            .push(index as u32);
    }
    rows.into_iter()
        .map(|(partition, indices)| {
            let indices = UInt32Array::from(indices);
            let part = arrow_select::take::take_record_batch(&arrow, &indices)
                .expect("indices come from the batch itself");
            (partition, part)
        })
        .collect()
}
