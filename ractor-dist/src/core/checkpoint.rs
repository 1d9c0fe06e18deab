//! When an actor checkpoints its state: the policy of a kind ([`Checkpoints`]) and the
//! per-actor decisions under it ([`CheckpointClock`]).
//!
//! Use a [`CheckpointClock`] per running actor: tell it each handled message
//! ([`CheckpointClock::handle_message`]) and each `CheckpointDue` it asked for
//! ([`CheckpointClock::handle_due`]), with the time; it answers whether a checkpoint is due
//! now, later, or not at all. When one is taken, it says whether a delta may stand for it
//! ([`CheckpointClock::takes_delta`]) and is told what was sent. It never reads a clock nor
//! schedules anything: the node layer takes the snapshot, sends the timer message and hands
//! the checkpoint to the replicas.

use std::time::Duration;

use super::identity::Millis;

/// When a kind checkpoints its state (see [`crate::DistActor::CHECKPOINTS`], the default,
/// and [`crate::Kinds::with_checkpoints`] / [`crate::DistNode::set_checkpoints`] to choose
/// it at run time): after every `every_messages` handled messages, and/or once `every` has
/// passed since the last checkpoint while messages changed the state. A checkpoint is taken
/// with [`crate::DistActor::snapshot`] inside the actor, between two messages, and sent to
/// the replicas of the name; a crash loses at most what was handled since.
///
/// Two settings make frequent checkpoints of large states cheap:
///
/// - `coalesce`: a checkpoint due by count waits this long (zero: until the messages
///   already in the mailbox are handled), so a burst of messages makes one checkpoint;
/// - deltas: a kind that implements [`crate::DistActor::checkpoint_delta`] sends only what
///   changed, with a whole checkpoint first in each activation, after `full_every` deltas,
///   and whenever the deltas since the last whole one outweigh it.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ractor_dist::Checkpoints;
///
/// const EACH_MESSAGE: Checkpoints = Checkpoints::every_messages(1);
/// const BOUNDED: Checkpoints = Checkpoints::every_messages(100).or_every(Duration::from_secs(1));
/// const BURSTS: Checkpoints = Checkpoints::every_messages(1).coalesce(Duration::ZERO);
/// assert!(Checkpoints::OFF.is_off() && !EACH_MESSAGE.is_off() && !BOUNDED.is_off());
/// assert_eq!(BURSTS.coalesce, Some(Duration::ZERO));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoints {
    /// Checkpoint after this many messages (0: not by count).
    pub every_messages: u32,
    /// Checkpoint when this much time passed since the last one and a message arrived
    /// since (`None`: not by time).
    pub every: Option<Duration>,
    /// A checkpoint due by count is taken this long later (zero: once the messages already
    /// queued are handled), covering every message handled meanwhile (`None`: at once).
    pub coalesce: Option<Duration>,
    /// With [`crate::DistActor::checkpoint_delta`]: at most this many deltas between two
    /// whole checkpoints (default 100; 0: never deltas).
    pub full_every: u32,
}

impl Checkpoints {
    /// No checkpoints.
    pub const OFF: Checkpoints = Checkpoints {
        every_messages: 0,
        every: None,
        coalesce: None,
        full_every: 100,
    };

    /// A checkpoint after every `n` messages.
    pub const fn every_messages(n: u32) -> Self {
        Checkpoints {
            every_messages: n,
            ..Self::OFF
        }
    }

    /// A checkpoint at most `interval` after a message changed the state.
    pub const fn every(interval: Duration) -> Self {
        Checkpoints {
            every: Some(interval),
            ..Self::OFF
        }
    }

    /// Adds a time bound to a count bound.
    pub const fn or_every(self, interval: Duration) -> Self {
        Checkpoints {
            every: Some(interval),
            ..self
        }
    }

    /// Coalesces the checkpoints due by count over `window` (zero: over the messages
    /// already queued when one is due).
    pub const fn coalesce(self, window: Duration) -> Self {
        Checkpoints {
            coalesce: Some(window),
            ..self
        }
    }

    /// At most `n` delta checkpoints between two whole ones (0: no deltas).
    pub const fn full_every(self, n: u32) -> Self {
        Checkpoints {
            full_every: n,
            ..self
        }
    }

    /// True when no checkpoint is ever taken.
    pub const fn is_off(&self) -> bool {
        self.every_messages == 0 && self.every.is_none()
    }
}

/// What a handled message makes due ([`CheckpointClock::handle_message`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Nothing now: no checkpoint, and no `CheckpointDue` to send (none is needed, or one
    /// is already on its way).
    No,
    /// Take a checkpoint now, before the next message.
    Now,
    /// Send the actor a `CheckpointDue` behind the messages already in its mailbox (a
    /// checkpoint coalesced over them).
    Queued,
    /// Send the actor a `CheckpointDue` after this long (the time bound, or a coalescing
    /// window).
    After(Duration),
}

