//! Which final snapshots of drained actors run when, and which are given up.
//!
//! `DistActor::snapshot` is user code: the node layer runs it on worker jobs, never on the
//! supervisor's task. A join moves thousands of actors at once, so the snapshots do not get
//! a job each: at most [`MAX_JOBS`] jobs run at once (not counting slow ones, below), each
//! taking the next queued state until the queue is empty.
//!
//! Each actor keeps its own deadline (the handoff deadline, counted from when its state was
//! queued), and a slow or hung snapshot holds up only its own actor: a watchdog starts
//! another job when every running one has been on the same state for
//! [`Timing::snapshot_slow_ms`](crate::core::timing::Timing::snapshot_slow_ms), a job that
//! slow does not count against the limit, and a snapshot that outlasts its deadline is given
//! up (the actor then moves with its fallback state; the job is abandoned and its late
//! result dropped). A state still queued at its deadline is given up without running.
//!
//! This is the pure part: the node layer owns the jobs (threads), the clock and the user's
//! states (`T`), and calls, in any order, under one lock:
//!
//! ```text
//!  node layer                                     SnapshotJobs
//!  a drained actor's state ──push(actor, T, now)──► queued; returns jobs to start
//!  a job wants work        ──next(job, now)───────► Run(actor, T) | Late(actor) | Exit
//!  a job's snapshot ended  ──finished(job)────────► report it? (false: given up)
//!  the watchdog wakes      ──watch(now)───────────► late actors, jobs to start, next wake
//! ```

use std::collections::VecDeque;

use crate::core::engine::ChildId;
use crate::core::timing::Timing;
use crate::core::Millis;

/// Snapshot jobs running at once (slow ones not counted).
pub const MAX_JOBS: usize = 4;

/// A job's number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct JobId(pub u64);

/// What a job does next (see [`SnapshotJobs::next`]).
#[derive(Debug)]
pub enum Next<T> {
    /// Snapshot this actor's state.
    Run(ChildId, T),
    /// This actor's state waited past its deadline: report it late (the job then asks
    /// again).
    Late(ChildId, T),
    /// Nothing left, or the watchdog gave up on this job: the job ends.
    Exit,
}

/// What the watchdog found (see [`SnapshotJobs::watch`]).
#[derive(Debug)]
pub struct Watch<T> {
    /// Actors whose snapshot is given up (running or queued past their deadline); a
    /// running one's job is abandoned.
    pub late: Vec<ChildId>,
    /// The states of the queued ones among `late` (to drop).
    pub dropped: Vec<T>,
    /// Jobs to start beside slow ones.
    pub start: Vec<JobId>,
    /// When to look again; `None` when no job runs (the watchdog ends).
    pub wake_at: Option<Millis>,
}

struct Queued<T> {
    actor: ChildId,
    state: T,
    deadline: Millis,
}

#[derive(Clone, Copy)]
struct Current {
    actor: ChildId,
    /// When the job took it: after the slow threshold, the job no longer counts as running.
    started: Millis,
    deadline: Millis,
}

/// The queue of states to snapshot and the jobs working on it (see the module docs).
pub struct SnapshotJobs<T> {
    deadline_ms: u64,
    slow_ms: u64,
    waiting: VecDeque<Queued<T>>,
    /// Running jobs, with the state each is snapshotting now.
    jobs: Vec<(JobId, Option<Current>)>,
    next_job: u64,
}

impl<T> std::fmt::Debug for SnapshotJobs<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotJobs")
            .field("waiting", &self.waiting.len())
            .field("jobs", &self.jobs.len())
            .finish()
    }
}

impl<T> SnapshotJobs<T> {
    /// Records the states waiting for a job (see [`crate::core::footprint`]).
    pub fn footprint(&self, f: &mut crate::core::Footprint) {
        f.add("snapshots.waiting", self.waiting.len());
    }

    /// No states queued, no job running; deadlines and the slow threshold from `timing`.
    pub fn new(timing: &Timing) -> Self {
        Self {
            deadline_ms: timing.handoff_ms,
            slow_ms: timing.snapshot_slow_ms(),
            waiting: VecDeque::new(),
            jobs: Vec::new(),
            next_job: 0,
        }
    }

