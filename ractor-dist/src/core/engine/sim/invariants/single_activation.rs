//! Invariant: no name runs on two nodes at once (checked after every delivered frame),
//! except, after a partition or a pause, on nodes that do not see each other or have not
//! settled yet, until the cluster settled with one copy of each name again.

use super::super::*;

impl Sim {
    /// No name runs on two nodes that see each other and have settled (while a partition
    /// heals, two copies run until they meet; planned moves never run two at once).
    pub(in crate::core::engine::sim) fn check_single_activation(&self) {
        let mut seen: BTreeMap<&ActorKey, Vec<usize>> = BTreeMap::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if node.up {
                for (key, _) in node.actors.values() {
                    seen.entry(key).or_default().push(i);
                }
            }
        }
        for (key, hosts) in seen {
            for (x, &a) in hosts.iter().enumerate() {
                for &b in &hosts[x + 1..] {
                    let apart = self
                        .side
                        .as_ref()
                        .is_some_and(|side| side.contains(&a) != side.contains(&b));
                    if apart {
                        continue;
                    }
                    let (na, nb) = (&self.nodes[a], &self.nodes[b]);
                    let together = na.engine.mesh.membership().is_up(&nb.name)
                        && nb.engine.mesh.membership().is_up(&na.name);
                    let settled = na.engine.handoff.is_settled() && nb.engine.handoff.is_settled();
                    // Copies made on both sides of a partition (or by a paused node's peers)
                    // are on their way to meet (through handoffs to their owners) until the
                    // cluster has settled with one copy of each name again.
                    let meeting = self.healed && !(together && settled);
                    if !meeting {
                        panic!("{key} runs on n{a} and n{b} at once");
                    }
                }
            }
        }
    }
}
