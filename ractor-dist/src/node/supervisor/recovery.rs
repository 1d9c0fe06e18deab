//! Surviving crashes, pauses and partitions (the decisions are in `core::recovery`):
//! replicating specs and checkpoints, offering and running respawns, resolving two live
//! copies of a name, and fencing a node that finds it was paused past the heartbeat deadline.
//!
//! **The pause fence.** A node that was stopped (SIGSTOP, a VM freeze, a stall) for longer
//! than the heartbeat deadline has been declared down by its peers, which respawned its
//! names. When it runs again it notices the gap between two heartbeat ticks, stops
//! delivering to every actor it hosts (their messages are held by the supervisor, as for a
//! moving actor), does not blame its peers for the silence, and waits: once it has settled
//! for a view that includes a peer again, the copies that were respawned elsewhere have come
//! back to it (or it has handed its own to their owner) and each conflict was resolved by
//! its kind's policy; then it delivers what it held. If no peer comes back within twice the
//! deadline plus the handoff timeout, it gives up waiting and serves alone (AP).

use std::collections::BTreeMap;
use std::time::Instant;

use ractor::ActorId;

use super::{Activation, Child, SupervisorState};
use crate::core::recovery::{
    self, decide_respawn, fence_decision, replica_set, CopyMeta, FenceDecision, FenceState,
    OfferContext,
};
use crate::core::wire::{FrameBody, MigrateEntry};
use crate::core::Snapshot;
use crate::core::{
    ActorKey, Incarnation, NodeName, Offer, ReplicaOutcome, Resolution, RespawnDecision, Spec,
    SpecHolders,
};
use crate::node::shared::{Counters, EntryState};

/// Bytes a spec or offer adds to a frame besides its arguments and checkpoint.
const SPEC_OVERHEAD: usize = 96;

impl SupervisorState {
    /// The most state one frame carries (the rest is headroom for the envelope).
    fn frame_budget(&self) -> usize {
        (self.shared.config.max_frame_bytes / 2).max(512)
    }

    fn spec_of(&self, child: &Child) -> Spec<Snapshot> {
        let checkpoint = child
            .checkpoint
            .clone()
            .filter(|c| c.bytes.len() <= self.frame_budget());
        Spec {
            kind: child.kind.name().to_string(),
            args: child.args.clone(),
            generation: child.activation.generation,
            host: self.shared.me.clone(),
            host_incarnation: self.shared.incarnation,
            seq: if checkpoint.is_some() {
                child.checkpoint_seq
            } else {
                0
            },
            checkpoint,
        }
    }

    /// A hosted actor checkpointed its state: keep it (a local restart after a panic starts
    /// from it) and send it to the replicas of its name.
    pub(super) fn checkpointed(&mut self, key: ActorKey, actor: ActorId, snapshot: Snapshot) {
        let budget = self.frame_budget();
        let fenced = self.fenced_since.is_some();
        let Some(child) = self.children.get_mut(&actor) else {
            return;
        };
        if child.key != key || child.stopping {
            return;
        }
        child.checkpoint_seq = child.checkpoint_seq.saturating_add(1);
        child.checkpoint = Some(snapshot.clone());
        let (seq, generation) = (child.checkpoint_seq, child.activation.generation);
        // Current holders, and former ones (which name this node once its arrival was
        // acknowledged, and keep the spec until the current ones confirmed).
        let mut targets: Vec<NodeName> = child
            .holders
            .all(&self.shared.me)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        targets.sort();
        targets.dedup();
        if snapshot.bytes.len() > budget {
            let n = Counters::bump(&self.shared.counters.checkpoints_too_large);
            if n.is_power_of_two() {
                tracing::warn!(name = %key, bytes = snapshot.bytes.len(), limit = budget, count = n, "checkpoint larger than half a frame; kept here, not replicated");
            }
            return;
        }
        if fenced || targets.is_empty() {
            return;
        }
        for node in targets {
            self.send_frame(
                &node,
                FrameBody::Checkpoint {
                    key: key.clone(),
                    generation,
                    seq,
                    snapshot: snapshot.clone(),
                },
            );
        }
        Counters::bump(&self.shared.counters.checkpoints);
    }

