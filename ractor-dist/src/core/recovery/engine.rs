//! The recovery engine of one node: replication of specs and checkpoints, respawn offers
//! and respawns, conflicts between two live copies, and the pause fence.
//!
//! Sans-IO: the node calls `handle_*` (a frame from a peer, a checkpoint taken here, a
//! settle, a tick, a message about to be handled) with the time as [`Millis`] and with what
//! it hosts ([`Hosted`]: the [`NameMeta`] of each name that runs here and is neither
//! stopping nor moving away), then drains [`RecoveryCommand`]s with
//! [`Recovery::poll_command`] and executes them in order:
//!
//! ```text
//!  handle_checkpointed / handle_replicate / handle_specs_kept /       poll_command()
//!  handle_unreplicate / handle_rehost / handle_checkpoint /      ──►  Send{to, msg}
//!  handle_offers / offer_orphans / resolve_conflict /                 Respawn(start)
//!  handle_message / handle_message_done / handle_settled / handle_tick  Resolve{key, ..}
//!                                                                      Fence | Unfence
//!                                                                      Event(..)
//! ```
//!
//! The node owns the actors, the hosted table and the held messages; the engine owns the
//! replicas kept here, the offers waiting, the outbox of drops and rehosts, and the fence.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::commands::{Ctx, RecoveryCommand, RecoveryConfig, RecoveryEvent, RecoveryMsg};
use super::fence::Fence;
use super::meta::{batches, spec_size, Checkpoint, NameMeta, Peers};
use super::{
    replica_set, Consumed, Notice, ReplicaOutcome, Replicas, Respawns, SentNotices, SentOffers,
    Spec, SpecHolders,
};
use crate::core::{ActorKey, Incarnation, Millis, NodeName};

/// Most names per drop or rehost frame.
pub const DROPS_PER_FRAME: usize = 4096;

/// Most drops and rehosts kept waiting for the rehost they depend on (past it, the first
/// by name goes).
const MAX_EARLY_NOTICES: usize = 4096;

/// How many times a spec its holder has not confirmed keeping is sent again (one resend
/// interval apart) before this node stops trying ([`Recovery::resend_specs`]).
pub(crate) const MAX_SPEC_RESENDS: u32 = 5;

/// A name hosted here, as the node hands it to the engine.
pub type Hosted<'a, S> = (&'a ActorKey, &'a mut NameMeta<S>);

/// The recovery engine of one node. `S` is the checkpoint type.
#[derive(Debug)]
pub struct Recovery<S> {
    pub(super) cfg: RecoveryConfig,
    pub(super) replicas: Replicas<S>,
    pub(super) respawns: Respawns<S>,
    /// Offers sent and not acknowledged yet (sent again until they are).
    pub(super) sent_offers: SentOffers<S>,
    /// Spec drops waiting to be sent, per replica node: (name, the host its spec names).
    pub(super) drops: BTreeMap<NodeName, Vec<(ActorKey, NodeName)>>,
    /// Rehosts waiting to be sent, per (holder, new host, its incarnation).
    pub(super) rehosts: BTreeMap<(NodeName, NodeName, Incarnation), Vec<(ActorKey, NodeName)>>,
    /// Drops and rehosts sent and not acknowledged yet (sent again until they are).
    pub(super) sent_notices: SentNotices,
    /// Losses this node respawned names for: the same offer coming again is dropped.
    pub(super) consumed: Consumed,
    /// Drops and rehosts that came before the rehost they depend on (from another sender,
    /// so in no order with it): the spec kept here named another host then. Applied when a
    /// rehost makes the spec name that host; forgotten when a spec comes from a host.
    pub(super) early: BTreeMap<ActorKey, Notice>,
    /// Names a holder offered while they ran (or were arriving) here: that holder missed
    /// a rehost, took this node's predecessor for the host, and has let its spec go (or
    /// keeps a stale one). Their specs go to their holders again at once
    /// ([`Recovery::replicate_offered`]).
    pub(super) offered_here: BTreeSet<ActorKey>,
    /// The time of the last call that knew it (`flush` has no clock of its own).
    pub(super) now: Millis,
    pub(super) fence: Fence,
    /// Replica sets are brought up to date once the view is quiet.
    pub(super) replicate_due: bool,
    /// Specs sent and not confirmed at the last look ([`Recovery::resend_specs`]), with how
    /// many times each was sent again: those still unconfirmed at the next look are sent
    /// again, at most [`MAX_SPEC_RESENDS`] times.
    pub(super) specs_unconfirmed: BTreeMap<(ActorKey, NodeName), u32>,
    /// When unconfirmed specs were last looked at.
    pub(super) specs_checked: Millis,
    pub(super) commands: VecDeque<RecoveryCommand<S>>,
}

