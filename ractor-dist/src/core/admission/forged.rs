//! A catalogue of frames a member with the cookie and a session could forge, each of which
//! [`super::admit`] must refuse (for tests: the admission unit tests, and
//! `DistNode::inject_forged_frames` behind the `fault-injection` feature, which sends them
//! over real sessions).

use crate::core::hash::HASH_VERSION;
use crate::core::wire::{Frame, FrameBody, PROTOCOL_VERSION};
use crate::core::{ActorKey, Hello, Incarnation, NodeName, Snapshot};

/// What a forger knows of itself and the cluster.
#[derive(Clone, Debug)]
pub(crate) struct Forger {
    /// The member sending, over its own session.
    pub(crate) me: NodeName,
    /// Its incarnation.
    pub(crate) incarnation: Incarnation,
    /// The address it advertises.
    pub(crate) addr: String,
    /// Another member, to speak for.
    pub(crate) other: NodeName,
    /// A name `me` is not the directory node of.
    pub(crate) foreign: ActorKey,
}

impl Forger {
    /// Frames `me` sends that a peer must refuse: a departure and a hello in `other`'s
    /// name, a hello describing `other` in `me`'s name, `me`'s hello with an absurd
    /// weight, a checkpoint with a generation past any fence, and a `Yield` only the
    /// directory node of `foreign` may ask for.
    pub(crate) fn frames(&self) -> Vec<Frame> {
        let Forger {
            me,
            incarnation,
            other,
            foreign,
            ..
        } = self;
        let frame = |from: &NodeName, incarnation: Incarnation, body: FrameBody| Frame {
            from: from.clone(),
            incarnation,
            body,
        };
        let hello = |node: &NodeName, incarnation: Incarnation, weight: f64| FrameBody::Hello {
            hello: Hello {
                node: node.clone(),
                incarnation,
                protocol: u32::from(PROTOCOL_VERSION),
                hash_version: HASH_VERSION,
                addr: self.addr.clone(),
                weight,
            },
            reply: false,
        };
        let theirs = Incarnation(1);
        vec![
            frame(other, theirs, FrameBody::Leaving),
            frame(other, theirs, hello(other, theirs, 1.0)),
            frame(me, *incarnation, hello(other, theirs, 1.0)),
            frame(me, *incarnation, hello(me, *incarnation, 1e12)),
            frame(
                me,
                *incarnation,
                FrameBody::Checkpoint {
                    key: foreign.clone(),
                    generation: u64::MAX,
                    seq: 1,
                    snapshot: Snapshot::new(0, Vec::new()),
                    delta: false,
                },
            ),
            frame(
                me,
                *incarnation,
                FrameBody::Yield {
                    keys: vec![(foreign.clone(), me.clone())],
                },
            ),
        ]
    }
}
