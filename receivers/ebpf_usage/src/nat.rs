//! Service translation: what the kernel's NAT (kube-proxy's iptables/IPVS/nftables DNAT, a
//! NodePort, masquerading) did to each connection, so that a conversation through a Service is
//! one conversation between the client and the backend that served it.
//!
//! A client's socket and its packets inside the pod's namespace name the Service address; the
//! backend's socket names the pod address (and, behind a masquerading NodePort, the node as its
//! peer). Conntrack holds both views of every translated connection: the *original* tuple
//! (client → Service) and the *reply* tuple (backend → whoever the backend saw). Every direction
//! counted under either view is rewritten to client ↔ backend, and remembers the Service.

use std::collections::HashMap;
use std::net::IpAddr;

/// One end of a connection.
pub type Endpoint = (IpAddr, u16);

/// A direction of a connection: data went from `src` to `dst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tuple {
    /// The sender.
    pub src: Endpoint,
    /// The receiver.
    pub dst: Endpoint,
    /// 6 (TCP) or 17 (UDP).
    pub protocol: u8,
}

impl Tuple {
    /// The same connection the other way.
    pub fn reversed(self) -> Self {
        Self {
            src: self.dst,
            dst: self.src,
            protocol: self.protocol,
        }
    }
}

/// A translated connection as conntrack holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    /// As the client sent it: client → Service address.
    pub original: Tuple,
    /// As the backend answers it: backend → the peer it sees (the client, or the address it
    /// was masqueraded to).
    pub reply: Tuple,
}

impl Translation {
    /// Whether the destination was translated (DNAT): source-only NAT (masquerading towards
    /// the outside) does not change who the server is, so it needs no rewriting.
    pub fn is_destination_nat(&self) -> bool {
        self.original.dst != self.reply.src
    }
}

/// What a counted direction really was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rewritten {
    /// Between the real client and the backend.
    pub direction: Tuple,
    /// The Service address and port the client connected to.
    pub service: Endpoint,
}

/// How long a translation outlives its connection, for counts drained after it closed (µs).
const DESTROYED_GRACE_MICROS: i64 = 120_000_000;
/// A translation neither used nor refreshed for this long is dropped (µs); the periodic resync
/// brings back the ones still alive.
const IDLE_MICROS: i64 = 15 * 60_000_000;

struct Entry {
    reply: Tuple,
    touched: i64,
    destroyed: Option<i64>,
}

/// The translations known, bounded by `capacity` connections.
pub struct NatTable {
    entries: HashMap<Tuple, Entry>,
    /// The client's and the backend's view of every entry (their reverses are looked up
    /// reversed) → the entry's original tuple.
    rewrites: HashMap<Tuple, Tuple>,
    capacity: usize,
    overflowed: u64,
}

impl NatTable {
    /// An empty table holding at most `capacity` connections.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            rewrites: HashMap::new(),
            capacity,
            overflowed: 0,
        }
    }

    /// Connections known.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no connection is known.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Translations refused because the table was full.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    /// Learns (or refreshes) a translated connection at `now` (µs). A refresh (a full read of
    /// the table) keeps what an event already said: that the connection ended.
    pub fn insert(&mut self, translation: Translation, now: i64) {
        if !translation.is_destination_nat() {
            return;
        }
        let original = translation.original;
        if let Some(entry) = self.entries.get_mut(&original) {
            if entry.reply == translation.reply {
                entry.touched = now;
                return;
            }
            // The client's 4-tuple was reused for a new connection to another backend.
            self.forget(original);
        }
        if self.entries.len() >= self.capacity {
            self.overflowed += 1;
            return;
        }
        self.entries.insert(
            original,
            Entry {
                reply: translation.reply,
                touched: now,
                destroyed: None,
            },
        );
        for view in views(original, translation.reply) {
            self.rewrites.insert(view, original);
        }
    }

    /// Notes that conntrack destroyed the connection: its translation stays a grace period.
    pub fn destroyed(&mut self, original: Tuple, now: i64) {
        if let Some(entry) = self.entries.get_mut(&original) {
            entry.destroyed = Some(now);
        }
    }

    /// What `direction` really was, if it was counted under a translated view.
    pub fn rewrite(&mut self, direction: Tuple, now: i64) -> Option<Rewritten> {
        let original = *self
            .rewrites
            .get(&direction)
            .or_else(|| self.rewrites.get(&direction.reversed()))?;
        let entry = self.entries.get_mut(&original)?;
        entry.touched = now;
        let forward = Tuple {
            src: original.src,
            dst: entry.reply.src,
            protocol: original.protocol,
        };
        // The client's views of data it sent, and the backend's view of data it received, are
        // client → backend; the other two are backend → client.
        let towards_backend = direction == original || direction == entry.reply.reversed();
        Some(Rewritten {
            direction: if towards_backend {
                forward
            } else {
                forward.reversed()
            },
            service: original.dst,
        })
    }

    /// Drops translations whose connection ended a grace period ago, or that sat idle.
    pub fn prune(&mut self, now: i64) {
        let stale: Vec<Tuple> = self
            .entries
            .iter()
            .filter(|(_, entry)| match entry.destroyed {
                Some(at) => now - at > DESTROYED_GRACE_MICROS,
                None => now - entry.touched > IDLE_MICROS,
            })
            .map(|(original, _)| *original)
            .collect();
        for original in stale {
            self.forget(original);
        }
    }

    /// Removes an entry and the views that are still its own (a later connection may have
    /// taken over a view, e.g. the backend's side of a reused client port).
    fn forget(&mut self, original: Tuple) {
        if let Some(entry) = self.entries.remove(&original) {
            for view in views(original, entry.reply) {
                if self.rewrites.get(&view) == Some(&original) {
                    self.rewrites.remove(&view);
                }
            }
        }
    }
}

