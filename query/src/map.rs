//! The map: who talks to whom, as a compound graph for Cytoscape.js/fCoSE.
//!
//! Over network usage, two views: logical (namespaces containing workloads — Deployment,
//! DaemonSet, StatefulSet, CronJob, Job, bare Pod — and services) and physical (nodes containing
//! namespaces containing pods), both with groups for node (host) addresses, external and unknown
//! endpoints. Over captured TCP sessions, the hosts view: every address under its namespace, or
//! under the domain of its host name, or in the group of unnamed addresses. Edges go client →
//! server with bytes, messages, ports and transports; the top `limit` edges by bytes are returned
//! from `offset` on, the rest is summarised (so a UI can draw fast, then page in the rest).

use std::collections::{BTreeSet, HashMap};

use datafusion::dataframe::DataFrame;
use datafusion::functions_aggregate::expr_fn::{count, sum};
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::frame::{aggregate, counts, failed, filtered, strings, usage};
use crate::leaf::{Leaf, Selection};
use crate::range::Scope;
use crate::sql::QueryError;

/// Which structure the map shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum View {
    /// Network usage: namespaces → workloads.
    Logical,
    /// Network usage: nodes → namespaces → pods.
    Physical,
    /// Captured TCP sessions: namespaces or domains → hosts.
    Hosts,
}

/// A compound or leaf node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapNode {
    /// Stable id (also encodes the kind and place).
    pub id: String,
    /// What to write on it.
    pub label: String,
    /// Namespace, Node, Group, Deployment, Pod, Service, External, Unknown, …
    pub kind: String,
    /// The compound it sits in.
    pub parent: Option<String>,
    /// Bytes it sent and received (leaves; compounds sum their leaves).
    pub bytes: u64,
    /// Messages it sent and received.
    pub messages: u64,
    /// The filter clauses that select it (none for what no filter names).
    pub select: Option<Selection>,
}

/// A client → server edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapEdge {
    /// Client leaf.
    pub source: String,
    /// Server leaf.
    pub target: String,
    /// Bytes both ways.
    pub bytes: u64,
    /// Bytes client → server.
    pub bytes_to_server: u64,
    /// Bytes server → client.
    pub bytes_to_client: u64,
    /// Messages both ways.
    pub messages: u64,
    /// Server ports.
    pub ports: Vec<u16>,
    /// Transports.
    pub transports: Vec<String>,
    /// TCP sessions (hosts view; usage records do not count connections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<u64>,
    /// The filter clause that selects it: its source as client, its target as server.
    pub select: Option<String>,
}

/// What was left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rest {
    /// Edges not returned.
    pub edges: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Their messages.
    pub messages: u64,
}

/// The answer to a map query.
#[derive(Debug, Clone, Serialize)]
pub struct MapAnswer {
    /// The view.
    pub view: View,
    /// Nodes of the returned edges, with their compounds.
    pub nodes: Vec<MapNode>,
    /// Edges `offset..offset+limit` by bytes.
    pub edges: Vec<MapEdge>,
    /// All edges matching.
    pub total_edges: usize,
    /// Edges after this page.
    pub rest: Rest,
}

/// The leaf id of one end (`client` or `server`) in a view, as a fixed SQL expression over that
/// end's columns. Ids are `kind|…` paths that [`Leaf::parse`] turns back into nodes. The SQL is
/// plain enough for DuckDB too, which the tests and the benchmark compare with.
pub fn leaf_sql(view: View, end: &str) -> String {
    let workload = match view {
        View::Logical => format!(
            "concat('w|', coalesce({end}_namespace, ''), '|', coalesce({end}_owner_kind, 'Pod'), '|', coalesce({end}_owner_name, {end}_pod, {end}_ip))"
        ),
        View::Physical => format!(
            "concat('p|', coalesce({end}_node, ''), '|', coalesce({end}_namespace, ''), '|', coalesce({end}_pod, {end}_ip))"
        ),
        View::Hosts => {
            // The server's name is what the capture learnt for it (DNS, Host, SNI), else what
            // enrichment knew; the address comes last because names can hold any character.
            let name = match end {
                "server" => "coalesce(server_host, server_dns_name)".to_owned(),
                _ => format!("{end}_dns_name"),
            };
            return format!(
                "concat('h|', coalesce({end}_namespace, ''), '|', coalesce({name}, ''), '|', {end}_ip)"
            );
        }
    };
    format!(
        "CASE {end}_class \
           WHEN 'pod' THEN {workload} \
           WHEN 'service' THEN concat('s|', coalesce({end}_namespace, ''), '|', coalesce({end}_owner_name, {end}_ip)) \
           WHEN 'node' THEN concat('n|', coalesce({end}_node, {end}_ip)) \
           WHEN 'external' THEN concat('e|', coalesce({end}_dns_name, {end}_ip)) \
           ELSE concat('u|', {end}_ip) END"
    )
}

