//! The Kubernetes source: one kube-rs watcher (list, then watch with bookmarks; a re-list when
//! the watch expires; backoff while the API server is away) per resource the index needs —
//! pods, nodes, services, ReplicaSets, Jobs, EndpointSlices, namespaces and NetworkPolicies —
//! each feeding the shared index. Read-only `list`/`watch` on those eight is all the RBAC it
//! needs (`deploy/` grants exactly that).
//! Node agents run it when they follow the API themselves; the controller runs it once for the
//! whole cluster and serves what it follows to them.

pub(crate) mod convert;

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher::{self, Event};
use kube::runtime::{WatchStreamExt, watcher as watch_stream};
use kube::{Api, Client, Config, Resource};
use serde::de::DeserializeOwned;
use spider_collector::telemetry::Counter;

use crate::follower::{Follower, KINDS, Listed, now_micros};
use crate::model::Object;
use crate::sink::ObjectSink;
use crate::source::AuthType;

/// The resources watched, as RBAC names them (API group, resource): each needs `list` and
/// `watch`, and nothing else is asked for (`deploy/spider/files/k8s-attributes-rules.yaml`).
pub const WATCHED: [(&str, &str); 8] = [
    ("", "pods"),
    ("", "nodes"),
    ("", "services"),
    ("apps", "replicasets"),
    ("batch", "jobs"),
    ("discovery.k8s.io", "endpointslices"),
    ("", "namespaces"),
    ("networking.k8s.io", "networkpolicies"),
];

/// A client for the API server: the pod's service account, or a kubeconfig (`path`, else
/// `$KUBECONFIG`, else `~/.kube/config`) with an optional context.
pub async fn client(
    auth: AuthType,
    path: Option<&Path>,
    context: Option<&str>,
) -> Result<Client, String> {
    let config = match auth {
        AuthType::ServiceAccount => Config::incluster().map_err(|e| {
            format!(
                "no in-cluster service account ({e}); run in a pod, or set auth_type: kube_config"
            )
        })?,
        AuthType::KubeConfig => {
            let options = KubeConfigOptions {
                context: context.map(str::to_owned),
                ..KubeConfigOptions::default()
            };
            match path {
                Some(path) => {
                    let kubeconfig = Kubeconfig::read_from(path)
                        .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
                    Config::from_custom_kubeconfig(kubeconfig, &options).await
                }
                None => Config::from_kubeconfig(&options).await,
            }
            .map_err(|e| format!("kubeconfig: {e}"))?
        }
    };
    Client::try_from(config).map_err(|e| format!("cannot build a Kubernetes client: {e}"))
}

/// Starts a watcher per resource, each feeding `sink`; pods only on `node` when one is given.
pub fn follow(
    client: Client,
    node: Option<String>,
    sink: Arc<dyn ObjectSink>,
    failures: Counter,
) -> Follower {
    let (mut follower, listed) = Follower::new();
    let follow = Follow {
        sink,
        failures,
        listed,
    };
    let all = watcher::Config::default();
    let pods = match &node {
        Some(node) => all.clone().fields(&format!("spec.nodeName={node}")),
        None => all.clone(),
    };
    follower.spawn(
        follow
            .clone()
            .run(Api::<Pod>::all(client.clone()), pods, convert::pod),
    );
    follower.spawn(follow.clone().run(
        Api::<Node>::all(client.clone()),
        all.clone(),
        convert::node,
    ));
    follower.spawn(follow.clone().run(
        Api::<Service>::all(client.clone()),
        all.clone(),
        convert::service,
    ));
    follower.spawn(follow.clone().run(
        Api::<ReplicaSet>::all(client.clone()),
        all.clone(),
        convert::replica_set,
    ));
    follower.spawn(
        follow
            .clone()
            .run(Api::<Job>::all(client.clone()), all.clone(), convert::job),
    );
    follower.spawn(follow.clone().run(
        Api::<EndpointSlice>::all(client.clone()),
        all.clone(),
        convert::endpoint_slice,
    ));
    follower.spawn(follow.clone().run(
        Api::<Namespace>::all(client.clone()),
        all.clone(),
        convert::namespace,
    ));
    follower.spawn(follow.run(
        Api::<NetworkPolicy>::all(client),
        all,
        convert::network_policy,
    ));
    follower
}

/// What each watcher shares.
#[derive(Clone)]
struct Follow {
    sink: Arc<dyn ObjectSink>,
    failures: Counter,
    listed: Listed,
}

impl Follow {
    /// Applies one resource's events to the index, forever (the watcher retries with backoff).
    async fn run<K>(self, api: Api<K>, config: watcher::Config, convert: fn(&K) -> Object)
    where
        K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
        K::DynamicType: Default,
    {
        let kind = K::kind(&K::DynamicType::default()).into_owned();
        let mut events = watch_stream(api, config).default_backoff().boxed();
        let (mut buffer, mut listed_once) = (Vec::new(), false);
        while let Some(event) = events.next().await {
            match event {
                Ok(Event::Init) => buffer.clear(),
                Ok(Event::InitApply(object)) => buffer.push(convert(&object)),
                Ok(Event::InitDone) => {
                    let objects = std::mem::take(&mut buffer);
                    tracing::debug!(kind, objects = objects.len(), "listed");
                    self.sink.replace_kind(&kind, objects, now_micros());
                    // Only the kinds attribution needs hold records back.
                    if !listed_once && KINDS.contains(&kind.as_str()) {
                        listed_once = true;
                        self.listed.one_more();
                    }
                }
                Ok(Event::Apply(object)) => self.sink.apply(convert(&object)),
                Ok(Event::Delete(object)) => self.sink.delete(&convert(&object), now_micros()),
                Err(error) => {
                    self.failures.add(1);
                    self.listed.failed(&format!("{kind}: {error}"));
                    tracing::warn!(kind, %error, "Kubernetes watch failed; retrying, records use what is known meanwhile");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WATCHED;
    use crate::follower::{KINDS, POLICY_KINDS};

    #[test]
    fn the_watched_resources_are_the_kinds_every_source_lists() {
        for ((_, plural), kind) in WATCHED.iter().zip(KINDS.iter().chain(&POLICY_KINDS)) {
            let lower = kind.to_lowercase();
            let expected = match lower.strip_suffix('y') {
                Some(stem) => format!("{stem}ies"),
                None => format!("{lower}s"),
            };
            assert_eq!(*plural, expected);
        }
        assert_eq!(WATCHED.len(), KINDS.len() + POLICY_KINDS.len());
    }
}
