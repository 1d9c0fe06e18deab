//! The known node set: every node the cluster knows of (GenServerring's `all`), as opposed
//! to the live ones (the membership view, `up`), and the decisions built on it: who is
//! dialed, who is admitted, and when a node must leave because it was removed.
//!
//! # When to use it
//!
//! The known set is what makes membership manageable by hand: [`KnownNodes::add`] (an
//! operator's `add_node`) and [`KnownNodes::remove`] (`del_node`) change it cluster-wide,
//! and a node restarted with its data directory dials the nodes it holds, with no seeds.
//! Nodes that meet are added to it by themselves ([`KnownNodes::observe`]).
//!
//! # What it is
//!
//! A built-in replicated value ([`KNOWN_NODES`]), gossiped and persisted by the machinery
//! of [`super::replicated`] like any other value, whose type is an observed-remove set of
//! node names with tombstones. Each name carries a *generation*: a remove tombstones the
//! generation it saw, and an add after it (an explicit [`KnownNodes::add`], never an
//! automatic [`KnownNodes::observe`]) starts the next one. The merge takes, per name, the
//! greater `(generation, removed)`: within one generation the tombstone wins, so a node that
//! had not heard of a removal (or a restarted node with an old file) cannot bring the
//! removed node back by gossiping its older state; only an add that saw the remove can. The
//! address of each name is a register of its own, `(stamp, addr)`, bumped when a node is
//! seen at another address.
//!
//! # Decisions
//!
//! - Dialed: the addresses of the present nodes (see `Mesh::handle_known`), never those of
//!   removed ones.
//! - Admitted: any node that is not removed (a newcomer that nobody added yet is admitted,
//!   as with seeds). A removed node's hello is refused and counted.
//! - Leaving: a member (a node with up peers) that learns that it was removed leaves the
//!   cluster gracefully (its names move off with their state) and stops
//!   ([`self_removed`]).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::replicated::{persist, Crdt, ReplicaConfig, ReplicaError, ReplicaMsg, Replicas};
use super::NodeName;

/// The name of the known node set among the replicated values (reserved: applications
/// cannot register it). Its file is `<data_dir>/replicated/_ractor_dist_nodes.rdv`.
pub const KNOWN_NODES: &str = "_ractor_dist_nodes";

/// What the known set holds of one node name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownEntry {
    /// Bumped by an add after a remove.
    pub generation: u64,
    /// Removed in this generation (a tombstone).
    pub removed: bool,
    /// Bumped when the node is seen at another address.
    pub addr_stamp: u64,
    /// The `host:port` the node is dialed at (empty when unknown: removed before it was met).
    pub addr: String,
}

impl KnownEntry {
    /// Joins `other` into this entry: the greater `(generation, removed)` and the greater
    /// `(addr_stamp, addr)`, each on its own.
    fn join(&mut self, other: &KnownEntry) {
        if (other.generation, other.removed) > (self.generation, self.removed) {
            self.generation = other.generation;
            self.removed = other.removed;
        }
        if (other.addr_stamp, &other.addr) > (self.addr_stamp, &self.addr) {
            self.addr_stamp = other.addr_stamp;
            self.addr.clone_from(&other.addr);
        }
    }
}

/// The known node set (see the [module docs](self)). Updates are made as deltas by
/// [`KnownNodes::add`], [`KnownNodes::observe`] and [`KnownNodes::remove`], and merged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnownNodes {
    entries: BTreeMap<NodeName, KnownEntry>,
}

impl Crdt for KnownNodes {
    type Delta = KnownNodes;

    fn merge(&mut self, other: KnownNodes) {
        for (node, entry) in other.entries {
            match self.entries.get_mut(&node) {
                Some(ours) => ours.join(&entry),
                None => {
                    self.entries.insert(node, entry);
                }
            }
        }
    }

    fn apply_delta(&mut self, delta: KnownNodes) {
        self.merge(delta)
    }

    fn type_tag() -> String {
        "ractor_dist::KnownNodes".to_string()
    }
}

impl KnownNodes {
    /// Every entry, removed ones included, by name.
    pub fn entries(&self) -> &BTreeMap<NodeName, KnownEntry> {
        &self.entries
    }

    /// The present (not removed) nodes and their addresses, sorted by name.
    pub fn present(&self) -> impl Iterator<Item = (&NodeName, &str)> {
        self.entries
            .iter()
            .filter(|(_, e)| !e.removed)
            .map(|(n, e)| (n, e.addr.as_str()))
    }

