//! `spider serve`: the query service over a dataset directory.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use spider_collector::config::parse_duration;
use spider_query::server::{CaptureLimits, ServerConfig, router};

use super::{runtime, stop_signal};
use crate::logging;

/// Arguments of `spider serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Dataset root (the parquet exporter's `path`).
    #[arg(long, default_value = "spider-data", value_name = "DIR")]
    pub data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Require `Authorization: Bearer TOKEN` on the API.
    #[arg(long, env = "SPIDER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Where saved queries are kept (default: DATA/.spider).
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Allow this origin through CORS (off by default).
    #[arg(long, value_name = "ORIGIN")]
    pub cors_origin: Option<String>,
    /// The longest capture a request may ask for (`30s`, `10m`, `1h`).
    #[arg(long, default_value = "1h", value_parser = parse_duration, value_name = "DURATION")]
    pub capture_max_duration: Duration,
    /// The highest packet rate (per node) a capture request may ask for.
    #[arg(long, default_value_t = 10_000, value_name = "PACKETS")]
    pub capture_max_rate: u64,
}

pub(super) fn serve(args: ServeArgs) -> ExitCode {
    logging::init("info");
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let config = ServerConfig {
        data: args.data,
        state: args.state,
        token: args.token,
        cors_origin: args.cors_origin,
        capture_limits: CaptureLimits {
            max_duration: args.capture_max_duration,
            max_packets_per_second: args.capture_max_rate,
        },
    };
    let served = runtime.block_on(async {
        let app = router(&config)?;
        let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!("query service at http://{address}/api/health (data: {})", config.data.display());
        if config.token.is_none() && !address.ip().is_loopback() {
            tracing::warn!("listening beyond loopback without --token: anyone who can reach {address} can query");
        }
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                match stop_signal().await {
                    Ok(signal) => tracing::info!("{signal} received, stopping"),
                    Err(error) => tracing::error!("{error:#}"),
                }
            })
            .await
            .map_err(|e| e.to_string())
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}
