//! Where frames come from: a live interface or a file, read one frame at a time.

use pcap::{BpfProgram, Capture, Linktype};
use spider_collector::records::Timestamp;

use crate::error::CaptureError;

/// One frame as read, borrowed from the source's buffer.
pub struct Frame<'a> {
    /// The pcap link type of `data`.
    pub link_type: u16,
    /// Capture time.
    pub time: Timestamp,
    /// Its length on the wire.
    pub wire_length: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// What one read did.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// A frame was handed over.
    Frame,
    /// Something that is not a frame was read (a file's interface or statistics block), or a
    /// frame the filter refused.
    Skipped,
    /// Nothing to read right now (live).
    Idle,
    /// The end of the file.
    End,
    /// The source failed (a truncated file, an interface gone); what came before is good.
    Failed(String),
}

/// A source of frames.
pub trait FrameSource: Send {
    /// What records name as their interface: the interface, or the file's name.
    fn name(&self) -> &str;
    /// Reads the next frame and hands it to `take`.
    fn read(&mut self, take: &mut dyn FnMut(&Frame<'_>)) -> Step;
    /// Frames the kernel dropped so far (live sources).
    fn kernel_drops(&mut self) -> Option<u64> {
        None
    }
    /// Bytes of the file read so far (file sources).
    fn position(&self) -> Option<u64> {
        None
    }
}

/// Compiles a capture filter for frames of a link type, as libpcap would apply it.
pub fn compile(filter: &str, link_type: u16) -> Result<BpfProgram, CaptureError> {
    let refused = |e: pcap::Error| CaptureError::Filter {
        reason: e.to_string(),
    };
    let dead = Capture::dead(Linktype(i32::from(link_type))).map_err(refused)?;
    dead.compile(filter, true).map_err(refused)
}

/// Compiles a filter the way the capture will, so a typo is a config error, not a failed start.
pub fn check_filter(filter: &str) -> Result<(), CaptureError> {
    compile(filter, 1).map(drop)
}
