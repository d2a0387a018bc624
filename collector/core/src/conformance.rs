//! Checks every component's tests run, in the style of the OTel Collector's generated component
//! tests: the default config validates, unknown keys are refused, shutdown without start is safe,
//! and start then shutdown works. Each panics with a message naming what broke.

use async_trait::async_trait;
use serde_yaml_ng::Value;
use spider_records::Signal;

use crate::component::{ComponentError, Exporter, Processor, Receiver};
use crate::factory::{ComponentConfig, CreateContext, ErasedFactory, Factory};
use crate::runtime::Output;
use crate::telemetry::ComponentTelemetry;

/// Start and shutdown of any role, as the runtime would call them with nothing flowing.
#[async_trait]
pub trait Lifecycle: Send {
    /// Starts the component.
    async fn start_empty(&mut self) -> Result<(), ComponentError>;
    /// Shuts it down; returns how many records it flushed.
    async fn shutdown_empty(&mut self) -> Result<usize, ComponentError>;
}

#[async_trait]
impl Lifecycle for Box<dyn Receiver> {
    async fn start_empty(&mut self) -> Result<(), ComponentError> {
        let (output, _records) = Output::channel(Signal::ALL, 1024);
        self.start(output).await
    }
    async fn shutdown_empty(&mut self) -> Result<usize, ComponentError> {
        self.shutdown().await.map(|()| 0)
    }
}

#[async_trait]
impl Lifecycle for Box<dyn Processor> {
    async fn start_empty(&mut self) -> Result<(), ComponentError> {
        self.start().await
    }
    async fn shutdown_empty(&mut self) -> Result<usize, ComponentError> {
        let mut out = Vec::new();
        self.shutdown(&mut out).await?;
        Ok(out.iter().map(|batch| batch.len()).sum())
    }
}

#[async_trait]
impl Lifecycle for Box<dyn Exporter> {
    async fn start_empty(&mut self) -> Result<(), ComponentError> {
        self.start().await
    }
    async fn shutdown_empty(&mut self) -> Result<usize, ComponentError> {
        self.shutdown().await.map(|()| 0)
    }
}

/// A context to build a component outside a collector (tests, benchmarks), with detached metrics.
pub fn context<C: ?Sized>(factory: &impl Factory<C>) -> CreateContext {
    let type_name = Factory::type_name(factory);
    CreateContext {
        id: type_name.parse().expect("factory type names are valid ids"),
        pipeline: None,
        telemetry: ComponentTelemetry::detached(&[("component", type_name)]),
        node: crate::node_name(None),
        cluster: crate::DEFAULT_CLUSTER.into(),
    }
}

/// The config checks: the default validates, an empty block is the default, unknown keys are
/// refused by name, and the type supports at least one signal.
pub fn check_config<C: ?Sized + 'static, F: Factory<C>>(factory: &F) {
    let name = Factory::type_name(factory);
    let errors = F::Config::default().validate();
    assert!(
        errors.is_empty(),
        "{name}: the default config does not validate: {errors:?}"
    );
    let null = ErasedFactory::parse(factory, Value::Null);
    assert!(
        null.is_ok(),
        "{name}: an empty block must mean the default config"
    );
    let empty = ErasedFactory::parse(factory, Value::Mapping(Default::default()));
    assert!(empty.is_ok(), "{name}: `{{}}` must mean the default config");
    let unknown = serde_yaml_ng::from_str("definitely_not_a_setting: 1").expect("valid YAML");
    let refused = ErasedFactory::parse(factory, unknown)
        .err()
        .unwrap_or_default();
    assert!(
        refused
            .iter()
            .any(|e| e.to_string().contains("definitely_not_a_setting")),
        "{name}: an unknown key must be refused by name, got {refused:?}"
    );
    assert!(
        !Factory::signals(factory).is_empty(),
        "{name}: supports no signal"
    );
}

/// The config checks, then lifecycle checks of components built from `config`: shutdown without
/// start is safe and flushes nothing; start then shutdown succeeds.
pub async fn check_component<C, F>(factory: F, config: F::Config)
where
    C: ?Sized + 'static,
    F: Factory<C>,
    Box<C>: Lifecycle,
{
    check_config(&factory);
    let name = Factory::type_name(&factory);
    let mut never_started = factory
        .create(config.clone(), context(&factory))
        .expect("create");
    match never_started.shutdown_empty().await {
        Ok(0) => {}
        Ok(flushed) => panic!("{name}: flushed {flushed} records without having been given any"),
        Err(error) => panic!("{name}: shutdown without start failed: {error}"),
    }
    let mut component = factory.create(config, context(&factory)).expect("create");
    let started = component.start_empty().await;
    started.unwrap_or_else(|e| panic!("{name}: start failed: {e}"));
    let stopped = component.shutdown_empty().await;
    stopped.unwrap_or_else(|e| panic!("{name}: shutdown after start failed: {e}"));
}
