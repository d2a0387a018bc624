//! The layout's one rule, checked: no component crate (receiver, processor, exporter) depends on
//! another, in any dependency section; shared capabilities live in crates of their own.

use std::collections::BTreeMap;

/// Each component crate's name and the component crates its Cargo.toml names.
fn component_dependencies() -> BTreeMap<String, Vec<String>> {
    let root = spider_testkit::repo_root();
    let mut found = BTreeMap::new();
    for kind in ["receivers", "processors", "exporters"] {
        for entry in std::fs::read_dir(root.join(kind)).unwrap() {
            let manifest = entry.unwrap().path().join("Cargo.toml");
            let Ok(text) = std::fs::read_to_string(&manifest) else {
                continue;
            };
            let name = text
                .lines()
                .find_map(|line| line.strip_prefix("name = \""))
                .and_then(|rest| rest.strip_suffix('"'))
                .unwrap_or_else(|| panic!("{} has no name", manifest.display()))
                .to_owned();
            let components = text
                .lines()
                .filter_map(|line| line.split(['.', ' ', '=']).next())
                .filter(|dependency| {
                    ["spider-receiver-", "spider-processor-", "spider-exporter-"]
                        .iter()
                        .any(|prefix| dependency.starts_with(prefix))
                })
                .map(str::to_owned)
                .collect();
            found.insert(name, components);
        }
    }
    found
}

#[test]
fn no_component_crate_depends_on_another() {
    let found = component_dependencies();
    assert!(
        found.len() >= 10,
        "the component crates are found: {found:?}"
    );
    let edges: Vec<_> = found
        .iter()
        .flat_map(|(name, dependencies)| dependencies.iter().map(move |d| format!("{name} → {d}")))
        .collect();
    assert!(edges.is_empty(), "component → component: {edges:?}");
}

/// The metrics the code registers, in source order: name, help text and the crate's folder.
fn registered_metrics() -> Vec<(String, String, String)> {
    let root = spider_testkit::repo_root();
    let mut sources = Vec::new();
    for folder in ["collector", "receivers", "processors", "exporters"] {
        for entry in std::fs::read_dir(root.join(folder)).unwrap() {
            sources.push(entry.unwrap().path());
        }
    }
    sources.push(root.join("query"));
    sources.push(root.join("server"));
    sources.sort();
    let mut metrics: Vec<(String, String, String)> = Vec::new();
    for crate_dir in sources {
        let mut files = Vec::new();
        collect_rust_files(&crate_dir.join("src"), &mut files);
        files.sort();
        let folder = crate_dir.strip_prefix(&root).unwrap().display().to_string();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            // A module's own unit tests register made-up metrics.
            let text = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or_default();
            for (name, help) in metric_literals(text) {
                if !metrics.iter().any(|(known, ..)| *known == name) {
                    metrics.push((name, help, folder.clone()));
                }
            }
        }
    }
    metrics
}

fn collect_rust_files(dir: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// Each `"spider_…"` literal in `text`, with the help literal that follows it when there is one.
fn metric_literals(text: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("\"spider_") {
        let after = &rest[at + 1..];
        let end = after.find('"').unwrap();
        let name = after[..end].to_owned();
        let tail = after[end + 1..].trim_start_matches([',', ' ', '\n']);
        let help = tail
            .strip_prefix('"')
            .and_then(|help| help.split('"').next())
            .unwrap_or_default()
            .to_owned();
        // `"spider_"` alone is the prefix the telemetry checks, not a metric.
        if name != "spider_" {
            found.push((name, help));
        }
        rest = &after[end + 1..];
    }
    found
}

/// The README's metrics table, as the code declares the metrics.
fn metrics_table() -> String {
    let mut table = String::from("| metric | from | meaning |\n|---|---|---|\n");
    for (name, help, folder) in registered_metrics() {
        table.push_str(&format!("| `{name}` | `{folder}` | {help} |\n"));
    }
    table
}

const TABLE_START: &str = "<!-- metrics table: written by tests/it/architecture.rs -->\n";
const TABLE_END: &str = "<!-- end of the metrics table -->";

#[test]
fn the_readme_lists_every_metric_the_code_registers() {
    let metrics = registered_metrics();
    assert!(metrics.len() >= 30, "the metrics are found: {metrics:?}");
    assert!(
        metrics.iter().all(|(_, help, _)| !help.is_empty()),
        "every metric has a help text: {metrics:?}"
    );
    let path = spider_testkit::repo_root().join("README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme
        .find(TABLE_START)
        .expect("the README has the metrics table")
        + TABLE_START.len();
    let end = start + readme[start..].find(TABLE_END).expect("the table ends");
    let table = metrics_table();
    if std::env::var_os("SPIDER_WRITE_README").is_some() {
        std::fs::write(
            &path,
            format!("{}{table}{}", &readme[..start], &readme[end..]),
        )
        .unwrap();
        return;
    }
    assert_eq!(
        readme[start..end],
        table,
        "README.md's metrics table is not the code's: SPIDER_WRITE_README=1 cargo test \
         --workspace --test it -- the_readme_lists writes it"
    );
}
