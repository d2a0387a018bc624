//! `processors::session`: timers and memory caps of the flow table.

use std::time::Duration;

use serde::Deserialize;
use spider_collector::config::GoDuration;
use spider_collector::{ComponentConfig, ConfigError};

use crate::tracker::Limits;

/// The processor's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session with no packet for this long is emitted (reason `timeout`).
    pub idle_timeout: GoDuration,
    /// How long a session closed by FIN or RST waits for its last packets before it is emitted.
    pub close_linger: GoDuration,
    /// Sessions tracked at once; beyond, the least recently active are emitted early (`evicted`).
    pub max_sessions: usize,
    /// Bytes one session may hold out of order per direction; beyond, the hole is skipped.
    pub max_session_buffer: usize,
    /// Bytes all sessions may hold; beyond, the sessions holding the most are evicted.
    pub max_buffered_bytes: usize,
    /// Address → name associations kept.
    pub max_hosts: usize,
    /// Pass the (labelled) packets on, for the IP packets view; off keeps only sessions, HTTP
    /// and hosts.
    pub emit_packets: bool,
    /// How often host records are emitted and idle sessions looked for.
    pub flush_interval: GoDuration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout: GoDuration::from_secs(300),
            close_linger: GoDuration::from_secs(5),
            max_sessions: 262_144,
            max_session_buffer: 1 << 20,
            max_buffered_bytes: 256 << 20,
            max_hosts: 100_000,
            emit_packets: true,
            flush_interval: GoDuration::from_secs(10),
        }
    }
}

impl ComponentConfig for SessionConfig {
    fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let positive = [
            ("idle_timeout", self.idle_timeout),
            ("flush_interval", self.flush_interval),
        ];
        for (field, value) in positive {
            if value.0 < Duration::from_millis(10) {
                errors.push(ConfigError::new(field, "must be at least 10ms"));
            }
        }
        if self.close_linger.0 > self.idle_timeout.0 {
            errors.push(ConfigError::new(
                "close_linger",
                "must not be longer than idle_timeout",
            ));
        }
        if self.max_sessions < 16 {
            errors.push(ConfigError::new("max_sessions", "must be at least 16"));
        }
        if self.max_session_buffer < 4096 {
            errors.push(ConfigError::new(
                "max_session_buffer",
                "must be at least 4096",
            ));
        }
        if self.max_buffered_bytes < self.max_session_buffer {
            errors.push(ConfigError::new(
                "max_buffered_bytes",
                "must be at least max_session_buffer",
            ));
        }
        if self.max_hosts < 16 {
            errors.push(ConfigError::new("max_hosts", "must be at least 16"));
        }
        errors
    }
}

impl SessionConfig {
    /// The tracker's limits.
    pub fn limits(&self) -> Limits {
        Limits {
            idle_timeout_us: self.idle_timeout.0.as_micros() as i64,
            close_linger_us: self.close_linger.0.as_micros() as i64,
            max_sessions: self.max_sessions,
            reassembly_per_direction: self.max_session_buffer / 2,
            max_buffered: self.max_buffered_bytes,
            max_hosts: self.max_hosts,
        }
    }
}
