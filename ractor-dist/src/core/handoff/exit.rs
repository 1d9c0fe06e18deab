//! What the exit of a hosted actor means, given what it was doing.
//!
//! ractor reports an exit as a reason (`Some("Drained")` after a drain, `Some("killed")`
//! after a kill, the user's own reason or none after a stop) and, for a panic or an error, a
//! failure. Whether the name moves, restarts or is removed from the cluster follows from
//! that and from what the node had asked of the actor; [`classify_exit`] is that table.

use super::HandoffMode;

/// The reason ractor gives the exit of a drained actor.
pub const DRAINED_REASON: &str = "Drained";
/// The reason ractor gives the exit of a killed actor.
pub const KILLED_REASON: &str = "killed";

/// What the node knew about an actor when it exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildExit<'a> {
    /// It was draining for a handoff.
    pub draining: bool,
    /// Its stop was asked for (a stop request, a shutdown): its name was already removed.
    pub stopping: bool,
    /// The reason ractor reported.
    pub reason: Option<&'a str>,
    /// It panicked or returned an error (or could not start).
    pub failed: bool,
    /// Its start failed: its `pre_start` (or `restore` and then `pre_start`) never
    /// completed, so restarting it would fail the same way.
    pub never_started: bool,
    /// The node killed it at the drain deadline (`HandoffCommand::ForceStop`).
    pub kill_ordered: bool,
}

/// What to do about an exit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitAction {
    /// It drained for its handoff: its final state moves with it.
    Moved,
    /// It was draining but its final state is lost (killed at the handoff deadline, or it
    /// failed): it still moves, and restarts on its target from its last checkpoint or its
    /// arguments (a handoff fallback). `killed`: the deadline kill, already counted.
    MovedWithoutState {
        /// Killed at the deadline (the fallback was counted when the kill was ordered).
        killed: bool,
    },
    /// It stopped by itself: the name is removed from the cluster.
    Removed,
    /// It stopped by itself while draining (handling a message already in its mailbox): the
    /// name is removed from the cluster, its move abandoned and its held messages dropped.
    RemovedWhileDraining,
    /// It failed: restart it (within the restart limit).
    Restart,
    /// Nothing to do: its stop was asked for, and its name is already gone.
    Nothing,
}

/// The action for an exit (see [`ExitAction`]). A draining actor never loses its name: only
/// a stop it made itself (handling a message already in its mailbox) removes it.
pub fn classify_exit(exit: ChildExit<'_>) -> ExitAction {
    match exit {
        ChildExit {
            draining: true,
            failed: false,
            reason: Some(DRAINED_REASON),
            ..
        } => ExitAction::Moved,
        ChildExit {
            draining: true,
            failed: false,
            reason: Some(KILLED_REASON),
            ..
        } => ExitAction::MovedWithoutState { killed: true },
        // A start that failed while draining: cut short by the deadline kill when one was
        // ordered, else it failed by itself.
        ChildExit {
            draining: true,
            failed: true,
            never_started,
            kill_ordered,
            ..
        } => ExitAction::MovedWithoutState {
            killed: never_started && kill_ordered,
        },
        ChildExit { draining: true, .. } => ExitAction::RemovedWhileDraining,
        ChildExit { stopping: true, .. } => ExitAction::Nothing,
        ChildExit {
            failed: true,
            never_started: false,
            ..
        } => ExitAction::Restart,
        ChildExit { .. } => ExitAction::Removed,
    }
}

/// What a name that moves without its final state takes with it: nothing for a kind that
/// restarts on every move; else the snapshot it was started from when its start never
/// completed (`started_from`: it handled nothing since, and a kind without checkpoints has
/// no other copy), or else its last checkpoint. `None` restarts it from its arguments.
pub fn fallback_state<S>(
    mode: HandoffMode,
    started_from: Option<S>,
    checkpoint: Option<S>,
) -> Option<S> {
    match mode {
        HandoffMode::Restart => None,
        _ => started_from.or(checkpoint),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_that_never_started_moves_with_the_snapshot_it_was_started_from() {
        use HandoffMode::{Restart, Resume, Stay};
        assert_eq!(
            fallback_state(Resume, Some("arrived"), None),
            Some("arrived")
        );
        assert_eq!(
            fallback_state(Stay, Some("arrived"), Some("old")),
            Some("arrived")
        );
        assert_eq!(fallback_state(Resume, None, Some("last")), Some("last"));
        assert_eq!(fallback_state::<&str>(Resume, None, None), None);
        assert_eq!(fallback_state(Restart, Some("arrived"), Some("last")), None);
    }

    #[test]
    fn exits_are_classified_by_what_the_actor_was_doing() {
        let exit = |draining, stopping, reason, failed| ChildExit {
            draining,
            stopping,
            reason,
            failed,
            never_started: false,
            kill_ordered: false,
        };
        let unstarted = |draining, stopping| ChildExit {
            draining,
            stopping,
            reason: None,
            failed: true,
            never_started: true,
            kill_ordered: draining,
        };
        let table = [
            (exit(true, false, Some("Drained"), false), ExitAction::Moved),
            // The deadline kill: moves without state, never a removal.
            (
                exit(true, false, Some("killed"), false),
                ExitAction::MovedWithoutState { killed: true },
            ),
            (
                exit(true, false, None, true),
                ExitAction::MovedWithoutState { killed: false },
            ),
            // It stopped itself while draining (a message already in its mailbox).
            (
                exit(true, false, None, false),
                ExitAction::RemovedWhileDraining,
            ),
            (
                exit(true, false, Some("bye"), false),
                ExitAction::RemovedWhileDraining,
            ),
            (
                exit(false, true, Some("killed"), false),
                ExitAction::Nothing,
            ),
            (exit(false, true, None, true), ExitAction::Nothing),
            (exit(false, false, None, true), ExitAction::Restart),
            (exit(false, false, Some("done"), false), ExitAction::Removed),
            // A start that failed is not retried; a draining one still moves.
            (unstarted(false, false), ExitAction::Removed),
            (unstarted(false, true), ExitAction::Nothing),
            (
                unstarted(true, false),
                ExitAction::MovedWithoutState { killed: true },
            ),
            // A start that failed by itself while draining: a fallback still to count.
            (
                ChildExit {
                    kill_ordered: false,
                    ..unstarted(true, false)
                },
                ExitAction::MovedWithoutState { killed: false },
            ),
        ];
        for (input, expected) in table {
            assert_eq!(classify_exit(input), expected, "{input:?}");
        }
    }
}
