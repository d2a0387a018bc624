//! The `parquet` exporter: every record kind to its own Parquet dataset, Hive-partitioned by the
//! collector's cluster, date and hour (`network_usage/cluster=prod/date=2026-11-21/hour=05/*.parquet`),
//! readable by DuckDB, DataFusion,
//! pyarrow, Spark — and by `spider sql`.
//!
//! Files roll by rows, size and age; each is written under a hidden in-progress name and appears
//! only complete, so a reader (or a `kill -9`) never leaves a half file behind. In-progress
//! leftovers are removed when the exporter starts. Local directory by default; `url: s3://…`
//! (or `gs://`, `az://`) writes to object storage through a local staging directory.

mod destination;
mod file;
mod partition;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::Deserialize;
use spider_collector::config::GoDuration;
use spider_collector::records::catalog::data_file_name;
use spider_collector::records::{Batch, Signal};
use spider_collector::{
    ComponentConfig, ComponentError, ConfigError, Counter, CreateContext, Declared, ExportError,
    Exporter,
};
use spider_lake::LakeConfig;

pub use destination::{Destination, IN_PROGRESS, files_ending};
pub use file::{DATASET_KEY, SCHEMA_VERSION_KEY};
pub use partition::{Partition, split};

use file::{Encoding, OpenFile};

/// `exporters::parquet`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParquetConfig {
    /// Local dataset root; with `url`, the staging directory.
    pub path: PathBuf,
    /// `s3://bucket/prefix`, `gs://bucket/prefix` or `az://container/prefix` to write to object
    /// storage instead.
    pub url: Option<String>,
    /// Object store options (`endpoint`, `region`, `access_key_id`, `secret_access_key`,
    /// `allow_http`, …), over the cloud's standard environment variables (`AWS_*`, `GOOGLE_*`,
    /// `AZURE_*`).
    pub storage_options: BTreeMap<String, String>,
    /// A file is closed at this many rows.
    pub max_file_rows: usize,
    /// … or at about this many bytes.
    pub max_file_bytes: u64,
    /// … or this long after it was opened.
    pub max_file_age: GoDuration,
    /// Rows per row group.
    pub row_group_rows: usize,
    /// zstd compression level (1–22).
    pub zstd_level: i32,
    /// zstd level of the captured frames in `packets` (1–22): they are most of a capture's
    /// bytes, and level 1 keeps up with a busy interface where 3 costs a core.
    pub frame_zstd_level: i32,
    /// Start of every file name, so several writers can share a store (default: the collector's
    /// node, `service::node`).
    pub file_prefix: Option<String>,
}

impl Default for ParquetConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("spider-data"),
            url: None,
            storage_options: BTreeMap::new(),
            max_file_rows: 1_000_000,
            max_file_bytes: 128 << 20,
            max_file_age: GoDuration::from_secs(60),
            row_group_rows: 128 * 1024,
            zstd_level: 3,
            frame_zstd_level: 1,
            file_prefix: None,
        }
    }
}

impl ParquetConfig {
    /// The object store `url` and `storage_options` name, if any.
    fn lake(&self) -> Option<LakeConfig> {
        self.url.as_ref().map(|url| LakeConfig {
            location: url.clone(),
            options: self.storage_options.clone(),
        })
    }
}

