//! Timestamps as stored: microseconds since the Unix epoch, UTC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, microseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Microseconds in a minute: the width of a network-usage bucket.
pub const MICROS_PER_MINUTE: i64 = 60_000_000;

impl Timestamp {
    /// A timestamp from microseconds since the epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Self(micros)
    }

    /// A timestamp from whole seconds since the epoch.
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs * 1_000_000)
    }

    /// The current wall-clock time.
    pub fn now() -> Self {
        SystemTime::now().into()
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// The start of the minute this instant falls in (the usage bucket it belongs to).
    pub const fn minute_start(self) -> Self {
        Self(self.0.div_euclid(MICROS_PER_MINUTE) * MICROS_PER_MINUTE)
    }

    /// The signed time from `earlier` to `self`, in microseconds.
    pub const fn micros_since(self, earlier: Timestamp) -> i64 {
        self.0 - earlier.0
    }

    /// This instant moved by `micros`.
    pub const fn plus_micros(self, micros: i64) -> Self {
        Self(self.0 + micros)
    }
}

impl From<SystemTime> for Timestamp {
    fn from(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
            Ok(after) => Self(after.as_micros() as i64),
            Err(before) => Self(-(before.duration().as_micros() as i64)),
        }
    }
}

impl From<Timestamp> for SystemTime {
    fn from(time: Timestamp) -> Self {
        let magnitude = Duration::from_micros(time.0.unsigned_abs());
        if time.0 >= 0 {
            UNIX_EPOCH + magnitude
        } else {
            UNIX_EPOCH - magnitude
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minute_start_floors_also_before_the_epoch() {
        assert_eq!(
            Timestamp::from_micros(61_500_000).minute_start(),
            Timestamp::from_secs(60)
        );
        assert_eq!(
            Timestamp::from_micros(-1).minute_start(),
            Timestamp::from_secs(-60)
        );
    }

    #[test]
    fn system_time_round_trips() {
        let now = Timestamp::now();
        assert_eq!(Timestamp::from(SystemTime::from(now)), now);
        let before = Timestamp::from_micros(-5);
        assert_eq!(Timestamp::from(SystemTime::from(before)), before);
    }
}
