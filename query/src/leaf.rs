//! A map node's id as a typed value. The map's SQL encodes ids as `kind|…` paths
//! ([`crate::map::leaf_sql`]); this is the one place they are decoded: what a node is (label,
//! kind, the compound it sits in), the workload a Whisperer can attach to, and the filter clauses
//! that select it, which the map answer carries so that the browser never parses an id.

use std::net::IpAddr;

use serde::Serialize;
use spider_records::{OwnerKind, Workload};

use crate::map::View;

/// A map node, decoded from its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leaf<'a> {
    /// `w|namespace|kind|name`: a workload (logical view).
    Workload {
        /// Its namespace.
        namespace: &'a str,
        /// Its kind (`Deployment`, `Pod` for a bare pod, …).
        kind: &'a str,
        /// Its name.
        name: &'a str,
    },
    /// `p|node|namespace|pod`: a pod (physical view).
    Pod {
        /// The node it runs on.
        node: &'a str,
        /// Its namespace.
        namespace: &'a str,
        /// Its name.
        pod: &'a str,
    },
    /// `s|namespace|name`: a Service address.
    Service {
        /// Its namespace.
        namespace: &'a str,
        /// Its name.
        name: &'a str,
    },
    /// `n|node`: a node's own address.
    Node {
        /// The node.
        node: &'a str,
    },
    /// `e|name`: an external peer, by name or address.
    External {
        /// Its name, else its address.
        name: &'a str,
    },
    /// `u|address`: an address nothing knows.
    Unknown {
        /// The address.
        address: &'a str,
    },
    /// `h|namespace|name|address`: a host of the hosts view (names can hold any character, so
    /// the address is the last part).
    Host {
        /// Its namespace, if it is a pod's.
        namespace: &'a str,
        /// The name learnt for it, if any.
        name: &'a str,
        /// Its address.
        address: &'a str,
    },
    /// `ns|namespace`: a namespace compound.
    Namespace {
        /// The namespace.
        namespace: &'a str,
    },
    /// `pn|node|namespace`: a namespace's pods on one node (physical view).
    NodeNamespace {
        /// The node.
        node: &'a str,
        /// The namespace.
        namespace: &'a str,
    },
    /// `node|node`: a node compound (physical view).
    NodeCompound {
        /// The node.
        node: &'a str,
    },
    /// `g|name`: a group (`external`, `nodes`, `services`, `unknown`, `addresses`).
    Group {
        /// Its name.
        name: &'a str,
    },
    /// `d|domain`: the hosts under one domain.
    Domain {
        /// The domain.
        name: &'a str,
    },
    /// An id of no known shape.
    Other(&'a str),
}

/// The filter clauses that select a node: on either end of a record, as its client (`src.`), or
/// as its server (`dst.`). An edge's clause is its source's `src` and its target's `dst`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selection {
    /// Records with it at either end.
    pub any: String,
    /// Records it is the client of.
    pub src: String,
    /// Records it is the server of.
    pub dst: String,
}

/// The endpoint class each named group holds (`unknown` is every other; the hosts view's
/// unnamed addresses have none).
fn group_class(name: &str) -> Option<&'static str> {
    match name {
        "external" => Some("external"),
        "nodes" => Some("node"),
        "services" => Some("service"),
        _ => None,
    }
}

/// `text` as a quoted string of the filter language, which has no escapes: in double quotes,
/// else in single quotes; `None` when it holds both.
fn quoted(text: &str) -> Option<String> {
    if !text.contains('"') {
        Some(format!("\"{text}\""))
    } else if !text.contains('\'') {
        Some(format!("'{text}'"))
    } else {
        None
    }
}

impl<'a> Leaf<'a> {
    /// Decodes an id.
    pub fn parse(id: &'a str) -> Self {
        if let Some(path) = id.strip_prefix("h|") {
            let (namespace, rest) = path.split_once('|').unwrap_or(("", path));
            let (name, address) = rest.rsplit_once('|').unwrap_or(("", rest));
            return Self::Host {
                namespace,
                name,
                address,
            };
        }
        let parts: Vec<&str> = id.split('|').collect();
        match parts[..] {
            ["w", namespace, kind, name] => Self::Workload {
                namespace,
                kind,
                name,
            },
            ["p", node, namespace, pod] => Self::Pod {
                node,
                namespace,
                pod,
            },
            ["s", namespace, name] => Self::Service { namespace, name },
            ["n", node] => Self::Node { node },
            ["e", name] => Self::External { name },
            ["u", address] => Self::Unknown { address },
            ["ns", namespace] => Self::Namespace { namespace },
            ["pn", node, namespace] => Self::NodeNamespace { node, namespace },
            ["node", node] => Self::NodeCompound { node },
            ["g", name] => Self::Group { name },
            ["d", name] => Self::Domain { name },
            _ => Self::Other(id),
        }
    }

