//! `spider serve`: the query service over a lake (a directory or an object store).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use spider_collector::config::parse_duration;
use spider_query::SqlLimits;
use spider_server::anomaly_push::AnomalyPush;
use spider_server::{CaptureLimits, QueryLimits, ServerConfig, Tokens, router};

use super::{LakeArgs, runtime, until_stopped};
use crate::logging;

/// Arguments of `spider serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where the datasets are.
    #[command(flatten)]
    pub lake: LakeArgs,
    /// How long an object store's listings are reused: new files show at most this late, and a
    /// view refreshed every few seconds does not list its partitions each time. Directories are
    /// listed by every query.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub listing_ttl: Duration,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// The writer's token: everything, captures and saved queries included (`--token` too).
    #[arg(
        long,
        alias = "token",
        env = "SPIDER_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub writer_token: Option<String>,
    /// The reader's token: the map, grids, stats, pcaps and SQL, no changes.
    #[arg(
        long,
        env = "SPIDER_READER_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub reader_token: Option<String>,
    /// The node agents' token: capture polling and status reports only.
    #[arg(
        long,
        env = "SPIDER_AGENT_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub agent_token: Option<String>,
    /// Where saved queries and capture requests are kept (default: DATA/.spider for a directory;
    /// needed for an object store).
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
    /// Time a client may take to send a request head, or leave a kept-alive connection idle.
    #[arg(long, default_value = "10s", value_parser = parse_duration, value_name = "DURATION")]
    pub header_read_timeout: Duration,
    /// Captures active at once, in all (a 409 beyond).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub capture_max_active: usize,
    /// Captures active at once on one workload (a 409 beyond).
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub capture_max_per_workload: usize,
    /// Memory all queries may hold at once (`512MiB`, `2GiB`); operators spill or the query is
    /// refused beyond it.
    #[arg(long, default_value = "2GiB", value_parser = parse_bytes, value_name = "SIZE")]
    pub max_query_memory: usize,
    /// Memory for answers kept by their request and the files of their range (`64MiB`; `0` keeps
    /// none): the map, timeline, grid, stats and details of a view opened again, over files that
    /// have not changed, are answered without scanning.
    #[arg(long, default_value = "64MiB", value_parser = parse_cache_size, value_name = "SIZE")]
    pub answer_cache: usize,
    /// Rows one SQL statement may return.
    #[arg(long, default_value_t = 100_000, value_name = "ROWS")]
    pub max_sql_rows: usize,
    /// Time one SQL statement may run before it is cancelled.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub max_sql_time: Duration,
    /// Memory one SQL statement may take (`768MiB`): each runs in a worker process the kernel
    /// holds to it, so a statement that needs more is refused and the service runs on.
    #[arg(long, default_value = "768MiB", value_parser = parse_bytes, value_name = "SIZE")]
    pub max_sql_memory: usize,
    /// SQL statements running at once; more are answered 503. With --max-query-memory and
    /// --max-sql-memory, this sets what the service may hold: keep their sum under its limit.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub max_concurrent_sql: usize,
    /// pcap downloads streaming at once; more are answered 503.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub max_downloads: usize,
    /// API requests answered at once (health aside); more are answered 503.
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_requests: usize,
    /// A host name (any port) requests must be addressed to; repeat it for more. When none is
    /// given: the loopback names on a loopback address, any name on others.
    #[arg(long = "allowed-host", value_name = "NAME")]
    pub allowed_hosts: Vec<String>,
    /// Time an API request may take before it is given up with a 503.
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub request_timeout: Duration,
    /// An OTLP/gRPC endpoint the anomaly flags are pushed to, as the gauge
    /// `spider.network.flow.anomalies` (what GET /api/anomalies flags over the last
    /// --anomalies-window, evaluated every --anomalies-interval).
    #[arg(long, value_name = "URL")]
    pub anomalies_otlp_endpoint: Option<String>,
    /// Time between evaluations and pushes of the flags.
    #[arg(long, default_value = "60s", value_parser = parse_duration, value_name = "DURATION")]
    pub anomalies_interval: Duration,
    /// The range each evaluation flags: the last this long.
    #[arg(long, default_value = "1h", value_parser = parse_duration, value_name = "DURATION")]
    pub anomalies_window: Duration,
    /// The history a flag compares with.
    #[arg(long, default_value = "168h", value_parser = parse_duration, value_name = "DURATION")]
    pub anomalies_baseline: Duration,
}