    /// Brings the replicas of hosted names (all, or `only`) in line with the current view:
    /// the spec goes to nodes that newly keep it, a drop to nodes that no longer do.
    pub(super) fn replicate(&mut self, only: Option<&[ActorKey]>) {
        let r = self.shared.config.replicas;
        // A fenced node replicates too: its specs carry their generation, so replicas
        // refuse them when a respawn replaced them, and a copy it alone holds (one that
        // won a conflict while it waited) must not die with it.
        if r <= 1 || self.leaving.is_some() || self.shutting_down {
            return;
        }
        let view = self.shared.view();
        let me = self.shared.me.clone();
        let budget = self.frame_budget();
        let ids: Vec<ActorId> = match only {
            Some(keys) => keys
                .iter()
                .filter_map(|k| self.child_ids.get(k).copied())
                .collect(),
            None => self.children.keys().copied().collect(),
        };
        let mut specs: BTreeMap<NodeName, Vec<(ActorKey, Spec<Snapshot>)>> = BTreeMap::new();
        for id in ids {
            let Some(child) = self.children.get(&id) else {
                continue;
            };
            if child.stopping || child.draining {
                continue;
            }
            let desired: Vec<(NodeName, Incarnation)> =
                replica_set(&view.placement, &child.key, &me, r)
                    .into_iter()
                    .filter_map(|n| self.mesh.membership().incarnation_of(&n).map(|i| (n, i)))
                    .collect();
            if desired == child.holders.current() {
                continue;
            }
            let spec = self.spec_of(child);
            let key = child.key.clone();
            let Some(child) = self.children.get_mut(&id) else {
                continue;
            };
            let changes = child.holders.retarget(&me, desired);
            for node in changes.send_spec {
                specs
                    .entry(node)
                    .or_default()
                    .push((key.clone(), spec.clone()));
            }
            for (node, host) in changes.drop {
                self.drops
                    .entry(node)
                    .or_default()
                    .push((key.clone(), host));
            }
        }
        for (node, list) in specs {
            let mut batch = Vec::new();
            let mut bytes = 0;
            for (key, spec) in list {
                let size = spec.args.len()
                    + spec.checkpoint.as_ref().map_or(0, |c| c.bytes.len())
                    + key.as_str().len()
                    + SPEC_OVERHEAD;
                if !batch.is_empty() && bytes + size > budget {
                    let specs = std::mem::take(&mut batch);
                    self.send_frame(&node, FrameBody::Replicate { specs });
                    bytes = 0;
                }
                bytes += size;
                batch.push((key, spec));
            }
            if !batch.is_empty() {
                self.send_frame(&node, FrameBody::Replicate { specs: batch });
            }
        }
        self.flush_drops();
    }

    /// `key` no longer runs here: every holder drops its spec (sent with the next flush).
    pub(super) fn unreplicate(&mut self, key: &ActorKey, holders: &SpecHolders) {
        for (node, host) in holders.all(&self.shared.me) {
            self.drops
                .entry(node)
                .or_default()
                .push((key.clone(), host));
        }
    }

    /// `key` was handed off to `to`: its holders name `to` from now on (it may be lost
    /// before its own holders have the spec), and keep the spec until they do. Sent with
    /// the next flush, one frame per holder and new host.
    pub(super) fn rehost(&mut self, key: &ActorKey, holders: &SpecHolders, to: &NodeName) {
        let Some(incarnation) = self.mesh.membership().incarnation_of(to) else {
            return;
        };
        for (node, host) in holders.all(&self.shared.me) {
            if node != *to {
                self.rehosts
                    .entry((node, to.clone(), incarnation))
                    .or_default()
                    .push((key.clone(), host));
            }
        }
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
            for (node, host) in child.holders.handle_confirmed(from) {
                self.drops
                    .entry(node)
                    .or_default()
                    .push((key.clone(), host));
            }
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
        for (key, host) in keys {
            self.replicas
                .handle_moved(&host, &key, to.clone(), incarnation);
        }
    }

    /// Sends the pending rehosts and drops, one frame per node (and new host).
    pub(super) fn flush_drops(&mut self) {
        for ((node, to, incarnation), keys) in std::mem::take(&mut self.rehosts) {
            for chunk in keys.chunks(4096) {
                self.send_frame(
                    &node,
                    FrameBody::Rehost {
                        keys: chunk.to_vec(),
                        to: to.clone(),
                        incarnation,
                    },
                );
            }
        }
        for (node, keys) in std::mem::take(&mut self.drops) {
            for chunk in keys.chunks(4096) {
                self.send_frame(
                    &node,
                    FrameBody::Unreplicate {
                        keys: chunk.to_vec(),
                    },
                );
            }
        }
    }

