//! Host names learnt from traffic: which name an address answered to.

use std::net::IpAddr;

use crate::columns::Record;
use crate::time::Timestamp;
use crate::{columns_struct, string_enum};

string_enum! {
    /// Where a name for an address was seen.
    pub enum NameSource {
        /// A DNS answer.
        Dns = "dns",
        /// A TLS ClientHello server name.
        Sni = "sni",
        /// An HTTP Host header.
        Host = "host",
    }
}

columns_struct! {
    /// One address → name association and when it was seen.
    #[derive(Debug, Clone, PartialEq)]
    pub struct HostName {
        /// The address.
        pub ip: IpAddr,
        /// The name it answered to.
        pub name: String,
        /// Where the association was seen.
        pub source: NameSource,
        /// First sighting.
        pub first_seen: Timestamp,
        /// Last sighting.
        pub last_seen: Timestamp,
    }
}

impl Record for HostName {
    const TIME_COLUMN: &'static str = "first_seen";
    const SCHEMA_VERSION: u32 = 1;

    fn time(&self) -> Timestamp {
        self.first_seen
    }
}
