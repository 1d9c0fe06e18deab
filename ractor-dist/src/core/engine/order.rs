//! Per-sender order at the host: stamped casts are delivered in their stream's order (see
//! [`crate::core::order`]).

use super::{Command, Engine, Note};
use crate::core::order::{Admit, Stamp};
use crate::core::{ActorKey, HoldError, Millis, MsgId, NodeName, Release};

/// What to do with a stamped cast the dispatch decided to deliver here (see
/// [`Engine::sequence`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sequenced {
    /// Deliver it, then carry out these releases (casts that waited for it, in order; each
    /// is sequenced again when delivered).
    Deliver(Vec<Release>),
    /// It waits for an earlier cast of its stream, under this id (keep its payload).
    Wait(MsgId),
    /// Drop it: the same cast already waits, or its successors were delivered (counted).
    Drop(&'static str),
    /// A hold cap refused it.
    Refused(HoldError),
}

impl Engine {
    /// A cast for `key` from `from` that the dispatch decided to deliver here, with its
    /// `stamp`: delivered now, or kept until its turn, or dropped when it comes too late.
    /// An unstamped cast, or one for a name with no actor here, is delivered.
    pub(crate) fn sequence(
        &mut self,
        key: &ActorKey,
        from: &NodeName,
        stamp: Option<&Stamp>,
        now: Millis,
    ) -> Sequenced {
        let Some(stamp) = stamp else {
            return Sequenced::Deliver(Vec::new());
        };
        let Some(child) = self.child_of_mut(key) else {
            return Sequenced::Deliver(Vec::new());
        };
        match child.meta.order.admit(stamp) {
            Admit::Now => {
                let next = stamp.seq.saturating_add(1);
                let then = self.hold.take_early(key, &stamp.stream, next);
                Sequenced::Deliver(then.map(Release::Deliver).into_iter().collect())
            }
            Admit::Early => match self.hold.early(key, from, stamp, now) {
                Ok(Some(id)) => Sequenced::Wait(id),
                Ok(None) => Sequenced::Drop("a duplicate"),
                Err(e) => Sequenced::Refused(e),
            },
            Admit::Late => {
                self.casts_late += 1;
                Sequenced::Drop("too late: later casts of its sender were delivered")
            }
        }
    }

    /// Gives up the gaps that casts waited for longer than [`crate::core::Timing::gap_ms`]
    /// (the casts in them were lost on the way): each stream goes on from its first waiting
    /// cast. Names moving away or fenced keep theirs (they travel with the move).
    pub(super) fn skip_gaps(&mut self, now: Millis) {
        if !self.hold.has_early() || self.recovery.is_fenced() {
            return;
        }
        let gap_ms = self.timing.gap_ms();
        for (key, stream, seq) in self.hold.early_gaps(now, gap_ms) {
            if self.handoff.is_moving(&key) {
                continue;
            }
            let Some(child) = self.child_of_mut(&key) else {
                continue;
            };
            child.meta.order.skip_to(&stream, seq);
            self.gaps_skipped += 1;
            self.commands.push_back(Command::Note(Note::GapSkipped {
                key: key.clone(),
                origin: stream.origin.clone(),
                seq,
            }));
            if let Some(id) = self.hold.take_early(&key, &stream, seq) {
                self.commands.push_back(Command::Release {
                    key,
                    releases: vec![Release::Deliver(id)],
                });
            }
        }
    }
}
