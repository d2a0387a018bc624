//! Mapping of Rust values to Arrow columns, so each record's schema is written once.
//!
//! A leaf value (number, string, timestamp, address, enum) is one column; a struct declared with
//! [`columns_struct!`] is the concatenation of its fields' columns, named `prefix_field`, which is
//! how both ends of a flow (`client_namespace`, `server_namespace`, …) share one declaration.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder, UInt8Builder, UInt16Builder, UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;

use crate::time::Timestamp;

/// A value stored as one or more Arrow columns.
pub trait Columns {
    /// The Arrow builders that accumulate this value's columns.
    type Builders;
    /// Appends this value's column definitions, named from `name`.
    fn fields(name: &str, out: &mut Vec<Field>);
    /// Fresh builders with room for `capacity` rows.
    fn builders(capacity: usize) -> Self::Builders;
    /// Appends this value as one row.
    fn append(&self, builders: &mut Self::Builders);
    /// Finishes the builders into arrays, in the order of [`Columns::fields`].
    fn finish(builders: Self::Builders, out: &mut Vec<ArrayRef>);
}

/// A record kind: one Parquet dataset, one Arrow schema.
pub trait Record: Columns + Clone + Send + Sync + 'static {
    /// The column [`Record::time`] is read from: partitions and time ranges go by it.
    const TIME_COLUMN: &'static str;
    /// Bumped whenever a column changes; written into every file's metadata.
    const SCHEMA_VERSION: u32;

    /// The time the record is filed under (partitioning and time-range queries).
    fn time(&self) -> Timestamp;

    /// The Arrow schema of this record kind.
    fn schema() -> SchemaRef {
        let mut fields = Vec::new();
        Self::fields("", &mut fields);
        Arc::new(Schema::new(fields))
    }

    /// Converts rows into one Arrow batch.
    fn to_record_batch(rows: &[Self]) -> RecordBatch {
        let mut builders = Self::builders(rows.len());
        for row in rows {
            row.append(&mut builders);
        }
        let mut arrays = Vec::new();
        Self::finish(builders, &mut arrays);
        RecordBatch::try_new(Self::schema(), arrays)
            .expect("columns_struct! keeps fields and arrays in step")
    }
}

/// The column name of a field under a prefix (`client` + `namespace` → `client_namespace`).
pub fn column_name(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}_{field}")
    }
}

/// A value that is exactly one Arrow column.
pub trait Leaf {
    /// The builder for this column.
    type Builder: ArrayBuilder;
    /// The column's Arrow type.
    fn data_type() -> DataType;
    /// A builder with room for `capacity` rows.
    fn builder(capacity: usize) -> Self::Builder;
    /// Appends this value.
    fn append_to(&self, builder: &mut Self::Builder);
    /// Appends a null.
    fn append_null(builder: &mut Self::Builder);
}

/// Implements [`Columns`] for a [`Leaf`] type and its `Option` (the nullable column).
#[macro_export]
macro_rules! leaf_columns {
    ($($t:ty),* $(,)?) => {$(
        impl $crate::columns::Columns for $t {
            type Builders = <$t as $crate::columns::Leaf>::Builder;
            fn fields(name: &str, out: &mut Vec<::arrow_schema::Field>) {
                out.push(::arrow_schema::Field::new(name, <$t as $crate::columns::Leaf>::data_type(), false));
            }
            fn builders(capacity: usize) -> Self::Builders {
                <$t as $crate::columns::Leaf>::builder(capacity)
            }
            fn append(&self, builders: &mut Self::Builders) {
                $crate::columns::Leaf::append_to(self, builders)
            }
            fn finish(mut builders: Self::Builders, out: &mut Vec<::arrow_array::ArrayRef>) {
                out.push(::arrow_array::builder::ArrayBuilder::finish(&mut builders));
            }
        }
        impl $crate::columns::Columns for Option<$t> {
            type Builders = <$t as $crate::columns::Leaf>::Builder;
            fn fields(name: &str, out: &mut Vec<::arrow_schema::Field>) {
                out.push(::arrow_schema::Field::new(name, <$t as $crate::columns::Leaf>::data_type(), true));
            }
            fn builders(capacity: usize) -> Self::Builders {
                <$t as $crate::columns::Leaf>::builder(capacity)
            }
            fn append(&self, builders: &mut Self::Builders) {
                match self {
                    Some(value) => $crate::columns::Leaf::append_to(value, builders),
                    None => <$t as $crate::columns::Leaf>::append_null(builders),
                }
            }
            fn finish(mut builders: Self::Builders, out: &mut Vec<::arrow_array::ArrayRef>) {
                out.push(::arrow_array::builder::ArrayBuilder::finish(&mut builders));
            }
        }
    )*};
}