    /// `from` hosts these names: keep their specs, and say so.
    pub(super) fn handle_replicate(
        &mut self,
        from: &NodeName,
        specs: Vec<(ActorKey, Spec<Snapshot>)>,
    ) {
        let mut kept = Vec::new();
        for (key, spec) in specs {
            if spec.host != *from {
                let n = Counters::bump(&self.shared.counters.bad_frames);
                tracing::warn!(name = %key, %from, host = %spec.host, count = n, "spec names another host than its sender; ignored");
                continue;
            }
            if self.replicas.handle_spec(key.clone(), spec) == ReplicaOutcome::Stale {
                Counters::bump(&self.shared.counters.checkpoints_fenced);
                tracing::debug!(name = %key, %from, "spec of a replaced generation refused");
            } else {
                kept.push(key);
            }
        }
        if !kept.is_empty() {
            self.send_frame(from, FrameBody::SpecsKept { keys: kept });
        }
        self.publish_replica_gauge();
    }

    /// Specs of these names (naming these hosts, or the sender when a rehost got here
    /// first) are no longer needed here.
    pub(super) fn handle_unreplicate(&mut self, from: &NodeName, keys: Vec<(ActorKey, NodeName)>) {
        for (key, host) in keys {
            if !self.replicas.handle_dropped(&host, &key) {
                self.replicas.handle_dropped(from, &key);
            }
        }
        self.publish_replica_gauge();
    }

    /// A checkpoint from `from`, accepted only if `from` is the current host of that
    /// generation and it is newer than the one kept.
    pub(super) fn handle_checkpoint(
        &mut self,
        from: &NodeName,
        key: ActorKey,
        generation: u64,
        seq: u64,
        snapshot: Snapshot,
    ) {
        let outcome = self
            .replicas
            .handle_checkpoint(from, &key, generation, seq, snapshot);
        if outcome != ReplicaOutcome::Stored {
            let n = Counters::bump(&self.shared.counters.checkpoints_fenced);
            tracing::debug!(name = %key, %from, generation, seq, ?outcome, count = n, "checkpoint refused");
        }
    }

