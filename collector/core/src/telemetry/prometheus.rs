//! The Prometheus text exposition format (version 0.0.4) for the registry.

use std::fmt::Write;

use super::{Series, Source};

/// Renders series grouped by metric name, each group with its HELP and TYPE lines once.
pub(super) fn render(series: &[Series]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for s in series {
        if !names.contains(&s.name.as_str()) {
            names.push(&s.name);
        }
    }
    let mut out = String::new();
    for name in names {
        let group: Vec<&Series> = series.iter().filter(|s| s.name == name).collect();
        let kind = match group[0].source {
            Source::Counter(_) => "counter",
            Source::Gauge(_) => "gauge",
        };
        let _ = writeln!(out, "# HELP {name} {}", escape_help(&group[0].help));
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for s in group {
            let labels: Vec<String> = s
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape_label(v)))
                .collect();
            let labels = if labels.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", labels.join(","))
            };
            let _ = writeln!(out, "{name}{labels} {}", s.source.value());
        }
    }
    out
}

fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(text: &str) -> String {
    escape_help(text).replace('"', "\\\"")
}
