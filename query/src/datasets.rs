//! Registering the datasets of a directory as tables.
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
use datafusion::error::Result;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlanBuilder;
use datafusion::prelude::{Expr, col, lit};
use datafusion::prelude::{SessionConfig, SessionContext};
use spider_records::catalog::PARTITION_COLUMNS;
use spider_records::{EndpointClass, ObservedEnds, RecordKind};

/// A session with every dataset under `root` registered under its name.
pub fn open(root: &Path) -> Result<SessionContext> {
    open_within(root, None)
}

/// [`open`], with the memory its queries may hold together capped at `max_memory` bytes:
/// operators that can spill to disk do, the others fail the query ("resources exhausted").
pub fn open_within(root: &Path, max_memory: Option<usize>) -> Result<SessionContext> {
    // DataFusion keeps file listings forever by default; the writers publish new files every
    // minute, and a query must see them, so every query lists its directories anew.
    let caches = CacheManagerConfig::default()
        .with_list_files_cache(None)
        .with_list_files_cache_limit(0);
    let mut runtime = RuntimeEnvBuilder::new().with_cache_manager(caches);
    if let Some(bytes) = max_memory {
        runtime = runtime.with_memory_limit(bytes, 1.0);
    }
    let runtime = runtime.build_arc()?;
    let context = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
    for kind in RecordKind::ALL {
        let directory = root.join(kind.as_str());
        // A dataset the writers have not started yet is listed anyway, so that a service started
        // first (a fresh demo, a query pod before its agents) sees the files when they come.
        if root.is_dir() {
            let _ = std::fs::create_dir_all(&directory);
        }
        let table: Arc<dyn datafusion::catalog::TableProvider> = if directory.is_dir() {
            Arc::new(listing_table(&directory, *kind)?)
        } else {
            Arc::new(MemTable::try_new(
                with_partition_columns(*kind),
                vec![vec![]],
            )?)
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
fn listing_table(directory: &Path, kind: RecordKind) -> Result<ListingTable> {
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(partition_columns());
    let url = ListingTableUrl::parse(format!("{}/", directory.display()))?;
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
