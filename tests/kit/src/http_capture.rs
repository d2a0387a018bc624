//! Writes a pcap of made-up HTTP/1.1 traffic, as varied as a busy server sees: keep-alive
//! sessions with GET, HEAD and POST, bodies framed by Content-Length or chunked, 204/304
//! answers, connections closed by FIN or RST, client ports reused for a new connection, and
//! — on request — segments captured out of order, retransmitted or overlapping. Seeded, so the
//! same settings give the same file; tshark and Spider are compared on it, and the benchmark
//! reads a large one.

use std::net::Ipv4Addr;
use std::path::Path;

use spider_synthetic::Random;

use crate::frames::{ACK, FIN, PSH, RST, SYN, tcp_frame, write_ethernet_pcap};

/// What to generate.
#[derive(Debug, Clone)]
pub struct HttpCapture {
    /// TCP connections.
    pub sessions: usize,
    /// Requests per connection (keep-alive).
    pub requests_per_session: usize,
    /// Largest response body, bytes.
    pub max_body: usize,
    /// Per mille of data segments swapped with the next one of their direction.
    pub disorder_per_mille: u64,
    /// Per mille of data segments sent twice (a retransmission, some overlapping).
    pub retransmit_per_mille: u64,
    /// Seed.
    pub seed: u64,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Frames.
    pub frames: usize,
    /// Bytes of the file.
    pub bytes: u64,
    /// HTTP requests.
    pub requests: usize,
}

const MSS: usize = 1448;
const SERVER: (Ipv4Addr, u16) = (Ipv4Addr::new(10, 200, 0, 80), 80);

struct Segment {
    to_server: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    payload: Vec<u8>,
}

/// One connection's segments, in the order its stacks sent them.
struct Connection {
    segments: Vec<Segment>,
    client_seq: u32,
    server_seq: u32,
}

impl Connection {
    fn new(random: &mut Random) -> Self {
        let mut connection = Self {
            segments: Vec::new(),
            client_seq: random.below(u64::from(u32::MAX)) as u32,
            server_seq: random.below(u64::from(u32::MAX)) as u32,
        };
        connection.control(true, SYN);
        connection.control(false, SYN | ACK);
        connection.control(true, ACK);
        connection
    }

    fn control(&mut self, to_server: bool, flags: u8) {
        self.push(to_server, flags, Vec::new());
    }

    fn push(&mut self, to_server: bool, flags: u8, payload: Vec<u8>) {
        let (seq, ack) = if to_server {
            (self.client_seq, self.server_seq)
        } else {
            (self.server_seq, self.client_seq)
        };
        let advance = payload.len() as u32 + u32::from(flags & (SYN | FIN) != 0);
        if to_server {
            self.client_seq = self.client_seq.wrapping_add(advance);
        } else {
            self.server_seq = self.server_seq.wrapping_add(advance);
        }
        self.segments.push(Segment {
            to_server,
            flags,
            seq,
            ack,
            payload,
        });
    }

    /// Sends a message in MSS-sized segments, each acknowledged.
    fn message(&mut self, to_server: bool, bytes: &[u8]) {
        for chunk in bytes.chunks(MSS) {
            self.push(to_server, ACK | PSH, chunk.to_vec());
        }
        self.control(!to_server, ACK);
    }
}

