//! Why a hosted actor stopped ([`StopReason`], given to [`super::DistActor::post_stop_with`]).

/// Why an activation of a name stopped: the name lives on elsewhere, or it is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The name moves to another node (its owner changed with the membership, or this node
    /// leaves gracefully): another activation starts there, with this one's state for
    /// [`crate::HandoffMode::Resume`] kinds. Release what is tied to this node (files,
    /// sockets); keep what belongs to the name.
    Moving,
    /// The name stopped for good: stopped by [`crate::DistRef::stop`] or by the actor
    /// itself. Nothing of it runs any more.
    Stopped,
}

impl StopReason {
    /// True when the name is gone (not moving on to another node).
    pub fn is_final(&self) -> bool {
        matches!(self, StopReason::Stopped)
    }
}
