//! Anomalies: what is unusual in network usage, against each workload's own past.
//!
//! - **New edge**: a pair of logical-map leaves (workloads, Services, nodes, external peers), a
//!   server port and a transport with no traffic in the `baseline` before it was first seen; it
//!   is flagged for the day after that first sighting. Nothing is new while the lake holds less
//!   than `baseline` of history before a sighting (a fresh lake is learning, not alarming).
//! - **Excessive DNS**: a client whose busiest minute in range sent more DNS messages (server
//!   port 53, queries) than both `dns_floor` and `dns_factor` × its median minute over the
//!   `baseline` before the range (minutes with DNS traffic; none counts as 0).
//! - **Excessive external traffic**: the same for the bytes a client exchanged with external
//!   peers per minute, with `external_floor` and `external_factor`.
//! - **Denied by policy**: an edge (leaf pair, server port, transport) with traffic in range that
//!   the NetworkPolicies selecting its pods should have stopped, as enrichment judged each
//!   record (`policy = denied`): the CNI does not enforce them, or they changed. It names the
//!   policies that refuse it.
//!
//! Flags are computed from the counted usage rows (each conversation once), over the range and
//! the baseline before it, with the range's filter and cluster; every flag carries the filter
//! clause that selects its records.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use datafusion::arrow::array::Array;
use datafusion::functions_aggregate::expr_fn::{median, min, sum};
use datafusion::logical_expr::{Expr, col, lit};
use datafusion::prelude::{DataFrame, SessionContext};
use serde::Serialize;
use spider_records::{PolicyVerdict, Workload};

use crate::frame::{aggregate, counts, failed, floats, integers, strings, usage};
use crate::leaf::Leaf;
use crate::map::{View, leaf_sql};
use crate::range::{Scope, TimeRange};
use crate::sql::QueryError;

/// A day, in microseconds: how long a new edge stays flagged.
const DAY_MICROS: i64 = 86_400_000_000;

/// What is flagged, and against what.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// History a flag compares with (default 7 days).
    #[serde(serialize_with = "seconds")]
    pub baseline: Duration,
    /// DNS messages a minute below which nothing is excessive (default 100).
    pub dns_floor: u64,
    /// How many times its median minute a client's busiest DNS minute must be (default 5).
    pub dns_factor: f64,
    /// Bytes a minute with external peers below which nothing is excessive (default 10 MiB).
    pub external_floor: u64,
    /// How many times its median minute a client's busiest external minute must be (default 5).
    pub external_factor: f64,
}

fn seconds<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(duration.as_secs())
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            baseline: Duration::from_secs(7 * 86_400),
            dns_floor: 100,
            dns_factor: 5.0,
            external_floor: 10 << 20,
            external_factor: 5.0,
        }
    }
}

/// The longest baseline a request may ask for: what one query may read is bounded.
pub const MAX_BASELINE: Duration = Duration::from_secs(31 * 86_400);

impl Thresholds {
    /// Every value within its bounds, or what is wrong.
    pub fn check(&self) -> Result<(), QueryError> {
        let refuse = |message: String| Err(QueryError::Refused(message));
        if self.baseline < Duration::from_secs(60) || self.baseline > MAX_BASELINE {
            return refuse(format!(
                "baseline must be 1 minute to {} days",
                MAX_BASELINE.as_secs() / 86_400
            ));
        }
        for (name, factor) in [
            ("dns_factor", self.dns_factor),
            ("external_factor", self.external_factor),
        ] {
            if !(1.0..=1_000_000.0).contains(&factor) {
                return refuse(format!("{name} must be 1 to 1000000, not {factor}"));
            }
        }
        if self.dns_floor == 0 || self.external_floor == 0 {
            return refuse("dns_floor and external_floor must be at least 1".into());
        }
        Ok(())
    }
}

spider_records::named_enum! {
    /// The kinds of flag, by their API names.
    pub enum AnomalyKind {
        /// A pair, port and transport not seen in the baseline before.
        NewEdge = "new_edge",
        /// A client's DNS messages a minute far above its own past.
        ExcessiveDns = "excessive_dns",
        /// A client's external bytes a minute far above its own past.
        ExcessiveExternal = "excessive_external",
        /// An edge the NetworkPolicies should have stopped.
        DeniedByPolicy = "denied_by_policy",
    }
}

