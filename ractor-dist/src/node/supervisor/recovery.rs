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

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use ractor::ActorId;

use super::{Child, SupervisorState};
use crate::core::recovery::{
    ConflictOutcome, Ctx, Here, Hosted, Recovery, RecoveryCommand, RespawnStart,
};
use crate::core::wire::{FrameBody, MigrateEntry};
use crate::core::{
    Activation, ActorKey, Incarnation, Millis, NodeName, Offer, Placement, Snapshot, Spec,
    SpecHolders,
};
use crate::node::shared::{Counters, EntryState};

mod events;

/// The names that run here (neither stopping nor moving away), all or `only` these.
fn running<'a>(
    children: &'a mut HashMap<ActorId, Child>,
    child_ids: &HashMap<ActorKey, ActorId>,
    only: Option<&[ActorKey]>,
) -> Vec<Hosted<'a, Snapshot>> {
    if let Some([key]) = only {
        return child_ids
            .get(key)
            .and_then(|id| children.get_mut(id))
            .filter(|c| !c.stopping && !c.draining)
            .map(|c| (&c.key, &mut c.meta))
            .into_iter()
            .collect();
    }
    let only: Option<BTreeSet<&ActorKey>> = only.map(|keys| keys.iter().collect());
    children
        .values_mut()
        .filter(|c| !c.stopping && !c.draining)
        .filter(|c| only.as_ref().is_none_or(|o| o.contains(&c.key)))
        .map(|c| (&c.key, &mut c.meta))
        .collect()
}

impl SupervisorState {
    /// When the current handoff view started, on the clock of [`SupervisorState::now`].
    fn view_started_ms(&self) -> Millis {
        Millis(
            self.view_started
                .saturating_duration_since(self.started)
                .as_millis() as u64,
        )
    }

    fn is_leaving(&self) -> bool {
        self.leaving.is_some() || self.shutting_down
    }

