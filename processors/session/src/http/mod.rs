//! HTTP/1.x over the two reassembled directions of one TCP session: requests and responses
//! parsed incrementally (heads with httparse, bodies by Content-Length, chunked or until the
//! connection closes), paired in order (pipelining), with anomalies recorded on the exchange
//! they hit rather than raised. A stream whose first bytes are not HTTP is left alone.

mod body;
pub(crate) mod head;

use std::collections::VecDeque;

use spider_collector::records::Timestamp;

use body::{Body, Progress};
use head::{HeadError, parse_request, parse_response};
pub use head::{RequestHead, ResponseHead};

/// Bytes a head may take before the message is given up as hostile or broken.
const MAX_HEAD: usize = 64 * 1024;
/// Requests waiting for their responses before the oldest is recorded as unanswered.
const MAX_AWAITING: usize = 64;

/// A request as seen.
#[derive(Debug, Clone)]
pub struct Request {
    /// Its head.
    pub head: RequestHead,
    /// Time of its first byte.
    pub time: Timestamp,
    /// Body bytes seen.
    pub body_size: u64,
    /// What went wrong with it.
    pub anomalies: Vec<&'static str>,
}

/// A response as seen.
#[derive(Debug, Clone)]
pub struct Response {
    /// Its head.
    pub head: ResponseHead,
    /// Time of its first byte.
    pub time: Timestamp,
    /// Body bytes seen.
    pub body_size: u64,
    /// What went wrong with it.
    pub anomalies: Vec<&'static str>,
}

/// One request/response pair; either half may be missing.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The request.
    pub request: Option<Request>,
    /// The response.
    pub response: Option<Response>,
}

/// Where one direction's parser is.
#[derive(Debug)]
enum State {
    /// Between messages, or inside a head (bytes held in `head`).
    Head,
    /// Inside a body.
    Body(Body),
    /// Not parsing: not HTTP, upgraded, or lost.
    Off,
}

#[derive(Debug)]
struct Direction {
    state: State,
    head: Vec<u8>,
    /// Bytes of `head` when it was last parsed.
    parsed_at: usize,
    started: Option<Timestamp>,
    messages: u64,
}

impl Default for Direction {
    fn default() -> Self {
        Self {
            state: State::Head,
            head: Vec::new(),
            parsed_at: 0,
            started: None,
            messages: 0,
        }
    }
}

impl Direction {
    fn buffered(&self) -> usize {
        self.head.len()
            + match &self.state {
                State::Body(body) => body.buffered(),
                _ => 0,
            }
    }
}

/// The HTTP state of one TCP session.
#[derive(Debug, Default)]
pub struct Conversation {
    client: Direction,
    server: Direction,
    awaiting: VecDeque<Request>,
    response: Option<Response>,
    done: Vec<Exchange>,
}

/// Which head parser a direction uses.
enum Parsed {
    Request(RequestHead),
    Response(ResponseHead),
}

impl Conversation {
    /// Whether either direction is still parsed.
    pub fn active(&self) -> bool {
        !matches!(self.client.state, State::Off) || !matches!(self.server.state, State::Off)
    }

    /// Bytes held: partial heads, chunk lines, and the requests and response waiting for their
    /// other half (a never-answered pipelining flood holds up to [`MAX_AWAITING`] of them).
    pub fn buffered(&self) -> usize {
        let request = |r: &Request| std::mem::size_of::<Request>() + r.head.held_bytes();
        let response = |r: &Response| std::mem::size_of::<Response>() + r.head.held_bytes();
        std::mem::size_of::<Self>()
            + self.client.buffered()
            + self.server.buffered()
            + self.awaiting.iter().map(request).sum::<usize>()
            + self.response.as_ref().map_or(0, response)
    }

    /// Exchanges completed since the last call.
    pub fn take_done(&mut self) -> Vec<Exchange> {
        std::mem::take(&mut self.done)
    }

    /// In-order bytes from the client.
    pub fn client_data(&mut self, time: Timestamp, bytes: &[u8]) {
        self.feed(true, time, bytes);
    }