/// One flag.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    /// What is flagged.
    pub kind: AnomalyKind,
    /// The client leaf (map id).
    pub source: String,
    /// What the map calls it.
    pub source_label: String,
    /// The server leaf, for an edge.
    pub target: Option<String>,
    /// What the map calls it.
    pub target_label: Option<String>,
    /// The server port, for an edge.
    pub port: Option<u16>,
    /// The transport, for an edge.
    pub transport: Option<String>,
    /// When: an edge's first minute (in range, for a denied one); an excess's busiest minute
    /// (microseconds).
    pub at: i64,
    /// What was seen: an edge's bytes in range; an excess's busiest minute.
    pub value: f64,
    /// What it is compared with: an excess's median minute over the baseline (0 for a new edge).
    pub baseline: f64,
    /// The filter clause of its records (`None` when an end is one no filter names).
    pub select: Option<String>,
    /// The client's workload, when it is one: what a Whisperer can be attached to.
    pub workload: Option<Workload>,
    /// For a denied edge, the policies that refuse it (`namespace/name`, comma-separated).
    pub policies: Option<String>,
}

/// The answer: the flags, most recent first, and the thresholds they were found with.
#[derive(Debug, Clone, Serialize)]
pub struct Anomalies {
    /// The flags.
    pub anomalies: Vec<Anomaly>,
    /// The thresholds used.
    pub thresholds: Thresholds,
}

/// The logical leaf of one end, as an expression of `frame`.
fn leaf(context: &SessionContext, frame: &DataFrame, end: &str) -> Result<Expr, QueryError> {
    context
        .parse_sql_expr(&leaf_sql(View::Logical, end), frame.schema())
        .map_err(failed)
}

