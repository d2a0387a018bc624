//! Where a record is filed: its dataset and the Hive partition of its time, as the catalog lays
//! them out (`network_usage/date=2026-11-21/hour=05`).

use std::collections::BTreeMap;

use arrow_array::{RecordBatch, UInt32Array};
use spider_records::Batch;
pub use spider_records::catalog::Partition;

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
