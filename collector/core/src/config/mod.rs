//! The collector's configuration in the OTel Collector's YAML shape.
//!
//! ```yaml
//! receivers:  { synthetic: { records: 1000 } }
//! processors: { batch: }
//! exporters:  { debug: { verbosity: basic } }
//! service:
//!   pipelines:
//!     usage: { receivers: [synthetic], processors: [batch], exporters: [debug] }
//! ```
//!
//! Parsing never stops at the first mistake: every error is collected with its full path.

mod duration;
mod env;
mod error;
mod graph;
mod readers;
mod service;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_yaml_ng::{Mapping, Value};
use spider_records::Signal;

pub use duration::{GoDuration, parse_duration};
pub use error::{ConfigError, join_path, typed_value};
pub use readers::{
    MetricReader, OtlpPush, PeriodicReader, PrometheusEndpoint, PullExporter, PullReader,
    PushExporter,
};
pub use service::{
    DeliverySettings, LogSettings, MetricsLevel, MetricsSettings, PipelineId, PipelineSpec,
    QueueSettings, RetrySettings, TelemetrySettings, WhenFull,
};

use crate::component::{ComponentId, ComponentKind};
use crate::factory::{AnyConfig, Factories};

/// A component block that parsed and validated.
#[derive(Debug, Clone)]
pub struct ComponentSpec {
    /// Its typed config, for its factory.
    pub config: AnyConfig,
    /// The signals its type supports.
    pub signals: &'static [Signal],
    /// Queue and retry (exporters only; defaults elsewhere).
    pub delivery: DeliverySettings,
}

/// A pipeline whose references all resolved.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Receivers feeding it.
    pub receivers: Vec<ComponentId>,
    /// Processors, in order.
    pub processors: Vec<ComponentId>,
    /// Exporters it fans out to.
    pub exporters: Vec<ComponentId>,
}

/// A configuration that is known to be runnable.
#[derive(Debug, Clone)]
pub struct CollectorConfig {
    /// Every defined component by role and id.
    pub components: BTreeMap<(ComponentKind, ComponentId), ComponentSpec>,
    /// The pipelines.
    pub pipelines: BTreeMap<PipelineId, Pipeline>,
    /// Self-telemetry.
    pub telemetry: TelemetrySettings,
    /// How long a clean stop may take before what is left is abandoned (and reported).
    pub shutdown_timeout: Duration,
    /// The node (or host) this collector runs on, as its components report, name files and
    /// find their pods by: `service::node`, else `$SPIDER_NODE_NAME`, else the host name.
    pub node: String,
    /// The cluster the node is in: `service::cluster`, else `$SPIDER_CLUSTER_NAME`, else
    /// `default`. Every dataset is partitioned by it first.
    pub cluster: String,
    /// Non-fatal findings (unset environment variables).
    pub warnings: Vec<String>,
}

/// The `service` section, read.
struct ServiceSection {
    pipelines: BTreeMap<PipelineId, Pipeline>,
    telemetry: TelemetrySettings,
    shutdown_timeout: Duration,
    node: Option<String>,
    cluster: Option<String>,
}

/// The default for `service::shutdown_timeout`.
const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

const ROLES: [ComponentKind; 3] = [
    ComponentKind::Receiver,
    ComponentKind::Processor,
    ComponentKind::Exporter,
];

impl CollectorConfig {
    /// Parses YAML text with the process environment for `${env:…}`.
    pub fn from_yaml(text: &str, factories: &Factories) -> Result<Self, Vec<ConfigError>> {
        Self::from_yaml_with_env(text, factories, &|name| std::env::var(name).ok())
    }

