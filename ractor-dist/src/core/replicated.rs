//! Cluster-wide replicated values (CRDTs) and their gossip: the pure machine.
//!
//! # When to use it
//!
//! A replicated value is a small piece of state that **every node reads locally** and any
//! node may update at any time, with no owner and no round trip: configuration, feature
//! flags, presence sets, cluster-wide counters. Reads are instant and may be a little behind;
//! concurrent updates never conflict because the value is a CRDT whose merge is a join
//! (commutative, associative, idempotent), so every node ends with the same value once the
//! updates reached it, through partitions and heals, with no update lost. Use a named actor
//! ([`crate::DistActor`]) instead when updates must be serialized (one owner decides), when
//! the state is large or changes very often, or when a read must see the latest write.
//!
//! # How it spreads
//!
//! - **Deltas on change**: an update is applied locally, numbered (`seq` of its
//!   [`ReplicaId`]) and pushed to every connected peer as a [`ReplicaMsg::Delta`]. A peer
//!   applies update `seq` of a replica only right after `seq - 1` (op-based CRDTs such as the
//!   OR-set need that order); a duplicate is ignored, a gap is dropped and pulled as a full
//!   state from the sender.
//! - **Anti-entropy**: every `gossip_interval_ms` the machine sends a digest (a
//!   [`VersionVector`] per value) to one peer chosen by its seeded RNG; each side answers
//!   with what the other lacks of each value: the missing deltas when its log of recent
//!   deltas (`delta_log`) still holds all of them, else its full state. A node that
//!   missed deltas (a partition, a restart, a late registration) converges this way. A
//!   newly connected peer and a newly registered value are digested at once.
//! - **Bounded frames**: a delta larger than `frame_budget` is not pushed: the value's full
//!   state is sent instead. A full state larger than `frame_budget` travels in parts of at
//!   most `frame_budget` bytes (reassembled in order per peer and value); one larger than
//!   `max_value_bytes` is refused by both sides with a counted
//!   [`ReplicaError::TooLarge`].
//!
//! # On disk
//!
//! With `persist` set, each tick asks (with [`ReplicaCommand::Persist`]) for the file of
//! every value that changed since its last one ([`persist`]: versioned and checksummed);
//! [`Replicas::register_from`] starts a value from its file and refuses a bad one.
//!
//! # Contract
//!
//! Inputs are `handle_*` calls (a local update, a message from a peer, a tick with the time,
//! the set of connected peers); outputs are drained with [`Replicas::poll_command`]:
//! messages to send and [`ReplicaCommand::Changed`] for every effective change, in the
//! order the changes happened (a merge or delta that leaves the value equal produces none).
//! Bad input (an undecodable value, a value of another type under a known name) is refused
//! with a [`ReplicaCommand::Refused`] and counted; it never changes anything.

mod log;
mod msg;
mod outgoing;
pub mod persist;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;
mod value;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pub use msg::{DigestEntry, ReplicaMsg, VersionVector};
pub use value::{
    tag_hash, Change, Counter, Crdt, GrowCounter, OrMap, OrSet, Register, ReplicaId, Shared,
};

use crate::core::{Millis, NodeName};
use log::DeltaLog;
use msg::{Assembly, PartError};
use value::{Slot, Typed};

/// How the machine spreads updates: the protocol of the benchmarks' comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Push {
    /// Each update is pushed as its delta (the default).
    Deltas,
    /// Each update pushes the whole value (as GenServerring's gossip does).
    FullState,
}

/// Configuration of a [`Replicas`] machine.
#[derive(Clone, Debug)]
pub struct ReplicaConfig {
    /// This node in this life (updates are attributed to it).
    pub me: ReplicaId,
    /// Milliseconds between anti-entropy digests (default 1,000).
    pub gossip_interval_ms: u64,
    /// The largest payload of one message, in bytes.
    pub frame_budget: usize,
    /// The largest encoded value sent or accepted, in bytes (default 64 MiB).
    pub max_value_bytes: usize,
    /// Deltas or full states on change.
    pub push: Push,
    /// How many recent deltas each value keeps (at most `frame_budget` bytes of them) to
    /// answer a digest with the deltas a peer lacks rather than the whole value (default
    /// 256; 0 always sends the whole value).
    pub delta_log: usize,
    /// Seeds the choice of anti-entropy peers.
    pub seed: u64,
    /// Ask for changed values to be written to disk ([`ReplicaCommand::Persist`], at most
    /// once per value per tick). Default `false`.
    pub persist: bool,
}

