//! The examples users copy: every query of the SQL cookbook runs in `spider sql` and in DuckDB
//! with the same answer, and the Grafana dashboard asks only for metrics and labels that the
//! OTLP exporter really sends (checked on the end-to-end test's export).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::serve::generated;
use crate::support::{repo_root, run, scratch, stderr};

/// The ```sql blocks of the cookbook, with the heading above each.
fn cookbook() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo_root().join("examples/sql-cookbook.md")).unwrap();
    let mut queries = Vec::new();
    let mut heading = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some(title) = line.strip_prefix("## ") {
            heading = title.to_owned();
        } else if line == "```sql" {
            let query: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            queries.push((heading.clone(), query.join("\n")));
        }
    }
    queries
}

/// `spider sql` rows as CSV cells (no cookbook answer holds a comma).
fn spider_rows(data: &Path, query: &str) -> Vec<Vec<String>> {
    let output = run(&[
        "sql",
        "--data",
        data.to_str().unwrap(),
        "--format",
        "csv",
        query,
    ]);
    assert!(output.status.success(), "{query}\n{}", stderr(&output));
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .skip(1)
        .map(|line| line.split(',').map(str::to_owned).collect())
        .collect()
}

/// A cell as a number, when it is one (both engines print numbers alike; text and times differ).
fn number(cell: &str) -> Option<f64> {
    cell.trim_matches('"').parse().ok()
}

#[test]
fn every_cookbook_query_answers_the_same_in_spider_and_duckdb() {
    // Three of each, so every question has an answer (external traffic among them), unlike the
    // generate test's smaller cluster.
    let usage = scratch("cookbook").join("usage");
    let generated_usage = run(&[
        "generate",
        "--out",
        usage.to_str().unwrap(),
        "--nodes",
        "3",
        "--namespaces",
        "3",
        "--workloads",
        "3",
        "--pods",
        "2",
        "--hours",
        "1",
        "--end",
        "2026-11-21T07:00:00Z",
    ]);
    assert!(
        generated_usage.status.success(),
        "{}",
        stderr(&generated_usage)
    );
    let capture = generated(40, 5, 11);
    let queries = cookbook();
    assert!(queries.len() >= 8, "{} queries", queries.len());
    for (heading, query) in &queries {
        let data = if query.contains("FROM network_usage") {
            &usage
        } else {
            &capture
        };
        let ours = spider_rows(data, query);
        let theirs = spider_testkit::python_json(
            "datasets.py",
            &["sql", data.to_str().unwrap(), query.as_str()],
        );
        let theirs = theirs[0].as_array().unwrap();
        assert!(!ours.is_empty(), "{heading}: no rows");
        assert_eq!(ours.len(), theirs.len(), "{heading}: row counts");
        for (row, (mine, duck)) in ours.iter().zip(theirs).enumerate() {
            let duck = duck.as_array().unwrap();
            assert_eq!(mine.len(), duck.len(), "{heading} row {row}");
            for (column, (cell, value)) in mine.iter().zip(duck).enumerate() {
                if let (Some(a), Some(b)) = (number(cell), value.as_f64()) {
                    assert!(
                        (a - b).abs() <= 1e-9 * b.abs().max(1.0),
                        "{heading} row {row} column {column}: {a} vs {b}"
                    );
                } else if let Value::String(text) = value {
                    // Text compares as is; timestamps are printed differently by each engine.
                    if !text.contains(':') {
                        assert_eq!(
                            cell.trim_matches('"'),
                            text,
                            "{heading} row {row} column {column}"
                        );
                    }
                }
            }
        }
    }
}

/// Prometheus's name for an OTLP metric (dots to underscores, the unit's suffix, `_total` for
/// monotonic sums), as its OTLP receiver and the Collector's Prometheus exporters write them.
fn prometheus_name(name: &str, unit: &str) -> String {
    let mut translated = name.replace('.', "_");
    let suffix = match unit {
        "By" => "bytes",
        unit if unit.starts_with('{') || unit == "1" || unit.is_empty() => "",
        unit => unit,
    };
    if !suffix.is_empty() && !translated.ends_with(suffix) {
        translated = format!("{translated}_{suffix}");
    }
    format!("{translated}_total")
}

/// Checks the Grafana dashboard against decoded OTLP export requests: every metric a panel or
/// variable queries is one that was exported, every label is an exported attribute.
pub fn dashboard_asks_for_what_was_exported(requests: &[Value]) {
    let mut metrics = BTreeSet::new();
    let mut labels: BTreeSet<String> = BTreeSet::new();
    for request in requests {
        for resource in request["request"]["resource_metrics"].as_array().unwrap() {
            for scope in resource["scope_metrics"].as_array().unwrap() {
                for metric in scope["metrics"].as_array().unwrap() {
                    assert_eq!(metric["sum"]["is_monotonic"], true, "{}", metric["name"]);
                    metrics.insert(prometheus_name(
                        metric["name"].as_str().unwrap(),
                        metric["unit"].as_str().unwrap_or(""),
                    ));
                    for point in metric["sum"]["data_points"].as_array().unwrap() {
                        for attribute in point["attributes"].as_array().into_iter().flatten() {
                            labels.insert(attribute["key"].as_str().unwrap().replace('.', "_"));
                        }
                    }
                }
            }
        }
    }
    let path = repo_root().join("examples/grafana/spider-network.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut expressions: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|panel| panel["targets"].as_array().unwrap().clone())
        .map(|target| target["expr"].as_str().unwrap().to_owned())
        .collect();
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            expressions.push(query.to_owned());
        }
    }
    assert!(expressions.len() >= 9, "{expressions:?}");
    // PromQL's own words, and the dashboard's variables and template fields.
    let keywords = ["sum", "by", "rate", "topk", "label_values"];
    for expression in &expressions {
        let without_strings: String = expression
            .split('"')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, part)| part)
            .collect();
        let words = without_strings
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '$'))
            .filter(|word| word.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
        let mut used_metric = false;
        for word in words {
            if keywords.contains(&word) {
                continue;
            }
            if word.ends_with("_total") {
                assert!(
                    metrics.contains(word),
                    "{word} is not exported ({metrics:?}): {expression}"
                );
                used_metric = true;
            } else {
                assert!(
                    labels.contains(word),
                    "label {word} is not exported ({labels:?}): {expression}"
                );
            }
        }
        assert!(used_metric, "no metric in {expression}");
    }
}
