//! Writing captured frames back out as a classic pcap file (what a "download as pcap" gives).

use std::io::Write;

use pcap_file::pcap::PcapHeader;
use pcap_file::{DataLink, Endianness, TsResolution};

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

/// The snapshot length the files declare: no stored frame is longer.
const SNAPLEN: u32 = 262_144;

/// A pcap file written a piece at a time, as a download streams it: the header, for the first
/// frame's link type, then one record per frame (microsecond timestamps, little-endian).
#[derive(Debug, Clone, Copy)]
pub struct PcapEncoder {
    link_type: LinkType,
}

impl PcapEncoder {
    /// Writes the file header for frames of `link_type`.
    pub fn start<W: Write>(out: &mut W, link_type: LinkType) -> Result<Self, ExportError> {
        PcapHeader {
            datalink: DataLink::from(u32::from(link_type.0)),
            snaplen: SNAPLEN,
            ts_resolution: TsResolution::MicroSecond,
            endianness: Endianness::Little,
            ..PcapHeader::default()
        }
        .write_to(out)?;
        Ok(Self { link_type })
    }

    /// Writes one frame's record; a frame longer than the snapshot length is cut to it.
    pub fn push<W: Write>(&self, out: &mut W, frame: &Frame) -> Result<(), ExportError> {
        if frame.link_type != self.link_type {
            return Err(ExportError::MixedLinkTypes(
                self.link_type.0,
                frame.link_type.0,
            ));
        }
        let micros = frame.time_micros.max(0) as u64;
        let seconds = u32::try_from(micros / 1_000_000).unwrap_or(u32::MAX);
        let data = &frame.data[..frame.data.len().min(SNAPLEN as usize)];
        let captured = data.len() as u32;
        let record = [
            seconds,
            (micros % 1_000_000) as u32,
            captured,
            frame.wire_length.max(captured),
        ];
        for field in record {
            out.write_all(&field.to_le_bytes())
                .map_err(pcap_file::PcapError::IoError)?;
        }
        out.write_all(data).map_err(pcap_file::PcapError::IoError)?;
        Ok(())
    }
}

/// Writes `frames` as a pcap file (the link type of the first frame). Returns how many frames
/// were written.
pub fn write_pcap<'a, W: Write>(
    mut out: W,
    frames: impl IntoIterator<Item = Frame<'a>>,
) -> Result<usize, ExportError> {
    let mut frames = frames.into_iter().peekable();
    let link_type = frames
        .peek()
        .map_or(LinkType::ETHERNET, |frame| frame.link_type);
    let encoder = PcapEncoder::start(&mut out, link_type)?;
    let mut written = 0;
    for frame in frames {
        encoder.push(&mut out, &frame)?;
        written += 1;
    }
    Ok(written)
}
