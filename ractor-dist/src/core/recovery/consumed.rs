//! Losses this node already respawned a name for: a respawn offer is sent again until it
//! is acknowledged, so the same offer can arrive after the name it started was stopped
//! (its acknowledgement was lost, or the copy sent again crossed it). Started again then,
//! a stopped name would come back (issue 9, F2). The deciding node remembers each loss it
//! respawned (the name, the lost host and incarnation, and the lost generation) and drops
//! any later offer for that same loss.
//!
//! A fresh spawn of the name after a stop is a new activation on whatever node owns it
//! then: its own later loss names another host or incarnation, so it is never mistaken for
//! one remembered here.

use std::collections::{BTreeMap, VecDeque};

use crate::core::{ActorKey, Incarnation, NodeName};

/// Most losses remembered; past it the oldest is forgotten.
pub const MAX_CONSUMED: usize = 65_536;

/// One loss: the name, and the host, incarnation and generation it was lost with.
type Loss = (ActorKey, NodeName, Incarnation, u64);

/// The losses this node respawned names for, oldest first.
#[derive(Debug, Default)]
pub struct Consumed {
    losses: BTreeMap<Loss, u64>,
    order: VecDeque<(Loss, u64)>,
    next: u64,
}

impl Consumed {
    /// `key`, lost with `host` of `incarnation` at `generation`, was respawned here.
    pub fn record(
        &mut self,
        key: &ActorKey,
        host: &NodeName,
        incarnation: Incarnation,
        generation: u64,
    ) {
        let loss = (key.clone(), host.clone(), incarnation, generation);
        self.next += 1;
        self.losses.insert(loss.clone(), self.next);
        self.order.push_back((loss, self.next));
        while self.losses.len() > MAX_CONSUMED {
            let Some((old, n)) = self.order.pop_front() else {
                break;
            };
            if self.losses.get(&old) == Some(&n) {
                self.losses.remove(&old);
            }
        }
        // Entries replaced by a newer record of the same loss are skipped above; keep the
        // queue from growing past twice the bound with them.
        if self.order.len() > 2 * MAX_CONSUMED {
            let losses = &self.losses;
            self.order.retain(|(l, n)| losses.get(l) == Some(n));
        }
    }

    /// True when this node already respawned `key` for this loss.
    pub fn contains(
        &self,
        key: &ActorKey,
        host: &NodeName,
        incarnation: Incarnation,
        generation: u64,
    ) -> bool {
        self.losses
            .contains_key(&(key.clone(), host.clone(), incarnation, generation))
    }

    /// Number of losses remembered.
    pub fn len(&self) -> usize {
        self.losses.len()
    }

    /// True when none is remembered.
    pub fn is_empty(&self) -> bool {
        self.losses.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loss_is_remembered_exactly_and_the_oldest_goes_first() {
        let mut c = Consumed::default();
        let (k, a) = (ActorKey::new("k"), NodeName::new("a"));
        c.record(&k, &a, Incarnation(1), 3);
        assert!(c.contains(&k, &a, Incarnation(1), 3));
        // Another incarnation, generation or host is another loss.
        assert!(!c.contains(&k, &a, Incarnation(2), 3));
        assert!(!c.contains(&k, &a, Incarnation(1), 4));
        assert!(!c.contains(&k, &NodeName::new("b"), Incarnation(1), 3));
        for i in 0..MAX_CONSUMED as u64 {
            c.record(&ActorKey::new(format!("x{i}")), &a, Incarnation(1), 1);
        }
        assert_eq!(c.len(), MAX_CONSUMED);
        assert!(
            !c.contains(&k, &a, Incarnation(1), 3),
            "the oldest went first"
        );
    }
}
