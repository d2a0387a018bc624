//! The demo without root: two hours of a made-up cluster's usage, ending now, written afresh on
//! each start into DATA/generated (its own directory, so it never mixes with counted data).

use anyhow::Context;
use spider_collector::records::Timestamp;
use spider_synthetic::cluster::Shape;

use super::super::StopSignals;
use super::{DemoArgs, bind_ui, serve_until_stopped};

/// What is made up: 3 nodes, 4 namespaces of 4 workloads of 3 pods.
const SHAPE: Shape = Shape {
    nodes: 3,
    namespaces: 4,
    workloads: 4,
    pods: 3,
};

pub(super) async fn run(args: &DemoArgs, stop: StopSignals) -> anyhow::Result<()> {
    let data = args.data.join("generated");
    if data.exists() {
        std::fs::remove_dir_all(&data)
            .with_context(|| format!("cannot clear {}", data.display()))?;
    }
    let end = Timestamp::now().minute_start();
    let (rows, _) = super::super::generate::write_usage(
        &data,
        SHAPE,
        1,
        spider_collector::DEFAULT_CLUSTER,
        end,
        2,
        true,
    )
    .await
    .map_err(anyhow::Error::msg)?;
    tracing::info!(
        rows,
        "generated two hours of usage ending now, with anomalies planted in its last minutes"
    );
    let (listener, app, _) = bind_ui(
        args,
        &data,
        "GENERATED usage, not counted: run as root for the living cluster",
    )
    .await?;
    serve_until_stopped(listener, app, stop).await;
    Ok(())
}
