//! Configuration: the OTel Collector's shape, every mistake reported at once with its path.

use spider_collector::{CollectorConfig, ConfigError};

use crate::support::{Sink, factories};

fn parse(yaml: &str) -> Result<CollectorConfig, Vec<ConfigError>> {
    let env = |name: &str| match name {
        "RECORDS" => Some("42".to_owned()),
        "SUFFIX" => Some("b".to_owned()),
        _ => None,
    };
    CollectorConfig::from_yaml_with_env(yaml, &factories(&Sink::default()), &env)
}

fn errors(yaml: &str) -> Vec<String> {
    parse(yaml)
        .expect_err("the config should be refused")
        .iter()
        .map(ToString::to_string)
        .collect()
}

const VALID: &str = r#"
receivers:
  counting:
    records: ${env:RECORDS}
processors:
  holding:
exporters:
  collecting/a:
  collecting/b:
    sending_queue: { queue_size: 7, when_full: block }
service:
  telemetry: { metrics: { level: none } }
  pipelines:
    usage:
      receivers: [counting]
      processors: [holding]
      exporters: [collecting/a, collecting/b]
"#;

#[test]
fn a_valid_config_resolves_and_prints_its_graph() {
    let config = parse(VALID).unwrap();
    assert_eq!(config.pipelines.len(), 1);
    let graph = config.to_string();
    assert_eq!(
        graph,
        "pipeline usage\n  receivers:  counting\n  processors: holding\n  exporters:  collecting/a (queue 1000, when full: drop_newest), collecting/b (queue 7, when full: block)\n"
    );
}

#[test]
fn env_references_keep_the_yaml_type_of_their_value() {
    assert!(parse(VALID).unwrap().warnings.is_empty());
    let wrong_type = errors(&VALID.replace("${env:RECORDS}", "${env:SUFFIX}"));
    assert_eq!(wrong_type.len(), 1, "{wrong_type:?}");
    assert!(
        wrong_type[0].starts_with("receivers::counting::records: invalid type: string \"b\""),
        "{wrong_type:?}"
    );
}

#[test]
fn every_unknown_key_of_a_block_is_reported() {
    let yaml = r#"
receivers:
  counting:
    recrods: 10
    rat: 5
exporters:
  collecting:
    sending_queue: { queue_size: 10, when_ful: block }
    retry_on_failure: { initial: 1s }
service:
  pipelines:
    usage: { receivers: [counting], exporters: [collecting], procesors: [] }
"#;
    let mut found = errors(yaml);
    found.sort();
    let starts = [
        "exporters::collecting::retry_on_failure::initial: unknown field `initial`",
        "exporters::collecting::sending_queue::when_ful: unknown field `when_ful`",
        "receivers::counting::rat: unknown field `rat`",
        "receivers::counting::recrods: unknown field `recrods`",
        "service::pipelines::usage::procesors: unknown field `procesors`",
    ];
    assert_eq!(found.len(), starts.len(), "{found:#?}");
    for (error, start) in found.iter().zip(starts) {
        assert!(error.starts_with(start), "{error:?} is not {start:?}");
    }
}

