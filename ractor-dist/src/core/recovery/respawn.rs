//! Respawns and conflicts: offering the names of lost hosts to their owners, deciding the
//! offers, and resolving two live copies that met.

use std::collections::{BTreeMap, BTreeSet};

use super::commands::{
    ConflictOutcome, Ctx, Here, RecoveryCommand, RecoveryEvent, RecoveryMsg, RespawnStart,
};
use super::engine::{Hosted, Recovery};
use super::meta::{batches, spec_size, Activation, Checkpoint, NameMeta, Peers};
use super::{
    decide_respawn, replica_set, resolve, CopyMeta, Offer, OfferContext, Resolution,
    RespawnDecision,
};
use crate::core::{ActorKey, Millis, NodeName};

impl<S: Checkpoint> Recovery<S> {
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
        self.pass_on_offers(ctx);
        let orphans = self
            .replicas
            .orphans(|host, inc| ctx.peers.is_present(host, inc));
        self.offer(orphans, &me, ctx);
    }

    /// Offers the respawn of `keys` only (a late rehost named a host seen going down),
    /// if their specs kept here name a host that is gone.
    pub fn offer_orphans_among<P: Peers>(&mut self, ctx: Ctx<'_, P>, keys: &BTreeSet<ActorKey>) {
        if self.cfg.replicas <= 1 {
            return;
        }
        let me = self.cfg.me.clone();
        let orphans: Vec<ActorKey> = self
            .replicas
            .orphans(|host, inc| ctx.peers.is_present(host, inc))
            .into_iter()
            .filter(|k| keys.contains(k))
            .collect();
        self.offer(orphans, &me, ctx);
    }

    /// Offers waiting here for names this node no longer owns go to their owners, and
    /// offers sent to a node that is gone go to the names' owners in this view.
    fn pass_on_offers<P: Peers>(&mut self, ctx: Ctx<'_, P>) {
        let me = self.cfg.me.clone();
        let mut forwards: BTreeMap<NodeName, Vec<(ActorKey, Offer<S>)>> = BTreeMap::new();
        for (owner, key, offer) in self.respawns.take_foreign(&me, ctx.placement) {
            forwards.entry(owner).or_default().push((key, offer));
        }
        for (owner, offers) in forwards {
            self.send_offers(&owner, offers, ctx.now);
        }
        // Offers sent to a node that is gone now go to the names' owners in this view.
        let gone: Vec<NodeName> = self
            .sent_offers
            .nodes()
            .into_iter()
            .filter(|n| !ctx.peers.is_up(n))
            .collect();
        for node in gone {
            let offers = self.sent_offers.take_sent_to(&node);
            self.route_offers(offers, ctx);
        }
    }

    /// Offers the respawn of `orphans` (kept here, their host gone) to their owners.
    fn offer<P: Peers>(&mut self, orphans: Vec<ActorKey>, me: &NodeName, ctx: Ctx<'_, P>) {
        let me = me.clone();
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
                self.send_offers(&owner, offers, ctx.now);
            }
        }
    }

    /// Sends offers to `to`, batched under the frame budget, and keeps each until `to`
    /// acknowledges it (see [`SentOffers`](super::SentOffers)).
    fn send_offers(&mut self, to: &NodeName, offers: Vec<(ActorKey, Offer<S>)>, now: Millis) {
        for (key, offer) in &offers {
            self.sent_offers
                .record(key.clone(), to.clone(), offer.clone(), now);
        }
        for offers in batches(offers, self.cfg.frame_budget, |(k, o)| {
            spec_size(k, &o.spec)
        }) {
            self.send(to, RecoveryMsg::Respawn { offers });
        }
    }

    /// Sends each offer to its name's owner by `ctx.placement` (kept here to be decided
    /// when that is this node; dropped when the name has no owner in reach).
    fn route_offers<P: Peers>(&mut self, offers: Vec<(ActorKey, Offer<S>)>, ctx: Ctx<'_, P>) {
        let me = self.cfg.me.clone();
        let mut by_owner: BTreeMap<NodeName, Vec<(ActorKey, Offer<S>)>> = BTreeMap::new();
        for (key, offer) in offers {
            match ctx.placement.owner_of(&key) {
                Some(owner) if *owner == me => self.respawns.handle_offer(key, offer, ctx.now),
                Some(owner) => by_owner
                    .entry(owner.clone())
                    .or_default()
                    .push((key, offer)),
                None => self.event(RecoveryEvent::OfferDropped {
                    key,
                    why: "no owner in reach",
                }),
            }
        }
        for (owner, offers) in by_owner {
            self.send_offers(&owner, offers, ctx.now);
        }
    }

    /// Offers sent and not acknowledged within
    /// [`Timing::offer_resend_ms`](crate::core::Timing::offer_resend_ms) go again to their
    /// names' owners (the frame may have been lost with its session).
    pub fn resend_offers<P: Peers>(&mut self, ctx: Ctx<'_, P>) {
        let due = self
            .sent_offers
            .take_due(ctx.now, self.cfg.timing.offer_resend_ms());
        if due.is_empty() {
            return;
        }
        self.event(RecoveryEvent::OffersResent { count: due.len() });
        self.route_offers(due, ctx);
    }

    /// `from` has the offers of `keys` (it decides them now).
    pub fn handle_offers_taken(&mut self, from: &NodeName, keys: &[ActorKey]) {
        self.sent_offers.handle_taken(from, keys);
    }

    /// Respawn offers from `from`: acknowledged, kept (the freshest per name) and, when the
    /// node is `settled`, decided at once.
    pub fn handle_offers<P: Peers>(
        &mut self,
        from: &NodeName,
        offers: Vec<(ActorKey, Offer<S>)>,
        settled: bool,
        ctx: Ctx<'_, P>,
        hosted: impl Fn(&ActorKey) -> bool,
    ) {
        let keys: Vec<ActorKey> = offers.iter().map(|(k, _)| k.clone()).collect();
        for keys in keys.chunks(super::DROPS_PER_FRAME) {
            let keys = keys.to_vec();
            self.send(from, RecoveryMsg::OffersTaken { keys });
        }
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
            let spec = &offer.spec;
            if self
                .consumed
                .contains(&key, &spec.host, spec.host_incarnation, spec.generation)
            {
                // Sent again after this node respawned the name for this very loss (the
                // name may have been stopped since): never a second time.
                let why = "respawned for this loss already";
                self.event(RecoveryEvent::OfferDropped { key, why });
                continue;
            }
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
                RespawnDecision::Drop(why) => {
                    if octx.hosted {
                        self.offered_here.insert(key.clone());
                    }
                    self.event(RecoveryEvent::OfferDropped { key, why });
                }
            }
        }
        for (owner, offers) in forwards {
            self.send_offers(&owner, offers, ctx.now);
        }
    }

    /// Sends the specs of the names a holder offered while they ran here (see
    /// [`run_respawns`](Self::run_respawns)) to every holder of their replica sets again, at
    /// once rather than once the view is quiet: the holder that offered one missed its
    /// rehost (lost, and the former host that kept sending it is gone), took the former
    /// host's loss for the name's, and dropped its spec (or kept one naming this node with
    /// an old checkpoint); this node, still counting on it, would otherwise leave the name
    /// without a spec anywhere until the view is quiet, and a crash of this node meanwhile
    /// would lose the name. Names still arriving wait until they run; names no longer
    /// hosted here are forgotten (their new host's holders are told by the handoff).
    pub fn replicate_offered<P: Peers>(
        &mut self,
        names: &mut [Hosted<'_, S>],
        ctx: Ctx<'_, P>,
        hosted: impl Fn(&ActorKey) -> bool,
    ) {
        if ctx.leaving {
            // Its names are handed off: their new hosts replicate them.
            self.offered_here.clear();
        }
        if self.offered_here.is_empty() {
            return;
        }
        let me = self.cfg.me.clone();
        let mut due: Vec<Hosted<'_, S>> = Vec::new();
        for (key, meta) in names.iter_mut() {
            if self.offered_here.remove(*key) {
                meta.holders.refresh(&me);
                due.push((&**key, &mut **meta));
            }
        }
        self.offered_here.retain(|k| hosted(k));
        if !due.is_empty() {
            self.replicate(&mut due, ctx);
        }
    }

    /// What a respawn of `key` starts from: the freshest spec (a checkpoint may have reached
    /// this node after the offer was made), as the next activation, made here.
    fn respawn_start(&self, key: ActorKey, offer: Offer<S>) -> RespawnStart<S> {
        let loss = (
            offer.spec.host.clone(),
            offer.spec.host_incarnation,
            offer.spec.generation,
        );
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
            loss,
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
            Here::Moving { draining, .. } => {
                if draining == Some(incoming) {
                    self.same_copy(key, from, incoming.generation);
                    return ConflictOutcome::Ignored;
                }
                // Ours left already (`outgoing`, its move not acknowledged yet). A copy of
                // the same activation is ours come back: its target started it and moved it
                // on, and it reached this node again before the acknowledgement did (frames
                // slower than the moves). It is the live copy, later than ours: it follows
                // ours like any other copy (it used to be ignored, and the name was lost).
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
}
