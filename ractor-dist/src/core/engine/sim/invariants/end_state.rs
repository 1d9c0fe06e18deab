//! Invariant, at the end of a run: nothing broke along the way (no protocol event a run
//! must not see, no cast lost where it may not be), nothing is left arriving or
//! respawning, and every name runs exactly once, on its owner.

use super::super::*;

impl Sim {
    pub(in crate::core::engine::sim) fn check_end_state(&self) -> Result<(), String> {
        if !self.broken.is_empty() {
            return Err(format!("broken: {:?}", self.broken));
        }
        if !self.crashes && !self.lost.is_empty() {
            return Err(format!("lost: {:?}", self.lost));
        }
        for (i, node) in self.nodes.iter().enumerate().filter(|(_, n)| n.up) {
            if !node.engine.arriving.is_empty() || !node.engine.respawning.is_empty() {
                return Err(format!(
                    "n{i} still has arrivals {:?} or respawns {:?} in progress",
                    node.engine.arriving,
                    node.engine.respawning.keys().collect::<Vec<_>>()
                ));
            }
        }
        let up: Vec<&Node> = self.nodes.iter().filter(|n| n.up).collect();
        for key in &self.keys {
            let hosts: Vec<NodeName> = up
                .iter()
                .filter(|node| node.actors.values().any(|(k, _)| k == key))
                .map(|node| node.name.clone())
                .collect();
            if hosts.len() != 1 {
                return Err(format!("{key} runs on {hosts:?}"));
            }
            let owner = up[0].engine.placement.owner_of(key).cloned();
            if owner.as_ref() != Some(&hosts[0]) {
                return Err(format!("{key} runs on {} but {owner:?} owns it", hosts[0]));
            }
        }
        Ok(())
    }
}
