//! Details of one leaf of the usage map — a workload, a service, a node, an external or unknown
//! endpoint, named by its map id: the pods it ran as, its peers each way, the ports it served
//! and used, and its bytes over time.

use std::collections::HashMap;

use datafusion::functions_aggregate::expr_fn::sum;
use datafusion::logical_expr::{col, lit};
use datafusion::prelude::SessionContext;
use serde::Serialize;
use spider_records::Workload;

use crate::frame::{aggregate, counts, failed, strings, usage};
use crate::leaf::Leaf;
use crate::map::{View, leaf_sql};
use crate::range::Scope;
use crate::sql::QueryError;
use crate::timeline::{Timeline, histogram, step_for};

/// Bytes and messages of something.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Volume {
    /// Bytes both ways.
    pub bytes: u64,
    /// Messages both ways.
    pub messages: u64,
}

impl std::ops::AddAssign for Volume {
    fn add_assign(&mut self, other: Self) {
        self.bytes += other.bytes;
        self.messages += other.messages;
    }
}

/// A pod (or, for an endpoint without pods, its address) the leaf ran as.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodVolume {
    /// Pod name (`null` outside pods).
    pub pod: Option<String>,
    /// Node it ran on.
    pub node: Option<String>,
    /// Its traffic.
    #[serde(flatten)]
    pub volume: Volume,
}

/// A peer at the other end, as a map leaf.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Peer {
    /// Its map id.
    pub id: String,
    /// Its label.
    pub label: String,
    /// Its kind.
    pub kind: String,
    /// Its compound.
    pub parent: Option<String>,
    /// Server ports between the two.
    pub ports: Vec<u16>,
    /// Traffic between the two.
    #[serde(flatten)]
    pub volume: Volume,
}

/// Traffic on one server port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortVolume {
    /// The port.
    pub port: u16,
    /// `tcp` or `udp`.
    pub transport: String,
    /// Its traffic.
    #[serde(flatten)]
    pub volume: Volume,
}

/// The answer to a details query.
#[derive(Debug, Clone, Serialize)]
pub struct Details {
    /// The leaf's map id.
    pub id: String,
    /// Its label.
    pub label: String,
    /// Its kind (Deployment, DaemonSet, Service, Node, External, …).
    pub kind: String,
    /// The workload it is, when a Whisperer can be attached to it.
    pub workload: Option<Workload>,
    /// Its compound (the namespace of a workload).
    pub parent: Option<String>,
    /// All its traffic in range.
    #[serde(flatten)]
    pub volume: Volume,
    /// Pods it ran as, most traffic first.
    pub pods: Vec<PodVolume>,
    /// Peers that connected to it, most traffic first (at most `top`).
    pub clients: Vec<Peer>,
    /// Peers it connected to, most traffic first (at most `top`).
    pub servers: Vec<Peer>,
    /// Peers beyond the `top` of each list.
    pub peers_left_out: usize,
    /// Ports it served.
    pub ports_served: Vec<PortVolume>,
    /// Server ports it connected to.
    pub ports_used: Vec<PortVolume>,
    /// Its bytes over the range.
    pub timeline: Timeline,
}

/// What is gathered per side while reading the rows.
#[derive(Default)]
struct Side {
    peers: HashMap<String, (Vec<u16>, Volume)>,
    ports: HashMap<(u16, String), Volume>,
}

impl Side {
    fn add(&mut self, peer: String, port: u16, transport: String, volume: Volume) {
        let entry = self.peers.entry(peer).or_default();
        entry.0.push(port);
        entry.1 += volume;
        *self.ports.entry((port, transport)).or_default() += volume;
    }

    fn peers(self, top: usize) -> (Vec<Peer>, usize) {
        let mut peers: Vec<Peer> = self
            .peers
            .into_iter()
            .map(|(id, (mut ports, volume))| {
                ports.sort_unstable();
                ports.dedup();
                let (label, kind, parent) = Leaf::parse(&id).describe(View::Logical);
                Peer {
                    id,
                    label,
                    kind,
                    parent,
                    ports,
                    volume,
                }
            })
            .collect();
        peers.sort_by(|a, b| (b.volume.bytes, &a.id).cmp(&(a.volume.bytes, &b.id)));
        let left_out = peers.len().saturating_sub(top);
        peers.truncate(top);
        (peers, left_out)
    }

