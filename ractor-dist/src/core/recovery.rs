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
//!
//! [`Recovery`] is the engine of one node that puts these pieces together (replication,
//! checkpoints, offers, respawns, conflicts and the pause fence); nodes and the simulation
//! both run it.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::identity::{ActorKey, Incarnation, Millis, NodeName};
use super::placement::Placement;

mod commands;
mod consumed;
mod engine;
mod fence;
mod meta;
mod notices;
mod respawn;
mod sent;

pub use commands::{
    ConflictOutcome, Ctx, Here, RecoveryCommand, RecoveryConfig, RecoveryEvent, RecoveryMsg,
    RespawnStart,
};
pub use consumed::{Consumed, MAX_CONSUMED};
#[cfg(test)]
pub(crate) use engine::MAX_SPEC_RESENDS;
pub use engine::{Hosted, Recovery, DROPS_PER_FRAME};
pub use fence::Fence;
pub use meta::{batches, spec_size, Activation, Checkpoint, NameMeta, Peers, SPEC_OVERHEAD};
pub use notices::{Notice, SentNotices, MAX_PENDING_NOTICES};
pub use sent::SentOffers;

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
    placement.top_except(key, host, replicas - 1)
}

/// Where the host of a name keeps its spec: the current replica nodes, those of them that
/// have not confirmed it yet, and former holders, which keep it until every current one has
/// confirmed (so that no crash in between leaves the name without a spec anywhere).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecHolders {
    current: Vec<(NodeName, Incarnation)>,
    unconfirmed: BTreeSet<NodeName>,
    /// Former holders, with the host their spec names.
    retiring: BTreeSet<(NodeName, NodeName)>,
}

/// What a host sends after [`SpecHolders::retarget`] or a confirmation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HolderChanges {
    /// Nodes that must be sent the spec.
    pub send_spec: Vec<NodeName>,
    /// Former holders that may drop it now: (node, the host their spec names).
    pub drop: Vec<(NodeName, NodeName)>,
}

impl SpecHolders {
    /// The holders of a name that arrived from another host (`holders`: as its
    /// [`SpecHolders::all`] there): they keep the spec until this node's own holders
    /// confirmed.
    pub fn inherit(holders: impl IntoIterator<Item = (NodeName, NodeName)>) -> Self {
        Self {
            retiring: holders.into_iter().collect(),
            ..Self::default()
        }
    }

    /// Adds former holders (of a copy that lost a conflict to this one): they drop the
    /// spec once this copy's holders confirmed.
    pub fn retire(&mut self, holders: impl IntoIterator<Item = (NodeName, NodeName)>) {
        self.retiring.extend(holders);
    }

    /// The former holders were told that `me` hosts the name now: their specs name `me`.
    pub fn rehosted(&mut self, me: &NodeName) {
        self.retiring = std::mem::take(&mut self.retiring)
            .into_iter()
            .map(|(node, _)| (node, me.clone()))
            .filter(|(node, _)| node != me)
            .collect();
    }

    /// The current holders.
    pub fn current(&self) -> &[(NodeName, Incarnation)] {
        &self.current
    }