impl<S: Checkpoint> Recovery<S> {
    /// `holder` is gone for good (its leave completed, or it was removed from the known
    /// set): the drops and rehosts queued or sent to it and not answered are forgotten (a
    /// node that comes back keeps nothing, so they are moot; kept, they would wait for it
    /// forever).
    pub fn forget_holder(&mut self, holder: &NodeName) {
        self.drops.remove(holder);
        self.rehosts.retain(|(h, _, _), _| h != holder);
        self.sent_notices.forget_holder(holder);
    }

    /// Records the sizes of its tables (see [`crate::core::footprint`]).
    pub fn footprint(&self, f: &mut crate::core::Footprint) {
        f.add("recovery.specs", self.replicas.len());
        f.add("recovery.respawns", self.respawns.len());
        f.add("recovery.offers_sent", self.sent_offers.len());
        f.add(
            "recovery.notices_queued",
            self.drops.values().map(Vec::len).sum::<usize>()
                + self.rehosts.values().map(Vec::len).sum::<usize>(),
        );
        f.add("recovery.notices_sent", self.sent_notices.len());
        f.add("recovery.early", self.early.len());
        f.add("recovery.offered_here", self.offered_here.len());
        f.add("recovery.specs_unconfirmed", self.specs_unconfirmed.len());
        f.add_bounded(
            "recovery.consumed",
            self.consumed.len(),
            super::consumed::MAX_CONSUMED,
        );
    }

    /// An engine with nothing kept.
    pub fn new(cfg: RecoveryConfig) -> Self {
        Self {
            cfg,
            replicas: Replicas::new(),
            respawns: Respawns::new(),
            sent_offers: SentOffers::default(),
            drops: BTreeMap::new(),
            rehosts: BTreeMap::new(),
            sent_notices: SentNotices::default(),
            consumed: Consumed::default(),
            early: BTreeMap::new(),
            offered_here: BTreeSet::new(),
            now: Millis(0),
            fence: Fence::default(),
            replicate_due: false,
            specs_unconfirmed: BTreeMap::new(),
            specs_checked: Millis(0),
            commands: VecDeque::new(),
        }
    }

    /// The next command to execute.
    pub fn poll_command(&mut self) -> Option<RecoveryCommand<S>> {
        self.commands.pop_front()
    }

    /// The specs kept here.
    pub fn replicas(&self) -> &Replicas<S> {
        &self.replicas
    }

    /// The offers waiting.
    pub fn respawns(&self) -> &Respawns<S> {
        &self.respawns
    }

    /// The offers sent and not acknowledged yet.
    pub fn sent_offers(&self) -> &SentOffers<S> {
        &self.sent_offers
    }

    /// The drops and rehosts sent and not acknowledged yet.
    pub fn sent_notices(&self) -> &SentNotices {
        &self.sent_notices
    }

    /// The time, for what is sent without a call that carries it (drops and rehosts
    /// flushed after a stop or an exit).
    pub fn set_now(&mut self, now: Millis) {
        self.now = self.now.max(now);
    }

    /// The configuration.
    pub fn config(&self) -> &RecoveryConfig {
        &self.cfg
    }

    pub(super) fn send(&mut self, to: &NodeName, msg: RecoveryMsg<S>) {
        // A spec sent after a drop or rehost of the same name settles it, and a checkpoint
        // a rehost (the notice, on the same link, arrives first). A checkpoint settling a
        // rehost leaves a holder that lost that rehost to the copy the move's other end
        // keeps sending (settling only on a spec lost a name in the lossy simulation, seed
        // 63). A checkpoint settles no drop: it goes to holders whose drop is pending, so
        // that a spec they offer before the drop lands is as fresh as the current
        // holders' (lossy simulation, seed 82).
        match &msg {
            RecoveryMsg::Replicate { specs } => {
                for (key, _) in specs {
                    self.sent_notices.supersede(to, key);
                }
            }
            RecoveryMsg::Checkpoint { key, .. } => self.sent_notices.supersede_rehost(to, key),
            _ => {}
        }
        self.commands.push_back(RecoveryCommand::Send {
            to: to.clone(),
            msg,
        });
    }

