//! `spider pcap`: one TCP session's stored packets written back out as a pcap file.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use futures::StreamExt;

use super::{INVALID, runtime};

/// Arguments of `spider pcap`.
#[derive(Debug, Args)]
pub struct PcapArgs {
    /// Dataset root (the parquet exporter's `path`, or `spider analyze --out`).
    #[arg(long, default_value = "spider-data", value_name = "DIR")]
    pub data: PathBuf,
    /// The session (the `session_id` of tcp_sessions, packets and http).
    #[arg(long)]
    pub session: u64,
    /// Where to write the pcap.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The cluster the session was captured in, when several share the lake.
    #[arg(long, value_name = "NAME", value_parser = super::cluster_arg)]
    pub cluster: Option<String>,
}

pub(super) fn pcap(args: &PcapArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let written = runtime.block_on(async {
        let context =
            spider_query::open(&args.data).map_err(|e| format!("cannot read the packets: {e}"))?;
        let Some(mut pcap) =
            spider_query::pcap::session_pcap(&context, args.session, args.cluster.as_deref(), ())
                .await
                .map_err(|e| format!("cannot read the packets: {e}"))?
        else {
            return Ok(false);
        };
        let cannot_write = |e: std::io::Error| format!("cannot write {}: {e}", args.out.display());
        let mut file = std::fs::File::create(&args.out).map_err(cannot_write)?;
        while let Some(piece) = pcap.next().await {
            let piece = piece.map_err(|e| format!("cannot read the packets: {e}"))?;
            file.write_all(&piece).map_err(cannot_write)?;
        }
        Ok::<_, String>(true)
    });
    match written {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!(
                "no packets of session {} in {}",
                args.session,
                args.data.display()
            );
            ExitCode::from(INVALID)
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
