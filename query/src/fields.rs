//! The fields each dataset can be filtered, grouped and sorted on, for the filter language.

use crate::filter::{Column, Fields, Kind};

/// Fields of `network_usage`: `src.*` is the client end, `dst.*` the server end.
pub const USAGE: Fields = &[
    ("src.namespace", Column::One("client_namespace"), Kind::Text),
    ("dst.namespace", Column::One("server_namespace"), Kind::Text),
    (
        "namespace",
        Column::Either("client_namespace", "server_namespace"),
        Kind::Text,
    ),
    ("src.workload", Column::One("client_owner_name"), Kind::Text),
    ("dst.workload", Column::One("server_owner_name"), Kind::Text),
    (
        "workload",
        Column::Either("client_owner_name", "server_owner_name"),
        Kind::Text,
    ),
    ("src.kind", Column::One("client_owner_kind"), Kind::Text),
    ("dst.kind", Column::One("server_owner_kind"), Kind::Text),
    ("src.pod", Column::One("client_pod"), Kind::Text),
    ("dst.pod", Column::One("server_pod"), Kind::Text),
    (
        "pod",
        Column::Either("client_pod", "server_pod"),
        Kind::Text,
    ),
    ("src.node", Column::One("client_node"), Kind::Text),
    ("dst.node", Column::One("server_node"), Kind::Text),
    (
        "node",
        Column::Either("client_node", "server_node"),
        Kind::Text,
    ),
    ("src.class", Column::One("client_class"), Kind::Text),
    ("dst.class", Column::One("server_class"), Kind::Text),
    ("src.ip", Column::One("client_ip"), Kind::Address),
    ("dst.ip", Column::One("server_ip"), Kind::Address),
    (
        "ip",
        Column::Either("client_ip", "server_ip"),
        Kind::Address,
    ),
    ("src.name", Column::One("client_dns_name"), Kind::Text),
    ("dst.name", Column::One("server_dns_name"), Kind::Text),
    ("port", Column::One("server_port"), Kind::Number),
    ("transport", Column::One("transport"), Kind::Text),
    ("reporter", Column::One("reporter"), Kind::Text),
    (
        "bytes",
        Column::Sum("bytes_to_server", "bytes_to_client"),
        Kind::Number,
    ),
    (
        "messages",
        Column::Sum("messages_to_server", "messages_to_client"),
        Kind::Number,
    ),
    (
        "packets",
        Column::Sum("packets_to_server", "packets_to_client"),
        Kind::Number,
    ),
];