    /// Parses YAML text, looking variables up with `lookup`.
    pub fn from_yaml_with_env(
        text: &str,
        factories: &Factories,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, Vec<ConfigError>> {
        let mut document: Value = serde_yaml_ng::from_str(text)
            .map_err(|error| vec![ConfigError::new("", format!("not valid YAML: {error}"))])?;
        let mut expansion = env::Expansion::default();
        env::expand(&mut document, lookup, "", &mut expansion);
        let mut parser = Parser {
            factories,
            errors: expansion.errors,
            defined: BTreeMap::new(),
            referenced: BTreeSet::new(),
        };
        let config = parser.document(document, expansion.warnings);
        match config {
            Some(config) if parser.errors.is_empty() => Ok(config),
            _ => Err(parser.errors),
        }
    }

    /// The spec of a component.
    pub fn component(&self, kind: ComponentKind, id: &ComponentId) -> Option<&ComponentSpec> {
        self.components.get(&(kind, id.clone()))
    }
}

/// Walks a document, collecting errors instead of stopping at the first.
struct Parser<'a> {
    factories: &'a Factories,
    errors: Vec<ConfigError>,
    /// Ids defined in each section, parsed or not (so a broken block is not also "undefined"),
    /// with the signals of their type (empty for an unknown type).
    defined: BTreeMap<(ComponentKind, ComponentId), &'static [Signal]>,
    /// Ids some pipeline lists, resolved or not (so a broken pipeline does not hide an unused one).
    referenced: BTreeSet<(ComponentKind, ComponentId)>,
}