#[test]
fn five_mistakes_are_all_reported_with_their_paths() {
    let yaml = r#"
receivers:
  counting:
    recrods: 10                # 1. unknown key in a component
processors:
  holding:
exporters:
  collecting:
    sending_queue:
      queue_size: 0            # 2. invalid queue size
  collecting/unused:           # 3. defined, never used
service:
  pipelines:
    usage:
      receivers: [counting, otlp]    # 4. undefined receiver
      processors: [holding]
      exporters: [collecting]
    capture:
      receivers: [counting]          # 5. counting does not produce capture records
      exporters: [collecting]
"#;
    let found = errors(yaml);
    let expected_starts = [
        "receivers::counting::recrods: unknown field `recrods`",
        "exporters::collecting/unused: defined but not used in any pipeline",
        "exporters::collecting::sending_queue::queue_size: must be at least 1",
        "service::pipelines::capture::receivers::counting: receiver \"counting\" does not support the capture signal",
        "service::pipelines::usage::receivers::otlp: receiver \"otlp\" is not defined in receivers",
    ];
    for start in expected_starts {
        assert!(
            found.iter().any(|e| e.starts_with(start)),
            "missing {start:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), 5, "{found:#?}");

    let fixed = yaml
        .replace("[counting, otlp]", "[counting]")
        .replace("capture:", "usage/second:");
    let fixed = fixed
        .replace("recrods", "records")
        .replace("queue_size: 0", "queue_size: 1");
    let found = errors(&fixed);
    assert_eq!(
        found,
        ["exporters::collecting/unused: defined but not used in any pipeline"]
    );
}

#[test]
fn structural_mistakes_are_named() {
    let yaml = r#"
receivers:
  nosuch:
  "counting/":
extensions: {}
colector: {}
exporters: [collecting]
service:
  pipelines:
    metrics:
      receivers: [nosuch]
      exporters: [collecting]
    usage:
      receivers: [counting, counting]
      foo: bar
"#;
    let found = errors(yaml);
    let expected = [
        "receivers::nosuch: unknown receiver type \"nosuch\"; known types: counting",
        "receivers::counting/: invalid name \"\" after '/'",
        "extensions: not supported by Spider",
        "colector: unknown key; expected receivers, processors, exporters or service",
        "exporters: expected a mapping, found a list",
        "service::pipelines::metrics: unknown signal \"metrics\" in pipeline \"metrics\"",
        "service::pipelines::usage::foo: unknown field `foo`",
    ];
    for start in expected {
        assert!(
            found.iter().any(|e| e.starts_with(start)),
            "missing {start:?} in {found:#?}"
        );
    }
}

#[test]
fn pipelines_need_receivers_and_exporters_and_no_duplicates() {
    let yaml = r#"
receivers: { counting: }
exporters: { collecting: }
service:
  shutdown_timeout: 5 seconds
  node: "a/b"
  telemetry: { logs: { level: loud }, metrics: { address: "localhost" } }
  pipelines:
    usage: { receivers: [counting, counting], exporters: [collecting] }
    usage/empty: {}
"#;
    let found = errors(yaml);
    let expected = [
        "service::shutdown_timeout: invalid duration \"5 seconds\"",
        "service::node: must be non-empty, without '/' or spaces",
        "service::telemetry::logs::level: unknown level \"loud\"",
        "service::telemetry::metrics::address: \"localhost\" is not an IP address and port",
        "service::pipelines::usage::receivers::counting: receiver listed twice in the same pipeline",
        "service::pipelines::usage/empty::receivers: a pipeline needs at least one",
        "service::pipelines::usage/empty::exporters: a pipeline needs at least one",
    ];
    for start in expected {
        assert!(
            found.iter().any(|e| e.starts_with(start)),
            "missing {start:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");
}

#[test]
fn the_node_is_declared_once_at_the_service_level() {
    let named = VALID.replace("service:\n", "service:\n  node: node-7\n");
    assert_eq!(parse(&named).expect("valid").node, "node-7");
    // Without it: $SPIDER_NODE_NAME, else the host name; never empty.
    assert!(!parse(VALID).expect("valid").node.is_empty());
}

#[test]
fn empty_and_broken_documents_are_refused_clearly() {
    assert_eq!(
        errors(""),
        ["service::pipelines: at least one pipeline is required"]
    );
    let broken = errors("receivers: [unclosed");
    assert!(broken[0].starts_with("not valid YAML"), "{broken:?}");
    assert!(errors("just text")[0].contains("expected a mapping, found a string"));
}

#[test]
fn unset_variables_expand_empty_with_a_warning() {
    let yaml = VALID
        .replace("${env:RECORDS}", "${env:RECORDS_UNSET:-5}")
        .replace(
            "receivers: [counting]",
            "receivers: ['counting${env:NOT_SET}']",
        );
    let config = parse(&yaml).unwrap();
    assert_eq!(config.warnings.len(), 1);
    assert!(config.warnings[0].contains("NOT_SET"));
}

#[test]
fn metric_readers_take_the_collectors_shape_and_each_mistake_is_named() {
    let good = r#"
receivers: { counting: }
exporters: { collecting: }
service:
  telemetry:
    metrics:
      readers:
        - pull: { exporter: { prometheus: { host: 0.0.0.0, port: 9464 } } }
        - periodic:
            interval: 5000
            exporter: { otlp: { protocol: grpc, endpoint: "https://otel.example:4317", headers: { authorization: Bearer x } } }
  pipelines:
    usage: { receivers: [counting], exporters: [collecting] }
"#;
    let config = parse(good).expect("valid readers");
    assert_eq!(
        config.telemetry.metrics_address(),
        Some("0.0.0.0:9464".parse().unwrap()),
        "the pull reader says where /metrics is served"
    );
    let pushes = config.telemetry.periodic_readers();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].interval(), std::time::Duration::from_secs(5));
    assert_eq!(pushes[0].timeout(), std::time::Duration::from_secs(30));

    let bad = r#"
receivers: { counting: }
exporters: { collecting: }
service:
  telemetry:
    metrics:
      address: 127.0.0.1:8888
      readers:
        - pull: { exporter: { prometheus: { host: localhost, port: 9464 } } }
        - periodic:
            interval: 10
            timeout: 0
            exporter: { otlp: { protocol: http/protobuf, endpoint: "otel:4317", headers: { "Bad Name": x } } }
        - {}
  pipelines:
    usage: { receivers: [counting], exporters: [collecting] }
"#;
    let found = errors(bad);
    let expected = [
        "service::telemetry::metrics::readers::0::pull::exporter::prometheus::host: \"localhost\" is not an IP address",
        "service::telemetry::metrics::readers::1::periodic::interval: 10 ms is out of range",
        "service::telemetry::metrics::readers::1::periodic::timeout: 0 ms is out of range",
        "service::telemetry::metrics::readers::1::periodic::exporter::otlp::protocol: \"http/protobuf\" is not supported",
        "service::telemetry::metrics::readers::1::periodic::exporter::otlp::endpoint: \"otel:4317\" is not an http(s)://host:port address",
        "service::telemetry::metrics::readers::1::periodic::exporter::otlp::headers::Bad Name: gRPC metadata names",
        "service::telemetry::metrics::readers::2: a reader is either pull or periodic",
        "service::telemetry::metrics::readers: /metrics is served at one address",
    ];
    for start in expected {
        assert!(
            found.iter().any(|e| e.starts_with(start)),
            "missing {start:?} in {found:#?}"
        );
    }
    assert_eq!(found.len(), expected.len(), "{found:#?}");

    let off = r#"
receivers: { counting: }
exporters: { collecting: }
service:
  telemetry:
    metrics:
      level: none
      readers: [ { periodic: { exporter: { otlp: { endpoint: "http://otel:4317" } } } } ]
  pipelines:
    usage: { receivers: [counting], exporters: [collecting] }
"#;
    let config = parse(off).expect("valid");
    assert!(
        config.telemetry.periodic_readers().is_empty(),
        "level none pushes nothing"
    );
    assert_eq!(config.telemetry.metrics_address(), None);
}
