//! Invariant, at every respawn: a name that lost its host starts from the newest
//! checkpoint of its lost generation that any node of the respawning node's view keeps
//! (its side of a partition: what the other side keeps cannot reach it).

use super::super::*;
use crate::core::recovery::RespawnStart;

impl Sim {
    pub(in crate::core::engine::sim) fn check_newest_checkpoint(
        &mut self,
        i: usize,
        start: &RespawnStart<Snapshot>,
    ) {
        let lost_generation = start.meta.activation.generation.saturating_sub(1);
        let view: Vec<NodeName> = self.nodes[i]
            .engine
            .mesh
            .membership()
            .peers()
            .keys()
            .cloned()
            .collect();
        for name in view {
            let Some(m) = self.idx(&name) else { continue };
            if !self.nodes[m].up {
                continue;
            }
            let Some(spec) = self.nodes[m].engine.recovery.replicas().get(&start.key) else {
                continue;
            };
            if spec.generation == lost_generation && spec.seq > start.seq {
                self.broken.push(format!(
                    "n{i} respawns {} from checkpoint {} of generation {lost_generation} but n{m} keeps checkpoint {}",
                    start.key, start.seq, spec.seq
                ));
            }
            if spec.generation > lost_generation {
                self.broken.push(format!(
                    "n{i} respawns {} from generation {lost_generation} but n{m} keeps generation {}",
                    start.key, spec.generation
                ));
            }
        }
    }
}
