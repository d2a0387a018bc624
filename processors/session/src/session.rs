//! One TCP session: its two directions reassembled, its counters, its handshake and close, and
//! the application data (HTTP, TLS SNI, DNS over TCP) read from it.

use std::net::IpAddr;
use std::sync::Arc;

use spider_collector::records::{
    CloseReason, Direction, NameSource, Packet, SessionState, TcpSession, Timestamp,
};
use spider_wire::TcpHeader;

use crate::http::{Conversation, Exchange};
use crate::names::dns::{self, TcpMessages};
use crate::names::tls::{SniSniffer, Sniffed};
use crate::reassembly::{Stream, StreamSink};

/// An address and port.
pub type Endpoint = (IpAddr, u16);

/// Index of the client-to-server direction in per-direction arrays.
pub const TO_SERVER: usize = 0;
/// Index of the server-to-client direction.
pub const TO_CLIENT: usize = 1;

/// What the session's payload is read as.
#[derive(Debug)]
enum App {
    /// Nothing seen from the client yet.
    Undecided,
    /// HTTP/1.x (it turns itself off if the bytes are not).
    Http(Box<Conversation>),
    /// TLS: the ClientHello's server name.
    Tls(SniSniffer),
    /// DNS over TCP: the server's answers.
    Dns(TcpMessages),
    /// Nothing to read.
    Opaque,
}

/// A name learnt from a session's payload.
pub type Learnt = (IpAddr, String, NameSource, Timestamp);

/// One TCP connection being tracked.
#[derive(Debug)]
pub struct Session {
    /// Its id (the order sessions were first seen, as tshark numbers `tcp.stream`).
    pub id: u64,
    interface: String,
    /// Who captured it (its first packet's capturer), shared with its HTTP records.
    pub capturer: Arc<str>,
    /// The connecting end.
    pub client: Endpoint,
    /// The accepting end.
    pub server: Endpoint,
    first_packet: Timestamp,
    syn_time: Option<Timestamp>,
    connected: Option<Timestamp>,
    /// Time of the latest packet.
    pub last_packet: Timestamp,
    packets: [u64; 2],
    bytes: [u64; 2],
    missed_syn: bool,
    fin: [bool; 2],
    rst: bool,
    /// When both FINs or a RST were seen.
    pub closed_at: Option<Timestamp>,
    isn: [Option<u32>; 2],
    streams: [Stream; 2],
    app: App,
}

impl Session {
    /// A session whose first packet goes `from` → `to` with this TCP header.
    pub fn new(
        id: u64,
        interface: &str,
        capturer: &str,
        from: Endpoint,
        to: Endpoint,
        tcp: &TcpHeader,
        time: Timestamp,
    ) -> Self {
        let syn = tcp.has(TcpHeader::SYN);
        let syn_ack = syn && tcp.has(TcpHeader::ACK);
        // Without a SYN the roles are guessed: the SYN-ACK's sender, else the lower port, serves.
        let sender_serves = syn_ack || (!syn && from.1 < to.1);
        let (client, server) = if sender_serves {
            (to, from)
        } else {
            (from, to)
        };
        Self {
            id,
            interface: interface.to_owned(),
            capturer: capturer.into(),
            client,
            server,
            first_packet: time,
            syn_time: None,
            connected: None,
            last_packet: time,
            packets: [0; 2],
            bytes: [0; 2],
            missed_syn: !syn || syn_ack,
            fin: [false; 2],
            rst: false,
            closed_at: None,
            isn: [None; 2],
            streams: [Stream::default(), Stream::default()],
            app: App::Undecided,
        }
    }

    /// The direction of a packet from `source`.
    pub fn direction_from(&self, source: Endpoint) -> usize {
        if source == self.client {
            TO_SERVER
        } else {
            TO_CLIENT
        }
    }

