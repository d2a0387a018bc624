//! The subcommands: `collect` runs a pipeline config until stopped, `validate` checks one and
//! prints its graph, `components` lists the types that configs can use.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use spider_collector::component::ComponentKind;
use spider_collector::{CollectorConfig, Factories, RunningCollector};

use crate::{factories, logging};

/// Spider: network observability for Kubernetes clusters and Linux hosts.
#[derive(Debug, Parser)]
#[command(name = "spider", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the pipelines of a collector config until SIGINT/SIGTERM or until every receiver is done.
    Collect(ConfigArgs),
    /// Check a collector config: print every mistake with its path, or the pipeline graph.
    Validate(ConfigArgs),
    /// List the receiver, processor and exporter types and the signals they support.
    Components,
}

/// The config file option shared by `collect` and `validate`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Collector config in the OTel Collector's YAML shape.
    #[arg(long, short, value_name = "FILE")]
    pub config: PathBuf,
}

/// Exit status of a config that does not validate (clap uses 2 for usage errors).
const INVALID: u8 = 1;

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let factories = factories();
    match cli.command {
        Command::Validate(args) => validate(&args.config, &factories),
        Command::Collect(args) => collect(&args.config, &factories),
        Command::Components => {
            print!("{}", components(&factories));
            ExitCode::SUCCESS
        }
    }
}

fn load(path: &Path, factories: &Factories) -> Result<CollectorConfig, ExitCode> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            eprintln!("cannot read {}: {error}", path.display());
            return Err(ExitCode::from(INVALID));
        }
    };
    match CollectorConfig::from_yaml(&text, factories) {
        Ok(config) => {
            for warning in &config.warnings {
                eprintln!("warning: {warning}");
            }
            Ok(config)
        }
        Err(errors) => {
            let plural = if errors.len() == 1 { "" } else { "s" };
            eprintln!("{}: {} error{plural}:", path.display(), errors.len());
            for error in &errors {
                eprintln!("  {error}");
            }
            Err(ExitCode::from(INVALID))
        }
    }
}

fn validate(path: &Path, factories: &Factories) -> ExitCode {
    match load(path, factories) {
        Ok(config) => {
            println!("{}: valid", path.display());
            print!("{config}");
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn collect(path: &Path, factories: &Factories) -> ExitCode {
    let config = match load(path, factories) {
        Ok(config) => config,
        Err(code) => return code,
    };
    logging::init(&config.telemetry.logs.level);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run_collector(&config, factories)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs until a stop signal or until every receiver is done; true when the stop was clean.
async fn run_collector(config: &CollectorConfig, factories: &Factories) -> anyhow::Result<bool> {
    let mut collector = RunningCollector::start(config, factories)
        .await
        .context("the collector did not start")?;
    tracing::info!(
        pipelines = config.pipelines.len(),
        "collector running; stop with Ctrl-C or SIGTERM"
    );
    tokio::select! {
        signal = stop_signal() => tracing::info!("{} received, stopping", signal?),
        _ = collector.receivers_finished() => tracing::info!("every receiver is done, stopping"),
    }
    let report = collector.shutdown().await;
    for error in &report.errors {
        tracing::error!("{error}");
    }
    if report.is_clean() {
        tracing::info!("stopped cleanly");
    }
    Ok(report.is_clean())
}

async fn stop_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    })
}

/// The component table `spider components` prints.
pub fn components(factories: &Factories) -> String {
    let mut out = String::new();
    for kind in [
        ComponentKind::Receiver,
        ComponentKind::Processor,
        ComponentKind::Exporter,
    ] {
        out.push_str(&format!("{}:\n", kind.section()));
        for type_name in factories.type_names(kind) {
            let signals = factories.signals(kind, type_name).unwrap_or_default();
            let signals: Vec<_> = signals.iter().map(|s| s.as_str()).collect();
            out.push_str(&format!(
                "  {type_name:<12} signals: {}\n",
                signals.join(", ")
            ));
        }
    }
    out
}
