//! `receivers::pcap`: where frames come from and how much of them to take.

use std::path::PathBuf;

use serde::Deserialize;
use spider_collector::config::GoDuration;
use spider_collector::{ComponentConfig, ConfigError};

/// The receiver's settings: `interfaces` (live) or `file`, not both; neither captures live on
/// `any` (every interface, as `tcpdump -i any`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PcapConfig {
    /// Interfaces to capture on live (`any` for all of them, as tcpdump takes it).
    pub interfaces: Vec<String>,
    /// A pcap or pcapng file to read instead; the pipelines end when it is read.
    pub file: Option<PathBuf>,
    /// A capture filter in the pcap-filter syntax tcpdump takes (`tcp port 80`).
    pub filter: Option<String>,
    /// Bytes kept of each frame.
    pub snaplen: u32,
    /// Capture frames not addressed to this host too.
    pub promiscuous: bool,
    /// The kernel capture buffer per interface, bytes.
    pub buffer_size: u32,
    /// Packets per batch sent down the pipeline.
    pub batch_size: usize,
    /// A partly filled batch is sent after this long (live capture).
    pub flush_interval: GoDuration,
    /// Live capture circuit breaker: packets per second per interface above which packets are
    /// dropped and counted; 0 for no limit.
    pub max_packets_per_second: u64,
    /// The same for bytes per second (frame bytes on the wire).
    pub max_bytes_per_second: u64,
    /// Show a progress bar on the terminal while a file is read.
    pub progress: bool,
}

impl Default for PcapConfig {
    fn default() -> Self {
        Self {
            interfaces: Vec::new(),
            file: None,
            filter: None,
            snaplen: 262_144,
            promiscuous: false,
            buffer_size: 8 << 20,
            batch_size: 1024,
            flush_interval: GoDuration::from_millis(200),
            max_packets_per_second: 0,
            max_bytes_per_second: 0,
            progress: false,
        }
    }
}

impl PcapConfig {
    /// The interfaces to capture on live: those set, or `any`.
    pub fn live_interfaces(&self) -> Vec<String> {
        if self.interfaces.is_empty() {
            vec!["any".to_owned()]
        } else {
            self.interfaces.clone()
        }
    }
}

impl ComponentConfig for PcapConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        if !self.interfaces.is_empty() && self.file.is_some() {
            errors.push(ConfigError::new(
                "file",
                "set either interfaces (live capture) or file, not both",
            ));
        }
        for (index, name) in self.interfaces.iter().enumerate() {
            if name.is_empty() || name.len() > 15 || name.contains(['/', ' ']) {
                errors.push(ConfigError::new(
                    format!("interfaces::{index}"),
                    format!("{name:?} is not an interface name"),
                ));
            }
        }
        if let Some(filter) = &self.filter
            && let Err(message) = spider_capture::check_filter(filter)
        {
            errors.push(ConfigError::new("filter", message.to_string()));
        }
        if !(64..=262_144).contains(&self.snaplen) {
            errors.push(ConfigError::new("snaplen", "must be between 64 and 262144"));
        }
        if self.buffer_size < 65_536 {
            errors.push(ConfigError::new("buffer_size", "must be at least 65536"));
        }
        if !(1..=65_536).contains(&self.batch_size) {
            errors.push(ConfigError::new(
                "batch_size",
                "must be between 1 and 65536",
            ));
        }
        if self.flush_interval.0.is_zero() {
            errors.push(ConfigError::new("flush_interval", "must be positive"));
        }
        errors
    }
}