    /// Queues the final state of `actor` at `now`; returns the jobs to start (none while
    /// [`MAX_JOBS`] jobs that are not slow run).
    pub fn push(&mut self, actor: ChildId, state: T, now: Millis) -> Vec<JobId> {
        self.waiting.push_back(Queued {
            actor,
            state,
            deadline: Millis(now.0.saturating_add(self.deadline_ms)),
        });
        if self.busy_jobs(now) < MAX_JOBS {
            vec![self.start_job()]
        } else {
            Vec::new()
        }
    }

    /// Job `job` asks for its next state at `now`.
    pub fn next(&mut self, job: JobId, now: Millis) -> Next<T> {
        let Some(slot) = self.slot(job) else {
            return Next::Exit;
        };
        let Some(item) = self.waiting.pop_front() else {
            self.jobs.swap_remove(slot);
            return Next::Exit;
        };
        if now >= item.deadline {
            return Next::Late(item.actor, item.state);
        }
        self.jobs[slot].1 = Some(Current {
            actor: item.actor,
            started: now,
            deadline: item.deadline,
        });
        Next::Run(item.actor, item.state)
    }

    /// Job `job` finished the snapshot it took: true if its result is to be reported,
    /// false if the watchdog gave up on it meanwhile (its actor moved on; the job ends).
    pub fn finished(&mut self, job: JobId) -> bool {
        match self.slot(job) {
            Some(slot) => {
                self.jobs[slot].1 = None;
                true
            }
            None => false,
        }
    }