fn response(random: &mut Random, method: &str, max_body: usize) -> Vec<u8> {
    let body_len = random.below(max_body as u64 + 1) as usize;
    let body: Vec<u8> = (0..body_len).map(|i| b'a' + (i % 26) as u8).collect();
    let mut out = Vec::new();
    match random.below(10) {
        0 => out.extend_from_slice(b"HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n"),
        1 => out.extend_from_slice(b"HTTP/1.1 204 No Content\r\n\r\n"),
        2 | 3 if method != "HEAD" => {
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
            for chunk in body.chunks(4000) {
                out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                out.extend_from_slice(chunk);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
        4 => {
            let status = ["404 Not Found", "500 Internal Server Error", "302 Found"]
                [random.below(3) as usize];
            out.extend_from_slice(
                format!("HTTP/1.1 {status}\r\nContent-Length: 9\r\n\r\n").as_bytes(),
            );
            if method != "HEAD" {
                out.extend_from_slice(b"not here\n");
            }
        }
        _ => {
            out.extend_from_slice(format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {body_len}\r\n\r\n").as_bytes());
            if method != "HEAD" {
                out.extend_from_slice(&body);
            }
        }
    }
    out
}

fn request(random: &mut Random, session: usize, index: usize) -> (String, Vec<u8>) {
    let method = ["GET", "GET", "GET", "HEAD", "POST"][random.below(5) as usize];
    let mut out = format!(
        "{method} /api/v1/items/{session}/{index}?page={} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: spider-test/1\r\nAccept: */*\r\n",
        random.below(100)
    )
    .into_bytes();
    if method == "POST" {
        let body = b"{\"name\":\"widget\",\"count\":3}";
        out.extend_from_slice(
            format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        out.extend_from_slice(body);
    } else {
        out.extend_from_slice(b"\r\n");
    }
    (method.to_owned(), out)
}

/// Reorders and repeats some data segments, as a lossy path and a capture point would show them.
fn disturb(segments: &mut Vec<Segment>, random: &mut Random, settings: &HttpCapture) {
    let mut index = 3;
    while index + 1 < segments.len() {
        let data = !segments[index].payload.is_empty();
        let same_direction = segments[index].to_server == segments[index + 1].to_server;
        if data && same_direction && random.below(1000) < settings.disorder_per_mille {
            segments.swap(index, index + 1);
            index += 1;
        } else if data && random.below(1000) < settings.retransmit_per_mille {
            let original = &segments[index];
            // Half the retransmissions resend only the tail: an overlap, not a copy.
            let skip = if random.below(2) == 0 {
                0
            } else {
                original.payload.len() / 2
            };
            let again = Segment {
                to_server: original.to_server,
                flags: original.flags,
                seq: original.seq.wrapping_add(skip as u32),
                ack: original.ack,
                payload: original.payload[skip..].to_vec(),
            };
            segments.insert(index + 2.min(segments.len() - index), again);
            index += 1;
        }
        index += 1;
    }
}

fn frame(client: (Ipv4Addr, u16), segment: &Segment) -> Vec<u8> {
    let (from, to) = if segment.to_server {
        (client, SERVER)
    } else {
        (SERVER, client)
    };
    tcp_frame(
        from,
        to,
        segment.flags,
        segment.seq,
        segment.ack,
        &segment.payload,
    )
}

/// Writes the capture to `path`.
pub fn write(path: &Path, settings: &HttpCapture) -> Written {
    let mut random = Random::new(settings.seed);
    let mut timed: Vec<(i64, Vec<u8>)> = Vec::new();
    let mut requests = 0;
    let start = 1_763_700_000_000_000i64;
    let mut previous_end = start;
    for session in 0..settings.sessions {
        // Every tenth connection reuses the previous one's address and port once it has ended:
        // a new SYN on the same 4-tuple, which starts a new stream for tshark too.
        let reuses = session % 10 == 9;
        let port_session = if reuses { session - 1 } else { session };
        let client_ip = Ipv4Addr::new(
            10,
            100,
            (port_session / 250 % 250) as u8,
            (port_session % 250) as u8 + 1,
        );
        let client = (client_ip, 20_000 + (port_session % 40_000) as u16);
        let mut connection = Connection::new(&mut random);
        for index in 0..settings.requests_per_session {
            let (method, bytes) = request(&mut random, session, index);
            connection.message(true, &bytes);
            connection.message(false, &response(&mut random, &method, settings.max_body));
            requests += 1;
        }
        if random.below(8) == 0 {
            connection.control(true, RST | ACK);
        } else {
            connection.control(true, FIN | ACK);
            connection.control(false, FIN | ACK);
            connection.control(true, ACK);
        }
        disturb(&mut connection.segments, &mut random, settings);
        // Sessions overlap in time: each starts 2 ms after the previous, packets 100 µs apart.
        let mut time = start + session as i64 * 2_000;
        if reuses {
            time = time.max(previous_end + 1_000);
        }
        for segment in &connection.segments {
            time += 100;
            timed.push((time, frame(client, segment)));
        }
        previous_end = time;
    }
    timed.sort_by_key(|(time, _)| *time);
    let written = write_ethernet_pcap(path, timed.iter().map(|(time, data)| (*time, &data[..])));
    Written {
        frames: written,
        bytes: std::fs::metadata(path).map_or(0, |m| m.len()),
        requests,
    }
}
