//! Hold queues: messages a node keeps back for a while instead of delivering them at once.
//!
//! A node holds a message in one of two queues:
//!
//! - **Moving** (per name): the name is being handed off from here, or fenced after a pause.
//!   Its messages wait in send order and, depending on how the move ends, are forwarded to
//!   the new host ([`HoldQueues::moved`]), delivered here ([`HoldQueues::restored`]), or
//!   answered `NotFound` / dropped ([`HoldQueues::gone`]).
//! - **Parked** (one queue per node): the node is not settled for its view and a handoff may
//!   still bring the name, or the sender routes by a newer view. Parked messages are
//!   released when the node settles ([`HoldQueues::release_parked`]), or once they have
//!   waited [`HoldConfig::park_ms`] (`Timing::park_ms`). A released message that still may
//!   not be handled is parked again with its original time, so it never waits longer than
//!   that in total, except that the engine keeps those a busy source's slow move may still
//!   be for until the node settles, at most the barrier's patience
//!   ([`HoldQueues::release_parked_except`], `Engine::release_parked`).
//!
//! The queues hold only [`MsgId`]s and what the protocol needs to decide about them (the
//! name, the sender, when it was held, what kind of message it is); the payloads (reply
//! ports, typed messages, bytes) stay with the executor, keyed by the same id.
//!
//! **Caps.** Nothing here grows without bound: at most [`HoldCaps::per_name`] messages are
//! held for one name and [`HoldCaps::per_node`] in total, over both queues. A message over a
//! cap is refused with a [`HoldError`] (and counted, [`HoldQueues::refused`]); the executor
//! answers a call with an error, returns the error to a local sender and drops a remote
//! cast.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::identity::{ActorKey, Millis, NodeName};
use super::order::{Stamp, Stream};

mod local;
pub use local::LocalAdmission;

/// The id of one held message, allocated by [`HoldQueues`] (unique per node and run).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId(pub u64);

/// What kind of payload a held message is: it decides what happens when its name is gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldKind {
    /// A serialized cast from a peer (or forwarded by one): dropped when the name is gone.
    Cast,
    /// A request with a reply port (a call, stop, spawn or lookup): answered `NotFound`
    /// when the name is gone.
    Call,
    /// A typed message from a local handle: dropped when the name is gone.
    Local,
}

/// What the protocol knows of one held message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    /// The name it is for.
    pub key: ActorKey,
    /// Its sender (this node for local handles).
    pub from: NodeName,
    /// When it was first held.
    pub since: Millis,
    /// Its payload's kind.
    pub kind: HoldKind,
}

/// How many messages may be held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldCaps {
    /// For one name, over both queues.
    pub per_name: usize,
    /// On the node, over both queues.
    pub per_node: usize,
}

impl Default for HoldCaps {
    /// The defaults of `DistConfig`: 10 000 per name, 100 000 per node.
    fn default() -> Self {
        Self {
            per_name: 10_000,
            per_node: 100_000,
        }
    }
}

impl HoldCaps {
    /// Whether one more message for `key` fits when `for_name` messages are held for it
    /// and `total` on the node.
    ///
    /// # Errors
    ///
    /// The cap that is reached.
    pub fn check(&self, key: &ActorKey, for_name: usize, total: usize) -> Result<(), HoldError> {
        if for_name >= self.per_name {
            return Err(HoldError::NameFull {
                key: key.clone(),
                cap: self.per_name,
            });
        }
        if total >= self.per_node {
            return Err(HoldError::NodeFull { cap: self.per_node });
        }
        Ok(())
    }
}

/// The limits of the hold queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldConfig {
    /// See [`HoldCaps`].
    pub caps: HoldCaps,
    /// A parked message is released after this long at the latest (`Timing::park_ms`).
    pub park_ms: u64,
}

/// A message refused by a hold queue. Nothing was held; the refusal was counted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HoldError {
    /// The name already has its cap of held messages.
    #[error("{cap} messages already held for {key} (the per-name cap)")]
    NameFull {
        /// The name.
        key: ActorKey,
        /// [`HoldCaps::per_name`].
        cap: usize,
    },
    /// The node already holds its cap of messages.
    #[error("{cap} messages already held on this node (the per-node cap)")]
    NodeFull {
        /// [`HoldCaps::per_node`].
        cap: usize,
    },
}

