//! Writing captured frames back out as a classic pcap file (what a "download as pcap" gives).

use std::io::Write;
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapWriter};

use crate::link::LinkType;

/// One stored frame to write.
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    /// Capture time, microseconds since the Unix epoch.
    pub time_micros: i64,
    /// Its link type.
    pub link_type: LinkType,
    /// Its length on the wire.
    pub wire_length: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// Why frames could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A classic pcap file has one link type; these frames came from several.
    #[error("the frames have several link types ({0} and {1}); export one interface at a time")]
    MixedLinkTypes(u16, u16),
    /// Writing failed.
    #[error("writing the pcap failed: {0}")]
    Write(#[from] pcap_file::PcapError),
}

/// Writes `frames` as a pcap file (microsecond timestamps, the link type of the first frame).
/// Returns how many frames were written.
pub fn write_pcap<'a, W: Write>(
    out: W,
    frames: impl IntoIterator<Item = Frame<'a>>,
) -> Result<usize, ExportError> {
    let mut frames = frames.into_iter().peekable();
    let link_type = frames
        .peek()
        .map_or(LinkType::ETHERNET, |frame| frame.link_type);
    let header = PcapHeader {
        datalink: DataLink::from(u32::from(link_type.0)),
        snaplen: 262_144,
        ..PcapHeader::default()
    };
    let mut writer = PcapWriter::with_header(out, header)?;
    let mut written = 0;
    for frame in frames {
        if frame.link_type != link_type {
            return Err(ExportError::MixedLinkTypes(link_type.0, frame.link_type.0));
        }
        let micros = frame.time_micros.max(0) as u64;
        let wire_length = frame.wire_length.max(frame.data.len() as u32);
        writer.write_packet(&PcapPacket::new(
            Duration::from_micros(micros),
            wire_length,
            frame.data,
        ))?;
        written += 1;
    }
    Ok(written)
}
