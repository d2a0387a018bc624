//! The circuit breaker of live capture: token buckets for packets and bytes per second.

use std::time::Instant;

/// Admits packets while under both rates; what it refuses is dropped and counted by the caller.
pub struct RateLimiter {
    packets: Option<Bucket>,
    bytes: Option<Bucket>,
}

struct Bucket {
    rate: f64,
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    fn new(rate: u64, now: Instant) -> Option<Self> {
        (rate > 0).then_some(Self {
            rate: rate as f64,
            // A full second's worth may burst.
            tokens: rate as f64,
            refilled: now,
        })
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.refilled = now;
    }
}

impl RateLimiter {
    /// A limiter for the given rates; 0 means unlimited.
    pub fn new(packets_per_second: u64, bytes_per_second: u64, now: Instant) -> Self {
        Self {
            packets: Bucket::new(packets_per_second, now),
            bytes: Bucket::new(bytes_per_second, now),
        }
    }

    /// Whether a packet of `bytes` may pass at `now`; takes its tokens if so.
    pub fn admit(&mut self, bytes: u32, now: Instant) -> bool {
        let cost = f64::from(bytes);
        for (bucket, needed) in [(&mut self.packets, 1.0), (&mut self.bytes, cost)] {
            if let Some(bucket) = bucket {
                bucket.refill(now);
                if bucket.tokens < needed {
                    return false;
                }
            }
        }
        for (bucket, needed) in [(&mut self.packets, 1.0), (&mut self.bytes, cost)] {
            if let Some(bucket) = bucket {
                bucket.tokens -= needed;
            }
        }
        true
    }
}