    /// Whether no job runs (a watchdog has nothing to watch).
    pub fn idle(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The watchdog at `now`: gives up on snapshots past their deadline, starts jobs
    /// beside slow ones for the states still queued, and says when to look again (the next
    /// job to turn slow or snapshot to pass its deadline, and at least every slow
    /// threshold, since a job may take its next state meanwhile).
    pub fn watch(&mut self, now: Millis) -> Watch<T> {
        let mut late = Vec::new();
        self.jobs.retain(|(_, current)| match current {
            Some(c) if c.deadline <= now => {
                late.push(c.actor);
                false
            }
            _ => true,
        });
        let mut dropped = Vec::new();
        while self.waiting.front().is_some_and(|i| i.deadline <= now) {
            if let Some(item) = self.waiting.pop_front() {
                late.push(item.actor);
                dropped.push(item.state);
            }
        }
        // Jobs between two states take queued ones: only the rest need a new job.
        let between = self.jobs.iter().filter(|(_, c)| c.is_none()).count();
        let mut start = Vec::new();
        let mut starting = self.waiting.len().saturating_sub(between);
        while starting > 0 && self.busy_jobs(now) < MAX_JOBS {
            start.push(self.start_job());
            starting -= 1;
        }
        let wake_at = (!self.jobs.is_empty()).then(|| self.wake_at(now));
        Watch {
            late,
            dropped,
            start,
            wake_at,
        }
    }

    fn wake_at(&self, now: Millis) -> Millis {
        let slow = self.slow_ms;
        let running = self.jobs.iter().filter_map(|(_, c)| *c).map(|c| {
            let turns_slow = Millis(c.started.0.saturating_add(slow));
            if now < turns_slow {
                turns_slow
            } else {
                c.deadline
            }
        });
        running
            .chain(self.waiting.front().map(|i| i.deadline))
            .chain([Millis(now.0.saturating_add(slow.max(1)))])
            .min()
            .unwrap_or(now)
    }

    fn slot(&self, job: JobId) -> Option<usize> {
        self.jobs.iter().position(|(j, _)| *j == job)
    }

    /// Jobs that are not slow at `now`.
    fn busy_jobs(&self, now: Millis) -> usize {
        let slow = |c: &Option<Current>| {
            c.is_some_and(|c| now.0 >= c.started.0.saturating_add(self.slow_ms))
        };
        self.jobs.iter().filter(|(_, c)| !slow(c)).count()
    }

    fn start_job(&mut self) -> JobId {
        let job = JobId(self.next_job);
        self.next_job += 1;
        self.jobs.push((job, None));
        job
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jobs() -> SnapshotJobs<&'static str> {
        // Deadline 800 ms, slow after 100 ms.
        SnapshotJobs::new(&Timing {
            handoff_ms: 800,
            ..Timing::default()
        })
    }

    #[test]
    fn at_most_four_jobs_run_and_each_takes_states_until_none_is_left() {
        let mut p = jobs();
        let mut started = Vec::new();
        for i in 0..10 {
            started.extend(p.push(ChildId(i), "s", Millis(0)));
        }
        assert_eq!(started.len(), MAX_JOBS);
        let mut ran = Vec::new();
        for job in &started {
            while let Next::Run(actor, _) = p.next(*job, Millis(1)) {
                assert!(p.finished(*job));
                ran.push(actor.0);
            }
        }
        assert_eq!(ran, (0..10).collect::<Vec<_>>());
        assert!(p.idle());
        assert_eq!(
            p.watch(Millis(2)).wake_at,
            None,
            "no job: the watchdog ends"
        );
    }

    #[test]
    fn slow_jobs_get_a_job_beside_them_and_are_given_up_at_their_deadline() {
        let mut p = jobs();
        let mut hung = Vec::new();
        for i in 0..4 {
            let job = p.push(ChildId(i), "hung", Millis(0))[0];
            assert!(matches!(p.next(job, Millis(0)), Next::Run(..)));
            hung.push(job);
        }
        assert!(
            p.push(ChildId(9), "s", Millis(10)).is_empty(),
            "four busy jobs"
        );
        // The hung jobs turn slow at 100 ms: the watchdog wakes then.
        assert_eq!(p.watch(Millis(10)).wake_at, Some(Millis(100)));
        let w = p.watch(Millis(100));
        assert!(w.late.is_empty());
        assert_eq!(w.start.len(), 1, "one job for the one queued state");
        let job = w.start[0];
        assert!(matches!(p.next(job, Millis(101)), Next::Run(ChildId(9), _)));
        assert!(p.finished(job));
        assert!(matches!(p.next(job, Millis(102)), Next::Exit));
        // Only the hung ones run: looked at every slow threshold, given up at the deadline.
        assert_eq!(p.watch(Millis(150)).wake_at, Some(Millis(250)));
        assert_eq!(p.watch(Millis(750)).wake_at, Some(Millis(800)));
        let w = p.watch(Millis(800));
        assert_eq!(w.late, (0..4).map(ChildId).collect::<Vec<_>>());
        assert_eq!(w.wake_at, None);
        assert!(!p.finished(hung[0]), "a late result is dropped");
        assert!(matches!(p.next(hung[0], Millis(900)), Next::Exit));
        assert!(p.idle());
    }

    #[test]
    fn the_watchdog_starts_no_job_for_a_state_a_started_job_will_take() {
        let mut p = jobs();
        assert_eq!(p.push(ChildId(1), "s", Millis(0)).len(), 1);
        let w = p.watch(Millis(0));
        assert!(w.start.is_empty(), "the job just started takes it");
        assert_eq!(w.wake_at, Some(Millis(100)));
    }

    #[test]
    fn a_state_queued_past_its_deadline_is_late_without_running() {
        let mut p = jobs();
        let job = p.push(ChildId(1), "a", Millis(0))[0];
        assert!(matches!(
            p.next(job, Millis(900)),
            Next::Late(ChildId(1), "a")
        ));
        assert!(matches!(p.next(job, Millis(900)), Next::Exit));
        // Queued behind four hung jobs: the watchdog gives it up.
        let mut p = jobs();
        for i in 0..4 {
            let job = p.push(ChildId(i), "h", Millis(0))[0];
            assert!(matches!(p.next(job, Millis(0)), Next::Run(..)));
        }
        assert!(p.push(ChildId(9), "q", Millis(0)).is_empty());
        let w = p.watch(Millis(800));
        assert_eq!(w.late.len(), 5);
        assert_eq!(w.dropped, vec!["q"]);
        assert_eq!(w.wake_at, None);
    }
}
