//! Surviving crashes and partitions: replicated specs, checkpoints, respawns and the
//! resolution of duplicate copies after a partition heals.
//!
//! Every hosted name has a **spec** (kind, arguments, generation) that its host stores on
//! the next `r - 1` nodes of the name's rendezvous ranking ([`replica_set`]), together with
//! the newest **checkpoint** of its state when its kind takes checkpoints. A replica keeps
//! the spec in [`Replicas`]; when the spec's host is no longer in the view (crashed, hung
//! past the deadline, restarted, or on the other side of a partition), the replica offers a
//! respawn to the name's new owner, which collects offers in [`Respawns`] and starts the
//! best one (newest generation and checkpoint) once it has settled for the view (so that a
//! live copy handed off by another node always wins over a respawn).
//!
//! The **generation** of a name counts its activations: a spawn starts at 1, a handoff keeps
//! it, a respawn after a loss adds 1. Checkpoints are fenced by it: a replica accepts a
//! checkpoint only from the host its spec names, for the same generation, with a higher
//! sequence number, so a hung or partitioned former host cannot overwrite the state of the
//! copy that replaced it.
//!
//! After a partition heals, two live copies of a name meet on its owner (one arrives by
//! handoff while the other runs there); [`resolve`] picks the outcome by the kind's
//! [`ConflictPolicy`], deterministically: the winner does not depend on which copy travels.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::identity::{ActorKey, Incarnation, Millis, NodeName};
use super::placement::Placement;

/// What happens when two live copies of a name meet after a partition heals.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub enum ConflictPolicy {
    /// Keep the copy with the higher generation (the one activated later, usually the
    /// respawn on the side that lost the original host); ties go to the greater host name.
    #[default]
    KeepNewest,
    /// Keep the copy with the lower generation (the original); ties go to the smaller host
    /// name.
    KeepOldest,
    /// Merge the two states with the kind's merge hook (NkDIST's `join`); the copy running
    /// on the owner receives the other one's snapshot.
    Merge,
}

/// One live copy of a name, as conflict resolution sees it.
#[derive(Clone, Copy, Debug)]
pub struct CopyMeta<'a> {
    /// Its generation.
    pub generation: u64,
    /// The node it ran on.
    pub host: &'a NodeName,
}

/// The outcome of a conflict, for the copy that runs where the other one arrived.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Resolution {
    /// Keep the running copy; the arriving one is discarded.
    KeepLocal,
    /// Replace the running copy's state with the arriving one's.
    TakeIncoming,
    /// Merge the arriving state into the running copy.
    Merge,
}

/// Decides a conflict between the copy running here (`local`) and one that arrived
/// (`incoming`, with a snapshot when `incoming_has_state`). Without a snapshot there is
/// nothing to take or merge, so the running copy stays.
pub fn resolve(
    policy: ConflictPolicy,
    local: CopyMeta<'_>,
    incoming: CopyMeta<'_>,
    incoming_has_state: bool,
) -> Resolution {
    if !incoming_has_state {
        return Resolution::KeepLocal;
    }
    let order = (incoming.generation, incoming.host).cmp(&(local.generation, local.host));
    match (policy, order) {
        (ConflictPolicy::Merge, _) => Resolution::Merge,
        (ConflictPolicy::KeepNewest, Ordering::Greater)
        | (ConflictPolicy::KeepOldest, Ordering::Less) => Resolution::TakeIncoming,
        _ => Resolution::KeepLocal,
    }
}

/// The nodes that keep the spec of `key` hosted on `host`: the first `replicas - 1` nodes of
/// its ranking other than the host (the owner and its successors when the host owns it).
pub fn replica_set(
    placement: &Placement,
    key: &ActorKey,
    host: &NodeName,
    replicas: usize,
) -> Vec<NodeName> {
    if replicas <= 1 {
        return Vec::new();
    }
    placement
        .ranked(key)
        .into_iter()
        .filter(|n| n != host)
        .take(replicas - 1)
        .collect()
}

/// The spec of a name as a replica keeps it. `S` is the checkpoint type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Spec<S> {
    /// The kind's name.
    pub kind: String,
    /// The serialized spawn arguments.
    #[serde(with = "serde_bytes")]
    pub args: Vec<u8>,
    /// The name's generation.
    pub generation: u64,
    /// The node hosting it.
    pub host: NodeName,
    /// The host's incarnation: a restarted host lost its actors.
    pub host_incarnation: Incarnation,
    /// The sequence number of `checkpoint` (0: none yet).
    pub seq: u64,
    /// The newest checkpoint of its state.
    pub checkpoint: Option<S>,
}

impl<S> Spec<S> {
    /// Orders offers of the same name: newer generation, then newer checkpoint.
    fn freshness(&self) -> (u64, u64) {
        (self.generation, self.seq)
    }
}

/// What a replica did with an update.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ReplicaOutcome {
    /// Stored.
    Stored,
    /// Refused: it comes from a host or generation that was replaced (fenced).
    Stale,
    /// Refused: no spec of that name is kept here.
    Unknown,
}

/// The specs this node keeps for names hosted elsewhere.
#[derive(Debug)]
pub struct Replicas<S> {
    specs: HashMap<ActorKey, Spec<S>>,
}

impl<S> Default for Replicas<S> {
    fn default() -> Self {
        Self {
            specs: HashMap::new(),
        }
    }
}

impl<S> Replicas<S> {
    /// No specs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of specs kept.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// True when no spec is kept.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The spec of `key`, if kept here.
    pub fn get(&self, key: &ActorKey) -> Option<&Spec<S>> {
        self.specs.get(key)
    }

