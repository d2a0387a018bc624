//! `spider capture`: attach a Whisperer to a workload from the command line — the same request
//! the UI makes to the query service, carried out by the node agents that run the whisperer
//! receiver — and list or stop captures.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use spider_capture_protocol::{Capture, CaptureClient, CaptureRequest, ClientError, Workload};
use spider_collector::config::parse_duration;

use super::runtime;

/// Arguments of `spider capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// The workload to capture, `namespace/kind/name` (`shop/Deployment/web`).
    #[arg(long, value_parser = Workload::parse, conflicts_with_all = ["list", "stop"], required_unless_present_any = ["list", "stop"])]
    pub workload: Option<Workload>,
    /// How long (`30s`, `5m`, `1h`; at most the service's limit).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub duration: Duration,
    /// A capture filter in tcpdump's syntax, on top of the pods' addresses.
    #[arg(long, default_value = "")]
    pub filter: String,
    /// Packets per second per node (default and maximum: the service's limit).
    #[arg(long)]
    pub max_rate: Option<u64>,
    /// The cluster whose agents capture, when several report to the service (default: all).
    #[arg(long, value_name = "NAME", value_parser = super::cluster_arg)]
    pub cluster: Option<String>,
    /// List the captures and what each node reports instead.
    #[arg(long)]
    pub list: bool,
    /// Stop capture ID instead.
    #[arg(long, value_name = "ID")]
    pub stop: Option<u64>,
    /// The query service.
    #[arg(long, env = "SPIDER_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// Its bearer token.
    #[arg(long, env = "SPIDER_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

pub(super) fn capture(args: CaptureArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(request(&args)) {
        Ok(text) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn request(args: &CaptureArgs) -> Result<String, ClientError> {
    let client = CaptureClient::new(&args.server, args.token.clone())?;
    Ok(match (&args.workload, args.stop) {
        (_, Some(id)) => describe(&client.stop(id).await?),
        (Some(workload), None) => {
            let request = CaptureRequest {
                workload: workload.clone(),
                duration_seconds: args.duration.as_secs().max(1),
                filter: args.filter.clone(),
                max_packets_per_second: args.max_rate,
                cluster: args.cluster.clone(),
            };
            describe(&client.create(&request).await?)
        }
        (None, None) => client.list().await?.iter().map(describe).collect(),
    })
}

/// One capture in a line, then a line per node that reported on it.
fn describe(capture: &Capture) -> String {
    let state = capture.state.as_str();
    let workload = &capture.workload;
    let cluster = capture
        .cluster
        .as_deref()
        .map_or(String::new(), |cluster| format!(" in cluster {cluster}"));
    let mut text = format!(
        "capture {} of {}/{}/{}{cluster}: {state} (filter {:?}, {} packets/s, ends at {})\n",
        capture.id,
        workload.namespace,
        workload.kind,
        workload.name,
        capture.filter,
        capture.max_packets_per_second,
        capture.expires,
    );
    for (node, status) in &capture.agents {
        text.push_str(&format!(
            "  {node}: pods {:?}, {} packets, {} dropped{}\n",
            status.pods,
            status.packets,
            status.dropped,
            status
                .error
                .as_deref()
                .map(|e| format!(", error: {e}"))
                .unwrap_or_default(),
        ));
    }
    text
}
