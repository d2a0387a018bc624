//! The flow table: packets → sessions (created, split on a reused 4-tuple, closed, expired,
//! evicted within the memory caps) → TCP session, HTTP and host records.

use std::collections::HashMap;
use std::net::IpAddr;

use ahash::RandomState;

use spider_collector::records::{
    CloseReason, HostName, HttpTransaction, NameSource, Packet, TcpSession, Timestamp,
};
use spider_wire::TcpHeader;

use crate::http::Exchange;
use crate::ids::SessionIds;
use crate::names::{HostTable, dns};
use crate::session::{Endpoint, Learnt, Session};

/// The limits and timers the tracker works within.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A session with no packet for this long is emitted (microseconds of capture time).
    pub idle_timeout_us: i64,
    /// A closed session waits this long for its last packets (the final ACK) before it is emitted.
    pub close_linger_us: i64,
    /// Sessions tracked at once; beyond, the least recently active are evicted.
    pub max_sessions: usize,
    /// Bytes one session may hold out of order, per direction.
    pub reassembly_per_direction: usize,
    /// Bytes all sessions may hold; beyond, the sessions holding the most are evicted.
    pub max_buffered: usize,
    /// Address → name associations kept.
    pub max_hosts: usize,
}

/// What the tracker counted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TrackerStats {
    /// Sessions created.
    pub sessions: u64,
    /// Sessions emitted early to stay within the caps.
    pub evicted: u64,
    /// IP fragments seen (their transport payload is not reassembled).
    pub fragments: u64,
    /// Host associations dropped to stay within `max_hosts`.
    pub hosts_evicted: u64,
}

type FlowKey = (Endpoint, Endpoint);

/// What a tracked session costs besides its buffers: its share of the table, and the record it
/// becomes when it ends — a capture that ends with every session open turns them all into
/// records at once. A hash table is at most 7/8 full and doubles when it grows, with the old and
/// the new table both held while it moves: up to 3.5 slots per session at that moment. A SYN flood
/// is made of nothing else.
const SESSION_COST: usize =
    7 * std::mem::size_of::<(FlowKey, Session)>() / 2 + std::mem::size_of::<TcpSession>();

/// IP protocol numbers.
const TCP: u8 = 6;
const UDP: u8 = 17;

fn flow_key(a: Endpoint, b: Endpoint) -> FlowKey {
    if a <= b { (a, b) } else { (b, a) }
}

/// Tracks every TCP session and host name seen in a stream of packets.
pub struct Tracker {
    limits: Limits,
    /// aHash with random keys: the flow table is looked up for every packet, so SipHash is too
    /// slow, but the keys come off the wire, so the hash must still resist chosen collisions.
    sessions: HashMap<FlowKey, Session, RandomState>,
    ids: SessionIds,
    hosts: HostTable,
    buffered: usize,
    clock: Timestamp,
    stats: TrackerStats,
    exchanges: Vec<Exchange>,
    learnt: Vec<Learnt>,
    closed: Vec<TcpSession>,
    http: Vec<HttpTransaction>,
}

impl Tracker {
    /// An empty tracker.
    pub fn new(limits: Limits) -> Self {
        Self {
            hosts: HostTable::new(limits.max_hosts),
            limits,
            sessions: HashMap::default(),
            ids: SessionIds::new(),
            buffered: 0,
            clock: Timestamp::default(),
            stats: TrackerStats::default(),
            exchanges: Vec::new(),
            learnt: Vec::new(),
            closed: Vec::new(),
            http: Vec::new(),
        }
    }

    /// Sessions open.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Slots the flow table holds: what it grew to, until [`Self::expire`] gives them back.
    pub fn table_slots(&self) -> usize {
        self.sessions.capacity()
    }

    /// Memory all sessions hold: their slots, their buffers, the records they will become.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Host associations held.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// Its counts.
    pub fn stats(&self) -> TrackerStats {
        TrackerStats {
            hosts_evicted: self.hosts.evicted(),
            ..self.stats
        }
    }

    /// The latest packet time seen.
    pub fn clock(&self) -> Timestamp {
        self.clock
    }

    /// Takes one packet: labels it with its session, direction and relative sequence numbers,
    /// and feeds the session. The receiver decoded the headers already; the payload is read
    /// where it said it starts.
    pub fn packet(&mut self, packet: &mut Packet) {
        self.clock = self.clock.max(packet.time);
        if packet.fragment {
            self.stats.fragments += 1;
            return;
        }
        match (packet.protocol, packet.src_port, packet.dst_port) {
            (TCP, Some(src_port), Some(dst_port)) => {
                let (Some(flags), Some(seq), Some(ack)) =
                    (packet.tcp_flags, packet.seq, packet.ack)
                else {
                    return;
                };
                let tcp = TcpHeader {
                    src_port,
                    dst_port,
                    seq,
                    ack,
                    flags,
                };
                // Taken out and put back so the packet can be labelled while its payload is read.
                let range = packet.payload_range();
                let frame = std::mem::take(&mut packet.frame);
                self.tcp(packet, &tcp, &frame[range]);
                packet.frame = frame;
            }
            (UDP, Some(dns::PORT), _) => {
                for (ip, name) in dns::answers(packet.payload()) {
                    self.hosts.saw(ip, &name, NameSource::Dns, packet.time);
                }
            }
            _ => {}
        }
    }

