//! The pause fence: a node that was stopped (SIGSTOP, a VM freeze, a stall) for longer than
//! the heartbeat deadline has been declared down by its peers, which respawned its names.
//! When it runs again it notices the gap, holds every message to the actors it hosts, and
//! waits until it has rejoined (see [`fence_decision`]) before delivering them.
//!
//! **Measuring the gap.** Peers declare a node down when they have heard nothing from it
//! for the deadline, counted from its last heartbeat. Heartbeats go out on the tick, which
//! comes every interval, so the last one went out at most one interval before the end of
//! the last message the node handled. The gap is therefore measured from the **end** of the
//! previous handled message (a long handler counts whole: the check runs again when it
//! ends) plus one heartbeat interval, and compared with [`Timing::pause_gap_ms`].
//!
//! [`Timing::pause_gap_ms`]: crate::core::Timing::pause_gap_ms

use super::commands::{Ctx, RecoveryCommand, RecoveryEvent};
use super::engine::Recovery;
use super::meta::{Checkpoint, Peers};
use super::{fence_decision, FenceDecision, FenceState};
use crate::core::Millis;

/// The fence's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fence {
    /// When the fence was raised (none: not fenced).
    pub(super) since: Option<Millis>,
    /// When the node last finished handling a message.
    last_end: Option<Millis>,
    /// The last settle was by deadline rather than by hearing from every peer.
    pub(super) settled_by_deadline: bool,
}

impl Fence {
    /// The fence is up.
    pub fn is_fenced(&self) -> bool {
        self.since.is_some()
    }

    /// When it went up.
    pub fn since(&self) -> Option<Millis> {
        self.since
    }
}

impl<S: Checkpoint> Recovery<S> {
    /// The fence is up: hosted actors take no messages.
    pub fn is_fenced(&self) -> bool {
        self.fence.is_fenced()
    }

    /// The fence.
    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    /// How long the peers may have gone without hearing from this node at `now`.
    fn silence_ms(&self, now: Millis) -> Option<u64> {
        let end = self.fence.last_end?;
        Some(
            now.since(end)
                .saturating_add(self.cfg.timing.heartbeat_interval_ms),
        )
    }

    fn check_pause(&mut self, now: Millis, has_peers: bool, leaving: bool) -> bool {
        let Some(gap_ms) = self.silence_ms(now) else {
            return false;
        };
        if gap_ms <= self.cfg.timing.pause_gap_ms()
            || !has_peers
            || leaving
            || self.fence.is_fenced()
        {
            return false;
        }
        self.event(RecoveryEvent::Paused { gap_ms });
        self.fence.since = Some(now);
        self.commands.push_back(RecoveryCommand::Fence);
        true
    }

    /// Runs before every message the node handles: after a pause past the deadline (see
    /// the module docs) the fence goes up ([`RecoveryCommand::Fence`]; the node also tells
    /// its membership it resumed). Returns true when it went up.
    pub fn handle_message(&mut self, now: Millis, has_peers: bool, leaving: bool) -> bool {
        self.check_pause(now, has_peers, leaving)
    }

    /// Runs after every message the node handled: a handler that outlasted the deadline
    /// raises the fence too. Returns true when it went up.
    pub fn handle_message_done(&mut self, now: Millis, has_peers: bool, leaving: bool) -> bool {
        let fenced = self.check_pause(now, has_peers, leaving);
        self.fence.last_end = Some(now);
        fenced
    }

    /// Lifts the fence when [`fence_decision`] says so (`settled`: the node just settled
    /// for its view, which began at `view_started`): [`RecoveryCommand::Unfence`], then the
    /// offers of names kept here (they may hold the newest checkpoints). Returns true when
    /// it was lifted.
    pub fn maybe_unfence<P: Peers>(
        &mut self,
        settled: bool,
        view_started: Millis,
        ctx: Ctx<'_, P>,
    ) -> bool {
        let Some(since) = self.fence.since else {
            return false;
        };
        let waited_ms = ctx.now.since(since);
        let decision = fence_decision(FenceState {
            waited_ms,
            view_changed: view_started > since,
            // A settle by deadline did not hear from every peer: some copies may still be
            // on their way back here.
            settled_by_barrier: settled && !self.fence.settled_by_deadline,
            has_peers: ctx.peers.has_peers(),
            deadline_ms: self.cfg.timing.heartbeat_deadline_ms,
            patience_ms: self.cfg.timing.fence_patience_ms(),
        });
        if decision == FenceDecision::Hold {
            return false;
        }
        self.event(RecoveryEvent::Unfenced {
            decision,
            waited_ms,
        });
        self.fence.since = None;
        self.commands.push_back(RecoveryCommand::Unfence);
        self.offer_orphans(ctx);
        true
    }
}
