//! Addresses nothing in the cluster has: `external` outside the cluster's ranges, `unknown`
//! inside them; named from the host records a capture pipeline carries (DNS answers, TLS SNI,
//! HTTP Host) and from the inventory.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;

use ipnet::IpNet;
use spider_collector::records::EndpointClass;

/// The private ranges taken as the cluster's when none are configured.
const PRIVATE_RANGES: [&str; 7] = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "fc00::/7",
    "169.254.0.0/16",
    "fe80::/10",
];

/// Classifies and names outside addresses.
pub struct Outside {
    ranges: Vec<IpNet>,
    names: HashMap<IpAddr, String>,
    /// Addresses in the order their names were first learnt, to forget the oldest.
    learnt: VecDeque<IpAddr>,
    max_names: usize,
}

impl Outside {
    /// With the cluster's `ranges` (none: the private ranges) and room for `max_names` names.
    pub fn new(ranges: &[IpNet], max_names: usize) -> Self {
        let ranges = if ranges.is_empty() {
            PRIVATE_RANGES
                .iter()
                .map(|range| range.parse().expect("a valid range"))
                .collect()
        } else {
            ranges.to_vec()
        };
        Self {
            ranges,
            names: HashMap::new(),
            learnt: VecDeque::new(),
            max_names,
        }
    }

    /// Remembers that `address` answered to `name` (the latest name wins).
    pub fn learn(&mut self, address: IpAddr, name: &str) {
        if self.names.insert(address, name.to_owned()).is_none() {
            self.learnt.push_back(address);
            if self.learnt.len() > self.max_names
                && let Some(oldest) = self.learnt.pop_front()
            {
                self.names.remove(&oldest);
            }
        }
    }

    /// Names remembered.
    pub fn names(&self) -> usize {
        self.names.len()
    }

    /// The class of an address nothing in the cluster has, and its name when one was seen.
    pub fn classify(&self, address: &IpAddr) -> (EndpointClass, Option<String>) {
        let address = address.to_canonical();
        let inside = address.is_loopback()
            || address.is_unspecified()
            || self.ranges.iter().any(|range| range.contains(&address));
        let class = if inside {
            EndpointClass::Unknown
        } else {
            EndpointClass::External
        };
        (class, self.names.get(&address).cloned())
    }
}