/// Everything a query of the flags over `scope` reads: the day before it (a new edge stays
/// flagged a day) and the baseline before that. The answer cache keys on these files.
pub fn reads(scope: Scope<'_>, thresholds: Thresholds) -> Scope<'_> {
    scope.reaching_back(DAY_MICROS.saturating_add(thresholds.baseline.as_micros() as i64))
}

/// The flags of `kinds` (all when empty) over `scope` and `filter`.
pub async fn anomalies(
    context: &SessionContext,
    scope: Scope<'_>,
    filter: Option<&str>,
    kinds: &[AnomalyKind],
    thresholds: Thresholds,
) -> Result<Anomalies, QueryError> {
    thresholds.check()?;
    let wanted = |kind| kinds.is_empty() || kinds.contains(&kind);
    let mut found = Vec::new();
    if wanted(AnomalyKind::NewEdge) {
        found.extend(new_edges(context, scope, filter, thresholds).await?);
    }
    if wanted(AnomalyKind::DeniedByPolicy) {
        found.extend(denied_edges(context, scope, filter).await?);
    }
    for (kind, floor, factor) in [
        (
            AnomalyKind::ExcessiveDns,
            thresholds.dns_floor,
            thresholds.dns_factor,
        ),
        (
            AnomalyKind::ExcessiveExternal,
            thresholds.external_floor,
            thresholds.external_factor,
        ),
    ] {
        if wanted(kind) {
            found.extend(excesses(context, scope, filter, thresholds, kind, floor, factor).await?);
        }
    }
    found.sort_by(|a, b| {
        b.at.cmp(&a.at)
            .then_with(|| (&a.source, &a.target).cmp(&(&b.source, &b.target)))
    });
    Ok(Anomalies {
        anomalies: found,
        thresholds,
    })
}

/// Edges first seen in the day before the range's end or later, with nothing in the baseline
/// before that first sighting and a lake old enough to say so.
async fn new_edges(
    context: &SessionContext,
    scope: Scope<'_>,
    filter: Option<&str>,
    thresholds: Thresholds,
) -> Result<Vec<Anomaly>, QueryError> {
    let baseline = thresholds.baseline.as_micros() as i64;
    let window = reads(scope, thresholds);
    let frame = usage(context, window, filter).await?;
    let keys = vec![
        leaf(context, &frame, "client")?.alias("source"),
        leaf(context, &frame, "server")?.alias("target"),
        col("server_port"),
        col("transport"),
    ];
    let in_range =
        col("bucket_start").gt_eq(lit(datafusion::scalar::ScalarValue::TimestampMicrosecond(
            Some(scope.range.from),
            Some("UTC".into()),
        )));
    let bytes_in_range = sum(datafusion::logical_expr::when(
        in_range,
        col("bytes_to_server") + col("bytes_to_client"),
    )
    .otherwise(lit(0u64))
    .map_err(failed)?);
    let batches = aggregate(frame, keys, vec![min(col("bucket_start")), bytes_in_range]).await?;
    let mut edges = Vec::new();
    let mut earliest = i64::MAX;
    for batch in &batches {
        let (sources, targets) = (strings(batch.column(0)), strings(batch.column(1)));
        let (ports, transports) = (counts(batch.column(2)), strings(batch.column(3)));
        let (first, bytes) = (integers(batch.column(4)), counts(batch.column(5)));
        for row in 0..batch.num_rows() {
            earliest = earliest.min(first[row]);
            edges.push((
                sources[row].clone().unwrap_or_default(),
                targets[row].clone().unwrap_or_default(),
                ports[row] as u16,
                transports[row].clone(),
                first[row],
                bytes[row],
            ));
        }
    }
    // Flagged for a day from the first sighting; learning until the lake holds a baseline. The
    // lake's age is its own, whatever the filter (a filtered edge's first minute is not it).
    if filter.is_some_and(|text| !text.trim().is_empty()) {
        let all = aggregate(
            usage(context, window, None).await?,
            vec![],
            vec![min(col("bucket_start"))],
        )
        .await?;
        if let Some(batch) = all.first().filter(|batch| batch.num_rows() > 0)
            && batch.column(0).is_valid(0)
        {
            earliest = earliest.min(integers(batch.column(0))[0]);
        }
    }
    let flagged_after = (scope.range.from - DAY_MICROS).max(earliest.saturating_add(baseline));
    Ok(edges
        .into_iter()
        .filter(|(.., first, _)| *first >= flagged_after && *first < scope.range.to)
        .map(|(source, target, port, transport, first, bytes)| {
            let edge = (source, target, port, transport);
            edge_anomaly(AnomalyKind::NewEdge, edge, first, bytes)
        })
        .collect())
}

/// An edge: client and server leaves, server port, transport.
type Edge = (String, String, u16, Option<String>);

/// The flag of `kind` on `edge`, first seen at `at`, with its bytes in range.
fn edge_anomaly(kind: AnomalyKind, edge: Edge, at: i64, bytes: u64) -> Anomaly {
    let (source, target, port, transport) = edge;
    Anomaly {
        kind,
        select: edge_select(&source, &target, port, transport.as_deref()),
        workload: Leaf::parse(&source).workload(),
        source_label: label(&source),
        target_label: Some(label(&target)),
        source,
        target: Some(target),
        port: Some(port),
        transport,
        at,
        value: bytes as f64,
        baseline: 0.0,
        policies: None,
    }
}

/// Edges with records in range that policies deny, with the policies that refuse them.
async fn denied_edges(
    context: &SessionContext,
    scope: Scope<'_>,
    filter: Option<&str>,
) -> Result<Vec<Anomaly>, QueryError> {
    let frame = usage(context, scope, filter)
        .await?
        .filter(col("policy").eq(lit(PolicyVerdict::Denied.as_str())))
        .map_err(failed)?;
    let keys = vec![
        leaf(context, &frame, "client")?.alias("source"),
        leaf(context, &frame, "server")?.alias("target"),
        col("server_port"),
        col("transport"),
        col("policy_by"),
    ];
    let measures = vec![
        min(col("bucket_start")),
        sum(col("bytes_to_server") + col("bytes_to_client")),
    ];
    let mut edges: BTreeMap<Edge, (i64, u64, BTreeSet<String>)> = BTreeMap::new();
    for batch in &aggregate(frame, keys, measures).await? {
        let (sources, targets) = (strings(batch.column(0)), strings(batch.column(1)));
        let (ports, transports) = (counts(batch.column(2)), strings(batch.column(3)));
        let (by, first, bytes) = (
            strings(batch.column(4)),
            integers(batch.column(5)),
            counts(batch.column(6)),
        );
        for row in 0..batch.num_rows() {
            let edge = (
                sources[row].clone().unwrap_or_default(),
                targets[row].clone().unwrap_or_default(),
                ports[row] as u16,
                transports[row].clone(),
            );
            let entry = edges.entry(edge).or_insert((i64::MAX, 0, BTreeSet::new()));
            entry.0 = entry.0.min(first[row]);
            entry.1 += bytes[row];
            entry.2.extend(
                by[row]
                    .iter()
                    .flat_map(|names| names.split(','))
                    .map(str::to_owned),
            );
        }
    }
    Ok(edges
        .into_iter()
        .map(|(edge, (first, bytes, by))| {
            let mut flag = edge_anomaly(AnomalyKind::DeniedByPolicy, edge, first, bytes);
            flag.select = flag
                .select
                .map(|select| format!("{select} and policy = denied"));
            flag.policies = (!by.is_empty()).then(|| by.into_iter().collect::<Vec<_>>().join(","));
            flag
        })
        .collect())
}

/// What the logical map calls a leaf.
fn label(id: &str) -> String {
    Leaf::parse(id).describe(View::Logical).0
}

/// The clause of one edge's records on one port and transport.
fn edge_select(source: &str, target: &str, port: u16, transport: Option<&str>) -> Option<String> {
    let (from, to) = (Leaf::parse(source).select()?, Leaf::parse(target).select()?);
    let transport = transport.map_or(String::new(), |t| format!(" and transport = {t}"));
    Some(format!(
        "({}) and ({}) and port = {port}{transport}",
        from.src, to.dst
    ))
}

/// Clients whose busiest minute in range is above `floor` and `factor` × their median minute
/// over the baseline before the range.
async fn excesses(
    context: &SessionContext,
    scope: Scope<'_>,
    filter: Option<&str>,
    thresholds: Thresholds,
    kind: AnomalyKind,
    floor: u64,
    factor: f64,
) -> Result<Vec<Anomaly>, QueryError> {
    let (only, measure, clause) = match kind {
        AnomalyKind::ExcessiveDns => (
            col("server_port").eq(lit(53u16)),
            col("messages_to_server"),
            "port = 53",
        ),
        _ => (
            col("server_class").eq(lit("external")),
            col("bytes_to_server") + col("bytes_to_client"),
            "dst.class = external",
        ),
    };
    // The baseline: the `baseline` before the range.
    let baseline = Scope {
        range: TimeRange {
            from: scope
                .range
                .from
                .saturating_sub(thresholds.baseline.as_micros() as i64)
                .max(0),
            to: scope.range.from,
        },
        ..scope
    };
    let minutes = |frame: DataFrame| -> Result<DataFrame, QueryError> {
        let client = leaf(context, &frame, "client")?.alias("source");
        frame
            .filter(only.clone())
            .map_err(failed)?
            .aggregate(
                vec![client, col("bucket_start")],
                vec![sum(measure.clone()).alias("minute")],
            )
            .map_err(failed)
    };
    // The range: each client's busiest minute above the floor, and the first minute it was.
    let above = minutes(usage(context, scope, filter).await?)?
        .filter(col("minute").gt(lit(floor)))
        .map_err(failed)?
        .collect()
        .await
        .map_err(failed)?;
    let mut peak: HashMap<String, (u64, i64)> = HashMap::new();
    for batch in &above {
        let (sources, starts) = (strings(batch.column(0)), integers(batch.column(1)));
        for (row, value) in counts(batch.column(2)).into_iter().enumerate() {
            let entry = peak
                .entry(sources[row].clone().unwrap_or_default())
                .or_insert((0, i64::MAX));
            if (value, std::cmp::Reverse(starts[row])) > (entry.0, std::cmp::Reverse(entry.1)) {
                *entry = (value, starts[row]);
            }
        }
    }
    if peak.is_empty() {
        return Ok(Vec::new());
    }
    // The baseline: each such client's median minute before the range.
    let mut medians: HashMap<String, f64> = HashMap::new();
    // A range from the epoch has no past to compare with.
    if scope.range.from > 0 && baseline.range.from < baseline.range.to {
        let past = minutes(usage(context, baseline, filter).await?)?;
        for batch in &aggregate(
            past,
            vec![col("source")],
            vec![median(col("minute")).alias("median")],
        )
        .await?
        {
            let values = floats(batch.column(1));
            for (source, value) in strings(batch.column(0)).into_iter().zip(values) {
                medians.insert(source.unwrap_or_default(), value.unwrap_or(0.0));
            }
        }
    }
    let mut flagged: Vec<Anomaly> = peak
        .into_iter()
        .filter_map(|(source, (value, at))| {
            let median = medians.get(&source).copied().unwrap_or(0.0);
            (value as f64 > factor * median).then(|| Anomaly {
                kind,
                workload: Leaf::parse(&source).workload(),
                source_label: label(&source),
                target_label: None,
                select: Leaf::parse(&source)
                    .select()
                    .map(|select| format!("({}) and {clause}", select.src)),
                source,
                target: None,
                port: None,
                transport: None,
                at,
                value: value as f64,
                baseline: median,
                policies: None,
            })
        })
        .collect();
    flagged.sort_by(|a, b| a.source.cmp(&b.source));
    Ok(flagged)
}