/// What to do with one held message whose wait is over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Release {
    /// Deliver it to the name's actor here (restored or unfenced).
    Deliver(MsgId),
    /// Send it on to the name's new host, in order with the others.
    Forward(MsgId, NodeName),
    /// The name is gone: answer the request with `NotFound`.
    NotFound(MsgId),
    /// The name is gone: drop the cast (and count it).
    Drop(MsgId),
}

/// The node's hold queues. See the module docs.
#[derive(Debug)]
pub struct HoldQueues {
    config: HoldConfig,
    next: u64,
    items: BTreeMap<MsgId, Held>,
    moving: BTreeMap<ActorKey, VecDeque<MsgId>>,
    /// Stamped casts that arrived before an earlier one of their stream (see
    /// [`crate::core::order`]), per name, by stream and number.
    early: BTreeMap<ActorKey, BTreeMap<(Stream, u64), MsgId>>,
    /// The stamps of held casts that carry one (see [`HoldQueues::stamp`]).
    stamps: BTreeMap<MsgId, Stamp>,
    parked: VecDeque<MsgId>,
    /// Parked messages per name and sender (a later one on the same link queues behind).
    parked_from: BTreeMap<(ActorKey, NodeName), usize>,
    per_name: BTreeMap<ActorKey, usize>,
    /// Names at their cap (published to local handles, which refuse at once).
    full: BTreeSet<ActorKey>,
    full_changed: bool,
    refused: u64,
}

impl HoldQueues {
    /// Records the sizes of the queues' tables (see [`crate::core::footprint`]).
    pub fn footprint(&self, f: &mut crate::core::Footprint) {
        f.add("hold.items", self.items.len());
        f.add("hold.moving", self.moving.values().map(VecDeque::len).sum());
        f.add("hold.early", self.early.values().map(BTreeMap::len).sum());
        f.add("hold.stamps", self.stamps.len());
        f.add("hold.parked", self.parked.len());
        f.add("hold.parked_from", self.parked_from.len());
        f.add("hold.per_name", self.per_name.len());
        f.add("hold.full", self.full.len());
    }

    /// Empty queues.
    pub fn new(config: HoldConfig) -> Self {
        Self {
            config,
            next: 0,
            items: BTreeMap::new(),
            moving: BTreeMap::new(),
            early: BTreeMap::new(),
            stamps: BTreeMap::new(),
            parked: VecDeque::new(),
            parked_from: BTreeMap::new(),
            per_name: BTreeMap::new(),
            full: BTreeSet::new(),
            full_changed: false,
            refused: 0,
        }
    }

    /// The limits.
    pub fn config(&self) -> HoldConfig {
        self.config
    }

    /// Messages held, over both queues.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Messages held for `key`, over both queues.
    pub fn held_for(&self, key: &ActorKey) -> usize {
        self.per_name.get(key).copied().unwrap_or(0)
    }

    /// True when messages for `key` that came from `from` are parked: a later one from
    /// the same sender (links are FIFO) must queue behind them, not overtake them.
    pub fn has_parked_from(&self, key: &ActorKey, from: &NodeName) -> bool {
        !self.parked_from.is_empty() && self.parked_from.contains_key(&(key.clone(), from.clone()))
    }

    /// True when messages are parked.
    pub fn has_parked(&self) -> bool {
        !self.parked.is_empty()
    }

    /// Messages refused so far because a cap was reached.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// What is known of a held message.
    pub fn get(&self, id: MsgId) -> Option<&Held> {
        self.items.get(&id)
    }

    /// Whether one more message for `key` fits (without holding anything).
    ///
    /// # Errors
    ///
    /// The cap that is reached.
    pub fn check(&self, key: &ActorKey) -> Result<(), HoldError> {
        self.config
            .caps
            .check(key, self.held_for(key), self.items.len())
    }

