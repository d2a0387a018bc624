//! Factories: how a component type turns its YAML block into a typed, validated config and then
//! into a running component; and the registry of every type the `spider` binary knows.

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_yaml_ng::Value;
use spider_records::Signal;

use crate::component::{ComponentError, ComponentId, ComponentKind, Exporter, Processor, Receiver};
use crate::config::{ConfigError, PipelineId, typed_value};
use crate::telemetry::ComponentTelemetry;

/// A component's typed configuration: `Default` is what an empty YAML block means, and the
/// default must validate (the conformance checks assert it).
pub trait ComponentConfig:
    DeserializeOwned + Default + Clone + Debug + Send + Sync + 'static
{
    /// Checks beyond the types; each error's path is relative to the component's block.
    fn validate(&self) -> Vec<ConfigError> {
        Vec::new()
    }
}

/// What a factory gets besides the config when it builds a component.
#[derive(Clone)]
pub struct CreateContext {
    /// The component's id in the config.
    pub id: ComponentId,
    /// The pipeline it is built for (processors are built once per pipeline).
    pub pipeline: Option<PipelineId>,
    /// Where it registers its own metrics.
    pub telemetry: ComponentTelemetry,
    /// The node the collector runs on (`service::node`): what the component reports as.
    pub node: String,
    /// The cluster the node is in (`service::cluster`): the first partition level of every
    /// dataset, and `k8s.cluster.name` in OTLP.
    pub cluster: String,
}

/// Builds components of one type. `C` is the role: `dyn Receiver`, `dyn Processor` or `dyn Exporter`.
pub trait Factory<C: ?Sized>: Send + Sync + 'static {
    /// Its typed configuration.
    type Config: ComponentConfig;
    /// The type name used in configs (`debug`, `pcap`, …).
    fn type_name(&self) -> &'static str;
    /// The pipeline signals the component can take part in.
    fn signals(&self) -> &'static [Signal];
    /// Builds a component from a validated config.
    fn create(
        &self,
        config: Self::Config,
        context: CreateContext,
    ) -> Result<Box<C>, ComponentError>;
}

/// A factory declared from its parts: the type name, the signals, and the function that builds
/// the component. Every component's factory is one of these, a constant beside its config:
///
/// ```ignore
/// pub const DEBUG_EXPORTER: Declared<dyn Exporter, DebugConfig> =
///     Declared::new("debug", Signal::ALL, create);
/// ```
pub struct Declared<C: ?Sized, Config> {
    type_name: &'static str,
    signals: &'static [Signal],
    build: fn(Config, CreateContext) -> Result<Box<C>, ComponentError>,
}

impl<C: ?Sized, Config> Declared<C, Config> {
    /// A factory of `type_name` components for `signals`, built by `build`.
    pub const fn new(
        type_name: &'static str,
        signals: &'static [Signal],
        build: fn(Config, CreateContext) -> Result<Box<C>, ComponentError>,
    ) -> Self {
        Self {
            type_name,
            signals,
            build,
        }
    }
}

impl<C: ?Sized + 'static, Config: ComponentConfig> Factory<C> for Declared<C, Config> {
    type Config = Config;

    fn type_name(&self) -> &'static str {
        self.type_name
    }

    fn signals(&self) -> &'static [Signal] {
        self.signals
    }

    fn create(&self, config: Config, context: CreateContext) -> Result<Box<C>, ComponentError> {
        (self.build)(config, context)
    }
}

/// A parsed, validated config of some factory, kept until the component is built.
#[derive(Clone)]
pub struct AnyConfig(Arc<dyn Any + Send + Sync>);

impl Debug for AnyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnyConfig")
    }
}

/// A factory with its config type erased, so one registry holds every type of a role.
pub trait ErasedFactory<C: ?Sized>: Send + Sync {
    /// See [`Factory::type_name`].
    fn type_name(&self) -> &'static str;
    /// See [`Factory::signals`].
    fn signals(&self) -> &'static [Signal];
    /// Parses and validates a YAML block (`null` meaning the default); paths are relative.
    fn parse(&self, value: Value) -> Result<AnyConfig, Vec<ConfigError>>;
    /// Builds a component from a config this factory parsed.
    fn create(&self, config: &AnyConfig, context: CreateContext) -> Result<Box<C>, ComponentError>;
}

