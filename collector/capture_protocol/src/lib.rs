//! The capture control protocol, declared once: what the UI and `spider capture` ask the query
//! service for (a [`CaptureRequest`]), what it answers and node agents poll (a [`Capture`] with
//! its [`CaptureState`]), what each agent reports back (an [`AgentStatus`]) and says of itself
//! (a [`WhispererStatus`]); with the
//! [`CaptureClient`] that agents and `spider capture` speak it through.

mod client;
mod messages;

pub use client::{CaptureClient, ClientError};
pub use messages::{AgentStatus, Capture, CaptureRequest, CaptureState, WhispererStatus};
pub use spider_records::Workload;
