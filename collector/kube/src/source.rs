//! Where metadata comes from, the check of those settings and the start of the source that every
//! component naming a source shares (their configs stay flat, as the Collector's are, so each
//! holds the fields).

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use spider_collector::ConfigError;
use spider_collector::telemetry::Counter;

use crate::follower::Follower;
use crate::inventory::{Inventory, InventoryError};
use crate::sink::ObjectSink;
use crate::{feed, kubernetes};

/// Where the metadata comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataSource {
    /// The Kubernetes API: watchers of pods, nodes, services, ReplicaSets, Jobs and
    /// EndpointSlices.
    #[default]
    Kubernetes,
    /// A static inventory file (`inventory`): hosts outside Kubernetes, the local demo.
    Static,
    /// The cluster's controller (`controller`: its `http://` endpoint), which alone watches the
    /// API and feeds every node agent: the API server's load no longer grows with the nodes.
    Controller,
}

/// How the Kubernetes source authenticates (the OTel k8sattributes processor's `auth_type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthType {
    /// The pod's service account (in-cluster).
    #[default]
    ServiceAccount,
    /// A kubeconfig file (`kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`).
    KubeConfig,
}

/// A component's source settings, as its config holds them.
#[derive(Debug, Clone, Copy)]
pub struct SourceSettings<'a> {
    /// Where metadata comes from.
    pub source: MetadataSource,
    /// The inventory file of the `static` source.
    pub inventory: Option<&'a Path>,
    /// How the `kubernetes` source authenticates.
    pub auth_type: AuthType,
    /// The kubeconfig file of `auth_type: kube_config`.
    pub kubeconfig: Option<&'a Path>,
    /// The kubeconfig context (default: its current context).
    pub context: Option<&'a str>,
    /// The controller endpoint of the `controller` source.
    pub controller: Option<&'a str>,
    /// The bearer token the controller's feed needs, if it needs one.
    pub controller_token: Option<&'a str>,
}

impl SourceSettings<'_> {
    /// The inventory, read and checked (empty without a file).
    pub fn load_inventory(&self) -> Result<Inventory, InventoryError> {
        match self.inventory {
            Some(path) => Inventory::load(path),
            None => Ok(Inventory::default()),
        }
    }

    /// Starts following the API or the controller, feeding `sink` (pods only on `node` when one
    /// is given). The static source is not followed: each component reads its file itself.
    pub async fn follow(
        &self,
        node: Option<String>,
        sink: Arc<dyn ObjectSink>,
        failures: Counter,
    ) -> Result<Follower, String> {
        match self.source {
            MetadataSource::Static => Err("the static source is read, not followed".to_owned()),
            MetadataSource::Kubernetes => {
                let client =
                    kubernetes::client(self.auth_type, self.kubeconfig, self.context).await?;
                Ok(kubernetes::follow(client, node, sink, failures))
            }
            MetadataSource::Controller => {
                let endpoint = self
                    .controller
                    .ok_or("the controller source needs the controller's endpoint")?;
                let token = self.controller_token.map(str::to_owned);
                feed::follow(endpoint, token, node, sink, failures)
            }
        }
    }

    /// Every mistake in the settings, by key.
    pub fn check(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        match self.source {
            MetadataSource::Static => {
                if let Err(message) = self.load_inventory() {
                    errors.push(ConfigError::new("inventory", message.to_string()));
                }
            }
            MetadataSource::Kubernetes | MetadataSource::Controller => {
                if self.inventory.is_some() {
                    errors.push(ConfigError::new(
                        "inventory",
                        "only the static source reads an inventory",
                    ));
                }
            }
        }
        match (self.source, self.controller) {
            (MetadataSource::Controller, None) => errors.push(ConfigError::new(
                "controller",
                "the controller source needs the controller's endpoint (http://host:port)",
            )),
            (MetadataSource::Controller, Some(endpoint)) => {
                if let Err(message) = feed::objects_url(endpoint, None) {
                    errors.push(ConfigError::new("controller", message));
                }
            }
            (_, Some(_)) => errors.push(ConfigError::new(
                "controller",
                "is read with source: controller",
            )),
            (_, None) => {}
        }
        match (self.source, self.controller_token) {
            (MetadataSource::Controller, Some(token)) if token.trim().is_empty() => {
                errors.push(ConfigError::new(
                    "controller_token",
                    "is empty (unset the key for a controller without a token)",
                ));
            }
            (MetadataSource::Controller, _) | (_, None) => {}
            (_, Some(_)) => errors.push(ConfigError::new(
                "controller_token",
                "is read with source: controller",
            )),
        }
        if let Some(path) = self.kubeconfig {
            if self.source != MetadataSource::Kubernetes || self.auth_type != AuthType::KubeConfig {
                errors.push(ConfigError::new(
                    "kubeconfig",
                    "is read with source: kubernetes and auth_type: kube_config",
                ));
            } else if !path.is_file() {
                errors.push(ConfigError::new(
                    "kubeconfig",
                    format!("{} is not a file", path.display()),
                ));
            }
        }
        errors
    }
}
