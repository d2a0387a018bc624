//! The address → name table: what each address was seen answering to, when, and by which
//! source; changed entries are emitted as `hosts` records.

use std::collections::HashMap;
use std::net::IpAddr;

use spider_collector::records::{HostName, NameSource, Timestamp};

#[derive(Debug)]
struct Sighting {
    first: Timestamp,
    last: Timestamp,
    changed: bool,
    /// Whether a record of it went out already.
    announced: bool,
}

/// The host names known, bounded in entries.
#[derive(Debug)]
pub struct HostTable {
    sightings: HashMap<(IpAddr, String, NameSource), Sighting>,
    /// The latest name seen per address, which sessions are labelled with.
    latest: HashMap<IpAddr, (String, Timestamp)>,
    capacity: usize,
    evicted: u64,
}

impl HostTable {
    /// A table of at most `capacity` associations.
    pub fn new(capacity: usize) -> Self {
        Self {
            sightings: HashMap::new(),
            latest: HashMap::new(),
            capacity,
            evicted: 0,
        }
    }

    /// Associations held.
    pub fn len(&self) -> usize {
        self.sightings.len()
    }

    /// Associations dropped to stay within the capacity.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Records a sighting of `name` for `ip`.
    pub fn saw(&mut self, ip: IpAddr, name: &str, source: NameSource, time: Timestamp) {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() || name.len() > 253 {
            return;
        }
        if self.sightings.len() >= self.capacity {
            self.evict_oldest();
        }
        self.latest.insert(ip, (name.clone(), time));
        let sighting = self
            .sightings
            .entry((ip, name, source))
            .or_insert(Sighting {
                first: time,
                last: time,
                changed: true,
                announced: false,
            });
        sighting.first = sighting.first.min(time);
        sighting.last = sighting.last.max(time);
        sighting.changed = true;
    }

    /// The name to show for an address.
    pub fn name_of(&self, ip: &IpAddr) -> Option<&str> {
        self.latest.get(ip).map(|(name, _)| name.as_str())
    }

    /// Records of the associations new or seen again since the last call.
    pub fn take_changed(&mut self) -> Vec<HostName> {
        self.take(|_| true)
    }

    /// Records of the associations never announced: a name goes out as soon as it is learnt,
    /// so enrichment knows it before the sessions that follow; sightings again of a known
    /// association wait for [`Self::take_changed`].
    pub fn take_new(&mut self) -> Vec<HostName> {
        self.take(|sighting| !sighting.announced)
    }

    fn take(&mut self, wanted: impl Fn(&Sighting) -> bool) -> Vec<HostName> {
        let mut changed = Vec::new();
        for ((ip, name, source), sighting) in &mut self.sightings {
            if sighting.changed && wanted(sighting) {
                sighting.changed = false;
                sighting.announced = true;
                changed.push(HostName {
                    ip: *ip,
                    name: name.clone(),
                    source: *source,
                    first_seen: sighting.first,
                    last_seen: sighting.last,
                });
            }
        }
        changed.sort_by(|a, b| (a.first_seen, a.ip, &a.name).cmp(&(b.first_seen, b.ip, &b.name)));
        changed
    }

    /// Drops the eighth of the table seen least recently (changed entries are lost with it,
    /// which the evicted count tells).
    fn evict_oldest(&mut self) {
        let mut ages: Vec<Timestamp> = self.sightings.values().map(|s| s.last).collect();
        let cut = ages.len() / 8;
        let (_, threshold, _) = ages.select_nth_unstable(cut);
        let threshold = *threshold;
        let before = self.sightings.len();
        self.sightings.retain(|_, s| s.last > threshold);
        self.latest.retain(|_, (_, seen)| *seen > threshold);
        self.evicted += (before - self.sightings.len()) as u64;
    }
}
