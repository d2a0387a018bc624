//! Running the `spider` binary on config files written by the test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub use spider_testkit::{repo_root, scratch};

/// Writes `yaml` to a file in a scratch directory.
pub fn config_file(name: &str, yaml: &str) -> PathBuf {
    let path = scratch(name).join("config.yaml");
    std::fs::write(&path, yaml).expect("write config");
    path
}

/// The `spider` command with a predictable log level.
pub fn spider() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spider"));
    command
        .env("RUST_LOG", "info")
        .env_remove("SPIDER_METRICS_ADDRESS");
    command
}

/// Runs `spider ARGS` to completion.
pub fn run(args: &[&str]) -> Output {
    spider().args(args).output().expect("spider runs")
}

/// Starts `spider ARGS` in the background with captured output.
pub fn spawn(args: &[&str]) -> Child {
    spider()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spider starts")
}

/// Standard error as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A counter from the final telemetry lines of a collector's log: `owner` is the label set
/// (`receiver=synthetic`) and `name` the short metric name (`receiver_accepted_items`).
pub fn final_count(log: &str, owner: &str, name: &str) -> u64 {
    let marker = format!("final: {owner}: ");
    let line = log
        .lines()
        .find(|line| line.contains(&marker))
        .unwrap_or_else(|| panic!("no {marker:?} in:\n{log}"));
    let fields = &line[line.find(&marker).unwrap() + marker.len()..];
    fields
        .split_whitespace()
        .find_map(|field| field.strip_prefix(&format!("{name}=")))
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {line:?}"))
}

/// Runs `spider collect` on `records` synthetic usage records into a fresh Parquet directory
/// (`ports` distinct server ports) and returns that directory.
pub fn collect_synthetic(name: &str, records: u64, ports: u16) -> PathBuf {
    let data = scratch(name).join("data");
    let yaml = format!(
        r#"
receivers:
  synthetic: {{ records: {records}, rate: 0, ports: {ports} }}
exporters:
  parquet: {{ path: "{}", sending_queue: {{ when_full: block }} }}
service:
  telemetry: {{ metrics: {{ level: none }} }}
  pipelines:
    usage: {{ receivers: [synthetic], exporters: [parquet] }}
"#,
        data.display()
    );
    let collected = run(&[
        "collect",
        "--config",
        config_file(name, &yaml).to_str().unwrap(),
    ]);
    assert!(collected.status.success(), "{}", stderr(&collected));
    data
}

/// Sends SIGTERM to a spawned `spider` and waits for it, with its output.
pub fn terminate(child: Child) -> Output {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success(), "SIGTERM could not be sent");
    child.wait_with_output().expect("spider exits")
}

/// `spider analyze FILE --out DIR`, which must succeed; returns DIR.
pub fn analyze(file: &std::path::Path) -> PathBuf {
    let out = scratch("analyze").join("data");
    let output = run(&[
        "analyze",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    out
}

/// `spider generate` of the two hours before `end` (Unix seconds) into a fresh directory named
/// `name`, which it returns.
pub fn generated_hours(name: &str, end: i64) -> PathBuf {
    let data = scratch(name).join("data");
    generate_into(&data, end, 2, &[]);
    data
}

/// `spider generate` of `hours` before `end` into `data` (a lake that may hold other clusters),
/// with `extra` arguments, which must succeed.
pub fn generate_into(data: &Path, end: i64, hours: u32, extra: &[&str]) {
    let (end, hours) = (end.to_string(), hours.to_string());
    let mut args = vec![
        "generate",
        "--out",
        data.to_str().unwrap(),
        "--hours",
        &hours,
        "--end",
        &end,
    ];
    args.extend_from_slice(extra);
    let generated = run(&args);
    assert!(generated.status.success(), "{}", stderr(&generated));
}

/// Two clusters generated into one lake named `name`: `east` with two namespaces, `west` with
/// four (so each map has namespaces the other lacks), `hours` before `end`.
pub fn two_clusters(name: &str, end: i64, hours: u32) -> PathBuf {
    let data = scratch(name).join("data");
    for (cluster, namespaces, seed) in [("east", "2", "1"), ("west", "4", "2")] {
        let shape = [
            "--cluster",
            cluster,
            "--namespaces",
            namespaces,
            "--seed",
            seed,
        ];
        generate_into(&data, end, hours, &shape);
    }
    data
}