impl Parser<'_> {
    fn document(&mut self, document: Value, warnings: Vec<String>) -> Option<CollectorConfig> {
        let top = self.mapping(document, "")?;
        let mut components = BTreeMap::new();
        let mut service = None;
        for (key, value) in top {
            let key = self.key(&key, "")?;
            match key.as_str() {
                "receivers" => self.section(ComponentKind::Receiver, value, &mut components),
                "processors" => self.section(ComponentKind::Processor, value, &mut components),
                "exporters" => self.section(ComponentKind::Exporter, value, &mut components),
                "service" => service = Some(value),
                "connectors" | "extensions" => self.error(&key, "not supported by Spider"),
                _ => self.error(
                    &key,
                    "unknown key; expected receivers, processors, exporters or service",
                ),
            }
        }
        let service = self.service(service.unwrap_or(Value::Null));
        Some(CollectorConfig {
            components,
            pipelines: service.pipelines,
            telemetry: service.telemetry,
            shutdown_timeout: service.shutdown_timeout,
            node: crate::host::node_name(service.node),
            cluster: crate::host::cluster_name(service.cluster),
            warnings,
        })
    }

    fn error(&mut self, path: &str, message: impl Into<String>) {
        self.errors.push(ConfigError::new(path, message));
    }

    /// A mapping, or `None` (with an error) for anything else; `null` is an empty mapping.
    fn mapping(&mut self, value: Value, path: &str) -> Option<Mapping> {
        match value {
            Value::Mapping(map) => Some(map),
            Value::Null => Some(Mapping::new()),
            other => {
                self.error(
                    path,
                    format!("expected a mapping, found {}", describe(&other)),
                );
                None
            }
        }
    }

    fn key(&mut self, key: &Value, path: &str) -> Option<String> {
        match key.as_str() {
            Some(key) => Some(key.to_owned()),
            None => {
                self.error(
                    path,
                    format!("keys must be strings, found {}", describe(key)),
                );
                None
            }
        }
    }

    fn section(
        &mut self,
        kind: ComponentKind,
        value: Value,
        components: &mut BTreeMap<(ComponentKind, ComponentId), ComponentSpec>,
    ) {
        let section = kind.section();
        let Some(map) = self.mapping(value, section) else {
            return;
        };
        for (key, block) in map {
            let Some(key) = self.key(&key, section) else {
                continue;
            };
            let path = join_path(section, &key);
            let id: ComponentId = match key.parse() {
                Ok(id) => id,
                Err(message) => {
                    self.error(&path, message);
                    continue;
                }
            };
            let signals = self
                .factories
                .signals(kind, id.type_name())
                .unwrap_or_default();
            self.defined.insert((kind, id.clone()), signals);
            if let Some(spec) = self.component(kind, &id, block, &path) {
                components.insert((kind, id), spec);
            }
        }
    }

    fn component(
        &mut self,
        kind: ComponentKind,
        id: &ComponentId,
        block: Value,
        path: &str,
    ) -> Option<ComponentSpec> {
        let (block, delivery) = match kind {
            ComponentKind::Exporter => self.split_delivery(block, path)?,
            _ => (block, DeliverySettings::default()),
        };
        let Some(outcome) = self.factories.parse(kind, id.type_name(), block) else {
            let known = self.factories.type_names(kind).join(", ");
            self.error(
                path,
                format!(
                    "unknown {kind} type {:?}; known types: {known}",
                    id.type_name()
                ),
            );
            return None;
        };
        match outcome.parsed {
            Ok(config) => Some(ComponentSpec {
                config,
                signals: outcome.signals,
                delivery,
            }),
            Err(errors) => {
                self.errors
                    .extend(errors.into_iter().map(|error| error.under(path)));
                None
            }
        }
    }

    /// Takes `sending_queue` and `retry_on_failure` out of an exporter block.
    fn split_delivery(&mut self, block: Value, path: &str) -> Option<(Value, DeliverySettings)> {
        let Value::Mapping(mut map) = block else {
            return Some((block, DeliverySettings::default()));
        };
        let mut delivery = Mapping::new();
        for key in ["sending_queue", "retry_on_failure"] {
            if let Some(value) = map.remove(key) {
                delivery.insert(key.into(), value);
            }
        }
        let settings = match typed_value::<DeliverySettings>(Value::Mapping(delivery)) {
            Ok(settings) => settings,
            Err(errors) => {
                self.errors
                    .extend(errors.into_iter().map(|error| error.under(path)));
                return None;
            }
        };
        let errors = settings.validate();
        if !errors.is_empty() {
            self.errors
                .extend(errors.into_iter().map(|error| error.under(path)));
            return None;
        }
        let block = if map.is_empty() {
            Value::Null
        } else {
            Value::Mapping(map)
        };
        Some((block, settings))
    }

    fn service(&mut self, value: Value) -> ServiceSection {
        let mut node = None;
        let mut cluster = None;
        let mut pipelines = BTreeMap::new();
        let mut telemetry = TelemetrySettings::default();
        let mut shutdown_timeout = DEFAULT_SHUTDOWN_TIMEOUT;
        let mut pipelines_value = None;
        for (key, value) in self.mapping(value, "service").unwrap_or_default() {
            let Some(key) = self.key(&key, "service") else {
                continue;
            };
            let path = join_path("service", &key);
            match key.as_str() {
                "pipelines" => pipelines_value = Some(value),
                "telemetry" => match typed_value::<TelemetrySettings>(value) {
                    Ok(settings) => {
                        let errors = settings.validate();
                        self.errors
                            .extend(errors.into_iter().map(|e| e.under(&path)));
                        telemetry = settings;
                    }
                    Err(errors) => self
                        .errors
                        .extend(errors.into_iter().map(|e| e.under(&path))),
                },
                "shutdown_timeout" => match typed_value::<GoDuration>(value) {
                    Ok(timeout) => shutdown_timeout = timeout.0,
                    Err(errors) => self
                        .errors
                        .extend(errors.into_iter().map(|e| e.under(&path))),
                },
                "node" => match typed_value::<String>(value) {
                    Ok(name) if crate::host::is_node_name(&name) => node = Some(name),
                    Ok(_) => self.error(&path, "must be non-empty, without '/' or spaces"),
                    Err(errors) => self
                        .errors
                        .extend(errors.into_iter().map(|e| e.under(&path))),
                },
                "cluster" => match typed_value::<String>(value) {
                    Ok(name) if crate::host::is_cluster_name(&name) => cluster = Some(name),
                    Ok(_) => self.error(&path, spider_records::catalog::CLUSTER_NAME_RULE),
                    Err(errors) => self
                        .errors
                        .extend(errors.into_iter().map(|e| e.under(&path))),
                },
                _ => self.error(
                    &path,
                    "unknown key; expected pipelines, telemetry, shutdown_timeout, node or cluster",
                ),
            }
        }
        let mut all_read = true;
        let pipeline_map = self
            .mapping(pipelines_value.unwrap_or(Value::Null), "service::pipelines")
            .unwrap_or_default();
        if pipeline_map.is_empty() {
            self.error("service::pipelines", "at least one pipeline is required");
        }
        for (key, value) in pipeline_map {
            let Some(key) = self.key(&key, "service::pipelines") else {
                continue;
            };
            match self.pipeline(&key, value) {
                Ok(Some((id, pipeline))) => {
                    pipelines.insert(id, pipeline);
                }
                Ok(None) => {}
                Err(Unreadable) => all_read = false,
            }
        }
        if all_read {
            self.unused();
        }
        ServiceSection {
            pipelines,
            telemetry,
            shutdown_timeout,
            node,
            cluster,
        }
    }

    fn pipeline(
        &mut self,
        key: &str,
        value: Value,
    ) -> Result<Option<(PipelineId, Pipeline)>, Unreadable> {
        let path = join_path("service::pipelines", key);
        let id = key
            .parse::<PipelineId>()
            .map_err(|message| self.error(&path, message))
            .ok();
        let spec = match typed_value::<PipelineSpec>(value) {
            Ok(spec) => spec,
            Err(errors) => {
                self.errors
                    .extend(errors.into_iter().map(|e| e.under(&path)));
                return Err(Unreadable);
            }
        };
        let errors_before = self.errors.len();
        let signal = id.as_ref().map(|id| id.signal);
        let receivers = self.references(ComponentKind::Receiver, &spec.receivers, signal, &path);
        let processors = self.references(ComponentKind::Processor, &spec.processors, signal, &path);
        let exporters = self.references(ComponentKind::Exporter, &spec.exporters, signal, &path);
        for (list, name) in [
            (&spec.receivers, "receivers"),
            (&spec.exporters, "exporters"),
        ] {
            if list.is_empty() {
                self.error(&join_path(&path, name), "a pipeline needs at least one");
            }
        }
        let resolved = self.errors.len() == errors_before;
        let pipeline = Pipeline {
            receivers,
            processors,
            exporters,
        };
        Ok(id.filter(|_| resolved).map(|id| (id, pipeline)))
    }

    fn references(
        &mut self,
        kind: ComponentKind,
        names: &[String],
        signal: Option<Signal>,
        pipeline_path: &str,
    ) -> Vec<ComponentId> {
        let list_path = join_path(pipeline_path, kind.section());
        let mut ids = Vec::new();
        for name in names {
            let path = join_path(&list_path, name);
            let Ok(id) = name.parse::<ComponentId>() else {
                self.error(
                    &path,
                    format!("{name:?} is not a valid component id (type or type/name)"),
                );
                continue;
            };
            self.referenced.insert((kind, id.clone()));
            if ids.contains(&id) {
                self.error(&path, format!("{kind} listed twice in the same pipeline"));
                continue;
            }
            match (self.defined.get(&(kind, id.clone())), signal) {
                (None, _) => {
                    let message = format!("{kind} {name:?} is not defined in {}", kind.section());
                    self.error(&path, message);
                }
                (Some(signals), Some(signal))
                    if !signals.is_empty() && !signals.contains(&signal) =>
                {
                    let supported: Vec<_> = signals.iter().map(|s| s.as_str()).collect();
                    let message = format!(
                        "{kind} {name:?} does not support the {signal} signal (it supports: {})",
                        supported.join(", ")
                    );
                    self.error(&path, message);
                }
                _ => {}
            }
            ids.push(id);
        }
        ids
    }

    /// Reports components that are defined but that no pipeline lists.
    fn unused(&mut self) {
        let unused: Vec<_> = ROLES
            .iter()
            .flat_map(|kind| self.defined.keys().filter(move |(k, _)| k == kind))
            .filter(|entry| !self.referenced.contains(*entry))
            .map(|(kind, id)| {
                ConfigError::new(
                    join_path(kind.section(), &id.to_string()),
                    "defined but not used in any pipeline",
                )
            })
            .collect();
        self.errors.extend(unused);
    }
}

/// A pipeline block that could not be read at all, so its references are unknown.
struct Unreadable;

/// A short description of a YAML value's kind, for messages.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}
