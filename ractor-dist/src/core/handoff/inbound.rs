//! The receiving side of a migration: `Migrate` dedupe and `StateChunk` reassembly, and
//! the split of an outgoing snapshot into chunks ([`chunk_ranges`]).
//!
//! A source sends a snapshot larger than half a frame as `StateChunk` pieces (index 0, 1,
//! ... in order, on one link) before the `Migrate` batch that names it, and sends the whole
//! batch again when its acknowledgement is late. The target therefore sees:
//!
//! 1. pieces, which [`Inbound::handle_chunk`] reassembles per (source, batch, name), within
//!    [`InboundLimits`] (a peer cannot make this node hold more);
//! 2. the batch, for which [`Inbound::handle_migrate`] hands out the reassembled snapshots
//!    and frees every other piece of it. A batch seen before is a [`MigrateIn::Duplicate`]
//!    (acknowledge again, start nothing) or, while its actors are still being started,
//!    [`MigrateIn::InProgress`] (the acknowledgement follows);
//! 3. once its actors started, [`Inbound::handle_started`]: the caller acknowledges.
//!
//! Pieces of a batch already seen are not kept (a resend after a slow acknowledgement would
//! otherwise rebuild a snapshot nobody takes), and everything of a source is freed when it
//! goes ([`Inbound::handle_peer_gone`]).

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;

use crate::core::identity::{ActorKey, NodeName};

/// A `Migrate` batch number, per source.
pub type BatchId = u64;

/// How much reassembly a node accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboundLimits {
    /// Largest snapshot reassembled from pieces. Default 1 GiB.
    pub snapshot_bytes: usize,
    /// Bytes in reassembly per source. Default 1 GiB.
    pub peer_bytes: usize,
    /// Bytes in reassembly over all sources. Default 2 GiB.
    pub total_bytes: usize,
    /// Snapshots in reassembly per source. Default 64.
    pub peer_slots: usize,
    /// Sources with something in reassembly or remembered. Default 1024.
    pub peers: usize,
    /// Batches remembered per source for dedupe. Default 4096.
    pub batch_window: usize,
}

impl Default for InboundLimits {
    fn default() -> Self {
        Self {
            snapshot_bytes: 1 << 30,
            peer_bytes: 1 << 30,
            total_bytes: 2 << 30,
            peer_slots: 64,
            peers: 1024,
            batch_window: 4096,
        }
    }
}

/// A piece that was not kept. The partial snapshot it belonged to is freed; the actor
/// then starts from its arguments (the batch reports it [`Incomplete`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChunkError {
    /// A piece out of order (or of a snapshot whose start was not seen).
    #[error("piece {got} of {key} (batch {batch}) arrived when piece {expected} was due")]
    OutOfOrder {
        /// The name.
        key: ActorKey,
        /// The batch.
        batch: BatchId,
        /// The index due.
        expected: u32,
        /// The index received.
        got: u32,
    },
    /// The snapshot grew past [`InboundLimits::snapshot_bytes`].
    #[error("snapshot of {key} exceeds {limit} bytes")]
    TooLarge {
        /// The name.
        key: ActorKey,
        /// The limit.
        limit: usize,
    },
    /// The source (or the node) has its budget of reassembly in use.
    #[error("reassembly budget exhausted")]
    Budget,
}

/// A piece that was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkOutcome {
    /// Kept for its batch.
    Stored,
    /// Its batch was already received: not kept (nothing to do).
    Ignored,
}

/// A chunked snapshot that did not arrive whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Incomplete {
    /// Pieces the batch announced.
    pub expected: u32,
    /// Pieces received.
    pub got: u32,
}

/// What to do with a `Migrate` batch.
#[derive(Debug, PartialEq, Eq)]
pub enum MigrateIn {
    /// A new batch: start its actors (the snapshots of its chunked entries, by name), then
    /// call [`Inbound::handle_started`] and acknowledge.
    Fresh(BTreeMap<ActorKey, Result<Vec<u8>, Incomplete>>),
    /// Already started and acknowledged: acknowledge again, start nothing.
    Duplicate,
    /// Its actors are being started: nothing to do (the acknowledgement follows).
    InProgress,
}