    /// Whether a pure SYN from `source` starts a new connection on this 4-tuple rather than
    /// repeating this one's (tshark splits streams the same way).
    pub fn is_new_syn(&self, source: Endpoint, tcp: &TcpHeader) -> bool {
        if !tcp.has(TcpHeader::SYN) || tcp.has(TcpHeader::ACK) {
            return false;
        }
        let direction = self.direction_from(source);
        direction == TO_CLIENT
            || self.closed_at.is_some()
            || self.isn[TO_SERVER].is_some_and(|isn| isn != tcp.seq)
    }

    /// Heap memory held for reassembly and parsing (the session itself is the tracker's to count).
    pub fn buffered(&self) -> usize {
        let app = match &self.app {
            App::Http(conversation) => conversation.buffered(),
            App::Tls(sniffer) => sniffer.buffered(),
            App::Dns(messages) => messages.buffered(),
            App::Undecided | App::Opaque => 0,
        };
        self.interface.len()
            + self.capturer.len()
            + self.streams[0].buffered()
            + self.streams[1].buffered()
            + app
    }

    /// Takes one segment: counts it, follows the handshake and close, reassembles its payload
    /// (`reassembly_cap` bytes at most held out of order per direction), and labels the packet.
    pub fn segment(
        &mut self,
        packet: &mut Packet,
        tcp: &TcpHeader,
        payload: &[u8],
        reassembly_cap: usize,
        done: &mut Vec<Exchange>,
        learnt: &mut Vec<Learnt>,
    ) {
        let direction = self.direction_from((packet.src_ip, tcp.src_port));
        let time = packet.time;
        self.last_packet = self.last_packet.max(time);
        self.packets[direction] += 1;
        self.bytes[direction] += u64::from(packet.payload_length);
        if tcp.has(TcpHeader::SYN) {
            if self.isn[direction].is_none() {
                self.isn[direction] = Some(tcp.seq);
                self.streams[direction].syn(tcp.seq);
            }
            if direction == TO_SERVER && !tcp.has(TcpHeader::ACK) {
                self.syn_time.get_or_insert(time);
            } else if direction == TO_CLIENT && tcp.has(TcpHeader::ACK) {
                self.connected.get_or_insert(time);
            }
        } else if self.isn[direction].is_none() {
            // Picked up mid-stream: numbered as if the SYN had come just before.
            self.isn[direction] = Some(tcp.seq.wrapping_sub(1));
            self.streams[direction].syn(tcp.seq.wrapping_sub(1));
        }
        if tcp.has(TcpHeader::RST) {
            self.rst = true;
            self.closed_at.get_or_insert(time);
        }
        if tcp.has(TcpHeader::FIN) {
            self.fin[direction] = true;
            if self.fin == [true, true] {
                self.closed_at.get_or_insert(time);
            }
        }
        packet.session_id = Some(self.id);
        packet.direction = if direction == TO_SERVER {
            Direction::ToServer
        } else {
            Direction::ToClient
        };
        packet.seq = self.isn[direction].map(|isn| tcp.seq.wrapping_sub(isn));
        packet.ack = match self.isn[1 - direction] {
            Some(isn) if tcp.has(TcpHeader::ACK) => Some(tcp.ack.wrapping_sub(isn)),
            _ => None,
        };
        if payload.is_empty() {
            return;
        }
        if matches!(self.app, App::Undecided) && direction == TO_SERVER {
            self.app = self.choose_app(payload);
        }
        let mut sink = AppSink {
            app: &mut self.app,
            from_client: direction == TO_SERVER,
            server_ip: self.server.0,
            learnt,
        };
        self.streams[direction].segment(tcp.seq, payload, time, reassembly_cap, &mut sink);
        let missing =
            packet.payload_length as usize - payload.len().min(packet.payload_length as usize);
        if missing > 0 {
            let after = tcp.seq.wrapping_add(payload.len() as u32);
            self.streams[direction].lost(after, missing as u64, &mut sink);
        }
        match &mut self.app {
            App::Http(conversation) => {
                if !conversation.active() {
                    // Nothing more will be parsed: what still waits is recorded now.
                    conversation.finish();
                    done.extend(conversation.take_done());
                    self.app = App::Opaque;
                } else {
                    done.extend(conversation.take_done());
                }
            }
            App::Tls(sniffer) if !sniffer.wants() => self.app = App::Opaque,
            _ => {}
        }
    }

