//! CIDR blocks over addresses stored as text: the `ip_in_cidr(address, block)` function.

use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use ipnet::IpNet;

use datafusion::arrow::array::{Array, BooleanArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarUDF, Volatility, create_udf, lit};

/// An address block: `10.0.0.0/8`, `fd00::/64` (ipnet's, with the filter language's message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr(IpNet);

impl FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        text.parse()
            .map(Self)
            .map_err(|_| format!("{text:?} is not a CIDR block such as 10.0.0.0/8"))
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Cidr {
    /// Whether the block holds `address` (IPv4-mapped IPv6 counts as IPv4).
    pub fn contains(&self, address: IpAddr) -> bool {
        self.0.contains(&address.to_canonical())
    }
}

/// `ip_in_cidr(address text, block text) → boolean`.
pub static IP_IN_CIDR: LazyLock<ScalarUDF> = LazyLock::new(|| {
    create_udf(
        "ip_in_cidr",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let block = match &args[1] {
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(text))) => {
                    text.parse::<Cidr>().map_err(DataFusionError::Plan)?
                }
                _ => {
                    return Err(DataFusionError::Plan(
                        "ip_in_cidr takes a constant block".into(),
                    ));
                }
            };
            let test = |text: Option<&str>| {
                text.and_then(|t| t.parse::<IpAddr>().ok())
                    .map(|ip| block.contains(ip))
            };
            Ok(match &args[0] {
                ColumnarValue::Scalar(ScalarValue::Utf8(text)) => {
                    ColumnarValue::Scalar(ScalarValue::Boolean(test(text.as_deref())))
                }
                ColumnarValue::Array(array) => {
                    let strings =
                        array
                            .as_any()
                            .downcast_ref::<StringArray>()
                            .ok_or_else(|| {
                                DataFusionError::Plan("ip_in_cidr takes text addresses".into())
                            })?;
                    let results: BooleanArray = (0..strings.len())
                        .map(|i| {
                            if strings.is_null(i) {
                                None
                            } else {
                                test(Some(strings.value(i)))
                            }
                        })
                        .collect();
                    ColumnarValue::Array(Arc::new(results))
                }
                other => {
                    return Err(DataFusionError::Plan(format!(
                        "ip_in_cidr: unexpected {other:?}"
                    )));
                }
            })
        }),
    )
});

/// The expression `ip_in_cidr(address, block)`.
pub fn ip_in_cidr(address: Expr, block: &Cidr) -> Expr {
    IP_IN_CIDR.call(vec![address, lit(block.to_string())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_hold_their_addresses() {
        let block: Cidr = "10.244.0.0/16".parse().unwrap();
        assert!(block.contains("10.244.3.7".parse().unwrap()));
        assert!(block.contains("::ffff:10.244.0.1".parse().unwrap()));
        assert!(!block.contains("10.245.0.1".parse().unwrap()));
        assert!(!block.contains("fd00::1".parse().unwrap()));
        let v6: Cidr = "fd00:231::/32".parse().unwrap();
        assert!(v6.contains("fd00:231:5::2".parse().unwrap()));
        assert!(
            "0.0.0.0/0"
                .parse::<Cidr>()
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
    }
}