/// The directions a translated connection is keyed under: the client's view (towards the
/// Service) and the backend's (towards whoever it sees); the other two are their reverses.
fn views(original: Tuple, reply: Tuple) -> [Tuple; 2] {
    [original, reply]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(text: &str) -> Endpoint {
        let (ip, port) = text.rsplit_once(':').unwrap();
        (ip.parse().unwrap(), port.parse().unwrap())
    }

    fn tuple(src: &str, dst: &str) -> Tuple {
        Tuple {
            src: end(src),
            dst: end(dst),
            protocol: 6,
        }
    }

    #[test]
    fn every_view_of_a_service_connection_becomes_client_to_backend() {
        let mut table = NatTable::new(10);
        table.insert(
            Translation {
                original: tuple("10.0.1.5:40000", "10.96.0.10:80"),
                reply: tuple("10.0.2.7:7777", "10.0.1.5:40000"),
            },
            0,
        );
        let forward = tuple("10.0.1.5:40000", "10.0.2.7:7777");
        let service = end("10.96.0.10:80");
        for (seen, real) in [
            (tuple("10.0.1.5:40000", "10.96.0.10:80"), forward),
            (tuple("10.96.0.10:80", "10.0.1.5:40000"), forward.reversed()),
            (tuple("10.0.2.7:7777", "10.0.1.5:40000"), forward.reversed()),
            (forward, forward),
        ] {
            assert_eq!(
                table.rewrite(seen, 1),
                Some(Rewritten {
                    direction: real,
                    service
                }),
                "{seen:?}"
            );
        }
        assert_eq!(
            table.rewrite(tuple("10.0.1.5:40001", "10.96.0.10:80"), 1),
            None
        );
    }

    #[test]
    fn a_masqueraded_node_port_connection_names_the_outside_client() {
        let mut table = NatTable::new(10);
        table.insert(
            Translation {
                original: tuple("10.99.0.2:51000", "10.250.0.1:30080"),
                reply: tuple("10.0.2.7:7777", "10.250.0.1:61000"),
            },
            0,
        );
        // The backend's socket sees the node as its client.
        let seen = tuple("10.250.0.1:61000", "10.0.2.7:7777");
        let rewritten = table.rewrite(seen, 1).unwrap();
        assert_eq!(
            rewritten.direction,
            tuple("10.99.0.2:51000", "10.0.2.7:7777")
        );
        assert_eq!(rewritten.service, end("10.250.0.1:30080"));
    }

    #[test]
    fn source_nat_alone_is_ignored_and_the_table_is_bounded_and_pruned() {
        let mut table = NatTable::new(1);
        table.insert(
            Translation {
                original: tuple("10.0.1.5:40000", "1.2.3.4:443"),
                reply: tuple("1.2.3.4:443", "192.168.0.9:40000"),
            },
            0,
        );
        assert_eq!(table.len(), 0);
        let dns = |port| Translation {
            original: Tuple {
                protocol: 17,
                ..tuple(&format!("10.0.1.5:{port}"), "10.96.0.10:53")
            },
            reply: Tuple {
                protocol: 17,
                ..tuple("10.0.2.9:53", &format!("10.0.1.5:{port}"))
            },
        };
        table.insert(dns(50000), 0);
        table.insert(dns(50001), 0);
        assert_eq!((table.len(), table.overflowed()), (1, 1));
        table.destroyed(dns(50000).original, 10);
        table.prune(10 + DESTROYED_GRACE_MICROS);
        assert_eq!(table.len(), 1, "kept for the grace period");
        table.prune(11 + DESTROYED_GRACE_MICROS);
        assert_eq!(table.len(), 0);
        assert_eq!(table.rewrite(dns(50000).original, 0), None);
    }

    #[test]
    fn a_reused_client_tuple_follows_the_new_backend() {
        let mut table = NatTable::new(10);
        let original = tuple("10.0.1.5:40000", "10.96.0.10:80");
        table.insert(
            Translation {
                original,
                reply: tuple("10.0.2.7:7777", "10.0.1.5:40000"),
            },
            0,
        );
        table.insert(
            Translation {
                original,
                reply: tuple("10.0.3.8:7777", "10.0.1.5:40000"),
            },
            5,
        );
        assert_eq!(
            table.rewrite(original, 6).unwrap().direction.dst,
            end("10.0.3.8:7777")
        );
        assert_eq!(
            table.rewrite(tuple("10.0.2.7:7777", "10.0.1.5:40000"), 6),
            None
        );
    }

    #[test]
    fn forgetting_an_old_connection_leaves_the_views_a_newer_one_took_over() {
        let mut table = NatTable::new(10);
        let dns = |service: &str| Translation {
            original: tuple("10.0.1.5:40000", service),
            reply: tuple("10.0.2.9:53", "10.0.1.5:40000"),
        };
        table.insert(dns("10.96.0.10:53"), 0);
        table.destroyed(dns("10.96.0.10:53").original, 1);
        // The same client port, through another Service to the same backend.
        table.insert(dns("10.96.0.11:53"), 2);
        // A full read taken before the destroy event must not revive the first one.
        table.insert(dns("10.96.0.10:53"), 3);
        table.prune(2 + DESTROYED_GRACE_MICROS);
        let backend_view = tuple("10.0.2.9:53", "10.0.1.5:40000");
        assert_eq!(
            table.rewrite(backend_view, 4).map(|r| r.service),
            Some(end("10.96.0.11:53"))
        );
        assert_eq!(table.len(), 1);
    }
}