    /// What the node shows in `view`: its label, its kind, and the compound it sits in.
    pub fn describe(&self, view: View) -> (String, String, Option<String>) {
        let group = |name: &str| Some(format!("g|{name}"));
        match *self {
            Self::Workload {
                namespace,
                kind,
                name,
            } => (name.into(), kind.into(), Some(format!("ns|{namespace}"))),
            Self::Pod {
                node,
                namespace,
                pod,
            } => (
                pod.into(),
                "Pod".into(),
                Some(format!("pn|{node}|{namespace}")),
            ),
            Self::Service { namespace, name } => {
                let parent = match view {
                    View::Physical => group("services"),
                    _ => Some(format!("ns|{namespace}")),
                };
                (name.into(), "Service".into(), parent)
            }
            Self::Node { node } => match view {
                View::Physical => ("host".into(), "Host".into(), Some(format!("node|{node}"))),
                _ => (node.into(), "Node".into(), group("nodes")),
            },
            Self::External { name } => (name.into(), "External".into(), group("external")),
            Self::Unknown { address } => (address.into(), "Unknown".into(), group("unknown")),
            Self::Host {
                namespace,
                name,
                address,
            } => {
                let parent = match (namespace, name) {
                    ("", "") => "g|addresses".to_owned(),
                    ("", name) => format!("d|{}", domain(name)),
                    (namespace, _) => format!("ns|{namespace}"),
                };
                let label = if name.is_empty() { address } else { name };
                (label.into(), "Host".into(), Some(parent))
            }
            Self::Namespace { namespace } => (namespace.into(), "Namespace".into(), None),
            Self::NodeNamespace { node, namespace } => (
                namespace.into(),
                "Namespace".into(),
                Some(format!("node|{node}")),
            ),
            Self::NodeCompound { node } => (node.into(), "Node".into(), None),
            Self::Group { name } => (name.into(), "Group".into(), None),
            Self::Domain { name } => (name.into(), "Domain".into(), None),
            Self::Other(id) => (id.into(), "Unknown".into(), None),
        }
    }

    /// The workload it is, when a Whisperer can be attached to it.
    pub fn workload(&self) -> Option<Workload> {
        let Self::Workload {
            namespace,
            kind,
            name,
        } = *self
        else {
            return None;
        };
        let workload = Workload {
            namespace: namespace.to_owned(),
            kind: OwnerKind::workload(kind).ok()?,
            name: name.to_owned(),
        };
        workload.check().ok().map(|()| workload)
    }

    /// The clauses that select it: exactly the records the map's SQL puts under this id (a
    /// Service and a Deployment of one name in one namespace are two nodes, so the class is part
    /// of every clause); `None` for what no filter names (the hosts view's unnamed addresses, an
    /// id of no known shape).
    pub fn select(&self) -> Option<Selection> {
        let src = self.clause("src.")?;
        let dst = self.clause("dst.")?;
        Some(Selection {
            any: format!("({src}) or ({dst})"),
            src,
            dst,
        })
    }

