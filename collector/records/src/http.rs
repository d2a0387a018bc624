//! HTTP/1.x request/response pairs decoded from reassembled TCP streams.

use std::net::IpAddr;

use crate::columns::Record;
use crate::columns_struct;
use crate::endpoint::EndpointMeta;
use crate::time::Timestamp;

columns_struct! {
    /// One HTTP exchange; a request without response (or the reverse) is a record too.
    #[derive(Debug, Clone, PartialEq)]
    pub struct HttpTransaction {
        /// The TCP session that carried it.
        pub session_id: u64,
        /// The node or host whose Whisperer captured it (the collector's `service.node`, or the
        /// whisperer's `node_name`); unknown in files of schema version 1.
        pub capturer: Option<String>,
        /// The connecting end.
        pub client_ip: IpAddr,
        /// Client port.
        pub client_port: u16,
        /// The server end.
        pub server_ip: IpAddr,
        /// Server port.
        pub server_port: u16,
        /// Request method.
        pub method: Option<String>,
        /// Host header.
        pub host: Option<String>,
        /// Path without the query string.
        pub path: Option<String>,
        /// Query string, without `?`.
        pub query: Option<String>,
        /// `HTTP/1.0` or `HTTP/1.1`.
        pub version: Option<String>,
        /// Response status code.
        pub status: Option<u16>,
        /// User-Agent header of the request.
        pub user_agent: Option<String>,
        /// Content-Type of the request.
        pub request_content_type: Option<String>,
        /// Content-Type of the response.
        pub response_content_type: Option<String>,
        /// Request body bytes.
        pub request_body_size: Option<u64>,
        /// Response body bytes.
        pub response_body_size: Option<u64>,
        /// Time of the request's first byte.
        pub request_time: Option<Timestamp>,
        /// Time of the response's first byte.
        pub response_time: Option<Timestamp>,
        /// Request to response, microseconds.
        pub latency_us: Option<i64>,
        /// Parser anomalies seen on this exchange, comma separated.
        pub anomalies: Option<String>,
        /// Metadata of the client end.
        pub client: EndpointMeta,
        /// Metadata of the server end.
        pub server: EndpointMeta,
    }
}

impl Record for HttpTransaction {
    const TIME_COLUMN: &'static str = "request_time";
    // 2: `capturer`.
    const SCHEMA_VERSION: u32 = 2;

    // A response without its request is filed by its response time, but time ranges go by
    // the request's, so such a record is found by SQL and not by a ranged grid.
    fn time(&self) -> Timestamp {
        self.request_time.or(self.response_time).unwrap_or_default()
    }
}
