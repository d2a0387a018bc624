//! Answers kept by what they were computed from: the request and the files its range reads.
//!
//! A view of "yesterday" reads the same files each time it is opened, refreshed or shared, and
//! each time the service scanned them again. An answer here is kept under its request (route and
//! parameters) and the fingerprint of the files in its range of the datasets it reads
//! ([`fingerprint`]), so it is exact
//! for as long as it can be found: a file landing in the range, late or live, changes the
//! fingerprint and the next request computes anew. The fingerprint is taken before and after
//! computing, and an answer is kept only when they agree (one landing in between would otherwise
//! file it under a set it was not computed from). Requests for an answer being computed wait
//! for it rather than compute it again: four clients opening yesterday's map at once scan once.
//! Memory is bounded: at most `max_bytes` of answers, the least recently used going first, none
//! larger than an eighth of it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use spider_query::Lake;
use spider_query::file_set::fingerprint;
use spider_query::range::Scope;
use spider_records::RecordKind;

use crate::ApiError;

/// The header that says whether an answer was kept (`hit`), computed (`miss`) or computed for
/// another request at the same time (`shared`).
pub const CACHE_HEADER: &str = "x-spider-cache";

/// Kept answers, bounded in bytes.
pub struct AnswerCache {
    lake: Lake,
    max_bytes: usize,
    kept: Mutex<Kept>,
    /// Answers being computed, which requests for the same one wait for.
    computing: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Bytes>>>>,
}

#[derive(Default)]
struct Kept {
    answers: HashMap<String, (Bytes, u64)>,
    bytes: usize,
    clock: u64,
}

impl Kept {
    fn get(&mut self, key: &str) -> Option<Bytes> {
        self.clock += 1;
        let clock = self.clock;
        self.answers.get_mut(key).map(|(body, used)| {
            *used = clock;
            body.clone()
        })
    }

    fn put(&mut self, key: String, body: Bytes, max_bytes: usize) {
        if body.len() > max_bytes / 8 {
            return;
        }
        self.clock += 1;
        self.bytes += body.len() + key.len();
        if let Some((old, _)) = self.answers.insert(key.clone(), (body, self.clock)) {
            self.bytes -= old.len() + key.len();
        }
        while self.bytes > max_bytes {
            let Some(oldest) = self
                .answers
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(key, _)| key.clone())
            else {
                break;
            };
            if let Some((body, _)) = self.answers.remove(&oldest) {
                self.bytes -= body.len() + oldest.len();
            }
        }
    }
}

impl AnswerCache {
    /// A cache of at most `max_bytes` of answers over `lake` (none kept with 0).
    pub fn new(lake: Lake, max_bytes: usize) -> Self {
        Self {
            lake,
            max_bytes,
            kept: Mutex::default(),
            computing: Mutex::default(),
        }
    }

    /// The lake the answers are read from.
    pub fn lake(&self) -> &Lake {
        &self.lake
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The answer to `request` over `scope` of the datasets `reads`: kept, or computed by
    /// `compute` (and then kept).
    pub async fn answer<T: Serialize>(
        &self,
        request: String,
        scope: Scope<'_>,
        reads: &[RecordKind],
        compute: impl Future<Output = Result<T, ApiError>>,
    ) -> Result<Response, ApiError> {
        if self.max_bytes == 0 {
            return Ok(json(serialize(&compute.await?)?, None));
        }
        let before = fingerprint(&self.lake, scope.range, reads, scope.cluster).await?;
        let key = format!("{before:016x} {request}");
        // Looked up with the flights held: an answer whose flight has ended is kept by then.
        let flight = {
            let mut computing = self.computing.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(body) = self.kept().get(&key) {
                return Ok(json(body, Some("hit")));
            }
            Flight {
                cache: self,
                cell: computing.entry(key.clone()).or_default().clone(),
                key: &key,
                computing: AtomicBool::new(false),
            }
        };
        let answer = flight
            .cell
            .get_or_try_init(|| async {
                flight.computing.store(true, Ordering::Relaxed);
                serialize(&compute.await?)
            })
            .await
            .cloned();
        let computed_here = flight.computing.load(Ordering::Relaxed);
        if computed_here && let Ok(body) = &answer {
            // Kept before the flight ends, so that no request between the two computes again.
            let unchanged = fingerprint(&self.lake, scope.range, reads, scope.cluster)
                .await
                .is_ok_and(|after| after == before);
            if unchanged {
                self.kept().put(key.clone(), body.clone(), self.max_bytes);
            }
        }
        drop(flight);
        let state = if computed_here { "miss" } else { "shared" };
        Ok(json(answer?, Some(state)))
    }
}

/// An answer being computed, for requests of the same one to wait for. The request computing it
/// ends it when dropped (after keeping the answer, or when given up mid-computation: a timeout,
/// a client gone); a request that waited does not, since the answer may not be kept yet.
struct Flight<'a> {
    cache: &'a AnswerCache,
    cell: Arc<tokio::sync::OnceCell<Bytes>>,
    key: &'a str,
    /// Whether this request is the one computing.
    computing: AtomicBool,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        if !self.computing.load(Ordering::Relaxed) {
            return;
        }
        let mut computing = self
            .cache
            .computing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if computing
            .get(self.key)
            .is_some_and(|cell| Arc::ptr_eq(cell, &self.cell))
        {
            computing.remove(self.key);
        }
    }
}

fn serialize<T: Serialize>(answer: &T) -> Result<Bytes, ApiError> {
    serde_json::to_vec(answer)
        .map(Bytes::from)
        .map_err(|e| ApiError::internal(format!("cannot write the answer: {e}")))
}

fn json(body: Bytes, cache: Option<&'static str>) -> Response {
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Some(state) = cache {
        response
            .headers_mut()
            .insert(CACHE_HEADER, HeaderValue::from_static(state));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_answers_go_first_and_big_ones_are_not_kept() {
        let mut kept = Kept::default();
        let body = |n: usize| Bytes::from(vec![b'x'; n]);
        // Ten answers of 122 bytes (key included) in a budget of 1,000: eight stay.
        for index in 0..10 {
            kept.put(format!("k{index}"), body(120), 1000);
            if index == 7 {
                // k0 is used again, so k1 and k2 are the least recent when the budget is full.
                assert!(kept.get("k0").is_some());
            }
        }
        assert_eq!(kept.bytes, 8 * 122);
        assert!(kept.get("k0").is_some());
        assert!(kept.get("k1").is_none());
        assert!(kept.get("k2").is_none());
        assert!(kept.get("k3").is_some());
        assert!(kept.get("k9").is_some());
        // Larger than an eighth of the budget: answered, not kept.
        kept.put("big".into(), body(200), 1000);
        assert!(kept.get("big").is_none());
        // The same key again replaces, and the accounting follows.
        kept.put("k9".into(), body(50), 1000);
        assert_eq!(kept.bytes, 8 * 122 - 70);
    }
}
