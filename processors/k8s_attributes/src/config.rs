//! `processors::k8s_attributes`: where metadata comes from and how addresses outside it are
//! classified.

use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;
use spider_collector::config::GoDuration;
use spider_collector::{ComponentConfig, ConfigError};

use crate::inventory::Inventory;

/// Where the metadata comes from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetadataSource {
    /// A static inventory file (`inventory`): hosts outside Kubernetes, the local demo.
    #[default]
    Static,
}

/// `processors::k8s_attributes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct K8sAttributesConfig {
    /// Where metadata comes from.
    pub source: MetadataSource,
    /// The inventory file of the `static` source (none: no pods, nodes or services).
    pub inventory: Option<PathBuf>,
    /// The cluster's pod and service ranges: an address outside them that nothing in the cluster
    /// has is `external`, inside them `unknown`. Default: the private ranges (10/8, 172.16/12,
    /// 192.168/16, 100.64/10, fc00::/7), link-local and loopback.
    pub cluster_cidrs: Vec<IpNet>,
    /// How long a deleted pod still owns its addresses, for records that arrive late.
    pub deleted_pod_grace: GoDuration,
    /// Most addresses whose host names (from DNS answers, TLS SNI, HTTP Host in the capture's
    /// host records) are kept to name external ends; the oldest are forgotten first.
    pub max_names: usize,
}

impl Default for K8sAttributesConfig {
    fn default() -> Self {
        Self {
            source: MetadataSource::Static,
            inventory: None,
            cluster_cidrs: Vec::new(),
            deleted_pod_grace: GoDuration::from_secs(120),
            max_names: 100_000,
        }
    }
}

impl K8sAttributesConfig {
    /// The inventory, read and checked (empty without a file).
    pub fn load_inventory(&self) -> Result<Inventory, String> {
        match &self.inventory {
            Some(path) => Inventory::load(path),
            None => Ok(Inventory::default()),
        }
    }
}

impl ComponentConfig for K8sAttributesConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if let Err(message) = self.load_inventory() {
            errors.push(ConfigError::new("inventory", message));
        }
        if self.max_names == 0 {
            errors.push(ConfigError::new("max_names", "must be at least 1"));
        }
        errors
    }
}
