//! The `spider` command: the registry of every component it can run, and its subcommands.

pub mod commands;
pub mod logging;

use spider_collector::Factories;

/// Every receiver, processor and exporter type the `spider` binary knows.
pub fn factories() -> Factories {
    Factories::new()
        .with_receiver(spider_receiver_synthetic::SyntheticReceiverFactory)
        .with_receiver(spider_receiver_ebpf_usage::EbpfUsageReceiverFactory)
        .with_receiver(spider_receiver_pcap::PcapReceiverFactory)
        .with_receiver(spider_receiver_whisperer::WhispererReceiverFactory)
        .with_processor(spider_processor_batch::BatchProcessorFactory)
        .with_processor(spider_processor_session::SessionProcessorFactory)
        .with_processor(spider_processor_k8s_attributes::K8sAttributesProcessorFactory)
        .with_exporter(spider_exporter_debug::DebugExporterFactory)
        .with_exporter(spider_exporter_parquet::ParquetExporterFactory)
        .with_exporter(spider_exporter_otlp::OtlpExporterFactory)
}
