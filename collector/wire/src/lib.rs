//! Frames as captured, shared by the pcap receiver, the session processor and the query
//! service: decoding a frame of any supported link type down to its IP and TCP/UDP headers, and
//! writing frames back out as a pcap file that tshark opens.

pub mod decode;
#[cfg(test)]
mod decode_fuzz;
pub mod link;
pub mod pcap_out;

pub use decode::{DecodeError, Decoded, TcpHeader, TransportHeader, decode};
pub use link::LinkType;
pub use pcap_out::{ExportError, Frame, PcapEncoder, write_pcap};
