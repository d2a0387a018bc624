//! Registering the datasets of a lake (a directory or an object store) as tables.
//!
//! `network_usage` is what every answer counts: each agent's reports
//! (`network_usage_reports`) under the counted-once rule ([`counted`]), so a conversation two
//! agents reported (a cross-node one) is counted once.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::provider_as_source;
use datafusion::datasource::view::ViewTable;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::prelude::{Expr, col, lit};
use datafusion::prelude::{SessionConfig, SessionContext};
use spider_lake::{Lake, LakeConfig, LakeError};
use spider_records::catalog::PARTITION_COLUMNS;
use spider_records::{EndpointClass, ObservedEnds, RecordKind};

use crate::partitions::RangeScan;

/// A session with every dataset under the directory `root` registered under its name.
pub fn open(root: &Path) -> Result<SessionContext> {
    open_lake(&LakeConfig::local(root).open().map_err(external)?, None)
}

/// A session over `lake` (a directory or an object store), with the memory its queries may hold
/// together capped at `max_memory` bytes: operators that can spill to disk do, the others fail
/// the query ("resources exhausted").
pub fn open_lake(lake: &Lake, max_memory: Option<usize>) -> Result<SessionContext> {
    // DataFusion keeps file listings forever by default, and lists a whole dataset to fill them;
    // the writers publish new files every minute, and a query must see them, so every query lists
    // the directories of its range ([`RangeScan`]), through the lake's own short-lived listing
    // cache for an object store.
    let caches = CacheManagerConfig::default()
        .with_list_files_cache(None)
        .with_list_files_cache_limit(0);
    let mut runtime = RuntimeEnvBuilder::new().with_cache_manager(caches);
    if let Some(bytes) = max_memory {
        runtime = runtime.with_memory_limit(bytes, 1.0);
    }
    let runtime = runtime.build_arc()?;
    // The lake rides along for what lists it beside the tables (the map's rollups).
    let config = SessionConfig::new().with_extension(Arc::new(lake.clone()));
    let context = SessionContext::new_with_config_rt(config, runtime);
    // A local lake's files too are read through the lake's store, which hides what compacted
    // files replace.
    context.register_object_store(&lake.store_url(), lake.store());
    for kind in RecordKind::ALL {
        let table: Arc<dyn datafusion::catalog::TableProvider> = match lake.local_dir() {
            Some(root) if !dataset_directory(root, *kind) => Arc::new(MemTable::try_new(
                with_partition_columns(*kind),
                vec![vec![]],
            )?),
            _ => Arc::new(RangeScan::new(
                listing_table(&lake.dataset_url(kind.as_str()), *kind)?,
                kind.as_str(),
                kind.time_column(),
                lake.clone(),
            )),
        };
        if *kind == RecordKind::NetworkUsage {
            context.register_table(USAGE_REPORTS, table.clone())?;
            let counted_rows =
                LogicalPlanBuilder::scan(USAGE_REPORTS, provider_as_source(table), None)?
                    .filter(counted())?
                    .build()?;
            context.register_table(kind.as_str(), Arc::new(ViewTable::new(counted_rows, None)))?;
        } else {
            context.register_table(kind.as_str(), table)?;
        }
    }
    Ok(context)
}

/// Whether a local dataset's directory is there to list. One the writers have not started yet
/// is made when the root exists, so that a service started first (a fresh demo, a query pod
/// before its agents) sees the files when they come.
fn dataset_directory(root: &Path, kind: RecordKind) -> bool {
    let directory = root.join(kind.as_str());
    if root.is_dir() {
        let _ = std::fs::create_dir_all(&directory);
    }
    directory.is_dir()
}

fn external(error: LakeError) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

/// The lake a session was opened over.
pub fn lake_of(context: &SessionContext) -> Option<Arc<Lake>> {
    context.state().config().get_extension::<Lake>()
}

/// Every agent's usage reports, before the counted-once rule.
pub const USAGE_REPORTS: &str = "network_usage_reports";

/// The counted-once rule (`NetworkUsage::counts`): a report counts unless its reporter observed
/// only the server of a client that is not external, whose own agent counts the conversation.
pub fn counted() -> Expr {
    // Files written before `observed` existed read it as null: they count.
    col("observed")
        .is_null()
        .or(col("observed").not_eq(lit(ObservedEnds::Server.as_str())))
        .or(col("client_class").eq(lit(EndpointClass::External.as_str())))
}

fn partition_columns() -> Vec<(String, DataType)> {
    PARTITION_COLUMNS
        .iter()
        .map(|name| ((*name).to_owned(), DataType::Utf8))
        .collect()
}

/// The record schema followed by the partition columns, as a listing table exposes it.
fn with_partition_columns(kind: RecordKind) -> Arc<Schema> {
    let mut fields: Vec<Field> = kind
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.extend(
        partition_columns()
            .into_iter()
            .map(|(name, data_type)| Field::new(name, data_type, false)),
    );
    Arc::new(Schema::new(fields))
}

/// Only `*.parquet` files are read: in-progress files (`.*.inprogress`) are never seen.
fn listing_table(url: &str, kind: RecordKind) -> Result<ListingTable> {
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partition_columns());
    let url = ListingTableUrl::parse(url)?;
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(read_schema(kind));
    ListingTable::try_new(config)
}

/// The record schema with text read as string views: the Parquet reader then points into the
/// dictionary pages the writer made instead of copying every value (the map's scan spent most of
/// its time copying and re-copying strings).
fn read_schema(kind: RecordKind) -> Arc<Schema> {
    let fields: Vec<Field> = kind
        .schema()
        .fields()
        .iter()
        .map(|field| match field.data_type() {
            DataType::Utf8 => field.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => field.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new(fields))
}
