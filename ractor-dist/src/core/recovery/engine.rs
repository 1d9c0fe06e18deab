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

use std::collections::{BTreeMap, VecDeque};

use super::meta::{batches, spec_size, Activation, Checkpoint, NameMeta, Peers};
use super::{
    decide_respawn, replica_set, resolve, ConflictPolicy, CopyMeta, Offer, OfferContext,
    ReplicaOutcome, Replicas, Resolution, RespawnDecision, Respawns, Spec, SpecHolders,
};
use crate::core::{ActorKey, Incarnation, Millis, NodeName, Placement, Timing};

use super::fence::Fence;

/// Most names per drop or rehost frame.
pub const DROPS_PER_FRAME: usize = 4096;

/// A name hosted here, as the node hands it to the engine.
pub type Hosted<'a, S> = (&'a ActorKey, &'a mut NameMeta<S>);

/// Who this node is and the limits it works with.
#[derive(Clone, Debug)]
pub struct RecoveryConfig {
    /// This node.
    pub me: NodeName,
    /// Its incarnation.
    pub incarnation: Incarnation,
    /// Nodes keeping each name (the host included); 1: no replication.
    pub replicas: usize,
    /// The most state one frame carries (the rest is headroom for the envelope).
    pub frame_budget: usize,
    /// Every deadline of the protocol.
    pub timing: Timing,
}

impl RecoveryConfig {
    /// The state budget of a frame of `max_frame_bytes`: half of it, at least 512 bytes.
    pub fn frame_budget_of(max_frame_bytes: usize) -> usize {
        (max_frame_bytes / 2).max(512)
    }
}

/// What the node sees when it calls the engine.
#[derive(Debug)]
pub struct Ctx<'a, P> {
    /// Now.
    pub now: Millis,
    /// The placement to decide by.
    pub placement: &'a Placement,
    /// The peers.
    pub peers: &'a P,
    /// The node is leaving or shutting down.
    pub leaving: bool,
}

impl<P> Clone for Ctx<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Ctx<'_, P> {}

/// A frame body the engine sends to a peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryMsg<S> {
    /// Keep these specs (the sender hosts the names).
    Replicate {
        /// The specs.
        specs: Vec<(ActorKey, Spec<S>)>,
    },
    /// The sender keeps the specs of these names now.
    SpecsKept {
        /// The names.
        keys: Vec<ActorKey>,
    },
    /// Drop the specs of these names that name these hosts.
    Unreplicate {
        /// (name, the host its spec names).
        keys: Vec<(ActorKey, NodeName)>,
    },
    /// These names were handed off to `to`.
    Rehost {
        /// (name, the host its spec names).
        keys: Vec<(ActorKey, NodeName)>,
        /// The new host.
        to: NodeName,
        /// Its incarnation.
        incarnation: Incarnation,
    },
    /// A newer checkpoint of a name the sender hosts.
    Checkpoint {
        /// The name.
        key: ActorKey,
        /// Its generation.
        generation: u64,
        /// The checkpoint's sequence number.
        seq: u64,
        /// The state.
        snapshot: S,
    },
    /// These names lost their host.
    Respawn {
        /// The offers.
        offers: Vec<(ActorKey, Offer<S>)>,
    },
}

/// Start a name that lost its host here.
#[derive(Clone, Debug)]
pub struct RespawnStart<S> {
    /// The name.
    pub key: ActorKey,
    /// Its kind, arguments, new activation and checkpoint (start from it when present).
    pub meta: NameMeta<S>,
    /// The host that was lost.
    pub lost: NodeName,
    /// The sequence number of the checkpoint it starts from (0: its arguments).
    pub seq: u64,
}