    fn publish_replica_gauge(&self) {
        self.shared.replica_specs.store(
            self.replicas.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Offers a respawn of every name kept here whose host is no longer in the view to the
    /// name's new owner (this node included). Runs when the view changes, before this node
    /// tells its peers that its handoffs are done, so an owner has every offer before it
    /// settles; a fenced node too (its offers may hold the newest checkpoints), although it
    /// runs none itself until the fence is lifted.
    pub(super) fn offer_orphans(&mut self) {
        if self.shared.config.replicas <= 1 {
            return;
        }
        // Offers waiting here for names this node no longer owns follow the owner.
        let placement = self.mesh.membership().placement();
        let mut forwards: BTreeMap<NodeName, Vec<(ActorKey, Offer<Snapshot>)>> = BTreeMap::new();
        for (owner, key, offer) in self.respawns.take_foreign(&self.shared.me, &placement) {
            forwards.entry(owner).or_default().push((key, offer));
        }
        for (owner, offers) in forwards {
            self.send_offers(&owner, offers);
        }
        // A host that announced its departure and is still connected hands its names
        // off itself: it is not lost until it disconnects.
        let orphans = self
            .replicas
            .orphans(|host, inc| self.mesh.is_present(host, inc));
        if orphans.is_empty() {
            return;
        }
        let me = self.shared.me.clone();
        let now = self.now();
        let mut by_owner: BTreeMap<NodeName, Vec<(ActorKey, Offer<Snapshot>)>> = BTreeMap::new();
        for key in orphans {
            let Some(spec) = self.replicas.get(&key).cloned() else {
                continue;
            };
            let Some(owner) = placement.owner_of(&key).cloned() else {
                continue;
            };
            tracing::info!(name = %key, lost = %spec.host, generation = spec.generation, checkpoint = spec.seq, owner = %owner, "name lost its host; offering a respawn to its owner");
            if owner != me {
                // If the owner goes too, the spec is offered again to the next one; kept
                // only where the owner's own replicas will be.
                let keeps =
                    recovery::replica_set(&placement, &key, &owner, self.shared.config.replicas)
                        .contains(&me);
                match self.mesh.membership().incarnation_of(&owner) {
                    Some(inc) if keeps => self.replicas.reassign(&key, owner.clone(), inc),
                    _ => {
                        self.replicas.remove(&key);
                    }
                }
            }
            by_owner
                .entry(owner)
                .or_default()
                .push((key, Offer { spec, hops: 0 }));
        }
        for (owner, offers) in by_owner {
            if owner == me {
                for (key, offer) in offers {
                    self.respawns.handle_offer(key, offer, now);
                }
            } else {
                self.send_offers(&owner, offers);
            }
        }
        self.publish_replica_gauge();
    }

    fn send_offers(&self, to: &NodeName, offers: Vec<(ActorKey, Offer<Snapshot>)>) {
        let budget = self.frame_budget();
        let mut batch = Vec::new();
        let mut bytes = 0;
        for (key, offer) in offers {
            let size = offer.spec.args.len()
                + offer.spec.checkpoint.as_ref().map_or(0, |c| c.bytes.len())
                + key.as_str().len()
                + SPEC_OVERHEAD;
            if !batch.is_empty() && bytes + size > budget {
                let offers = std::mem::take(&mut batch);
                self.send_frame(to, FrameBody::Respawn { offers });
                bytes = 0;
            }
            bytes += size;
            batch.push((key, offer));
        }
        if !batch.is_empty() {
            self.send_frame(to, FrameBody::Respawn { offers: batch });
        }
    }

    /// Respawn offers from `from`: kept, and run at once when this node is settled.
    pub(super) async fn handle_respawn(
        &mut self,
        from: &NodeName,
        offers: Vec<(ActorKey, Offer<Snapshot>)>,
    ) {
        let now = self.now();
        tracing::debug!(%from, offers = offers.len(), "respawn offers");
        for (key, offer) in offers {
            self.respawns.handle_offer(key, offer, now);
        }
        if self.handoff.is_settled() {
            self.run_respawns().await;
        }
    }

    /// Decides every waiting offer: respawn here, pass on, wait, or drop.
    pub(super) async fn run_respawns(&mut self) {
        if self.fenced_since.is_some()
            || self.respawns.is_empty()
            || self.leaving.is_some()
            || self.shutting_down
        {
            return;
        }
        let placement = self.placement.clone();
        let me = self.shared.me.clone();
        let now = self.now();
        let patience_ms = self.timing.respawn_patience_ms();
        let mut forwards: BTreeMap<NodeName, Vec<(ActorKey, Offer<Snapshot>)>> = BTreeMap::new();
        for (key, offer, since) in self.respawns.take_all() {
            let ctx = OfferContext {
                hosted: self.shared.hosted(&key).is_some() || self.outgoing.contains_key(&key),
                // An offer naming this node was handed here and is not running: not "back".
                lost_host_in_view: offer.spec.host != me
                    && self
                        .mesh
                        .is_present(&offer.spec.host, offer.spec.host_incarnation),
                age_ms: now.since(since),
                patience_ms,
            };
            match decide_respawn(&me, &placement, &offer, &key, ctx) {
                RespawnDecision::Spawn => self.respawn(key, offer).await,
                RespawnDecision::Forward(owner) => {
                    forwards.entry(owner).or_default().push((
                        key,
                        Offer {
                            hops: offer.hops + 1,
                            ..offer
                        },
                    ));
                }
                RespawnDecision::Wait => self.respawns.handle_offer(key, offer, since),
                RespawnDecision::Drop(why) => {
                    tracing::debug!(name = %key, why, "respawn offer dropped");
                }
            }
        }
        for (owner, offers) in forwards {
            self.send_offers(&owner, offers);
        }
    }

    async fn respawn(&mut self, key: ActorKey, offer: Offer<Snapshot>) {
        // A checkpoint may have reached this node after the offer was made.
        let spec = self.replicas.freshest(&key, offer.spec);
        let Some(kind) = self.shared.kinds.get(&spec.kind).cloned() else {
            let n = Counters::bump(&self.shared.counters.unknown_kinds);
            tracing::error!(name = %key, kind = %spec.kind, count = n, "cannot respawn a name of a kind not registered here; it is lost");
            return;
        };
        let activation = Activation {
            generation: spec.generation.saturating_add(1),
            origin: self.shared.me.clone(),
        };
        let checkpoint = spec.checkpoint.clone();
        let started = Instant::now();
        let cell = self.start_actor(&key, &kind, &spec.args, checkpoint.clone(), activation);
        if cell.is_none() {
            return;
        }
        self.replicas.remove(&key);
        if let (Some(snapshot), Some(child)) = (
            checkpoint,
            self.child_ids
                .get(&key)
                .and_then(|id| self.children.get_mut(id)),
        ) {
            child.checkpoint = Some(snapshot);
            child.checkpoint_seq = 1;
        }
        Counters::bump(&self.shared.counters.respawned);
        tracing::info!(
            name = %key,
            lost = %spec.host,
            generation = spec.generation.saturating_add(1),
            checkpoint = spec.seq,
            start_us = started.elapsed().as_micros() as u64,
            "respawned a name whose host was lost"
        );
        self.register_elsewhere(&key, kind.name());
        self.replicate(Some(std::slice::from_ref(&key)));
    }

    /// A copy of `key` arrived from `from` (`snapshot`: its state) while one runs here:
    /// two live copies met after a partition (or a pause). Resolves it by the kind's
    /// policy. A copy that is itself moving away takes the conflict with it.
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
        let child = child_id.and_then(|id| self.children.get(&id));
        let moving_away = child.is_none_or(|c| c.draining) || self.outgoing.contains_key(&key);
        if let Some(child) = child.filter(|c| c.activation == incoming) {
            tracing::debug!(name = %key, %from, generation = child.activation.generation, "the same copy arrived twice; ignored");
            return;
        }
        if moving_away {
            let same = self
                .outgoing
                .get(&key)
                .is_some_and(|o| o.activation == incoming);
            if !same {
                tracing::debug!(name = %key, %from, "conflicting copy arrived while ours moves; it follows ours");
                let entry = MigrateEntry {
                    snapshot,
                    chunks: 0,
                    ..entry
                };
                self.conflicts.insert(key, (from.clone(), entry));
            }
            return;
        }
        let (Some(id), Some(entry_here)) = (child_id, self.shared.hosted(&key)) else {
            return;
        };
        let Some(child) = self.children.get_mut(&id) else {
            return;
        };
        let policy = child.kind.conflict_policy();
        let resolution = recovery::resolve(
            policy,
            CopyMeta {
                generation: child.activation.generation,
                host: &child.activation.origin,
            },
            CopyMeta {
                generation: incoming.generation,
                host: &incoming.origin,
            },
            snapshot.is_some(),
        );
        let n = Counters::bump(&self.shared.counters.conflicts);
        tracing::info!(
            name = %key,
            %from,
            ?policy,
            ?resolution,
            local_generation = child.activation.generation,
            incoming_generation = incoming.generation,
            count = n,
            "two live copies of a name met; resolved"
        );
        if let (Some(snapshot), true) = (snapshot, resolution != Resolution::KeepLocal) {
            if let Err(e) = child.kind.resolve(&entry_here.cell, resolution, snapshot) {
                tracing::warn!(name = %key, error = ?e, "the copy here stopped before it could resolve the conflict");
            }
        }
        // The survivor is a new activation: checkpoints of both former copies are fenced,
        // and every holder of either gets the new spec or drops the old one.
        child.activation = Activation {
            generation: child
                .activation
                .generation
                .max(incoming.generation)
                .saturating_add(1),
            origin: self.shared.me.clone(),
        };
        child.holders.refresh(&self.shared.me);
        child.holders.retire(entry.holders.clone());
        self.replicate(Some(std::slice::from_ref(&key)));
    }

    /// Runs before every message: a gap longer than the deadline since the previous one
    /// (heartbeat ticks arrive every interval, so the supervisor is never idle that long)
    /// means this process was paused, and its peers have declared it down.
    pub(super) fn check_pause(&mut self) {
        let gap = self.last_handled.elapsed();
        self.last_handled = Instant::now();
        if gap <= self.timing.pause_gap()
            || self.mesh.membership().peers().is_empty()
            || self.leaving.is_some()
            || self.fenced_since.is_some()
        {
            return;
        }
        let n = Counters::bump(&self.shared.counters.pauses);
        tracing::warn!(
            paused_ms = gap.as_millis() as u64,
            count = n,
            "this node was paused past the heartbeat deadline: its peers have declared it down and respawned its names; holding every message to its actors until it has rejoined"
        );
        let now = self.now();
        self.mesh.handle_resumed(now);
        self.fenced_since = Some(Instant::now());
        self.shared
            .fenced
            .store(true, std::sync::atomic::Ordering::Relaxed);
        {
            let mut hosted = self.shared.hosted_mut();
            for entry in hosted.values_mut() {
                entry.state = EntryState::Moving;
            }
        }
        // A new epoch: handles look their routes up again and find the fence.
        self.placement = self.mesh.membership().placement();
        self.publish_view();
    }

    /// Lifts the pause fence when `core::recovery::fence_decision` says so (`settled`: the
    /// node just settled for its view). Returns true when it was lifted.
    pub(super) fn maybe_unfence(&mut self, settled: bool) -> bool {
        let Some(since) = self.fenced_since else {
            return false;
        };
        let waited = since.elapsed();
        let decision = fence_decision(FenceState {
            waited_ms: waited.as_millis() as u64,
            view_changed: self.view_started > since,
            // A settle by deadline did not hear from every peer: some copies may still be
            // on their way back here.
            settled_by_barrier: settled && !self.settled_by_deadline,
            has_peers: !self.mesh.membership().peers().is_empty(),
            deadline_ms: self.timing.heartbeat_deadline_ms,
            patience_ms: self.timing.fence_patience_ms(),
        });
        let waited_ms = waited.as_millis() as u64;
        match decision {
            FenceDecision::Hold => return false,
            FenceDecision::Rejoined => {
                tracing::info!(
                    waited_ms,
                    "rejoined after the pause; delivering held messages"
                )
            }
            FenceDecision::Unnoticed => tracing::info!(
                waited_ms,
                "the peers kept this node through its pause; delivering held messages"
            ),
            FenceDecision::GaveUp => {
                tracing::warn!(
                    waited_ms,
                    "no peer came back after the pause; serving alone"
                )
            }
        }
        self.fenced_since = None;
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
        self.offer_orphans();
        true
    }

    /// Of `keys` hosted here, those whose spec no other live node holds.
    pub(super) fn without_live_holders<'a>(
        &self,
        keys: impl Iterator<Item = &'a ActorKey>,
    ) -> Vec<ActorKey> {
        let me = &self.shared.me;
        keys.filter(|k| {
            self.child_ids
                .get(*k)
                .and_then(|id| self.children.get(id))
                .is_some_and(|c| {
                    !c.stopping
                        && !c.draining
                        && c.holders
                            .all(me)
                            .iter()
                            .all(|(n, _)| n == me || !self.mesh.membership().is_up(n))
                })
        })
        .cloned()
        .collect()
    }

