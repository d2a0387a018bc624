//! From directional kernel counts to one-minute usage records, one per client/server pair.
//!
//! Each direction of a conversation may be counted up to four times (the packet hooks of the
//! sending and of the receiving socket when both are local, their send and receive calls);
//! the counts are combined so that every byte is counted once:
//! - bytes and messages: the sender's send calls when its socket is local, else the receiver's
//!   receive calls, else the packets (UDP on unconnected sockets);
//! - packets: the larger of what left the sender and what reached the receiver.
//!
//! The client is the side that sent the SYN; without one (UDP, or a connection older than the
//! agent), a well-known or non-ephemeral port names the server, then the first sender is the
//! client. A decision is remembered, so a long connection keeps its roles in later minutes.
//!
//! Directions counted under a Service's address are first rewritten to the backend that served
//! them ([`NatTable`]), so one connection through a Service is one conversation; each record
//! keeps the Service, and says which of its ends were this agent's own sockets.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use spider_collector::records::{NetworkUsage, ObservedEnds, Timestamp, Transport};

use crate::layout::{FLOW_SYN, FlowKey, FlowValue, Source};
use crate::nat::{Endpoint, NatTable, Tuple as Direction};

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    packets: u64,
    bytes: u64,
    calls: u64,
}

impl Counts {
    fn add(&mut self, value: &FlowValue) {
        self.packets += value.packets;
        self.bytes += value.bytes;
        self.calls += value.calls;
    }

    fn merge(&mut self, other: Counts) {
        self.packets += other.packets;
        self.bytes += other.bytes;
        self.calls += other.calls;
    }
}

/// Everything counted for one direction.
#[derive(Debug, Clone, Default)]
struct Directional {
    egress: Counts,
    ingress: Counts,
    sent: Counts,
    received: Counts,
    syn: bool,
    first_ns: u64,
    /// The Service the client connected to, when the direction was translated.
    service: Option<Endpoint>,
}

impl Directional {
    /// Adds what another view of the same direction counted (a Service's view and the pod's).
    fn merge(&mut self, other: Directional) {
        self.egress.merge(other.egress);
        self.ingress.merge(other.ingress);
        self.sent.merge(other.sent);
        self.received.merge(other.received);
        self.syn |= other.syn;
        if self.first_ns == 0 || (other.first_ns != 0 && other.first_ns < self.first_ns) {
            self.first_ns = other.first_ns;
        }
        self.service = self.service.or(other.service);
    }

    /// Whether the sender's socket is local (a packet left it, or it made send calls).
    fn local_src(&self) -> bool {
        self.egress.packets + self.sent.calls > 0
    }

    /// Whether the receiver's socket is local.
    fn local_dst(&self) -> bool {
        self.ingress.packets + self.received.calls > 0
    }

    fn packets(&self) -> u64 {
        self.egress.packets.max(self.ingress.packets)
    }

    /// (bytes, messages) counted once, preferring the sockets' own calls.
    fn bytes_and_messages(&self) -> (u64, u64) {
        if self.sent.calls > 0 {
            (self.sent.bytes, self.sent.calls)
        } else if self.received.calls > 0 {
            (self.received.bytes, self.received.calls)
        } else {
            (self.egress.bytes.max(self.ingress.bytes), self.packets())
        }
    }
}

/// A conversation whatever its direction: the two ends in a fixed order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Pair {
    low: Endpoint,
    high: Endpoint,
    protocol: u8,
}

impl Direction {
    fn pair(&self) -> Pair {
        let (low, high) = if self.src <= self.dst {
            (self.src, self.dst)
        } else {
            (self.dst, self.src)
        };
        Pair {
            low,
            high,
            protocol: self.protocol,
        }
    }
}

/// A record's identity: client, server address and port, transport, the Service (two Services
/// in front of one backend port stay two records), and which ends were observed (connections
/// this agent saw from the client's socket and others it saw only from the server's are two
/// reports, which the counted-once rule treats apart).
type RecordKey = (
    IpAddr,
    IpAddr,
    u16,
    u8,
    Option<Endpoint>,
    Option<ObservedEnds>,
);

/// Which ends of a record were this agent's own sockets.
#[derive(Debug, Default)]
struct Seen {
    client: bool,
    server: bool,
}

impl Seen {
    fn note(&mut self, direction: &Direction, counts: &Directional, client: Endpoint) {
        let (src_local, dst_local) = (counts.local_src(), counts.local_dst());
        if direction.src == client {
            self.client |= src_local;
            self.server |= dst_local;
        } else {
            self.server |= src_local;
            self.client |= dst_local;
        }
    }