/// What the engine reports (for counters and logs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecoveryEvent {
    /// A checkpoint went to the replicas of a name.
    Checkpointed,
    /// A checkpoint over the frame budget was kept here only.
    CheckpointTooLarge {
        /// The name.
        key: ActorKey,
        /// Its size.
        bytes: usize,
        /// The budget.
        limit: usize,
    },
    /// A spec named another host than its sender (refused).
    SpecFromOtherHost {
        /// The name.
        key: ActorKey,
        /// The sender.
        from: NodeName,
        /// The host it named.
        host: NodeName,
    },
    /// A spec of a replaced generation was refused.
    StaleSpec {
        /// The name.
        key: ActorKey,
        /// The sender.
        from: NodeName,
    },
    /// A checkpoint was refused.
    CheckpointRefused {
        /// The name.
        key: ActorKey,
        /// The sender.
        from: NodeName,
        /// Its generation.
        generation: u64,
        /// Its sequence number.
        seq: u64,
        /// Why.
        outcome: ReplicaOutcome,
    },
    /// A name kept here lost its host: its respawn is offered to `owner`.
    Orphaned {
        /// The name.
        key: ActorKey,
        /// The lost host.
        lost: NodeName,
        /// The spec's generation.
        generation: u64,
        /// The spec's checkpoint.
        seq: u64,
        /// The name's owner.
        owner: NodeName,
    },
    /// An offer was dropped.
    OfferDropped {
        /// The name.
        key: ActorKey,
        /// Why.
        why: &'static str,
    },
    /// The same copy arrived twice (ignored).
    SameCopy {
        /// The name.
        key: ActorKey,
        /// The sender.
        from: NodeName,
        /// Its generation.
        generation: u64,
    },
    /// A copy arrived while ours moves away: it follows ours.
    ConflictFollows {
        /// The name.
        key: ActorKey,
        /// The sender.
        from: NodeName,
    },
    /// Two live copies met here and were resolved.
    Conflict {
        /// The name.
        key: ActorKey,
        /// The sender of the other copy.
        from: NodeName,
        /// The kind's policy.
        policy: ConflictPolicy,
        /// The outcome.
        resolution: Resolution,
        /// The generation of the copy here.
        local_generation: u64,
        /// The generation of the other.
        incoming_generation: u64,
    },
    /// This node was paused past the deadline: it is fenced.
    Paused {
        /// The gap noticed (including one heartbeat interval; see [`Fence`]).
        gap_ms: u64,
    },
    /// The fence was lifted.
    Unfenced {
        /// Why.
        decision: super::FenceDecision,
        /// How long it was held.
        waited_ms: u64,
    },
}

/// What the node executes.
#[derive(Clone, Debug)]
pub enum RecoveryCommand<S> {
    /// Send `msg` to `to`.
    Send {
        /// The peer.
        to: NodeName,
        /// The body.
        msg: RecoveryMsg<S>,
    },
    /// Start a respawn; on success call [`Recovery::handle_respawned`].
    Respawn(RespawnStart<S>),
    /// Apply a conflict's resolution to the copy running here.
    Resolve {
        /// The name.
        key: ActorKey,
        /// `TakeIncoming` or `Merge`.
        resolution: Resolution,
        /// The other copy's state.
        snapshot: S,
    },
    /// Hold every hosted actor's messages (the node was paused).
    Fence,
    /// Deliver to the hosted actors again, starting with what was held.
    Unfence,
    /// Count and log.
    Event(RecoveryEvent),
}

/// Where the copy of a name stands on this node when another copy arrives.
#[derive(Debug)]
pub enum Here<'a, S> {
    /// It runs here (not moving): the conflict is resolved here.
    Running {
        /// Its metadata.
        meta: &'a mut NameMeta<S>,
        /// Its kind's policy.
        policy: ConflictPolicy,
    },
    /// It is moving away (or is not here at all).
    Moving {
        /// The activation of the draining copy, if one still runs.
        draining: Option<&'a Activation>,
        /// The activation of the drained copy waiting for its target's acknowledgement.
        outgoing: Option<&'a Activation>,
    },
}

/// What became of an arriving copy.
#[derive(Debug, PartialEq, Eq)]
pub enum ConflictOutcome<S> {
    /// It is the copy here (it arrived twice).
    Ignored,
    /// Ours is moving away: the arriving copy (with its state) follows ours.
    Follows(Option<S>),
    /// Resolved here: the copy here is a new activation.
    Resolved(Resolution),
}

/// The recovery engine of one node. `S` is the checkpoint type.
#[derive(Debug)]
pub struct Recovery<S> {
    pub(super) cfg: RecoveryConfig,
    replicas: Replicas<S>,
    respawns: Respawns<S>,
    /// Spec drops waiting to be sent, per replica node: (name, the host its spec names).
    drops: BTreeMap<NodeName, Vec<(ActorKey, NodeName)>>,
    /// Rehosts waiting to be sent, per (holder, new host, its incarnation).
    rehosts: BTreeMap<(NodeName, NodeName, Incarnation), Vec<(ActorKey, NodeName)>>,
    pub(super) fence: Fence,
    /// Replica sets are brought up to date once the view is quiet.
    replicate_due: bool,
    pub(super) commands: VecDeque<RecoveryCommand<S>>,
}