/// Implements [`Leaf`] for a primitive whose builder takes the value as it is.
macro_rules! primitive_leaf {
    ($($t:ty => $builder:ty, $data_type:expr;)*) => {$(
        impl Leaf for $t {
            type Builder = $builder;
            fn data_type() -> DataType { $data_type }
            fn builder(capacity: usize) -> $builder { <$builder>::with_capacity(capacity) }
            fn append_to(&self, builder: &mut $builder) { builder.append_value(*self) }
            fn append_null(builder: &mut $builder) { builder.append_null() }
        }
    )*};
}

primitive_leaf! {
    u8 => UInt8Builder, DataType::UInt8;
    u16 => UInt16Builder, DataType::UInt16;
    u32 => UInt32Builder, DataType::UInt32;
    u64 => UInt64Builder, DataType::UInt64;
    i64 => Int64Builder, DataType::Int64;
    f64 => Float64Builder, DataType::Float64;
    bool => BooleanBuilder, DataType::Boolean;
}

/// Average bytes reserved per string cell; builders grow past it when needed.
const STRING_CAPACITY_HINT: usize = 16;

impl Leaf for String {
    type Builder = StringBuilder;
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn builder(capacity: usize) -> StringBuilder {
        StringBuilder::with_capacity(capacity, capacity * STRING_CAPACITY_HINT)
    }
    fn append_to(&self, builder: &mut StringBuilder) {
        builder.append_value(self)
    }
    fn append_null(builder: &mut StringBuilder) {
        builder.append_null()
    }
}

/// Addresses are stored as their text form: what SQL users type in a `WHERE` clause.
impl Leaf for IpAddr {
    type Builder = StringBuilder;
    fn data_type() -> DataType {
        DataType::Utf8
    }
    fn builder(capacity: usize) -> StringBuilder {
        String::builder(capacity)
    }
    fn append_to(&self, builder: &mut StringBuilder) {
        match self {
            // Most addresses are IPv4, two to a packet: their digits are written by hand, which
            // takes a fifth of the time of `Display`'s formatting machinery.
            IpAddr::V4(v4) => {
                let mut text = [0u8; 15];
                let length = ipv4_text(v4, &mut text);
                let text = std::str::from_utf8(&text[..length]).expect("digits and dots");
                builder.append_value(text)
            }
            // Formatted straight into the column's buffer: no String per address.
            IpAddr::V6(_) => {
                write!(builder, "{self}").expect("a StringBuilder takes any text");
                builder.append_value("")
            }
        }
    }
    fn append_null(builder: &mut StringBuilder) {
        builder.append_null()
    }
}

/// Writes the dotted-quad form of `address` into `out`, returning its length.
fn ipv4_text(address: &Ipv4Addr, out: &mut [u8; 15]) -> usize {
    let mut length = 0;
    for (i, octet) in address.octets().into_iter().enumerate() {
        if i > 0 {
            out[length] = b'.';
            length += 1;
        }
        if octet >= 100 {
            out[length] = b'0' + octet / 100;
            length += 1;
        }
        if octet >= 10 {
            out[length] = b'0' + octet / 10 % 10;
            length += 1;
        }
        out[length] = b'0' + octet % 10;
        length += 1;
    }
    length
}

/// Bytes reserved per raw-bytes cell: a full Ethernet frame, so a batch of captured frames is
/// copied in without growing (and copying) its buffer again. The buffer lives only while its
/// batch is turned into a record batch, and the part never written is mostly never touched.
const BINARY_CAPACITY_HINT: usize = 1536;

