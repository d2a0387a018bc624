//! Session ids unique across agents and runs, so a session's pcap download never mixes two
//! sessions: every tracker draws a random run number (31 bits, the top one set), and numbers its sessions after it.
//!
//! An id is `run << 32 | sequence`. The sequence numbers a run's sessions from 0 in the order of
//! their first packet, as tshark numbers `tcp.stream`; [`sequence`] reads it back. Ids stay below
//! 2^63, so a filter's integer holds them. Two runs share a run number with a chance of about
//! R²/2^31 for R runs in the lake (0.05 % for 1,000).

use std::hash::{BuildHasher, RandomState};
use std::time::SystemTime;

/// Hands out the session ids of one tracker.
#[derive(Debug)]
pub(crate) struct SessionIds {
    run: u64,
    next: u32,
}

impl SessionIds {
    /// Ids of a new run.
    pub(crate) fn new() -> Self {
        Self {
            run: random_run(),
            next: 0,
        }
    }

    /// The next id; a run that numbered 2^32 sessions goes on under a new run number.
    pub(crate) fn next_id(&mut self) -> u64 {
        let id = self.run << 32 | u64::from(self.next);
        match self.next.checked_add(1) {
            Some(next) => self.next = next,
            None => *self = Self::new(),
        }
        id
    }
}

/// Where a session came in its run: 0 for the first session of the run (tshark's `tcp.stream`
/// when one run read the whole capture).
pub fn sequence(id: u64) -> u32 {
    id as u32
}

/// A random run number in [2^30, 2^31): the process's random hash keys (drawn from the OS) over the
/// time and the process id.
fn random_run() -> u64 {
    let seed = (SystemTime::now(), std::process::id());
    // Above 2^30, so every id is beyond 2^53 and the API writes them all alike, as strings.
    1 << 30 | RandomState::new().hash_one(seed) >> 34
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_number_a_run_in_order_and_runs_apart() {
        let (mut a, mut b) = (SessionIds::new(), SessionIds::new());
        let first: Vec<u64> = (0..3).map(|_| a.next_id()).collect();
        assert_eq!(
            first.iter().map(|&id| sequence(id)).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert!(first.iter().all(|&id| (1 << 62..1 << 63).contains(&id)));
        assert_ne!(first[0], b.next_id(), "two runs draw different run numbers");
    }

    #[test]
    fn a_run_that_numbered_every_sequence_goes_on_under_a_new_run() {
        let mut ids = SessionIds {
            run: 5,
            next: u32::MAX,
        };
        assert_eq!(ids.next_id(), 5 << 32 | u64::from(u32::MAX));
        let next = ids.next_id();
        assert_eq!(sequence(next), 0);
        assert_ne!(next >> 32, 5);
    }
}
