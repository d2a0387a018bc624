//! Checks every component's tests run, in the style of the OTel Collector's generated component
//! tests: the default config validates, unknown keys are refused, shutdown without start is safe,
//! and start then shutdown works. Each panics with a message naming what broke.

use serde_yaml_ng::Value;
use spider_records::Signal;

use crate::component::{Exporter, Processor, Receiver};
use crate::factory::{ComponentConfig, CreateContext, ErasedFactory, Factory};
use crate::runtime::Output;
use crate::telemetry::ComponentTelemetry;

fn context<C: ?Sized>(factory: &impl Factory<C>) -> CreateContext {
    let type_name = Factory::type_name(factory);
    CreateContext {
        id: type_name.parse().expect("factory type names are valid ids"),
        pipeline: None,
        telemetry: ComponentTelemetry::detached(&[("component", type_name)]),
    }
}

/// The config checks shared by every role.
pub fn check_config<C: ?Sized + 'static, F: Factory<C>>(factory: &F) {
    let name = Factory::type_name(factory);
    let errors = F::Config::default().validate();
    assert!(
        errors.is_empty(),
        "{name}: the default config does not validate: {errors:?}"
    );
    assert!(
        ErasedFactory::parse(factory, Value::Null).is_ok(),
        "{name}: an empty block must mean the default config"
    );
    let empty = Value::Mapping(Default::default());
    assert!(
        ErasedFactory::parse(factory, empty).is_ok(),
        "{name}: `{{}}` must mean the default config"
    );
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

/// Lifecycle checks of a receiver built from `config`.
pub async fn check_receiver<F: Factory<dyn Receiver>>(factory: F, config: F::Config) {
    check_config(&factory);
    let name = Factory::type_name(&factory);
    let mut never_started = factory
        .create(config.clone(), context(&factory))
        .expect("create");
    never_started
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("{name}: shutdown without start failed: {e}"));
    let mut receiver = factory.create(config, context(&factory)).expect("create");
    let (output, _records) = Output::channel(Signal::ALL, 1024);
    receiver
        .start(output)
        .await
        .unwrap_or_else(|e| panic!("{name}: start failed: {e}"));
    receiver
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("{name}: shutdown after start failed: {e}"));
}

/// Lifecycle checks of a processor built from `config`.
pub async fn check_processor<F: Factory<dyn Processor>>(factory: F, config: F::Config) {
    check_config(&factory);
    let name = Factory::type_name(&factory);
    let mut never_started = factory
        .create(config.clone(), context(&factory))
        .expect("create");
    let mut out = Vec::new();
    never_started
        .shutdown(&mut out)
        .await
        .unwrap_or_else(|e| panic!("{name}: shutdown without start failed: {e}"));
    assert!(
        out.is_empty(),
        "{name}: a processor that saw nothing must flush nothing"
    );
    let mut processor = factory.create(config, context(&factory)).expect("create");
    processor
        .start()
        .await
        .unwrap_or_else(|e| panic!("{name}: start failed: {e}"));
    processor
        .shutdown(&mut out)
        .await
        .unwrap_or_else(|e| panic!("{name}: shutdown after start failed: {e}"));
}

/// Lifecycle checks of an exporter built from `config`.
pub async fn check_exporter<F: Factory<dyn Exporter>>(factory: F, config: F::Config) {
    check_config(&factory);
    let name = Factory::type_name(&factory);
    let mut never_started = factory
        .create(config.clone(), context(&factory))
        .expect("create");
    never_started
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("{name}: shutdown without start failed: {e}"));
    let mut exporter = factory.create(config, context(&factory)).expect("create");
    exporter
        .start()
        .await
        .unwrap_or_else(|e| panic!("{name}: start failed: {e}"));
    exporter
        .shutdown()
        .await
        .unwrap_or_else(|e| panic!("{name}: shutdown after start failed: {e}"));
}
