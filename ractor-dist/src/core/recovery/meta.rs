//! What the recovery engine knows of a name hosted here ([`NameMeta`]), of the node's peers
//! ([`Peers`]) and of a checkpoint ([`Checkpoint`]).

use super::{Spec, SpecHolders};
use crate::core::order::{OrderTable, Stream};
use crate::core::{ActorKey, Incarnation, Mesh, NodeName, Snapshot};

/// A checkpointed state as the recovery engine handles it: its size (to keep frames under
/// the budget), and how a delta checkpoint extends it. Nodes use [`Snapshot`]; the recovery
/// tests a plain counter.
pub trait Checkpoint: Clone + std::fmt::Debug {
    /// Bytes it takes in a frame.
    fn size(&self) -> usize;
    /// This checkpoint followed by `delta`, the change taken after it.
    fn extend(&mut self, delta: Self);
}

impl Checkpoint for Snapshot {
    fn size(&self) -> usize {
        self.len()
    }

    fn extend(&mut self, delta: Self) {
        Snapshot::extend(self, delta);
    }
}

impl Checkpoint for u64 {
    fn size(&self) -> usize {
        8
    }

    /// A counter's delta is what it adds.
    fn extend(&mut self, delta: Self) {
        *self = self.saturating_add(delta);
    }
}

/// The node's view of its peers, as the recovery decisions need it.
pub trait Peers {
    /// The incarnation of `node` if it is a member of the view.
    fn incarnation_of(&self, node: &NodeName) -> Option<Incarnation>;
    /// `node` (in this incarnation) is still there: a member, or a leaver still connected.
    fn is_present(&self, node: &NodeName, incarnation: Incarnation) -> bool;
    /// `node` is up in the view.
    fn is_up(&self, node: &NodeName) -> bool;
    /// The view has at least one peer.
    fn has_peers(&self) -> bool;
    /// `node` is gone for good: not up, and its leave completed or it was removed from
    /// the known set (a node that comes back keeps nothing).
    fn gone_for_good(&self, _node: &NodeName) -> bool {
        false
    }
}

impl Peers for Mesh {
    fn gone_for_good(&self, node: &NodeName) -> bool {
        !self.membership().is_up(node)
            && (self.has_departed(node) || self.membership().is_removed(node))
    }

    fn incarnation_of(&self, node: &NodeName) -> Option<Incarnation> {
        self.membership().incarnation_of(node)
    }

    fn is_present(&self, node: &NodeName, incarnation: Incarnation) -> bool {
        Mesh::is_present(self, node, incarnation)
    }

    fn is_up(&self, node: &NodeName) -> bool {
        self.membership().is_up(node)
    }

    fn has_peers(&self) -> bool {
        !self.membership().peers().is_empty()
    }
}

/// Which activation of a name a copy is: the generation counts activations (spawn 1, a
/// respawn after a loss or a conflict resolution adds 1, a handoff keeps it); the origin is
/// the node that activated it. Two copies with equal activations are the same copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activation {
    /// Activations of the name so far.
    pub generation: u64,
    /// The node that activated this one.
    pub origin: NodeName,
}

impl Activation {
    /// The first activation of a name, spawned on `origin`.
    pub fn first(origin: NodeName) -> Self {
        Self {
            generation: 1,
            origin,
        }
    }

    /// The activation after this one, made on `origin` (a respawn, a local restore, or the
    /// survivor of a conflict with `other`'s generation).
    pub fn next(&self, other_generation: u64, origin: NodeName) -> Self {
        Self {
            generation: self.generation.max(other_generation).saturating_add(1),
            origin,
        }
    }
}

/// What recovery keeps of a name hosted on this node: enough to build its spec, fence its
/// checkpoints and find its replicas. `S` is the checkpoint type.
#[derive(Clone, Debug)]
pub struct NameMeta<S> {
    /// The kind's name.
    pub kind: String,
    /// The serialized spawn arguments.
    pub args: Vec<u8>,
    /// Which activation runs here.
    pub activation: Activation,
    /// The nodes holding its spec.
    pub holders: SpecHolders,
    /// The newest checkpoint (a local restart after a panic starts from it).
    pub checkpoint: Option<S>,
    /// The sequence number of the newest checkpoint (0: none).
    pub checkpoint_seq: u64,
    /// The next cast number expected of each stream (see [`crate::core::order`]; it moves
    /// with the actor, a respawn starts without it).
    pub order: OrderTable,
}

