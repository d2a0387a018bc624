//! Captured frames back out as a pcap file that tshark opens: the packets of one TCP session,
//! or every packet a filter selects in a range, in capture order, with their original bytes (the
//! `frame` column) and link type. The file streams: the sort holds the packets within the memory
//! pool (spilling beyond it), and the answer is written a batch at a time, so a session of
//! gigabytes downloads in the memory of a few batches.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::prelude::{SessionContext, col, lit};
use futures::{Stream, StreamExt};
use spider_wire::{Frame, LinkType, PcapEncoder};

use crate::frame::{counts, failed, filtered, integers};
use crate::range::{Scope, in_cluster};
use crate::sql::QueryError;

/// A pcap file as it is written: the header with the first packets, then a piece per batch.
pub type PcapStream = Pin<Box<dyn Stream<Item = Result<Bytes, QueryError>> + Send>>;

/// Pieces written ahead of the client at most: the back-pressure of a slow download.
const PIECES_AHEAD: usize = 2;

/// Rows per batch of frames, and so per piece. A frame is up to 256 KiB: DataFusion's 8,192 rows
/// of frames make batches of tens of megabytes that a sort in a small pool cannot hold even
/// once, and 128 frames hold at most 32 MiB, however large the frames.
const FRAMES_PER_BATCH: usize = 128;

/// Time a client may leave a piece unread; the download is then given up, and what it held let
/// go.
const STALLED_CLIENT: Duration = Duration::from_secs(60);

/// What the producer of a download sends: a piece, or the end of a whole file. A channel that
/// closes without the end is a download cut short, and the client is told so.
enum Piece {
    Data(Bytes),
    End,
}

/// `context` reading batches of [`FRAMES_PER_BATCH`], on the same memory pool.
fn frame_context(context: &SessionContext) -> SessionContext {
    let state = context.state();
    let config = state.config().clone().with_batch_size(FRAMES_PER_BATCH);
    let mut state = state;
    *state.config_mut() = config;
    SessionContext::new_with_state(state)
}

/// The pcap of session `session_id`'s packets; `None` when no packet of it was stored.
///
/// `hold` is kept until the download's last piece is written or it is given up (the service's
/// download permit).
pub async fn session_pcap(
    context: &SessionContext,
    session_id: u64,
    cluster: Option<&str>,
    hold: impl Send + 'static,
) -> Result<Option<PcapStream>, QueryError> {
    let mut packets = frame_context(context)
        .table("packets")
        .await
        .map_err(failed)?
        .filter(col("session_id").eq(lit(session_id)))
        .map_err(failed)?;
    if let Some(cluster) = in_cluster(cluster) {
        packets = packets.filter(cluster).map_err(failed)?;
    }
    pcap_of(packets, None, hold).await
}

/// The pcap of the packets in `range` that `filter` selects, at most `limit` of them (the first
/// ones); with how many were selected in all. `None` when none was. `hold` as for
/// [`session_pcap`].
pub async fn packets_pcap(
    context: &SessionContext,
    scope: Scope<'_>,
    filter: Option<&str>,
    limit: usize,
    hold: impl Send + 'static,
) -> Result<Option<(PcapStream, usize)>, QueryError> {
    let packets = filtered(
        &frame_context(context),
        "packets",
        "time",
        scope,
        filter,
        crate::fields::PACKETS,
    )
    .await?;
    let selected = packets.clone().count().await.map_err(failed)?;
    Ok(pcap_of(packets, Some(limit), hold)
        .await?
        .map(|pcap| (pcap, selected)))
}

/// Writes `packets` (the first `limit`, by time) as a pcap; `None` when there is none. The
/// first batch is read here, so that an empty answer is known before the download starts; the
/// rest is read by a task of the caller's runtime (the query runtime), ahead of the client by
/// [`PIECES_AHEAD`] pieces, and holding `hold` while it runs.
async fn pcap_of(
    packets: DataFrame,
    limit: Option<usize>,
    hold: impl Send + 'static,
) -> Result<Option<PcapStream>, QueryError> {
    let mut batches = packets
        .sort(vec![col("time").sort(true, false)])
        .map_err(failed)?
        .limit(0, limit)
        .map_err(failed)?
        .select_columns(&["time", "link_type", "wire_length", "frame"])
        .map_err(failed)?
        .execute_stream()
        .await
        .map_err(failed)?;
    let first = loop {
        match batches.next().await {
            None => return Ok(None),
            Some(batch) => {
                let batch = batch.map_err(failed)?;
                if batch.num_rows() > 0 {
                    break batch;
                }
            }
        }
    };
    let mut head = Vec::new();
    let link_type = LinkType(counts(first.column(1))[0] as u16);
    let encoder = PcapEncoder::start(&mut head, link_type).map_err(written)?;
    encode(&encoder, &first, &mut head)?;
    let (pieces, mut received) = tokio::sync::mpsc::channel(PIECES_AHEAD);
    tokio::spawn(async move {
        let _hold = hold;
        let send = |piece| tokio::time::timeout(STALLED_CLIENT, pieces.send(piece));
        while let Some(batch) = batches.next().await {
            let mut piece = Vec::new();
            let encoded = batch
                .map_err(failed)
                .and_then(|batch| encode(&encoder, &batch, &mut piece));
            if let Err(error) = encoded {
                tracing::warn!("a pcap download was cut short: {error}");
                return;
            }
            // A client that went away (the channel is closed) or stopped reading ends it.
            if !matches!(send(Piece::Data(Bytes::from(piece))).await, Ok(Ok(()))) {
                return;
            }
        }
        let _ = send(Piece::End).await;
    });
    let mut ended = false;
    let rest = futures::stream::poll_fn(move |cx| {
        if ended {
            return std::task::Poll::Ready(None);
        }
        received.poll_recv(cx).map(|piece| match piece {
            Some(Piece::Data(bytes)) => Some(Ok(bytes)),
            Some(Piece::End) => {
                ended = true;
                None
            }
            // The producer stopped before the end: an error, so the client's download fails
            // rather than looking whole.
            None => {
                ended = true;
                Some(Err(QueryError::Failed(
                    "the pcap could not be written to its end".into(),
                )))
            }
        })
    });
    Ok(Some(Box::pin(
        futures::stream::once(async move { Ok(Bytes::from(head)) }).chain(rest),
    )))
}

/// Appends `batch`'s packets to `out`.
fn encode(encoder: &PcapEncoder, batch: &RecordBatch, out: &mut Vec<u8>) -> Result<(), QueryError> {
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
        let frame = Frame {
            time_micros: times[row],
            link_type: LinkType(link_types[row] as u16),
            wire_length: lengths[row] as u32,
            data,
        };
        encoder.push(out, &frame).map_err(written)?;
    }
    Ok(())
}

fn written(error: spider_wire::ExportError) -> QueryError {
    QueryError::Failed(error.to_string())
}
