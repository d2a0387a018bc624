//! Batches: what travels between components, and the signal (pipeline type) each belongs to.

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;

use crate::columns::Record;
use crate::time::Timestamp;
use crate::{HostName, HttpTransaction, NetworkUsage, Packet, TcpSession, string_enum};

string_enum! {
    /// The type of a pipeline, as the OTel Collector types pipelines by traces/metrics/logs.
    ///
    /// `usage` carries network-usage records (Gocipher); `capture` carries what a Whisperer
    /// produces from packets: packets, TCP sessions, HTTP exchanges and host names.
    pub enum Signal {
        /// Network usage buckets.
        Usage = "usage",
        /// Packets and everything decoded from them.
        Capture = "capture",
    }
}

string_enum! {
    /// The record kinds; each is one Parquet dataset.
    pub enum RecordKind {
        /// [`NetworkUsage`].
        NetworkUsage = "network_usage",
        /// [`Packet`].
        Packet = "packets",
        /// [`TcpSession`].
        TcpSession = "tcp_sessions",
        /// [`HttpTransaction`].
        Http = "http",
        /// [`HostName`].
        Host = "hosts",
    }
}

impl RecordKind {
    /// The signal (pipeline type) records of this kind travel on.
    pub fn signal(self) -> Signal {
        match self {
            RecordKind::NetworkUsage => Signal::Usage,
            _ => Signal::Capture,
        }
    }

    /// The Arrow schema of this kind.
    pub fn schema(self) -> SchemaRef {
        match self {
            RecordKind::NetworkUsage => NetworkUsage::schema(),
            RecordKind::Packet => Packet::schema(),
            RecordKind::TcpSession => TcpSession::schema(),
            RecordKind::Http => HttpTransaction::schema(),
            RecordKind::Host => HostName::schema(),
        }
    }

    /// The column its time ranges go by ([`Record::TIME_COLUMN`]).
    pub fn time_column(self) -> &'static str {
        match self {
            RecordKind::NetworkUsage => NetworkUsage::TIME_COLUMN,
            RecordKind::Packet => Packet::TIME_COLUMN,
            RecordKind::TcpSession => TcpSession::TIME_COLUMN,
            RecordKind::Http => HttpTransaction::TIME_COLUMN,
            RecordKind::Host => HostName::TIME_COLUMN,
        }
    }

    /// The schema version written into this kind's files.
    pub fn schema_version(self) -> u32 {
        match self {
            RecordKind::NetworkUsage => NetworkUsage::SCHEMA_VERSION,
            RecordKind::Packet => Packet::SCHEMA_VERSION,
            RecordKind::TcpSession => TcpSession::SCHEMA_VERSION,
            RecordKind::Http => HttpTransaction::SCHEMA_VERSION,
            RecordKind::Host => HostName::SCHEMA_VERSION,
        }
    }
}

/// Records of one kind, moved through a pipeline together.
#[derive(Debug, Clone, PartialEq)]
pub enum Batch {
    /// Network usage buckets.
    Usage(Vec<NetworkUsage>),
    /// Captured packets.
    Packets(Vec<Packet>),
    /// TCP sessions.
    TcpSessions(Vec<TcpSession>),
    /// HTTP exchanges.
    Http(Vec<HttpTransaction>),
    /// Host names.
    Hosts(Vec<HostName>),
}

/// Runs `$body` with `$rows` bound to the batch's vector, whatever its kind.
macro_rules! with_rows {
    ($batch:expr, $rows:ident => $body:expr) => {
        match $batch {
            Batch::Usage($rows) => $body,
            Batch::Packets($rows) => $body,
            Batch::TcpSessions($rows) => $body,
            Batch::Http($rows) => $body,
            Batch::Hosts($rows) => $body,
        }
    };
}

impl Batch {
    /// Number of records.
    pub fn len(&self) -> usize {
        with_rows!(self, rows => rows.len())
    }

    /// True when it holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The kind of its records.
    pub fn kind(&self) -> RecordKind {
        match self {
            Batch::Usage(_) => RecordKind::NetworkUsage,
            Batch::Packets(_) => RecordKind::Packet,
            Batch::TcpSessions(_) => RecordKind::TcpSession,
            Batch::Http(_) => RecordKind::Http,
            Batch::Hosts(_) => RecordKind::Host,
        }
    }

    /// The signal (pipeline type) it travels on.
    pub fn signal(&self) -> Signal {
        self.kind().signal()
    }

    /// The time each record is filed under (see [`Record::time`]), in order.
    pub fn record_times(&self) -> Vec<Timestamp> {
        with_rows!(self, rows => rows.iter().map(Record::time).collect())
    }

    /// An empty batch of a kind.
    pub fn empty(kind: RecordKind) -> Self {
        match kind {
            RecordKind::NetworkUsage => Batch::Usage(Vec::new()),
            RecordKind::Packet => Batch::Packets(Vec::new()),
            RecordKind::TcpSession => Batch::TcpSessions(Vec::new()),
            RecordKind::Http => Batch::Http(Vec::new()),
            RecordKind::Host => Batch::Hosts(Vec::new()),
        }
    }

    /// Moves `other`'s records to the end of this batch; gives `other` back if its kind differs.
    pub fn append(&mut self, other: Batch) -> Result<(), Batch> {
        match (self, other) {
            (Batch::Usage(a), Batch::Usage(b)) => a.extend(b),
            (Batch::Packets(a), Batch::Packets(b)) => a.extend(b),
            (Batch::TcpSessions(a), Batch::TcpSessions(b)) => a.extend(b),
            (Batch::Http(a), Batch::Http(b)) => a.extend(b),
            (Batch::Hosts(a), Batch::Hosts(b)) => a.extend(b),
            (_, other) => return Err(other),
        }
        Ok(())
    }

