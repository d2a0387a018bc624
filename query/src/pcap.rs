//! Captured frames back out as a pcap file that tshark opens: the packets of one TCP session,
//! or every packet a filter selects in a range, in capture order, with their original bytes (the
//! `frame` column) and link type.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::dataframe::DataFrame;
use datafusion::prelude::{SessionContext, col, lit};
use spider_wire::{Frame, LinkType, write_pcap};

use crate::frame::{counts, failed, filtered, integers};
use crate::range::TimeRange;
use crate::sql::QueryError;

/// The pcap of session `session_id`'s packets; `None` when no packet of it was stored.
pub async fn session_pcap(
    context: &SessionContext,
    session_id: u64,
) -> Result<Option<Vec<u8>>, QueryError> {
    let packets = context
        .table("packets")
        .await
        .map_err(failed)?
        .filter(col("session_id").eq(lit(session_id)))
        .map_err(failed)?;
    Ok(pcap_of(packets, None).await?.map(|(pcap, _)| pcap))
}

/// The pcap of the packets in `range` that `filter` selects, at most `limit` of them (the first
/// ones); with how many were selected in all. `None` when none was.
pub async fn packets_pcap(
    context: &SessionContext,
    range: TimeRange,
    filter: Option<&str>,
    limit: usize,
) -> Result<Option<(Vec<u8>, usize)>, QueryError> {
    let packets = filtered(
        context,
        "packets",
        "time",
        range,
        filter,
        crate::fields::PACKETS,
    )
    .await?;
    let selected = packets.clone().count().await.map_err(failed)?;
    Ok(pcap_of(packets, Some(limit))
        .await?
        .map(|(pcap, _)| (pcap, selected)))
}

/// Writes `packets` (the first `limit`, by time) as a pcap; with the number written.
async fn pcap_of(
    packets: DataFrame,
    limit: Option<usize>,
) -> Result<Option<(Vec<u8>, usize)>, QueryError> {
    let batches = packets
        .sort(vec![col("time").sort(true, false)])
        .map_err(failed)?
        .limit(0, limit)
        .map_err(failed)?
        .select_columns(&["time", "link_type", "wire_length", "frame"])
        .map_err(failed)?
        .collect()
        .await
        .map_err(failed)?;
    let mut stored = Vec::new();
    for batch in &batches {
        let times = integers(batch.column(0));
        let link_types = counts(batch.column(1));
        let lengths = counts(batch.column(2));
        let frames = batch.column(3).as_binary::<i32>();
        for row in 0..batch.num_rows() {
            let data = if frames.is_valid(row) {
                frames.value(row)
            } else {
                &[]
            };
            stored.push((
                times[row],
                link_types[row] as u16,
                lengths[row] as u32,
                data,
            ));
        }
    }
    if stored.is_empty() {
        return Ok(None);
    }
    let mut pcap = Vec::new();
    let written = stored.len();
    let frames = stored
        .iter()
        .map(|(time, link_type, wire_length, data)| Frame {
            time_micros: *time,
            link_type: LinkType(*link_type),
            wire_length: *wire_length,
            data,
        });
    write_pcap(&mut pcap, frames).map_err(|e| QueryError::Failed(e.to_string()))?;
    Ok(Some((pcap, written)))
}