    /// The clause of one end (`at` is `src.` or `dst.`); `None` when a name holds both quote
    /// characters (the filter language has no escapes).
    fn clause(&self, at: &str) -> Option<String> {
        // One condition a part: a part the SQL left empty (`coalesce(…, '')`) is left out, and a
        // name the SQL fell back to the address for (`coalesce(name, ip)`) is that address with
        // no name.
        let all = |conditions: &[(&str, &str)]| -> Option<String> {
            let mut parts = Vec::new();
            for (field, value) in conditions.iter().filter(|(_, value)| !value.is_empty()) {
                let named = ["workload", "pod", "node", "name"].contains(field);
                parts.push(match value.parse::<IpAddr>() {
                    Ok(address) if named => {
                        format!("{at}ip = {address} and not {at}{field} ~ \"\"")
                    }
                    _ => format!("{at}{field} = {}", quoted(value)?),
                });
            }
            Some(parts.join(" and "))
        };
        let of_class = |class: &str, rest: Option<String>| -> Option<String> {
            Some(match rest? {
                rest if rest.is_empty() => format!("{at}class = {class}"),
                rest => format!("{at}class = {class} and {rest}"),
            })
        };
        match *self {
            Self::Workload {
                namespace,
                kind: "Pod",
                name,
            } => of_class("pod", all(&[("namespace", namespace), ("pod", name)])),
            Self::Workload {
                namespace,
                kind,
                name,
            } => of_class(
                "pod",
                all(&[("namespace", namespace), ("kind", kind), ("workload", name)]),
            ),
            Self::Pod {
                node,
                namespace,
                pod,
            } => of_class(
                "pod",
                all(&[("node", node), ("namespace", namespace), ("pod", pod)]),
            ),
            Self::Service { namespace, name } => of_class(
                "service",
                all(&[("namespace", namespace), ("workload", name)]),
            ),
            Self::Node { node } => of_class("node", all(&[("node", node)])),
            Self::External { name } => of_class("external", all(&[("name", name)])),
            Self::Unknown { address } => Some(format!("{at}ip = {address} and {}", unknown(at))),
            Self::Host { address, .. } => Some(format!("{at}ip = {address}")),
            Self::Namespace { namespace } => all(&[("namespace", namespace)]),
            Self::NodeNamespace { node, namespace } => {
                of_class("pod", all(&[("node", node), ("namespace", namespace)]))
            }
            Self::NodeCompound { node } if !node.is_empty() => Some(format!(
                "{at}class in (pod, node) and {}",
                all(&[("node", node)])?
            )),
            Self::NodeCompound { .. } => None,
            Self::Domain { name } => Some(format!("{at}name ~ {}", quoted(name)?)),
            Self::Group { name: "unknown" } => Some(unknown(at)),
            Self::Group { name } => Some(format!("{at}class = {}", group_class(name)?)),
            Self::Other(_) => None,
        }
        .filter(|clause| !clause.is_empty())
    }
}

/// The ends the map calls unknown: every class but the four it names (a missing class too).
fn unknown(at: &str) -> String {
    format!("{at}class not in (pod, service, node, external)")
}