    fn choose_app(&self, first_bytes: &[u8]) -> App {
        if self.server.1 == dns::PORT {
            App::Dns(TcpMessages::default())
        } else if first_bytes.first() == Some(&0x16) {
            App::Tls(SniSniffer::default())
        } else {
            App::Http(Box::default())
        }
    }

    /// Ends the session: delivers what reassembly held, completes the HTTP exchanges the end
    /// completes, and builds its record.
    pub fn finish(
        mut self,
        reason: CloseReason,
        server_host: Option<String>,
        done: &mut Vec<Exchange>,
        learnt: &mut Vec<Learnt>,
    ) -> TcpSession {
        for direction in [TO_SERVER, TO_CLIENT] {
            let mut sink = AppSink {
                app: &mut self.app,
                from_client: direction == TO_SERVER,
                server_ip: self.server.0,
                learnt,
            };
            self.streams[direction].finish(&mut sink);
        }
        if let App::Http(conversation) = &mut self.app {
            conversation.finish();
            done.extend(conversation.take_done());
        }
        let closed = self.rst || self.fin == [true, true];
        let reason = if self.rst {
            CloseReason::Rst
        } else if closed {
            CloseReason::Fin
        } else {
            reason
        };
        let state = if closed {
            SessionState::Closed
        } else if self.connected.is_some() || self.missed_syn {
            SessionState::Established
        } else {
            SessionState::SynSent
        };
        TcpSession {
            session_id: self.id,
            interface: self.interface,
            capturer: (!self.capturer.is_empty()).then(|| self.capturer.to_string()),
            client_ip: self.client.0,
            client_port: self.client.1,
            server_ip: self.server.0,
            server_port: self.server.1,
            state,
            first_packet: self.first_packet,
            connected: self.connected,
            handshake_latency_us: self
                .syn_time
                .zip(self.connected)
                .map(|(syn, connected)| connected.micros_since(syn)),
            last_packet: self.last_packet,
            duration_us: self.last_packet.micros_since(self.first_packet),
            bytes_to_server: self.bytes[TO_SERVER],
            bytes_to_client: self.bytes[TO_CLIENT],
            packets_to_server: self.packets[TO_SERVER],
            packets_to_client: self.packets[TO_CLIENT],
            missed_syn: self.missed_syn,
            close_reason: reason,
            server_host,
            client: Default::default(),
            server: Default::default(),
        }
    }
}

/// Hands reassembled bytes to the session's application reader.
struct AppSink<'a> {
    app: &'a mut App,
    from_client: bool,
    server_ip: IpAddr,
    learnt: &'a mut Vec<Learnt>,
}

impl StreamSink for AppSink<'_> {
    fn data(&mut self, time: Timestamp, bytes: &[u8]) {
        match self.app {
            App::Http(conversation) if self.from_client => conversation.client_data(time, bytes),
            App::Http(conversation) => conversation.server_data(time, bytes),
            App::Tls(sniffer) if self.from_client && sniffer.wants() => {
                if let Sniffed::Name(name) = sniffer.feed(bytes) {
                    self.learnt
                        .push((self.server_ip, name, NameSource::Sni, time));
                }
            }
            App::Dns(messages) if !self.from_client => {
                for (ip, name) in messages.feed(bytes) {
                    self.learnt.push((ip, name, NameSource::Dns, time));
                }
            }
            _ => {}
        }
    }

    fn gap(&mut self, length: u64) {
        match self.app {
            App::Http(conversation) => conversation.gap(self.from_client, length),
            App::Dns(messages) if !self.from_client => messages.reset(),
            _ => {}
        }
    }
}
