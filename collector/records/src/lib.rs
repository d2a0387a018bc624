//! The records that flow through Spider pipelines and the Arrow schemas they are stored with.
//!
//! Every record kind (ARCHITECTURE.md, "Records") is declared once with [`columns_struct!`]: the same declaration
//! gives the Rust struct, its Arrow schema and its conversion to an Arrow `RecordBatch`, so the
//! Parquet files, the query service and the pipelines can never disagree on a column.

pub mod batch;
pub mod catalog;
pub mod columns;
pub mod endpoint;
pub mod host;
pub mod http;
pub mod packet;
pub mod session;
pub mod time;
pub mod usage;
pub mod workload;

pub use batch::{Batch, RecordKind, Signal};
pub use columns::{Columns, Record};
pub use endpoint::{EndpointClass, EndpointMeta, OwnerKind};
pub use host::{HostName, NameSource};
pub use http::HttpTransaction;
pub use packet::{Direction, Packet};
pub use session::{CloseReason, SessionState, TcpSession};
pub use time::Timestamp;
pub use usage::{NetworkUsage, ObservedEnds, PolicyVerdict, Transport};
pub use workload::Workload;
