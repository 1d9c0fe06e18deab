//! Executing the recovery engine (`core::recovery::Recovery`, where every decision is):
//! replicating specs and checkpoints, offering and running respawns, resolving two live
//! copies of a name, and fencing a node that finds it was paused past the heartbeat deadline.
//!
//! **The pause fence.** A node that was stopped (SIGSTOP, a VM freeze, a stall) for longer
//! than the heartbeat deadline has been declared down by its peers, which respawned its
//! names. When it runs again it notices the gap (measured from the end of the previous
//! handled message), stops delivering to every actor it hosts (their messages are held by
//! the supervisor, as for a moving actor), does not blame its peers for the silence, and
//! waits: once it has settled for a view that includes a peer again, the copies that were
//! respawned elsewhere have come back to it (or it has handed its own to their owner) and
//! each conflict was resolved by its kind's policy; then it delivers what it held. If no
//! peer comes back within twice the deadline plus the handoff timeout, it gives up waiting
//! and serves alone (AP).

use super::SupervisorState;
use crate::core::recovery::RespawnStart;
use crate::core::{ActorKey, ChildId, Snapshot};
use crate::node::shared::{Counters, EntryState};

mod events;

impl SupervisorState {
    /// A hosted actor checkpointed its state.
    pub(super) fn checkpointed(
        &mut self,
        key: ActorKey,
        actor: ChildId,
        snapshot: Snapshot,
        delta: bool,
    ) {
        self.engine
            .handle_checkpointed(&key, actor, snapshot, delta);
    }

    /// A kind's policy changed: the engine learns what it needs of it.
    pub(super) fn kind_changed(&mut self, kind: &str) {
        if let Some(k) = self.shared.kinds.get(kind) {
            self.engine.set_kind(kind, k.info());
        }
    }

    /// Brings the replicas of hosted names (all, or `only`) in line with the current view.
    pub(super) fn replicate(&mut self, only: Option<&[ActorKey]>) {
        let now = self.now();
        self.engine.replicate(only, now);
    }

    pub(super) fn publish_replica_gauge(&self) {
        self.shared.replica_specs.store(
            self.engine.recovery.replicas().len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Starts a respawn the recovery engine decided.
    pub(super) fn respawn(&mut self, start: RespawnStart<Snapshot>) {
        let Some(kind) = self.shared.kinds.get(&start.meta.kind).cloned() else {
            let n = Counters::bump(&self.shared.counters.unknown_kinds);
            tracing::error!(name = %start.key, kind = %start.meta.kind, count = n, "cannot respawn a name of a kind not registered here; it is lost");
            return;
        };
        let now = self.now();
        let meta = &start.meta;
        let cell = self.start_actor(
            &start.key,
            &kind,
            &meta.args,
            meta.checkpoint.clone(),
            meta.activation.clone(),
        );
        // Its spec stays a replica here, and its holders unchanged, until it has started
        // (`Engine::handle_start_ok`): a start that fails deletes nothing.
        if let Some(cell) = cell {
            self.engine
                .handle_respawn_launched(super::cid(&cell.get_id()), start, now);
        }
    }

    /// Runs before every message: raises the pause fence after a pause past the deadline;
    /// otherwise vouches that the node serves (hosted actors wait for that word after a
    /// silence: see `node::clock`).
    pub(super) fn check_pause(&mut self) {
        let now = self.now();
        self.engine.handle_message(now, false);
        if !self.engine.recovery.is_fenced() {
            self.shared.clock.vouch();
        }
    }

    /// Runs after every message: a handler that outlasted the deadline raises the fence.
    pub(super) fn message_done(&mut self) {
        let now = self.now();
        self.engine.handle_message(now, true);
    }

    /// Raises the fence (the engine reset the placement): every hosted actor's messages
    /// are held, and handles look their routes up again (a new epoch) and find it.
    pub(super) fn fence(&mut self) {
        self.shared
            .fenced
            .store(true, std::sync::atomic::Ordering::Relaxed);
        {
            let mut hosted = self.shared.hosted_mut();
            for entry in hosted.values_mut() {
                entry.state = EntryState::Moving;
            }
        }
        let view = self.current_view();
        self.shared.set_view(view);
    }

    /// Lifts the fence: the hosted actors take messages again, what was held first.
    pub(super) fn unfence(&mut self) {
        self.shared
            .fenced
            .store(false, std::sync::atomic::Ordering::Relaxed);
        self.shared.clock.vouch();
        let keys: Vec<ActorKey> = self
            .engine
            .children
            .values()
            .filter(|c| !c.draining && !c.stopping)
            .map(|c| c.key.clone())
            .collect();
        for key in keys {
            let Some(entry) = self.shared.hosted(&key) else {
                continue;
            };
            if entry.state != EntryState::Moving {
                continue;
            }
            self.set_entry_state(&key, EntryState::Active);
            let held = self.engine.hold.restored(&key);
            self.release(&key, held);
        }
    }
}