impl ReplicaConfig {
    /// Defaults for `me`: 1 s gossip, 1 MiB frames, 64 MiB values, deltas, 256 deltas
    /// kept per value.
    pub fn new(me: ReplicaId) -> Self {
        let seed = me.incarnation.0;
        ReplicaConfig {
            me,
            gossip_interval_ms: 1_000,
            frame_budget: 1 << 20,
            max_value_bytes: 64 << 20,
            push: Push::Deltas,
            delta_log: 256,
            seed,
            persist: false,
        }
    }
}

/// A problem with a value. Nothing was changed by it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicaError {
    /// The name holds a value of another type here.
    #[error("value {name:?} is a {ours} here, not a {theirs}")]
    TypeMismatch {
        /// The value's name.
        name: String,
        /// Its type on this node.
        ours: String,
        /// The type asked for or received.
        theirs: String,
    },
    /// A delta or state does not decode (or a local value does not encode).
    #[error("value {name:?} does not decode: {reason}")]
    Undecodable {
        /// The value's name.
        name: String,
        /// The codec's error.
        reason: String,
    },
    /// An encoded state over `max_value_bytes` (sent by neither side).
    #[error("value {name:?} of {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// The value's name.
        name: String,
        /// Its encoded size (so far, when arriving in parts).
        size: usize,
        /// `max_value_bytes`.
        limit: usize,
    },
    /// A part of a state arrived out of order (the transfer is dropped; anti-entropy
    /// retries).
    #[error("a part of value {name:?} arrived out of order")]
    OutOfOrder {
        /// The value's name.
        name: String,
    },
    /// The name is not registered on this node.
    #[error("value {0:?} is not registered on this node")]
    Unknown(String),
    /// The value's file on disk was refused (it was left as it is: move it away, or fix
    /// it, to use the name).
    #[error("the file of value {name:?} was refused: {reason}")]
    Persisted {
        /// The value's name.
        name: String,
        /// What is wrong with the file.
        reason: String,
    },
}

/// What the machine asks the node to do.
#[derive(Debug)]
pub enum ReplicaCommand {
    /// Send `msg` to the peer `to`.
    Send {
        /// The peer.
        to: NodeName,
        /// The message.
        msg: ReplicaMsg,
    },
    /// The value `name` changed (tell its subscribers, in this order).
    Changed {
        /// The value's name.
        name: String,
        /// Before and after.
        change: Change,
    },
    /// Write this file of value `name` (it changed since it was last written).
    Persist {
        /// The value's name.
        name: String,
        /// The file's bytes ([`persist::encode_file`]).
        file: Vec<u8>,
    },
    /// Input from `from` was refused (log it; it is counted in [`ReplicaStats::refused`]).
    Refused {
        /// The peer that sent it.
        from: NodeName,
        /// Why.
        error: ReplicaError,
    },
}

/// Counters of a [`Replicas`] machine.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicaStats {
    /// Deltas from peers applied.
    pub deltas_applied: u64,
    /// Full states from peers merged.
    pub states_merged: u64,
    /// Effective changes (local or remote).
    pub changes: u64,
    /// Deltas received twice (ignored).
    pub duplicates: u64,
    /// Deltas received after a gap (dropped and pulled as a state).
    pub gaps: u64,
    /// Bad input refused (see [`ReplicaCommand::Refused`]).
    pub refused: u64,
    /// Messages about values not registered here (ignored).
    pub unknown_names: u64,
    /// Deltas over the frame budget, sent as full states.
    pub oversized_deltas: u64,
    /// Deltas sent again from the log to a peer whose digest lacked them.
    pub deltas_resent: u64,
    /// Messages sent.
    pub messages_sent: u64,
    /// Their encoded size, in bytes.
    pub bytes_sent: u64,
}

struct Entry {
    slot: Box<dyn Slot>,
    version: VersionVector,
    /// Recent deltas, to answer a digest with what the peer lacks.
    log: DeltaLog,
    /// Changed since its file was last asked for.
    dirty: bool,
}

/// The replication machine of one node: its replicated values, their versions and what
/// to tell peers (see the [module docs](self)).
pub struct Replicas {
    config: ReplicaConfig,
    values: BTreeMap<String, Entry>,
    peers: BTreeSet<NodeName>,
    rng: StdRng,
    next_gossip: Option<Millis>,
    /// States arriving in parts, per peer and value.
    assemblies: BTreeMap<(NodeName, String), Option<Assembly>>,
    /// When a state was last pulled from a peer after a gap (one pull per gossip interval).
    pulled: BTreeMap<(NodeName, String), Millis>,
    transfers: u64,
    commands: VecDeque<ReplicaCommand>,
    stats: ReplicaStats,
}