    fn tcp(&mut self, packet: &mut Packet, tcp: &TcpHeader, payload: &[u8]) {
        let source = (packet.src_ip, tcp.src_port);
        let destination = (packet.dst_ip, tcp.dst_port);
        let key = flow_key(source, destination);
        if self
            .sessions
            .get(&key)
            .is_some_and(|s| s.is_new_syn(source, tcp))
            && let Some(old) = self.sessions.remove(&key)
        {
            self.close(old, CloseReason::Reused);
        }
        if !self.sessions.contains_key(&key) {
            if self.sessions.len() >= self.limits.max_sessions {
                self.evict_least_recent();
            }
            let session = Session::new(
                self.ids.next_id(),
                &packet.interface,
                packet.capturer.as_deref().unwrap_or_default(),
                source,
                destination,
                tcp,
                packet.time,
            );
            self.stats.sessions += 1;
            self.buffered += session.buffered() + SESSION_COST;
            self.sessions.insert(key, session);
        }
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        let before = session.buffered();
        session.segment(
            packet,
            tcp,
            payload,
            self.limits.reassembly_per_direction,
            &mut self.exchanges,
            &mut self.learnt,
        );
        self.buffered = self.buffered + session.buffered() - before;
        // Most segments complete no exchange and teach no name: nothing to copy out for them.
        if !self.exchanges.is_empty() || !self.learnt.is_empty() {
            let (id, client, server) = (session.id, session.client, session.server);
            let capturer = session.capturer.clone();
            self.record_exchanges(id, client, server, &capturer);
        }
        while self.buffered > self.limits.max_buffered {
            self.evict_biggest();
        }
    }

    /// Emits sessions closed for longer than the linger, and idle for longer than the timeout,
    /// as of `now` (capture time).
    pub fn expire(&mut self, now: Timestamp) {
        self.clock = self.clock.max(now);
        let linger = self.limits.close_linger_us;
        let idle = self.limits.idle_timeout_us;
        let due: Vec<(FlowKey, CloseReason)> = self
            .sessions
            .iter()
            .filter_map(|(key, session)| {
                if session
                    .closed_at
                    .is_some_and(|closed| now.micros_since(closed) >= linger)
                {
                    Some((*key, CloseReason::Fin))
                } else if now.micros_since(session.last_packet) >= idle {
                    Some((*key, CloseReason::Timeout))
                } else {
                    None
                }
            })
            .collect();
        self.close_all(due);
        // A table a SYN flood grew keeps its slots after the flood: give most of them back once
        // it is three-quarters empty, so that the memory the caps count is the memory held.
        if self.sessions.capacity() > 1024 && self.sessions.len() < self.sessions.capacity() / 4 {
            self.sessions.shrink_to(self.sessions.len() * 2);
        }
    }

    /// Emits every session still open (the capture ended or the collector stops).
    pub fn finish(&mut self) {
        let open: Vec<(FlowKey, CloseReason)> = self
            .sessions
            .keys()
            .map(|key| (*key, CloseReason::CaptureEnd))
            .collect();
        self.close_all(open);
    }

    /// Session and HTTP records completed since the last call.
    pub fn take_records(&mut self) -> (Vec<TcpSession>, Vec<HttpTransaction>) {
        (
            std::mem::take(&mut self.closed),
            std::mem::take(&mut self.http),
        )
    }

    /// Host records new or seen again since the last call.
    pub fn take_hosts(&mut self) -> Vec<HostName> {
        self.hosts.take_changed()
    }

    /// Host records of the associations learnt and never emitted before.
    pub fn take_new_hosts(&mut self) -> Vec<HostName> {
        self.hosts.take_new()
    }

    fn close_all(&mut self, mut keys: Vec<(FlowKey, CloseReason)>) {
        // In id order, so records come out in the order the sessions began.
        keys.sort_by_key(|(key, _)| self.sessions.get(key).map(|s| s.id));
        // Room for all of them at once when many end together (the capture's end), so that
        // the vector does not double past their size; one by one, it grows as usual.
        if keys.len() > 1 {
            self.closed.reserve_exact(keys.len());
        }
        for (key, reason) in keys {
            if let Some(session) = self.sessions.remove(&key) {
                self.close(session, reason);
            }
        }
    }

