//! A running source: the tasks that follow it and how many kinds of object it has listed, so a
//! component can hold its start (`wait_for_metadata`) or pass records through until it is ready,
//! whether it follows the API itself or a controller.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinSet;

/// The kinds every source lists before records are enriched: what attribution is built from.
pub const KINDS: [&str; 6] = [
    "Pod",
    "Node",
    "Service",
    "ReplicaSet",
    "Job",
    "EndpointSlice",
];

/// The kinds NetworkPolicy verdicts need, followed too but not waited for: a source without them
/// (RBAC not granted, a controller of an earlier version) enriches as before and gives no verdict
/// (the index gives verdicts only once both are listed).
pub const POLICY_KINDS: [&str; 2] = ["Namespace", "NetworkPolicy"];

/// A source's running tasks.
pub struct Follower {
    tasks: JoinSet<()>,
    listed: watch::Receiver<usize>,
    failure: Arc<Mutex<Option<String>>>,
}

/// Marks kinds listed, for the first time each, and says what last failed.
#[derive(Clone)]
pub struct Listed {
    listed: Arc<watch::Sender<usize>>,
    failure: Arc<Mutex<Option<String>>>,
}

impl Listed {
    /// One more kind listed.
    pub fn one_more(&self) {
        self.listed.send_modify(|listed| *listed += 1);
    }

    /// What failed last (a refused feed, a watch error), for a start that waits to say why.
    pub fn failed(&self, error: &str) {
        *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(error.to_owned());
    }
}

impl Follower {
    /// A follower with no tasks yet, and the handle its tasks mark listed kinds with.
    pub fn new() -> (Self, Listed) {
        let (sender, listed) = watch::channel(0usize);
        let failure = Arc::new(Mutex::new(None));
        let follower = Self {
            tasks: JoinSet::new(),
            listed,
            failure: failure.clone(),
        };
        let handle = Listed {
            listed: Arc::new(sender),
            failure,
        };
        (follower, handle)
    }

    /// What failed last, if anything did.
    pub fn last_failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
