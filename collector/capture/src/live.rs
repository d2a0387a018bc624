//! Live capture on one interface with libpcap (immediate mode, non-blocking reads).

use pcap::{Active, Capture};
use spider_collector::records::Timestamp;

use crate::error::CaptureError;
use crate::source::{Frame, FrameSource, Step};

/// Settings of a live capture.
pub struct LiveSettings<'a> {
    /// Interface name.
    pub interface: &'a str,
    /// Bytes kept per frame.
    pub snaplen: u32,
    /// Promiscuous mode.
    pub promiscuous: bool,
    /// Kernel buffer, bytes.
    pub buffer_size: u32,
    /// Capture filter.
    pub filter: Option<&'a str>,
}

/// An open interface.
pub struct LiveSource {
    capture: Capture<Active>,
    name: String,
    link_type: u16,
}

impl LiveSource {
    /// Opens the interface; the error says what to do when it is a matter of privileges.
    pub fn open(settings: &LiveSettings<'_>) -> Result<Self, CaptureError> {
        let interface = settings.interface;
        let explain = |e: pcap::Error| {
            let reason = e.to_string();
            let interface = interface.to_owned();
            if reason.contains("ermission") || reason.contains("not permitted") {
                CaptureError::Privileges { interface, reason }
            } else {
                CaptureError::Interface { interface, reason }
            }
        };
        let mut capture = Capture::from_device(interface)
            .map_err(explain)?
            .snaplen(i32::try_from(settings.snaplen).unwrap_or(i32::MAX))
            .promisc(settings.promiscuous)
            .buffer_size(i32::try_from(settings.buffer_size).unwrap_or(i32::MAX))
            .immediate_mode(true)
            .open()
            .map_err(explain)?
            // Non-blocking, so the read loop sees its stop flag however quiet the interface is.
            .setnonblock()
            .map_err(explain)?;
        if let Some(filter) = settings.filter {
            capture
                .filter(filter, true)
                .map_err(|e| CaptureError::Filter {
                    reason: format!("{filter:?} on {interface}: {e}"),
                })?;
        }
        let link_type = u16::try_from(capture.get_datalink().0).unwrap_or(u16::MAX);
        Ok(Self {
            capture,
            name: interface.to_owned(),
            link_type,
        })
    }

    /// The interface's link type.
    pub fn link_type(&self) -> u16 {
        self.link_type
    }
}

impl FrameSource for LiveSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(&mut self, take: &mut dyn FnMut(&Frame<'_>)) -> Step {
        match self.capture.next_packet() {
            Ok(packet) => {
                let header = packet.header;
                take(&Frame {
                    link_type: self.link_type,
                    time: Timestamp::from_micros(header.ts.tv_sec * 1_000_000 + header.ts.tv_usec),
                    wire_length: header.len,
                    data: packet.data,
                });
                Step::Frame
            }
            Err(pcap::Error::TimeoutExpired) => Step::Idle,
            Err(error) => Step::Failed(error.to_string()),
        }
    }

    fn kernel_drops(&mut self) -> Option<u64> {
        let stats = self.capture.stats().ok()?;
        Some(u64::from(stats.dropped) + u64::from(stats.if_dropped))
    }
}
