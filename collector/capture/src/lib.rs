//! Capture sources, shared by the components that capture (the `pcap` receiver reads the
//! interfaces and files its config names; the `whisperer` receiver the interfaces of the pods a
//! capture request targets): live Linux interfaces through libpcap, with a capture filter in
//! tcpdump's syntax and a packets/bytes-per-second circuit breaker, and pcap/pcapng files read
//! with pcap-parser (every section and interface, each with its own link type). A [`Reader`]
//! runs one source on a thread of its own and sends `packets` records, which keep the original
//! frame, down a pipeline in batches, with back-pressure.

mod arena;
mod error;
mod file;
#[cfg(test)]
mod file_fuzz;
mod limiter;
mod live;
mod progress;
mod reader;
mod record;
mod source;

pub use arena::FrameArena;
pub use error::CaptureError;
pub use file::FileSource;
pub use limiter::RateLimiter;
pub use live::{LiveSettings, LiveSource};
pub use progress::FileProgress;
pub use reader::{Counters, Ending, Reader};
pub use record::packet_record;
pub use source::{Frame, FrameSource, check_filter};
