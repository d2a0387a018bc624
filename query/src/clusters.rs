//! The clusters of a lake and the agents writing into each, read from its listings alone (no
//! data file is opened): what `GET /api/clusters` answers and the UI's cluster selector lists.
//!
//! A cluster is a `cluster=NAME` directory of any dataset. Its agents are the writers named by
//! the files of each dataset's newest [`RECENT_HOURS`] hour directories ([`writer_of`]; for an
//! hour `spider compact` merged, the names its manifest keeps): a node agent counting usage, a Whisperer writing sessions, HTTP and packets,
//! or a collector on a plain Linux host filed under the same cluster name. An agent that wrote
//! nothing in those hours is not listed; `last_report` is when its newest file was published.

use std::collections::{BTreeMap, BTreeSet};

use futures::future::try_join_all;
use futures::{StreamExt, TryStreamExt};

use crate::file_set::published;
use crate::frame::unlisted;
use datafusion::object_store::ObjectMeta;
use serde::Serialize;
use spider_lake::Lake;
use spider_lake::compacted::{Manifests, resolve, split};
use spider_lake::layout::HourDirectory;
use spider_records::RecordKind;
use spider_records::catalog::{data_file_parts, writer_of};

use crate::sql::QueryError;

/// The newest hour directories of a dataset whose files name its agents: the hour being written
/// and the one before, so an agent whose files roll at the hour is still seen just after it.
pub const RECENT_HOURS: usize = 2;

/// Clusters listed at once.
const CLUSTERS_AT_ONCE: usize = 4;

/// The most clusters whose agents are listed; the others are listed by name alone (each costs a
/// few listings per dataset).
pub const MAX_DETAILED: usize = 64;

/// One cluster of the lake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterReport {
    /// Its name (the `cluster` partition value).
    pub name: String,
    /// The datasets it has written.
    pub datasets: Vec<&'static str>,
    /// Its agents, by name; empty when the cluster was past [`MAX_DETAILED`].
    pub agents: Vec<AgentReport>,
    /// Its newest agent report (microseconds since the epoch), if one was read.
    pub last_report: Option<i64>,
}

/// One writer of a cluster's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentReport {
    /// The node or host it runs on (the start of its file names).
    pub node: String,
    /// The datasets it wrote in the recent hours.
    pub datasets: Vec<&'static str>,
    /// When its newest file was published (microseconds since the epoch).
    pub last_report: i64,
}

/// Every cluster of `lake`, sorted by name.
pub async fn clusters(lake: &Lake) -> Result<Vec<ClusterReport>, QueryError> {
    let listed = try_join_all(RecordKind::ALL.iter().map(|kind| async move {
        let clusters = lake.clusters(kind.as_str()).await.map_err(unlisted)?;
        Ok::<_, QueryError>((kind.as_str(), clusters))
    }))
    .await?;
    let mut datasets_of: BTreeMap<String, Vec<&'static str>> = BTreeMap::new();
    for (dataset, clusters) in listed {
        for cluster in clusters {
            datasets_of.entry(cluster).or_default().push(dataset);
        }
    }
    // A few clusters at a time: each is a few listings per dataset, and an object store's
    // listings are round trips the range scans wait on too.
    let reports: Vec<_> = datasets_of
        .into_iter()
        .enumerate()
        .map(|(i, (name, datasets))| report(lake, name, datasets, i < MAX_DETAILED))
        .collect();
    futures::stream::iter(reports)
        .buffered(CLUSTERS_AT_ONCE)
        .try_collect()
        .await
}

/// One cluster, with its agents when `detailed`.
async fn report(
    lake: &Lake,
    name: String,
    datasets: Vec<&'static str>,
    detailed: bool,
) -> Result<ClusterReport, QueryError> {
    let agents = if detailed {
        agents(lake, &name, &datasets).await?
    } else {
        Vec::new()
    };
    Ok(ClusterReport {
        last_report: agents.iter().map(|a| a.last_report).max(),
        name,
        datasets,
        agents,
    })
}

/// The agents that wrote `datasets` of `cluster` in their newest hours.
async fn agents(
    lake: &Lake,
    cluster: &str,
    datasets: &[&'static str],
) -> Result<Vec<AgentReport>, QueryError> {
    let written = try_join_all(datasets.iter().map(|dataset| async move {
        let mut writers = Vec::new();
        for hour in newest_hours(lake, dataset, cluster).await? {
            writers.extend(writers_in(lake, &hour.path).await?);
        }
        Ok::<_, QueryError>((*dataset, writers))
    }))
    .await?;
    let mut by_node: BTreeMap<String, (BTreeSet<&'static str>, i64)> = BTreeMap::new();
    for (dataset, writers) in written {
        for (node, written) in writers {
            let agent = by_node.entry(node).or_insert((BTreeSet::new(), written));
            agent.0.insert(dataset);
            agent.1 = agent.1.max(written);
        }
    }
    Ok(by_node
        .into_iter()
        .map(|(node, (datasets, last_report))| AgentReport {
            node,
            datasets: datasets.into_iter().collect(),
            last_report,
        })
        .collect())
}

/// The newest [`RECENT_HOURS`] hour directories of `cluster`'s part of `dataset`, across days.
async fn newest_hours(
    lake: &Lake,
    dataset: &str,
    cluster: &str,
) -> Result<Vec<HourDirectory>, QueryError> {
    let days = lake.days(dataset, cluster).await.map_err(unlisted)?;
    let mut newest = Vec::new();
    for day in days.iter().rev() {
        let hours = lake.hours(day).await.map_err(unlisted)?;
        newest.extend(hours.into_iter().rev().take(RECENT_HOURS - newest.len()));
        if newest.len() == RECENT_HOURS {
            break;
        }
    }
    Ok(newest)
}

/// The writers of the data files in `directory`, with when each file was published: the
/// published files themselves, and those a merged file holds (named by its manifest, dated by
/// when their writer opened them), so that compacting an hour does not hide who wrote it.
async fn writers_in(lake: &Lake, directory: &str) -> Result<Vec<(String, i64)>, QueryError> {
    let files = published(lake, &[directory.to_owned()]).await?;
    let mut writers: Vec<(String, i64)> = files
        .into_iter()
        .filter_map(|(path, _, modified, _)| {
            let name = path.rsplit('/').next()?;
            Some((writer_of(name)?.to_owned(), modified))
        })
        .collect();
    let store = lake.raw_store();
    let everything: Vec<ObjectMeta> = store
        .list(Some(&lake.key(directory)))
        .try_collect()
        .await
        .map_err(unlisted)?;
    let merged = resolve(store.as_ref(), &Manifests::default(), &everything)
        .await
        .map_err(unlisted)?;
    writers.extend(merged.hidden.iter().filter_map(|location| {
        let (writer, opened) = data_file_parts(split(location).1)?;
        Some((writer.to_owned(), opened.as_micros()))
    }));
    Ok(writers)
}
