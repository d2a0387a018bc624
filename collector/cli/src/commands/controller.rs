//! `spider controller`: the cluster's controller — the only watcher of the Kubernetes API,
//! serving the metadata to the node agents whose `k8s_attributes` (and `whisperer`) use
//! `source: controller`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use spider_collector::Telemetry;
use spider_controller::report::ReportTo;
use spider_controller::{Controller, Identity};
use spider_kube::{AuthType, kubernetes};

use super::{runtime, until_stopped};

/// Arguments of `spider controller`.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Where the feed is served (with `/readyz`, `/livez`, `/v1/status` and `/metrics`).
    #[arg(long, default_value = "0.0.0.0:4390", value_name = "ADDRESS")]
    pub listen: SocketAddr,
    /// A kubeconfig to reach the API with, instead of the pod's service account (a controller
    /// run outside the cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig's context (default: its current one).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The cluster's name (default: `$SPIDER_CLUSTER_NAME`, else `default`), as its agents
    /// file their records under.
    #[arg(long, value_name = "NAME", value_parser = super::cluster_arg)]
    pub cluster: Option<String>,
    /// The URL agents follow this controller at, as reported to the query service.
    #[arg(long, value_name = "URL")]
    pub advertise: Option<String>,
    /// A query service to report the controller's status to (`http://spider-query:8080`), so it
    /// lists the cluster with its controller.
    #[arg(long, value_name = "URL")]
    pub report_to: Option<String>,
    /// The query service's agent token, which the reports carry (the environment keeps it out of
    /// process lists).
    #[arg(
        long,
        env = "SPIDER_AGENT_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub agent_token: Option<String>,
    /// The token the feed and the status need (agents give it as `controller_token`); open
    /// without one.
    #[arg(
        long,
        env = "SPIDER_FEED_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub feed_token: Option<String>,
}

pub(super) fn controller(args: &ControllerArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let ran = runtime.block_on(async {
        let auth = match args.kubeconfig {
            Some(_) => AuthType::KubeConfig,
            None => AuthType::ServiceAccount,
        };
        let client =
            kubernetes::client(auth, args.kubeconfig.as_deref(), args.context.as_deref()).await?;
        // `--cluster` is checked by its parser, the environment's by `cluster_name`.
        let cluster = spider_collector::cluster_name(args.cluster.clone());
        if args
            .feed_token
            .as_deref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err("the feed token is empty: unset it for an open feed".to_owned());
        }
        if let Some(feed) = &args.advertise {
            spider_kube::feed::objects_url(feed, None).map_err(|e| format!("--advertise: {e}"))?;
        }
        let identity = Identity {
            cluster,
            feed: args.advertise.clone(),
            report_to: args.report_to.clone().map(|service| ReportTo {
                service,
                token: args.agent_token.clone().filter(|t| !t.is_empty()),
            }),
            token: args.feed_token.clone(),
        };
        let telemetry = Telemetry::new();
        let controller = Controller::start(
            client,
            args.listen,
            identity,
            &telemetry.component(&[("component", "controller")]),
        )
        .await?;
        until_stopped().await;
        controller.stop().await;
        Ok::<(), String>(())
    });
    match ran {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}
