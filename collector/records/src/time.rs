//! Timestamps as stored: microseconds since the Unix epoch, UTC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time, microseconds since 1970-01-01T00:00:00Z.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Microseconds in a minute: the width of a network-usage bucket.
pub const MICROS_PER_MINUTE: i64 = 60_000_000;

/// Microseconds in an hour (a partition of every dataset).
pub const MICROS_PER_HOUR: i64 = 3_600_000_000;

/// Microseconds in a second.
pub const MICROS_PER_SECOND: i64 = 1_000_000;

/// A duration in microseconds, saturating at `i64::MAX` (a span too long to matter).
pub fn duration_micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

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

    /// The UTC calendar date and hour: `(year, month, day, hour)`.
    pub const fn civil(self) -> (i64, u32, u32, u32) {
        let seconds = self.0.div_euclid(1_000_000);
        let days = seconds.div_euclid(86_400);
        let hour = (seconds.rem_euclid(86_400) / 3600) as u32;
        // Howard Hinnant's days-to-civil: exact for the proleptic Gregorian calendar.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
        let month = if shifted_month < 10 {
            shifted_month + 3
        } else {
            shifted_month - 9
        } as u32;
        let year = year_of_era + era * 400 + if month <= 2 { 1 } else { 0 };
        (year, month, day, hour)
    }

    /// Midnight (UTC) of a proleptic Gregorian date; the inverse of [`Timestamp::civil`]'s date.
    pub const fn from_date(year: i64, month: u32, day: u32) -> Self {
        // Howard Hinnant's days-from-civil.
        let year = if month <= 2 { year - 1 } else { year };
        let era = year.div_euclid(400);
        let year_of_era = year.rem_euclid(400);
        let shifted_month = if month > 2 { month - 3 } else { month + 9 } as i64;
        let day_of_year = (153 * shifted_month + 2) / 5 + day as i64 - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        let days = era * 146_097 + day_of_era - 719_468;
        Self(days * 86_400 * 1_000_000)
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
    fn civil_dates_match_known_instants() {
        assert_eq!(Timestamp::from_secs(0).civil(), (1970, 1, 1, 0));
        // 2026-11-21T05:59:59Z and the leap day 2024-02-29T23:00:00Z.
        assert_eq!(
            Timestamp::from_secs(1_795_240_799).civil(),
            (2026, 11, 21, 5)
        );
        assert_eq!(
            Timestamp::from_secs(1_709_247_600).civil(),
            (2024, 2, 29, 23)
        );
        assert_eq!(Timestamp::from_secs(-1).civil(), (1969, 12, 31, 23));
    }

    #[test]
    fn system_time_round_trips() {
        let now = Timestamp::now();
        assert_eq!(Timestamp::from(SystemTime::from(now)), now);
        let before = Timestamp::from_micros(-5);
        assert_eq!(Timestamp::from(SystemTime::from(before)), before);
    }
}
