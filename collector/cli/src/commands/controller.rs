//! `spider controller`: the cluster's controller — the only watcher of the Kubernetes API,
//! serving the metadata to the node agents whose `k8s_attributes` (and `whisperer`) use
//! `source: controller`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use spider_collector::Telemetry;
use spider_controller::Controller;
use spider_kube::{AuthType, kubernetes};

use super::{runtime, until_stopped};

/// Arguments of `spider controller`.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Where the feed is served (with `/readyz`, `/v1/status` and `/metrics`).
    #[arg(long, default_value = "0.0.0.0:4390", value_name = "ADDRESS")]
    pub listen: SocketAddr,
    /// A kubeconfig to reach the API with, instead of the pod's service account (a controller
    /// run outside the cluster).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig's context (default: its current one).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
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
        let telemetry = Telemetry::new();
        let controller = Controller::start(
            client,
            args.listen,
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