    /// True when the node holds its cap of messages (every new one is refused).
    pub fn node_full(&self) -> bool {
        self.items.len() >= self.config.caps.per_node
    }

    /// The names at their cap, when that set (or [`Self::node_full`]) changed since the
    /// last call: the executor publishes them so that local handles refuse at once.
    pub fn poll_full(&mut self) -> Option<(Vec<ActorKey>, bool)> {
        if !std::mem::take(&mut self.full_changed) {
            return None;
        }
        Some((self.full.iter().cloned().collect(), self.node_full()))
    }

    /// Holds a message for `key`, which is moving away or fenced. Released by
    /// [`Self::moved`], [`Self::restored`] or [`Self::gone`].
    ///
    /// # Errors
    ///
    /// A cap is reached: nothing is held, the refusal is counted.
    pub fn buffer(
        &mut self,
        key: &ActorKey,
        from: &NodeName,
        kind: HoldKind,
        now: Millis,
    ) -> Result<MsgId, HoldError> {
        let id = self.admit(key, from, kind, now)?;
        self.moving.entry(key.clone()).or_default().push_back(id);
        Ok(id)
    }

    /// Parks a message for `key` until the node settles, first held at `since` (a
    /// message parked again after a release keeps its original time).
    ///
    /// # Errors
    ///
    /// A cap is reached: nothing is held, the refusal is counted.
    pub fn park(
        &mut self,
        key: &ActorKey,
        from: &NodeName,
        kind: HoldKind,
        since: Millis,
    ) -> Result<MsgId, HoldError> {
        let id = self.admit(key, from, kind, since)?;
        self.parked.push_back(id);
        *self
            .parked_from
            .entry((key.clone(), from.clone()))
            .or_insert(0) += 1;
        Ok(id)
    }

    /// Holds a stamped cast for `key` that came before an earlier one of its stream (see
    /// [`crate::core::order`]). `None` when the same cast already waits (a duplicate: drop
    /// it).
    ///
    /// # Errors
    ///
    /// A cap is reached: nothing is held, the refusal is counted.
    pub fn early(
        &mut self,
        key: &ActorKey,
        from: &NodeName,
        stamp: &Stamp,
        now: Millis,
    ) -> Result<Option<MsgId>, HoldError> {
        let slot = (stamp.stream, stamp.seq);
        if self.early.get(key).is_some_and(|e| e.contains_key(&slot)) {
            return Ok(None);
        }
        let id = self.admit(key, from, HoldKind::Cast, now)?;
        self.early.entry(key.clone()).or_default().insert(slot, id);
        Ok(Some(id))
    }

    /// Takes out the cast number `seq` of `stream` for `key`, if it waits.
    pub fn take_early(&mut self, key: &ActorKey, stream: &Stream, seq: u64) -> Option<MsgId> {
        let waiting = self.early.get_mut(key)?;
        let id = waiting.remove(&(*stream, seq))?;
        if waiting.is_empty() {
            self.early.remove(key);
        }
        self.remove(id).map(|_| id)
    }

    /// Streams whose first waiting cast has waited longer than `gap_ms`: the name, the
    /// stream and that cast's number.
    pub fn early_gaps(&self, now: Millis, gap_ms: u64) -> Vec<(ActorKey, Stream, u64)> {
        let mut out = Vec::new();
        for (key, waiting) in &self.early {
            let mut last: Option<&Stream> = None;
            for ((stream, seq), id) in waiting {
                if last == Some(stream) {
                    continue;
                }
                last = Some(stream);
                let expired = self
                    .items
                    .get(id)
                    .is_some_and(|h| now.since(h.since) > gap_ms);
                if expired {
                    out.push((key.clone(), *stream, *seq));
                }
            }
        }
        out
    }

    /// Casts waiting for their turn, for any name.
    pub fn has_early(&self) -> bool {
        !self.early.is_empty()
    }

    /// Records the stamp of held cast `id` (see [`crate::core::order`]): released, the
    /// casts of one stream come out in their numbers' order (a later one may have been held
    /// first, having overtaken earlier ones on another path).
    pub fn stamp(&mut self, id: MsgId, stamp: Stamp) {
        if self.items.contains_key(&id) {
            self.stamps.insert(id, stamp);
        }
    }

