//! A running source: the tasks that follow it and how many kinds of object it has listed, so a
//! component can hold its start (`wait_for_metadata`) or pass records through until it is ready,
//! whether it follows the API itself or a controller.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinSet;

/// The kinds every source lists: what the index is built from.
pub const KINDS: [&str; 6] = [
    "Pod",
    "Node",
    "Service",
    "ReplicaSet",
    "Job",
    "EndpointSlice",
];

/// A source's running tasks.
pub struct Follower {
    tasks: JoinSet<()>,
    listed: watch::Receiver<usize>,
}

/// Marks kinds listed, for the first time each.
#[derive(Clone)]
pub struct Listed(Arc<watch::Sender<usize>>);

impl Listed {
    /// One more kind listed.
    pub fn one_more(&self) {
        self.0.send_modify(|listed| *listed += 1);
    }
}

impl Follower {
    /// A follower with no tasks yet, and the handle its tasks mark listed kinds with.
    pub fn new() -> (Self, Listed) {
        let (sender, listed) = watch::channel(0usize);
        let follower = Self {
            tasks: JoinSet::new(),
            listed,
        };
        (follower, Listed(Arc::new(sender)))
    }

    /// Runs `task` until [`Follower::stop`].
    pub fn spawn(&mut self, task: impl Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Whether every kind has been listed at least once.
    pub fn ready(&self) -> bool {
        *self.listed.borrow() >= KINDS.len()
    }

    /// Waits until every kind has been listed.
    pub async fn wait_ready(&mut self) {
        let _ = self.listed.wait_for(|listed| *listed >= KINDS.len()).await;
    }

    /// Stops every task.
    pub async fn stop(&mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}

/// Now, microseconds since the epoch: when a source saw an object gone.
pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
