//! Optional periodic ticks for components that act on time (expiring state, rolling files).

use std::time::Duration;

use tokio::time::{Interval, MissedTickBehavior};

/// A ticker at `every`, or none; late ticks are delayed rather than bunched.
pub(crate) fn ticker(every: Option<Duration>) -> Option<Interval> {
    every.map(|every| {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    })
}

/// The next tick; never, without a ticker.
pub(crate) async fn next_tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}