#[derive(Debug, Default)]
struct Slot {
    pieces: u32,
    bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct Peer {
    /// Batches seen, oldest first (the dedupe window), and whether each was started.
    order: VecDeque<BatchId>,
    seen: BTreeMap<BatchId, bool>,
    slots: BTreeMap<(BatchId, ActorKey), Slot>,
    bytes: usize,
}

impl Peer {
    fn free(&mut self, slot: &(BatchId, ActorKey)) -> usize {
        let n = self.slots.remove(slot).map_or(0, |s| s.bytes.len());
        self.bytes -= n;
        n
    }

    fn free_batch(&mut self, batch: BatchId) -> usize {
        let keys: Vec<_> = self
            .slots
            .range((batch, ActorKey::from(""))..)
            .take_while(|((b, _), _)| *b == batch)
            .map(|(k, _)| k.clone())
            .collect();
        keys.iter().map(|k| self.free(k)).sum()
    }

    /// Frees the oldest slot of a batch older than `batch`, if any.
    fn evict_older(&mut self, batch: BatchId) -> Option<usize> {
        let oldest = self
            .slots
            .keys()
            .next()
            .filter(|(b, _)| *b < batch)?
            .clone();
        Some(self.free(&oldest))
    }
}

/// The receiving side of migrations on one node. See the module docs.
#[derive(Debug, Default)]
pub struct Inbound {
    limits: InboundLimits,
    peers: BTreeMap<NodeName, Peer>,
    bytes: usize,
}

impl Inbound {
    /// Records the sizes of the reassembly tables (see [`crate::core::footprint`]).
    pub fn footprint(&self, f: &mut crate::core::Footprint) {
        f.add(
            "inbound.slots",
            self.peers.values().map(|p| p.slots.len()).sum(),
        );
        f.add_bounded("inbound.peers", self.peers.len(), self.limits.peers);
        f.add_bounded(
            "inbound.batches_seen",
            self.peers.values().map(|p| p.seen.len()).sum(),
            self.limits.peers.saturating_mul(self.limits.batch_window),
        );
    }

    /// Nothing received yet.
    pub fn new(limits: InboundLimits) -> Self {
        Self {
            limits,
            peers: BTreeMap::new(),
            bytes: 0,
        }
    }

    /// Bytes in reassembly, over all sources.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Snapshots in reassembly from `peer`.
    pub fn slots_of(&self, peer: &NodeName) -> usize {
        self.peers.get(peer).map_or(0, |p| p.slots.len())
    }

    /// One piece of a snapshot from `from`.
    ///
    /// # Errors
    ///
    /// The piece was refused (out of order, too large, over budget): it and the partial
    /// snapshot it belonged to are freed.
    pub fn handle_chunk(
        &mut self,
        from: &NodeName,
        batch: BatchId,
        key: ActorKey,
        index: u32,
        bytes: Vec<u8>,
    ) -> Result<ChunkOutcome, ChunkError> {
        if !self.peers.contains_key(from) && self.peers.len() >= self.limits.peers {
            return Err(ChunkError::Budget);
        }
        let limits = self.limits;
        let peer = self.peers.entry(from.clone()).or_default();
        if peer.seen.contains_key(&batch) {
            return Ok(ChunkOutcome::Ignored);
        }
        let slot_key = (batch, key);
        let expected = peer.slots.get(&slot_key).map_or(0, |s| s.pieces);
        if index == 0 {
            // Index 0 starts the snapshot again (a resend).
            self.bytes -= peer.free(&slot_key);
        } else if index != expected || !peer.slots.contains_key(&slot_key) {
            self.bytes -= peer.free(&slot_key);
            let (batch, key) = slot_key;
            return Err(ChunkError::OutOfOrder {
                key,
                batch,
                expected,
                got: index,
            });
        }
        let held = peer.slots.get(&slot_key).map_or(0, |s| s.bytes.len());
        if held + bytes.len() > limits.snapshot_bytes {
            self.bytes -= peer.free(&slot_key);
            return Err(ChunkError::TooLarge {
                key: slot_key.1,
                limit: limits.snapshot_bytes,
            });
        }
        // Room for it: older batches' leftovers (abandoned transfers) go first.
        while (index == 0 && peer.slots.len() >= limits.peer_slots)
            || peer.bytes + bytes.len() > limits.peer_bytes
            || self.bytes + bytes.len() > limits.total_bytes
        {
            match peer.evict_older(batch) {
                Some(n) => self.bytes -= n,
                None => {
                    self.bytes -= peer.free(&slot_key);
                    return Err(ChunkError::Budget);
                }
            }
        }
        let slot = peer.slots.entry(slot_key).or_default();
        slot.pieces += 1;
        slot.bytes.extend_from_slice(&bytes);
        peer.bytes += bytes.len();
        self.bytes += bytes.len();
        Ok(ChunkOutcome::Stored)
    }

