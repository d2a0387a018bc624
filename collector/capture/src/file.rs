//! Reading pcap and pcapng files with pcap-parser: every section and interface of a pcapng file
//! (each with its own link type and time resolution), nanosecond pcap, either byte order. The
//! capture filter is libpcap's, compiled per link type and applied to each frame.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::File;
use std::path::Path;

use pcap::BpfProgram;
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError, create_reader};
use spider_collector::records::Timestamp;

use crate::error::CaptureError;
use crate::source::{Frame, FrameSource, Step, compile};

/// The parser's read buffer; a block larger than this is refused as broken (no frame is: the
/// largest snap length is 256 KiB).
const BUFFER: usize = 1 << 20;
/// Pcap magic numbers of the nanosecond variant, in both byte orders.
const NANOSECOND_MAGIC: [u32; 2] = [0xa1b2_3c4d, 0x4d3c_b2a1];

/// A pcapng interface: what its frames are and how its timestamps count.
struct Interface {
    link_type: u16,
    units_per_second: u64,
    offset_seconds: i64,
}

/// An open capture file.
pub struct FileSource {
    reader: Box<dyn PcapReaderIterator + Send>,
    name: String,
    filter: Option<String>,
    programs: HashMap<u16, Option<BpfProgram>>,
    /// A classic pcap file's link type and whether it counts nanoseconds.
    legacy: (u16, bool),
    /// The current pcapng section's interfaces.
    interfaces: Vec<Interface>,
    position: u64,
}

impl FileSource {
    /// Opens a pcap or pcapng file; the filter is checked against its first link type.
    pub fn open(path: &Path, filter: Option<&str>) -> Result<Self, CaptureError> {
        let cannot = |reason: String| CaptureError::File {
            path: path.to_path_buf(),
            reason,
        };
        let file = File::open(path).map_err(|e| cannot(e.to_string()))?;
        let reader = create_reader(BUFFER, file).map_err(|e| {
            cannot(match e {
                PcapError::HeaderNotRecognized => {
                    "it starts with neither pcap nor pcapng magic".into()
                }
                PcapError::Eof => "it is empty".into(),
                other => format!("{other:?}"),
            })
        })?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Ok(Self {
            reader,
            name,
            filter: filter.map(str::to_owned),
            programs: HashMap::new(),
            legacy: (1, false),
            interfaces: Vec::new(),
            position: 0,
        })
    }
}

/// Whether the filter (if any) takes this frame; a filter that does not compile for this link
/// type takes nothing (libpcap would refuse to open such a file).
fn admits(
    filter: Option<&str>,
    programs: &mut HashMap<u16, Option<BpfProgram>>,
    link_type: u16,
    data: &[u8],
) -> bool {
    let Some(filter) = filter else {
        return true;
    };
    let program = match programs.entry(link_type) {
        Entry::Occupied(program) => program.into_mut(),
        Entry::Vacant(slot) => slot.insert(compile(filter, link_type).ok()),
    };
    program.as_ref().is_some_and(|program| program.filter(data))
}

fn micros(seconds: i64, fraction: u64, units_per_second: u64) -> Timestamp {
    let fraction = u128::from(fraction) * 1_000_000 / u128::from(units_per_second.max(1));
    Timestamp::from_micros(seconds * 1_000_000 + fraction as i64)
}

impl FrameSource for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn read(&mut self, take: &mut dyn FnMut(&Frame<'_>)) -> Step {
        loop {
            let (consumed, step) = match self.reader.next() {
                Ok((consumed, block)) => {
                    let frame = match block {
                        PcapBlockOwned::LegacyHeader(header) => {
                            let nanos = NANOSECOND_MAGIC.contains(&header.magic_number);
                            self.legacy = (header.network.0 as u16, nanos);
                            None
                        }
                        PcapBlockOwned::Legacy(packet) => {
                            let (link_type, nanos) = self.legacy;
                            let units = if nanos { 1_000_000_000 } else { 1_000_000 };
                            let length = (packet.caplen as usize).min(packet.data.len());
                            Some(Frame {
                                link_type,
                                time: micros(
                                    i64::from(packet.ts_sec),
                                    u64::from(packet.ts_usec),
                                    units,
                                ),
                                wire_length: packet.origlen,
                                data: &packet.data[..length],
                            })
                        }
                        PcapBlockOwned::NG(Block::SectionHeader(section)) => {
                            // A major version other than 1 means blocks this reader cannot
                            // understand (pcapng spec §4.1): stop there, as tshark does.
                            if section.major_version != 1 {
                                return Step::Failed(format!(
                                    "a section of pcapng version {}.{} at byte {}: only version 1 can be read",
                                    section.major_version, section.minor_version, self.position
                                ));
                            }
                            self.interfaces.clear();
                            None
                        }
                        PcapBlockOwned::NG(Block::InterfaceDescription(interface)) => {
                            self.interfaces.push(Interface {
                                link_type: interface.linktype.0 as u16,
                                units_per_second: interface.ts_resolution().unwrap_or(1_000_000),
                                offset_seconds: interface.ts_offset(),
                            });
                            None
                        }
                        PcapBlockOwned::NG(Block::EnhancedPacket(packet)) => {
                            self.interfaces.get(packet.if_id as usize).map(|interface| {
                                let (seconds, fraction) =
                                    packet.decode_ts(0, interface.units_per_second);
                                let length = (packet.caplen as usize).min(packet.data.len());
                                Frame {
                                    link_type: interface.link_type,
                                    time: micros(
                                        i64::from(seconds) + interface.offset_seconds,
                                        u64::from(fraction),
                                        interface.units_per_second,
                                    ),
                                    wire_length: packet.origlen,
                                    data: &packet.data[..length],
                                }
                            })
                        }
                        PcapBlockOwned::NG(Block::SimplePacket(packet)) => {
                            // No timestamp and no captured length: interface 0, time unknown.
                            self.interfaces.first().map(|interface| Frame {
                                link_type: interface.link_type,
                                time: Timestamp::default(),
                                wire_length: packet.origlen,
                                data: &packet.data
                                    [..(packet.origlen as usize).min(packet.data.len())],
                            })
                        }
                        PcapBlockOwned::NG(_) => None,
                    };
                    let step = match frame {
                        Some(frame)
                            if admits(
                                self.filter.as_deref(),
                                &mut self.programs,
                                frame.link_type,
                                frame.data,
                            ) =>
                        {
                            take(&frame);
                            Step::Frame
                        }
                        _ => Step::Skipped,
                    };
                    (consumed, step)
                }
                Err(PcapError::Eof) => return Step::End,
                Err(PcapError::Incomplete(_)) => {
                    if let Err(error) = self.reader.refill() {
                        return Step::Failed(format!("reading failed: {error:?}"));
                    }
                    continue;
                }
                Err(PcapError::UnexpectedEof) => {
                    return Step::Failed("the file is cut short in the middle of a record".into());
                }
                Err(error) => {
                    return Step::Failed(format!(
                        "a broken block at byte {}: {error:?}",
                        self.position
                    ));
                }
            };
            self.position += consumed as u64;
            self.reader.consume(consumed);
            return step;
        }
    }

    fn position(&self) -> Option<u64> {
        Some(self.position)
    }
}
