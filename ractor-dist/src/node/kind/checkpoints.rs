//! The per-kind checkpoint policy a node can change while it runs ([`Policy`]); the policy
//! type itself ([`Checkpoints`]) and the per-actor decisions under it are in
//! [`crate::core::checkpoint`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::core::checkpoint::Checkpoints;

/// A kind's checkpoint policy on this node, read by its actors at every message.
#[derive(Debug)]
pub(crate) struct Policy {
    policy: ArcSwap<Checkpoints>,
    /// The policy takes no checkpoints: the hot path reads this flag only (one relaxed
    /// load), not the policy.
    off: AtomicBool,
}

impl Policy {
    pub(crate) fn new(policy: Checkpoints) -> Arc<Self> {
        Arc::new(Policy {
            off: AtomicBool::new(policy.is_off()),
            policy: ArcSwap::from_pointee(policy),
        })
    }

    pub(crate) fn get(&self) -> Checkpoints {
        **self.policy.load()
    }

    /// Whether the policy takes no checkpoints (as `get().is_off()`, cheaper).
    pub(crate) fn is_off(&self) -> bool {
        self.off.load(Ordering::Relaxed)
    }

    pub(crate) fn set(&self, policy: Checkpoints) {
        // The flag last: an actor that sees it on reads the new policy.
        self.policy.store(Arc::new(policy));
        self.off.store(policy.is_off(), Ordering::Release);
    }
}
