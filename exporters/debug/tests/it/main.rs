//! Tests of the debug exporter: conformance and what it writes at each verbosity.

use spider_collector::conformance;
use spider_collector::records::{Batch, NetworkUsage};
use spider_exporter_debug::{DEBUG_EXPORTER, DebugConfig, Verbosity, render};

#[tokio::test]
async fn lifecycle_and_config_conform() {
    conformance::check_component(DEBUG_EXPORTER, DebugConfig::default()).await;
}

#[test]
fn verbosity_decides_how_much_is_written() {
    let batch = Batch::Usage(vec![
        NetworkUsage {
            server_port: 53,
            bytes_to_server: 70,
            ..Default::default()
        };
        3
    ]);
    let basic = render(&batch, &DebugConfig::default());
    assert_eq!(basic, ["3 network_usage records"]);
    let normal = render(
        &batch,
        &DebugConfig {
            verbosity: Verbosity::Normal,
            sampling_max_records: 2,
        },
    );
    assert_eq!(
        normal.len(),
        3,
        "header and two sampled records: {normal:?}"
    );
    assert!(normal[1].contains("0.0.0.0:53 tcp → 70B"), "{normal:?}");
    let detailed = render(
        &batch,
        &DebugConfig {
            verbosity: Verbosity::Detailed,
            sampling_max_records: 0,
        },
    );
    assert_eq!(detailed.len(), 4);
    assert!(detailed[1].contains("bytes_to_server: 70"), "{detailed:?}");
}