impl std::fmt::Debug for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicas")
            .field("me", &self.config.me)
            .field("values", &self.values.keys().collect::<Vec<_>>())
            .field("peers", &self.peers)
            .finish()
    }
}

impl Replicas {
    /// A machine with no values and no peers.
    pub fn new(config: ReplicaConfig) -> Self {
        Replicas {
            rng: StdRng::seed_from_u64(config.seed),
            config,
            values: BTreeMap::new(),
            peers: BTreeSet::new(),
            next_gossip: None,
            assemblies: BTreeMap::new(),
            pulled: BTreeMap::new(),
            transfers: 0,
            commands: VecDeque::new(),
            stats: ReplicaStats::default(),
        }
    }

    /// This node's replica id.
    pub fn me(&self) -> &ReplicaId {
        &self.config.me
    }

    /// The counters.
    pub fn stats(&self) -> &ReplicaStats {
        &self.stats
    }

    /// The version of `name` (what its value contains), if registered.
    pub fn version(&self, name: &str) -> Option<&VersionVector> {
        self.values.get(name).map(|e| &e.version)
    }

    /// The registered names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// Registers `name` as a value of type `T` (idempotent) and returns its current value.
    /// A new name is digested to every peer at once, so that those holding it send it.
    ///
    /// # Errors
    ///
    /// [`ReplicaError::TypeMismatch`] when `name` holds another type (nothing changed).
    pub fn register<T: Crdt>(&mut self, name: &str) -> Result<Arc<T>, ReplicaError> {
        self.register_from::<T>(name, None)
    }

    /// As [`Replicas::register`], starting a new name from its `file` on disk (its state
    /// and version, as [`ReplicaCommand::Persist`] asked to write them).
    ///
    /// # Errors
    ///
    /// As [`Replicas::register`]; [`ReplicaError::Persisted`] when the file is refused (not
    /// a value file, another format version, a bad checksum, another name or type, a state
    /// that does not decode): nothing was registered.
    pub fn register_from<T: Crdt>(
        &mut self,
        name: &str,
        file: Option<&[u8]>,
    ) -> Result<Arc<T>, ReplicaError> {
        if let Some(entry) = self.values.get_mut(name) {
            return typed::<T>(name, entry).map(|t| t.value.clone());
        }
        let mut slot = Typed::<T>::new();
        let mut version = VersionVector::default();
        if let Some(file) = file {
            let refused = |reason: String| ReplicaError::Persisted {
                name: name.to_string(),
                reason,
            };
            let kept = persist::decode_file(file).map_err(|e| refused(e.to_string()))?;
            if kept.name != name || kept.tag != slot.tag() {
                return Err(refused(format!(
                    "it holds {:?} of type {:016x}, not this name and type",
                    kept.name, kept.tag
                )));
            }
            slot.merge_state(&kept.state).map_err(refused)?;
            version = kept.version;
        }
        let value = slot.value.clone();
        self.values.insert(
            name.to_string(),
            Entry {
                slot: Box::new(slot),
                version,
                log: DeltaLog::new(self.config.delta_log, self.config.frame_budget),
                dirty: false,
            },
        );
        let peers: Vec<NodeName> = self.peers.iter().cloned().collect();
        for peer in peers {
            self.send_digest(&peer, &[name], true);
        }
        Ok(value)
    }

    /// The current value of `name`.
    ///
    /// # Errors
    ///
    /// When `name` is not registered, or as another type.
    pub fn value<T: Crdt>(&mut self, name: &str) -> Result<Arc<T>, ReplicaError> {
        let entry = self
            .values
            .get_mut(name)
            .ok_or_else(|| ReplicaError::Unknown(name.to_string()))?;
        typed::<T>(name, entry).map(|t| t.value.clone())
    }