impl ComponentConfig for ParquetConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut check = |ok: bool, path: &str, message: &str| {
            if !ok {
                errors.push(ConfigError::new(path, message));
            }
        };
        check(
            !self.path.as_os_str().is_empty(),
            "path",
            "must not be empty",
        );
        check(
            self.max_file_rows > 0,
            "max_file_rows",
            "must be at least 1",
        );
        check(
            self.max_file_bytes > 0,
            "max_file_bytes",
            "must be at least 1",
        );
        check(
            !self.max_file_age.0.is_zero(),
            "max_file_age",
            "must be more than 0",
        );
        check(
            self.row_group_rows > 0,
            "row_group_rows",
            "must be at least 1",
        );
        check(
            (1..=22).contains(&self.zstd_level),
            "zstd_level",
            "must be between 1 and 22",
        );
        check(
            (1..=22).contains(&self.frame_zstd_level),
            "frame_zstd_level",
            "must be between 1 and 22",
        );
        if let Some(lake) = self.lake() {
            let problem = if lake.is_object_store() {
                lake.open().err().map(|e| e.to_string())
            } else {
                Some(
                    "must be s3://bucket[/prefix], gs://bucket[/prefix] or az://container[/prefix] \
                     (a directory is `path`)"
                        .to_owned(),
                )
            };
            check(
                problem.is_none(),
                "url",
                problem.as_deref().unwrap_or_default(),
            );
        }
        let name_ok = self
            .file_prefix
            .as_deref()
            .is_none_or(|p| !p.is_empty() && !p.contains('/'));
        check(name_ok, "file_prefix", "must be non-empty and without '/'");
        errors
    }
}

/// Builds [`ParquetExporter`]s.
pub const PARQUET_EXPORTER: Declared<dyn Exporter, ParquetConfig> =
    Declared::new("parquet", Signal::ALL, create);

/// Builds one from its validated config.
fn create(
    mut config: ParquetConfig,
    context: CreateContext,
) -> Result<Box<dyn Exporter>, ComponentError> {
    config
        .file_prefix
        .get_or_insert_with(|| context.node.clone());
    let destination = match config.lake() {
        Some(lake) => Destination::remote(&lake, config.path.clone())?,
        None => Destination::local(config.path.clone()),
    };
    let telemetry = &context.telemetry;
    let counters = Counters {
        files: telemetry.counter(
            "spider_parquet_files_written_total",
            "Parquet files completed and published.",
        ),
        rows: telemetry.counter(
            "spider_parquet_rows_written_total",
            "Rows in published files.",
        ),
        bytes: telemetry.counter(
            "spider_parquet_bytes_written_total",
            "Bytes of published files.",
        ),
        publish_failures: telemetry.counter(
            "spider_parquet_publish_failures_total",
            "Finished files whose publication failed (uploads are retried).",
        ),
    };
    Ok(Box::new(ParquetExporter::new(
        config,
        destination,
        counters,
        context.cluster,
    )))
}

struct Counters {
    files: Counter,
    rows: Counter,
    bytes: Counter,
    publish_failures: Counter,
}

/// Writes batches into one open file per partition.
pub struct ParquetExporter {
    config: ParquetConfig,
    destination: Destination,
    open: BTreeMap<Partition, OpenFile>,
    /// Who writes, first in every file name.
    host: String,
    process: u32,
    /// The cluster every file is filed under (`DATASET/cluster=NAME/…`).
    cluster: String,
    sequence: u64,
    counters: Counters,
}

impl ParquetExporter {
    fn new(
        config: ParquetConfig,
        destination: Destination,
        counters: Counters,
        cluster: String,
    ) -> Self {
        let host = config
            .file_prefix
            .clone()
            .unwrap_or_else(|| spider_collector::node_name(None));
        Self {
            config,
            destination,
            open: BTreeMap::new(),
            host,
            process: std::process::id(),
            cluster,
            sequence: 0,
            counters,
        }
    }

    fn encoding(&self) -> Encoding {
        Encoding {
            row_group_rows: self.config.row_group_rows,
            zstd_level: self.config.zstd_level,
            frame_zstd_level: self.config.frame_zstd_level,
        }
    }

    fn open_file(&mut self, partition: Partition) -> Result<&mut OpenFile, String> {
        if !self.open.contains_key(&partition) {
            self.sequence += 1;
            let millis = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis();
            let name = data_file_name(&self.host, self.process, millis, self.sequence);
            let directory = partition.directory(&self.cluster);
            let path = self.destination.in_progress_path(&directory, &name);
            let file = OpenFile::create(partition.kind, path, name, self.encoding())
                .map_err(|e| format!("cannot create a file in {directory}: {e}"))?;
            self.open.insert(partition, file);
        }
        Ok(self.open.get_mut(&partition).expect("just opened"))
    }

