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
use crate::core::recovery::{RecoveryCommand, RespawnStart};
use crate::core::wire::{FrameBody, MigrateEntry};
use crate::core::{ActorKey, ChildId, NodeName, Offer, Snapshot};
use crate::node::shared::{Counters, EntryState};

mod events;

impl SupervisorState {
    /// Executes the recovery engine's commands (respawns are started by
    /// [`SupervisorState::start_respawns`]).
    pub(super) fn run_recovery(&mut self) {
        while let Some(command) = self.engine.recovery.poll_command() {
            match command {
                RecoveryCommand::Send { to, msg } => {
                    self.send_frame(&to, FrameBody::from(msg));
                }
                RecoveryCommand::Respawn(start) => self.engine.respawn_starts.push(start),
                RecoveryCommand::Resolve {
                    key,
                    resolution,
                    snapshot,
                } => {
                    if let Some(entry) = self.shared.hosted(&key) {
                        if let Err(e) = entry.kind.resolve(&entry.cell, resolution, snapshot) {
                            tracing::warn!(name = %key, error = ?e, "the copy here stopped before it could resolve the conflict");
                        }
                    }
                }
                RecoveryCommand::Fence => self.fence(),
                RecoveryCommand::Unfence => self.unfence(),
                RecoveryCommand::Event(event) => self.report_recovery(event),
            }
        }
        self.publish_replica_gauge();
    }

    /// A hosted actor checkpointed its state.
    pub(super) fn checkpointed(&mut self, key: ActorKey, actor: ChildId, snapshot: Snapshot) {
        self.engine.handle_checkpointed(&key, actor, snapshot);
        self.run_recovery();
    }

    /// Brings the replicas of hosted names (all, or `only`) in line with the current view.
    pub(super) fn replicate(&mut self, only: Option<&[ActorKey]>) {
        let now = self.now();
        self.engine.replicate(only, now);
        self.run_recovery();
    }

    /// Names that arrived (by handoff) and stay here: replicated at once when no other
    /// live node keeps their spec, the others once the view is quiet.
    pub(super) fn replicate_arrivals(&mut self, arrived: &[ActorKey]) {
        let now = self.now();
        self.engine.replicate_arrivals(arrived, now);
        self.run_recovery();
    }

    /// Sends the pending rehosts and drops.
    pub(super) fn flush_drops(&mut self) {
        self.engine.recovery.flush();
        self.run_recovery();
    }

    fn publish_replica_gauge(&self) {
        self.shared.replica_specs.store(
            self.engine.recovery.replicas().len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Offers a respawn of every name kept here whose host is gone to its new owner (see
    /// `Engine::offer_orphans`).
    pub(super) fn offer_orphans(&mut self) {
        let now = self.now();
        self.engine.offer_orphans(now);
        self.run_recovery();
    }

    /// Respawn offers from `from`: kept, and decided at once when this node is settled.
    pub(super) async fn handle_respawn(
        &mut self,
        from: &NodeName,
        offers: Vec<(ActorKey, Offer<Snapshot>)>,
    ) {
        tracing::debug!(%from, offers = offers.len(), "respawn offers");
        let now = self.now();
        self.engine.handle_offers(offers, now);
        self.run_recovery();
        self.start_respawns();
    }

    /// Starts the respawns the engine decided.
    pub(super) fn start_respawns(&mut self) {
        for start in std::mem::take(&mut self.engine.respawn_starts) {
            self.respawn(start);
        }
    }

    fn respawn(&mut self, start: RespawnStart<Snapshot>) {
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
        // (`respawn_started`): a start that fails deletes nothing.
        if let Some(cell) = cell {
            self.engine
                .handle_respawn_launched(super::cid(&cell.get_id()), start, now);
        }
    }

    /// A respawned actor started: its replica here becomes the running name, its holders
    /// get the new generation's spec.
    pub(super) fn respawn_started(&mut self, actor: ChildId) {
        let now = self.now();
        let Some(done) = self.engine.handle_respawn_started(actor, now) else {
            return;
        };
        Counters::bump(&self.shared.counters.respawned);
        tracing::info!(
            name = %done.key,
            lost = %done.lost,
            generation = done.generation,
            checkpoint = done.seq,
            start_ms = done.start_ms,
            "respawned a name whose host was lost"
        );
        self.register_elsewhere(&done.key, &done.kind);
        self.replicate(Some(std::slice::from_ref(&done.key)));
    }

    /// A copy of a name arrived from `from` while one runs here (see
    /// `Engine::resolve_conflict`).
    pub(super) fn resolve_conflict(
        &mut self,
        from: &NodeName,
        entry: MigrateEntry,
        snapshot: Option<Snapshot>,
    ) {
        let now = self.now();
        self.engine.resolve_conflict(from, entry, snapshot, now);
        self.run_recovery();
    }

    /// Runs before every message: raises the pause fence after a pause past the deadline.
    pub(super) fn check_pause(&mut self) {
        let now = self.now();
        self.engine.handle_message(now, false);
        self.run_recovery();
    }

    /// Runs after every message: a handler that outlasted the deadline raises the fence.
    pub(super) fn message_done(&mut self) {
        let now = self.now();
        self.engine.handle_message(now, true);
        self.run_recovery();
    }

    /// Raises the fence: every hosted actor's messages are held, and handles look their
    /// routes up again (a new epoch) and find it.
    fn fence(&mut self) {
        let now = self.now();
        self.engine.mesh.handle_resumed(now);
        self.shared
            .fenced
            .store(true, std::sync::atomic::Ordering::Relaxed);
        {
            let mut hosted = self.shared.hosted_mut();
            for entry in hosted.values_mut() {
                entry.state = EntryState::Moving;
            }
        }
        self.engine.placement = self.engine.mesh.membership().placement();
        self.publish_view();
    }

    /// Lifts the fence: the hosted actors take messages again, what was held first.
    fn unfence(&mut self) {
        self.shared
            .fenced
            .store(false, std::sync::atomic::Ordering::Relaxed);
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

    /// After the node settled for a view (`by_deadline`: without hearing from every peer):
    /// the engine lifts the fence if it may, decides offers and replicates; then the
    /// respawns it decided start.
    pub(super) async fn after_settle(&mut self, by_deadline: bool) {
        let now = self.now();
        self.engine.recovery_settled(by_deadline, now);
        self.run_recovery();
        self.start_respawns();
    }

    /// The heartbeat tick's part of recovery: the fence may lift, and once the view has
    /// been quiet the replica sets are brought up to date. Returns true then.
    pub(super) async fn recovery_tick(&mut self) -> bool {
        let now = self.now();
        let replicated = self.engine.recovery_tick(now);
        self.run_recovery();
        self.start_respawns();
        replicated
    }

    /// `from` runs these names: a name that also runs here, or on another live node, has
    /// two copies (a partition healed), and the registering one is asked to yield.
    pub(super) fn handle_register(&mut self, from: &NodeName, entries: Vec<(ActorKey, String)>) {
        let yields = self.engine.handle_register(from, entries);
        if !yields.is_empty() {
            tracing::info!(peer = %from, names = yields.len(), "names registered by a peer also run elsewhere; asking it to yield");
            self.send_frame(from, FrameBody::Yield { keys: yields });
        }
    }

    /// Another copy of these names runs on the given nodes: hand ours over there.
    pub(super) async fn handle_yield(&mut self, keys: Vec<(ActorKey, NodeName)>) {
        let now = self.now();
        let n = self.engine.handle_yield(keys, now);
        if n > 0 {
            tracing::info!(names = n, "another copy runs elsewhere; handing these over");
        }
        self.run_handoff().await;
    }
}
