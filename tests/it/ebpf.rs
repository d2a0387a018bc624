//! eBPF usage counting without the privileges it needs: the collector says exactly what is
//! missing and the rest of the pipeline keeps running.

use crate::support::{config_file, final_count, stderr};

#[test]
fn without_capabilities_usage_counting_names_what_is_missing_and_the_pipeline_runs() {
    let config = config_file(
        "unprivileged",
        r#"
receivers:
  ebpf_usage:
  synthetic: { records: 500, rate: 0 }
exporters:
  debug:
service:
  telemetry: { metrics: { level: none } }
  pipelines:
    usage: { receivers: [ebpf_usage, synthetic], exporters: [debug] }
"#,
    );
    let output = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_spider"))
        .args(["collect", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", "info")
        .output()
        .expect("setpriv runs");
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains(
            "network usage counting is off: this process lacks CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON"
        ),
        "{log}"
    );
    assert_eq!(
        final_count(&log, "exporter=debug", "exporter_sent_items"),
        500,
        "the other receiver's records all arrived"
    );
}
