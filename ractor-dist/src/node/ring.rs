//! GenServerring's `handle_ring_change`: a callback told the set of up nodes each time it
//! changes ([`crate::DistNode::on_ring_change`]).

use tokio::sync::broadcast;

use crate::core::ring::RingView;
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
    up: impl IntoIterator<Item = NodeName>,
    mut events: broadcast::Receiver<MembershipEvent>,
    members: impl Fn() -> Vec<NodeName> + Send + 'static,
    mut handler: impl OnRingChange,
) {
    let mut view = RingView::new(up);
    tokio::spawn(async move {
        loop {
            let changed = match events.recv().await {
                Ok(event) => view.apply(event),
                // missed events: start again from the published members
                Err(broadcast::error::RecvError::Lagged(_)) => view.reset(members()),
                Err(broadcast::error::RecvError::Closed) => break,
            };
            if let Some(up) = changed {
                handler.on_ring_change(&up);
            }
        }
    });
}
