//! Tests of the whisperer receiver's config and lifecycle. Capturing a workload's pods for real
//! (network namespaces, the query service, scaling) is the end-to-end test in `tests/it/whisperer.rs`
//! of the `spider` package.

use spider_collector::config::GoDuration;
use spider_collector::{ComponentConfig, conformance};
use spider_receiver_whisperer::{WHISPERER_RECEIVER, WhispererConfig, pods_filter};

fn errors(yaml: &str) -> Vec<String> {
    let config: WhispererConfig = serde_yaml_ng::from_str(yaml).expect("parses");
    config.validate().iter().map(ToString::to_string).collect()
}

#[tokio::test]
async fn lifecycle_and_config_conform() {
    // Without a Kubernetes API to find pods in, the receiver says so and idles.
    let config = WhispererConfig {
        poll_interval: GoDuration::from_millis(50),
        ..WhispererConfig::default()
    };
    conformance::check_component(WHISPERER_RECEIVER, config).await;
}

#[test]
fn bad_settings_are_named_by_path() {
    let found = errors(
        "server: ftp://x\npoll_interval: 0s\nmax_packets_per_second: 0\nsource: static\n\
         captures:\n  - workload: { namespace: shop, kind: Pod, name: web! }\n    filter: 'tcp port'\n",
    );
    for expected in [
        "server: \"ftp://x\" is not an http(s) URL",
        "poll_interval: must be positive",
        "max_packets_per_second: must be positive",
        "inventory: source: static needs an inventory file",
        "captures::0::workload: name \"web!\" may hold only",
        "captures::0::filter:",
    ] {
        assert!(
            found.iter().any(|e| e.contains(expected)),
            "{expected:?} not in {found:#?}"
        );
    }
    // A kind that is not a workload's is refused as the file is read, naming the kinds.
    let kind = serde_yaml_ng::from_str::<WhispererConfig>(
        "captures:\n  - workload: { namespace: shop, kind: Service, name: web }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        kind.contains(
            "captures[0].workload: kind \"Service\" is not one of Deployment, ReplicaSet"
        ),
        "{kind}"
    );
    // The source settings are checked as the k8s_attributes processor checks its own (one check).
    assert_eq!(
        errors("kubeconfig: /nowhere/config\n"),
        vec!["kubeconfig: is read with source: kubernetes and auth_type: kube_config"]
    );
    assert_eq!(
        errors("auth_type: kube_config\nkubeconfig: /nowhere/config\n"),
        vec!["kubeconfig: /nowhere/config is not a file"]
    );
    assert!(
        errors("source: static\ninventory: /nowhere.yaml\n")[0].starts_with("inventory: "),
        "{:?}",
        errors("source: static\ninventory: /nowhere.yaml\n")
    );
    assert!(
        errors("server: null\n")[0].contains("nothing to capture"),
        "{:?}",
        errors("server: null\n")
    );
}

#[test]
fn the_filter_takes_each_packet_of_the_pods_once() {
    let ips = ["10.0.0.2".parse().unwrap(), "fd00::2".parse().unwrap()];
    assert_eq!(
        pods_filter(&ips, "tcp port 80").unwrap(),
        "((inbound and (src host 10.0.0.2 or src host fd00::2)) or (outbound and (dst host 10.0.0.2 or dst host fd00::2) and not (src host 10.0.0.2 or src host fd00::2))) and (tcp port 80)"
    );
    assert_eq!(
        pods_filter(&ips[..1], " ").unwrap(),
        "((inbound and (src host 10.0.0.2)) or (outbound and (dst host 10.0.0.2) and not (src host 10.0.0.2)))"
    );
    spider_capture::check_filter(&pods_filter(&ips, "tcp port 80").unwrap()).expect("compiles");
    // Wrapped, this one would compile and widen the capture to every packet of the host.
    let escaping = "tcp) or (ip or ip6";
    assert!(
        spider_capture::check_filter(&format!("inbound and (host 10.0.0.2) and ({escaping})"))
            .is_ok()
    );
    let refused = pods_filter(&ips, escaping).unwrap_err();
    assert!(refused.contains("is refused"), "{refused}");
}
