//! `spider collect`: run pipelines until a stop signal or until every receiver is done.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use spider_collector::{CollectorConfig, Factories, RunningCollector};

use super::{load, runtime, stop_signal};
use crate::logging;

pub(super) fn collect(path: &Path, factories: &Factories) -> ExitCode {
    let config = match load(path, factories) {
        Ok(config) => config,
        Err(code) => return code,
    };
    logging::init(&config.telemetry.logs.level);
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
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
pub(super) async fn run_collector(
    config: &CollectorConfig,
    factories: &Factories,
) -> anyhow::Result<bool> {
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
