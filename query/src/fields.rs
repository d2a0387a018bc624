//! The fields each dataset can be filtered, grouped and sorted on, for the filter language.

use crate::filter::{Column, Fields, Kind};

/// For each metadata field of both ends: `src.FIELD` (the client's column), `dst.FIELD` (the
/// server's) and `FIELD` (either end); then the fields of the flow itself.
macro_rules! flow_fields {
    ($( $field:literal => $column:literal, $kind:ident; )* ; $( $own:literal => $own_column:expr, $own_kind:ident; )*) => {
        &[
            $(
                (concat!("src.", $field), Column::One(concat!("client_", $column)), Kind::$kind),
                (concat!("dst.", $field), Column::One(concat!("server_", $column)), Kind::$kind),
                ($field, Column::Either(concat!("client_", $column), concat!("server_", $column)), Kind::$kind),
            )*
            $( ($own, $own_column, Kind::$own_kind), )*
        ]
    };
}

/// Fields of `network_usage`: `src.*` is the client end, `dst.*` the server end.
pub const USAGE: Fields = flow_fields! {
    "namespace" => "namespace", Text;
    "workload" => "owner_name", Text;
    "kind" => "owner_kind", Text;
    "pod" => "pod", Text;
    "node" => "node", Text;
    "class" => "class", Text;
    "ip" => "ip", Address;
    "name" => "dns_name", Text;
    ;
    "port" => Column::One("server_port"), Number;
    "transport" => Column::One("transport"), Text;
    "reporter" => Column::One("reporter"), Text;
    "bytes" => Column::Sum("bytes_to_server", "bytes_to_client"), Number;
    "messages" => Column::Sum("messages_to_server", "messages_to_client"), Number;
    "packets" => Column::Sum("packets_to_server", "packets_to_client"), Number;
};

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
        assert_eq!(names.len(), 8 * 3 + 6);
    }
}