impl<S: Checkpoint> NameMeta<S> {
    /// A name started here from its arguments (or a snapshot) with no holders yet.
    pub fn new(kind: impl Into<String>, args: Vec<u8>, activation: Activation) -> Self {
        Self {
            kind: kind.into(),
            args,
            activation,
            holders: SpecHolders::default(),
            checkpoint: None,
            checkpoint_seq: 0,
            order: OrderTable::default(),
        }
    }

    /// The same, expecting casts of these streams from these numbers on (what its former
    /// host had delivered).
    pub fn with_order(mut self, order: impl IntoIterator<Item = (Stream, u64)>) -> Self {
        self.order = OrderTable::from_entries(order);
        self
    }

    /// A name that arrived by handoff: same activation, the former host's holders keep the
    /// spec until this node's own confirmed, and checkpoints continue the source's sequence
    /// (the final state it sent, kept when the kind `checkpoints`, is newer than its last).
    pub fn arrived(
        mut self,
        holders: impl IntoIterator<Item = (NodeName, NodeName)>,
        checkpoint_seq: u64,
        state: Option<S>,
        checkpoints: bool,
    ) -> Self {
        self.holders = SpecHolders::inherit(holders);
        self.checkpoint_seq = checkpoint_seq;
        self.checkpoint = None;
        if let (true, Some(state)) = (checkpoints, state) {
            self.checkpoint = Some(state);
            self.checkpoint_seq = checkpoint_seq.saturating_add(1);
        }
        self
    }

    /// A drained copy restarted here because its handoff lost its target: a new activation
    /// (the batch may have reached the target anyway), whose holders all get the new spec.
    pub fn restored(mut self, me: &NodeName, state: Option<S>, checkpoints: bool) -> Self {
        self.activation = self.activation.next(0, me.clone());
        self.holders.refresh(me);
        self.checkpoint = None;
        if let (true, Some(state)) = (checkpoints, state) {
            self.checkpoint = Some(state);
            self.checkpoint_seq = self.checkpoint_seq.saturating_add(1);
        }
        self
    }

    /// The spec replicas keep of it, hosted on `me`: the checkpoint is left out when it does
    /// not fit in `budget` bytes.
    pub fn spec(&self, me: &NodeName, incarnation: Incarnation, budget: usize) -> Spec<S> {
        let checkpoint = self.checkpoint.clone().filter(|c| c.size() <= budget);
        Spec {
            kind: self.kind.clone(),
            args: self.args.clone(),
            generation: self.activation.generation,
            host: me.clone(),
            host_incarnation: incarnation,
            seq: if checkpoint.is_some() {
                self.checkpoint_seq
            } else {
                0
            },
            checkpoint,
        }
    }
}

/// Bytes a spec or offer adds to a frame besides its arguments and checkpoint.
pub const SPEC_OVERHEAD: usize = 96;

/// What a spec of `key` weighs in a frame.
pub fn spec_size<S: Checkpoint>(key: &ActorKey, spec: &Spec<S>) -> usize {
    spec.args.len()
        + spec.checkpoint.as_ref().map_or(0, |c| c.size())
        + key.as_str().len()
        + SPEC_OVERHEAD
}

/// Splits `items` into batches of at most `budget` bytes (`size` of each; an item larger
/// than the budget travels alone), in order.
pub fn batches<T>(items: Vec<T>, budget: usize, size: impl Fn(&T) -> usize) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut batch = Vec::new();
    let mut bytes = 0;
    for item in items {
        let s = size(&item);
        if !batch.is_empty() && bytes + s > budget {
            out.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        bytes += s;
        batch.push(item);
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    out
}