/// The parts a leaf id is made of, as SQL over one end's columns: what the map groups on, so
/// that ids are built once per group rather than once per record. The first part decides the
/// kind (the end's class; a constant for hosts), the others are joined after it, nulls left out
/// ([`leaf_id`]); the result equals [`leaf_sql`].
fn leaf_parts_sql(view: View, end: &str) -> [String; 4] {
    let rest = format!(
        "CASE {end}_class \
           WHEN 'service' THEN coalesce({end}_owner_name, {end}_ip) \
           WHEN 'node' THEN coalesce({end}_node, {end}_ip) \
           WHEN 'external' THEN coalesce({end}_dns_name, {end}_ip) \
           ELSE {end}_ip END"
    );
    let name = format!("CASE {end}_class WHEN 'pod' THEN {{}} ELSE {rest} END");
    match view {
        View::Logical => [
            format!("{end}_class"),
            format!(
                "CASE WHEN {end}_class IN ('pod', 'service') THEN coalesce({end}_namespace, '') END"
            ),
            format!("CASE WHEN {end}_class = 'pod' THEN coalesce({end}_owner_kind, 'Pod') END"),
            name.replace(
                "{}",
                &format!("coalesce({end}_owner_name, {end}_pod, {end}_ip)"),
            ),
        ],
        View::Physical => [
            format!("{end}_class"),
            format!(
                "CASE {end}_class WHEN 'pod' THEN coalesce({end}_node, '') \
                 WHEN 'service' THEN coalesce({end}_namespace, '') END"
            ),
            format!("CASE WHEN {end}_class = 'pod' THEN coalesce({end}_namespace, '') END"),
            name.replace("{}", &format!("coalesce({end}_pod, {end}_ip)")),
        ],
        View::Hosts => {
            let name = match end {
                "server" => "coalesce(server_host, server_dns_name, '')".to_owned(),
                _ => format!("coalesce({end}_dns_name, '')"),
            };
            [
                "'host'".to_owned(),
                format!("coalesce({end}_namespace, '')"),
                name,
                format!("{end}_ip"),
            ]
        }
    }
}

/// A leaf id from its parts (see [`leaf_parts_sql`]).
fn leaf_id(view: View, parts: [Option<&str>; 4]) -> String {
    let tag = match (view, parts[0]) {
        (View::Hosts, _) => "h",
        (View::Logical, Some("pod")) => "w",
        (View::Physical, Some("pod")) => "p",
        (_, Some("service")) => "s",
        (_, Some("node")) => "n",
        (_, Some("external")) => "e",
        _ => "u",
    };
    let mut id = tag.to_owned();
    for part in parts[1..].iter().flatten() {
        id.push('|');
        id.push_str(part);
    }
    id
}

/// The records a view is drawn from, in range and filtered, and how its edges are measured.
struct Source {
    frame: DataFrame,
    transport: Expr,
    /// Bytes to server, to client; messages (packets, for sessions) to server, to client.
    measures: [Expr; 4],
    /// Sessions, for a source of sessions.
    sessions: Option<Expr>,
}

async fn source(
    context: &SessionContext,
    view: View,
    scope: Scope<'_>,
    filter: Option<&str>,
) -> Result<Source, QueryError> {
    let both = |measure: &str| {
        [
            sum(col(format!("{measure}_to_server"))),
            sum(col(format!("{measure}_to_client"))),
        ]
    };
    let [bts, btc] = both("bytes");
    Ok(match view {
        View::Logical | View::Physical => {
            let [mts, mtc] = both("messages");
            let unfiltered = filter.is_none_or(|text| text.trim().is_empty());
            let rollup = crate::rollup::Rollup::of(view).filter(|_| unfiltered);
            let rolled_up = match (rollup, crate::datasets::lake_of(context)) {
                (Some(rollup), Some(lake)) => {
                    crate::rollup::rows(context, &lake, rollup, scope).await?
                }
                _ => None,
            };
            let frame = match rolled_up {
                Some(frame) => frame,
                None => usage(context, scope, filter).await?,
            };
            Source {
                frame,
                transport: col("transport"),
                measures: [bts, btc, mts, mtc],
                sessions: None,
            }
        }
        View::Hosts => {
            let [pts, ptc] = both("packets");
            let frame = filtered(
                context,
                "tcp_sessions",
                "first_packet",
                scope,
                filter,
                crate::fields::TCP_SESSIONS,
            )
            .await?;
            Source {
                frame,
                transport: lit("tcp"),
                measures: [bts, btc, pts, ptc],
                sessions: Some(count(lit(1))),
            }
        }
    })
}

