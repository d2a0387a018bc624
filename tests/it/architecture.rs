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