    /// After the node settled for a view: lift the fence if it may, start respawns,
    /// re-replicate at once the names whose every holder is gone, and the others once the
    /// view has been quiet for two heartbeats (a view change moves many holders at once;
    /// former holders keep the specs meanwhile, so this stays off the path of the
    /// handoffs that peers are still settling).
    pub(super) async fn after_settle(&mut self) {
        self.maybe_unfence(true);
        if self.fenced_since.is_none() {
            self.run_respawns().await;
        }
        let keys: Vec<ActorKey> = self.child_ids.keys().cloned().collect();
        let orphaned = self.without_live_holders(keys.iter());
        self.replicate(Some(&orphaned));
        self.replicate_due = true;
        self.publish_replica_gauge();
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
        let mut yields: Vec<(ActorKey, NodeName)> = Vec::new();
        {
            let mut dir = self
                .shared
                .directory
                .write()
                .unwrap_or_else(|e| e.into_inner());
            for (key, _kind) in entries {
                if self.runs_here(&key) {
                    yields.push((key, self.shared.me.clone()));
                    continue;
                }
                match dir.get(&key) {
                    Some(host) if host != from && self.mesh.membership().is_up(host) => {
                        yields.push((key, host.clone()));
                    }
                    // Kept whatever this node's view says now: the sender may already route
                    // by a view this node has not adopted yet (entries it does not own are
                    // pruned at its next view change).
                    _ => {
                        dir.insert(key, from.clone());
                    }
                }
            }
        }
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
