//! The `spider` command: the registry of every component it can run, and its subcommands.

pub mod commands;
pub mod logging;

use spider_collector::Factories;

/// Every receiver, processor and exporter type the `spider` binary knows.
pub fn factories() -> Factories {
    Factories::new()
        .with_receiver(spider_receiver_synthetic::SYNTHETIC_RECEIVER)
        .with_receiver(spider_receiver_ebpf_usage::EBPF_USAGE_RECEIVER)
        .with_receiver(spider_receiver_pcap::PCAP_RECEIVER)
        .with_receiver(spider_receiver_whisperer::WHISPERER_RECEIVER)
        .with_processor(spider_processor_batch::BATCH_PROCESSOR)
        .with_processor(spider_processor_session::SESSION_PROCESSOR)
        .with_processor(spider_processor_k8s_attributes::K8S_ATTRIBUTES_PROCESSOR)
        .with_exporter(spider_exporter_debug::DEBUG_EXPORTER)
        .with_exporter(spider_exporter_parquet::PARQUET_EXPORTER)
        .with_exporter(spider_exporter_otlp::OTLP_EXPORTER)
}
