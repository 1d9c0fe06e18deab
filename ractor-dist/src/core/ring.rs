//! [`RingView`]: the set of up nodes as a ring-change callback sees it
//! ([`crate::DistNode::on_ring_change`]), folded from membership events.

use std::collections::BTreeSet;

use super::{MembershipEvent, NodeName};

/// The up nodes (this one included), kept from membership events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RingView {
    up: BTreeSet<NodeName>,
}

impl RingView {
    /// The view of the members `up` (when the callback subscribed).
    pub(crate) fn new(up: impl IntoIterator<Item = NodeName>) -> Self {
        Self {
            up: up.into_iter().collect(),
        }
    }

    /// Takes one membership event; the up nodes, sorted, when the set changed.
    pub(crate) fn apply(&mut self, event: MembershipEvent) -> Option<Vec<NodeName>> {
        let changed = match event {
            MembershipEvent::Up { node, .. } => self.up.insert(node),
            MembershipEvent::Down { node, .. } => self.up.remove(&node),
            _ => false,
        };
        changed.then(|| self.list())
    }

    /// Starts again from the published `members` (events were missed); the up nodes,
    /// sorted, when the set changed.
    pub(crate) fn reset(
        &mut self,
        members: impl IntoIterator<Item = NodeName>,
    ) -> Option<Vec<NodeName>> {
        let now: BTreeSet<NodeName> = members.into_iter().collect();
        let changed = now != self.up;
        self.up = now;
        changed.then(|| self.list())
    }

    fn list(&self) -> Vec<NodeName> {
        self.up.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{DownReason, Epoch, Incarnation};

    fn n(name: &str) -> NodeName {
        NodeName::new(name)
    }

    fn up(node: &str) -> MembershipEvent {
        MembershipEvent::Up {
            node: n(node),
            incarnation: Incarnation(1),
            epoch: Epoch(1),
        }
    }

    fn down(node: &str) -> MembershipEvent {
        MembershipEvent::Down {
            node: n(node),
            incarnation: Incarnation(1),
            reason: DownReason::Left,
            epoch: Epoch(2),
        }
    }

    #[test]
    fn only_a_change_of_the_up_set_is_told_sorted() {
        let mut view = RingView::new([n("b"), n("a")]);
        let refused = MembershipEvent::Refused {
            node: n("x"),
            reason: "protocol".into(),
        };
        for (event, told) in [
            (up("c"), Some(vec!["a", "b", "c"])),
            (up("c"), None),
            (down("a"), Some(vec!["b", "c"])),
            (down("a"), None),
            (refused, None),
        ] {
            let told = told.map(|t| t.into_iter().map(n).collect::<Vec<_>>());
            assert_eq!(view.apply(event.clone()), told, "{event:?}");
        }
        assert_eq!(view.reset([n("c"), n("b")]), None);
        assert_eq!(view.reset([n("d")]), Some(vec![n("d")]));
    }
}
