//! A workload named by namespace, kind and name: what a capture request targets, as the query
//! service takes it, `spider capture` parses it and node agents resolve it to pods.

use serde::{Deserialize, Serialize};

use crate::endpoint::OwnerKind;

/// The longest namespace Kubernetes allows (a DNS label).
pub const MAX_NAMESPACE_BYTES: usize = 63;
/// The longest object name Kubernetes allows (a DNS subdomain).
pub const MAX_NAME_BYTES: usize = 253;

/// A workload by namespace, kind and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Its namespace.
    pub namespace: String,
    /// A workload kind ([`OwnerKind::is_workload`]).
    #[serde(deserialize_with = "OwnerKind::deserialize_workload")]
    pub kind: OwnerKind,
    /// Its name.
    pub name: String,
}

/// A name Kubernetes would not take, or a workload written in a shape that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing was given.
    #[error("{field} must not be empty")]
    Empty {
        /// What the name is of.
        field: String,
    },
    /// Longer than Kubernetes allows.
    #[error("{field} must be at most {longest} bytes")]
    TooLong {
        /// What the name is of.
        field: String,
        /// The limit.
        longest: usize,
    },
    /// A character a Kubernetes name cannot hold.
    #[error("{field} {shown:?} may hold only letters, digits, '-' and '.'")]
    Characters {
        /// What the name is of.
        field: String,
        /// Its first 64 characters.
        shown: String,
    },
    /// A kind that is not a workload's.
    #[error("kind {text:?} is not one of {kinds}")]
    Kind {
        /// The kind given.
        text: String,
        /// The workload kinds, comma-separated.
        kinds: String,
    },
    /// Not `namespace/kind/name`.
    #[error("{text:?} is not namespace/kind/name")]
    Shape {
        /// What was given.
        text: String,
    },
}

impl Workload {
    /// `namespace/kind/name`, as `spider capture --workload` takes it.
    pub fn parse(text: &str) -> Result<Self, NameError> {
        match text.split('/').collect::<Vec<_>>()[..] {
            [namespace, kind, name] => {
                let workload = Self {
                    namespace: namespace.to_owned(),
                    kind: OwnerKind::workload(kind)?,
                    name: name.to_owned(),
                };
                workload.check().map(|()| workload)
            }
            _ => Err(NameError::Shape {
                text: text.to_owned(),
            }),
        }
    }

    /// Whether it names a workload: a known kind, a namespace and a name.
    pub fn check(&self) -> Result<(), NameError> {
        OwnerKind::workload(self.kind.as_str())?;
        // Kubernetes' own limits: a namespace is a DNS label, a name a DNS subdomain.
        check_name("namespace", &self.namespace, MAX_NAMESPACE_BYTES)?;
        check_name("name", &self.name, MAX_NAME_BYTES)
    }
}

/// Whether `value` could name a Kubernetes object (a namespace, a pod, a node): 1 to `longest`
/// bytes of letters, digits, '-' and '.'.
pub fn check_name(field: &str, value: &str, longest: usize) -> Result<(), NameError> {
    let field = field.to_owned();
    if value.is_empty() {
        return Err(NameError::Empty { field });
    }
    if value.len() > longest {
        return Err(NameError::TooLong { field, longest });
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    {
        let shown: String = value.chars().take(64).collect();
        return Err(NameError::Characters { field, shown });
    }
    Ok(())
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.kind, self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::{NameError, Workload};

    #[test]
    fn workloads_parse_as_namespace_kind_name() {
        let workload = Workload::parse("shop/Deployment/web").unwrap();
        assert_eq!(workload.to_string(), "shop/Deployment/web");
        for bad in [
            "shop/web",
            "shop/Deploy/web",
            "shop/Service/web",
            "/Deployment/web",
            "a/Pod/b/c",
            "shop/Pod/we b",
            "sh\u{0}op/Pod/web",
        ] {
            assert!(Workload::parse(bad).is_err(), "{bad}");
        }
        let huge = format!("shop/Deployment/{}", "w".repeat(2_000_000));
        assert_eq!(
            Workload::parse(&huge).unwrap_err(),
            NameError::TooLong {
                field: "name".into(),
                longest: 253
            }
        );
        assert_eq!(
            Workload::parse("shop/Service/web").unwrap_err().to_string(),
            "kind \"Service\" is not one of Deployment, ReplicaSet, DaemonSet, StatefulSet, CronJob, Job, Pod"
        );
        let long_namespace = format!("{}/Pod/web", "n".repeat(64));
        assert!(Workload::parse(&long_namespace).is_err());
        assert!(Workload::parse(&format!("{}/Pod/web-0.a", "n".repeat(63))).is_ok());
    }
}