    fn observed(&self) -> Option<ObservedEnds> {
        match (self.client, self.server) {
            (true, true) => Some(ObservedEnds::Both),
            (true, false) => Some(ObservedEnds::Client),
            (false, true) => Some(ObservedEnds::Server),
            (false, false) => None,
        }
    }
}

/// Where a decided client was last seen, to forget pairs that went quiet.
struct Role {
    client: Endpoint,
    last_bucket: Timestamp,
}

/// Minutes without traffic after which a pair's roles are forgotten.
const ROLE_MEMORY_MINUTES: i64 = 10;

/// The counts of the minute being filled, and the roles decided so far.
pub struct Aggregator {
    reporter: String,
    bucket: Timestamp,
    directions: HashMap<Direction, Directional>,
    roles: HashMap<Pair, Role>,
}

const TCP: u8 = 6;

impl Aggregator {
    /// An empty minute starting at `bucket`.
    pub fn new(reporter: String, bucket: Timestamp) -> Self {
        Self {
            reporter,
            bucket,
            directions: HashMap::new(),
            roles: HashMap::new(),
        }
    }

    /// The start of the minute being filled.
    pub fn bucket(&self) -> Timestamp {
        self.bucket
    }

    /// Adds drained kernel entries to the current minute, as they were counted.
    pub fn add(&mut self, entries: &[(FlowKey, FlowValue)]) {
        for (key, value) in entries {
            let Some(source) = key.source() else { continue };
            let direction = Direction {
                src: (key.src_ip(), key.src_port),
                dst: (key.dst_ip(), key.dst_port),
                protocol: key.protocol,
            };
            let entry = self.directions.entry(direction).or_default();
            match source {
                Source::Egress => entry.egress.add(value),
                Source::Ingress => entry.ingress.add(value),
                Source::SocketSend => entry.sent.add(value),
                Source::SocketRecv => entry.received.add(value),
            }
            entry.syn |= value.flags & FLOW_SYN != 0;
            if entry.first_ns == 0 || value.first_ns < entry.first_ns {
                entry.first_ns = value.first_ns;
            }
        }
    }

    /// Closes the current minute: its records, and a fresh minute starting at `next`. The
    /// directions `nat` knows were translated are rewritten first (`now`: µs): at the close, a
    /// minute after the counts, conntrack's events have long arrived, while translations last
    /// minutes after their connection ended.
    pub fn close(&mut self, next: Timestamp, nat: &mut NatTable, now: i64) -> Vec<NetworkUsage> {
        // One sorted list rather than maps of vectors: with 100,000 live flows, a small vector
        // per pair cost more memory than the flows themselves.
        let mut directions: Vec<(Direction, Directional)> = std::mem::take(&mut self.directions)
            .into_iter()
            .map(|(counted, mut counts)| match nat.rewrite(counted, now) {
                Some(rewritten) => {
                    counts.service = Some(rewritten.service);
                    (rewritten.direction, counts)
                }
                None => (counted, counts),
            })
            .collect();
        directions.sort_unstable_by_key(|(direction, _)| (direction.pair(), *direction));
        // A Service's view and the pod's view of one direction become one, in place: a second
        // list would be the largest allocation of the close.
        directions.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1.merge(std::mem::take(&mut later.1));
            }
            same
        });
        // Ordered by key as they are built, so no sorted copy is made afterwards; a B-tree's
        // nodes are freed as its values are moved out.
        let mut records: BTreeMap<RecordKey, NetworkUsage> = BTreeMap::new();
        for sides in directions.chunk_by(|a, b| a.0.pair() == b.0.pair()) {
            let pair = sides[0].0.pair();
            let client = self.client_of(pair, sides);
            let server = if client == pair.low {
                pair.high
            } else {
                pair.low
            };
            let service = sides.iter().find_map(|(_, counts)| counts.service);
            let mut seen = Seen::default();
            for (direction, counts) in sides {
                seen.note(direction, counts, client);
            }
            let observed = seen.observed();
            let record = records
                .entry((
                    client.0,
                    server.0,
                    server.1,
                    pair.protocol,
                    service,
                    observed,
                ))
                .or_insert_with(|| NetworkUsage {
                    bucket_start: self.bucket,
                    reporter: self.reporter.clone(),
                    client_ip: client.0,
                    server_ip: server.0,
                    server_port: server.1,
                    transport: if pair.protocol == TCP {
                        Transport::Tcp
                    } else {
                        Transport::Udp
                    },
                    service_ip: service.map(|s| s.0),
                    service_port: service.map(|s| s.1),
                    observed,
                    ..NetworkUsage::default()
                });
            for (direction, counts) in sides {
                let (bytes, messages) = counts.bytes_and_messages();
                if direction.src == client {
                    record.bytes_to_server += bytes;
                    record.messages_to_server += messages;
                    record.packets_to_server += counts.packets();
                } else {
                    record.bytes_to_client += bytes;
                    record.messages_to_client += messages;
                    record.packets_to_client += counts.packets();
                }
            }
        }
        let oldest = self.bucket.plus_micros(-ROLE_MEMORY_MINUTES * 60_000_000);
        self.roles.retain(|_, role| role.last_bucket >= oldest);
        self.bucket = next;
        drop(directions);
        records.into_values().collect()
    }

    fn client_of(&mut self, pair: Pair, sides: &[(Direction, Directional)]) -> Endpoint {
        let decided = match self.roles.get(&pair) {
            Some(role) => role.client,
            None => decide_client(pair, sides),
        };
        self.roles.insert(
            pair,
            Role {
                client: decided,
                last_bucket: self.bucket,
            },
        );
        decided
    }
}