    /// The removed nodes, sorted.
    pub fn removed(&self) -> BTreeSet<NodeName> {
        self.entries
            .iter()
            .filter(|(_, e)| e.removed)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// `node` is in the set and not removed.
    pub fn is_present(&self, node: &NodeName) -> bool {
        self.entries.get(node).is_some_and(|e| !e.removed)
    }

    /// `node` was removed (and not added back since).
    pub fn is_removed(&self, node: &NodeName) -> bool {
        self.entries.get(node).is_some_and(|e| e.removed)
    }

    /// The delta that makes `node` present at `addr` (an operator's add): a node absent or
    /// removed starts a new generation, a present one only takes the new address. `None`
    /// when nothing would change.
    pub fn add(&self, node: &NodeName, addr: &str) -> Option<KnownNodes> {
        let entry = match self.entries.get(node) {
            None => KnownEntry {
                generation: 0,
                removed: false,
                addr_stamp: 0,
                addr: addr.to_string(),
            },
            Some(e) if e.removed => KnownEntry {
                generation: e.generation + 1,
                removed: false,
                addr_stamp: e.addr_stamp + u64::from(e.addr != addr),
                addr: addr.to_string(),
            },
            Some(e) if e.addr != addr => KnownEntry {
                addr_stamp: e.addr_stamp + 1,
                addr: addr.to_string(),
                ..e.clone()
            },
            Some(_) => return None,
        };
        Some(Self::one(node, entry))
    }

    /// The delta recording that `node` was met at `addr` (it said hello): as
    /// [`KnownNodes::add`], but a removed node stays removed.
    pub fn observe(&self, node: &NodeName, addr: &str) -> Option<KnownNodes> {
        if self.is_removed(node) {
            return None;
        }
        self.add(node, addr)
    }

    /// The delta that removes `node` (tombstoning the generation this set holds; a node
    /// never met is tombstoned too, so that it is not admitted). `None` when it is removed
    /// already.
    pub fn remove(&self, node: &NodeName) -> Option<KnownNodes> {
        let entry = match self.entries.get(node) {
            None => KnownEntry {
                generation: 0,
                removed: true,
                addr_stamp: 0,
                addr: String::new(),
            },
            Some(e) if e.removed => return None,
            Some(e) => KnownEntry {
                removed: true,
                ..e.clone()
            },
        };
        Some(Self::one(node, entry))
    }

    fn one(node: &NodeName, entry: KnownEntry) -> KnownNodes {
        KnownNodes {
            entries: BTreeMap::from([(node.clone(), entry)]),
        }
    }

    /// Every known node as `all()` reports it: the present ones and `me`, unless `me` was
    /// removed, sorted.
    pub fn all(&self, me: &NodeName) -> Vec<NodeName> {
        let mut all: BTreeSet<NodeName> = self.present().map(|(n, _)| n.clone()).collect();
        if !self.is_removed(me) {
            all.insert(me.clone());
        }
        all.into_iter().collect()
    }
}

/// `me` was not removed in `old` and is in `new`, while it is a `member` (it has up peers):
/// it must leave the cluster and stop. A node that is no member (a fresh node refused at
/// hello, learning why, maybe by catching up on the set's history delta by delta, its own
/// presence and removal included) or was removed already (restarted from a file that says
/// so) stays, waiting to be added back.
pub fn self_removed(me: &NodeName, old: &KnownNodes, new: &KnownNodes, member: bool) -> bool {
    member && !old.is_removed(me) && new.is_removed(me)
}

/// Whether a replicated-values message is about the known set (the engine handles those;
/// the application's values are the node's).
pub fn is_known_msg(msg: &ReplicaMsg) -> bool {
    match msg {
        ReplicaMsg::Delta { name, .. } | ReplicaMsg::State { name, .. } => name == KNOWN_NODES,
        ReplicaMsg::Digest { entries, .. } => entries.iter().any(|e| e.name == KNOWN_NODES),
    }
}

/// The replication machine of the known set (only [`KNOWN_NODES`] registered), started from
/// its `file` on disk when there is one.
///
/// # Errors
///
/// [`ReplicaError::Persisted`] when the file is refused (another format version, a bad
/// checksum, not a value file, another value): nothing was started.
pub fn machine(config: ReplicaConfig, file: Option<&[u8]>) -> Result<Replicas, ReplicaError> {
    let mut machine = Replicas::new(config);
    machine.register_from::<KnownNodes>(KNOWN_NODES, file)?;
    Ok(machine)
}

/// The name of the known set's file in `<data_dir>/replicated`.
pub fn file_name() -> String {
    persist::file_name(KNOWN_NODES)
}

#[cfg(test)]
mod tests;
