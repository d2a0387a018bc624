//! The fields each dataset can be filtered, grouped and sorted on, for the filter language.

use datafusion::logical_expr::{Expr, col, lit, when};
use datafusion::scalar::ScalarValue;

use spider_records::RecordKind;

use crate::filter::{Column, Fields, Kind};

/// For each metadata field of both ends: `src.FIELD` (the column with the first prefix: the
/// client's, or a packet's source), `dst.FIELD` (the second) and `FIELD` (either end); then the
/// fields of the flow itself.
macro_rules! flow_fields {
    ($src:literal, $dst:literal; $( $own:literal => $own_column:expr, $own_kind:ident; )*) => {
        flow_fields!(@ends $src, $dst;
            "namespace" => "namespace", Text;
            "workload" => "owner_name", Text;
            "kind" => "owner_kind", Text;
            "pod" => "pod", Text;
            "node" => "node", Text;
            "class" => "class", Text;
            "ip" => "ip", Address;
            "name" => "dns_name", Text;
            ; $( $own => $own_column, $own_kind; )*)
    };
    (@ends $src:literal, $dst:literal; $( $field:literal => $column:literal, $kind:ident; )* ; $( $own:literal => $own_column:expr, $own_kind:ident; )*) => {
        &[
            $(
                (concat!("src.", $field), Column::One(concat!($src, $column)), Kind::$kind),
                (concat!("dst.", $field), Column::One(concat!($dst, $column)), Kind::$kind),
                ($field, Column::Either(concat!($src, $column), concat!($dst, $column)), Kind::$kind),
            )*
            ("scope", Column::Derived(namespace_scope!($src, $dst)), Kind::Text),
            $( ($own, $own_column, Kind::$own_kind), )*
        ]
    };
}

/// `scope`: `internal` when both ends are in the same namespace, `cross` when in different
/// ones, unknown when an end has no namespace — namespace-internal traffic, as a field.
macro_rules! namespace_scope {
    ($src:literal, $dst:literal) => {{
        fn scope() -> Expr {
            let (src, dst) = (
                col(concat!($src, "namespace")),
                col(concat!($dst, "namespace")),
            );
            when(
                src.clone().is_null().or(dst.clone().is_null()),
                lit(ScalarValue::Utf8(None)),
            )
            .when(src.eq(dst), lit("internal"))
            .otherwise(lit("cross"))
            .expect("a CASE with branches")
        }
        scope
    }};
}

/// Fields of `network_usage`: `src.*` is the client end, `dst.*` the server end.
pub const USAGE: Fields = flow_fields! {
    "client_", "server_";
    "port" => Column::One("server_port"), Number;
    "transport" => Column::One("transport"), Text;
    "reporter" => Column::One("reporter"), Text;
    "policy" => Column::One("policy"), Text;
    "policy_by" => Column::One("policy_by"), Text;
    "bytes" => Column::Sum("bytes_to_server", "bytes_to_client"), Number;
    "messages" => Column::Sum("messages_to_server", "messages_to_client"), Number;
    "packets" => Column::Sum("packets_to_server", "packets_to_client"), Number;
};

/// Fields of `tcp_sessions`: `src.*` is the client end, `dst.*` the server end.
pub const TCP_SESSIONS: Fields = flow_fields! {
    "client_", "server_";
    "port" => Column::One("server_port"), Number;
    "interface" => Column::One("interface"), Text;
    "whisperer" => Column::One("capturer"), Text;
    "state" => Column::One("state"), Text;
    "close_reason" => Column::One("close_reason"), Text;
    "host" => Column::One("server_host"), Text;
    "bytes" => Column::Sum("bytes_to_server", "bytes_to_client"), Number;
    "packets" => Column::Sum("packets_to_server", "packets_to_client"), Number;
    "duration_us" => Column::One("duration_us"), Number;
    "handshake_us" => Column::One("handshake_latency_us"), Number;
};

