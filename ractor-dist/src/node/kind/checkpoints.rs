//! The per-kind checkpoint policy a node can change while it runs ([`Policy`]); the policy
//! type itself ([`Checkpoints`]) and the per-actor decisions under it are in
//! [`crate::core::checkpoint`].

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::core::checkpoint::Checkpoints;

/// A kind's checkpoint policy on this node, read by its actors at every message.
#[derive(Debug)]
pub(crate) struct Policy(ArcSwap<Checkpoints>);

impl Policy {
    pub(crate) fn new(policy: Checkpoints) -> Arc<Self> {
        Arc::new(Policy(ArcSwap::from_pointee(policy)))
    }

    pub(crate) fn get(&self) -> Checkpoints {
        **self.0.load()
    }

    pub(crate) fn set(&self, policy: Checkpoints) {
        self.0.store(Arc::new(policy));
    }
}