    fn close(&mut self, session: Session, reason: CloseReason) {
        self.buffered -= session.buffered() + SESSION_COST;
        let (id, client, server) = (session.id, session.client, session.server);
        let capturer = session.capturer.clone();
        let host = self.hosts.name_of(&server.0).map(str::to_owned);
        let record = session.finish(reason, host, &mut self.exchanges, &mut self.learnt);
        self.record_exchanges(id, client, server, &capturer);
        self.closed.push(record);
    }

    fn evict_least_recent(&mut self) {
        let mut ages: Vec<(Timestamp, FlowKey)> = self
            .sessions
            .iter()
            .map(|(key, session)| (session.last_packet, *key))
            .collect();
        let count = (ages.len() / 16).max(1);
        ages.select_nth_unstable(count - 1);
        let victims = ages[..count]
            .iter()
            .map(|(_, key)| (*key, CloseReason::Evicted))
            .collect();
        self.stats.evicted += count as u64;
        self.close_all(victims);
    }

    /// Evicts the session holding the most; when none holds more than its own cost (a SYN flood
    /// fills memory with empty sessions), the least recent sixteenth instead, so eviction stays
    /// cheap per packet.
    fn evict_biggest(&mut self) {
        let Some((key, holds_buffers)) = self
            .sessions
            .iter()
            .map(|(key, session)| (*key, session.buffered()))
            .max_by_key(|(_, held)| *held)
            .map(|(key, held)| (key, held > SESSION_COST))
        else {
            return;
        };
        if !holds_buffers {
            self.evict_least_recent();
            return;
        }
        self.stats.evicted += 1;
        self.close_all(vec![(key, CloseReason::Evicted)]);
    }

    fn record_exchanges(&mut self, id: u64, client: Endpoint, server: Endpoint, capturer: &str) {
        for (ip, name, source, time) in self.learnt.drain(..) {
            self.hosts.saw(ip, &name, source, time);
        }
        for exchange in self.exchanges.drain(..) {
            if let Some(request) = &exchange.request
                && let Some(host) = request.head.host.as_deref().and_then(host_name)
            {
                self.hosts
                    .saw(server.0, host, NameSource::Host, request.time);
            }
            self.http
                .push(http_record(id, client, server, capturer, exchange));
        }
    }
}

/// The name in a Host header: without its port, and not an address literal.
fn host_name(header: &str) -> Option<&str> {
    let name = match header.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => header,
    };
    let literal = name.starts_with('[') || name.parse::<IpAddr>().is_ok();
    (!literal && !name.is_empty()).then_some(name)
}

fn http_record(
    id: u64,
    client: Endpoint,
    server: Endpoint,
    capturer: &str,
    exchange: Exchange,
) -> HttpTransaction {
    let Exchange { request, response } = exchange;
    let request_time = request.as_ref().map(|r| r.time);
    let response_time = response.as_ref().map(|r| r.time);
    let mut anomalies: Vec<&str> = Vec::new();
    for list in [
        request.as_ref().map(|r| &r.anomalies),
        response.as_ref().map(|r| &r.anomalies),
    ]
    .into_iter()
    .flatten()
    {
        anomalies.extend(list);
    }
    let version = request
        .as_ref()
        .map(|r| r.head.version.clone())
        .or_else(|| response.as_ref().map(|r| r.head.version.clone()))
        .filter(|v| !v.is_empty());
    let nonempty = |text: &str| (!text.is_empty()).then(|| text.to_owned());
    HttpTransaction {
        session_id: id,
        capturer: (!capturer.is_empty()).then(|| capturer.to_owned()),
        client_ip: client.0,
        client_port: client.1,
        server_ip: server.0,
        server_port: server.1,
        method: request.as_ref().and_then(|r| nonempty(&r.head.method)),
        host: request.as_ref().and_then(|r| r.head.host.clone()),
        path: request.as_ref().and_then(|r| nonempty(&r.head.path)),
        query: request.as_ref().and_then(|r| r.head.query.clone()),
        version,
        status: response.as_ref().map(|r| r.head.status).filter(|s| *s != 0),
        user_agent: request.as_ref().and_then(|r| r.head.user_agent.clone()),
        request_content_type: request.as_ref().and_then(|r| r.head.content_type.clone()),
        response_content_type: response.as_ref().and_then(|r| r.head.content_type.clone()),
        request_body_size: request.as_ref().map(|r| r.body_size),
        response_body_size: response.as_ref().map(|r| r.body_size),
        request_time,
        response_time,
        latency_us: request_time
            .zip(response_time)
            .map(|(sent, answered)| answered.micros_since(sent)),
        anomalies: (!anomalies.is_empty()).then(|| anomalies.join(",")),
        client: Default::default(),
        server: Default::default(),
    }
}
