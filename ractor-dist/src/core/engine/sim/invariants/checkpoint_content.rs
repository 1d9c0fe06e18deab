//! Invariant, at every respawn from a checkpoint: the state it starts from is exactly the
//! log that checkpoint was taken of, whole or rebuilt from a whole checkpoint and the
//! deltas after it.

use super::super::*;
use crate::core::recovery::RespawnStart;

/// A log's length and digest (FNV-1a over its entries).
pub(in crate::core::engine::sim) fn digest(log: &Log) -> (usize, u64) {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (sender, seq) in log {
        for b in sender.to_le_bytes().into_iter().chain(seq.to_le_bytes()) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    (log.len(), h)
}

impl Sim {
    /// Records what a checkpoint of `key` by `host` at (`generation`, `seq`) was taken of.
    /// (Two sides of a partition may each activate the same generation.)
    pub(in crate::core::engine::sim) fn note_checkpoint(
        &mut self,
        key: &ActorKey,
        host: &NodeName,
        generation: u64,
        seq: u64,
        log: &Log,
    ) {
        self.checkpointed
            .insert((key.clone(), host.clone(), generation, seq), digest(log));
    }

    pub(in crate::core::engine::sim) fn check_checkpoint_content(
        &mut self,
        i: usize,
        start: &RespawnStart<Snapshot>,
    ) {
        if start.meta.checkpoint.is_none() {
            return;
        }
        let lost_generation = start.meta.activation.generation.saturating_sub(1);
        let taken = (
            start.key.clone(),
            start.lost.clone(),
            lost_generation,
            start.seq,
        );
        let Some(want) = self.checkpointed.get(&taken).copied() else {
            return;
        };
        let got = digest(&decode_log(&start.meta.checkpoint));
        if got != want {
            self.broken.push(format!(
                "n{i} respawns {} from checkpoint {} of generation {lost_generation} holding {} entries, but it was taken of {}",
                start.key, start.seq, got.0, want.0
            ));
        }
    }
}
