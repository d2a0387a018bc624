//! Captured frames back out as a pcap file that tshark opens: the packets of one TCP session,
//! in capture order, with their original bytes (the `frame` column) and link type.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::prelude::{SessionContext, col, lit};
use spider_wire::{Frame, LinkType, write_pcap};

use crate::frame::{counts, failed, integers};
use crate::sql::QueryError;

/// The pcap of session `session_id`'s packets; `None` when no packet of it was stored.
pub async fn session_pcap(
    context: &SessionContext,
    session_id: u64,
) -> Result<Option<Vec<u8>>, QueryError> {
    let batches = context
        .table("packets")
        .await
        .map_err(failed)?
        .filter(col("session_id").eq(lit(session_id)))
        .map_err(failed)?
        .sort(vec![col("time").sort(true, false)])
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
    let frames = stored
        .iter()
        .map(|(time, link_type, wire_length, data)| Frame {
            time_micros: *time,
            link_type: LinkType(*link_type),
            wire_length: *wire_length,
            data,
        });
    write_pcap(&mut pcap, frames).map_err(|e| QueryError::Failed(e.to_string()))?;
    Ok(Some(pcap))
}