/// Ports at or above this are ephemeral (Linux's default range starts at 32768).
const EPHEMERAL: u16 = 32768;

fn decide_client(pair: Pair, sides: &[(Direction, Directional)]) -> Endpoint {
    if pair.protocol == TCP
        && let Some((direction, _)) = sides.iter().find(|(_, counts)| counts.syn)
    {
        return direction.src;
    }
    let (low, high) = (pair.low, pair.high);
    let is_server = |end: Endpoint, other: Endpoint| {
        (end.1 < 1024 && other.1 >= 1024) || (end.1 < EPHEMERAL && other.1 >= EPHEMERAL)
    };
    if is_server(low, high) {
        return high;
    }
    if is_server(high, low) {
        return low;
    }
    sides
        .iter()
        .filter(|(_, counts)| counts.first_ns > 0)
        .min_by_key(|(_, counts)| counts.first_ns)
        .map(|(direction, _)| direction.src)
        .unwrap_or(if low.1 >= high.1 { low } else { high })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Closes a minute in which nothing was translated.
    fn close(aggregator: &mut Aggregator, next: i64) -> Vec<NetworkUsage> {
        aggregator.close(Timestamp::from_secs(next), &mut NatTable::new(0), 0)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn entry(
        src: (&str, u16),
        dst: (&str, u16),
        protocol: u8,
        source: Source,
        value: FlowValue,
    ) -> (FlowKey, FlowValue) {
        (
            FlowKey::new((ip(src.0), src.1), (ip(dst.0), dst.1), protocol, source),
            value,
        )
    }

    fn counts(packets: u64, bytes: u64, calls: u64, first_ns: u64) -> FlowValue {
        FlowValue {
            packets,
            bytes,
            calls,
            first_ns,
            ..FlowValue::default()
        }
    }

    const CLIENT: (&str, u16) = ("10.0.0.1", 40000);
    const SERVER: (&str, u16) = ("10.0.0.2", 8080);

    #[test]
    fn a_local_conversation_counted_four_ways_is_counted_once() {
        let mut aggregator = Aggregator::new("node".into(), Timestamp::from_secs(60));
        let syn = FlowValue {
            flags: FLOW_SYN,
            ..counts(1, 0, 0, 1)
        };
        aggregator.add(&[
            entry(CLIENT, SERVER, TCP, Source::Egress, counts(5, 300, 0, 1)),
            entry(CLIENT, SERVER, TCP, Source::Egress, syn),
            entry(CLIENT, SERVER, TCP, Source::Ingress, counts(6, 300, 0, 2)),
            entry(
                CLIENT,
                SERVER,
                TCP,
                Source::SocketSend,
                counts(0, 300, 3, 3),
            ),
            entry(
                CLIENT,
                SERVER,
                TCP,
                Source::SocketRecv,
                counts(0, 300, 1, 4),
            ),
            entry(SERVER, CLIENT, TCP, Source::Egress, counts(4, 2000, 0, 5)),
            entry(
                SERVER,
                CLIENT,
                TCP,
                Source::SocketSend,
                counts(0, 2000, 2, 6),
            ),
        ]);
        let records = close(&mut aggregator, 120);
        assert_eq!(records.len(), 1, "{records:#?}");
        let r = &records[0];
        assert_eq!(
            (r.client_ip, r.server_ip, r.server_port, r.transport),
            (ip("10.0.0.1"), ip("10.0.0.2"), 8080, Transport::Tcp)
        );
        assert_eq!(
            (r.bytes_to_server, r.messages_to_server, r.packets_to_server),
            (300, 3, 6)
        );
        assert_eq!(
            (r.bytes_to_client, r.messages_to_client, r.packets_to_client),
            (2000, 2, 4)
        );
        assert_eq!(r.bucket_start, Timestamp::from_secs(60));
        assert_eq!(aggregator.bucket(), Timestamp::from_secs(120));
    }

    #[test]
    fn the_syn_decides_even_against_the_ports_and_the_decision_is_kept() {
        let mut aggregator = Aggregator::new("node".into(), Timestamp::from_secs(0));
        // A client bound to port 80 connecting to an ephemeral port: the SYN says who called.
        let odd_client = ("10.0.0.9", 80);
        let odd_server = ("10.0.0.8", 50000);
        let syn = FlowValue {
            flags: FLOW_SYN,
            ..counts(1, 0, 0, 1)
        };
        aggregator.add(&[entry(odd_client, odd_server, TCP, Source::Egress, syn)]);
        let first = close(&mut aggregator, 60);
        assert_eq!(
            (first[0].client_ip, first[0].server_port),
            (ip("10.0.0.9"), 50000)
        );
        aggregator.add(&[entry(
            odd_server,
            odd_client,
            TCP,
            Source::SocketSend,
            counts(0, 10, 1, 9),
        )]);
        let later = close(&mut aggregator, 120);
        assert_eq!(
            (
                later[0].client_ip,
                later[0].server_port,
                later[0].bytes_to_client
            ),
            (ip("10.0.0.9"), 50000, 10)
        );
    }

    #[test]
    fn without_a_syn_ports_then_the_first_sender_decide() {
        let mut aggregator = Aggregator::new("node".into(), Timestamp::from_secs(0));
        aggregator.add(&[
            // DNS answer seen before the question: port 53 is the server anyway.
            entry(
                ("10.0.0.53", 53),
                ("10.0.0.1", 45000),
                17,
                Source::Ingress,
                counts(1, 90, 0, 1),
            ),
            entry(
                ("10.0.0.1", 45000),
                ("10.0.0.53", 53),
                17,
                Source::Egress,
                counts(1, 30, 0, 2),
            ),
            // Two ephemeral ports: whoever spoke first is the client.
            entry(
                ("10.0.0.3", 40001),
                ("10.0.0.4", 40002),
                17,
                Source::Egress,
                counts(2, 20, 0, 7),
            ),
            entry(
                ("10.0.0.4", 40002),
                ("10.0.0.3", 40001),
                17,
                Source::Egress,
                counts(1, 5, 0, 3),
            ),
        ]);
        let records = close(&mut aggregator, 60);
        let dns = records.iter().find(|r| r.server_port == 53).unwrap();
        assert_eq!(
            (
                dns.client_ip,
                dns.bytes_to_server,
                dns.bytes_to_client,
                dns.messages_to_server
            ),
            (ip("10.0.0.1"), 30, 90, 1)
        );
        let peer = records.iter().find(|r| r.server_port != 53).unwrap();
        assert_eq!(
            (peer.client_ip, peer.server_port, peer.bytes_to_server),
            (ip("10.0.0.4"), 40001, 5)
        );
    }

    #[test]
    fn connections_from_several_client_ports_make_one_record_and_v4_mapped_folds() {
        let mut aggregator = Aggregator::new("node".into(), Timestamp::from_secs(0));
        let syn = |bytes| FlowValue {
            flags: FLOW_SYN,
            ..counts(1, bytes, 0, 1)
        };
        aggregator.add(&[
            entry(("10.0.0.1", 40000), SERVER, TCP, Source::Egress, syn(0)),
            entry(
                ("10.0.0.1", 40000),
                SERVER,
                TCP,
                Source::SocketSend,
                counts(0, 100, 1, 1),
            ),
            entry(
                ("::ffff:10.0.0.1", 40001),
                ("::ffff:10.0.0.2", 8080),
                TCP,
                Source::SocketSend,
                counts(0, 50, 2, 2),
            ),
            entry(("10.0.0.1", 40001), SERVER, TCP, Source::Egress, syn(0)),
        ]);
        let records = close(&mut aggregator, 60);
        assert_eq!(records.len(), 1, "{records:#?}");
        assert_eq!(
            (records[0].bytes_to_server, records[0].messages_to_server),
            (150, 3)
        );
    }

    #[test]
    fn a_service_connection_seen_from_both_sockets_is_one_record_that_keeps_the_service() {
        use crate::nat::{Translation, Tuple};
        let end = |ip_text: &str, port| (ip(ip_text), port);
        let (client, service, backend) = (
            end("10.0.1.5", 40000),
            end("10.96.0.10", 80),
            end("10.0.2.7", 7777),
        );
        let mut nat = NatTable::new(10);
        let translation = Translation {
            original: Tuple {
                src: client,
                dst: service,
                protocol: TCP,
            },
            reply: Tuple {
                src: backend,
                dst: client,
                protocol: TCP,
            },
        };
        let syn = FlowValue {
            flags: FLOW_SYN,
            ..counts(1, 0, 0, 1)
        };
        let c = ("10.0.1.5", 40000);
        let (s, b) = (("10.96.0.10", 80), ("10.0.2.7", 7777));
        let mut aggregator = Aggregator::new("node".into(), Timestamp::from_secs(0));
        aggregator.add(&[
            // The client's socket and packets name the Service…
            entry(c, s, TCP, Source::Egress, syn),
            entry(c, s, TCP, Source::SocketSend, counts(0, 250, 2, 2)),
            entry(s, c, TCP, Source::Ingress, counts(3, 90, 0, 4)),
            entry(s, c, TCP, Source::SocketRecv, counts(0, 90, 1, 5)),
            // …the backend's name the pod.
            entry(c, b, TCP, Source::Ingress, counts(4, 250, 0, 3)),
            entry(c, b, TCP, Source::SocketRecv, counts(0, 250, 1, 3)),
            entry(b, c, TCP, Source::SocketSend, counts(0, 90, 1, 4)),
        ]);
        // The translation may arrive after the counts: it is applied when the minute closes.
        nat.insert(translation, 0);
        let records = aggregator.close(Timestamp::from_secs(60), &mut nat, 1);
        assert_eq!(records.len(), 1, "{records:#?}");
        let r = &records[0];
        assert_eq!(
            (r.client_ip, r.server_ip, r.server_port),
            (ip("10.0.1.5"), ip("10.0.2.7"), 7777)
        );
        assert_eq!(
            (r.service_ip, r.service_port),
            (Some(ip("10.96.0.10")), Some(80))
        );
        assert_eq!(
            (
                r.bytes_to_server,
                r.messages_to_server,
                r.bytes_to_client,
                r.messages_to_client
            ),
            (250, 2, 90, 1)
        );
        assert_eq!(r.observed, Some(ObservedEnds::Both));
    }

    #[test]
    fn each_agent_says_which_end_it_observed() {
        let syn = FlowValue {
            flags: FLOW_SYN,
            ..counts(1, 0, 0, 1)
        };
        // The client's node: its socket's calls and packets.
        let mut client_side = Aggregator::new("node-a".into(), Timestamp::from_secs(0));
        client_side.add(&[
            entry(CLIENT, SERVER, TCP, Source::Egress, syn),
            entry(CLIENT, SERVER, TCP, Source::SocketSend, counts(0, 10, 1, 2)),
            entry(SERVER, CLIENT, TCP, Source::Ingress, counts(1, 20, 0, 3)),
        ]);
        // The server's node: the same connection from the other socket.
        let mut server_side = Aggregator::new("node-b".into(), Timestamp::from_secs(0));
        server_side.add(&[
            entry(CLIENT, SERVER, TCP, Source::Ingress, syn),
            entry(CLIENT, SERVER, TCP, Source::SocketRecv, counts(0, 10, 1, 2)),
            entry(SERVER, CLIENT, TCP, Source::SocketSend, counts(0, 20, 1, 3)),
        ]);
        let a = close(&mut client_side, 60);
        let b = close(&mut server_side, 60);
        assert_eq!(a[0].observed, Some(ObservedEnds::Client));
        assert_eq!(b[0].observed, Some(ObservedEnds::Server));
        assert_eq!(
            (a[0].client_ip, b[0].client_ip),
            (ip(CLIENT.0), ip(CLIENT.0))
        );
        assert_eq!((a[0].bytes_to_server, b[0].bytes_to_server), (10, 10));
        assert!(
            a[0].counts() && !b[0].counts(),
            "a pod client's own agent counts it"
        );
    }
}
