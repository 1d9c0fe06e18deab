//! The final snapshots of drained actors, taken off the supervisor's task.
//!
//! `DistActor::snapshot` is user code: it runs on the blocking pool, never on the
//! supervisor's task. A join moves thousands of actors at once, so the snapshots do not get
//! a task and a blocking-pool job each (a thread handoff per actor, and new threads during
//! the burst): at most `MAX_JOBS` jobs run at once (not counting slow ones, below), each
//! taking the next queued state until the queue is empty, and their results reach the
//! supervisor in bulk (one `Snapshotted` message for every result that came in while the
//! previous one waited).
//!
//! Each actor keeps its own deadline (the handoff timeout, counted from its exit), and a
//! slow or hung snapshot holds up only its own actor: a watchdog starts another job when
//! every running one has been on the same state for an eighth of the deadline (a job that
//! slow does not count against the limit), and gives up on a snapshot that outlasts its
//! deadline (the actor then moves with its fallback state, a counted fallback; the job is
//! abandoned and its late result dropped).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ractor::actor::messages::BoxedState;
use ractor::ActorRef;

use super::SupervisorMsg;
use crate::core::{ChildId, Snapshot};
use crate::node::kind::ErasedKind;

/// Snapshot jobs running at once on the blocking pool.
pub(super) const MAX_JOBS: usize = 4;

/// The outcome of one snapshot: the state, `None` for a kind without one, or why not.
pub(super) type Outcome = (ChildId, Result<Option<Snapshot>, String>);

/// The queue of final states to snapshot and the results not yet taken by the supervisor.
#[derive(Clone)]
pub(super) struct Snapshots {
    inner: Arc<Mutex<Queue>>,
    supervisor: ActorRef<SupervisorMsg>,
    deadline: Duration,
}

struct Item {
    actor: ChildId,
    kind: Arc<dyn ErasedKind>,
    state: BoxedState,
    deadline: Instant,
}

#[derive(Clone, Copy)]
struct Current {
    actor: ChildId,
    /// When the job took it: after `slow_after`, the job no longer counts as running.
    started: Instant,
    deadline: Instant,
}

#[derive(Default)]
struct Queue {
    waiting: VecDeque<Item>,
    /// Running jobs by number, with the state each is snapshotting now.
    jobs: Vec<(u64, Option<Current>)>,
    next_job: u64,
    done: Vec<Outcome>,
    /// A `Snapshotted` message is on its way (it takes `done`).
    notified: bool,
    watchdog: bool,
}

impl Snapshots {
    pub(super) fn new(supervisor: ActorRef<SupervisorMsg>, deadline: Duration) -> Self {
        Self {
            inner: Arc::default(),
            supervisor,
            deadline,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues the final state of `actor` (its result comes in a later `take`).
    pub(super) fn push(&self, actor: ChildId, kind: Arc<dyn ErasedKind>, state: BoxedState) {
        let deadline = Instant::now() + self.deadline;
        let mut queue = self.lock();
        queue.waiting.push_back(Item {
            actor,
            kind,
            state,
            deadline,
        });
        if self.busy_jobs(&queue, Instant::now()) < MAX_JOBS {
            self.start_job(&mut queue);
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

    /// A job on one state this long is slow: another may start beside it.
    fn slow_after(&self) -> Duration {
        self.deadline / 8
    }

    /// Jobs that are not slow.
    fn busy_jobs(&self, queue: &Queue, now: Instant) -> usize {
        let slow = self.slow_after();
        let slow = |c: &Option<Current>| c.is_some_and(|c| now >= c.started + slow);
        queue.jobs.iter().filter(|(_, c)| !slow(c)).count()
    }

    fn start_job(&self, queue: &mut Queue) {
        let job = queue.next_job;
        queue.next_job += 1;
        queue.jobs.push((job, None));
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

    /// A job: snapshots queued states one by one until none is left, or until the watchdog
    /// gave up on the one it is taking (it is no longer among the jobs then).
    fn run_job(&self, job: u64) {
        loop {
            let item = {
                let mut queue = self.lock();
                let Some(slot) = queue.jobs.iter().position(|(j, _)| *j == job) else {
                    return;
                };
                let Some(item) = queue.waiting.pop_front() else {
                    queue.jobs.swap_remove(slot);
                    return;
                };
                if Instant::now() >= item.deadline {
                    self.report(&mut queue, (item.actor, Err(late(self.deadline))));
                    continue;
                }
                queue.jobs[slot].1 = Some(Current {
                    actor: item.actor,
                    started: Instant::now(),
                    deadline: item.deadline,
                });
                item
            };
            let Item {
                actor, kind, state, ..
            } = item;
            let result =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| kind.snapshot(state)))
                    .unwrap_or_else(|_| Err("snapshot panicked".to_string()));
            let mut queue = self.lock();
            let Some(slot) = queue.jobs.iter().position(|(j, _)| *j == job) else {
                // Given up on: its actor moved on with its fallback state.
                return;
            };
            queue.jobs[slot].1 = None;
            self.report(&mut queue, (actor, result));
        }
    }

    /// Starts jobs beside slow ones and gives up on snapshots past their deadline (see the
    /// module docs); runs while jobs do.
    async fn watch(self) {
        let slow = self.slow_after();
        loop {
            let wake = {
                let mut queue = self.lock();
                if queue.jobs.is_empty() {
                    queue.watchdog = false;
                    return;
                }
                // The next job to turn slow or state to pass its deadline (queued ones are
                // in deadline order), and at least every `slow` (a job takes its next state
                // after this was worked out).
                let now = Instant::now();
                let running = queue.jobs.iter().filter_map(|(_, c)| *c).map(|c| {
                    match now < c.started + slow {
                        true => c.started + slow,
                        false => c.deadline,
                    }
                });
                running
                    .chain(queue.waiting.front().map(|i| i.deadline))
                    .chain([now + slow])
                    .min()
                    .unwrap_or(now)
            };
            tokio::time::sleep_until(wake.into()).await;
            let mut queue = self.lock();
            let now = Instant::now();
            let stuck: Vec<(u64, ChildId)> = queue
                .jobs
                .iter()
                .filter_map(|(job, c)| c.filter(|c| c.deadline <= now).map(|c| (*job, c.actor)))
                .collect();
            for (job, actor) in stuck {
                queue.jobs.retain(|(j, _)| *j != job);
                self.report(&mut queue, (actor, Err(late(self.deadline))));
            }
            while queue.waiting.front().is_some_and(|i| i.deadline <= now) {
                if let Some(item) = queue.waiting.pop_front() {
                    self.report(&mut queue, (item.actor, Err(late(self.deadline))));
                }
            }
            let mut starting = queue.waiting.len();
            while starting > 0 && self.busy_jobs(&queue, now) < MAX_JOBS {
                self.start_job(&mut queue);
                starting -= 1;
            }
        }
    }
}

fn late(deadline: Duration) -> String {
    format!("snapshot took longer than the handoff deadline ({deadline:?})")
}
