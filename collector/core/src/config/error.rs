//! Config errors: each names the full path of the offending key, `receivers::pcap/eth0::snaplen`.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;
use serde_yaml_ng::Value;

/// One mistake in a config, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// `::`-separated path from the document root (or from a component block, before prefixing).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    /// An error at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }

    /// The same error, with its path placed under `prefix`.
    pub fn under(mut self, prefix: &str) -> Self {
        self.path = join_path(prefix, &self.path);
        self
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Joins two path parts with `::`, either may be empty.
pub fn join_path(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (_, true) => prefix.to_owned(),
        _ => format!("{prefix}::{rest}"),
    }
}

/// Deserializes a YAML value into a typed config. Every unknown key is reported, each with its
/// path (serde stops at the first: each is taken out and the value read again), then the first
/// other mistake, if any.
pub fn typed_value<T: DeserializeOwned>(mut value: Value) -> Result<T, Vec<ConfigError>> {
    let mut errors = Vec::new();
    loop {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(config) if errors.is_empty() => return Ok(config),
            Ok(_) => return Err(errors),
            Err(error) => {
                let segments: Vec<String> = error
                    .path()
                    .iter()
                    .filter_map(|segment| match segment {
                        Segment::Map { key } => Some(key.clone()),
                        Segment::Seq { index } => Some(index.to_string()),
                        Segment::Enum { variant } => Some(variant.clone()),
                        Segment::Unknown => None,
                    })
                    .collect();
                let message = error.into_inner().to_string();
                let unknown = message.starts_with("unknown field");
                errors.push(ConfigError::new(segments.join("::"), message));
                // A key that cannot be taken out (or a bound on the rounds, one per key at
                // most) ends the search: what was found is reported.
                if !unknown || errors.len() > MAX_UNKNOWN_KEYS || !remove(&mut value, &segments) {
                    return Err(errors);
                }
            }
        }
    }
}

/// Unknown keys reported from one value at most.
const MAX_UNKNOWN_KEYS: usize = 100;

/// Removes the key at `path` (mapping keys and sequence indexes); false when there is none.
fn remove(value: &mut Value, path: &[String]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut node = value;
    for segment in parents {
        node = match node {
            Value::Mapping(map) => match map.get_mut(segment.as_str()) {
                Some(child) => child,
                None => return false,
            },
            Value::Sequence(items) => {
                match segment.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                    Some(child) => child,
                    None => return false,
                }
            }
            _ => return false,
        };
    }
    match node {
        Value::Mapping(map) => map.remove(last.as_str()).is_some(),
        _ => false,
    }
}