impl<C: ?Sized + 'static, F: Factory<C>> ErasedFactory<C> for F {
    fn type_name(&self) -> &'static str {
        Factory::type_name(self)
    }

    fn signals(&self) -> &'static [Signal] {
        Factory::signals(self)
    }

    fn parse(&self, value: Value) -> Result<AnyConfig, Vec<ConfigError>> {
        let config: F::Config = match value {
            Value::Null => F::Config::default(),
            value => typed_value(value)?,
        };
        let errors = config.validate();
        if errors.is_empty() {
            Ok(AnyConfig(Arc::new(config)))
        } else {
            Err(errors)
        }
    }

    fn create(&self, config: &AnyConfig, context: CreateContext) -> Result<Box<C>, ComponentError> {
        let config = config.0.downcast_ref::<F::Config>().ok_or_else(|| {
            ComponentError::new(format!("{}: config of another type", context.id))
        })?;
        Factory::create(self, config.clone(), context)
    }
}

type Registry<C> = BTreeMap<&'static str, Box<dyn ErasedFactory<C>>>;

/// Every component type available, by role.
#[derive(Default)]
pub struct Factories {
    receivers: Registry<dyn Receiver>,
    processors: Registry<dyn Processor>,
    exporters: Registry<dyn Exporter>,
}

impl Factories {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a receiver type.
    pub fn with_receiver(mut self, factory: impl Factory<dyn Receiver>) -> Self {
        self.receivers
            .insert(Factory::type_name(&factory), Box::new(factory));
        self
    }

    /// Adds a processor type.
    pub fn with_processor(mut self, factory: impl Factory<dyn Processor>) -> Self {
        self.processors
            .insert(Factory::type_name(&factory), Box::new(factory));
        self
    }

    /// Adds an exporter type.
    pub fn with_exporter(mut self, factory: impl Factory<dyn Exporter>) -> Self {
        self.exporters
            .insert(Factory::type_name(&factory), Box::new(factory));
        self
    }

    /// The receiver factory of a type.
    pub fn receiver(&self, type_name: &str) -> Option<&dyn ErasedFactory<dyn Receiver>> {
        self.receivers.get(type_name).map(Box::as_ref)
    }

    /// The processor factory of a type.
    pub fn processor(&self, type_name: &str) -> Option<&dyn ErasedFactory<dyn Processor>> {
        self.processors.get(type_name).map(Box::as_ref)
    }

    /// The exporter factory of a type.
    pub fn exporter(&self, type_name: &str) -> Option<&dyn ErasedFactory<dyn Exporter>> {
        self.exporters.get(type_name).map(Box::as_ref)
    }

    /// The type names known for a role, sorted.
    pub fn type_names(&self, kind: ComponentKind) -> Vec<&'static str> {
        match kind {
            ComponentKind::Receiver => self.receivers.keys().copied().collect(),
            ComponentKind::Processor => self.processors.keys().copied().collect(),
            ComponentKind::Exporter => self.exporters.keys().copied().collect(),
        }
    }

    /// The signals a type of a role supports; `None` for an unknown type.
    pub fn signals(&self, kind: ComponentKind, type_name: &str) -> Option<&'static [Signal]> {
        match kind {
            ComponentKind::Receiver => self.receiver(type_name).map(|f| f.signals()),
            ComponentKind::Processor => self.processor(type_name).map(|f| f.signals()),
            ComponentKind::Exporter => self.exporter(type_name).map(|f| f.signals()),
        }
    }

    /// Parses a component block with the factory of its type, whatever its role.
    pub(crate) fn parse(
        &self,
        kind: ComponentKind,
        type_name: &str,
        value: Value,
    ) -> Option<ParseOutcome> {
        let (signals, parsed) = match kind {
            ComponentKind::Receiver => self
                .receiver(type_name)
                .map(|f| (f.signals(), f.parse(value)))?,
            ComponentKind::Processor => self
                .processor(type_name)
                .map(|f| (f.signals(), f.parse(value)))?,
            ComponentKind::Exporter => self
                .exporter(type_name)
                .map(|f| (f.signals(), f.parse(value)))?,
        };
        Some(ParseOutcome { signals, parsed })
    }
}

/// The outcome of parsing one component block.
pub(crate) struct ParseOutcome {
    pub signals: &'static [Signal],
    pub parsed: Result<AnyConfig, Vec<ConfigError>>,
}
