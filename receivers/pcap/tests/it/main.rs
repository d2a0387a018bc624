//! Tests of the pcap receiver: its config and lifecycle, files (public captures checked frame by
//! frame against tshark, pcapng, truncated and unreadable files, filters), and live capture on
//! the loopback interface (filter, snap length, rate limit).

mod files;
mod live;

use spider_collector::records::{Batch, Packet, Signal};
use spider_collector::{Factory, Output, Receiver, conformance};
use spider_receiver_pcap::{PCAP_RECEIVER, PcapConfig};

/// A started receiver and where its batches arrive.
pub struct Running {
    /// The receiver.
    pub receiver: Box<dyn Receiver>,
    /// Its batches.
    pub batches: tokio::sync::mpsc::Receiver<Batch>,
}

/// Builds and starts a receiver; the error is the start's.
pub async fn start(config: PcapConfig) -> Result<Running, String> {
    let mut receiver = PCAP_RECEIVER
        .create(config, conformance::context(&PCAP_RECEIVER))
        .expect("create");
    let (output, batches) = Output::channel(&[Signal::Capture], 64);
    receiver.start(output).await.map_err(|e| e.to_string())?;
    Ok(Running { receiver, batches })
}

/// Every packet a receiver sends until it ends on its own (a file read to its end).
pub async fn drain(mut running: Running) -> Vec<Packet> {
    let mut packets = Vec::new();
    while let Some(batch) = running.batches.recv().await {
        let Batch::Packets(batch) = batch else {
            panic!("the receiver sends packets only");
        };
        packets.extend(batch);
    }
    running.receiver.shutdown().await.expect("shutdown");
    packets
}