/// One running actor's checkpoints under its kind's [`Checkpoints`] policy: the messages
/// handled since the last checkpoint and when it was taken, whether a `CheckpointDue` is on
/// its way, and the chain of deltas since the last whole checkpoint.
///
/// Every "take one now" answer ([`Due::Now`], a true [`CheckpointClock::handle_due`] or
/// [`CheckpointClock::handle_replaced`]) starts the next interval at once: the caller takes
/// the checkpoint and reports it with [`CheckpointClock::sent_delta`],
/// [`CheckpointClock::sent_whole`] or [`CheckpointClock::whole_failed`].
///
/// The policy is passed to every call (a node may change it while the actor runs).
///
/// # Examples
///
/// ```
/// use ractor_dist::core::checkpoint::{CheckpointClock, Due};
/// use ractor_dist::core::Millis;
/// use ractor_dist::Checkpoints;
///
/// let policy = Checkpoints::every_messages(2);
/// let mut clock = CheckpointClock::new(Millis(0));
/// assert_eq!(clock.handle_message(&policy, Millis(1)), Due::No);
/// assert_eq!(clock.handle_message(&policy, Millis(2)), Due::Now);
/// // The first checkpoint of an activation is whole; deltas may follow it.
/// assert!(!clock.takes_delta(&policy, 10));
/// clock.sent_whole(100);
/// assert!(clock.takes_delta(&policy, 10));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointClock {
    /// Messages handled since the last checkpoint.
    dirty: u64,
    /// When the last checkpoint was taken (or the actor started).
    last: Millis,
    /// A `CheckpointDue` is on its way.
    due_in_flight: bool,
    /// The next checkpoint must be whole (the first of the activation, or after a failure
    /// or a replaced state).
    whole: bool,
    /// Deltas since the last whole checkpoint, and their bytes.
    deltas: u32,
    delta_bytes: usize,
    /// The last whole checkpoint's bytes.
    whole_bytes: usize,
}

impl CheckpointClock {
    /// The clock of an actor started at `now`: nothing handled yet, a whole checkpoint
    /// first.
    pub fn new(now: Millis) -> Self {
        CheckpointClock {
            dirty: 0,
            last: now,
            due_in_flight: false,
            whole: true,
            deltas: 0,
            delta_bytes: 0,
            whole_bytes: 0,
        }
    }

    /// The actor handled a message at `now`: a checkpoint is due now, once the queued
    /// messages are handled, later, or not yet. With the policy off nothing is counted.
    ///
    /// By count (`every_messages`), a checkpoint is due at once, or after the coalescing
    /// window; otherwise by time (`every`), at once when the interval since the last one
    /// has passed, else when it will have. At most one `CheckpointDue` is asked for at a
    /// time.
    pub fn handle_message(&mut self, policy: &Checkpoints, now: Millis) -> Due {
        if policy.is_off() {
            return Due::No;
        }
        self.dirty += 1;
        if policy.every_messages > 0 && self.dirty >= u64::from(policy.every_messages) {
            return match policy.coalesce {
                None => self.start(now),
                Some(window) => self.schedule(window),
            };
        }
        let Some(every) = policy.every else {
            return Due::No;
        };
        let elapsed = Duration::from_millis(now.since(self.last));
        if elapsed >= every {
            self.start(now)
        } else {
            self.schedule(every - elapsed)
        }
    }

    /// The `CheckpointDue` asked for arrived at `now`: true when a checkpoint is to be
    /// taken now (messages were handled since the last one and the policy is on).
    #[must_use]
    pub fn handle_due(&mut self, policy: &Checkpoints, now: Millis) -> bool {
        self.due_in_flight = false;
        if self.dirty > 0 && !policy.is_off() {
            self.start(now);
            return true;
        }
        false
    }

    /// The actor's state was replaced at `now` (a conflicting copy taken or merged): no
    /// delta describes it, so the next checkpoint is whole; true when it is to be taken
    /// now (the policy is on).
    #[must_use]
    pub fn handle_replaced(&mut self, policy: &Checkpoints, now: Millis) -> bool {
        self.whole = true;
        if policy.is_off() {
            return false;
        }
        self.start(now);
        true
    }

    /// A delta of `bytes` may be sent for the checkpoint being taken: deltas are on, a
    /// whole checkpoint precedes it, fewer than `full_every` followed it, and with this one
    /// they do not outweigh it.
    pub fn takes_delta(&self, policy: &Checkpoints, bytes: usize) -> bool {
        !self.whole
            && self.deltas < policy.full_every
            && self.delta_bytes.saturating_add(bytes) <= self.whole_bytes
    }

    /// A delta of `bytes` was sent.
    pub fn sent_delta(&mut self, bytes: usize) {
        self.deltas += 1;
        self.delta_bytes += bytes;
    }

    /// A whole checkpoint of `bytes` was sent: deltas may follow it.
    pub fn sent_whole(&mut self, bytes: usize) {
        self.whole = false;
        self.deltas = 0;
        self.delta_bytes = 0;
        self.whole_bytes = bytes;
    }

    /// A whole checkpoint could not be taken: the next one must be whole.
    pub fn whole_failed(&mut self) {
        self.whole = true;
    }

    /// A checkpoint starts now: the count and the interval start again.
    fn start(&mut self, now: Millis) -> Due {
        self.dirty = 0;
        self.last = now;
        Due::Now
    }

    /// A `CheckpointDue` after `after` (zero: behind the queued messages), unless one is on
    /// its way.
    fn schedule(&mut self, after: Duration) -> Due {
        if std::mem::replace(&mut self.due_in_flight, true) {
            return Due::No;
        }
        if after.is_zero() {
            Due::Queued
        } else {
            Due::After(after)
        }
    }
}

#[cfg(test)]
mod tests;
