//! The recent deltas of one value, so that a digest from a peer that missed a few of them is
//! answered with those deltas instead of the whole value.

use std::collections::VecDeque;

use super::{ReplicaId, VersionVector};

/// A delta as applied here: update `seq` of `origin`, encoded.
#[derive(Debug)]
pub(super) struct Logged {
    pub(super) origin: ReplicaId,
    pub(super) seq: u64,
    pub(super) bytes: Vec<u8>,
}

/// The last deltas applied to one value (local or from peers), bounded in count and bytes;
/// the oldest go first.
#[derive(Debug)]
pub(super) struct DeltaLog {
    entries: VecDeque<Logged>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl DeltaLog {
    pub(super) fn new(max_entries: usize, max_bytes: usize) -> Self {
        DeltaLog {
            entries: VecDeque::new(),
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    /// Remembers update `seq` of `origin` (just applied).
    pub(super) fn push(&mut self, origin: &ReplicaId, seq: u64, bytes: &[u8]) {
        if self.max_entries == 0 || bytes.len() > self.max_bytes {
            return;
        }
        self.bytes += bytes.len();
        self.entries.push_back(Logged {
            origin: origin.clone(),
            seq,
            bytes: bytes.to_vec(),
        });
        while self.entries.len() > self.max_entries || self.bytes > self.max_bytes {
            if let Some(old) = self.entries.pop_front() {
                self.bytes -= old.bytes.len();
            }
        }
    }

    /// The deltas a peer at version `theirs` lacks of a value at version `ours`, in order
    /// per origin, if every one of them is still here.
    pub(super) fn missing(
        &self,
        ours: &VersionVector,
        theirs: &VersionVector,
    ) -> Option<Vec<&Logged>> {
        let needed: u64 = ours
            .0
            .iter()
            .map(|(origin, &n)| n.saturating_sub(theirs.get(origin)))
            .sum();
        let mut found: Vec<&Logged> = self
            .entries
            .iter()
            .filter(|d| d.seq > theirs.get(&d.origin) && d.seq <= ours.get(&d.origin))
            .collect();
        if found.len() as u64 != needed {
            return None;
        }
        found.sort_by(|a, b| (&a.origin, a.seq).cmp(&(&b.origin, b.seq)));
        Some(found)
    }
}
