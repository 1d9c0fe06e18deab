//! The per-node lookup cache: where handles last found names, for one epoch, bounded.

use std::collections::{BTreeMap, HashMap};

use crate::core::identity::{ActorKey, Epoch, NodeName};

/// Where names were last found, valid for one membership epoch.
///
/// Answers from an older epoch are never returned: the first answer of a newer epoch
/// empties the cache. At most `capacity` names are kept; past that the oldest answer is
/// evicted first (insertion order, deterministic). Answers naming this node itself are not
/// kept (the hosted table knows those).
///
/// Names are found by hash (this is on the path of every lookup and remote call); the
/// iteration order of that map is never observed, so it stays deterministic: eviction
/// follows the insertion sequence.
#[derive(Debug)]
pub struct LookupCache {
    me: NodeName,
    capacity: usize,
    epoch: Epoch,
    entries: HashMap<ActorKey, (NodeName, u64)>,
    /// Insertion sequence number → name, oldest first.
    order: BTreeMap<u64, ActorKey>,
    next: u64,
}

impl LookupCache {
    /// Records the cache's size and bound (see [`crate::core::footprint`]).
    pub fn footprint(&self, f: &mut crate::core::Footprint) {
        f.add_bounded("node.lookup_cache", self.entries.len(), self.capacity);
    }

    /// Default bound: enough for every name a busy node talks to, small enough to never
    /// matter for memory (tens of MiB at most).
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// An empty cache of `me` keeping at most `capacity` names (at least one).
    pub fn new(me: NodeName, capacity: usize) -> Self {
        Self {
            me,
            capacity: capacity.max(1),
            epoch: Epoch(0),
            entries: HashMap::new(),
            order: BTreeMap::new(),
            next: 0,
        }
    }

    /// Where `key` was found under `epoch`, if it was.
    pub fn get(&self, key: &ActorKey, epoch: Epoch) -> Option<&NodeName> {
        if epoch != self.epoch {
            return None;
        }
        self.entries.get(key).map(|(host, _)| host)
    }

    /// `key` was found on `host` under `epoch`. An answer of an older epoch than the
    /// cache's is ignored; one of a newer epoch starts the cache afresh.
    pub fn remember(&mut self, key: ActorKey, epoch: Epoch, host: NodeName) {
        if epoch < self.epoch {
            return;
        }
        if epoch > self.epoch {
            self.entries.clear();
            self.order.clear();
            self.epoch = epoch;
        }
        if host == self.me {
            self.forget(&key);
            return;
        }
        let seq = self.next;
        self.next += 1;
        if let Some((_, old)) = self.entries.insert(key.clone(), (host, seq)) {
            self.order.remove(&old);
        }
        self.order.insert(seq, key);
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    /// Forgets where `key` was found.
    pub fn forget(&mut self, key: &ActorKey) {
        if let Some((_, seq)) = self.entries.remove(key) {
            self.order.remove(&seq);
        }
    }

    /// Forgets every answer naming one of `hosts` (they went down).
    pub fn forget_hosts(&mut self, hosts: &[NodeName]) {
        if hosts.is_empty() {
            return;
        }
        let order = &mut self.order;
        self.entries.retain(|_, (host, seq)| {
            let keep = !hosts.contains(host);
            if !keep {
                order.remove(seq);
            }
            keep
        });
    }

    /// Number of names cached (of any epoch).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most names kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}
