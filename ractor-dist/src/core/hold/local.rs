//! [`LocalAdmission`]: the hold caps as local handles see them, before their message
//! reaches the engine.

use std::collections::{BTreeMap, BTreeSet};

use super::{HoldCaps, HoldError};
use crate::core::ActorKey;

/// Messages that local handles sent through the executor and the engine has not taken
/// yet, per name, and the full hold queues as the engine last published them
/// ([`super::HoldQueues::poll_full`]).
///
/// A local send is admitted unless the name's queue or the node's is full, or the name's
/// messages pending here reach the per-name cap (the engine may not have caught up with
/// them yet). While any message of a name is pending, later local sends of that name must
/// take the same path, to stay in order ([`LocalAdmission::is_pending`]).
#[derive(Debug, Default)]
pub struct LocalAdmission {
    pending: BTreeMap<ActorKey, u64>,
    full_names: BTreeSet<ActorKey>,
    node_full: bool,
}

impl LocalAdmission {
    /// Records the sizes of its tables (see [`crate::core::footprint`]).
    pub fn footprint(&self, f: &mut crate::core::Footprint) {
        f.add("node.local_pending", self.pending.len());
        f.add("node.local_full", self.full_names.len());
    }

    /// Counts one more message of a local handle for `key` as pending, unless `caps`
    /// refuse it; a refused message is not counted.
    ///
    /// # Errors
    ///
    /// The cap that is reached.
    pub fn admit(&mut self, caps: &HoldCaps, key: &ActorKey) -> Result<(), HoldError> {
        let for_name = if self.full_names.contains(key) {
            caps.per_name
        } else {
            0
        };
        let total = if self.node_full { caps.per_node } else { 0 };
        caps.check(key, for_name, total)?;
        let pending = self.pending.get(key).copied().unwrap_or(0);
        caps.check(key, usize::try_from(pending).unwrap_or(usize::MAX), 0)?;
        self.started(key);
        Ok(())
    }

    /// Counts a message for `key` as pending without asking the caps (the executor holds
    /// one that was already admitted).
    pub fn started(&mut self, key: &ActorKey) {
        *self.pending.entry(key.clone()).or_insert(0) += 1;
    }

    /// One pending message for `key` was delivered, forwarded, held or dropped.
    pub fn done(&mut self, key: &ActorKey) {
        if let Some(n) = self.pending.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                self.pending.remove(key);
            }
        }
    }

    /// True while messages of local handles for `key` are pending.
    pub fn is_pending(&self, key: &ActorKey) -> bool {
        self.pending.contains_key(key)
    }

    /// The engine's latest word on which hold queues are full.
    pub fn set_full(&mut self, names: impl IntoIterator<Item = ActorKey>, node_full: bool) {
        self.full_names = names.into_iter().collect();
        self.node_full = node_full;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    enum Step {
        Admit(&'static str, Result<(), HoldError>),
        Started(&'static str),
        Done(&'static str),
        Full(&'static [&'static str], bool),
        Pending(&'static str, bool),
    }

    fn run(caps: HoldCaps, steps: &[Step]) {
        let mut admission = LocalAdmission::default();
        for (i, step) in steps.iter().enumerate() {
            match step {
                Step::Admit(k, expected) => {
                    assert_eq!(
                        &admission.admit(&caps, &ActorKey::from(*k)),
                        expected,
                        "step {i}"
                    )
                }
                Step::Started(k) => admission.started(&ActorKey::from(*k)),
                Step::Done(k) => admission.done(&ActorKey::from(*k)),
                Step::Full(names, node) => {
                    admission.set_full(names.iter().map(|k| ActorKey::from(*k)), *node)
                }
                Step::Pending(k, expected) => {
                    assert_eq!(
                        admission.is_pending(&ActorKey::from(*k)),
                        *expected,
                        "step {i}"
                    )
                }
            }
        }
    }

    fn name_full(k: &str, cap: usize) -> Result<(), HoldError> {
        Err(HoldError::NameFull {
            key: ActorKey::from(k),
            cap,
        })
    }

    #[test]
    fn local_sends_are_refused_at_the_per_name_cap_until_one_is_taken() {
        use Step::*;
        let caps = HoldCaps {
            per_name: 2,
            per_node: 10,
        };
        run(
            caps,
            &[
                Pending("x", false),
                Admit("x", Ok(())),
                Pending("x", true),
                // Held by the executor: still pending for the name.
                Started("x"),
                Done("x"),
                Admit("x", Ok(())),
                Admit("x", name_full("x", 2)),
                Admit("y", Ok(())),
                Done("x"),
                Admit("x", Ok(())),
                Done("x"),
                Done("x"),
                Pending("x", false),
                // Done more often than started is harmless.
                Done("x"),
                Pending("x", false),
            ],
        );
    }

    #[test]
    fn a_published_full_queue_refuses_at_once_and_a_refusal_is_not_pending() {
        use Step::*;
        let caps = HoldCaps {
            per_name: 100,
            per_node: 1000,
        };
        run(
            caps,
            &[
                Full(&["x"], false),
                Admit("x", name_full("x", 100)),
                Pending("x", false),
                Admit("y", Ok(())),
                Full(&[], true),
                Admit("x", Err(HoldError::NodeFull { cap: 1000 })),
                Admit("y", Err(HoldError::NodeFull { cap: 1000 })),
                Full(&[], false),
                Admit("x", Ok(())),
            ],
        );
    }
}
