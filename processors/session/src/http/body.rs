//! HTTP/1.x message body framing: by Content-Length, chunked, or until the connection closes.

/// How a message's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// No body.
    #[default]
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Transfer-Encoding: chunked.
    Chunked,
    /// Everything until the server closes the connection.
    UntilClose,
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line.
    Size,
    /// Inside a chunk's data, bytes left.
    Data(u64),
    /// The CRLF after a chunk's data, bytes left.
    DataEnd(u8),
    /// Trailer lines, until an empty one.
    Trailers,
}

/// What feeding bytes to a body did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Consumed everything given; more body to come.
    NeedMore,
    /// The body ended after this many of the given bytes.
    Done(usize),
    /// The chunked framing is broken.
    Broken,
}

/// A body being read; counts its bytes (chunk data only, for chunked bodies).
#[derive(Debug, Clone)]
pub struct Body {
    framing: Framing,
    remaining: u64,
    chunk: Chunk,
    /// An incomplete chunk-size or trailer line.
    line: Vec<u8>,
    /// Body bytes so far.
    pub size: u64,
}

/// Longest chunk-size or trailer line kept while waiting for its end.
const MAX_LINE: usize = 8 * 1024;

impl Body {
    /// A body with the given framing.
    pub fn new(framing: Framing) -> Self {
        let remaining = match framing {
            Framing::Length(length) => length,
            _ => 0,
        };
        Self {
            framing,
            remaining,
            chunk: Chunk::Size,
            line: Vec::new(),
            size: 0,
        }
    }

    /// Whether the body is already complete (no body, or a zero length).
    pub fn is_done(&self) -> bool {
        matches!(self.framing, Framing::None) || self.framing == Framing::Length(0)
    }

    /// Whether it ends only with the connection.
    pub fn until_close(&self) -> bool {
        self.framing == Framing::UntilClose
    }

    /// Bytes held while waiting for a line end.
    pub fn buffered(&self) -> usize {
        self.line.len()
    }

    /// Takes body bytes.
    pub fn feed(&mut self, bytes: &[u8]) -> Progress {
        match self.framing {
            Framing::None => Progress::Done(0),
            Framing::UntilClose => {
                self.size += bytes.len() as u64;
                Progress::NeedMore
            }
            Framing::Length(_) => {
                let take = self.remaining.min(bytes.len() as u64);
                self.remaining -= take;
                self.size += take;
                if self.remaining == 0 {
                    Progress::Done(take as usize)
                } else {
                    Progress::NeedMore
                }
            }
            Framing::Chunked => self.feed_chunked(bytes),
        }
    }

    /// Lost bytes inside the body: counted as body when the framing says where it ends anyway.
    /// False when the framing cannot be followed over the hole.
    pub fn skip(&mut self, length: u64) -> bool {
        match (self.framing, self.chunk) {
            (Framing::UntilClose, _) => {
                self.size += length;
                true
            }
            (Framing::Length(_), _) if length < self.remaining => {
                self.remaining -= length;
                self.size += length;
                true
            }
            (Framing::Chunked, Chunk::Data(left)) if length < left => {
                self.chunk = Chunk::Data(left - length);
                self.size += length;
                true
            }
            _ => false,
        }
    }

    fn feed_chunked(&mut self, bytes: &[u8]) -> Progress {
        let mut at = 0;
        while at < bytes.len() {
            match self.chunk {
                Chunk::Data(left) => {
                    let take = left.min((bytes.len() - at) as u64);
                    self.size += take;
                    at += take as usize;
                    self.chunk = if take == left {
                        Chunk::DataEnd(2)
                    } else {
                        Chunk::Data(left - take)
                    };
                }
                Chunk::DataEnd(left) => {
                    // Lenient as most servers' peers are: the CRLF is skipped, not checked.
                    let take = usize::from(left).min(bytes.len() - at);
                    at += take;
                    let left = left - take as u8;
                    self.chunk = if left == 0 {
                        Chunk::Size
                    } else {
                        Chunk::DataEnd(left)
                    };
                }
                Chunk::Size | Chunk::Trailers => {
                    let Some(end) = bytes[at..].iter().position(|&b| b == b'\n') else {
                        self.line.extend_from_slice(&bytes[at..]);
                        if self.line.len() > MAX_LINE {
                            return Progress::Broken;
                        }
                        return Progress::NeedMore;
                    };
                    self.line.extend_from_slice(&bytes[at..=at + end]);
                    at += end + 1;
                    let line = std::mem::take(&mut self.line);
                    if self.chunk == Chunk::Trailers {
                        if line == b"\r\n" || line == b"\n" {
                            return Progress::Done(at);
                        }
                        continue;
                    }
                    match httparse::parse_chunk_size(&line) {
                        Ok(httparse::Status::Complete((_, 0))) => self.chunk = Chunk::Trailers,
                        Ok(httparse::Status::Complete((_, size))) => self.chunk = Chunk::Data(size),
                        _ => return Progress::Broken,
                    }
                }
            }
        }
        Progress::NeedMore
    }
}