    fn ports(&self) -> Vec<PortVolume> {
        let mut ports: Vec<PortVolume> = self
            .ports
            .iter()
            .map(|((port, transport), volume)| PortVolume {
                port: *port,
                transport: transport.clone(),
                volume: *volume,
            })
            .collect();
        ports.sort_by(|a, b| {
            (b.volume.bytes, a.port, &a.transport).cmp(&(a.volume.bytes, b.port, &b.transport))
        });
        ports
    }
}

/// Answers a details query for the logical-view leaf `id`; `None` when it has no traffic in range.
pub async fn details(
    context: &SessionContext,
    id: &str,
    scope: Scope<'_>,
    filter: Option<&str>,
    top: usize,
) -> Result<Option<Details>, QueryError> {
    let frame = usage(context, scope, filter).await?;
    let schema = frame.schema().clone();
    let leaf = |end| {
        context
            .parse_sql_expr(&leaf_sql(View::Logical, end), &schema)
            .map_err(failed)
    };
    let (client, server) = (leaf("client")?, leaf("server")?);
    let frame = frame
        .filter(client.clone().eq(lit(id)).or(server.clone().eq(lit(id))))
        .map_err(failed)?;
    let batches = aggregate(
        frame.clone(),
        vec![
            client.alias("client_leaf"),
            server.alias("server_leaf"),
            col("client_pod"),
            col("client_node"),
            col("server_pod"),
            col("server_node"),
            col("server_port"),
            col("transport"),
        ],
        vec![
            sum(col("bytes_to_server") + col("bytes_to_client")),
            sum(col("messages_to_server") + col("messages_to_client")),
        ],
    )
    .await?;
    if batches.iter().all(|batch| batch.num_rows() == 0) {
        return Ok(None);
    }

    let mut total = Volume::default();
    let mut pods: HashMap<(Option<String>, Option<String>), Volume> = HashMap::new();
    let (mut as_server, mut as_client) = (Side::default(), Side::default());
    for batch in &batches {
        let text: Vec<Vec<Option<String>>> = (0..6).map(|i| strings(batch.column(i))).collect();
        let transports = strings(batch.column(7));
        let (ports, bytes, messages) = (
            counts(batch.column(6)),
            counts(batch.column(8)),
            counts(batch.column(9)),
        );
        for row in 0..batch.num_rows() {
            let volume = Volume {
                bytes: bytes[row],
                messages: messages[row],
            };
            total += volume;
            let [
                client,
                server,
                client_pod,
                client_node,
                server_pod,
                server_node,
            ] = std::array::from_fn(|i| text[i][row].clone());
            let (port, transport) = (
                ports[row] as u16,
                transports[row].clone().unwrap_or_default(),
            );
            let (client, server) = (client.unwrap_or_default(), server.unwrap_or_default());
            if server == id {
                *pods.entry((server_pod, server_node)).or_default() += volume;
                as_server.add(client.clone(), port, transport.clone(), volume);
            }
            if client == id {
                *pods.entry((client_pod, client_node)).or_default() += volume;
                as_client.add(server, port, transport, volume);
            }
        }
    }
    let mut pods: Vec<PodVolume> = pods
        .into_iter()
        .map(|((pod, node), volume)| PodVolume { pod, node, volume })
        .collect();
    pods.sort_by(|a, b| (b.volume.bytes, &a.pod).cmp(&(a.volume.bytes, &b.pod)));
    let (ports_served, ports_used) = (as_server.ports(), as_client.ports());
    let (clients, clients_left_out) = as_server.peers(top);
    let (servers, servers_left_out) = as_client.peers(top);
    let timeline = histogram(context, frame, scope.range, step_for(scope.range)).await?;
    let leaf = Leaf::parse(id);
    let (label, kind, parent) = leaf.describe(View::Logical);
    Ok(Some(Details {
        id: id.to_owned(),
        label,
        workload: leaf.workload(),
        kind,
        parent,
        volume: total,
        pods,
        clients,
        servers,
        peers_left_out: clients_left_out + servers_left_out,
        ports_served,
        ports_used,
        timeline,
    }))
}
