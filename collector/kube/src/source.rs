//! Where metadata comes from, and the check of those settings that every component naming a
//! source shares (their configs stay flat, as the Collector's are, so each holds the fields).

use std::path::Path;

use serde::Deserialize;
use spider_collector::ConfigError;

use crate::inventory::Inventory;

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
}

impl SourceSettings<'_> {
    /// The inventory, read and checked (empty without a file).
    pub fn load_inventory(&self) -> Result<Inventory, String> {
        match self.inventory {
            Some(path) => Inventory::load(path),
            None => Ok(Inventory::default()),
        }
    }

    /// Every mistake in the settings, by key.
    pub fn check(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        match self.source {
            MetadataSource::Static => {
                if let Err(message) = self.load_inventory() {
                    errors.push(ConfigError::new("inventory", message));
                }
            }
            MetadataSource::Kubernetes => {
                if self.inventory.is_some() {
                    errors.push(ConfigError::new(
                        "inventory",
                        "only the static source reads an inventory",
                    ));
                }
            }
        }
        if let Some(path) = self.kubeconfig {
            if self.source == MetadataSource::Static || self.auth_type != AuthType::KubeConfig {
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