    /// The current holders that have not confirmed they keep the spec yet.
    pub fn unconfirmed(&self) -> impl Iterator<Item = &NodeName> + '_ {
        self.unconfirmed.iter()
    }

    /// The current holders that confirmed they keep the spec, with the incarnation each
    /// was chosen in (a holder restarted since keeps nothing).
    pub fn confirmed(&self) -> impl Iterator<Item = &(NodeName, Incarnation)> + '_ {
        (self.current.iter()).filter(|(n, _)| !self.unconfirmed.contains(n))
    }

    /// Every node that may hold a spec of the name (current or former, `me` being the
    /// host), with the host that spec names: to drop them when the name stops.
    pub fn all(&self, me: &NodeName) -> Vec<(NodeName, NodeName)> {
        let mut all: Vec<(NodeName, NodeName)> = self
            .current
            .iter()
            .map(|(n, _)| (n.clone(), me.clone()))
            .collect();
        all.extend(self.retiring.iter().cloned());
        all
    }

    /// The current holders become former ones (the spec changed generation: every holder
    /// must be sent it again).
    pub fn refresh(&mut self, me: &NodeName) {
        for (n, _) in self.current.drain(..) {
            self.retiring.insert((n, me.clone()));
        }
        self.unconfirmed.clear();
    }

    /// The holders should be `desired` (`me` is the host). Returns whom to send the spec
    /// and, when nothing is left to confirm, which former holders may drop it.
    pub fn retarget(
        &mut self,
        me: &NodeName,
        desired: Vec<(NodeName, Incarnation)>,
    ) -> HolderChanges {
        let mut changes = HolderChanges::default();
        for d in &desired {
            if !self.current.contains(d) {
                changes.send_spec.push(d.0.clone());
                self.unconfirmed.insert(d.0.clone());
            }
        }
        for (old, _) in &self.current {
            if !desired.iter().any(|(d, _)| d == old) {
                self.retiring.insert((old.clone(), me.clone()));
            }
        }
        self.unconfirmed
            .retain(|n| desired.iter().any(|(d, _)| d == n));
        self.retiring
            .retain(|(n, _)| !desired.iter().any(|(d, _)| d == n));
        self.current = desired;
        // Former holders go only once some current holder has the spec: a host alone in
        // its view keeps every former one.
        if self.unconfirmed.is_empty() && !self.current.is_empty() {
            changes.drop = std::mem::take(&mut self.retiring).into_iter().collect();
        }
        changes
    }

    /// `node` confirmed it keeps the spec. Returns the former holders that may drop it now.
    pub fn handle_confirmed(&mut self, node: &NodeName) -> Vec<(NodeName, NodeName)> {
        if !self.unconfirmed.remove(node) || !self.unconfirmed.is_empty() {
            return Vec::new();
        }
        std::mem::take(&mut self.retiring).into_iter().collect()
    }
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
    /// Refused: a delta checkpoint that does not follow the checkpoint kept here (one
    /// before it was lost or refused); the next full checkpoint is taken.
    Gap,
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
    /// generation is already known (the sender was replaced by a respawn); within one
    /// generation, a newer checkpoint already kept here stays.
    pub fn handle_spec(&mut self, key: ActorKey, mut spec: Spec<S>) -> ReplicaOutcome {
        match self.specs.get_mut(&key) {
            Some(old) if old.generation > spec.generation => ReplicaOutcome::Stale,
            Some(old) if old.generation == spec.generation && old.seq > spec.seq => {
                spec.seq = old.seq;
                spec.checkpoint = old.checkpoint.take();
                *old = spec;
                ReplicaOutcome::Stored
            }
            _ => {
                self.specs.insert(key, spec);
                ReplicaOutcome::Stored
            }
        }
    }

    /// `from` checkpointed `key` at (`generation`, `seq`): the whole state, or with
    /// `delta` the change since `seq - 1`, kept only right after that checkpoint.
    pub fn handle_checkpoint(
        &mut self,
        from: &NodeName,
        key: &ActorKey,
        generation: u64,
        seq: u64,
        checkpoint: S,
        delta: bool,
    ) -> ReplicaOutcome
    where
        S: Checkpoint,
    {
        let Some(spec) = self.specs.get_mut(key) else {
            return ReplicaOutcome::Unknown;
        };
        if spec.host != *from || spec.generation != generation || seq <= spec.seq {
            return ReplicaOutcome::Stale;
        }
        if !delta {
            spec.seq = seq;
            spec.checkpoint = Some(checkpoint);
            return ReplicaOutcome::Stored;
        }
        match &mut spec.checkpoint {
            Some(kept) if seq == spec.seq + 1 => {
                kept.extend(checkpoint);
                spec.seq = seq;
                ReplicaOutcome::Stored
            }
            _ => ReplicaOutcome::Gap,
        }
    }

    /// `host` no longer hosts `key` (it stopped, or moved and its new host's replicas have
    /// the spec): forget the spec, unless another host has taken it over since.
    pub fn handle_dropped(&mut self, host: &NodeName, key: &ActorKey) -> bool {
        if self.specs.get(key).is_some_and(|s| s.host == *host) {
            self.specs.remove(key);
            return true;
        }
        false
    }

    /// `key` moved from `from` to `to` (a handoff): the spec names its new host, which may
    /// be lost before its own holders have the spec. Returns true when a spec changed.
    pub fn handle_moved(
        &mut self,
        from: &NodeName,
        key: &ActorKey,
        to: NodeName,
        incarnation: Incarnation,
    ) -> bool {
        match self.specs.get_mut(key) {
            Some(spec) if spec.host == *from => {
                spec.host = to;
                spec.host_incarnation = incarnation;
                true
            }
            _ => false,
        }
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

    /// The spec this node keeps for `key` if it is fresher than `offer`'s (a checkpoint
    /// arrived after the offer was made): the respawn starts from the freshest.
    pub fn freshest(&self, key: &ActorKey, offer: Spec<S>) -> Spec<S>
    where
        S: Clone,
    {
        match self.specs.get(key) {
            Some(mine) if mine.generation == offer.generation && mine.seq > offer.seq => Spec {
                host: offer.host,
                host_incarnation: offer.host_incarnation,
                ..mine.clone()
            },
            _ => offer,
        }
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

/// What a node fenced after a pause does with its fence.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FenceDecision {
    /// Keep holding messages.
    Hold,
    /// It settled, by barrier, for a view adopted after the pause that includes a peer:
    /// every copy respawned elsewhere has come back (or it handed its own over).
    Rejoined,
    /// A deadline passed and its view never changed: its peers did not drop it (they
    /// would have closed its sessions at once).
    Unnoticed,
    /// No peer came back within the patience: it serves alone (AP).
    GaveUp,
}

/// How a fenced node sees its situation.
#[derive(Clone, Copy, Debug)]
pub struct FenceState {
    /// Time since the fence began.
    pub waited_ms: u64,
    /// A view was adopted after the fence began.
    pub view_changed: bool,
    /// The node just settled for its view by barrier (not by deadline).
    pub settled_by_barrier: bool,
    /// The view has at least one peer.
    pub has_peers: bool,
    /// The heartbeat deadline.
    pub deadline_ms: u64,
    /// How long to wait for any peer at all.
    pub patience_ms: u64,
}

/// Decides whether a fenced node lifts its fence.
pub fn fence_decision(s: FenceState) -> FenceDecision {
    if s.settled_by_barrier && s.view_changed && s.has_peers {
        FenceDecision::Rejoined
    } else if !s.view_changed && s.has_peers && s.waited_ms > s.deadline_ms {
        FenceDecision::Unnoticed
    } else if s.waited_ms > s.patience_ms {
        FenceDecision::GaveUp
    } else {
        FenceDecision::Hold
    }
}

/// Most hops an offer travels before it is dropped.
pub const MAX_OFFER_HOPS: u8 = 3;

/// How a respawn offer looks from the node deciding it.
#[derive(Clone, Copy, Debug)]
pub struct OfferContext {
    /// The name runs (or is moving away from) here.
    pub hosted: bool,
    /// The host the offer names is another node of this node's view, with the same
    /// incarnation. (When it names this node, the respawn was handed here and lost on the
    /// way, or this node lost the name: it is not running here either way.)
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

    /// Takes the waiting offers for names that `me` does not own under `placement` (the
    /// view changed before they ran): they go on to the new owner, with one more hop, unless
    /// they bounced too often.
    pub fn take_foreign(
        &mut self,
        me: &NodeName,
        placement: &Placement,
    ) -> Vec<(NodeName, ActorKey, Offer<S>)> {
        let foreign: Vec<ActorKey> = self
            .pending
            .keys()
            .filter(|k| placement.owner_of(k).is_some_and(|o| o != me))
            .cloned()
            .collect();
        let mut out = Vec::new();
        for key in foreign {
            let Some((offer, _)) = self.pending.remove(&key) else {
                continue;
            };
            if offer.hops >= MAX_OFFER_HOPS {
                continue;
            }
            if let Some(owner) = placement.owner_of(&key) {
                let offer = Offer {
                    hops: offer.hops + 1,
                    ..offer
                };
                out.push((owner.clone(), key, offer));
            }
        }
        out
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
mod tests;
