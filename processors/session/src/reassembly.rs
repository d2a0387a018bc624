//! TCP reassembly of one direction: bytes delivered in sequence order once, whatever order the
//! segments came in; retransmissions and overlaps trimmed (the first copy wins); a hole that
//! outgrows the buffer cap, or is still open when the stream ends, is skipped and reported.

use std::collections::BTreeMap;

use spider_collector::records::Timestamp;

/// What reassembly hands on.
pub trait StreamSink {
    /// In-order bytes, with the capture time of the segment that carried them.
    fn data(&mut self, time: Timestamp, bytes: &[u8]);
    /// `length` bytes will never arrive (lost before the capture, or given up on).
    fn gap(&mut self, length: u64);
}

/// Counts of one direction's segments.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StreamStats {
    /// Segments whose bytes had all been delivered already.
    pub retransmitted: u64,
    /// Segments that arrived ahead of a hole.
    pub out_of_order: u64,
    /// Bytes skipped over holes.
    pub gap_bytes: u64,
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Stream {
    /// The sequence number of offset 0 (the byte after the SYN).
    base: Option<u32>,
    /// Offset of the next byte to deliver.
    next: u64,
    /// Segments ahead of `next`, by offset.
    pending: BTreeMap<u64, (Timestamp, Vec<u8>)>,
    pending_bytes: usize,
    stats: StreamStats,
}

impl Stream {
    /// Starts the stream at a SYN's sequence number.
    pub fn syn(&mut self, isn: u32) {
        if self.base.is_none() {
            self.base = Some(isn.wrapping_add(1));
        }
    }

    /// The sequence number of offset 0, once known.
    pub fn base(&self) -> Option<u32> {
        self.base
    }

    /// Bytes held out of order.
    pub fn buffered(&self) -> usize {
        self.pending_bytes
    }

    /// Its counts.
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// Takes one segment's payload; delivers what became contiguous. `cap` bounds the bytes held
    /// out of order: beyond it the hole before them is skipped.
    pub fn segment(
        &mut self,
        seq: u32,
        payload: &[u8],
        time: Timestamp,
        cap: usize,
        sink: &mut impl StreamSink,
    ) {
        if payload.is_empty() {
            return;
        }
        // Picked up mid-stream: the first bytes seen start the stream.
        let base = *self.base.get_or_insert(seq);
        let expected = base.wrapping_add(self.next as u32);
        // Distance from the next expected byte, within ±2 GiB, so sequence wrap-around is fine.
        let distance = i64::from(seq.wrapping_sub(expected) as i32);
        let start = self.next as i64 + distance;
        let end = start + payload.len() as i64;
        if end <= self.next as i64 {
            self.stats.retransmitted += 1;
            return;
        }
        if start > self.next as i64 {
            self.stats.out_of_order += 1;
            let start = start as u64;
            let held = self.pending.entry(start).or_insert((time, Vec::new()));
            if payload.len() > held.1.len() {
                self.pending_bytes += payload.len() - held.1.len();
                *held = (time, payload.to_vec());
            }
            while self.pending_bytes > cap {
                self.skip_hole(sink);
            }
            return;
        }
        let skip = (self.next as i64 - start) as usize;
        self.deliver(time, &payload[skip..], sink);
        self.drain(sink);
    }

    /// `length` bytes from `seq` were on the wire but not captured (the snap length cut them):
    /// reported as a gap if they are the next bytes due, so the stream goes on after them.
    pub fn lost(&mut self, seq: u32, length: u64, sink: &mut impl StreamSink) {
        let Some(base) = self.base else {
            return;
        };
        if seq == base.wrapping_add(self.next as u32) {
            self.stats.gap_bytes += length;
            sink.gap(length);
            self.next += length;
            self.drain(sink);
        }
    }

    /// Delivers everything held, skipping the holes between (the stream has ended).
    pub fn finish(&mut self, sink: &mut impl StreamSink) {
        while !self.pending.is_empty() {
            self.skip_hole(sink);
        }
    }

    fn deliver(&mut self, time: Timestamp, bytes: &[u8], sink: &mut impl StreamSink) {
        self.next += bytes.len() as u64;
        sink.data(time, bytes);
    }

    /// Jumps over the hole before the first held segment and delivers from there.
    fn skip_hole(&mut self, sink: &mut impl StreamSink) {
        if let Some((&offset, _)) = self.pending.first_key_value()
            && offset > self.next
        {
            let length = offset - self.next;
            self.stats.gap_bytes += length;
            sink.gap(length);
            self.next = offset;
        }
        self.drain(sink);
    }

    /// Delivers held segments that now start at or before `next`.
    fn drain(&mut self, sink: &mut impl StreamSink) {
        while let Some(entry) = self.pending.first_entry() {
            let offset = *entry.key();
            if offset > self.next {
                break;
            }
            let (time, bytes) = entry.remove();
            self.pending_bytes -= bytes.len();
            let end = offset + bytes.len() as u64;
            if end > self.next {
                let skip = (self.next - offset) as usize;
                self.deliver(time, &bytes[skip..], sink);
            }
        }
    }
}
