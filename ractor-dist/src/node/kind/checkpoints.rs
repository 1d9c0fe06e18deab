//! When a kind checkpoints its state: [`Checkpoints`], and the per-kind policy a node can
//! change while it runs.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

/// When a kind checkpoints its state (see [`super::DistActor::CHECKPOINTS`], the default,
/// and [`crate::Kinds::with_checkpoints`] / [`crate::DistNode::set_checkpoints`] to choose
/// it at run time): after every `every_messages` handled messages, and/or once `every` has
/// passed since the last checkpoint while messages changed the state. A checkpoint is taken
/// with [`super::DistActor::snapshot`] inside the actor, between two messages, and sent to
/// the replicas of the name; a crash loses at most what was handled since.
///
/// Two settings make frequent checkpoints of large states cheap:
///
/// - `coalesce`: a checkpoint due by count waits this long (zero: until the messages
///   already in the mailbox are handled), so a burst of messages makes one checkpoint;
/// - deltas: a kind that implements [`super::DistActor::checkpoint_delta`] sends only what
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
    /// With [`super::DistActor::checkpoint_delta`]: at most this many deltas between two
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

/// A kind's checkpoint policy on this node, read by its actors at every message.
#[derive(Debug)]
pub(crate) struct Policy(ArcSwap<Checkpoints>);

impl Policy {
    pub(crate) fn new(policy: Checkpoints) -> Arc<Self> {
        Arc::new(Policy(ArcSwap::from_pointee(policy)))
    }

    pub(crate) fn get(&self) -> Checkpoints {
        **self.0.load()
    }

    pub(crate) fn set(&self, policy: Checkpoints) {
        self.0.store(Arc::new(policy));
    }
}