/// Raw bytes (original frames, kept so a capture can be exported back to pcap).
impl Leaf for Bytes {
    type Builder = BinaryBuilder;
    fn data_type() -> DataType {
        DataType::Binary
    }
    fn builder(capacity: usize) -> BinaryBuilder {
        BinaryBuilder::with_capacity(capacity, capacity * BINARY_CAPACITY_HINT)
    }
    fn append_to(&self, builder: &mut BinaryBuilder) {
        builder.append_value(self)
    }
    fn append_null(builder: &mut BinaryBuilder) {
        builder.append_null()
    }
}

impl Leaf for Timestamp {
    type Builder = TimestampMicrosecondBuilder;
    fn data_type() -> DataType {
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
    }
    fn builder(capacity: usize) -> TimestampMicrosecondBuilder {
        TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC")
    }
    fn append_to(&self, builder: &mut TimestampMicrosecondBuilder) {
        builder.append_value(self.as_micros())
    }
    fn append_null(builder: &mut TimestampMicrosecondBuilder) {
        builder.append_null()
    }
}

leaf_columns!(
    u8, u16, u32, u64, i64, f64, bool, String, IpAddr, Bytes, Timestamp
);

/// Declares a struct whose fields map to Arrow columns, in declaration order.
///
/// Fields that are themselves `columns_struct!`s are flattened as `field_subfield` columns.
#[macro_export]
macro_rules! columns_struct {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident : $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        impl $crate::columns::Columns for $name {
            type Builders = ( $( <$ty as $crate::columns::Columns>::Builders, )* );

            fn fields(prefix: &str, out: &mut Vec<::arrow_schema::Field>) {
                $(
                    <$ty as $crate::columns::Columns>::fields(
                        &$crate::columns::column_name(prefix, stringify!($field)),
                        out,
                    );
                )*
            }

            fn builders(capacity: usize) -> Self::Builders {
                ( $( <$ty as $crate::columns::Columns>::builders(capacity), )* )
            }

            fn append(&self, builders: &mut Self::Builders) {
                let ( $( $field, )* ) = builders;
                $( $crate::columns::Columns::append(&self.$field, $field); )*
            }

            fn finish(builders: Self::Builders, out: &mut Vec<::arrow_array::ArrayRef>) {
                let ( $( $field, )* ) = builders;
                $( <$ty as $crate::columns::Columns>::finish($field, out); )*
            }
        }
    };
}

/// Declares a closed set of names, read and written as those names by serde and `FromStr`
/// (an API's kinds); [`string_enum!`] also stores them as a string column.
#[macro_export]
macro_rules! named_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$variant_meta:meta])* $variant:ident = $text:literal, )* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $( $(#[$variant_meta])* $variant, )* }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[ $( $name::$variant, )* ];

            /// The stored text of this value.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $text, )* }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $( $text => Ok($name::$variant), )*
                    other => Err(format!(
                        "unknown {} {other:?}; expected one of: {}",
                        stringify!($name),
                        [$($text),*].join(", ")
                    )),
                }
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(deserializer)?;
                text.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

/// Declares a closed set of names stored as a string column (transport, owner kind, …), and
/// read and written as those names by serde.
#[macro_export]
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $( $(#[$variant_meta:meta])* $variant:ident = $text:literal, )* }
    ) => {
        $crate::named_enum! {
            $(#[$meta])*
            pub enum $name { $( $(#[$variant_meta])* $variant = $text, )* }
        }

        impl $crate::columns::Leaf for $name {
            type Builder = ::arrow_array::builder::StringBuilder;
            fn data_type() -> ::arrow_schema::DataType { ::arrow_schema::DataType::Utf8 }
            fn builder(capacity: usize) -> Self::Builder {
                ::arrow_array::builder::StringBuilder::with_capacity(capacity, capacity * 8)
            }
            fn append_to(&self, builder: &mut Self::Builder) { builder.append_value(self.as_str()) }
            fn append_null(builder: &mut Self::Builder) { builder.append_null() }
        }

        $crate::leaf_columns!($name);
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_text_matches_display_for_every_octet_in_every_position() {
        for octet in 0..=255u8 {
            for position in 0..4 {
                let mut octets = [1, 20, 199, 250];
                octets[position] = octet;
                let address = Ipv4Addr::from(octets);
                let mut text = [0u8; 15];
                let length = ipv4_text(&address, &mut text);
                assert_eq!(&text[..length], address.to_string().as_bytes());
            }
        }
    }
}