    /// In-order bytes from the server.
    pub fn server_data(&mut self, time: Timestamp, bytes: &[u8]) {
        self.feed(false, time, bytes);
    }

    /// Bytes lost in one direction.
    pub fn gap(&mut self, from_client: bool, length: u64) {
        let direction = if from_client {
            &mut self.client
        } else {
            &mut self.server
        };
        let skipped = match &mut direction.state {
            State::Body(body) => body.skip(length),
            State::Off => return,
            State::Head => direction.head.is_empty() && direction.messages == 0,
        };
        let anomaly = if skipped { "gap" } else { "gap_lost_sync" };
        if !skipped {
            direction.state = State::Off;
            direction.head = Vec::new();
        }
        if direction.messages > 0 {
            self.mark(from_client, anomaly);
        }
    }

    /// The session ended: completes what the end completes, records what is left.
    pub fn finish(&mut self) {
        if let State::Body(body) = &self.server.state {
            let until_close = body.until_close();
            let size = body.size;
            if let Some(response) = &mut self.response {
                response.body_size = size;
                if !until_close {
                    response.anomalies.push("truncated");
                }
            }
            self.complete_response();
        }
        if matches!(self.client.state, State::Body(_))
            && let Some(request) = self.awaiting.back_mut()
        {
            request.anomalies.push("truncated");
        }
        for direction in [&mut self.client, &mut self.server] {
            direction.state = State::Off;
            direction.head = Vec::new();
        }
        self.done
            .extend(self.awaiting.drain(..).map(|request| Exchange {
                request: Some(request),
                response: None,
            }));
    }

    fn mark(&mut self, from_client: bool, anomaly: &'static str) {
        let anomalies = if from_client {
            self.awaiting.back_mut().map(|r| &mut r.anomalies)
        } else {
            self.response.as_mut().map(|r| &mut r.anomalies)
        };
        if let Some(anomalies) = anomalies {
            anomalies.push(anomaly);
        }
    }