    /// A host (`spec.host`) stores or refreshes the spec of `key`. Refused when a newer
    /// generation is already known (the sender was replaced by a respawn).
    pub fn handle_spec(&mut self, key: ActorKey, spec: Spec<S>) -> ReplicaOutcome {
        match self.specs.get(&key) {
            Some(old) if old.generation > spec.generation => ReplicaOutcome::Stale,
            _ => {
                self.specs.insert(key, spec);
                ReplicaOutcome::Stored
            }
        }
    }

    /// `from` checkpointed `key` at (`generation`, `seq`).
    pub fn handle_checkpoint(
        &mut self,
        from: &NodeName,
        key: &ActorKey,
        generation: u64,
        seq: u64,
        checkpoint: S,
    ) -> ReplicaOutcome {
        let Some(spec) = self.specs.get_mut(key) else {
            return ReplicaOutcome::Unknown;
        };
        if spec.host != *from || spec.generation != generation || seq <= spec.seq {
            return ReplicaOutcome::Stale;
        }
        spec.seq = seq;
        spec.checkpoint = Some(checkpoint);
        ReplicaOutcome::Stored
    }

    /// `from` no longer hosts `key` (it stopped, or moved and its new host has its own
    /// replicas): forget the spec, unless another host has taken it over since.
    pub fn handle_dropped(&mut self, from: &NodeName, key: &ActorKey) -> bool {
        if self.specs.get(key).is_some_and(|s| s.host == *from) {
            self.specs.remove(key);
            return true;
        }
        false
    }

    /// Names whose host is gone: `alive(host, incarnation)` is false.
    pub fn orphans(&self, alive: impl Fn(&NodeName, Incarnation) -> bool) -> Vec<ActorKey> {
        let mut keys: Vec<ActorKey> = self
            .specs
            .iter()
            .filter(|(_, s)| !alive(&s.host, s.host_incarnation))
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }

    /// Records that the respawn of `key` was handed to `host`: if that node goes too, the
    /// spec is offered again to the next owner.
    pub fn reassign(&mut self, key: &ActorKey, host: NodeName, incarnation: Incarnation) {
        if let Some(spec) = self.specs.get_mut(key) {
            spec.host = host;
            spec.host_incarnation = incarnation;
        }
    }

    /// Forgets `key` (it runs here now).
    pub fn remove(&mut self, key: &ActorKey) -> Option<Spec<S>> {
        self.specs.remove(key)
    }
}

/// A respawn offered to a name's new owner by a node that kept its spec.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer<S> {
    /// The spec, naming the host that was lost.
    pub spec: Spec<S>,
    /// Times it was forwarded (the owner changed on the way).
    pub hops: u8,
}

/// What a name's owner does with a respawn offer.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum RespawnDecision {
    /// Start it here, at the offer's generation + 1.
    Spawn,
    /// Another node owns it now: pass the offer on.
    Forward(NodeName),
    /// Not yet: its lost host is still in this node's view (this node has not noticed the
    /// loss yet, or the host came back); ask again at the next settle.
    Wait,
    /// Nothing to do: it runs here already, or its lost host has been back in the view for
    /// longer than the patience (it still runs there, or hands it over itself), or it
    /// bounced too often.
    Drop(&'static str),
}

/// Most hops an offer travels before it is dropped.
pub const MAX_OFFER_HOPS: u8 = 3;

/// How a respawn offer looks from the node deciding it.
#[derive(Clone, Copy, Debug)]
pub struct OfferContext {
    /// The name runs (or is moving away from) here.
    pub hosted: bool,
    /// The host the offer names is in this node's view with the same incarnation.
    pub lost_host_in_view: bool,
    /// Time since the offer arrived, and how long to wait for this node to notice the loss.
    pub age_ms: u64,
    /// See `age_ms`.
    pub patience_ms: u64,
}

/// Decides an offer for `key` on node `me` with view `placement`.
pub fn decide_respawn<S>(
    me: &NodeName,
    placement: &Placement,
    offer: &Offer<S>,
    key: &ActorKey,
    ctx: OfferContext,
) -> RespawnDecision {
    if ctx.hosted {
        return RespawnDecision::Drop("already running here");
    }
    if ctx.lost_host_in_view {
        if ctx.age_ms <= ctx.patience_ms {
            return RespawnDecision::Wait;
        }
        return RespawnDecision::Drop("its host is back");
    }
    match placement.owner_of(key) {
        Some(owner) if owner == me => RespawnDecision::Spawn,
        Some(owner) if offer.hops < MAX_OFFER_HOPS => RespawnDecision::Forward(owner.clone()),
        _ => RespawnDecision::Drop("no owner in reach"),
    }
}

/// Respawn offers waiting for their owner to settle; one per name, the freshest.
#[derive(Debug)]
pub struct Respawns<S> {
    pending: BTreeMap<ActorKey, (Offer<S>, Millis)>,
}

impl<S> Default for Respawns<S> {
    fn default() -> Self {
        Self {
            pending: BTreeMap::new(),
        }
    }
}

impl<S> Respawns<S> {
    /// None waiting.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of names waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when none is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Keeps `offer` for `key` (arrived at `now`) unless a fresher one is already waiting.
    pub fn handle_offer(&mut self, key: ActorKey, offer: Offer<S>, now: Millis) {
        match self.pending.get(&key) {
            Some((old, _)) if old.spec.freshness() >= offer.spec.freshness() => {}
            _ => {
                self.pending.insert(key, (offer, now));
            }
        }
    }

    /// Takes every waiting offer with its arrival time, in name order.
    pub fn take_all(&mut self) -> Vec<(ActorKey, Offer<S>, Millis)> {
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(k, (o, t))| (k, o, t))
            .collect()
    }
}

#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
