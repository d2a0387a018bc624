//! The lake's partition layout as its walkers read it (`DATASET/cluster=NAME/date=…/hour=…`,
//! from the catalog): which clusters hold part of a dataset, and a cluster's day and hour
//! directories with the instants they start at. Retention, rollups and the readers walk the
//! lake through these, so none of them restates the layout.

use spider_records::Timestamp;
use spider_records::catalog::{
    PARTITION_COLUMNS, cluster_directory, cluster_of, date_start, is_cluster_name,
};
use spider_records::time::MICROS_PER_HOUR;

use crate::Lake;

/// A day directory of one cluster's part of a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayDirectory {
    /// Its path in the lake (`network_usage/cluster=prod/date=2026-11-21`).
    pub path: String,
    /// The `date` value (`2026-11-21`).
    pub date: String,
    /// Its midnight.
    pub start: Timestamp,
}

/// An hour directory of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourDirectory {
    /// Its path in the lake (`…/date=2026-11-21/hour=05`).
    pub path: String,
    /// The hour of the day.
    pub hour: u32,
    /// When it starts.
    pub start: Timestamp,
}

impl Lake {
    /// The clusters holding part of `dataset` (`DATASET/cluster=NAME`), sorted; a directory whose
    /// name is no cluster name (nothing Spider writes) is passed over, so a name read here is
    /// safe in a path, a filter or SQL.
    pub async fn clusters(&self, dataset: &str) -> object_store::Result<Vec<String>> {
        Ok(self
            .directories(dataset)
            .await?
            .iter()
            .filter_map(|directory| {
                let name = directory.strip_prefix(dataset)?.strip_prefix('/')?;
                cluster_of(name)
                    .filter(|cluster| is_cluster_name(cluster))
                    .map(str::to_owned)
            })
            .collect())
    }

    /// The day directories of `cluster`'s part of `dataset`, oldest first; anything else there
    /// is passed over.
    pub async fn days(
        &self,
        dataset: &str,
        cluster: &str,
    ) -> object_store::Result<Vec<DayDirectory>> {
        let [_, date, _] = PARTITION_COLUMNS;
        let root = cluster_directory(dataset, cluster);
        Ok(self
            .directories(&root)
            .await?
            .into_iter()
            .filter_map(|path| {
                let value = path.strip_prefix(&format!("{root}/{date}="))?.to_owned();
                let start = date_start(&value)?;
                Some(DayDirectory {
                    path,
                    date: value,
                    start,
                })
            })
            .collect())
    }

    /// The hour directories of a day, earliest first.
    pub async fn hours(&self, day: &DayDirectory) -> object_store::Result<Vec<HourDirectory>> {
        let [_, _, hour] = PARTITION_COLUMNS;
        Ok(self
            .directories(&day.path)
            .await?
            .into_iter()
            .filter_map(|path| {
                let value: u32 = path
                    .strip_prefix(&format!("{}/{hour}=", day.path))?
                    .parse()
                    .ok()
                    .filter(|h| *h < 24)?;
                let start = day.start.plus_micros(i64::from(value) * MICROS_PER_HOUR);
                Some(HourDirectory {
                    path,
                    hour: value,
                    start,
                })
            })
            .collect())
    }
}