/// The domain a host name is grouped under: its last two labels (`api.shop.example.com` →
/// `example.com`). Public suffixes of two labels (`co.uk`) group a little too widely; the UI
/// still shows every host by its full name.
fn domain(name: &str) -> &str {
    let name = name.trim_end_matches('.');
    match name.rmatch_indices('.').nth(1) {
        Some((dot, _)) => &name[dot + 1..],
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(id: &str) -> Option<String> {
        Leaf::parse(id).select().map(|s| s.src)
    }

    #[test]
    fn every_kind_of_id_has_the_clauses_that_select_it() {
        let cases = [
            (
                "w|shop|Deployment|web",
                r#"src.class = pod and src.namespace = "shop" and src.kind = "Deployment" and src.workload = "web""#,
            ),
            (
                "w|shop|Pod|debug",
                r#"src.class = pod and src.namespace = "shop" and src.pod = "debug""#,
            ),
            (
                "p|node-1|shop|web-7d9f",
                r#"src.class = pod and src.node = "node-1" and src.namespace = "shop" and src.pod = "web-7d9f""#,
            ),
            (
                "s|kube-system|kube-dns",
                r#"src.class = service and src.namespace = "kube-system" and src.workload = "kube-dns""#,
            ),
            ("n|node-2", r#"src.class = node and src.node = "node-2""#),
            (
                "n|10.0.0.4",
                r#"src.class = node and src.ip = 10.0.0.4 and not src.node ~ """#,
            ),
            (
                "s|shop|10.96.0.7",
                r#"src.class = service and src.namespace = "shop" and src.ip = 10.96.0.7 and not src.workload ~ """#,
            ),
            (
                "e|api.example.com",
                r#"src.class = external and src.name = "api.example.com""#,
            ),
            (
                "e|203.0.113.9",
                r#"src.class = external and src.ip = 203.0.113.9 and not src.name ~ """#,
            ),
            (
                "e|2001:db8::1",
                r#"src.class = external and src.ip = 2001:db8::1 and not src.name ~ """#,
            ),
            (
                "u|10.0.0.9",
                "src.ip = 10.0.0.9 and src.class not in (pod, service, node, external)",
            ),
            ("h|shop|web.shop|10.0.0.7", "src.ip = 10.0.0.7"),
            ("h||we|ird|10.0.0.8", "src.ip = 10.0.0.8"),
            ("ns|shop", r#"src.namespace = "shop""#),
            (
                "node|node-1",
                r#"src.class in (pod, node) and src.node = "node-1""#,
            ),
            (
                "pn|node-1|shop",
                r#"src.class = pod and src.node = "node-1" and src.namespace = "shop""#,
            ),
            ("d|example.com", r#"src.name ~ "example.com""#),
            ("g|external", "src.class = external"),
            ("g|nodes", "src.class = node"),
            ("g|services", "src.class = service"),
            (
                "g|unknown",
                "src.class not in (pod, service, node, external)",
            ),
        ];
        for (id, clause) in cases {
            assert_eq!(src(id).as_deref(), Some(clause), "{id}");
        }
        let node = Leaf::parse("n|node-2").select().unwrap();
        assert_eq!(node.dst, r#"dst.class = node and dst.node = "node-2""#);
        assert_eq!(
            node.any,
            r#"(src.class = node and src.node = "node-2") or (dst.class = node and dst.node = "node-2")"#,
            "either end, each end whole"
        );
        assert_eq!(
            src("g|addresses"),
            None,
            "no filter names unnamed addresses"
        );
        assert_eq!(src("nonsense"), None);
        assert_eq!(
            src(r#"w|ns|Deployment|we"ird\"#).as_deref(),
            Some(
                r#"src.class = pod and src.namespace = "ns" and src.kind = "Deployment" and src.workload = 'we"ird\'"#
            ),
            "a name with a double quote goes in single quotes (the language has no escapes)"
        );
        assert_eq!(
            src(r#"w|ns|Deployment|it's "x""#),
            None,
            "both quotes: no clause"
        );
        // Each clause is one the filter language reads.
        for id in [
            r#"w|ns|Deployment|we"ird\"#,
            "s|shop|10.96.0.7",
            "e|203.0.113.9",
        ] {
            let clause = src(id).unwrap();
            assert!(crate::filter::parse(&clause).is_ok(), "{clause}");
        }
    }

    #[test]
    fn a_workload_leaf_names_its_workload_and_others_do_not() {
        let workload = Leaf::parse("w|shop|Deployment|web").workload().unwrap();
        assert_eq!(workload.to_string(), "shop/Deployment/web");
        assert_eq!(
            Leaf::parse("w|shop|Pod|web-0").workload().unwrap().kind,
            OwnerKind::Pod
        );
        for other in [
            "s|shop|web",
            "n|node-1",
            "w|shop|Service|web",
            "w||Deployment|web",
        ] {
            assert_eq!(Leaf::parse(other).workload(), None, "{other}");
        }
    }

    #[test]
    fn describe_places_each_node_in_its_compound() {
        let cases = [
            (
                View::Logical,
                "s|shop|api",
                ("api", "Service", Some("ns|shop")),
            ),
            (
                View::Physical,
                "s|shop|api",
                ("api", "Service", Some("g|services")),
            ),
            (
                View::Physical,
                "n|node-1",
                ("host", "Host", Some("node|node-1")),
            ),
            (
                View::Logical,
                "n|node-1",
                ("node-1", "Node", Some("g|nodes")),
            ),
            (
                View::Hosts,
                "h||api.shop.example.com|10.0.0.1",
                ("api.shop.example.com", "Host", Some("d|example.com")),
            ),
            (
                View::Hosts,
                "h|||10.0.0.1",
                ("10.0.0.1", "Host", Some("g|addresses")),
            ),
        ];
        for (view, id, (label, kind, parent)) in cases {
            let described = Leaf::parse(id).describe(view);
            assert_eq!(
                described,
                (label.to_owned(), kind.to_owned(), parent.map(str::to_owned)),
                "{id}"
            );
        }
    }
}