    /// Closes a partition's file and publishes it.
    async fn roll(&mut self, partition: Partition) -> Result<(), String> {
        let Some(file) = self.open.remove(&partition) else {
            return Ok(());
        };
        let (path, name, rows) = (file.path.clone(), file.name.clone(), file.rows);
        let directory = partition.directory(&self.cluster);
        let bytes = file
            .finish()
            .map_err(|e| format!("cannot finish {directory}/{name}: {e}"))?;
        match self.destination.publish(&path, &directory, &name).await {
            Ok(()) => {
                self.counters.files.add(1);
                self.counters.rows.add(rows as u64);
                self.counters.bytes.add(bytes);
                Ok(())
            }
            Err(error) => {
                self.counters.publish_failures.add(1);
                Err(format!("cannot publish {directory}/{name}: {error}"))
            }
        }
    }

    /// Rolls every file that matches `due`, reporting every failure.
    async fn roll_where(&mut self, due: impl Fn(&OpenFile) -> bool) -> Result<(), String> {
        let partitions: Vec<Partition> = self
            .open
            .iter()
            .filter(|(_, f)| due(f))
            .map(|(p, _)| *p)
            .collect();
        let mut failures = Vec::new();
        for partition in partitions {
            if let Err(error) = self.roll(partition).await {
                failures.push(error);
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }
}

#[async_trait]
impl Exporter for ParquetExporter {
    async fn start(&mut self) -> Result<(), ComponentError> {
        let removed = self.destination.remove_leftovers(&self.host);
        if removed > 0 {
            tracing::warn!(
                removed,
                "removed in-progress files left by an earlier run that did not stop cleanly"
            );
        }
        if let Err(error) = self.destination.upload_ready().await {
            tracing::warn!(%error, "files staged by an earlier run could not be uploaded yet; will retry");
        }
        tracing::info!(destination = %self.destination.describe(), "writing Parquet datasets");
        Ok(())
    }

    async fn export(&mut self, batch: &Batch) -> Result<(), ExportError> {
        let (max_rows, max_bytes) = (self.config.max_file_rows, self.config.max_file_bytes);
        for (partition, mut rows) in split(batch) {
            // A file never exceeds max_file_rows: a batch that would overflow it is sliced.
            while rows.num_rows() > 0 {
                let file = self.open_file(partition).map_err(ExportError::Permanent)?;
                let take = rows.num_rows().min(max_rows - file.rows);
                if let Err(error) = file.write(&rows.slice(0, take)) {
                    self.open.remove(&partition);
                    return Err(ExportError::Permanent(format!(
                        "cannot write to {}: {error}",
                        partition.directory(&self.cluster)
                    )));
                }
                if file.rows >= max_rows || file.size() >= max_bytes {
                    self.roll(partition).await.map_err(ExportError::Permanent)?;
                }
                rows = rows.slice(take, rows.num_rows() - take);
            }
        }
        Ok(())
    }

    fn tick_interval(&self) -> Option<Duration> {
        Some(
            (self.config.max_file_age.0 / 4)
                .clamp(Duration::from_millis(10), Duration::from_secs(1)),
        )
    }

    async fn tick(&mut self) -> Result<(), ComponentError> {
        let max_age = self.config.max_file_age.0;
        let rolled = self
            .roll_where(|file| file.opened.elapsed() >= max_age)
            .await;
        let uploaded = self.destination.upload_ready().await;
        rolled.map_err(ComponentError::new)?;
        uploaded.map(|_| ()).map_err(ComponentError::from)
    }

    async fn shutdown(&mut self) -> Result<(), ComponentError> {
        self.roll_where(|_| true).await.map_err(ComponentError::new)
    }
}
