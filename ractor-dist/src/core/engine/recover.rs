//! The engine's side of recovery: it feeds the recovery machine
//! ([`crate::core::recovery::Recovery`]) with the names running here, the view and the time,
//! in the order the protocol needs; the machine's commands are drained by the node layer.

use std::collections::BTreeSet;

use super::{ChildId, Engine};
use crate::core::recovery::{ConflictOutcome, Ctx, Here, Resolution, RespawnStart};
use crate::core::wire::MigrateEntry;
use crate::core::{
    Activation, ActorKey, Incarnation, Millis, NodeName, Offer, Placement, Snapshot, Spec,
    SpecHolders,
};

/// What became of a respawned actor's start (see [`Engine::handle_start_ok`]).
#[derive(Debug)]
pub struct Respawned {
    /// Its name.
    pub key: ActorKey,
    /// The node it was lost with.
    pub lost: NodeName,
    /// Its generation now.
    pub generation: u64,
    /// The checkpoint it started from.
    pub seq: u64,
    /// How long its start took.
    pub start_ms: u64,
    /// Its kind.
    pub kind: String,
}

impl Engine {
    /// Calls `f` with the recovery machine, the names running here, the context of a call
    /// under the handoff view's placement at `now`, and whether a name is hosted here, on
    /// its way out, or arriving (its actor not started yet): what every decision on specs,
    /// offers and the fence needs (the engine's fields borrowed apart).
    fn with_recovery<R>(
        &mut self,
        now: Millis,
        f: impl FnOnce(
            &mut crate::core::Recovery<Snapshot>,
            &mut [crate::core::recovery::Hosted<'_, Snapshot>],
            Ctx<'_, crate::core::Mesh>,
            &dyn Fn(&ActorKey) -> bool,
        ) -> R,
    ) -> R {
        let placement = self.placement.clone();
        let leaving = self.is_leaving();
        let ctx = Ctx {
            now,
            placement: &placement,
            peers: &self.mesh,
            leaving,
        };
        let (child_ids, outgoing, arriving) = (&self.child_ids, &self.outgoing, &self.arriving);
        let hosted = |k: &ActorKey| {
            child_ids.contains_key(k) || outgoing.contains_key(k) || arriving.contains(k)
        };
        let mut names = Engine::running(&mut self.children, child_ids, None);
        f(&mut self.recovery, &mut names, ctx, &hosted)
    }

    /// The placement of the view published last (what handles route by).
    pub fn view_placement(&self) -> Placement {
        self.routing.routes().placement().clone()
    }

    /// Brings the replicas of hosted names (all, or `only`) in line with the published view.
    pub fn replicate(&mut self, only: Option<&[ActorKey]>, now: Millis) {
        let placement = self.view_placement();
        let leaving = self.is_leaving();
        let ctx = Ctx {
            now,
            placement: &placement,
            peers: &self.mesh,
            leaving,
        };
        let mut names = Engine::running(&mut self.children, &self.child_ids, only);
        self.recovery.replicate(&mut names, ctx);
    }

    /// How many names running here fewer live nodes keep a confirmed spec of than the view
    /// allows (`replicas - 1`, or every other member of a smaller view): a loss of this
    /// node now loses them, as it would with one of those holders lost at the same time.
    /// Replica sets catch up once a view has been quiet for
    /// [`Timing::replicate_quiet_ms`](crate::core::Timing::replicate_quiet_ms) (at once for
    /// names without any live holder), so this is 0 again some heartbeats after a change:
    /// the moment to take the next node down in a rolling restart. It walks every running
    /// name (read it on the heartbeat tick, not per message).
    pub fn under_replicated(&self) -> usize {
        let r = self.config.replicas;
        if r <= 1 || self.is_leaving() {
            return 0;
        }
        let membership = self.mesh.membership();
        let placement = self.routing.routes().placement();
        let others = (placement.members().iter())
            .filter(|n| **n != self.me && membership.is_up(n))
            .count();
        let want = (r - 1).min(others);
        if want == 0 {
            return 0;
        }
        (self.children.values())
            .filter(|c| !c.draining && !c.stopping)
            .filter(|c| {
                // (a holder restarted since, under the same name, keeps nothing)
                let live = (c.meta.holders.confirmed())
                    .filter(|(n, inc)| membership.incarnation_of(n) == Some(*inc));
                live.count() < want
            })
            .count()
    }

    /// Names that arrived (by handoff) and stay here: replicated at once when no other live
    /// node keeps their spec, the others once the view is quiet.
    pub fn replicate_arrivals(&mut self, arrived: &[ActorKey], now: Millis) {
        let placement = self.view_placement();
        let leaving = self.is_leaving();
        let ctx = Ctx {
            now,
            placement: &placement,
            peers: &self.mesh,
            leaving,
        };
        let mut names = Engine::running(&mut self.children, &self.child_ids, Some(arrived));
        self.recovery.handle_arrivals(&mut names, ctx);
    }

    /// `key` no longer runs here: every holder drops its spec (sent with the next flush).
    pub fn unreplicate(&mut self, key: &ActorKey, holders: &SpecHolders) {
        self.recovery.unreplicate(key, holders);
    }

    /// `key` was handed off to `to`: its holders name `to` from now on.
    pub fn rehost(&mut self, key: &ActorKey, holders: &SpecHolders, to: &NodeName) {
        self.recovery.rehost(key, holders, to, &self.mesh);
    }

    /// A hosted actor checkpointed its state (with `delta`, the change since its previous
    /// checkpoint; its first one is always whole).
    pub fn handle_checkpointed(
        &mut self,
        key: &ActorKey,
        child: ChildId,
        snapshot: Snapshot,
        delta: bool,
    ) {
        let Some(c) = self.children.get_mut(&child) else {
            return;
        };
        if c.key != *key || c.stopping {
            return;
        }
        // It runs: its checkpoints are newer than what it was started from.
        c.started_from = None;
        self.recovery
            .handle_checkpointed(key, &mut c.meta, snapshot, delta);
    }

    /// `from` keeps the specs of these names now: former holders may drop theirs.
    pub fn handle_specs_kept(&mut self, from: &NodeName, keys: Vec<ActorKey>) {
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
        self.recovery.flush();
    }

    /// `from` handed these names off to `to`.
    pub fn handle_rehost(
        &mut self,
        from: &NodeName,
        keys: Vec<(ActorKey, NodeName)>,
        to: NodeName,
        incarnation: Incarnation,
        batch: u64,
    ) {
        // A rehost that arrives after this node saw its new host go down (it was delayed,
        // or sent again after a loss) leaves specs naming a gone host: they are offered now,
        // not at the next view change. (A new host this node has not heard of yet is not
        // gone: its view may lag.)
        let named = self
            .recovery
            .handle_rehost(from, keys, to, incarnation, batch);
        let membership = self.mesh.membership();
        let orphaned: BTreeSet<ActorKey> = named
            .into_iter()
            .filter(|(_, host, inc)| membership.is_gone(host, *inc))
            .map(|(key, _, _)| key)
            .collect();
        if !orphaned.is_empty() {
            // Only these: a spec naming a host this node has not heard of yet is no orphan.
            let placement = self.mesh.membership().placement();
            let leaving = self.is_leaving();
            let ctx = Ctx {
                now: self.now,
                placement: &placement,
                peers: &self.mesh,
                leaving,
            };
            self.recovery.offer_orphans_among(ctx, &orphaned);
        }
    }

    /// `from` hosts these names: keep their specs, and say so.
    pub fn handle_replicate(&mut self, from: &NodeName, specs: Vec<(ActorKey, Spec<Snapshot>)>) {
        self.recovery.handle_replicate(from, specs);
    }

    /// Specs of these names are no longer needed here.
    pub fn handle_unreplicate(
        &mut self,
        from: &NodeName,
        keys: Vec<(ActorKey, NodeName)>,
        batch: u64,
    ) {
        self.recovery.handle_unreplicate(from, keys, batch);
    }

    /// A checkpoint from `from` of a name whose spec is kept here (with `delta`, the change
    /// since checkpoint `seq - 1`).
    pub fn handle_checkpoint(
        &mut self,
        from: &NodeName,
        key: ActorKey,
        generation: u64,
        seq: u64,
        snapshot: Snapshot,
        delta: bool,
    ) {
        self.recovery
            .handle_checkpoint(from, key, generation, seq, snapshot, delta);
    }

    /// Offers a respawn of every name kept here whose host is gone to its new owner. Runs
    /// when the view changes, before this node tells its peers that its handoffs are done,
    /// so an owner has every offer before it settles; a fenced node too (its offers may
    /// hold the newest checkpoints), although it runs none itself until the fence is lifted.
    pub fn offer_orphans(&mut self, now: Millis) {
        let placement = self.mesh.membership().placement();
        let leaving = self.is_leaving();
        let ctx = Ctx {
            now,
            placement: &placement,
            peers: &self.mesh,
            leaving,
        };
        self.recovery.offer_orphans(ctx);
    }

    /// Respawn offers from a peer: kept, and decided at once when this node is settled (a
    /// name offered while it runs here has its spec sent to its holders again).
    pub fn handle_offers(
        &mut self,
        from: &NodeName,
        offers: Vec<(ActorKey, Offer<Snapshot>)>,
        now: Millis,
    ) {
        let settled = self.handoff.is_settled();
        self.with_recovery(now, |recovery, names, ctx, hosted| {
            recovery.handle_offers(from, offers, settled, ctx, hosted);
            recovery.replicate_offered(names, ctx, hosted);
        });
    }

    /// A respawn began at `now` with actor `child`: it takes effect once that started.
    pub fn handle_respawn_launched(
        &mut self,
        child: ChildId,
        start: RespawnStart<Snapshot>,
        now: Millis,
    ) {
        self.respawning.insert(child, (start, now));
    }

    /// Actor `child` started (its `pre_start` or `restore` completed): its checkpoints are
    /// newer than what it started from. A respawn takes effect now: its directory node
    /// is told it runs here and its holders get the new generation's spec (returned to
    /// report).
    pub fn handle_start_ok(&mut self, child: ChildId, now: Millis) -> Option<Respawned> {
        if let Some(c) = self.children.get_mut(&child) {
            c.started_from = None;
        }
        let done = self.handle_respawn_started(child, now)?;
        self.register_elsewhere(&done.key, &done.kind);
        self.replicate(Some(std::slice::from_ref(&done.key)), now);
        Some(done)
    }

    /// A respawned actor started: its replica here becomes the running name, its holders
    /// get the new generation's spec. Returns what to report.
    fn handle_respawn_started(&mut self, child: ChildId, now: Millis) -> Option<Respawned> {
        let (start, started) = self.respawning.remove(&child)?;
        let RespawnStart {
            key,
            meta,
            lost,
            seq,
            loss,
        } = start;
        self.recovery.handle_loss_respawned(&key, loss);
        let c = self.children.get_mut(&child)?;
        let kind = c.kind.clone();
        let generation = meta.activation.generation;
        c.meta = meta;
        self.recovery.handle_respawned(&key);
        Some(Respawned {
            key,
            lost,
            generation,
            seq,
            start_ms: now.0.saturating_sub(started.0),
            kind,
        })
    }

    /// A copy of `entry.key` arrived from `from` (`snapshot`: its state) while one runs
    /// here: two live copies met after a partition (or a pause). A copy that is itself
    /// moving away takes the conflict with it (kept in `conflicts` until it lands), except
    /// ours come back (the same activation): it is sent on at once to where ours went, when
    /// that node is reachable and the state fits in a frame.
    pub(crate) fn resolve_conflict(
        &mut self,
        from: &NodeName,
        entry: MigrateEntry,
        snapshot: Option<Snapshot>,
        now: Millis,
    ) -> bool {
        let mut entry = entry;
        let key = entry.key.clone();
        // Whichever copy survives goes on from what both delivered (a sender's casts that
        // the other copy took are not waited for).
        if let Some(child) = self.child_of_mut(&key) {
            child.meta.order.merge(entry.order.iter().copied());
            entry.order = child.meta.order.entries();
        }
        let incoming = Activation {
            generation: entry.generation,
            origin: entry.origin.clone(),
        };
        let child_id = self.child_ids.get(&key).copied();
        let running = child_id
            .and_then(|id| self.children.get(&id))
            .is_some_and(|c| !c.draining)
            && !self.outgoing.contains_key(&key);
        let placement = self.view_placement();
        let leaving = self.is_leaving();
        let ctx = Ctx {
            now,
            placement: &placement,
            peers: &self.mesh,
            leaving,
        };
        let kinds = &self.config.kinds;
        let here = match child_id.and_then(|id| self.children.get_mut(&id)) {
            Some(child) if running => Here::Running {
                policy: kinds
                    .get(&child.kind)
                    .map(|k| k.conflict)
                    .unwrap_or_default(),
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
        let superseded = outcome == ConflictOutcome::Resolved(Resolution::KeepLocal);
        // The copy here survives: on to the name's owner, if that is another node, once
        // the view has been quiet.
        if running && matches!(outcome, ConflictOutcome::Resolved(_)) {
            self.resolved.insert(key.clone());
        }
        if let ConflictOutcome::Follows(snapshot) = outcome {
            let entry = MigrateEntry {
                snapshot,
                chunks: 0,
                ..entry
            };
            // Ours came back (the same activation; see `Recovery::resolve_conflict`): it
            // goes on to where ours went at once, not once our move is acknowledged (this
            // node may be leaving, and go by its deadline before that). Sent once: the
            // batch that brought it is acknowledged, so a frame lost on the way loses it
            // (kept here instead when that node is not reachable now).
            let came_around = self
                .outgoing
                .get(&key)
                .is_some_and(|o| o.meta.activation == incoming);
            match self.handoff.target_of(&key).cloned() {
                Some(to) if came_around && self.mesh.reachable().contains(&to) => {
                    for body in self.conflict_frames(entry) {
                        self.send(&to, body);
                    }
                }
                _ => {
                    self.conflicts.insert(key, (from.clone(), entry));
                }
            }
        }
        superseded
    }

    /// Gives the recovery engine's pause rule the time before a message is handled
    /// (`done`: after it was).
    pub fn handle_message(&mut self, now: Millis, done: bool) {
        let has_peers = !self.mesh.membership().peers().is_empty();
        let leaving = self.is_leaving();
        if done {
            self.recovery.handle_message_done(now, has_peers, leaving);
        } else {
            self.recovery.handle_message(now, has_peers, leaving);
        }
    }

    /// After the node settled for a view (`by_deadline`: without hearing from every peer):
    /// the recovery engine lifts the fence if it may, decides offers and replicates.
    pub fn recovery_settled(&mut self, by_deadline: bool, now: Millis) {
        let view_started = self.view_started;
        self.with_recovery(now, |recovery, names, ctx, hosted| {
            recovery.handle_settled(by_deadline, view_started, names, ctx, hosted)
        });
    }

    /// Copies that survived a conflict here go on to their owner when the current view gives
    /// them to another node, once this node has settled and the view has been quiet for
    /// [`Timing::replicate_quiet_ms`](crate::core::Timing::replicate_quiet_ms). Copies meet
    /// where one of them runs, not always at the owner, and the two nodes may have decided
    /// under different views while a heal converges (either may be the newer): waiting for
    /// this node's view to be quiet gives the views time to agree, so the survivor usually
    /// goes the right way, even back to the node it came from (at worst one extra move:
    /// that node does not send it straight back). Before, it ran off its owner until the
    /// next view change. A leaving node forgets them (its leave hands every name off).
    pub(crate) fn hand_on_resolved(&mut self, now: Millis) {
        if self.is_leaving() {
            self.resolved.clear();
            return;
        }
        let quiet = self.handoff.is_settled()
            && now.since(self.view_started) >= self.timing.replicate_quiet_ms();
        if !quiet || self.resolved.is_empty() {
            return;
        }
        for key in std::mem::take(&mut self.resolved) {
            let mode = (self.child_of(&key))
                .filter(|c| !c.draining && !c.stopping)
                .map(|c| c.mode);
            if let Some(mode) = mode {
                self.handoff.handle_resolved(key, mode, now);
            }
        }
    }

    /// The heartbeat tick's part of recovery: the fence may lift, and once the view has
    /// been quiet the replica sets are brought up to date. Returns true then.
    pub fn recovery_tick(&mut self, now: Millis) -> bool {
        let (settled, view_started) = (self.handoff.is_settled(), self.view_started);
        self.with_recovery(now, |recovery, names, ctx, hosted| {
            recovery.handle_tick(settled, view_started, names, ctx, hosted)
        })
    }

    /// `from` runs these names (it is their directory node's job to know). Returns the
    /// names it should yield: those that also run here, or are registered on another live
    /// node (a partition healed), with where the other copy runs.
    pub fn handle_register(
        &mut self,
        from: &NodeName,
        entries: Vec<(ActorKey, String)>,
    ) -> Vec<(ActorKey, NodeName)> {
        // A leaver hands every name off: what it registers after this node took its leave
        // into the view (frames slower than the leave) is stale, and an entry naming it
        // would route casts to a node about to go.
        if self.mesh.leavers().contains_key(from) {
            return Vec::new();
        }
        let keys: Vec<ActorKey> = entries.into_iter().map(|(key, _kind)| key).collect();
        let here: BTreeSet<&ActorKey> = keys.iter().filter(|k| self.runs_here(k)).collect();
        let membership = self.mesh.membership();
        self.routing.handle_register(
            from,
            keys.iter().cloned(),
            |k| here.contains(k),
            |host| membership.is_up(host),
        )
    }

    /// Another copy of these names runs on the given nodes: hand ours over there (the
    /// conflict is resolved where they meet). Returns the names handed over.
    pub fn handle_yield(&mut self, keys: Vec<(ActorKey, NodeName)>, now: Millis) -> usize {
        let mut n = 0;
        for (key, to) in keys {
            if self.runs_here(&key) && self.mesh.membership().is_up(&to) {
                self.handoff.handle_yield(key, to, now);
                n += 1;
            }
        }
        n
    }
}