impl<S: Checkpoint> Recovery<S> {
    /// An engine with nothing kept.
    pub fn new(cfg: RecoveryConfig) -> Self {
        Self {
            cfg,
            replicas: Replicas::new(),
            respawns: Respawns::new(),
            drops: BTreeMap::new(),
            rehosts: BTreeMap::new(),
            fence: Fence::default(),
            replicate_due: false,
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

    /// The configuration.
    pub fn config(&self) -> &RecoveryConfig {
        &self.cfg
    }

    pub(super) fn send(&mut self, to: &NodeName, msg: RecoveryMsg<S>) {
        self.commands.push_back(RecoveryCommand::Send {
            to: to.clone(),
            msg,
        });
    }

    pub(super) fn event(&mut self, event: RecoveryEvent) {
        self.commands.push_back(RecoveryCommand::Event(event));
    }

    /// A hosted name checkpointed its state: keep it (a local restart after a panic starts
    /// from it) and send it to every holder of its spec, current or former (former ones name
    /// this node once its arrival was acknowledged, and keep the spec until the current
    /// ones confirmed). A checkpoint over the frame budget stays here; a fenced node sends
    /// none (its peers may have replaced it).
    pub fn handle_checkpointed(&mut self, key: &ActorKey, meta: &mut NameMeta<S>, snapshot: S) {
        meta.checkpoint_seq = meta.checkpoint_seq.saturating_add(1);
        meta.checkpoint = Some(snapshot.clone());
        let (seq, generation) = (meta.checkpoint_seq, meta.activation.generation);
        let mut targets: Vec<NodeName> = meta
            .holders
            .all(&self.cfg.me)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
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
    pub fn handle_adopted(&mut self, key: &ActorKey, holders: &SpecHolders) {
        let me = self.cfg.me.clone();
        for (holder, host) in holders.all(&me) {
            if holder != me {
                self.rehosts
                    .entry((holder, me.clone(), self.cfg.incarnation))
                    .or_default()
                    .push((key.clone(), host));
            }
        }
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
    /// [`DROPS_PER_FRAME`] names.
    pub fn flush(&mut self) {
        for ((node, to, incarnation), keys) in std::mem::take(&mut self.rehosts) {
            for chunk in keys.chunks(DROPS_PER_FRAME) {
                let msg = RecoveryMsg::Rehost {
                    keys: chunk.to_vec(),
                    to: to.clone(),
                    incarnation,
                };
                self.send(&node, msg);
            }
        }
        for (node, keys) in std::mem::take(&mut self.drops) {
            for chunk in keys.chunks(DROPS_PER_FRAME) {
                let keys = chunk.to_vec();
                self.send(&node, RecoveryMsg::Unreplicate { keys });
            }
        }
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
    pub fn handle_unreplicate(&mut self, from: &NodeName, keys: Vec<(ActorKey, NodeName)>) {
        for (key, host) in keys {
            if !self.replicas.handle_dropped(&host, &key) {
                self.replicas.handle_dropped(from, &key);
            }
        }
    }

    /// These names (with the host their specs name) were handed off to `to`.
    pub fn handle_rehost(
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

    /// A checkpoint from `from`, kept only if `from` is the current host of that generation
    /// and it is newer than the one kept.
    pub fn handle_checkpoint(
        &mut self,
        from: &NodeName,
        key: ActorKey,
        generation: u64,
        seq: u64,
        snapshot: S,
    ) {
        let outcome = self
            .replicas
            .handle_checkpoint(from, &key, generation, seq, snapshot);
        if outcome != ReplicaOutcome::Stored {
            self.event(RecoveryEvent::CheckpointRefused {
                key,
                from: from.clone(),
                generation,
                seq,
                outcome,
            });
        }
    }

    /// Offers a respawn of every name kept here whose host is gone to the name's owner by
    /// `ctx.placement` (this node included), and passes on the offers waiting here for
    /// names it no longer owns. A holder that is not among the owner's replicas forgets the
    /// spec; one that is keeps it, naming the owner (if the owner goes too, it is offered
    /// again to the next one). A host that announced its departure and is still connected
    /// is not gone (it hands its names off itself).
    pub fn offer_orphans<P: Peers>(&mut self, ctx: Ctx<'_, P>) {
        if self.cfg.replicas <= 1 {
            return;
        }
        let me = self.cfg.me.clone();
        let mut forwards: BTreeMap<NodeName, Vec<(ActorKey, Offer<S>)>> = BTreeMap::new();
        for (owner, key, offer) in self.respawns.take_foreign(&me, ctx.placement) {
            forwards.entry(owner).or_default().push((key, offer));
        }
        for (owner, offers) in forwards {
            self.send_offers(&owner, offers);
        }
        let orphans = self
            .replicas
            .orphans(|host, inc| ctx.peers.is_present(host, inc));
        let mut by_owner: BTreeMap<NodeName, Vec<(ActorKey, Offer<S>)>> = BTreeMap::new();
        for key in orphans {
            let Some(spec) = self.replicas.get(&key).cloned() else {
                continue;
            };
            let Some(owner) = ctx.placement.owner_of(&key).cloned() else {
                continue;
            };
            self.event(RecoveryEvent::Orphaned {
                key: key.clone(),
                lost: spec.host.clone(),
                generation: spec.generation,
                seq: spec.seq,
                owner: owner.clone(),
            });
            if owner != me {
                let keeps =
                    replica_set(ctx.placement, &key, &owner, self.cfg.replicas).contains(&me);
                match ctx.peers.incarnation_of(&owner) {
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
                    self.respawns.handle_offer(key, offer, ctx.now);
                }
            } else {
                self.send_offers(&owner, offers);
            }
        }
    }

    /// Sends offers to `to`, batched under the frame budget.
    fn send_offers(&mut self, to: &NodeName, offers: Vec<(ActorKey, Offer<S>)>) {
        for offers in batches(offers, self.cfg.frame_budget, |(k, o)| {
            spec_size(k, &o.spec)
        }) {
            self.send(to, RecoveryMsg::Respawn { offers });
        }
    }

    /// Respawn offers from a peer: kept (the freshest per name) and, when the node is
    /// `settled`, decided at once.
    pub fn handle_offers<P: Peers>(
        &mut self,
        offers: Vec<(ActorKey, Offer<S>)>,
        settled: bool,
        ctx: Ctx<'_, P>,
        hosted: impl Fn(&ActorKey) -> bool,
    ) {
        for (key, offer) in offers {
            self.respawns.handle_offer(key, offer, ctx.now);
        }
        if settled {
            self.run_respawns(ctx, hosted);
        }
    }

    /// Decides every waiting offer (`hosted`: the name runs or is moving away here):
    /// respawn here (a [`RecoveryCommand::Respawn`] from the freshest spec kept here or
    /// offered, at generation + 1 with this node as origin, its checkpoint as sequence 1),
    /// pass on with one more hop, wait, or drop. Nothing while fenced or leaving.
    pub fn run_respawns<P: Peers>(&mut self, ctx: Ctx<'_, P>, hosted: impl Fn(&ActorKey) -> bool) {
        if self.fence.is_fenced() || self.respawns.is_empty() || ctx.leaving {
            return;
        }
        let me = self.cfg.me.clone();
        let patience_ms = self.cfg.timing.respawn_patience_ms();
        let mut forwards: BTreeMap<NodeName, Vec<(ActorKey, Offer<S>)>> = BTreeMap::new();
        for (key, offer, since) in self.respawns.take_all() {
            let octx = OfferContext {
                hosted: hosted(&key),
                // An offer naming this node was handed here and is not running: not "back".
                lost_host_in_view: offer.spec.host != me
                    && ctx
                        .peers
                        .is_present(&offer.spec.host, offer.spec.host_incarnation),
                age_ms: ctx.now.since(since),
                patience_ms,
            };
            match decide_respawn(&me, ctx.placement, &offer, &key, octx) {
                RespawnDecision::Spawn => {
                    let start = self.respawn_start(key, offer);
                    self.commands.push_back(RecoveryCommand::Respawn(start));
                }
                RespawnDecision::Forward(owner) => {
                    let offer = Offer {
                        hops: offer.hops + 1,
                        ..offer
                    };
                    forwards.entry(owner).or_default().push((key, offer));
                }
                RespawnDecision::Wait => self.respawns.handle_offer(key, offer, since),
                RespawnDecision::Drop(why) => self.event(RecoveryEvent::OfferDropped { key, why }),
            }
        }
        for (owner, offers) in forwards {
            self.send_offers(&owner, offers);
        }
    }

    /// What a respawn of `key` starts from: the freshest spec (a checkpoint may have reached
    /// this node after the offer was made), as the next activation, made here.
    fn respawn_start(&self, key: ActorKey, offer: Offer<S>) -> RespawnStart<S> {
        let spec = self.replicas.freshest(&key, offer.spec);
        let activation = Activation {
            generation: spec.generation,
            origin: spec.host.clone(),
        }
        .next(0, self.cfg.me.clone());
        let seq = spec.seq;
        let mut meta = NameMeta::new(spec.kind, spec.args, activation);
        if let Some(checkpoint) = spec.checkpoint {
            meta.checkpoint = Some(checkpoint);
            meta.checkpoint_seq = 1;
        }
        RespawnStart {
            key,
            meta,
            lost: spec.host,
            seq,
        }
    }

    /// A respawn started here: its spec is no longer kept here.
    pub fn handle_respawned(&mut self, key: &ActorKey) {
        self.replicas.remove(key);
    }

    /// A copy of `key` arrived from `from` (activation `incoming`, state `snapshot`, its
    /// spec's holders `incoming_holders`) while a copy is `here`: two live copies met after
    /// a partition or a pause. The same copy arriving twice is ignored; a copy here that
    /// moves away takes the conflict with it; otherwise the kind's policy decides
    /// ([`resolve`]), the survivor becomes a new activation (max generation + 1, made here:
    /// checkpoints of both former copies are fenced), and every holder of either gets the
    /// new spec or drops the old one.
    #[allow(clippy::too_many_arguments)]
    pub fn resolve_conflict<P: Peers>(
        &mut self,
        key: &ActorKey,
        from: &NodeName,
        incoming: &Activation,
        incoming_holders: Vec<(NodeName, NodeName)>,
        snapshot: Option<S>,
        here: Here<'_, S>,
        ctx: Ctx<'_, P>,
    ) -> ConflictOutcome<S> {
        let (meta, policy) = match here {
            Here::Running { meta, policy } => (meta, policy),
            Here::Moving { draining, outgoing } => {
                if draining == Some(incoming) || outgoing == Some(incoming) {
                    if let Some(a) = draining.filter(|a| *a == incoming) {
                        self.same_copy(key, from, a.generation);
                    }
                    return ConflictOutcome::Ignored;
                }
                self.event(RecoveryEvent::ConflictFollows {
                    key: key.clone(),
                    from: from.clone(),
                });
                return ConflictOutcome::Follows(snapshot);
            }
        };
        if meta.activation == *incoming {
            self.same_copy(key, from, meta.activation.generation);
            return ConflictOutcome::Ignored;
        }
        let resolution = resolve(
            policy,
            CopyMeta {
                generation: meta.activation.generation,
                host: &meta.activation.origin,
            },
            CopyMeta {
                generation: incoming.generation,
                host: &incoming.origin,
            },
            snapshot.is_some(),
        );
        self.event(RecoveryEvent::Conflict {
            key: key.clone(),
            from: from.clone(),
            policy,
            resolution,
            local_generation: meta.activation.generation,
            incoming_generation: incoming.generation,
        });
        if let (Some(snapshot), true) = (snapshot, resolution != Resolution::KeepLocal) {
            self.commands.push_back(RecoveryCommand::Resolve {
                key: key.clone(),
                resolution,
                snapshot,
            });
        }
        let me = self.cfg.me.clone();
        meta.activation = meta.activation.next(incoming.generation, me.clone());
        meta.holders.refresh(&me);
        meta.holders.retire(incoming_holders);
        self.replicate(&mut [(key, meta)], ctx);
        ConflictOutcome::Resolved(resolution)
    }

    fn same_copy(&mut self, key: &ActorKey, from: &NodeName, generation: u64) {
        self.event(RecoveryEvent::SameCopy {
            key: key.clone(),
            from: from.clone(),
            generation,
        });
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
    /// once the view has been quiet for [`Timing::replicate_quiet_ms`] after a settle, the
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
        let quiet = settled && ctx.now.since(view_started) >= self.cfg.timing.replicate_quiet_ms();
        if self.replicate_due && quiet {
            self.replicate_due = false;
            self.replicate(names, ctx);
            return true;
        }
        false
    }

    /// Whether replica sets wait for a quiet view.
    pub fn replicate_due(&self) -> bool {
        self.replicate_due
    }
}

#[cfg(test)]
mod tests;
