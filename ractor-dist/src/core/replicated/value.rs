//! What a replicated value is: the [`Crdt`] trait, its implementations for the standard
//! types of the `crdts` crate, the [`ReplicaId`] that updates are attributed to, and the
//! type-erased slot the machine keeps each value in (merges happen on the decoded value).

use std::any::Any;
use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use crdts::{CmRDT, CvRDT};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::core::snapshot::{decode_fixed, encode_fixed};
use crate::core::{Incarnation, NodeName};

/// Who made an update: a node in one of its lives. The `crdts` types count per actor, so a
/// restarted node (a new incarnation) never reuses the counters of its former self.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReplicaId {
    /// The node.
    pub node: NodeName,
    /// Its incarnation.
    pub incarnation: Incarnation,
}

impl fmt::Display for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.node, self.incarnation)
    }
}

impl fmt::Debug for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A cluster-wide counter that goes up and down.
pub type Counter = crdts::PNCounter<ReplicaId>;
/// A cluster-wide counter that only goes up.
pub type GrowCounter = crdts::GCounter<ReplicaId>;
/// A cluster-wide set: an add wins over a concurrent remove of the same element.
pub type OrSet<M> = crdts::Orswot<M, ReplicaId>;
/// A cluster-wide map of CRDT values (`V` is itself a `crdts` value, e.g. an `MVReg`).
pub type OrMap<K, V> = crdts::Map<K, V, ReplicaId>;
/// A cluster-wide register: the write with the greatest marker `M` (say a timestamp the
/// writer chooses) wins.
pub type Register<V, M> = crdts::LWWReg<V, M>;

/// A value that can be replicated: a state with a merge that is commutative, associative and
/// idempotent (a join), and the small deltas that updates produce.
///
/// Implemented for the `crdts` types behind [`Counter`], [`GrowCounter`], [`OrSet`],
/// [`OrMap`] and [`Register`]. For a type of your own, `merge` must be a join: merging in
/// any order, any grouping and any number of times gives the same value, and applying a
/// delta must equal merging some state (a delta from `update` is applied on every node
/// exactly once, in the order its node made them). The simplest correct choice is
/// `type Delta = Self` with `apply_delta = merge`, the delta being a small state.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use ractor_dist::core::replicated::Crdt;
///
/// /// The largest number seen anywhere.
/// #[derive(Clone, Default, PartialEq, Serialize, Deserialize)]
/// struct Max(u64);
///
/// impl Crdt for Max {
///     type Delta = Max;
///     fn merge(&mut self, other: Max) { self.0 = self.0.max(other.0) }
///     fn apply_delta(&mut self, delta: Max) { self.merge(delta) }
/// }
/// ```
pub trait Crdt:
    Clone + Default + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// What one update sends to the other nodes.
    type Delta: Serialize + DeserializeOwned + Send + 'static;

    /// Joins another node's state into this one.
    fn merge(&mut self, other: Self);

    /// Applies a delta made by [`crate::Replicated::update`] (on this node or another).
    fn apply_delta(&mut self, delta: Self::Delta);

    /// A name of the type, sent with every value: a node receiving a value of another type
    /// under the same name refuses it. Defaults to [`std::any::type_name`], which is stable
    /// within one build; override it to mix builds.
    fn type_tag() -> String {
        std::any::type_name::<Self>().to_string()
    }
}

/// The actor bound of the `crdts` types replicated here.
trait Actor: crdts::Actor + fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static {}
impl<A: crdts::Actor + fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static> Actor
    for A
{
}

#[allow(private_bounds)]
impl<A: Actor> Crdt for crdts::PNCounter<A> {
    type Delta = crdts::pncounter::Op<A>;
    fn merge(&mut self, other: Self) {
        CvRDT::merge(self, other)
    }
    fn apply_delta(&mut self, delta: Self::Delta) {
        CmRDT::apply(self, delta)
    }
}

#[allow(private_bounds)]
impl<A: Actor> Crdt for crdts::GCounter<A> {
    type Delta = crdts::Dot<A>;
    fn merge(&mut self, other: Self) {
        CvRDT::merge(self, other)
    }
    fn apply_delta(&mut self, delta: Self::Delta) {
        CmRDT::apply(self, delta)
    }
}

#[allow(private_bounds)]
impl<M, A> Crdt for crdts::Orswot<M, A>
where
    M: Hash + Eq + Clone + fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static,
    A: Actor,
{
    type Delta = crdts::orswot::Op<M, A>;
    fn merge(&mut self, other: Self) {
        CvRDT::merge(self, other)
    }
    fn apply_delta(&mut self, delta: Self::Delta) {
        CmRDT::apply(self, delta)
    }
}