/// Answers a map query.
pub async fn map(
    context: &SessionContext,
    view: View,
    scope: Scope<'_>,
    filter: Option<&str>,
    offset: usize,
    limit: usize,
) -> Result<MapAnswer, QueryError> {
    let source = source(context, view, scope, filter).await?;
    let schema = source.frame.schema().clone();
    let mut keys = Vec::new();
    for end in ["client", "server"] {
        for (i, sql) in leaf_parts_sql(view, end).iter().enumerate() {
            let part = context.parse_sql_expr(sql, &schema).map_err(failed)?;
            keys.push(part.alias(format!("{end}{i}")));
        }
    }
    keys.extend([col("server_port"), source.transport.alias("transport")]);
    let mut measures: Vec<Expr> = source.measures.into();
    measures.extend(source.sessions.clone());
    let counts_sessions = source.sessions.is_some();
    let batches = aggregate(source.frame, keys, measures).await?;

    let mut edges: HashMap<(String, String), MapEdge> = HashMap::new();
    for batch in &batches {
        let parts: Vec<Vec<Option<String>>> = (0..8).map(|i| strings(batch.column(i))).collect();
        let id = |row: usize, first: usize| {
            let part = |i: usize| parts[first + i][row].as_deref();
            leaf_id(view, [part(0), part(1), part(2), part(3)])
        };
        let clients: Vec<Option<String>> =
            (0..batch.num_rows()).map(|row| Some(id(row, 0))).collect();
        let servers: Vec<Option<String>> =
            (0..batch.num_rows()).map(|row| Some(id(row, 4))).collect();
        let transports = strings(batch.column(9));
        let ports = counts(batch.column(8));
        let (bts, btc, mts, mtc) = (
            counts(batch.column(10)),
            counts(batch.column(11)),
            counts(batch.column(12)),
            counts(batch.column(13)),
        );
        let sessions = counts_sessions.then(|| counts(batch.column(14)));
        for row in 0..batch.num_rows() {
            let (Some(source), Some(target)) = (clients[row].clone(), servers[row].clone()) else {
                continue;
            };
            let edge = edges
                .entry((source.clone(), target.clone()))
                .or_insert_with(|| MapEdge {
                    source,
                    target,
                    bytes: 0,
                    bytes_to_server: 0,
                    bytes_to_client: 0,
                    messages: 0,
                    ports: Vec::new(),
                    transports: Vec::new(),
                    sessions: None,
                    select: None,
                });
            edge.bytes_to_server += bts[row];
            edge.bytes_to_client += btc[row];
            edge.bytes += bts[row] + btc[row];
            edge.messages += mts[row] + mtc[row];
            edge.ports.push(ports[row] as u16);
            edge.transports.extend(transports[row].clone());
            if let Some(sessions) = &sessions {
                *edge.sessions.get_or_insert(0) += sessions[row];
            }
        }
    }
    let mut edges: Vec<MapEdge> = edges.into_values().collect();
    for edge in &mut edges {
        edge.ports.sort_unstable();
        edge.ports.dedup();
        edge.transports.sort();
        edge.transports.dedup();
    }
    edges.sort_by(|a, b| {
        b.bytes
            .cmp(&a.bytes)
            .then_with(|| (&a.source, &a.target).cmp(&(&b.source, &b.target)))
    });

    let mut totals: HashMap<&str, (u64, u64)> = HashMap::new();
    for edge in &edges {
        for end in [&edge.source, &edge.target] {
            let total = totals.entry(end.as_str()).or_default();
            total.0 += edge.bytes;
            total.1 += edge.messages;
        }
    }
    let total_edges = edges.len();
    let mut page: Vec<MapEdge> = edges.iter().skip(offset).take(limit).cloned().collect();
    for edge in &mut page {
        edge.select = edge_select(&edge.source, &edge.target);
    }
    let after = edges.iter().skip(offset + page.len());
    let rest = after.fold(Rest::default(), |rest, edge| Rest {
        edges: rest.edges + 1,
        bytes: rest.bytes + edge.bytes,
        messages: rest.messages + edge.messages,
    });
    let nodes = nodes_of(view, &page, &totals);
    Ok(MapAnswer {
        view,
        nodes,
        edges: page,
        total_edges,
        rest,
    })
}

/// The clause of the records from `source` as client to `target` as server.
fn edge_select(source: &str, target: &str) -> Option<String> {
    let (from, to) = (Leaf::parse(source).select()?, Leaf::parse(target).select()?);
    Some(format!("({}) and ({})", from.src, to.dst))
}

/// The leaves of `edges` and every compound above them; compounds sum their leaves.
fn nodes_of(view: View, edges: &[MapEdge], totals: &HashMap<&str, (u64, u64)>) -> Vec<MapNode> {
    let leaves: BTreeSet<&str> = edges
        .iter()
        .flat_map(|e| [e.source.as_str(), e.target.as_str()])
        .collect();
    let mut nodes: HashMap<String, MapNode> = HashMap::new();
    for leaf in leaves {
        let (bytes, messages) = totals.get(leaf).copied().unwrap_or_default();
        let mut id = Some(leaf.to_owned());
        while let Some(current) = id {
            let leaf = Leaf::parse(&current);
            let (label, kind, parent) = leaf.describe(view);
            let select = leaf.select();
            let node = nodes.entry(current.clone()).or_insert_with(|| MapNode {
                id: current,
                label,
                kind,
                parent: parent.clone(),
                bytes: 0,
                messages: 0,
                select,
            });
            node.bytes += bytes;
            node.messages += messages;
            id = parent;
        }
    }
    let mut nodes: Vec<MapNode> = nodes.into_values().collect();
    nodes.sort_by(|a, b| a.id.cmp(&b.id));
    nodes
}
