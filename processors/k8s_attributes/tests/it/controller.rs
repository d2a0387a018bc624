//! The controller tier against the fake API server: five agents through one controller put one
//! watch per resource on the API server where five agents on their own put five, and both ways
//! attribute the same records identically. Agents keep attributing while the controller is away,
//! and resync when it is back: what changed meanwhile is followed, and a pod deleted meanwhile
//! keeps its grace period. An agent asking for its node's pods gets those alone.

use std::time::{Duration, Instant};

use spider_collector::Processor;
use spider_collector::records::{EndpointMeta, OwnerKind};
use spider_collector::telemetry::ComponentTelemetry;
use spider_controller::{Controller, Identity};
use spider_kube::{AuthType, MetadataSource, kubernetes};
use spider_processor_k8s_attributes::K8sAttributesConfig;
use spider_testkit::kube_api::{FakeApi, Resource, pod, replica_set};

use crate::kubernetes::{client_of, cluster, eventually, kubernetes_config, now};
use crate::support::{ends, pod_meta, started};

const AGENTS: usize = 5;

pub(crate) async fn controller_of(api: &FakeApi, listen: std::net::SocketAddr) -> Controller {
    controller_as(api, listen, Identity::default()).await
}

async fn controller_as(
    api: &FakeApi,
    listen: std::net::SocketAddr,
    identity: Identity,
) -> Controller {
    let kubeconfig = spider_testkit::scratch("controller-kubeconfig").join("config");
    api.write_kubeconfig(&kubeconfig);
    let client = kubernetes::client(AuthType::KubeConfig, Some(&kubeconfig), None)
        .await
        .unwrap();
    let controller =
        Controller::start(client, listen, identity, &ComponentTelemetry::detached(&[]))
            .await
            .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !controller.store().ready() {
        assert!(
            Instant::now() < deadline,
            "the controller lists the cluster"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    controller
}

pub(crate) fn through(controller: &Controller) -> K8sAttributesConfig {
    K8sAttributesConfig {
        source: MetadataSource::Controller,
        controller: Some(format!("http://{}", controller.address())),
        wait_for_metadata: true,
        ..K8sAttributesConfig::default()
    }
}

/// Waits until every resource has `expected` watches open, then holds them to it a while longer
/// (a client opening more later would show).
async fn open_watches_settle(api: &FakeApi, expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let open = || Resource::ALL.map(|resource| api.open_watches(resource));
    while open() != [expected; Resource::ALL.len()] {
        assert!(
            Instant::now() < deadline,
            "watches open per resource: {:?}, expected {expected} each",
            open()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        open(),
        [expected; Resource::ALL.len()],
        "watches open per resource"
    );
}

/// Both ends of one record per address pair that the cluster knows in a different way: pods
/// both ways, a service, a node, a pod over IPv6, an address nothing has.
async fn attribution(agent: &mut Box<dyn Processor>) -> Vec<(EndpointMeta, EndpointMeta)> {
    let pairs = [
        ("10.244.1.10", "10.96.0.10"),
        ("fd00::10", "192.168.0.2"),
        ("10.244.2.30", "10.244.1.10"),
        ("10.244.9.9", "203.0.113.7"),
    ];
    let mut found = Vec::new();
    for (client, server) in pairs {
        found.push(ends(agent, client, server, now()).await);
    }
    found
}

async fn shut_down(agents: Vec<Box<dyn Processor>>) {
    for mut agent in agents {
        agent.shutdown(&mut Vec::new()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn five_agents_through_a_controller_put_one_watch_per_resource_on_the_api() {
    let api = cluster().await;
    api.apply(replica_set("shop", "cart-5c7d", Some("cart")));
    api.apply(pod(
        "shop",
        "cart-5c7d-q",
        "node-2",
        &["10.244.2.30"],
        Some(("ReplicaSet", "cart-5c7d")),
        false,
    ));

    let mut direct = Vec::new();
    for _ in 0..AGENTS {
        direct.push(started(kubernetes_config(&api)).await);
    }
    open_watches_settle(&api, AGENTS).await;
    let mut expected = Vec::new();
    for agent in &mut direct {
        expected.push(attribution(agent).await);
    }
    assert!(expected.windows(2).all(|pair| pair[0] == pair[1]));
    assert_eq!(
        expected[0][2].0,
        pod_meta(
            "shop",
            "cart-5c7d-q",
            "node-2",
            OwnerKind::Deployment,
            "cart"
        ),
        "a pod on the other node is attributed"
    );
    shut_down(direct).await;
    open_watches_settle(&api, 0).await;

    let controller = controller_of(&api, "127.0.0.1:0".parse().unwrap()).await;
    let mut fed = Vec::new();
    for _ in 0..AGENTS {
        fed.push(started(through(&controller)).await);
    }
    open_watches_settle(&api, 1).await;
    for agent in &mut fed {
        assert_eq!(
            attribution(agent).await,
            expected[0],
            "the same attribution"
        );
    }
    let status: serde_json::Value =
        reqwest::get(format!("http://{}/v1/status", controller.address()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(status["feeds"], AGENTS, "{status}");
    assert_eq!(status["objects"]["Pod"], 2, "{status}");

    // An agent that asks for its node's pods only is fed those.
    let mut node_agent = started(K8sAttributesConfig {
        node_name: Some("node-2".into()),
        ..through(&controller)
    })
    .await;
    assert_eq!(
        client_of(&mut node_agent, "10.244.2.30").await,
        expected[0][2].0
    );
    assert_eq!(
        client_of(&mut node_agent, "10.244.1.10").await.class,
        spider_collector::records::EndpointClass::Unknown,
        "a pod of another node is not fed to it"
    );
    fed.push(node_agent);
    open_watches_settle(&api, 1).await;
    shut_down(fed).await;
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn agents_keep_attributing_while_the_controller_is_away_and_resync_when_it_is_back() {
    let api = cluster().await;
    let controller = controller_of(&api, "127.0.0.1:0".parse().unwrap()).await;
    let address = controller.address();
    let mut agent = started(K8sAttributesConfig {
        deleted_pod_grace: spider_collector::config::GoDuration::from_secs(3),
        ..through(&controller)
    })
    .await;
    let web = pod_meta("shop", "web-6d4f-a", "node-1", OwnerKind::Deployment, "web");
    assert_eq!(client_of(&mut agent, "10.244.1.10").await, web);

    controller.stop().await;
    // Meanwhile web's pod goes and api's comes.
    api.delete(Resource::Pods, "shop", "web-6d4f-a");
    api.apply(replica_set("shop", "api-8e9f", Some("api")));
    api.apply(pod(
        "shop",
        "api-8e9f-z",
        "node-2",
        &["10.244.2.40"],
        Some(("ReplicaSet", "api-8e9f")),
        false,
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        client_of(&mut agent, "10.244.1.10").await,
        web,
        "what the agent knew is kept while the controller is away"
    );

    let controller = controller_of(&api, address).await;
    let api_pod = pod_meta("shop", "api-8e9f-z", "node-2", OwnerKind::Deployment, "api");
    eventually(&mut agent, "10.244.2.40", &api_pod).await;
    assert_eq!(
        client_of(&mut agent, "10.244.1.10").await,
        web,
        "deleted while the controller was away: still in its grace period"
    );
    // Then gone: the resync applied the deletion, it did not just keep the pod.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        agent
            .tick(std::time::SystemTime::now(), &mut Vec::new())
            .await
            .unwrap();
        let found = client_of(&mut agent, "10.244.1.10").await;
        if found.class == spider_collector::records::EndpointClass::Unknown {
            break;
        }
        assert!(Instant::now() < deadline, "still {found:?} after its grace");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    agent.shutdown(&mut Vec::new()).await.unwrap();
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_controller_refuses_a_feed_before_it_has_listed_and_bad_requests() {
    // An API server that is not there: the controller never lists.
    let mut api = FakeApi::start_new(Duration::from_millis(200)).await;
    api.stop().await;
    let kubeconfig = spider_testkit::scratch("controller-down").join("config");
    api.write_kubeconfig(&kubeconfig);
    let client = kubernetes::client(AuthType::KubeConfig, Some(&kubeconfig), None)
        .await
        .unwrap();
    let controller = Controller::start(
        client,
        "127.0.0.1:0".parse().unwrap(),
        Identity::default(),
        &ComponentTelemetry::detached(&[]),
    )
    .await
    .unwrap();
    let base = format!("http://{}", controller.address());
    let status_of = |path: &str| {
        let url = format!("{base}{path}");
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    assert_eq!(status_of("/v1/objects").await, 503, "not listed yet");
    assert_eq!(status_of("/readyz").await, 503);
    let long = "n".repeat(254);
    assert_eq!(status_of(&format!("/v1/objects?node={long}")).await, 400);
    assert_eq!(status_of("/v1/objects?node=").await, 400);
    assert_eq!(status_of("/v1/objects?watch=1").await, 400);
    assert_eq!(status_of("/metrics").await, 200);

    // An endpoint that is no http(s) URL with a host is refused by the config, by key.
    let with_endpoint = |endpoint: &str| K8sAttributesConfig {
        source: MetadataSource::Controller,
        controller: Some(endpoint.into()),
        ..K8sAttributesConfig::default()
    };
    use spider_collector::ComponentConfig;
    for bad in ["ftp://controller:4390", "http://", "controller:4390"] {
        let errors = with_endpoint(bad).validate();
        assert!(
            errors.iter().any(|e| e.to_string().contains("controller")),
            "{bad}: {errors:?}"
        );
    }
    assert!(
        with_endpoint("http://spider-controller.spider:4390")
            .validate()
            .is_empty()
    );
    // A token is for the controller source, and not empty.
    let with_token = |source, token: &str| K8sAttributesConfig {
        source,
        controller_token: Some(token.into()),
        ..with_endpoint("http://spider-controller.spider:4390")
    };
    assert!(
        with_token(MetadataSource::Controller, "t")
            .validate()
            .is_empty()
    );
    for (source, token) in [
        (MetadataSource::Controller, " "),
        (MetadataSource::Kubernetes, "t"),
    ] {
        let errors = with_token(source, token).validate();
        assert!(
            errors
                .iter()
                .any(|e| e.to_string().contains("controller_token")),
            "{errors:?}"
        );
    }

    // An agent told to wait says why it could not start.
    let config = K8sAttributesConfig {
        source: MetadataSource::Controller,
        controller: Some(base.clone()),
        wait_for_metadata: true,
        wait_for_metadata_timeout: spider_collector::config::GoDuration::from_millis(800),
        ..K8sAttributesConfig::default()
    };
    let factory = spider_processor_k8s_attributes::K8S_ATTRIBUTES_PROCESSOR;
    let mut agent = spider_collector::Factory::create(
        &factory,
        config,
        spider_collector::conformance::context(&factory),
    )
    .unwrap();
    let error = agent.start().await.unwrap_err().to_string();
    assert!(error.contains("is the controller at"), "{error}");
    controller.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_controller_with_a_token_feeds_only_agents_that_present_it() {
    let api = cluster().await;
    let identity = Identity {
        token: Some("s3cret".into()),
        ..Identity::default()
    };
    let controller = controller_as(&api, "127.0.0.1:0".parse().unwrap(), identity).await;
    let base = format!("http://{}", controller.address());
    let status_with = |path: &str, token: Option<&str>| {
        let url = format!("{base}{path}");
        let token = token.map(str::to_owned);
        async move {
            let mut request = reqwest::Client::new().get(url);
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap().status().as_u16()
        }
    };
    assert_eq!(status_with("/v1/objects", None).await, 401);
    assert_eq!(status_with("/v1/objects", Some("s3cre")).await, 401);
    assert_eq!(status_with("/v1/status", None).await, 401);
    assert_eq!(status_with("/v1/status", Some("s3cret")).await, 200);
    // The probes need none.
    assert_eq!(status_with("/readyz", None).await, 200);
    assert_eq!(status_with("/livez", None).await, 200);
    assert_eq!(status_with("/metrics", None).await, 200);

    let mut direct = started(kubernetes_config(&api)).await;
    let expected = attribution(&mut direct).await;
    let mut fed = started(K8sAttributesConfig {
        controller_token: Some("s3cret".into()),
        ..through(&controller)
    })
    .await;
    assert_eq!(attribution(&mut fed).await, expected);

    let factory = spider_processor_k8s_attributes::K8S_ATTRIBUTES_PROCESSOR;
    let mut refused = spider_collector::Factory::create(
        &factory,
        K8sAttributesConfig {
            wait_for_metadata_timeout: spider_collector::config::GoDuration::from_millis(800),
            ..through(&controller)
        },
        spider_collector::conformance::context(&factory),
    )
    .unwrap();
    let error = refused.start().await.unwrap_err().to_string();
    assert!(error.contains("401"), "{error}");
    shut_down(vec![direct, fed]).await;
    controller.stop().await;
}