impl<V, M> Crdt for crdts::LWWReg<V, M>
where
    V: Clone + Default + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static,
    M: Clone + Default + Ord + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    type Delta = Self;
    fn merge(&mut self, other: Self) {
        CvRDT::merge(self, other)
    }
    fn apply_delta(&mut self, delta: Self) {
        CvRDT::merge(self, delta)
    }
}

#[allow(private_bounds)]
impl<K, V, A> Crdt for crdts::Map<K, V, A>
where
    K: Ord + Clone + fmt::Debug + Serialize + DeserializeOwned + Send + Sync + 'static,
    V: crdts::map::Val<A>
        + CvRDT
        + fmt::Debug
        + PartialEq
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static,
    V::Op: Serialize + DeserializeOwned + Send + 'static,
    A: Actor,
{
    type Delta = crdts::map::Op<K, V, A>;
    fn merge(&mut self, other: Self) {
        CvRDT::merge(self, other)
    }
    fn apply_delta(&mut self, delta: Self::Delta) {
        CmRDT::apply(self, delta)
    }
}

/// A value as the machine sees it before and after an effective change (downcast with
/// `Arc::downcast::<T>`).
pub type Shared = Arc<dyn Any + Send + Sync>;

/// The seed of [`tag_hash`] (fixed: it is part of the wire protocol).
const TAG_SEED: u64 = 0x7265_706c_6963_6174; // "replicat"

/// The hash of a type tag sent with every value (xxh3-64 with a fixed seed): 8 bytes on
/// the wire instead of the tag, equal on every node and build.
pub fn tag_hash(tag: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64_with_seed(tag.as_bytes(), TAG_SEED)
}

/// A value changed: its state before and after.
#[derive(Clone)]
pub struct Change {
    /// Before.
    pub old: Shared,
    /// After.
    pub new: Shared,
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Change { .. }")
    }
}

/// One value of a known type behind a type-erased interface: the machine moves bytes, the
/// slot decodes them and merges on the decoded form.
pub(crate) trait Slot: Send + Sync {
    /// [`tag_hash`] of the type's tag: what travels.
    fn tag(&self) -> u64;
    /// The type's tag, for errors.
    fn tag_name(&self) -> &str;
    /// Applies an encoded delta; `Some` when the value changed.
    fn apply_delta(&mut self, bytes: &[u8]) -> Result<Option<Change>, String>;
    /// Merges an encoded full state; `Some` when the value changed.
    fn merge_state(&mut self, bytes: &[u8]) -> Result<Option<Change>, String>;
    fn encode_state(&self) -> Result<Vec<u8>, String>;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// The slot of a value of type `T`. The value sits in an `Arc` so that readers and change
/// callbacks share it; every change makes a new one.
pub(crate) struct Typed<T: Crdt> {
    tag: String,
    hash: u64,
    pub(crate) value: Arc<T>,
}

impl<T: Crdt> Typed<T> {
    pub(crate) fn new() -> Self {
        let tag = T::type_tag();
        Typed {
            hash: tag_hash(&tag),
            tag,
            value: Arc::new(T::default()),
        }
    }

    /// Runs `f` on a copy of the value; keeps the copy and reports the change when it
    /// differs.
    pub(crate) fn change(&mut self, f: impl FnOnce(&mut T)) -> Option<Change> {
        let mut next = T::clone(&self.value);
        f(&mut next);
        if next == *self.value {
            return None;
        }
        let old = std::mem::replace(&mut self.value, Arc::new(next));
        Some(Change {
            old,
            new: self.value.clone(),
        })
    }
}

impl<T: Crdt> Slot for Typed<T> {
    fn tag(&self) -> u64 {
        self.hash
    }

    fn tag_name(&self) -> &str {
        &self.tag
    }

    fn apply_delta(&mut self, bytes: &[u8]) -> Result<Option<Change>, String> {
        let delta: T::Delta = decode_fixed(bytes, bytes.len())?;
        Ok(self.change(|v| v.apply_delta(delta)))
    }

    fn merge_state(&mut self, bytes: &[u8]) -> Result<Option<Change>, String> {
        let other: T = decode_fixed(bytes, bytes.len())?;
        Ok(self.change(|v| v.merge(other)))
    }

    fn encode_state(&self) -> Result<Vec<u8>, String> {
        encode_fixed(&*self.value)
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}
