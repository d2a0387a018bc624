//! `spider validate`, `spider collect` and `spider components` on real config files.

use std::time::Duration;

use crate::support::{config_file, final_count, repo_root, run, spawn, spider, stderr, terminate};

#[test]
fn validate_prints_all_five_mistakes_with_their_paths_and_fails() {
    let path = config_file(
        "five-mistakes",
        r#"
receivers:
  synthetic:
    rat: 100                         # 1. misspelt key
processors:
  batch:
    send_batch_size: 0               # 2. invalid value
exporters:
  debug:
  debug/unused:                      # 3. never used
service:
  pipelines:
    usage:
      receivers: [synthetic, otlp]   # 4. not defined
      processors: [batch]
      exporters: [debug]
    capture:
      receivers: [synthetic]         # 5. synthetic makes usage records only
      exporters: [debug]
"#,
    );
    let output = run(&["validate", "--config", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let errors = stderr(&output);
    assert!(errors.contains(": 5 errors:"), "{errors}");
    for expected in [
        "receivers::synthetic::rat: unknown field `rat`",
        "processors::batch::send_batch_size: must be at least 1",
        "exporters::debug/unused: defined but not used in any pipeline",
        "service::pipelines::usage::receivers::otlp: receiver \"otlp\" is not defined in receivers",
        "service::pipelines::capture::receivers::synthetic: receiver \"synthetic\" does not support the capture signal",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
    assert!(output.stdout.is_empty(), "no graph for an invalid config");
}

#[test]
fn every_shipped_config_validates_and_prints_its_graph() {
    let dir = repo_root().join("otel-config");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("otel-config/") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "yaml") {
            // Shipped configs name files relative to the repository, where the README runs them.
            let output = spider()
                .current_dir(repo_root())
                .args(["validate", "--config", path.to_str().unwrap()])
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                output.status.success(),
                "{}:\n{}",
                path.display(),
                stderr(&output)
            );
            assert!(stdout.contains("valid\npipeline "), "{stdout}");
            checked += 1;
        }
    }
    assert!(checked > 0, "no config in {}", dir.display());
}

#[test]
fn a_missing_file_is_named() {
    let output = run(&["validate", "--config", "/nonexistent/spider.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).starts_with("cannot read /nonexistent/spider.yaml: "),
        "{}",
        stderr(&output)
    );
}

const FINITE: &str = r#"
receivers:
  synthetic: { records: 5000, rate: 0, batch_size: 100 }
processors:
  batch: { send_batch_size: 1000, timeout: 50ms }
exporters:
  debug:
  debug/second: { verbosity: normal, sampling_max_records: 1 }
service:
  telemetry: { metrics: { level: none } }
  pipelines:
    usage: { receivers: [synthetic], processors: [batch], exporters: [debug, debug/second] }
"#;

#[test]
fn collect_ends_when_its_receivers_are_done_with_everything_delivered() {
    let path = config_file("finite", FINITE);
    let output = run(&["collect", "--config", path.to_str().unwrap()]);
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(log.contains("every receiver is done, stopping"), "{log}");
    assert_eq!(
        final_count(&log, "receiver=synthetic", "receiver_accepted_items"),
        5000
    );
    assert_eq!(
        final_count(
            &log,
            "processor=batch pipeline=usage",
            "processor_outgoing_items"
        ),
        5000
    );
    for exporter in ["exporter=debug", "exporter=debug/second"] {
        assert_eq!(
            final_count(&log, exporter, "exporter_sent_items"),
            5000,
            "{exporter}"
        );
        assert_eq!(
            final_count(&log, exporter, "exporter_enqueue_failed_items"),
            0,
            "{exporter}"
        );
    }
    assert!(
        log.contains("records=5000"),
        "the debug exporter's own count: {log}"
    );
}

#[test]
fn collect_stops_cleanly_on_sigterm_without_losing_accepted_records() {
    let yaml = FINITE.replace("records: 5000, rate: 0", "records: 0, rate: 20000");
    let path = config_file("sigterm", &yaml);
    let child = spawn(&["collect", "--config", path.to_str().unwrap()]);
    std::thread::sleep(Duration::from_millis(1500));
    let output = terminate(child);
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("SIGTERM received, stopping") && log.contains("stopped cleanly"),
        "{log}"
    );
    let accepted = final_count(&log, "receiver=synthetic", "receiver_accepted_items");
    assert!(
        accepted >= 1000,
        "1.5 s at 20000/s should give thousands, got {accepted}"
    );
    assert_eq!(
        final_count(&log, "exporter=debug", "exporter_sent_items"),
        accepted
    );
    assert_eq!(
        final_count(&log, "exporter=debug/second", "exporter_sent_items"),
        accepted
    );
}

#[test]
fn a_metrics_port_in_use_is_reported_and_fails_the_start() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let yaml = FINITE.replace(
        "{ metrics: { level: none } }",
        &format!("{{ metrics: {{ address: \"{address}\" }} }}"),
    );
    let output = run(&[
        "collect",
        "--config",
        config_file("port", &yaml).to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let log = stderr(&output);
    assert!(
        log.contains(&format!("cannot serve metrics on {address}")),
        "{log}"
    );
}

#[test]
fn components_lists_every_type_with_its_signals() {
    let output = run(&["components"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        "receivers:",
        "  ebpf_usage   signals: usage",
        "  synthetic    signals: usage",
        "processors:",
        "  batch        signals: usage, capture",
        "exporters:",
        "  debug        signals: usage, capture",
        "  otlp         signals: usage",
        "  parquet      signals: usage, capture",
    ] {
        assert!(
            lines.contains(&expected),
            "missing {expected:?} in:\n{text}"
        );
    }
    let position = |line: &str| lines.iter().position(|l| *l == line).unwrap();
    assert!(position("receivers:") < position("  synthetic    signals: usage"));
    assert!(position("processors:") < position("  batch        signals: usage, capture"));
    assert!(position("exporters:") < position("  otlp         signals: usage"));
}
