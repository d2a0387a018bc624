//! `receivers::whisperer`: where capture requests come from (the query service, or captures
//! declared here), how this node's pods are found, and the limits no capture may exceed.

use std::path::PathBuf;

use serde::Deserialize;
use spider_collector::config::GoDuration;
use spider_collector::{ComponentConfig, ConfigError};
use spider_kube::{AuthType, MetadataSource, SourceSettings};

pub use spider_collector::records::Workload;

/// A capture declared in the config (the sidecar pattern): it runs as long as the collector.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclaredCapture {
    /// Whose pods.
    pub workload: Workload,
    /// A capture filter on top of the pods' addresses.
    #[serde(default)]
    pub filter: String,
    /// Its packet rate ceiling (at most the receiver's).
    pub max_packets_per_second: Option<u64>,
}

/// The receiver's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WhispererConfig {
    /// The query service whose capture requests this node carries out (default: the local one,
    /// `http://127.0.0.1:8080`; `null` for declared captures only).
    pub server: Option<String>,
    /// Its bearer token.
    pub token: Option<String>,
    /// This node's name (default: the collector's node, `service::node`): requests are carried
    /// out on its pods only.
    pub node_name: Option<String>,
    /// How often requests are polled, pods re-resolved and status reported.
    pub poll_interval: GoDuration,
    /// Interfaces the pods' packets are captured on (`any`: wherever they pass).
    pub interfaces: Vec<String>,
    /// Bytes kept of each frame.
    pub snaplen: u32,
    /// No capture takes more packets per second than this on this node.
    pub max_packets_per_second: u64,
    /// No capture lasts longer than this, whatever the request says.
    pub max_duration: GoDuration,
    /// Where pods come from: `kubernetes` (the API), `controller` (the cluster's controller) or
    /// `static` (an inventory file, re-read when it changes).
    pub source: MetadataSource,
    /// The inventory (`source: static`), in the format the k8s_attributes processor reads too.
    pub inventory: Option<PathBuf>,
    /// How to reach the API (`source: kubernetes`).
    pub auth_type: AuthType,
    /// Kubeconfig path (`auth_type: kube_config`).
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context.
    pub context: Option<String>,
    /// The controller's endpoint (`source: controller`).
    pub controller: Option<String>,
    /// The bearer token the controller's feed needs (`${env:SPIDER_FEED_TOKEN}`), if any.
    pub controller_token: Option<String>,
    /// Captures declared here, run for the collector's lifetime.
    pub captures: Vec<DeclaredCapture>,
}

impl Default for WhispererConfig {
    fn default() -> Self {
        Self {
            server: Some("http://127.0.0.1:8080".into()),
            token: None,
            node_name: None,
            poll_interval: GoDuration::from_millis(2_000),
            interfaces: vec!["any".into()],
            snaplen: 65_535,
            max_packets_per_second: 10_000,
            max_duration: GoDuration::from_millis(3_600_000),
            source: MetadataSource::default(),
            inventory: None,
            auth_type: AuthType::default(),
            kubeconfig: None,
            context: None,
            controller: None,
            controller_token: None,
            captures: Vec::new(),
        }
    }
}

impl WhispererConfig {
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

    /// This node's name.
    pub fn node(&self) -> String {
        self.node_name
            .clone()
            .unwrap_or_else(|| spider_collector::node_name(None))
    }
}

impl ComponentConfig for WhispererConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if self.server.is_none() && self.captures.is_empty() {
            errors.push(ConfigError::new(
                "server",
                "nothing to capture: set server (requests from the query service), captures, or both",
            ));
        }
        if let Some(server) = &self.server
            && !(server.starts_with("http://") || server.starts_with("https://"))
        {
            errors.push(ConfigError::new(
                "server",
                format!("{server:?} is not an http(s) URL"),
            ));
        }
        if self.poll_interval.0.is_zero() {
            errors.push(ConfigError::new("poll_interval", "must be positive"));
        }
        if self.interfaces.is_empty() {
            errors.push(ConfigError::new(
                "interfaces",
                "name at least one (any for all)",
            ));
        }
        if !(64..=262_144).contains(&self.snaplen) {
            errors.push(ConfigError::new("snaplen", "must be between 64 and 262144"));
        }
        if self.max_packets_per_second == 0 {
            errors.push(ConfigError::new(
                "max_packets_per_second",
                "must be positive",
            ));
        }
        if self.max_duration.0.is_zero() {
            errors.push(ConfigError::new("max_duration", "must be positive"));
        }
        errors.extend(self.source_settings().check());
        // Without pods there is nothing to capture: the inventory must name them.
        if self.source == MetadataSource::Static && self.inventory.is_none() {
            errors.push(ConfigError::new(
                "inventory",
                "source: static needs an inventory file",
            ));
        }
        for (index, capture) in self.captures.iter().enumerate() {
            if let Err(message) = capture.workload.check() {
                errors.push(ConfigError::new(
                    format!("captures::{index}::workload"),
                    message.to_string(),
                ));
            }
            if !capture.filter.is_empty()
                && let Err(message) = spider_capture::check_filter(&capture.filter)
            {
                errors.push(ConfigError::new(
                    format!("captures::{index}::filter"),
                    message.to_string(),
                ));
            }
            if capture.max_packets_per_second == Some(0) {
                errors.push(ConfigError::new(
                    format!("captures::{index}::max_packets_per_second"),
                    "must be positive",
                ));
            }
        }
        errors
    }
}
