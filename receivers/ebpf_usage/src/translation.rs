//! Keeps the [`NatTable`] in step with conntrack: subscribe to its events first, then read the
//! whole table (so nothing falls between the two), then apply events as they come; read it
//! whole again every few minutes and whenever events were lost.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use spider_collector::Counter;
use spider_collector::records::Timestamp;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::conntrack::{self, Event, Events};
use crate::nat::{NatTable, Translation};

/// How often the whole table is read again, to bring back translations pruned while idle.
const RESYNC: Duration = Duration::from_secs(300);
/// The kernel's "no buffer space": events were dropped because the socket was full.
const ENOBUFS: i32 = 105;
/// Events held while the table is read whole; beyond it they are dropped and the table is
/// read again.
const MAX_HELD_EVENTS: usize = 100_000;

/// The task that follows conntrack.
pub struct Follower {
    /// The table the usage poller rewrites with.
    pub nat: Arc<Mutex<NatTable>>,
    /// Ends the task.
    pub stop: CancellationToken,
    /// Counts full reads.
    pub resyncs: Counter,
    /// The receiver's name, for the log.
    pub receiver: String,
}

impl Follower {
    /// Runs until stopped; without conntrack it says so and ends, and usage is counted
    /// untranslated. Events keep being read while the table is read whole (events that arrive
    /// meanwhile are applied after it, so a destroy is never undone by an older dump).
    pub async fn run(self) {
        let mut events = match Events::subscribe() {
            Ok(events) => events,
            Err(error) => {
                tracing::warn!(receiver = %self.receiver, %error, "service translation is off (conntrack events unavailable): connections through a Service are counted under the Service address");
                return;
            }
        };
        let mut resync = tokio::time::interval(RESYNC);
        let mut dump: Option<JoinHandle<io::Result<Vec<Translation>>>> = None;
        let mut held: Vec<Event> = Vec::new();
        let mut lost = false;
        loop {
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = resync.tick(), if dump.is_none() => {
                    dump = Some(tokio::task::spawn_blocking(conntrack::dump));
                }
                read = async { dump.as_mut().expect("guarded").await }, if dump.is_some() => {
                    dump = None;
                    self.apply_dump(read.unwrap_or_else(|e| Err(io::Error::other(e.to_string()))));
                    self.apply(&held);
                    held.clear();
                    if std::mem::take(&mut lost) {
                        dump = Some(tokio::task::spawn_blocking(conntrack::dump));
                    }
                }
                read = events.next() => match read {
                    Ok(list) if dump.is_some() => {
                        if held.len() + list.len() > MAX_HELD_EVENTS {
                            lost = true;
                        } else {
                            held.extend(list);
                        }
                    }
                    Ok(list) => self.apply(&list),
                    Err(error) if error.raw_os_error() == Some(ENOBUFS) => {
                        tracing::warn!(receiver = %self.receiver, "conntrack events were lost under load; reading the whole table again");
                        if dump.is_some() {
                            lost = true;
                        } else {
                            dump = Some(tokio::task::spawn_blocking(conntrack::dump));
                        }
                    }
                    Err(error) => {
                        tracing::warn!(receiver = %self.receiver, %error, "reading conntrack events failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                },
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, NatTable> {
        self.nat.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn apply(&self, events: &[Event]) {
        let now = Timestamp::now().as_micros();
        let mut nat = self.lock();
        for event in events {
            match *event {
                Event::New(translation) => nat.insert(translation, now),
                Event::Destroyed(original) => nat.destroyed(original, now),
            }
        }
    }

    fn apply_dump(&self, read: io::Result<Vec<Translation>>) {
        match read {
            Ok(translations) => {
                self.resyncs.add(1);
                let now = Timestamp::now().as_micros();
                let mut nat = self.lock();
                for translation in translations {
                    nat.insert(translation, now);
                }
            }
            Err(error) => {
                tracing::warn!(receiver = %self.receiver, %error, "reading the conntrack table failed")
            }
        }
    }
}