    /// Executes the recovery engine's commands (respawns are started by
    /// [`SupervisorState::start_respawns`]).
    pub(super) fn run_recovery(&mut self) {
        while let Some(command) = self.recovery.poll_command() {
            match command {
                RecoveryCommand::Send { to, msg } => {
                    self.send_frame(&to, FrameBody::from(msg));
                }
                RecoveryCommand::Respawn(start) => self.respawn_starts.push(start),
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
    pub(super) fn checkpointed(&mut self, key: ActorKey, actor: ActorId, snapshot: Snapshot) {
        let Some(child) = self.children.get_mut(&actor) else {
            return;
        };
        if child.key != key || child.stopping {
            return;
        }
        // It runs: its checkpoints are newer than what it was started from.
        child.started_from = None;
        self.recovery
            .handle_checkpointed(&key, &mut child.meta, snapshot);
        self.run_recovery();
    }

    /// Brings the replicas of hosted names (all, or `only`) in line with the current view.
    pub(super) fn replicate(&mut self, only: Option<&[ActorKey]>) {
        let placement = self.shared.view().placement().clone();
        self.replicate_by(&placement, only);
    }

    fn replicate_by(&mut self, placement: &Placement, only: Option<&[ActorKey]>) {
        let ctx = Ctx {
            now: self.now(),
            placement,
            peers: &self.mesh,
            leaving: self.is_leaving(),
        };
        let mut names = running(&mut self.children, &self.child_ids, only);
        self.recovery.replicate(&mut names, ctx);
        self.run_recovery();
    }

    /// Names that arrived (by handoff) and stay here: replicated at once when no other
    /// live node keeps their spec, the others once the view is quiet.
    pub(super) fn replicate_arrivals(&mut self, arrived: &[ActorKey]) {
        let placement = self.shared.view().placement().clone();
        let ctx = Ctx {
            now: self.now(),
            placement: &placement,
            peers: &self.mesh,
            leaving: self.is_leaving(),
        };
        let mut names = running(&mut self.children, &self.child_ids, Some(arrived));
        self.recovery.handle_arrivals(&mut names, ctx);
        self.run_recovery();
    }

    /// `key` no longer runs here: every holder drops its spec (sent with the next flush).
    pub(super) fn unreplicate(&mut self, key: &ActorKey, holders: &SpecHolders) {
        self.recovery.unreplicate(key, holders);
    }

    /// `key` was handed off to `to`: its holders name `to` from now on.
    pub(super) fn rehost(&mut self, key: &ActorKey, holders: &SpecHolders, to: &NodeName) {
        self.recovery.rehost(key, holders, to, &self.mesh);
    }

    /// Sends the pending rehosts and drops.
    pub(super) fn flush_drops(&mut self) {
        self.recovery.flush();
        self.run_recovery();
    }

    /// `from` keeps the specs of these names now: former holders may drop theirs.
    pub(super) fn handle_specs_kept(&mut self, from: &NodeName, keys: Vec<ActorKey>) {
        for key in keys {
            let Some(child) = self
                .child_ids
                .get(&key)
                .and_then(|id| self.children.get_mut(id))
            else {
                continue;
            };
            self.recovery
                .handle_spec_kept(from, &key, &mut child.meta.holders);
        }
        self.flush_drops();
    }

    /// `from` handed these names off to `to`.
    pub(super) fn handle_rehost(
        &mut self,
        keys: Vec<(ActorKey, NodeName)>,
        to: NodeName,
        incarnation: Incarnation,
    ) {
        self.recovery.handle_rehost(keys, to, incarnation);
    }

    /// `from` hosts these names: keep their specs, and say so.
    pub(super) fn handle_replicate(
        &mut self,
        from: &NodeName,
        specs: Vec<(ActorKey, Spec<Snapshot>)>,
    ) {
        self.recovery.handle_replicate(from, specs);
        self.run_recovery();
    }

    /// Specs of these names are no longer needed here.
    pub(super) fn handle_unreplicate(&mut self, from: &NodeName, keys: Vec<(ActorKey, NodeName)>) {
        self.recovery.handle_unreplicate(from, keys);
        self.run_recovery();
    }

    /// A checkpoint from `from` of a name whose spec is kept here.
    pub(super) fn handle_checkpoint(
        &mut self,
        from: &NodeName,
        key: ActorKey,
        generation: u64,
        seq: u64,
        snapshot: Snapshot,
    ) {
        self.recovery
            .handle_checkpoint(from, key, generation, seq, snapshot);
        self.run_recovery();
    }

    fn publish_replica_gauge(&self) {
        self.shared.replica_specs.store(
            self.recovery.replicas().len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Offers a respawn of every name kept here whose host is gone to its new owner. Runs
    /// when the view changes, before this node tells its peers that its handoffs are done,
    /// so an owner has every offer before it settles; a fenced node too (its offers may hold
    /// the newest checkpoints), although it runs none itself until the fence is lifted.
    pub(super) fn offer_orphans(&mut self) {
        let placement = self.mesh.membership().placement();
        let ctx = Ctx {
            now: self.now(),
            placement: &placement,
            peers: &self.mesh,
            leaving: self.is_leaving(),
        };
        self.recovery.offer_orphans(ctx);
        self.run_recovery();
    }

    /// Respawn offers from `from`: kept, and decided at once when this node is settled.
    pub(super) async fn handle_respawn(
        &mut self,
        from: &NodeName,
        offers: Vec<(ActorKey, Offer<Snapshot>)>,
    ) {
        tracing::debug!(%from, offers = offers.len(), "respawn offers");
        let placement = self.placement.clone();
        let ctx = Ctx {
            now: self.now(),
            placement: &placement,
            peers: &self.mesh,
            leaving: self.is_leaving(),
        };
        let (shared, outgoing) = (&self.shared, &self.outgoing);
        let hosted = |k: &ActorKey| shared.hosted(k).is_some() || outgoing.contains_key(k);
        let settled = self.handoff.is_settled();
        self.recovery.handle_offers(offers, settled, ctx, hosted);
        self.run_recovery();
        self.start_respawns();
    }

    /// Starts the respawns the engine decided.
    pub(super) fn start_respawns(&mut self) {
        for start in std::mem::take(&mut self.respawn_starts) {
            self.respawn(start);
        }
    }

    fn respawn(&mut self, start: RespawnStart<Snapshot>) {
        let RespawnStart {
            key,
            meta,
            lost,
            seq,
        } = start;
        let Some(kind) = self.shared.kinds.get(&meta.kind).cloned() else {
            let n = Counters::bump(&self.shared.counters.unknown_kinds);
            tracing::error!(name = %key, kind = %meta.kind, count = n, "cannot respawn a name of a kind not registered here; it is lost");
            return;
        };
        let started = Instant::now();
        let cell = self.start_actor(
            &key,
            &kind,
            &meta.args,
            meta.checkpoint.clone(),
            meta.activation.clone(),
        );
        let Some(cell) = cell else {
            return;
        };
        // Its spec stays a replica here, and its holders unchanged, until it has started
        // (`respawn_started`): a start that fails deletes nothing.
        self.respawning.insert(
            cell.get_id(),
            (
                RespawnStart {
                    key,
                    meta,
                    lost,
                    seq,
                },
                started,
            ),
        );
    }

    /// A respawned actor started: its replica here becomes the running name, its holders
    /// get the new generation's spec.
    pub(super) fn respawn_started(&mut self, actor: ActorId) {
        let Some((start, started)) = self.respawning.remove(&actor) else {
            return;
        };
        let RespawnStart {
            key,
            meta,
            lost,
            seq,
        } = start;
        let Some(child) = self.children.get_mut(&actor) else {
            return;
        };
        let kind = child.kind.clone();
        let generation = meta.activation.generation;
        child.meta = meta;
        self.recovery.handle_respawned(&key);
        Counters::bump(&self.shared.counters.respawned);
        tracing::info!(
            name = %key,
            %lost,
            generation,
            checkpoint = seq,
            start_us = started.elapsed().as_micros() as u64,
            "respawned a name whose host was lost"
        );
        self.register_elsewhere(&key, kind.name());
        self.replicate(Some(std::slice::from_ref(&key)));
    }

    /// A copy of `key` arrived from `from` (`snapshot`: its state) while one runs here:
    /// two live copies met after a partition (or a pause). A copy that is itself moving
    /// away takes the conflict with it (kept in `conflicts` until it lands).
    pub(super) fn resolve_conflict(
        &mut self,
        from: &NodeName,
        entry: MigrateEntry,
        snapshot: Option<Snapshot>,
    ) {
        let key = entry.key.clone();
        let incoming = Activation {
            generation: entry.generation,
            origin: entry.origin.clone(),
        };
        let child_id = self.child_ids.get(&key).copied();
        let running = child_id
            .and_then(|id| self.children.get(&id))
            .is_some_and(|c| !c.draining)
            && !self.outgoing.contains_key(&key);
        if running && self.shared.hosted(&key).is_none() {
            return;
        }
        let placement = self.shared.view().placement().clone();
        let ctx = Ctx {
            now: self.now(),
            placement: &placement,
            peers: &self.mesh,
            leaving: self.is_leaving(),
        };
        let here = match child_id.and_then(|id| self.children.get_mut(&id)) {
            Some(child) if running => Here::Running {
                policy: child.kind.conflict_policy(),
                meta: &mut child.meta,
            },
            child => Here::Moving {
                draining: child.map(|c| &c.meta.activation),
                outgoing: self.outgoing.get(&key).map(|o| &o.meta.activation),
            },
        };
        let holders = entry.holders.clone();
        let outcome = self
            .recovery
            .resolve_conflict(&key, from, &incoming, holders, snapshot, here, ctx);
        if let ConflictOutcome::Follows(snapshot) = outcome {
            let entry = MigrateEntry {
                snapshot,
                chunks: 0,
                ..entry
            };
            self.conflicts.insert(key, (from.clone(), entry));
        }
        self.run_recovery();
    }

    /// Runs before every message: raises the pause fence after a pause past the deadline.
    pub(super) fn check_pause(&mut self) {
        self.pause_check(Recovery::handle_message);
    }

    /// Runs after every message: a handler that outlasted the deadline raises the fence.
    pub(super) fn message_done(&mut self) {
        self.pause_check(Recovery::handle_message_done);
    }

    /// Gives the recovery engine's pause rule `check` the time and what it needs to know.
    fn pause_check(&mut self, check: fn(&mut Recovery<Snapshot>, Millis, bool, bool) -> bool) {
        let now = self.now();
        let has_peers = !self.mesh.membership().peers().is_empty();
        let leaving = self.is_leaving();
        check(&mut self.recovery, now, has_peers, leaving);
        self.run_recovery();
    }

    /// Raises the fence: every hosted actor's messages are held, and handles look their
    /// routes up again (a new epoch) and find it.
    fn fence(&mut self) {
        let now = self.now();
        self.mesh.handle_resumed(now);
        self.shared
            .fenced
            .store(true, std::sync::atomic::Ordering::Relaxed);
        {
            let mut hosted = self.shared.hosted_mut();
            for entry in hosted.values_mut() {
                entry.state = EntryState::Moving;
            }
        }
        self.placement = self.mesh.membership().placement();
        self.publish_view();
    }

    /// Lifts the fence: the hosted actors take messages again, what was held first.
    fn unfence(&mut self) {
        self.shared
            .fenced
            .store(false, std::sync::atomic::Ordering::Relaxed);
        let keys: Vec<ActorKey> = self
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
            let held = self.hold.restored(&key);
            self.release(&key, held);
        }
    }

    /// After the node settled for a view (`by_deadline`: without hearing from every peer):
    /// the engine lifts the fence if it may, decides offers and replicates (see
    /// `Recovery::handle_settled`); then the respawns it decided start.
    pub(super) async fn after_settle(&mut self, by_deadline: bool) {
        let placement = self.placement.clone();
        let view_started = self.view_started_ms();
        let ctx = Ctx {
            now: self.now(),
            placement: &placement,
            peers: &self.mesh,
            leaving: self.is_leaving(),
        };
        let (shared, outgoing) = (&self.shared, &self.outgoing);
        let hosted = |k: &ActorKey| shared.hosted(k).is_some() || outgoing.contains_key(k);
        let mut names = running(&mut self.children, &self.child_ids, None);
        self.recovery
            .handle_settled(by_deadline, view_started, &mut names, ctx, hosted);
        self.run_recovery();
        self.start_respawns();
    }

    /// The heartbeat tick's part of recovery: the fence may lift, and once the view has
    /// been quiet the replica sets are brought up to date. Returns true then.
    pub(super) async fn recovery_tick(&mut self) -> bool {
        let placement = self.placement.clone();
        let view_started = self.view_started_ms();
        let settled = self.handoff.is_settled();
        let ctx = Ctx {
            now: self.now(),
            placement: &placement,
            peers: &self.mesh,
            leaving: self.is_leaving(),
        };
        let (shared, outgoing) = (&self.shared, &self.outgoing);
        let hosted = |k: &ActorKey| shared.hosted(k).is_some() || outgoing.contains_key(k);
        let mut names = running(&mut self.children, &self.child_ids, None);
        let replicated = self
            .recovery
            .handle_tick(settled, view_started, &mut names, ctx, hosted);
        self.run_recovery();
        self.start_respawns();
        replicated
    }
}

impl SupervisorState {
    /// `key` runs here and is neither moving away nor being stopped.
    fn runs_here(&self, key: &ActorKey) -> bool {
        self.child_ids
            .get(key)
            .and_then(|id| self.children.get(id))
            .is_some_and(|c| !c.draining && !c.stopping)
    }

    /// `from` runs these names (it is their directory node's job to know). A name that also
    /// runs here, or is registered on another live node, has two copies (a partition
    /// healed): the registering one is asked to yield to the other.
    pub(super) fn handle_register(&mut self, from: &NodeName, entries: Vec<(ActorKey, String)>) {
        let keys: Vec<ActorKey> = entries.into_iter().map(|(key, _kind)| key).collect();
        let here: BTreeSet<&ActorKey> = keys.iter().filter(|k| self.runs_here(k)).collect();
        let membership = self.mesh.membership();
        let yields = self.routing.handle_register(
            from,
            keys.iter().cloned(),
            |k| here.contains(k),
            |host| membership.is_up(host),
        );
        if !yields.is_empty() {
            tracing::info!(peer = %from, names = yields.len(), "names registered by a peer also run elsewhere; asking it to yield");
            self.send_frame(from, FrameBody::Yield { keys: yields });
        }
    }

    /// Another copy of these names runs on the given nodes: hand ours over there (the
    /// conflict is resolved where they meet).
    pub(super) async fn handle_yield(&mut self, keys: Vec<(ActorKey, NodeName)>) {
        let now = self.now();
        for (key, to) in keys {
            if self.runs_here(&key) && self.mesh.membership().is_up(&to) {
                tracing::info!(name = %key, %to, "another copy runs elsewhere; handing this one over");
                self.handoff.handle_yield(key, to, now);
            }
        }
        self.run_handoff().await;
    }
}
