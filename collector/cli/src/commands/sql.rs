//! `spider sql`: a read-only query over a lake (a directory or an object store), printed as a
//! table or CSV.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches;

use super::{INVALID, LakeArgs, runtime};

/// Arguments of `spider sql`.
#[derive(Debug, Args)]
pub struct SqlArgs {
    /// Where the datasets are.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SqlFormat::Table)]
    pub format: SqlFormat,
    /// The query, e.g. "SELECT client_namespace, sum(bytes_to_server) FROM network_usage GROUP BY 1".
    pub query: String,
}

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SqlFormat {
    /// An aligned text table.
    Table,
    /// Comma-separated values with a header line.
    Csv,
}

pub(super) fn sql(args: &SqlArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let answer = runtime.block_on(async {
        let lake = args.lake.config().open().map_err(|e| e.to_string())?;
        let context = spider_query::open_lake(&lake, None).map_err(|e| e.to_string())?;
        spider_query::read_only(&context, &args.query)
            .await
            .map_err(|e| e.to_string())
    });
    let batches = match answer {
        Ok(batches) => batches,
        Err(message) => {
            eprintln!("query refused or failed: {message}");
            return ExitCode::from(INVALID);
        }
    };
    let printed = match args.format {
        SqlFormat::Table => pretty_format_batches(&batches).map(|table| table.to_string()),
        SqlFormat::Csv => csv(&batches),
    };
    match printed {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("cannot print the result: {error}");
            ExitCode::FAILURE
        }
    }
}

fn csv(batches: &[RecordBatch]) -> Result<String, datafusion::arrow::error::ArrowError> {
    let mut lines = Vec::new();
    if let Some(first) = batches.first() {
        lines.push(
            first
                .schema()
                .fields()
                .iter()
                .map(|f| quote(f.name()))
                .collect::<Vec<_>>()
                .join(","),
        );
    }
    let options = FormatOptions::default();
    for batch in batches {
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<Result<Vec<_>, _>>()?;
        for row in 0..batch.num_rows() {
            lines.push(
                formatters
                    .iter()
                    .map(|f| quote(&f.value(row).to_string()))
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
    }
    Ok(lines.join("\n"))
}

/// Quotes a CSV cell when it needs it (RFC 4180).
fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_owned()
    }
}
