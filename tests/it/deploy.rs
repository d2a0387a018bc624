//! The Helm chart, checked with Helm's own engine and the Kubernetes schemas (offline): it lints,
//! renders valid objects for default and non-default values, its values schema refuses bad
//! values, and the collector config it renders for the agents is one `spider validate` accepts.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::{config_file, repo_root, spider, stderr};

/// The Kubernetes version whose schemas the objects are checked against.
const KUBE_VERSION: &str = "1.32";

fn of_kind<'a>(objects: &'a Value, kind: &str) -> Vec<&'a Value> {
    objects
        .as_array()
        .unwrap()
        .iter()
        .filter(|object| object["kind"] == kind)
        .collect()
}

/// The object of `kind` called `name`.
fn named<'a>(objects: &'a Value, kind: &str, name: &str) -> &'a Value {
    of_kind(objects, kind)
        .into_iter()
        .find(|object| object["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn kinds(objects: &Value) -> BTreeSet<String> {
    objects
        .as_array()
        .unwrap()
        .iter()
        .map(|object| object["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// `spider validate` on the agent's rendered config; returns the pipeline graph it printed.
fn validate_agent_config(case: &str, objects: &Value) -> String {
    let config_map = of_kind(objects, "ConfigMap")[0];
    let yaml = config_map["data"]["collector.yaml"].as_str().unwrap();
    let path = config_file(&format!("chart-{case}"), yaml);
    let output = spider()
        .env("SPIDER_NODE_NAME", "node-1")
        .env("SPIDER_FEED_TOKEN", "from-the-secret")
        .args(["validate", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{case}: {}\n{yaml}",
        stderr(&output)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_chart_lints_renders_valid_objects_and_refuses_bad_values() {
    let chart = repo_root().join("deploy/spider");
    let result =
        spider_testkit::python_json("helm_check.py", &[chart.to_str().unwrap(), KUBE_VERSION]);

    for (case, lint) in result["lint"].as_object().unwrap() {
        assert_eq!(lint["errors"], serde_json::json!([]), "{case}: {lint}");
        let serious: Vec<&Value> = lint["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|message| message["severity"].as_u64().unwrap() >= 2)
            .collect();
        assert!(serious.is_empty(), "{case}: {serious:?}");
    }
    assert!(
        result["control"]
            .as_str()
            .is_some_and(|m| m.contains("boolean")),
        "the schema check catches a broken object: {}",
        result["control"]
    );
    let cases = result["cases"].as_object().unwrap();
    for (case, rendered) in cases {
        assert_eq!(rendered["invalid"], serde_json::json!([]), "{case}");
    }

    // What each set of values makes.
    let everything = [
        "ClusterRole",
        "ClusterRoleBinding",
        "ConfigMap",
        "CronJob",
        "DaemonSet",
        "Deployment",
        "PersistentVolumeClaim",
        "Secret",
        "Service",
        "ServiceAccount",
    ];
    // An open API has no tokens' Secret, but the controller's feed keeps its own.
    let expected = [
        ("default", everything.to_vec()),
        ("object-store", everything.to_vec()),
        ("open", everything.to_vec()),
        ("no-controller", everything.to_vec()),
        (
            "everything",
            vec![
                "ClusterRole",
                "ClusterRoleBinding",
                "ConfigMap",
                "CronJob",
                "DaemonSet",
                "Deployment",
                // No Secret: the API's tokens and the feed's are existing ones.
                "Service",
                // The controller's own: the agents' is not created in this case.
                "ServiceAccount",
            ],
        ),
        (
            "capture-only",
            vec![
                "ClusterRole",
                "ClusterRoleBinding",
                "ConfigMap",
                "DaemonSet",
                "Deployment",
                "PersistentVolumeClaim",
                "Secret",
                "Service",
                "ServiceAccount",
            ],
        ),
    ];
    for (case, kinds_made) in expected {
        let made = kinds(&cases[case]["objects"]);
        let wanted: BTreeSet<String> = kinds_made.iter().map(|k| (*k).to_owned()).collect();
        assert_eq!(made, wanted, "{case}");
    }

    // The agent: the node's network, the host cgroup and bpffs, the node name, the capabilities.
    let default = &cases["default"]["objects"];
    let agent = &of_kind(default, "DaemonSet")[0]["spec"]["template"]["spec"];
    assert_eq!(agent["hostNetwork"], true);
    let container = &agent["containers"][0];
    assert_eq!(
        container["env"][0]["valueFrom"]["fieldRef"]["fieldPath"],
        "spec.nodeName"
    );
    assert_eq!(
        container["securityContext"]["capabilities"]["add"],
        serde_json::json!(["BPF", "PERFMON", "NET_ADMIN", "NET_RAW", "SYS_RESOURCE"])
    );
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    let host_paths: BTreeSet<&str> = agent["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|volume| volume["hostPath"]["path"].as_str())
        .collect();
    assert_eq!(
        host_paths,
        BTreeSet::from(["/sys/fs/bpf", "/sys/fs/cgroup"])
    );
    assert_eq!(agent["serviceAccountName"], "spider");
    let role = of_kind(default, "ClusterRole")[0];
    assert_eq!(
        role["rules"], result["rules"],
        "the ClusterRole is the processor's rules file"
    );
    the_controller_alone_watches_the_api(default, &cases["no-controller"]["objects"]);

    // The API's role tokens: random, one Secret, each pod given only what its role needs.
    let secret = named(default, "Secret", "spider-tokens");
    let keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["agent", "reader", "writer"]);
    let tokens: BTreeSet<&str> = secret["data"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(tokens.len(), 3, "three different tokens");
    let secret_refs = |container: &Value| -> Vec<(String, String, String)> {
        container["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["valueFrom"]["secretKeyRef"].is_object())
            .map(|e| {
                let key = &e["valueFrom"]["secretKeyRef"];
                (
                    e["name"].as_str().unwrap().to_owned(),
                    key["name"].as_str().unwrap().to_owned(),
                    key["key"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let tokens_of = |variable: &str, key: &str| {
        (
            variable.to_owned(),
            "spider-tokens".to_owned(),
            key.to_owned(),
        )
    };
    assert_eq!(
        secret_refs(container),
        [
            (
                "SPIDER_FEED_TOKEN".to_owned(),
                "spider-feed-token".to_owned(),
                "token".to_owned()
            ),
            tokens_of("SPIDER_AGENT_TOKEN", "agent")
        ],
        "the agents hold the feed's token and the agent token alone"
    );
    let query_container =
        &named(default, "Deployment", "spider-query")["spec"]["template"]["spec"]["containers"][0];
    let mut query_refs = secret_refs(query_container);
    query_refs.sort();
    assert_eq!(
        query_refs,
        [
            tokens_of("SPIDER_AGENT_TOKEN", "agent"),
            tokens_of("SPIDER_READER_TOKEN", "reader"),
            tokens_of("SPIDER_TOKEN", "writer"),
        ]
    );
    let agent_config = |objects: &Value| {
        of_kind(objects, "ConfigMap")[0]["data"]["collector.yaml"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(agent_config(default).contains("token: ${env:SPIDER_AGENT_TOKEN}"));
    let open = &cases["open"]["objects"];
    assert!(!agent_config(open).contains("${env:SPIDER_AGENT_TOKEN}"));
    assert!(
        cases["open"]["notes"]
            .as_str()
            .unwrap()
            .contains("The API has no tokens")
    );

    // Non-default values reach the objects.
    let objects = &cases["everything"]["objects"];
    let agent = &of_kind(objects, "DaemonSet")[0]["spec"]["template"]["spec"];
    assert_eq!(agent["serviceAccountName"], "observer");
    // An existing feed token Secret is what the controller and the agents read, and none is made.
    let controller = &named(objects, "Deployment", "spider-controller")["spec"]["template"]["spec"];
    for pod in [agent, controller] {
        let feed = pod["containers"][0]["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|variable| variable["name"] == "SPIDER_FEED_TOKEN")
            .unwrap()
            .clone();
        assert_eq!(feed["valueFrom"]["secretKeyRef"]["name"], "spider-feed");
    }
    assert_eq!(
        agent["containers"][0]["securityContext"]["privileged"],
        true
    );
    assert_eq!(
        agent["containers"][0]["image"],
        "registry.example/spider:1.2.3"
    );
    assert_eq!(
        agent["volumes"][1]["persistentVolumeClaim"]["claimName"],
        "shared-nfs"
    );
    let query = &named(objects, "Deployment", "spider-query")["spec"];
    assert_eq!(query["replicas"], 2);
    // A read-only root, and a scratch volume where sorts beyond the memory pool spill.
    let pod = &query["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
        true
    );
    assert!(
        pod["containers"][0]["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|mount| mount["mountPath"] == "/tmp" && mount["name"] == "spill"),
        "{pod}"
    );
    assert!(
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|volume| volume["name"] == "spill" && volume["emptyDir"]["sizeLimit"] == "8Gi"),
        "{pod}"
    );
    assert_eq!(
        query["template"]["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"],
        "spider-token"
    );
    assert_eq!(
        named(objects, "Service", "spider-query")["spec"]["type"],
        "LoadBalancer"
    );

    // The rendered collector configs are ones the agent accepts.
    let graph = validate_agent_config("default", default);
    for part in ["pipeline usage", "pipeline capture", "whisperer"] {
        assert!(graph.contains(part), "{part} not in {graph}");
    }
    let cluster_env: Vec<&Value> = agent["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["name"] == "SPIDER_CLUSTER_NAME")
        .collect();
    assert_eq!(cluster_env.len(), 1);
    assert_eq!(cluster_env[0]["value"], "eu-west-prod");
    let graph = validate_agent_config("everything", objects);
    for part in [
        "pipeline usage",
        "pipeline capture",
        "otlp",
        "parquet/object_store",
    ] {
        assert!(graph.contains(part), "{part} not in {graph}");
    }
    // The agents' own telemetry is scraped on 8888 and, when asked, pushed over OTLP/gRPC.
    let agent_yaml = |objects: &Value| {
        of_kind(objects, "ConfigMap")[0]["data"]["collector.yaml"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let everything = agent_yaml(objects);
    assert!(
        everything.contains("port: 8888")
            && everything.contains("interval: 15000")
            && everything.contains("endpoint: \"http://otel-collector.observability:4317\""),
        "{everything}"
    );
    assert!(
        !agent_yaml(default).contains("periodic"),
        "scraped only by default"
    );
    // Without the query service there is no one to ask for captures: the pcap receiver alone.
    let graph = validate_agent_config("capture-only", &cases["capture-only"]["objects"]);
    assert!(
        graph.contains("pipeline capture") && !graph.contains("pipeline usage"),
        "{graph}"
    );
    assert!(!graph.contains("whisperer"), "{graph}");
    assert!(
        cases["everything"]["notes"]
            .as_str()
            .unwrap()
            .contains("http://otel-collector.observability:4318")
    );

    // Bad values are refused, each naming its key.
    let refusals = [
        ("otlp protocol", "/otlp/protocol"),
        ("duration", "/agent/usage/readInterval"),
        ("misspelt key", "'agnet' not allowed"),
        ("object store scheme", "/storage/objectStore/url"),
        ("storage mode", "/storage/mode"),
        ("retention dataset", "invalid propertyName 'flows'"),
        ("port range", "/query/service/port"),
        ("resources type", "/agent/resources"),
        ("pull policy", "/image/pullPolicy"),
        ("otlp dimension", "/otlp/dimensions/1"),
        ("self-telemetry interval", "/selfTelemetry/interval"),
        ("controller port", "/controller/port"),
        ("cluster name", "/clusterName"),
    ];
    for (case, key) in refusals {
        let message = result["refused"][case]
            .as_str()
            .unwrap_or_else(|| panic!("{case} was accepted"));
        assert!(message.contains(key), "{case}: {message}");
    }
    for (case, reason) in [
        ("bucket without url", "set storage.objectStore.url"),
        ("bucket with replicas", "query.replicas must be 0 or 1"),
        ("credential option", "secret_access_key is a credential"),
    ] {
        let message = result["failed"][case]
            .as_str()
            .unwrap_or_else(|| panic!("{case} rendered"));
        assert!(message.contains(reason), "{case}: {message}");
    }
    the_object_store_mode_shares_no_volume(&cases["object-store"]["objects"]);
    retention_runs_on_the_shared_volume(&cases["everything"]["objects"]);
    assert!(
        result["nothing_to_do"]
            .as_str()
            .is_some_and(|m| m.contains("enable usage, capture or the whisperer")),
        "{}",
        result["nothing_to_do"]
    );
}

/// With the controller (the default) its ServiceAccount is the only one bound to the
/// ClusterRole, the agents mount no API token and follow the controller's Service; without it the
/// agents' ServiceAccount is bound and they watch the API.
fn the_controller_alone_watches_the_api(default: &Value, without: &Value) {
    let bound = |objects: &Value| -> Vec<String> {
        of_kind(objects, "ClusterRoleBinding")
            .iter()
            .chain(of_kind(objects, "RoleBinding").iter())
            .flat_map(|binding| binding["subjects"].as_array().unwrap().iter())
            .map(|subject| subject["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(bound(default), ["spider-controller"]);
    assert_eq!(bound(without), ["spider"]);
    let controller = &named(default, "Deployment", "spider-controller")["spec"]["template"];
    assert_eq!(
        controller["spec"]["serviceAccountName"],
        "spider-controller"
    );
    // It tells agents' URL to the query service, which lists it with the cluster.
    let container = &controller["spec"]["containers"][0];
    assert_eq!(
        container["args"],
        serde_json::json!([
            "controller",
            "--listen",
            "0.0.0.0:4390",
            "--advertise",
            "http://spider-controller.spider:4390",
            "--report-to",
            "http://spider-query.spider:8080"
        ])
    );
    let token = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|variable| variable["name"] == "SPIDER_AGENT_TOKEN")
        .expect("the controller reports with the agent token");
    assert_eq!(token["valueFrom"]["secretKeyRef"]["key"], "agent");
    // The kubelet presents no token: the probes are of the controller's open routes.
    for probe in ["readinessProbe", "livenessProbe"] {
        let path = container[probe]["httpGet"]["path"].as_str().unwrap();
        assert!(["/readyz", "/livez"].contains(&path), "{probe}: {path}");
    }
    // The feed needs its token, which the controller and every agent take from one Secret.
    let feed_token = |pod: &Value| {
        let env = pod["containers"][0]["env"].as_array().unwrap().clone();
        env.into_iter()
            .find(|variable| variable["name"] == "SPIDER_FEED_TOKEN")
            .map(|variable| variable["valueFrom"]["secretKeyRef"].clone())
    };
    let secret = serde_json::json!({"name": "spider-feed-token", "key": "token"});
    assert_eq!(feed_token(&controller["spec"]), Some(secret.clone()));
    let agent_spec = &of_kind(default, "DaemonSet")[0]["spec"]["template"]["spec"];
    assert_eq!(feed_token(agent_spec), Some(secret));
    assert!(named(default, "Secret", "spider-feed-token")["data"]["token"].is_string());
    assert!(
        of_kind(without, "Secret")
            .iter()
            .all(|secret| secret["metadata"]["name"] != "spider-feed-token")
    );
    assert_eq!(
        named(default, "Service", "spider-controller")["spec"]["ports"][0]["port"],
        4390
    );
    assert!(of_kind(without, "Deployment").len() == 1, "no controller");
    let agent_pod =
        |objects: &Value| of_kind(objects, "DaemonSet")[0]["spec"]["template"]["spec"].clone();
    assert_eq!(agent_pod(default)["automountServiceAccountToken"], false);
    assert!(agent_pod(without)["automountServiceAccountToken"].is_null());
    let config = |objects: &Value| {
        of_kind(objects, "ConfigMap")[0]["data"]["collector.yaml"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let fed = config(default);
    // The k8s_attributes processor and the whisperer receiver both follow it.
    assert_eq!(fed.matches("source: controller").count(), 2, "{fed}");
    assert_eq!(
        fed.matches("controller: http://spider-controller.spider:4390")
            .count(),
        2,
        "{fed}"
    );
    assert_eq!(
        fed.matches("controller_token: ${env:SPIDER_FEED_TOKEN}")
            .count(),
        2,
        "{fed}"
    );
    let watching = config(without);
    assert_eq!(
        watching.matches("source: kubernetes").count(),
        2,
        "{watching}"
    );
    validate_agent_config("no-controller", without);
}

/// Object-store mode: the agents stage on their node and upload, the query service reads the
/// bucket with the same options, keeps its state on a claim of its own, and starts with exactly
/// the arguments the chart gives it.
fn the_object_store_mode_shares_no_volume(objects: &Value) {
    let claims = of_kind(objects, "PersistentVolumeClaim");
    assert_eq!(claims.len(), 1);
    assert_eq!(claims[0]["metadata"]["name"], "spider-state");
    assert_eq!(
        claims[0]["spec"]["accessModes"],
        serde_json::json!(["ReadWriteOnce"])
    );
    assert_eq!(claims[0]["spec"]["resources"]["requests"]["storage"], "2Gi");

    let agent = &of_kind(objects, "DaemonSet")[0]["spec"]["template"]["spec"];
    let volumes = agent["volumes"].as_array().unwrap();
    assert!(
        volumes.iter().all(|v| v["persistentVolumeClaim"].is_null()),
        "no shared claim: {volumes:?}"
    );
    assert!(
        volumes
            .iter()
            .any(|v| v["name"] == "staging"
                && v["hostPath"]["path"] == "/var/lib/spider/spider/staging"),
        "staging outlives the pod: {volumes:?}"
    );
    assert_eq!(
        agent["containers"][0]["envFrom"][0]["secretRef"]["name"],
        "spider-s3"
    );
    let graph = validate_agent_config("object-store", objects);
    assert!(graph.contains("parquet/object_store"), "{graph}");
    let config = of_kind(objects, "ConfigMap")[0]["data"]["collector.yaml"]
        .as_str()
        .unwrap();
    assert!(!config.contains("/var/lib/spider/data"), "{config}");

    let query = &named(objects, "Deployment", "spider-query")["spec"];
    assert_eq!(query["strategy"]["type"], "Recreate");
    let pod = &query["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "spider", "the cloud identity");
    assert_eq!(pod["automountServiceAccountToken"], false, "no API token");
    let container = &query["template"]["spec"]["containers"][0];
    assert_eq!(container["envFrom"][0]["secretRef"]["name"], "spider-s3");
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|arg| arg.as_str().unwrap().to_owned())
        .collect();
    for (flag, value) in [
        ("--data", "s3://spider-lake/cluster-a"),
        ("--storage-option", "allow_http=true"),
        ("--listing-ttl", "20s"),
        ("--state", "/var/lib/spider/state"),
    ] {
        assert!(
            args.windows(2)
                .any(|pair| pair[0] == flag && pair[1] == value),
            "{flag} {value} not in {args:?}"
        );
    }
    // The binary takes those arguments: with a scratch state directory and a free port, it
    // serves (listing nothing yet: the store is only asked when a query comes).
    let state = crate::support::scratch("chart-object-store-state");
    let listen = format!("127.0.0.1:{}", spider_testkit::free_port());
    let args: Vec<String> = args
        .into_iter()
        .map(|arg| match arg.as_str() {
            "/var/lib/spider/state" => state.display().to_string(),
            "0.0.0.0:8080" => listen.clone(),
            _ => arg,
        })
        .collect();
    let mut child = spider()
        .args(&args)
        .env("AWS_ACCESS_KEY_ID", "chart")
        .env("AWS_SECRET_ACCESS_KEY", "chart")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let healthy = loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("spider {args:?} exited with {status}");
        }
        if health_answers(&listen) {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    assert!(
        healthy,
        "spider {args:?} did not serve: {}",
        stderr(&output)
    );
}

/// Whether `GET /api/health` at `listen` answers 200.
fn health_answers(listen: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(listen) else {
        return false;
    };
    let request =
        format!("GET /api/health HTTP/1.1\r\nHost: {listen}\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    stream.write_all(request.as_bytes()).is_ok()
        && stream.read_to_string(&mut answer).is_ok()
        && answer.starts_with("HTTP/1.1 200")
}

/// The maintenance CronJobs in volume mode: root on the shared claim (the agents' files), every
/// capability dropped, and arguments `spider retain`, `spider compact` and `spider rollup` run.
fn retention_runs_on_the_shared_volume(objects: &Value) {
    let job = |name: &str| {
        of_kind(objects, "CronJob")
            .into_iter()
            .find(|job| job["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no CronJob {name}"))
    };
    let rollup = &job("spider-rollup")["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let compaction = &job("spider-compaction")["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    let job = &job("spider-retention")["spec"];
    assert_eq!(job["schedule"], "@hourly");
    assert_eq!(job["concurrencyPolicy"], "Forbid");
    let pod = &job["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsUser"], 0);
    assert_eq!(
        pod["volumes"][0]["persistentVolumeClaim"]["claimName"],
        "shared-nfs"
    );
    let container = &pod["containers"][0];
    assert_eq!(
        container["securityContext"]["capabilities"]["drop"],
        serde_json::json!(["ALL"])
    );
    let data = crate::support::scratch("chart-retention").join("data");
    std::fs::create_dir_all(data.join("packets/cluster=default/date=2001-01-01/hour=00")).unwrap();
    std::fs::write(
        data.join("packets/cluster=default/date=2001-01-01/hour=00/x.parquet"),
        b"old",
    )
    .unwrap();
    assert!(
        container["args"]
            .as_array()
            .unwrap()
            .iter()
            .any(|arg| arg == "packets=24h"),
        "{container}"
    );
    let printed = run_on(container, &data);
    assert!(
        printed.contains("deleted packets/cluster=default/date=2001-01-01 (1 files"),
        "{printed}"
    );
    assert!(
        !data
            .join("packets/cluster=default/date=2001-01-01")
            .exists()
    );
    let printed = run_on(&compaction["containers"][0], &data);
    assert!(printed.contains("0 hours merged"), "{printed}");
    let printed = run_on(&rollup["containers"][0], &data);
    assert!(printed.contains("0 hours rolled up"), "{printed}");
}

/// Runs a rendered container's arguments with the shared volume at `data`; its output, which
/// must be a success's.
fn run_on(container: &Value, data: &std::path::Path) -> String {
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|arg| match arg.as_str().unwrap() {
            "/var/lib/spider/data" => data.display().to_string(),
            other => other.to_owned(),
        })
        .collect();
    let output = spider().args(&args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", stderr(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}
