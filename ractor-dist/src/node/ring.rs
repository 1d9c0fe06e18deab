//! GenServerring's `handle_ring_change`: a callback told the set of up nodes each time it
//! changes ([`crate::DistNode::on_ring_change`]).

use std::collections::BTreeSet;

use tokio::sync::broadcast;

use crate::core::{MembershipEvent, NodeName};

/// A callback told the up nodes (this one included, sorted) each time that set changes.
/// Closures `FnMut(&[NodeName])` are one.
pub trait OnRingChange: Send + 'static {
    /// The set of up nodes is now `up`.
    fn on_ring_change(&mut self, up: &[NodeName]);
}

impl<F: FnMut(&[NodeName]) + Send + 'static> OnRingChange for F {
    fn on_ring_change(&mut self, up: &[NodeName]) {
        self(up)
    }
}

/// Follows membership events from `up` (the members when subscribed) and calls `handler`
/// once per change of the set, in order, on a task of its own until the node stops.
pub(crate) fn follow(
    mut up: BTreeSet<NodeName>,
    mut events: broadcast::Receiver<MembershipEvent>,
    members: impl Fn() -> Vec<NodeName> + Send + 'static,
    mut handler: impl OnRingChange,
) {
    tokio::spawn(async move {
        loop {
            let changed = match events.recv().await {
                Ok(MembershipEvent::Up { node, .. }) => up.insert(node),
                Ok(MembershipEvent::Down { node, .. }) => up.remove(&node),
                Ok(_) => false,
                // missed events: start again from the published members
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let now: BTreeSet<NodeName> = members().into_iter().collect();
                    let changed = now != up;
                    up = now;
                    changed
                }
                Err(broadcast::error::RecvError::Closed) => break,
            };
            if changed {
                let list: Vec<NodeName> = up.iter().cloned().collect();
                handler.on_ring_change(&list);
            }
        }
    });
}
