//! Fault injection for tests (feature `fault-injection`, off by default): a member with the
//! cookie and a session sends its peers frames a hostile or broken build could, so that
//! tests with real processes check that each is refused and counted (README, "Security").

use crate::core::admission::forged::Forger;
use crate::core::wire;
use crate::core::{ActorKey, NodeName};

use super::DistNode;

impl DistNode {
    /// Sends every peer in this node's view frames it must refuse, over this node's own
    /// authenticated session with the peer's session token: a departure and a hello in
    /// the name of another member, a hello for another node in this node's name, its own
    /// hello with an absurd weight, a checkpoint with a generation past any fence, and a
    /// `Yield` of a name the peer's view does not make this node the directory of.
    /// Returns how many frames each peer was sent (0 without a peer), so a test can
    /// require each peer's `frames_refused` to rise by that much and nothing else to change.
    #[doc(hidden)]
    pub fn inject_forged_frames(&self) -> u64 {
        let view = self.shared.view_guard();
        let me = self.name().clone();
        let mut per_peer = 0;
        for (peer, gateway) in &view.supervisors {
            // Someone else: a third member, or a node nobody heard of.
            let other = view
                .placement()
                .members()
                .iter()
                .find(|n| **n != me && *n != peer)
                .cloned()
                .unwrap_or_else(|| NodeName::new("nobody@nowhere"));
            let foreign = (0..)
                .map(|i| ActorKey::new(format!("forged-{i}")))
                .find(|k| view.placement().owner_of(k) != Some(&me))
                .unwrap_or_else(|| ActorKey::new("forged"));
            let forger = Forger {
                me: me.clone(),
                incarnation: self.incarnation(),
                addr: self.shared.config.addr(),
                other,
                foreign,
            };
            let frames = forger.frames();
            per_peer = frames.len() as u64;
            for frame in &frames {
                let _ = gateway.frame(wire::encode(frame));
            }
        }
        per_peer
    }
}