/// `512MiB`, `2GiB`, `1048576` (bytes).
fn parse_bytes(text: &str) -> Result<usize, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let scale: usize = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return Err(format!("{text:?}: use bytes, KiB, MiB or GiB")),
    };
    number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|bytes| *bytes >= 1 << 20)
        .ok_or_else(|| format!("{text:?}: a size of at least 1MiB"))
}

/// A cache size: `0` (none) or at least 1MiB.
fn parse_cache_size(text: &str) -> Result<usize, String> {
    if text == "0" {
        return Ok(0);
    }
    parse_bytes(text)
}

/// The anomaly push the arguments ask for, checked.
fn anomaly_push(args: &ServeArgs) -> Result<Option<AnomalyPush>, String> {
    let Some(endpoint) = &args.anomalies_otlp_endpoint else {
        return Ok(None);
    };
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(format!(
            "--anomalies-otlp-endpoint {endpoint:?}: an http(s)://host:port address"
        ));
    }
    let month = spider_query::anomalies::MAX_BASELINE;
    if args.anomalies_interval < Duration::from_secs(1)
        || args.anomalies_interval > month
        || args.anomalies_window.is_zero()
        || args.anomalies_window > month
    {
        return Err(
            "--anomalies-interval is 1s to 31 days, --anomalies-window more than 0 up to 31 days"
                .into(),
        );
    }
    let thresholds = spider_query::anomalies::Thresholds {
        baseline: args.anomalies_baseline,
        ..Default::default()
    };
    thresholds
        .check()
        .map_err(|e| format!("--anomalies-baseline: {e}"))?;
    Ok(Some(AnomalyPush {
        endpoint: endpoint.clone(),
        interval: args.anomalies_interval,
        window: args.anomalies_window,
        thresholds,
        max_memory: args.max_query_memory,
    }))
}

pub(super) fn serve(args: ServeArgs) -> ExitCode {
    logging::init("info");
    let anomalies = match anomaly_push(&args) {
        Ok(push) => push,
        Err(message) => {
            tracing::error!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let sql_worker = match super::sql_worker() {
        Ok(worker) => worker,
        Err(error) => {
            tracing::error!("{error:#}");
            return ExitCode::FAILURE;
        }
    };
    let config = ServerConfig {
        data: args.lake.config(),
        listing_ttl: args.listing_ttl,
        state: args.state,
        tokens: Tokens {
            reader: args.reader_token,
            agent: args.agent_token,
            writer: args.writer_token,
        },
        cors_origin: args.cors_origin,
        capture_limits: CaptureLimits {
            max_duration: args.capture_max_duration,
            max_packets_per_second: args.capture_max_rate,
            max_active: args.capture_max_active,
            max_active_per_workload: args.capture_max_per_workload,
        },
        query_limits: QueryLimits {
            max_memory: args.max_query_memory,
            sql: SqlLimits {
                max_rows: args.max_sql_rows,
                max_time: args.max_sql_time,
                max_memory: args.max_sql_memory,
            },
            max_concurrent_sql: args.max_concurrent_sql.max(1),
            max_downloads: args.max_downloads.max(1),
            max_requests: args.max_requests,
            request_timeout: args.request_timeout,
            answer_cache: args.answer_cache,
        },
        allowed_hosts: if args.allowed_hosts.is_empty() {
            super::loopback_hosts(args.listen)
        } else {
            Some(args.allowed_hosts)
        },
        sql_worker: Some(sql_worker),
    };
    let served = runtime.block_on(async {
        let app = router(&config)?;
        let listener = tokio::net::TcpListener::bind(args.listen).await.map_err(|e| format!("cannot listen on {}: {e}", args.listen))?;
        let address = listener.local_addr().map_err(|e| e.to_string())?;
        tracing::info!("query service at http://{address}/api/health (data: {})", config.data.location);
        if !config.tokens.any() && !address.ip().is_loopback() {
            tracing::warn!("listening beyond loopback without tokens: anyone who can reach {address} can query and start captures");
        }
        let stop = tokio_util::sync::CancellationToken::new();
        let pushing = match anomalies {
            Some(push) => {
                let lake = config
                    .data
                    .open()
                    .map_err(|e| format!("cannot open the lake: {e}"))?
                    .listed_within(config.listing_ttl);
                tracing::info!(endpoint = push.endpoint, "pushing the anomaly flags over OTLP every {:?}", push.interval);
                Some(tokio::spawn(spider_server::anomaly_push::run(lake, push, stop.clone())))
            }
            None => None,
        };
        spider_server::serve(listener, app, args.header_read_timeout, until_stopped())
        .await;
        stop.cancel();
        if let Some(task) = pushing {
            let _ = task.await;
        }
        Ok::<(), String>(())
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}
