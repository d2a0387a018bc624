//! `processors::k8s_attributes`: where metadata comes from and how addresses outside it are
//! classified.

use std::path::PathBuf;

use ipnet::IpNet;
use serde::Deserialize;
use spider_collector::config::GoDuration;
use spider_collector::{ComponentConfig, ConfigError};
use spider_kube::{AuthType, MetadataSource, SourceSettings};

/// `processors::k8s_attributes`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct K8sAttributesConfig {
    /// Where metadata comes from.
    pub source: MetadataSource,
    /// The inventory file of the `static` source (none: no pods, nodes or services).
    pub inventory: Option<PathBuf>,
    /// How the `kubernetes` source authenticates.
    pub auth_type: AuthType,
    /// The kubeconfig file of `auth_type: kube_config`.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context (default: its current context).
    pub context: Option<String>,
    /// The controller's endpoint (`http://spider-controller:4390`) of the `controller` source.
    pub controller: Option<String>,
    /// The bearer token the controller's feed needs (`${env:SPIDER_FEED_TOKEN}`), if any.
    pub controller_token: Option<String>,
    /// For a node agent: this node's name (`${env:SPIDER_NODE_NAME}`, set from the downward
    /// API's `spec.nodeName`); only its pods are watched (or fed, by a controller). Remote ends on other nodes are then
    /// nodes, services or unknown — a gateway with the full view attributes them.
    pub node_name: Option<String>,
    /// Hold the start until every resource is listed (as the OTel processor's option), failing
    /// it after `wait_for_metadata_timeout`; otherwise records pass through unenriched, counted,
    /// until then.
    pub wait_for_metadata: bool,
    /// How long the start waits for metadata.
    pub wait_for_metadata_timeout: GoDuration,
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
            source: MetadataSource::Kubernetes,
            inventory: None,
            auth_type: AuthType::ServiceAccount,
            kubeconfig: None,
            context: None,
            controller: None,
            controller_token: None,
            node_name: None,
            wait_for_metadata: false,
            wait_for_metadata_timeout: GoDuration::from_secs(10),
            cluster_cidrs: Vec::new(),
            deleted_pod_grace: GoDuration::from_secs(120),
            max_names: 100_000,
        }
    }
}

impl K8sAttributesConfig {
    /// Its source settings.
    pub fn source_settings(&self) -> SourceSettings<'_> {
        SourceSettings {
            source: self.source,
            inventory: self.inventory.as_deref(),
            auth_type: self.auth_type,
            kubeconfig: self.kubeconfig.as_deref(),
            context: self.context.as_deref(),
            controller: self.controller.as_deref(),
            controller_token: self.controller_token.as_deref(),
        }
    }
}

impl ComponentConfig for K8sAttributesConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = self.source_settings().check();
        if self.wait_for_metadata_timeout.0.is_zero() {
            errors.push(ConfigError::new(
                "wait_for_metadata_timeout",
                "must be more than 0",
            ));
        }
        if self.max_names == 0 {
            errors.push(ConfigError::new("max_names", "must be at least 1"));
        }
        errors
    }
}
