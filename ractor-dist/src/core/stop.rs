//! Why a hosted actor stopped ([`StopReason`], given to
//! [`crate::DistActor::post_stop_with`]).

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
    /// The name was passivated (an on-demand kind's actor idle past
    /// [`crate::DistActor::IDLE_TIMEOUT`], or beyond `DistConfig::max_active`): its state
    /// was snapshotted and is kept on this node, and its next message starts it again
    /// with that state ([`crate::DistActor::restore`]).
    Passivated,
}

impl StopReason {
    /// True when the name is gone (not moving on to another node, not passivated).
    pub fn is_final(&self) -> bool {
        matches!(self, StopReason::Stopped)
    }
}

impl StopReason {
    /// Why an activation stopped, from what the executor had marked before draining it:
    /// `passivating` (its state is kept here for its next message) and `moving` (it was
    /// drained for a move or a passivation). An activation drained for neither stopped for
    /// good, whatever it was marked.
    pub(crate) fn of(passivating: bool, moving: bool) -> Self {
        match (passivating, moving) {
            (true, true) => StopReason::Passivated,
            (false, true) => StopReason::Moving,
            (_, false) => StopReason::Stopped,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_drained_activation_lives_on() {
        for (passivating, moving, reason, is_final) in [
            (true, true, StopReason::Passivated, false),
            (false, true, StopReason::Moving, false),
            (true, false, StopReason::Stopped, true),
            (false, false, StopReason::Stopped, true),
        ] {
            let of = StopReason::of(passivating, moving);
            assert_eq!(of, reason, "passivating {passivating}, moving {moving}");
            assert_eq!(of.is_final(), is_final);
        }
    }
}
