//! What replicating nodes say to each other ([`ReplicaMsg`], carried in one frame variant),
//! the [`VersionVector`] that digests a value, and the reassembly of states sent in parts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::ReplicaId;
use crate::core::Millis;

/// How many updates of each replica a value contains (contiguously from the first): two
/// nodes with equal vectors hold equal values, and a node whose vector is not below a
/// peer's has everything that peer has.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionVector(pub BTreeMap<ReplicaId, u64>);

impl VersionVector {
    /// Updates of `replica` contained.
    pub fn get(&self, replica: &ReplicaId) -> u64 {
        self.0.get(replica).copied().unwrap_or(0)
    }

    /// Records that updates `1..=seq` of `replica` are contained.
    pub fn set(&mut self, replica: &ReplicaId, seq: u64) {
        if seq > self.get(replica) {
            self.0.insert(replica.clone(), seq);
        }
    }

    /// Everything `other` counts is counted here too.
    pub fn covers(&self, other: &VersionVector) -> bool {
        other.0.iter().all(|(r, &n)| self.get(r) >= n)
    }

    /// The pointwise maximum (after merging the state `other` digests).
    pub fn join(&mut self, other: &VersionVector) {
        for (r, &n) in &other.0 {
            self.set(r, n);
        }
    }

    /// The total number of updates counted.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// A message between the replication machines of two nodes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ReplicaMsg {
    /// One update, pushed by the node that made it to every peer: update number `seq` of
    /// `origin` (applied only right after `seq - 1`).
    Delta {
        /// The value's name.
        name: String,
        /// Its type ([`super::tag_hash`] of [`super::Crdt::type_tag`]).
        tag: u64,
        /// Who made the update.
        origin: ReplicaId,
        /// Its number among `origin`'s updates of this value (from 1).
        seq: u64,
        /// The encoded delta.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// Anti-entropy: what the sender holds. The receiver answers with its state of every
    /// value the sender lacks something of, and (when `reply`) with its own digest of the
    /// values it lacks something of.
    Digest {
        /// Name, type and version of each value the sender holds.
        entries: Vec<DigestEntry>,
        /// Answer with a digest (`false` in answers: no ping-pong).
        reply: bool,
    },
    /// A full state, or part `index` of `count` of one too large for a frame.
    State {
        /// The value's name.
        name: String,
        /// Its type ([`super::tag_hash`]).
        tag: u64,
        /// What the state contains.
        version: VersionVector,
        /// Numbers the sender's transfers (parts of one transfer share it).
        transfer: u64,
        /// This part's position (from 0).
        index: u32,
        /// The number of parts (1: the whole state).
        count: u32,
        /// The encoded state, or this part of it.
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
}

/// One value in a [`ReplicaMsg::Digest`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DigestEntry {
    /// The value's name.
    pub name: String,
    /// Its type ([`super::tag_hash`]).
    pub tag: u64,
    /// What the sender's state contains.
    pub version: VersionVector,
}

/// A state arriving in parts from one peer (parts arrive in order on a session).
#[derive(Debug)]
pub(super) struct Assembly {
    pub(super) transfer: u64,
    pub(super) next: u32,
    pub(super) bytes: Vec<u8>,
    pub(super) since: Millis,
}

/// Why a part of a state was refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum PartError {
    OutOfOrder,
    /// The parts so far plus this one, in bytes.
    TooLarge(usize),
}

impl Assembly {
    /// Adds part `index` of `count` of `transfer`; the whole state once the last arrived.
    /// A part of a new transfer replaces an unfinished one.
    pub(super) fn add(
        slot: &mut Option<Assembly>,
        transfer: u64,
        index: u32,
        count: u32,
        bytes: Vec<u8>,
        limit: usize,
        now: Millis,
    ) -> Result<Option<Vec<u8>>, PartError> {
        if index == 0 {
            *slot = Some(Assembly {
                transfer,
                next: 0,
                bytes: Vec::new(),
                since: now,
            });
        }
        let Some(a) = slot
            .as_mut()
            .filter(|a| a.transfer == transfer && a.next == index)
        else {
            *slot = None;
            return Err(PartError::OutOfOrder);
        };
        let size = a.bytes.len() + bytes.len();
        if size > limit {
            *slot = None;
            return Err(PartError::TooLarge(size));
        }
        a.bytes.extend_from_slice(&bytes);
        a.next += 1;
        if a.next < count {
            return Ok(None);
        }
        Ok(slot.take().map(|a| a.bytes))
    }
}
