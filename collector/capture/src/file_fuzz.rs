//! Fuzzing the capture-file reader (proptest): pcap and pcapng files written whole, then cut,
//! overwritten and extended with noise, and plain noise. Reading never panics, always ends (a
//! frame or a skipped block consumes bytes), and hands over only bytes the file holds.
//! `PROPTEST_CASES` sets the number of inputs (256 in CI; the long run in the README sets
//! millions).

use std::io::Write;

use proptest::prelude::*;
use spider_wire::{Frame as WireFrame, LinkType, write_pcap};

use crate::CaptureError;
use crate::file::FileSource;
use crate::source::{FrameSource, Step};

/// A classic pcap file of `frames`.
fn pcap_file(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    let timed = frames.iter().enumerate().map(|(n, data)| WireFrame {
        time_micros: 1_700_000_000_000_000 + n as i64,
        link_type: LinkType::ETHERNET,
        wire_length: data.len() as u32,
        data,
    });
    write_pcap(&mut out, timed).unwrap();
    out
}

/// A pcapng block: type, body padded to 32 bits, total length at both ends.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().div_ceil(4) * 4;
    let total = (12 + padded) as u32;
    let mut out = Vec::with_capacity(total as usize);
    out.extend(kind.to_le_bytes());
    out.extend(total.to_le_bytes());
    out.extend(body);
    out.resize(8 + padded, 0);
    out.extend(total.to_le_bytes());
    out
}

/// A pcapng file: a section, an Ethernet interface (microseconds), and `frames` as enhanced
/// packets, every third a simple packet.
fn pcapng_file(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut section = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    section.extend([1, 0, 0, 0]);
    section.extend((-1i64).to_le_bytes());
    let mut out = block(0x0a0d_0d0a, &section);
    let mut interface = 1u16.to_le_bytes().to_vec();
    interface.extend([0, 0]);
    interface.extend(65_535u32.to_le_bytes());
    out.extend(block(1, &interface));
    for (n, data) in frames.iter().enumerate() {
        let length = (data.len() as u32).to_le_bytes();
        if n % 3 == 2 {
            let mut simple = length.to_vec();
            simple.extend(data);
            out.extend(block(3, &simple));
        } else {
            let mut enhanced = 0u32.to_le_bytes().to_vec();
            let time = 1_700_000_000_000_000u64 + n as u64;
            enhanced.extend(((time >> 32) as u32).to_le_bytes());
            enhanced.extend((time as u32).to_le_bytes());
            enhanced.extend(length);
            enhanced.extend(length);
            enhanced.extend(data);
            out.extend(block(6, &enhanced));
        }
    }
    out
}

/// Reads `bytes` as a capture file to its end: the frames handed over, and how it ended.
fn read_all(bytes: &[u8]) -> Result<(usize, Step), CaptureError> {
    let mut file = tempfile();
    file.1.write_all(bytes).unwrap();
    let mut source = FileSource::open(&file.0, None)?;
    let mut frames = 0;
    // Every step consumes at least a record header: a file cannot take more steps than this.
    for _ in 0..=bytes.len() / 8 + 2 {
        let mut largest = 0;
        let step = source.read(&mut |frame| largest = frame.data.len());
        assert!(
            largest <= bytes.len(),
            "a frame of bytes the file does not hold"
        );
        match step {
            Step::Frame => frames += 1,
            Step::Skipped | Step::Idle => {}
            ended @ (Step::End | Step::Failed(_)) => return Ok((frames, ended)),
        }
    }
    panic!("reading a {}-byte file did not end", bytes.len());
}

/// A fresh file of this test thread's own.
fn tempfile() -> (std::path::PathBuf, std::fs::File) {
    let path = std::env::temp_dir().join(format!(
        "spider-fuzz-{}-{:?}.pcap",
        std::process::id(),
        std::thread::current().id()
    ));
    let file = std::fs::File::create(&path).unwrap();
    (path, file)
}

proptest! {
    #[test]
    fn capture_files_cut_overwritten_or_noise_read_to_an_end(
        ng in any::<bool>(),
        frames in prop::collection::vec(prop::collection::vec(any::<u8>(), 14..200), 0..12),
        edits in prop::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in prop::option::of(any::<usize>()),
        tail in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let whole = if ng { pcapng_file(&frames) } else { pcap_file(&frames) };
        prop_assert_eq!(
            read_all(&whole).map(|(count, step)| (count, matches!(step, Step::End))),
            Ok((frames.len(), true)),
            "the file as written reads whole"
        );
        let mut bytes = whole;
        for &(at, value) in &edits {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        if let Some(cut) = cut {
            bytes.truncate(cut % (bytes.len() + 1));
        }
        bytes.extend(&tail);
        let _ = read_all(&bytes);
        let _ = read_all(&tail);
    }
}
