//! `spider pcap`: one TCP session's stored packets written back out as a pcap file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

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
}

pub(super) fn pcap(args: &PcapArgs) -> ExitCode {
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let answer = runtime.block_on(async {
        let context = spider_query::open(&args.data).map_err(|e| e.to_string())?;
        spider_query::pcap::session_pcap(&context, args.session)
            .await
            .map_err(|e| e.to_string())
    });
    match answer {
        Ok(Some(pcap)) => match std::fs::write(&args.out, pcap) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("cannot write {}: {error}", args.out.display());
                ExitCode::FAILURE
            }
        },
        Ok(None) => {
            eprintln!(
                "no packets of session {} in {}",
                args.session,
                args.data.display()
            );
            ExitCode::from(INVALID)
        }
        Err(message) => {
            eprintln!("cannot read the packets: {message}");
            ExitCode::FAILURE
        }
    }
}