/// Fields of `http`: `src.*` is the client end, `dst.*` the server end.
pub const HTTP: Fields = flow_fields! {
    "client_", "server_";
    "port" => Column::One("server_port"), Number;
    "method" => Column::One("method"), Text;
    "host" => Column::One("host"), Text;
    "path" => Column::One("path"), Text;
    "status" => Column::One("status"), Number;
    "status_class" => Column::Derived(status_class), Text;
    "latency_us" => Column::One("latency_us"), Number;
    "request_bytes" => Column::One("request_body_size"), Number;
    "response_bytes" => Column::One("response_body_size"), Number;
    "content_type" => Column::One("response_content_type"), Text;
    "anomalies" => Column::One("anomalies"), Text;
    "session" => Column::One("session_id"), Number;
    "whisperer" => Column::One("capturer"), Text;
};

/// `1xx` … `5xx` from an HTTP status code; unknown for a request without a response (and for
/// codes outside 100–599, which a server may send but no class names).
fn status_class() -> Expr {
    let hundreds = col("status") / lit(100);
    let mut classes = when(hundreds.clone().eq(lit(1)), lit("1xx"));
    for class in 2..=5 {
        classes = classes.when(hundreds.clone().eq(lit(class)), lit(format!("{class}xx")));
    }
    classes
        .otherwise(lit(ScalarValue::Utf8(None)))
        .expect("a CASE with branches")
}

/// Fields of `packets`: `src.*` is the sender, `dst.*` the receiver.
pub const PACKETS: Fields = flow_fields! {
    "src_", "dst_";
    "port" => Column::Either("src_port", "dst_port"), Number;
    "protocol" => Column::One("protocol"), Number;
    "length" => Column::One("wire_length"), Number;
    "interface" => Column::One("interface"), Text;
    "whisperer" => Column::One("capturer"), Text;
    "direction" => Column::One("direction"), Text;
    "session" => Column::One("session_id"), Number;
};

/// Fields of `hosts`.
pub const HOSTS: Fields = &[
    ("ip", Column::One("ip"), Kind::Address),
    ("name", Column::One("name"), Kind::Text),
    ("source", Column::One("source"), Kind::Text),
];

/// A dataset as grids and stats see it: its catalog entry and its filter fields.
#[derive(Debug, Clone, Copy)]
pub struct Dataset {
    /// Its record kind.
    pub kind: RecordKind,
    /// Its table name.
    pub name: &'static str,
    /// The time column ranges apply to.
    pub time_column: &'static str,
    /// Its filter fields.
    pub fields: Fields,
}

impl Dataset {
    /// The dataset of `kind`.
    pub fn of(kind: RecordKind) -> Self {
        let fields = match kind {
            RecordKind::NetworkUsage => USAGE,
            RecordKind::Packet => PACKETS,
            RecordKind::TcpSession => TCP_SESSIONS,
            RecordKind::Http => HTTP,
            RecordKind::Host => HOSTS,
        };
        Self {
            kind,
            name: kind.as_str(),
            time_column: kind.time_column(),
            fields,
        }
    }
}

/// Every dataset the API queries, in the catalog's order.
pub fn datasets() -> impl Iterator<Item = Dataset> {
    RecordKind::ALL.iter().map(|kind| Dataset::of(*kind))
}

/// The dataset called `name`.
pub fn dataset(name: &str) -> Option<Dataset> {
    name.parse().ok().map(Dataset::of)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_end_field_has_its_three_forms() {
        let names: Vec<&str> = USAGE.iter().map(|(name, _, _)| *name).collect();
        for field in [
            "namespace",
            "workload",
            "kind",
            "pod",
            "node",
            "class",
            "ip",
            "name",
        ] {
            for form in [
                format!("src.{field}"),
                format!("dst.{field}"),
                field.to_owned(),
            ] {
                assert!(names.contains(&form.as_str()), "{form} missing");
            }
        }
        assert!(matches!(
            USAGE.iter().find(|f| f.0 == "dst.workload"),
            Some((_, Column::One("server_owner_name"), Kind::Text))
        ));
        assert!(matches!(
            USAGE.iter().find(|f| f.0 == "ip"),
            Some((_, Column::Either("client_ip", "server_ip"), Kind::Address))
        ));
        assert_eq!(names.len(), 8 * 3 + 1 + 8);
        let packets: Vec<&str> = PACKETS.iter().map(|(name, _, _)| *name).collect();
        assert!(packets.contains(&"src.namespace") && packets.contains(&"dst.ip"));
        assert!(matches!(
            PACKETS.iter().find(|f| f.0 == "dst.ip"),
            Some((_, Column::One("dst_ip"), Kind::Address))
        ));
    }
}
