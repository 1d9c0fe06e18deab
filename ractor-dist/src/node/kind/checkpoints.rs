//! When a kind checkpoints its state: [`Checkpoints`].

use std::time::Duration;

/// When a kind checkpoints its state (see [`super::DistActor::CHECKPOINTS`]): after every
/// `every_messages` handled messages, and/or once `every` has passed since the last
/// checkpoint while messages changed the state. A checkpoint is taken with
/// [`super::DistActor::snapshot`] inside the actor, between two messages, and sent to the replicas
/// of the name; a crash loses at most what was handled since.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ractor_dist::Checkpoints;
///
/// const EACH_MESSAGE: Checkpoints = Checkpoints::every_messages(1);
/// const BOUNDED: Checkpoints = Checkpoints::every_messages(100).or_every(Duration::from_secs(1));
/// assert!(Checkpoints::OFF.is_off() && !EACH_MESSAGE.is_off() && !BOUNDED.is_off());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checkpoints {
    /// Checkpoint after this many messages (0: not by count).
    pub every_messages: u32,
    /// Checkpoint when this much time passed since the last one and a message arrived
    /// since (`None`: not by time).
    pub every: Option<Duration>,
}

impl Checkpoints {
    /// No checkpoints.
    pub const OFF: Checkpoints = Checkpoints {
        every_messages: 0,
        every: None,
    };

    /// A checkpoint after every `n` messages.
    pub const fn every_messages(n: u32) -> Self {
        Checkpoints {
            every_messages: n,
            every: None,
        }
    }

    /// A checkpoint at most `interval` after a message changed the state.
    pub const fn every(interval: Duration) -> Self {
        Checkpoints {
            every_messages: 0,
            every: Some(interval),
        }
    }

    /// Adds a time bound to a count bound.
    pub const fn or_every(self, interval: Duration) -> Self {
        Checkpoints {
            every_messages: self.every_messages,
            every: Some(interval),
        }
    }

    /// True when no checkpoint is ever taken.
    pub const fn is_off(&self) -> bool {
        self.every_messages == 0 && self.every.is_none()
    }
}