    /// A local update: `f` makes a delta from the current value and this replica's id; the
    /// delta is applied here and, if it changed the value, pushed to every peer. Returns
    /// whether the value changed.
    ///
    /// # Errors
    ///
    /// When `name` is not registered, or as another type, or the delta does not encode
    /// (nothing changed).
    pub fn handle_update<T: Crdt>(
        &mut self,
        name: &str,
        f: impl FnOnce(&T, &ReplicaId) -> T::Delta,
    ) -> Result<bool, ReplicaError> {
        let me = self.config.me.clone();
        let entry = self
            .values
            .get_mut(name)
            .ok_or_else(|| ReplicaError::Unknown(name.to_string()))?;
        let slot = typed::<T>(name, entry)?;
        let delta = f(&slot.value, &me);
        let bytes = crate::core::snapshot::encode_fixed(&delta).map_err(|reason| {
            ReplicaError::Undecodable {
                name: name.to_string(),
                reason,
            }
        })?;
        let Some(change) = slot.change(|v| v.apply_delta(delta)) else {
            return Ok(false);
        };
        let tag = entry.slot.tag();
        let seq = entry.version.get(&me) + 1;
        entry.version.set(&me, seq);
        entry.log.push(&me, seq, &bytes);
        self.changed(name, change);
        let peers: Vec<NodeName> = self.peers.iter().cloned().collect();
        let as_delta = self.config.push == Push::Deltas && bytes.len() <= self.config.frame_budget;
        if !as_delta && self.config.push == Push::Deltas {
            self.stats.oversized_deltas += 1;
        }
        for peer in peers {
            if as_delta {
                let msg = ReplicaMsg::Delta {
                    name: name.to_string(),
                    tag,
                    origin: me.clone(),
                    seq,
                    bytes: bytes.clone(),
                };
                self.send(&peer, msg);
            } else {
                self.send_state(&peer, name);
            }
        }
        Ok(true)
    }

    /// A message from the peer `from`.
    pub fn handle_msg(&mut self, from: &NodeName, msg: ReplicaMsg, now: Millis) {
        match msg {
            ReplicaMsg::Delta {
                name,
                tag,
                origin,
                seq,
                bytes,
            } => self.handle_delta(from, name, tag, &origin, seq, &bytes, now),
            ReplicaMsg::Digest { entries, reply } => self.handle_digest(from, entries, reply),
            ReplicaMsg::State {
                name,
                tag,
                version,
                transfer,
                index,
                count,
                bytes,
            } => {
                if !self.known(from, &name, tag) {
                    return;
                }
                let key = (from.clone(), name.clone());
                let whole = if count <= 1 {
                    Ok(Some(bytes))
                } else {
                    let slot = self.assemblies.entry(key.clone()).or_default();
                    let limit = self.config.max_value_bytes;
                    let added = Assembly::add(slot, transfer, index, count, bytes, limit, now);
                    if slot.is_none() {
                        self.assemblies.remove(&key);
                    }
                    added
                };
                match whole {
                    Ok(Some(bytes)) => self.merge_state(from, &name, &version, &bytes),
                    Ok(None) => {}
                    Err(PartError::OutOfOrder) => {
                        self.refuse(from, ReplicaError::OutOfOrder { name });
                    }
                    Err(PartError::TooLarge(size)) => {
                        let limit = self.config.max_value_bytes;
                        self.refuse(from, ReplicaError::TooLarge { name, size, limit });
                    }
                }
            }
        }
    }

    /// Time passes: every `gossip_interval_ms` a digest of every value goes to one peer
    /// chosen at random; unfinished transfers older than ten intervals are dropped.
    pub fn handle_tick(&mut self, now: Millis) {
        let interval = self.config.gossip_interval_ms;
        let stale = interval.saturating_mul(10);
        self.assemblies
            .retain(|_, a| a.as_ref().is_some_and(|a| now.since(a.since) < stale));
        self.pulled.retain(|_, at| now.since(*at) < interval);
        if self.config.persist {
            self.persist_dirty();
        }
        let due = self.next_gossip.is_none_or(|at| now >= at);
        if !due {
            return;
        }
        self.next_gossip = Some(Millis(now.0 + interval));
        if self.peers.is_empty() || self.values.is_empty() {
            return;
        }
        let i = self.rng.gen_range(0..self.peers.len());
        let peer = self.peers.iter().nth(i).cloned();
        if let Some(peer) = peer {
            let names: Vec<String> = self.values.keys().cloned().collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            self.send_digest(&peer, &names, true);
        }
    }

    /// The peers connected now. Each new one gets a digest of every value at once.
    pub fn handle_peers(&mut self, peers: impl IntoIterator<Item = NodeName>) {
        let peers: BTreeSet<NodeName> = peers
            .into_iter()
            .filter(|p| *p != self.config.me.node)
            .collect();
        let new: Vec<NodeName> = peers.difference(&self.peers).cloned().collect();
        self.assemblies.retain(|(p, _), _| peers.contains(p));
        self.peers = peers;
        let names: Vec<String> = self.values.keys().cloned().collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        for peer in new {
            self.send_digest(&peer, &names, true);
        }
    }

