//! The final snapshots of drained actors, taken off the supervisor's task.
//!
//! `DistActor::snapshot` is user code: it runs on the blocking pool, never on the
//! supervisor's task. Which state runs on which job, when a job starts beside slow ones and
//! which snapshots are given up is decided by [`crate::core::snapshot_jobs`]; this module
//! runs the jobs (blocking-pool threads), the watchdog (a task) and the clock, and hands the
//! results to the supervisor in bulk (one `Snapshotted` message for every result that came
//! in while the previous one waited).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ractor::actor::messages::BoxedState;
use ractor::ActorRef;

use super::SupervisorMsg;
use crate::core::snapshot_jobs::{JobId, Next, SnapshotJobs};
use crate::core::timing::Timing;
use crate::core::{ChildId, Millis, Snapshot};
use crate::node::kind::ErasedKind;

/// The outcome of one snapshot: the state, `None` for a kind without one, or why not.
pub(super) type Outcome = (ChildId, Result<Option<Snapshot>, String>);

type State = (Arc<dyn ErasedKind>, BoxedState);

/// The queue of final states to snapshot and the results not yet taken by the supervisor.
#[derive(Clone)]
pub(super) struct Snapshots {
    inner: Arc<Mutex<Queue>>,
    supervisor: ActorRef<SupervisorMsg>,
    deadline: Duration,
    /// The origin of the `Millis` the core is given.
    origin: Instant,
}

struct Queue {
    jobs: SnapshotJobs<State>,
    done: Vec<Outcome>,
    /// A `Snapshotted` message is on its way (it takes `done`).
    notified: bool,
    watchdog: bool,
}

impl Snapshots {
    pub(super) fn new(supervisor: ActorRef<SupervisorMsg>, timing: &Timing) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Queue {
                jobs: SnapshotJobs::new(timing),
                done: Vec::new(),
                notified: false,
                watchdog: false,
            })),
            supervisor,
            deadline: Duration::from_millis(timing.handoff_ms),
            origin: Instant::now(),
        }
    }

    /// Records the states queued and the results not taken yet (see
    /// [`crate::core::footprint`]).
    pub(super) fn footprint(&self, f: &mut crate::core::Footprint) {
        let queue = self.lock();
        queue.jobs.footprint(f);
        f.add("snapshots.done", queue.done.len());
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now(&self) -> Millis {
        Millis(self.origin.elapsed().as_millis() as u64)
    }

    /// Queues the final state of `actor` (its result comes in a later `take`).
    pub(super) fn push(&self, actor: ChildId, kind: Arc<dyn ErasedKind>, state: BoxedState) {
        let mut queue = self.lock();
        let now = self.now();
        for job in queue.jobs.push(actor, (kind, state), now) {
            self.start_job(job);
        }
        if !queue.watchdog {
            queue.watchdog = true;
            let this = self.clone();
            tokio::spawn(async move { this.watch().await });
        }
    }

    /// The results so far (the supervisor calls this on `Snapshotted`).
    pub(super) fn take(&self) -> Vec<Outcome> {
        let mut queue = self.lock();
        queue.notified = false;
        std::mem::take(&mut queue.done)
    }

    fn start_job(&self, job: JobId) {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.run_job(job));
    }

    fn report(&self, queue: &mut Queue, outcome: Outcome) {
        queue.done.push(outcome);
        if !queue.notified {
            queue.notified = true;
            let _ = self.supervisor.cast(SupervisorMsg::Snapshotted);
        }
    }

    fn late(&self) -> String {
        format!(
            "snapshot took longer than the handoff deadline ({:?})",
            self.deadline
        )
    }

    /// A job: snapshots the states the core gives it until it says to stop.
    fn run_job(&self, job: JobId) {
        loop {
            let (actor, (kind, state)) = {
                let mut queue = self.lock();
                let now = self.now();
                match queue.jobs.next(job, now) {
                    Next::Run(actor, state) => (actor, state),
                    Next::Late(actor, _) => {
                        self.report(&mut queue, (actor, Err(self.late())));
                        continue;
                    }
                    Next::Exit => return,
                }
            };
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| kind.snapshot(state)))
                    .unwrap_or_else(|_| Err("snapshot panicked".to_string()));
            let mut queue = self.lock();
            if !queue.jobs.finished(job) {
                // Given up on: its actor moved on with its fallback state.
                return;
            }
            self.report(&mut queue, (actor, result));
        }
    }

    /// Starts jobs beside slow ones and gives up on snapshots past their deadline, as the
    /// core says; runs while jobs do.
    async fn watch(self) {
        loop {
            let wake = {
                let mut queue = self.lock();
                let watch = queue.jobs.watch(self.now());
                for actor in watch.late {
                    self.report(&mut queue, (actor, Err(self.late())));
                }
                for job in watch.start {
                    self.start_job(job);
                }
                let Some(wake) = watch.wake_at else {
                    queue.watchdog = false;
                    return;
                };
                wake
            };
            let at = self.origin + Duration::from_millis(wake.0);
            tokio::time::sleep_until(at.into()).await;
        }
    }
}