    pub(super) fn event(&mut self, event: RecoveryEvent) {
        self.commands.push_back(RecoveryCommand::Event(event));
    }

    /// A hosted name checkpointed its state (with `delta`, the change since its previous
    /// checkpoint): keep it (a local restart after a panic starts from it) and send it to
    /// every holder of its spec, current or former (former ones name this node once its
    /// arrival was acknowledged, and keep the spec until the current ones confirmed, or
    /// until their drop lands when it is not acknowledged yet). A
    /// checkpoint over the frame budget stays here; a fenced node sends none (its peers may
    /// have replaced it). A delta with no checkpoint here to extend is dropped (the actor's
    /// first checkpoint is a full one).
    pub fn handle_checkpointed(
        &mut self,
        key: &ActorKey,
        meta: &mut NameMeta<S>,
        snapshot: S,
        delta: bool,
    ) {
        match (&mut meta.checkpoint, delta) {
            (_, false) => meta.checkpoint = Some(snapshot.clone()),
            (Some(kept), true) => kept.extend(snapshot.clone()),
            (None, true) => {
                let (generation, seq) = (meta.activation.generation, meta.checkpoint_seq + 1);
                let from = self.cfg.me.clone();
                self.event(RecoveryEvent::CheckpointRefused {
                    key: key.clone(),
                    from,
                    generation,
                    seq,
                    outcome: ReplicaOutcome::Gap,
                });
                return;
            }
        }
        meta.checkpoint_seq = meta.checkpoint_seq.saturating_add(1);
        let (seq, generation) = (meta.checkpoint_seq, meta.activation.generation);
        let mut targets: Vec<NodeName> = meta
            .holders
            .all(&self.cfg.me)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        targets.extend(self.sent_notices.dropping(key).cloned());
        targets.sort();
        targets.dedup();
        let bytes = snapshot.size();
        if bytes > self.cfg.frame_budget {
            let limit = self.cfg.frame_budget;
            self.event(RecoveryEvent::CheckpointTooLarge {
                key: key.clone(),
                bytes,
                limit,
            });
            return;
        }
        if self.fence.is_fenced() || targets.is_empty() {
            return;
        }
        for node in targets {
            let msg = RecoveryMsg::Checkpoint {
                key: key.clone(),
                generation,
                seq,
                snapshot: snapshot.clone(),
                delta,
            };
            self.send(&node, msg);
        }
        self.event(RecoveryEvent::Checkpointed);
    }

    /// Brings the replicas of `names` in line with `placement`: the spec goes (batched under
    /// the frame budget) to nodes that newly keep it, a drop to nodes that no longer do.
    /// A fenced node replicates too: its specs carry their generation, so replicas refuse
    /// them when a respawn replaced them, and a copy it alone holds (one that won a conflict
    /// while it waited) must not die with it.
    pub fn replicate<P: Peers>(&mut self, names: &mut [Hosted<'_, S>], ctx: Ctx<'_, P>) {
        let r = self.cfg.replicas;
        if r <= 1 || ctx.leaving {
            return;
        }
        let me = self.cfg.me.clone();
        let mut specs: BTreeMap<NodeName, Vec<(ActorKey, Spec<S>)>> = BTreeMap::new();
        for (key, meta) in names.iter_mut() {
            let desired: Vec<(NodeName, Incarnation)> = replica_set(ctx.placement, key, &me, r)
                .into_iter()
                .filter_map(|n| ctx.peers.incarnation_of(&n).map(|i| (n, i)))
                .collect();
            if desired == meta.holders.current() {
                continue;
            }
            let spec = meta.spec(&me, self.cfg.incarnation, self.cfg.frame_budget);
            let changes = meta.holders.retarget(&me, desired);
            for node in changes.send_spec {
                // A fresh spec (a new generation after a conflict, a holder re-chosen in
                // a new incarnation) gets a fresh resend budget.
                (self.specs_unconfirmed).remove(&((*key).clone(), node.clone()));
                specs
                    .entry(node)
                    .or_default()
                    .push(((*key).clone(), spec.clone()));
            }
            for (node, host) in changes.drop {
                self.drops
                    .entry(node)
                    .or_default()
                    .push(((*key).clone(), host));
            }
        }
        for (node, list) in specs {
            for specs in batches(list, self.cfg.frame_budget, |(k, s)| spec_size(k, s)) {
                self.send(&node, RecoveryMsg::Replicate { specs });
            }
        }
        self.flush();
    }

    /// Of `names`, those whose spec no other live node holds.
    pub fn without_live_holders<'n, 'a, P: Peers>(
        &self,
        names: &'n mut [Hosted<'a, S>],
        peers: &P,
    ) -> Vec<&'n mut Hosted<'a, S>> {
        let me = &self.cfg.me;
        names
            .iter_mut()
            .filter(|(_, m)| {
                m.holders
                    .all(me)
                    .iter()
                    .all(|(n, _)| n == me || !peers.is_up(n))
            })
            .collect()
    }