    fn feed(&mut self, from_client: bool, time: Timestamp, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let direction = if from_client {
                &mut self.client
            } else {
                &mut self.server
            };
            match &mut direction.state {
                State::Off => return,
                State::Body(body) => match body.feed(bytes) {
                    Progress::NeedMore => return,
                    Progress::Done(used) => {
                        bytes = &bytes[used..];
                        let size = body.size;
                        direction.state = State::Head;
                        self.body_done(from_client, size);
                    }
                    Progress::Broken => {
                        direction.state = State::Off;
                        self.mark(from_client, "bad_chunk");
                        return;
                    }
                },
                State::Head => {
                    if direction.head.is_empty() {
                        // Blank lines between messages are allowed (RFC 9112 §2.2).
                        let blank = bytes
                            .iter()
                            .take_while(|b| matches!(b, b'\r' | b'\n'))
                            .count();
                        bytes = &bytes[blank..];
                        if bytes.is_empty() {
                            return;
                        }
                        direction.started = Some(time);
                    }
                    let held = direction.head.len();
                    let take = bytes.len().min(MAX_HEAD + 1 - held.min(MAX_HEAD));
                    direction.head.extend_from_slice(&bytes[..take]);
                    if !worth_parsing(&direction.head, held, direction.parsed_at) {
                        return;
                    }
                    direction.parsed_at = direction.head.len();
                    let parsed = if from_client {
                        parse_request(&direction.head).map(|(n, h)| (n, Parsed::Request(h)))
                    } else {
                        parse_response(&direction.head).map(|(n, h)| (n, Parsed::Response(h)))
                    };
                    match parsed {
                        Ok((length, head)) => {
                            bytes = &bytes[length - held..];
                            direction.head = Vec::new();
                            direction.parsed_at = 0;
                            direction.messages += 1;
                            let started = direction.started.unwrap_or(time);
                            self.head_done(head, started);
                        }
                        Err(HeadError::Partial) if direction.head.len() <= MAX_HEAD => return,
                        Err(error) => {
                            let first = direction.messages == 0;
                            direction.state = State::Off;
                            direction.head = Vec::new();
                            direction.parsed_at = 0;
                            // A stream that never was HTTP is not an anomaly.
                            if !first {
                                let anomaly = match error {
                                    HeadError::Partial | HeadError::TooLarge => "head_too_large",
                                    HeadError::Invalid => "malformed_head",
                                };
                                self.orphan_anomaly(from_client, anomaly, time);
                            }
                            return;
                        }
                    }
                }
            }
        }
    }

    /// A broken message that never got a head: recorded as an exchange of its own.
    fn orphan_anomaly(&mut self, from_client: bool, anomaly: &'static str, time: Timestamp) {
        if from_client {
            self.done.push(Exchange {
                request: Some(Request {
                    head: RequestHead::default(),
                    time,
                    body_size: 0,
                    anomalies: vec![anomaly],
                }),
                response: None,
            });
        } else {
            self.response = Some(Response {
                head: ResponseHead::default(),
                time,
                body_size: 0,
                anomalies: vec![anomaly],
            });
            self.complete_response();
        }
    }

    fn head_done(&mut self, head: Parsed, time: Timestamp) {
        match head {
            Parsed::Request(head) => {
                let body = Body::new(head.framing);
                if self.awaiting.len() >= MAX_AWAITING {
                    let oldest = self.awaiting.pop_front();
                    self.done.push(Exchange {
                        request: oldest,
                        response: None,
                    });
                }
                self.awaiting.push_back(Request {
                    head,
                    time,
                    body_size: 0,
                    anomalies: Vec::new(),
                });
                if !body.is_done() {
                    self.client.state = State::Body(body);
                }
            }
            Parsed::Response(head) => {
                let status = head.status;
                if (100..200).contains(&status) && status != 101 {
                    // Interim (100 Continue): the final response follows.
                    return;
                }
                let method = self.awaiting.front().map(|r| r.head.method.as_str());
                let tunnel =
                    status == 101 || (method == Some("CONNECT") && (200..300).contains(&status));
                let body = Body::new(head.framing(method));
                self.response = Some(Response {
                    head,
                    time,
                    body_size: 0,
                    anomalies: Vec::new(),
                });
                if tunnel {
                    self.complete_response();
                    self.client.state = State::Off;
                    self.server.state = State::Off;
                } else if body.is_done() {
                    self.complete_response();
                } else {
                    self.server.state = State::Body(body);
                }
            }
        }
    }

    fn body_done(&mut self, from_client: bool, size: u64) {
        if from_client {
            if let Some(request) = self.awaiting.back_mut() {
                request.body_size = size;
            }
        } else {
            if let Some(response) = &mut self.response {
                response.body_size = size;
            }
            self.complete_response();
        }
    }

    fn complete_response(&mut self) {
        let Some(mut response) = self.response.take() else {
            return;
        };
        let request = self.awaiting.pop_front();
        if request.is_none() && response.head.status != 0 {
            response.anomalies.push("response_without_request");
        }
        self.done.push(Exchange {
            request,
            response: Some(response),
        });
    }
}

/// Whether a head being collected is worth parsing again: its first bytes (a stream that is not
/// HTTP is let go at once), new bytes that hold a blank line (the head may be complete), twice
/// the bytes of the last parse (a broken head is still caught early), or more than a head may
/// take. A head sent a byte at a time thus costs linear parsing, not quadratic.
fn worth_parsing(head: &[u8], held: usize, parsed_at: usize) -> bool {
    let fresh = &head[held.saturating_sub(3)..];
    let blank_line = fresh.windows(2).enumerate().any(|(at, pair)| {
        pair == b"\n\n" || (pair == b"\n\r" && fresh.get(at + 2) == Some(&b'\n'))
    });
    held == 0 || blank_line || head.len() >= 2 * parsed_at || head.len() > MAX_HEAD
}
