//! Query-string parameters, read by hand so every mistake becomes a 400 in the API's shape.

use std::collections::HashMap;
use std::str::FromStr;

use spider_query::range::{Scope, TimeRange, parse_instant};
use spider_records::catalog::{CLUSTER_NAME_RULE, is_cluster_name};

use super::ApiError;

/// The query string of a request.
pub struct Params(pub HashMap<String, String>);

impl Params {
    /// A parameter as text.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// A parameter parsed, or its default; bad values are 400s naming the parameter.
    pub fn parsed<T: FromStr>(&self, name: &str, default: T) -> Result<T, ApiError> {
        match self.text(name) {
            None => Ok(default),
            Some(text) => text.parse().map_err(|_| {
                ApiError::bad_request(format!("parameter {name}={text:?} is not valid"))
            }),
        }
    }

    /// A count between 1 and `max`.
    pub fn count(&self, name: &str, default: usize, max: usize) -> Result<usize, ApiError> {
        let value = self.parsed(name, default)?;
        if value == 0 || value > max {
            return Err(ApiError::bad_request(format!(
                "parameter {name} must be between 1 and {max}"
            )));
        }
        Ok(value)
    }

    /// What names a request of `route` with these parameters, whatever their order: the key of
    /// its kept answer.
    pub fn request(&self, route: &str) -> String {
        let mut pairs: Vec<(&String, &String)> = self.0.iter().collect();
        pairs.sort();
        let query: Vec<String> = pairs
            .into_iter()
            .map(|(name, value)| format!("{name:?}={value:?}"))
            .collect();
        format!("{route:?} {}", query.join("&"))
    }

    /// `from` and `to` (RFC 3339 or Unix seconds); both are required.
    pub fn range(&self) -> Result<TimeRange, ApiError> {
        let instant = |name: &str| {
            let text = self
                .text(name)
                .ok_or_else(|| ApiError::bad_request(format!("parameter {name} is required")))?;
            parse_instant(text).map_err(|e| ApiError::bad_request(format!("parameter {name}: {e}")))
        };
        TimeRange::new(instant("from")?, instant("to")?)
            .map_err(|e| ApiError::bad_request(e.to_string()))
    }

    /// `cluster`, when given: the one cluster a request reads (every cluster without it).
    pub fn cluster(&self) -> Result<Option<&str>, ApiError> {
        match self.text("cluster") {
            Some(name) if !is_cluster_name(name) => Err(ApiError::bad_request(format!(
                "parameter cluster={name:?}: {CLUSTER_NAME_RULE}"
            ))),
            named => Ok(named),
        }
    }

    /// `from` and `to`, of `cluster` when it is given.
    pub fn scope(&self) -> Result<Scope<'_>, ApiError> {
        Ok(Scope {
            range: self.range()?,
            cluster: self.cluster()?,
        })
    }
}
