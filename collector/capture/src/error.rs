//! Why a capture could not start, typed so a caller can tell a missing privilege from a filter
//! that does not compile from a file that is not a capture.

use std::path::PathBuf;

/// A capture source that could not be opened, or a filter that could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// The filter is not in tcpdump's syntax, or not for this link type.
    #[error("not a valid capture filter: {reason}")]
    Filter {
        /// libpcap's reason.
        reason: String,
    },
    /// The process may not capture: it needs CAP_NET_RAW and CAP_NET_ADMIN.
    #[error(
        "capturing on {interface} needs CAP_NET_RAW and CAP_NET_ADMIN (run as root or grant them): {reason}"
    )]
    Privileges {
        /// The interface asked for.
        interface: String,
        /// libpcap's reason.
        reason: String,
    },
    /// The interface is missing or refused the settings.
    #[error("cannot capture on {interface}: {reason}")]
    Interface {
        /// The interface asked for.
        interface: String,
        /// libpcap's reason.
        reason: String,
    },
    /// The file cannot be opened, or does not start as a pcap or pcapng file.
    #[error("cannot read {} as a pcap or pcapng file: {reason}", path.display())]
    File {
        /// The file asked for.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}
