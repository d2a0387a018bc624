//! Spider's collector: the component model, the OTel-Collector-style configuration, and the runtime
//! that runs pipelines of receivers → ordered processors → fan-out to exporters.
//!
//! A component is created by a [`Factory`] from a typed config that has a default and validates;
//! the runtime starts exporters, then processors, then receivers, and stops them in the reverse
//! order so that nothing a receiver handed over is lost on a clean stop.

pub mod component;
pub mod config;
pub mod conformance;
pub mod factory;
pub mod host;
pub mod listen;
pub mod runtime;
pub mod telemetry;

pub use component::{
    ComponentError, ComponentId, ComponentKind, ExportError, Exporter, Processor, Receiver,
};
pub use config::{CollectorConfig, ConfigError, PipelineId};
pub use factory::{ComponentConfig, CreateContext, Declared, Factories, Factory};
pub use host::{
    CLUSTER_NAME_VARIABLE, DEFAULT_CLUSTER, NODE_NAME_VARIABLE, cluster_name, host_name,
    is_cluster_name, node_name,
};
pub use runtime::{Output, RunningCollector, ShutdownReport};
pub use spider_records as records;
pub use spider_records::{Batch, Signal};
pub use telemetry::{ComponentTelemetry, Counter, Telemetry};
