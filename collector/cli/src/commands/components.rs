//! `spider components`: the types a config can use.

use spider_collector::Factories;
use spider_collector::component::ComponentKind;

/// The component table `spider components` prints.
pub fn components(factories: &Factories) -> String {
    let mut out = String::new();
    for kind in [
        ComponentKind::Receiver,
        ComponentKind::Processor,
        ComponentKind::Exporter,
    ] {
        out.push_str(&format!("{}:\n", kind.section()));
        for type_name in factories.type_names(kind) {
            let signals = factories.signals(kind, type_name).unwrap_or_default();
            let signals: Vec<_> = signals.iter().map(|s| s.as_str()).collect();
            out.push_str(&format!(
                "  {type_name:<12} signals: {}\n",
                signals.join(", ")
            ));
        }
    }
    out
}
