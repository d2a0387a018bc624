//! The seeded record generator behind the synthetic receiver and the benchmarks.

use std::net::{IpAddr, Ipv4Addr};

use spider_collector::records::{NetworkUsage, Timestamp, Transport};

/// A small seeded random source (splitmix64): fast, and the same for the same seed.
pub struct Random {
    state: u64,
}

impl Random {
    /// A source starting at `seed`.
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound`.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

/// Produces usage records between `pods` addresses on `ports` server ports.
pub struct Generator {
    random: Random,
    reporter: String,
    pods: u32,
    ports: u16,
}

/// The first server port; the others follow it.
const FIRST_PORT: u16 = 8080;

impl Generator {
    /// A generator of records `reporter` makes between `pods` addresses (at least 2) on `ports`
    /// server ports, from `seed`.
    pub fn new(seed: u64, reporter: &str, pods: u32, ports: u16) -> Self {
        Self {
            random: Random::new(seed),
            reporter: reporter.to_owned(),
            pods,
            ports,
        }
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.random.below(bound)
    }

    fn pod_address(index: u32) -> IpAddr {
        let host = index + 1;
        IpAddr::V4(Ipv4Addr::new(10, 244, (host >> 8) as u8, host as u8))
    }

    /// `count` records in the current minute's bucket; client and server always differ.
    pub fn records(&mut self, count: usize) -> Vec<NetworkUsage> {
        let bucket_start = Timestamp::now().minute_start();
        (0..count)
            .map(|_| {
                let client = self.below(u64::from(self.pods)) as u32;
                let offset = 1 + self.below(u64::from(self.pods - 1)) as u32;
                let server = (client + offset) % self.pods;
                let messages_to_server = 1 + self.below(20);
                let messages_to_client = 1 + self.below(20);
                NetworkUsage {
                    bucket_start,
                    reporter: self.reporter.clone(),
                    client_ip: Self::pod_address(client),
                    server_ip: Self::pod_address(server),
                    server_port: FIRST_PORT + self.below(u64::from(self.ports)) as u16,
                    transport: if self.below(10) == 0 {
                        Transport::Udp
                    } else {
                        Transport::Tcp
                    },
                    bytes_to_server: messages_to_server * (40 + self.below(1400)),
                    bytes_to_client: messages_to_client * (40 + self.below(1400)),
                    messages_to_server,
                    messages_to_client,
                    packets_to_server: messages_to_server,
                    packets_to_client: messages_to_client,
                    ..NetworkUsage::default()
                }
            })
            .collect()
    }
}
