//! Frames copied out of a source's read buffer into shared chunks: one allocation per chunk of
//! frames instead of one per frame, which at line rate was most of the reader's time (malloc,
//! heap growth and its page faults).

use bytes::{Bytes, BytesMut};

/// Bytes per chunk: a few hundred Ethernet frames. A chunk is freed once every frame cut from it
/// has been exported, and frames travel in batches, so few chunks are alive at a time.
const CHUNK_BYTES: usize = 256 << 10;

/// Where the frames of one source are copied to.
#[derive(Default)]
pub struct FrameArena {
    chunk: BytesMut,
}

impl FrameArena {
    /// A copy of `data`, cut from the current chunk (a new one when it is full).
    pub fn copy(&mut self, data: &[u8]) -> Bytes {
        if self.chunk.capacity() - self.chunk.len() < data.len() {
            self.chunk = BytesMut::with_capacity(CHUNK_BYTES.max(data.len()));
        }
        self.chunk.extend_from_slice(data);
        self.chunk.split().freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_copied_whole_and_in_order_across_chunks() {
        let mut arena = FrameArena::default();
        let frames: Vec<Vec<u8>> = (0..2000u32)
            .map(|i| vec![(i % 251) as u8; 1 + (i as usize * 37) % 1600])
            .chain([vec![7; CHUNK_BYTES + 1]])
            .collect();
        let copies: Vec<Bytes> = frames.iter().map(|frame| arena.copy(frame)).collect();
        for (frame, copy) in frames.iter().zip(&copies) {
            assert_eq!(frame.as_slice(), copy.as_ref());
        }
        // Neighbours share a chunk: one allocation for many frames.
        let shared = copies
            .windows(2)
            .filter(|pair| pair[0].as_ptr_range().end == pair[1].as_ptr())
            .count();
        assert!(
            shared > frames.len() * 9 / 10,
            "{shared} of {}",
            frames.len()
        );
    }
}