    /// `key` arrived at `to`: its held messages go there, in order (then those waiting for
    /// their turn: the host orders them again).
    pub fn moved(&mut self, key: &ActorKey, to: &NodeName) -> Vec<Release> {
        self.take_moving(key)
            .into_iter()
            .chain(self.take_early_all(key))
            .map(|(id, _)| Release::Forward(id, to.clone()))
            .collect()
    }

    /// Puts the casts of each stream among `items` in their numbers' order, each in a
    /// place one of that stream's casts held (messages of other senders keep theirs).
    fn in_stream_order<T>(&self, items: Vec<(MsgId, T)>) -> Vec<(MsgId, T)> {
        let mut places: BTreeMap<Stream, Vec<usize>> = BTreeMap::new();
        for (i, (id, _)) in items.iter().enumerate() {
            if let Some(stamp) = self.stamps.get(id) {
                places.entry(stamp.stream).or_default().push(i);
            }
        }
        if places.values().all(|p| p.len() < 2) {
            return items;
        }
        let seq = |id: &MsgId| self.stamps.get(id).map(|s| s.seq);
        let mut slots: Vec<Option<(MsgId, T)>> = items.into_iter().map(Some).collect();
        for positions in places.values().filter(|p| p.len() > 1) {
            let mut group: Vec<(MsgId, T)> =
                positions.iter().filter_map(|&i| slots[i].take()).collect();
            group.sort_by_key(|(id, _)| seq(id));
            for (&i, item) in positions.iter().zip(group) {
                slots[i] = Some(item);
            }
        }
        slots.into_iter().flatten().collect()
    }

    /// `key` arrived at `to` and lost a conflict there with a copy that took newer
    /// messages: its held casts are dropped (delivered now, they would come after those);
    /// its held requests go there, in order.
    pub fn superseded(&mut self, key: &ActorKey, to: &NodeName) -> Vec<Release> {
        self.take_moving(key)
            .into_iter()
            .chain(self.take_early_all(key))
            .map(|(id, held)| match held.kind {
                HoldKind::Call => Release::Forward(id, to.clone()),
                HoldKind::Cast | HoldKind::Local => Release::Drop(id),
            })
            .collect()
    }

    /// The casts held for `key` (those a copy that lost a conflict here was to take): taken
    /// out and dropped; its requests stay held.
    pub fn drop_casts(&mut self, key: &ActorKey) -> Vec<Release> {
        let early: Vec<Release> = self
            .take_early_all(key)
            .into_iter()
            .map(|(id, _)| Release::Drop(id))
            .collect();
        let Some(queue) = self.moving.get_mut(key) else {
            return early;
        };
        let (casts, rest): (VecDeque<MsgId>, VecDeque<MsgId>) = queue
            .drain(..)
            .partition(|id| self.items.get(id).is_some_and(|h| h.kind != HoldKind::Call));
        if rest.is_empty() {
            self.moving.remove(key);
        } else {
            self.moving.insert(key.clone(), rest);
        }
        early
            .into_iter()
            .chain(
                casts
                    .into_iter()
                    .filter_map(|id| self.remove(id).map(|_| Release::Drop(id))),
            )
            .collect()
    }

    /// `key` runs here again (its move fell back, or the fence lifted): its held messages
    /// are delivered here, in order.
    pub fn restored(&mut self, key: &ActorKey) -> Vec<Release> {
        self.take_moving(key)
            .into_iter()
            .map(|(id, _)| Release::Deliver(id))
            .collect()
    }

    /// `key` stopped while it was moving: its held requests are answered `NotFound`, its
    /// casts dropped.
    pub fn gone(&mut self, key: &ActorKey) -> Vec<Release> {
        self.take_moving(key)
            .into_iter()
            .chain(self.take_early_all(key))
            .map(|(id, held)| match held.kind {
                HoldKind::Call => Release::NotFound(id),
                HoldKind::Cast | HoldKind::Local => Release::Drop(id),
            })
            .collect()
    }

