//! Host names learnt from traffic (DNS answers, TLS SNI, HTTP Host) and the table that keeps
//! them per address.

pub mod dns;
pub mod table;
pub mod tls;

pub use table::HostTable;