    /// The next thing to do, in order.
    pub fn poll_command(&mut self) -> Option<ReplicaCommand> {
        self.commands.pop_front()
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_delta(
        &mut self,
        from: &NodeName,
        name: String,
        tag: u64,
        origin: &ReplicaId,
        seq: u64,
        bytes: &[u8],
        now: Millis,
    ) {
        if !self.known(from, &name, tag) {
            return;
        }
        let Some(entry) = self.values.get_mut(&name) else {
            return;
        };
        let have = entry.version.get(origin);
        if seq <= have {
            self.stats.duplicates += 1;
            return;
        }
        if seq > have + 1 {
            self.stats.gaps += 1;
            self.pull(from, &name, now);
            return;
        }
        match entry.slot.apply_delta(bytes) {
            Ok(change) => {
                entry.version.set(origin, seq);
                entry.log.push(origin, seq, bytes);
                self.stats.deltas_applied += 1;
                if let Some(change) = change {
                    self.changed(&name, change);
                }
            }
            Err(reason) => self.refuse(from, ReplicaError::Undecodable { name, reason }),
        }
    }

    fn handle_digest(&mut self, from: &NodeName, entries: Vec<DigestEntry>, reply: bool) {
        let mut behind = Vec::new();
        for e in entries {
            if !self.known(from, &e.name, e.tag) {
                continue;
            }
            let Some(entry) = self.values.get(&e.name) else {
                continue;
            };
            let ahead = !e.version.covers(&entry.version);
            if reply && !entry.version.covers(&e.version) {
                behind.push(e.name.clone());
            }
            if ahead {
                self.send_missing(from, &e.name, &e.version);
            }
        }
        if !behind.is_empty() {
            let names: Vec<&str> = behind.iter().map(String::as_str).collect();
            self.send_digest(from, &names, false);
        }
    }

    fn merge_state(&mut self, from: &NodeName, name: &str, version: &VersionVector, bytes: &[u8]) {
        let Some(entry) = self.values.get_mut(name) else {
            return;
        };
        match entry.slot.merge_state(bytes) {
            Ok(change) => {
                entry.version.join(version);
                self.stats.states_merged += 1;
                if let Some(change) = change {
                    self.changed(name, change);
                }
            }
            Err(reason) => {
                let name = name.to_string();
                self.refuse(from, ReplicaError::Undecodable { name, reason })
            }
        }
    }

    /// Whether `name` is registered here as `tag`; refuses (counted) another type, counts
    /// an unknown name.
    fn known(&mut self, from: &NodeName, name: &str, tag: u64) -> bool {
        match self.values.get(name) {
            None => {
                self.stats.unknown_names += 1;
                false
            }
            Some(entry) if entry.slot.tag() != tag => {
                let error = ReplicaError::TypeMismatch {
                    name: name.to_string(),
                    ours: entry.slot.tag_name().to_string(),
                    theirs: format!("type with tag hash {tag:016x}"),
                };
                self.refuse(from, error);
                false
            }
            Some(_) => true,
        }
    }

    /// After a gap: asks `from` for its state of `name` (its digest answer), at most once
    /// per gossip interval.
    fn pull(&mut self, from: &NodeName, name: &str, now: Millis) {
        let key = (from.clone(), name.to_string());
        if self.pulled.contains_key(&key) {
            return;
        }
        self.pulled.insert(key, now);
        self.send_digest(from, &[name], false);
    }

    fn changed(&mut self, name: &str, change: Change) {
        self.stats.changes += 1;
        if let Some(entry) = self.values.get_mut(name) {
            entry.dirty = true;
        }
        self.commands.push_back(ReplicaCommand::Changed {
            name: name.to_string(),
            change,
        });
    }

    fn refuse(&mut self, from: &NodeName, error: ReplicaError) {
        self.stats.refused += 1;
        self.commands.push_back(ReplicaCommand::Refused {
            from: from.clone(),
            error,
        });
    }
}

/// The slot of `name` as a `T`.
fn typed<'a, T: Crdt>(name: &str, entry: &'a mut Entry) -> Result<&'a mut Typed<T>, ReplicaError> {
    let ours = entry.slot.tag_name().to_string();
    entry
        .slot
        .as_any_mut()
        .downcast_mut::<Typed<T>>()
        .ok_or_else(|| ReplicaError::TypeMismatch {
            name: name.to_string(),
            ours,
            theirs: T::type_tag(),
        })
}