    /// Takes parked messages out, in the order they were parked: all of them (the node
    /// settled, or a new view may admit them), or with `expired_only` those that waited
    /// [`HoldConfig::park_ms`] or longer (to be handled without a further admission check).
    /// The caller dispatches each again and parks those that still may not be handled
    /// with their original time.
    pub fn release_parked(&mut self, now: Millis, expired_only: bool) -> Vec<(MsgId, Held)> {
        self.release_parked_except(now, expired_only, |_| false)
    }

    /// The names of the parked messages, each with when it was parked (in parking order).
    pub fn parked_keys(&self) -> impl Iterator<Item = (&ActorKey, Millis)> + '_ {
        (self.parked.iter())
            .filter_map(|id| self.items.get(id))
            .map(|h| (&h.key, h.since))
    }

    /// As [`HoldQueues::release_parked`], except that with `expired_only` the expired
    /// messages of the names `keep` picks stay parked.
    pub fn release_parked_except(
        &mut self,
        now: Millis,
        expired_only: bool,
        keep: impl Fn(&ActorKey) -> bool,
    ) -> Vec<(MsgId, Held)> {
        let park_ms = self.config.park_ms;
        let parked = std::mem::take(&mut self.parked);
        let mut leaving = Vec::new();
        for id in parked {
            let expired = (self.items.get(&id))
                .is_some_and(|h| now.since(h.since) > park_ms && !(expired_only && keep(&h.key)));
            if expired_only && !expired {
                self.parked.push_back(id);
            } else {
                leaving.push((id, ()));
            }
        }
        let mut out = Vec::new();
        for (id, ()) in self.in_stream_order(leaving) {
            if let Some(held) = self.remove(id) {
                let pair = (held.key.clone(), held.from.clone());
                if let Some(n) = self.parked_from.get_mut(&pair) {
                    *n -= 1;
                    if *n == 0 {
                        self.parked_from.remove(&pair);
                    }
                }
                out.push((id, held));
            }
        }
        out
    }

    fn take_early_all(&mut self, key: &ActorKey) -> Vec<(MsgId, Held)> {
        self.early
            .remove(key)
            .unwrap_or_default()
            .into_values()
            .filter_map(|id| self.remove(id).map(|h| (id, h)))
            .collect()
    }

    fn take_moving(&mut self, key: &ActorKey) -> Vec<(MsgId, Held)> {
        let ids: Vec<(MsgId, ())> = self
            .moving
            .remove(key)
            .unwrap_or_default()
            .into_iter()
            .map(|id| (id, ()))
            .collect();
        self.in_stream_order(ids)
            .into_iter()
            .filter_map(|(id, ())| self.remove(id).map(|h| (id, h)))
            .collect()
    }

    fn admit(
        &mut self,
        key: &ActorKey,
        from: &NodeName,
        kind: HoldKind,
        since: Millis,
    ) -> Result<MsgId, HoldError> {
        if let Err(e) = self.check(key) {
            self.refused += 1;
            return Err(e);
        }
        let was_full = self.node_full();
        self.next += 1;
        let id = MsgId(self.next);
        self.items.insert(
            id,
            Held {
                key: key.clone(),
                from: from.clone(),
                since,
                kind,
            },
        );
        let n = self.per_name.entry(key.clone()).or_insert(0);
        *n += 1;
        if *n >= self.config.caps.per_name && self.full.insert(key.clone()) {
            self.full_changed = true;
        }
        if self.node_full() != was_full {
            self.full_changed = true;
        }
        Ok(id)
    }

    fn remove(&mut self, id: MsgId) -> Option<Held> {
        let was_full = self.node_full();
        let held = self.items.remove(&id)?;
        self.stamps.remove(&id);
        if let Some(n) = self.per_name.get_mut(&held.key) {
            *n -= 1;
            if *n == 0 {
                self.per_name.remove(&held.key);
            }
        }
        if self.held_for(&held.key) < self.config.caps.per_name && self.full.remove(&held.key) {
            self.full_changed = true;
        }
        if self.node_full() != was_full {
            self.full_changed = true;
        }
        Some(held)
    }
}

#[cfg(test)]
mod tests;