    /// Takes the first `count` records (all if fewer) into a new batch of the same kind.
    pub fn take_front(&mut self, count: usize) -> Batch {
        let count = count.min(self.len());
        match self {
            Batch::Usage(rows) => Batch::Usage(rows.drain(..count).collect()),
            Batch::Packets(rows) => Batch::Packets(rows.drain(..count).collect()),
            Batch::TcpSessions(rows) => Batch::TcpSessions(rows.drain(..count).collect()),
            Batch::Http(rows) => Batch::Http(rows.drain(..count).collect()),
            Batch::Hosts(rows) => Batch::Hosts(rows.drain(..count).collect()),
        }
    }

    /// Its records as one Arrow batch with the kind's schema.
    pub fn to_record_batch(&self) -> RecordBatch {
        with_rows!(self, rows => Record::to_record_batch(rows.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv6Addr};

    use arrow_array::cast::AsArray;
    use arrow_array::types::{TimestampMicrosecondType, UInt16Type, UInt64Type};
    use arrow_schema::DataType;

    use super::*;
    use crate::{EndpointClass, EndpointMeta, OwnerKind, Transport};

    fn usage(server_port: u16) -> NetworkUsage {
        NetworkUsage {
            bucket_start: Timestamp::from_secs(1_800_000_000),
            reporter: "node-a".into(),
            client_ip: "10.0.0.1".parse().unwrap(),
            server_ip: IpAddr::V6(Ipv6Addr::LOCALHOST),
            server_port,
            transport: Transport::Udp,
            bytes_to_server: 1500,
            messages_to_client: 3,
            client: EndpointMeta {
                namespace: Some("shop".into()),
                owner_kind: Some(OwnerKind::Deployment),
                owner_name: Some("cart".into()),
                class: EndpointClass::Pod,
                ..EndpointMeta::default()
            },
            ..NetworkUsage::default()
        }
    }

    #[test]
    fn endpoint_columns_are_flattened_with_their_prefix() {
        let schema = NetworkUsage::schema();
        let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(&names[..3], ["bucket_start", "reporter", "client_ip"]);
        assert!(names.contains(&"client_owner_kind"));
        assert!(names.contains(&"server_dns_name"));
        let class = schema.field_with_name("server_class").unwrap();
        assert!(
            !class.is_nullable(),
            "the class is always known, at worst 'unknown'"
        );
        assert!(schema.field_with_name("client_pod").unwrap().is_nullable());
        assert_eq!(
            schema.field_with_name("bucket_start").unwrap().data_type(),
            &DataType::Timestamp(arrow_schema::TimeUnit::Microsecond, Some("UTC".into()))
        );
    }

    #[test]
    fn record_batch_holds_the_values_in_their_columns() {
        let batch = Batch::Usage(vec![usage(53), usage(443)]);
        let arrow = batch.to_record_batch();
        assert_eq!(arrow.num_rows(), 2);
        assert_eq!(arrow.num_columns(), NetworkUsage::schema().fields().len());
        let ports = arrow["server_port"].as_primitive::<UInt16Type>();
        assert_eq!(ports.values().to_vec(), [53, 443]);
        let bytes = arrow["bytes_to_server"].as_primitive::<UInt64Type>();
        assert_eq!(bytes.value(1), 1500);
        assert_eq!(arrow["server_ip"].as_string::<i32>().value(0), "::1");
        assert_eq!(arrow["transport"].as_string::<i32>().value(0), "udp");
        assert_eq!(
            arrow["client_owner_kind"].as_string::<i32>().value(0),
            "Deployment"
        );
        assert!(arrow["server_namespace"].is_null(0));
        assert_eq!(arrow["server_class"].as_string::<i32>().value(0), "unknown");
        let bucket = arrow["bucket_start"].as_primitive::<TimestampMicrosecondType>();
        assert_eq!(bucket.value(0), 1_800_000_000_000_000);
    }

    #[test]
    fn batches_of_one_kind_merge_and_split() {
        let mut batch = Batch::Usage(vec![usage(1), usage(2)]);
        batch.append(Batch::Usage(vec![usage(3)])).unwrap();
        assert!(
            batch.append(Batch::Hosts(vec![])).is_err(),
            "kinds never mix"
        );
        let front = batch.take_front(2);
        assert_eq!(front, Batch::Usage(vec![usage(1), usage(2)]));
        assert_eq!(batch, Batch::Usage(vec![usage(3)]));
        assert_eq!(batch.take_front(10).len(), 1);
        assert_eq!(batch, Batch::empty(RecordKind::NetworkUsage));
    }

    #[test]
    fn every_kind_has_a_schema_and_a_signal() {
        for kind in RecordKind::ALL {
            assert!(!kind.schema().fields().is_empty());
            assert_eq!(kind.as_str().parse::<RecordKind>(), Ok(*kind));
        }
        assert_eq!(Batch::Hosts(vec![]).signal(), Signal::Capture);
        assert_eq!(Batch::Usage(vec![usage(1)]).signal(), Signal::Usage);
        assert!(
            "metrics"
                .parse::<Signal>()
                .unwrap_err()
                .contains("usage, capture")
        );
    }
}