    /// A `Migrate` batch from `from`, with the names of its chunked entries and how many
    /// pieces each announced. Frees every piece of the batch that is not handed out.
    pub fn handle_migrate(
        &mut self,
        from: &NodeName,
        batch: BatchId,
        chunked: impl IntoIterator<Item = (ActorKey, u32)>,
    ) -> MigrateIn {
        let window = self.limits.batch_window.max(1);
        let peer = self.peers.entry(from.clone()).or_default();
        if let Some(&started) = peer.seen.get(&batch) {
            self.bytes -= peer.free_batch(batch);
            return if started {
                MigrateIn::Duplicate
            } else {
                MigrateIn::InProgress
            };
        }
        let mut out = BTreeMap::new();
        for (key, expected) in chunked {
            let slot_key = (batch, key);
            let slot = peer.slots.remove(&slot_key).unwrap_or_default();
            peer.bytes -= slot.bytes.len();
            self.bytes -= slot.bytes.len();
            let snapshot = if slot.pieces == expected {
                Ok(slot.bytes)
            } else {
                Err(Incomplete {
                    expected,
                    got: slot.pieces,
                })
            };
            out.insert(slot_key.1, snapshot);
        }
        self.bytes -= peer.free_batch(batch);
        peer.seen.insert(batch, false);
        peer.order.push_back(batch);
        while peer.order.len() > window {
            if let Some(old) = peer.order.pop_front() {
                peer.seen.remove(&old);
            }
        }
        MigrateIn::Fresh(out)
    }

    /// The actors of a fresh batch from `from` were started (or given up): later copies
    /// of the batch are acknowledged again.
    pub fn handle_started(&mut self, from: &NodeName, batch: BatchId) {
        if let Some(started) = self
            .peers
            .get_mut(from)
            .and_then(|p| p.seen.get_mut(&batch))
        {
            *started = true;
        }
    }

    /// `peer` is gone: everything received from it is freed and forgotten.
    pub fn handle_peer_gone(&mut self, peer: &NodeName) {
        if let Some(p) = self.peers.remove(peer) {
            self.bytes -= p.bytes;
        }
    }
}

/// Size of one snapshot piece under a frame limit: half a frame (the rest is headroom for
/// the envelope), at least 512 bytes.
pub fn piece_bytes(max_frame_bytes: usize) -> usize {
    (max_frame_bytes / 2).max(512)
}

/// The pieces a snapshot of `len` bytes travels in under a frame limit: none when it fits
/// in the batch itself (at most [`piece_bytes`]), otherwise consecutive ranges of
/// [`piece_bytes`] each (the last one shorter).
pub fn chunk_ranges(len: usize, max_frame_bytes: usize) -> Vec<Range<usize>> {
    let piece = piece_bytes(max_frame_bytes);
    if len <= piece {
        return Vec::new();
    }
    (0..len)
        .step_by(piece)
        .map(|start| start..(start + piece).min(len))
        .collect()
}

#[cfg(test)]
mod tests;