    /// Names that just started here by handoff (or after a conflict) and stay: those no
    /// other live node keeps a spec of are replicated at once, the others once the view is
    /// quiet (off the move's critical path; their former holders keep the specs meanwhile).
    pub fn handle_arrivals<P: Peers>(&mut self, names: &mut [Hosted<'_, S>], ctx: Ctx<'_, P>) {
        let total = names.len();
        let mut alone: Vec<Hosted<'_, S>> = self
            .without_live_holders(names, ctx.peers)
            .into_iter()
            .map(|(k, m)| (&**k, &mut **m))
            .collect();
        let later = total > alone.len();
        self.replicate(&mut alone, ctx);
        if later {
            self.replicate_due = true;
        }
    }

    /// `key` no longer runs here: every holder drops its spec (sent with the next flush).
    pub fn unreplicate(&mut self, key: &ActorKey, holders: &SpecHolders) {
        for (node, host) in holders.all(&self.cfg.me) {
            self.drops
                .entry(node)
                .or_default()
                .push((key.clone(), host));
        }
    }

    /// `key` was handed off to `to`: its holders name `to` from now on (it may be lost
    /// before its own holders have the spec), and keep the spec until they do. Sent with the
    /// next flush, one frame per holder and new host.
    pub fn rehost<P: Peers>(
        &mut self,
        key: &ActorKey,
        holders: &SpecHolders,
        to: &NodeName,
        peers: &P,
    ) {
        let Some(incarnation) = peers.incarnation_of(to) else {
            return;
        };
        for (node, host) in holders.all(&self.cfg.me) {
            if node != *to {
                self.rehosts
                    .entry((node, to.clone(), incarnation))
                    .or_default()
                    .push((key.clone(), host));
            }
        }
    }

    /// `key` started here by handoff with `holders` (inherited from its former host): they
    /// name this node from now on, told on the same link as the checkpoints that follow
    /// (the source tells them too). A spec of it kept here is no longer needed.
    pub fn handle_adopted(&mut self, key: &ActorKey, holders: &mut SpecHolders) {
        let me = self.cfg.me.clone();
        for (holder, host) in holders.all(&me) {
            if holder != me {
                self.rehosts
                    .entry((holder, me.clone(), self.cfg.incarnation))
                    .or_default()
                    .push((key.clone(), host));
            }
        }
        // Their specs name this node from now on: a later move of the name rehosts them
        // from here (naming the former host, they would ignore it and take the name for
        // lost when that host goes).
        holders.rehosted(&me);
        self.replicas.remove(key);
    }

    /// `from` keeps the spec of `key` (hosted here with `holders`) now: former holders may
    /// drop theirs (sent with the next flush).
    pub fn handle_spec_kept(&mut self, from: &NodeName, key: &ActorKey, holders: &mut SpecHolders) {
        for (node, host) in holders.handle_confirmed(from) {
            self.drops
                .entry(node)
                .or_default()
                .push((key.clone(), host));
        }
    }

    /// Sends the pending rehosts and drops, one frame per node (and new host) and per
    /// [`DROPS_PER_FRAME`] names, each numbered and kept until it is acknowledged.
    pub fn flush(&mut self) {
        let now = self.now;
        for ((node, to, incarnation), keys) in std::mem::take(&mut self.rehosts) {
            for chunk in keys.chunks(DROPS_PER_FRAME) {
                let batch = self.sent_notices.next_batch();
                for (key, host) in chunk {
                    let notice = Notice::Rehost {
                        host: host.clone(),
                        to: to.clone(),
                        incarnation,
                    };
                    self.sent_notices.record(&node, key, notice, batch, now);
                }
                let msg = RecoveryMsg::Rehost {
                    keys: chunk.to_vec(),
                    to: to.clone(),
                    incarnation,
                    batch,
                };
                self.send(&node, msg);
            }
        }
        for (node, keys) in std::mem::take(&mut self.drops) {
            for chunk in keys.chunks(DROPS_PER_FRAME) {
                let batch = self.sent_notices.next_batch();
                for (key, host) in chunk {
                    let notice = Notice::Drop { host: host.clone() };
                    self.sent_notices.record(&node, key, notice, batch, now);
                }
                let keys = chunk.to_vec();
                self.send(&node, RecoveryMsg::Unreplicate { keys, batch });
            }
        }
    }

    /// Drops and rehosts not acknowledged within
    /// [`Timing::offer_resend_ms`](crate::core::Timing::offer_resend_ms) go again to holders
    /// that are up (the frame may have been lost with its session), in new batches.
    pub fn resend_notices<P: Peers>(&mut self, now: Millis, peers: &P) {
        self.set_now(now);
        let resend_ms = self.cfg.timing.offer_resend_ms();
        // Notices queued or sent after their holder was forgotten (a drop decided once the
        // view was quiet, after the leaver's session closed) are forgotten here.
        for holder in self.sent_notices.holders() {
            if peers.gone_for_good(&holder) {
                self.forget_holder(&holder);
            }
        }
        let due = self
            .sent_notices
            .take_due(self.now, resend_ms, |n| peers.is_up(n));
        if due.is_empty() {
            return;
        }
        self.event(RecoveryEvent::NoticesResent { count: due.len() });
        for (holder, key, notice) in due {
            match notice {
                Notice::Drop { host } => {
                    self.drops.entry(holder).or_default().push((key, host));
                }
                Notice::Rehost {
                    host,
                    to,
                    incarnation,
                } => {
                    self.rehosts
                        .entry((holder, to, incarnation))
                        .or_default()
                        .push((key, host));
                }
            }
        }
        self.flush();
    }

    /// A respawn of `key` for `loss` (lost host, incarnation, generation) started here:
    /// the same offer coming again is dropped.
    pub fn handle_loss_respawned(&mut self, key: &ActorKey, loss: (NodeName, Incarnation, u64)) {
        let (host, incarnation, generation) = loss;
        self.consumed.record(key, &host, incarnation, generation);
    }

    /// `from` applied the drops or rehosts of `batch`.
    pub fn handle_notices_taken(&mut self, from: &NodeName, batch: u64) {
        self.sent_notices.handle_taken(from, batch);
    }

    /// `from` hosts these names: keep their specs, and say so. A spec must name its sender
    /// as host; one of a generation replaced here is refused.
    pub fn handle_replicate(&mut self, from: &NodeName, specs: Vec<(ActorKey, Spec<S>)>) {
        let mut kept = Vec::new();
        for (key, spec) in specs {
            if spec.host != *from {
                self.event(RecoveryEvent::SpecFromOtherHost {
                    key,
                    from: from.clone(),
                    host: spec.host,
                });
                continue;
            }
            self.sent_offers.forget(&key);
            self.early.remove(&key);
            if self.replicas.handle_spec(key.clone(), spec) == ReplicaOutcome::Stale {
                let from = from.clone();
                self.event(RecoveryEvent::StaleSpec { key, from });
            } else {
                kept.push(key);
            }
        }
        if !kept.is_empty() {
            self.send(from, RecoveryMsg::SpecsKept { keys: kept });
        }
    }

    /// Specs of these names (naming these hosts, or the sender when a rehost got here
    /// first) are no longer needed here.
    pub fn handle_unreplicate(
        &mut self,
        from: &NodeName,
        keys: Vec<(ActorKey, NodeName)>,
        batch: u64,
    ) {
        for (key, host) in keys {
            // Only a drop that applies settles an offer of the name (one sent again after
            // the spec was offered says nothing about who hosts it now).
            if self.replicas.handle_dropped(&host, &key) || self.replicas.handle_dropped(from, &key)
            {
                self.sent_offers.forget(&key);
                self.early.remove(&key);
            } else if self.replicas.get(&key).is_some() {
                // The spec names another host: the rehost to `host` may still be on its
                // way from the former host (lost and sent again).
                self.keep_early(key, Notice::Drop { host });
            }
        }
        self.send(from, RecoveryMsg::NoticesTaken { batch });
    }

    /// These names (with the host their specs name) were handed off to `to`. Returns the
    /// hosts the specs it changed name now (a rehost that waited for this one may have
    /// moved a spec further on), per name.
    pub fn handle_rehost(
        &mut self,
        from: &NodeName,
        keys: Vec<(ActorKey, NodeName)>,
        to: NodeName,
        incarnation: Incarnation,
        batch: u64,
    ) -> Vec<(ActorKey, NodeName, Incarnation)> {
        let mut named = Vec::new();
        for (key, host) in keys {
            // Only a rehost that applies settles an offer of the name (one sent again after
            // the spec was offered names a host it no longer has).
            if self
                .replicas
                .handle_moved(&host, &key, to.clone(), incarnation)
            {
                self.sent_offers.forget(&key);
                self.apply_early(&key, to.clone());
                if let Some(spec) = self.replicas.get(&key) {
                    named.push((key.clone(), spec.host.clone(), spec.host_incarnation));
                }
            } else if self
                .replicas
                .get(&key)
                .is_some_and(|s| !(s.host == to && s.host_incarnation == incarnation))
            {
                // The spec names another host: the rehost to `host` (a move before this
                // one) may still be on its way. (One that names `to` already got this
                // rehost from the move's other end: both ends send it.)
                let notice = Notice::Rehost {
                    host,
                    to: to.clone(),
                    incarnation,
                };
                self.keep_early(key, notice);
            }
        }
        self.send(from, RecoveryMsg::NoticesTaken { batch });
        named
    }

    fn keep_early(&mut self, key: ActorKey, notice: Notice) {
        self.early.insert(key, notice);
        if self.early.len() > MAX_EARLY_NOTICES {
            self.early.pop_first();
        }
    }

    /// The spec of `key` names `host` now: a drop or rehost that waited for that applies.
    fn apply_early(&mut self, key: &ActorKey, mut host: NodeName) {
        // Each step moves the spec on to another host; bounded all the same.
        for _ in 0..8 {
            match self.early.get(key) {
                Some(Notice::Drop { host: h }) if *h == host => {
                    self.early.remove(key);
                    self.replicas.handle_dropped(&host, key);
                    return;
                }
                Some(Notice::Rehost {
                    host: h,
                    to,
                    incarnation,
                }) if *h == host => {
                    let (to, incarnation) = (to.clone(), *incarnation);
                    self.early.remove(key);
                    self.replicas
                        .handle_moved(&host, key, to.clone(), incarnation);
                    host = to;
                }
                Some(_) => {
                    // It waited for another move than the one that came: stale.
                    self.early.remove(key);
                    return;
                }
                None => return,
            }
        }
    }

    /// A checkpoint from `from`, kept only if `from` is the current host of that generation
    /// and it is newer than the one kept (a delta: right after it).
    pub fn handle_checkpoint(
        &mut self,
        from: &NodeName,
        key: ActorKey,
        generation: u64,
        seq: u64,
        snapshot: S,
        delta: bool,
    ) {
        let outcome = self
            .replicas
            .handle_checkpoint(from, &key, generation, seq, snapshot, delta);
        if outcome == ReplicaOutcome::Stored {
            self.sent_offers.forget(&key);
        } else {
            self.event(RecoveryEvent::CheckpointRefused {
                key,
                from: from.clone(),
                generation,
                seq,
                outcome,
            });
        }
    }

    /// The node settled for its view (`by_deadline`: without hearing from every peer; its
    /// view began at `view_started`). In this order: lift the fence if it may, decide the
    /// waiting offers, replicate at once the names whose every holder is gone, and the
    /// others once the view has been quiet (see [`Recovery::handle_tick`]).
    pub fn handle_settled<P: Peers>(
        &mut self,
        by_deadline: bool,
        view_started: Millis,
        names: &mut [Hosted<'_, S>],
        ctx: Ctx<'_, P>,
        hosted: impl Fn(&ActorKey) -> bool,
    ) {
        self.fence.settled_by_deadline = by_deadline;
        self.maybe_unfence(true, view_started, ctx);
        if !self.fence.is_fenced() {
            self.run_respawns(ctx, &hosted);
        }
        self.replicate_offered(names, ctx, &hosted);
        let mut orphaned: Vec<Hosted<'_, S>> = self
            .without_live_holders(names, ctx.peers)
            .into_iter()
            .map(|(k, m)| (&**k, &mut **m))
            .collect();
        self.replicate(&mut orphaned, ctx);
        self.replicate_due = true;
    }

    /// The heartbeat tick (`settled`: the node is settled for a view that began at
    /// `view_started`): a fenced node may lift its fence, waiting offers are decided again
    /// (when settled or just unfenced), and
    /// once the view has been quiet for [`Timing::replicate_quiet_ms`](crate::core::Timing::replicate_quiet_ms) after a settle, the
    /// replica sets of every name (`names`) are brought up to date; returns true then.
    pub fn handle_tick<P: Peers>(
        &mut self,
        settled: bool,
        view_started: Millis,
        names: &mut [Hosted<'_, S>],
        ctx: Ctx<'_, P>,
        hosted: impl Fn(&ActorKey) -> bool,
    ) -> bool {
        let unfenced = self.fence.is_fenced() && self.maybe_unfence(false, view_started, ctx);
        if unfenced {
            self.replicate_due = true;
        }
        // Offers that waited for their lost host (it was still in the view) are decided
        // again: dropped past their patience, run if the host has gone since.
        if settled || unfenced {
            self.run_respawns(ctx, &hosted);
        }
        self.replicate_offered(names, ctx, &hosted);
        self.resend_offers(ctx);
        self.resend_notices(ctx.now, ctx.peers);
        if settled {
            self.resend_specs(names, ctx);
        }
        let quiet = settled && ctx.now.since(view_started) >= self.cfg.timing.replicate_quiet_ms();
        if self.replicate_due && quiet {
            self.replicate_due = false;
            self.replicate(names, ctx);
            return true;
        }
        false
    }

    /// Specs sent to a holder that has not confirmed keeping them for a whole resend interval
    /// go to it again (issue 9, finding 4: a spec lost with a replaced session left its
    /// name with a holder that never had it, and `under_replicated` never reached 0; the
    /// containers test's rolling restart waited 60 s for one). Looked at once per resend
    /// interval: a spec is resent only if it was unconfirmed at the previous look too, and
    /// at most [`MAX_SPEC_RESENDS`] times (a holder that refuses it, keeping a newer
    /// generation, never confirms: the name stays counted as under-replicated, and the
    /// conflict between the two generations is for the copies to resolve).
    fn resend_specs<P: Peers>(&mut self, names: &mut [Hosted<'_, S>], ctx: Ctx<'_, P>) {
        if ctx.now.since(self.specs_checked) < self.cfg.timing.offer_resend_ms() || ctx.leaving {
            return;
        }
        self.specs_checked = ctx.now;
        let me = self.cfg.me.clone();
        let before = std::mem::take(&mut self.specs_unconfirmed);
        let mut specs: BTreeMap<NodeName, Vec<(ActorKey, Spec<S>)>> = BTreeMap::new();
        for (key, meta) in names.iter() {
            let waiting: Vec<NodeName> = (meta.holders.unconfirmed())
                .filter(|n| ctx.peers.is_up(n))
                .cloned()
                .collect();
            for node in waiting {
                let pair = ((*key).clone(), node);
                let mut tries = 0;
                if let Some(&sent) = before.get(&pair) {
                    tries = sent;
                    if sent < MAX_SPEC_RESENDS {
                        tries += 1;
                        let spec = meta.spec(&me, self.cfg.incarnation, self.cfg.frame_budget);
                        specs
                            .entry(pair.1.clone())
                            .or_default()
                            .push((pair.0.clone(), spec));
                    }
                }
                self.specs_unconfirmed.insert(pair, tries);
            }
        }
        let count = specs.values().map(Vec::len).sum();
        if count == 0 {
            return;
        }
        self.event(RecoveryEvent::SpecsResent { count });
        for (node, list) in specs {
            for specs in batches(list, self.cfg.frame_budget, |(k, s)| spec_size(k, s)) {
                self.send(&node, RecoveryMsg::Replicate { specs });
            }
        }
        self.flush();
    }

    /// Whether replica sets wait for a quiet view.
    pub fn replicate_due(&self) -> bool {
        self.replicate_due
    }
}

#[cfg(test)]
mod tests;
