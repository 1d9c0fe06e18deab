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
            // Only for an actor that takes messages (not draining, stopping, passivating).
            let passivating = self
                .child_ids
                .get(&key)
                .is_some_and(|id| self.passivating.contains_key(id));
            if self.handoff.is_moving(&key) || !self.runs_here(&key) || passivating {
                continue;
            }
            let Some(child) = self.child_of_mut(&key) else {
                continue;
            };
            child.meta.order.skip_to(&stream, seq);
            self.gaps_skipped += 1;
            self.commands.push_back(Command::Note(Note::GapSkipped {
                key: key.clone(),
                stream: stream.0,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::engine::tests::{engine, engine_with_kinds};
    use crate::core::engine::KindInfo;
    use crate::core::order::{OrderTable, Stamper, Stream};
    use crate::core::{Activation, ChildId, NameMeta};

    fn hosting(key: &ActorKey) -> Engine {
        let mut e = engine_with_kinds("a", [("plain".to_string(), KindInfo::default())].into());
        let activation = Activation {
            generation: 1,
            origin: e.me.clone(),
        };
        let meta = NameMeta::new("plain", Vec::new(), activation);
        e.handle_started(ChildId(1), key, "plain", meta);
        e
    }

    /// A host of `k` that took cast 1 of node `b`'s stream and holds cast 3 (under the
    /// returned id) waiting for 2.
    fn three_casts_the_second_lost() -> (ActorKey, NodeName, Engine, Vec<Stamp>, MsgId) {
        let key = ActorKey::new("k");
        let mut e = hosting(&key);
        let mut b = Stamper::new(NodeName::new("b"), 1, 16);
        let stamps: Vec<Stamp> = (0..3).map(|_| b.stamp(&key)).collect();
        let from = NodeName::new("b");
        e.sequence(&key, &from, Some(&stamps[0]), Millis(0));
        let Sequenced::Wait(id) = e.sequence(&key, &from, Some(&stamps[2]), Millis(0)) else {
            panic!("3 waits for 2");
        };
        (key, from, e, stamps, id)
    }

    fn releases(e: &mut Engine) -> Vec<Release> {
        std::iter::from_fn(|| e.poll_command())
            .filter_map(|c| match c {
                Command::Release { releases, .. } => Some(releases),
                _ => None,
            })
            .flatten()
            .collect()
    }

    /// The relay case (issue 9, finding 10): a sender's casts 1-3 went through a node that
    /// routed by an older view, cast 4 straight to the host, and 4 arrived first.
    #[test]
    fn a_cast_that_overtook_earlier_ones_of_its_sender_waits_for_them() {
        let key = ActorKey::new("k");
        let mut e = hosting(&key);
        let mut b = Stamper::new(NodeName::new("b"), 1, 16);
        let stamps: Vec<Stamp> = (0..4).map(|_| b.stamp(&key)).collect();
        let (relay, direct) = (NodeName::new("c"), NodeName::new("b"));
        let now = Millis(10);
        assert_eq!(
            e.sequence(&key, &relay, Some(&stamps[0]), now),
            Sequenced::Deliver(vec![])
        );
        let Sequenced::Wait(waiting) = e.sequence(&key, &direct, Some(&stamps[3]), now) else {
            panic!("cast 4 must wait for 2 and 3");
        };
        assert_eq!(e.hold.len(), 1, "held (and counted against the caps)");
        assert_eq!(
            e.sequence(&key, &relay, Some(&stamps[1]), now),
            Sequenced::Deliver(vec![])
        );
        // 3 arrives: it is delivered, then 4 (released to be delivered after it).
        assert_eq!(
            e.sequence(&key, &relay, Some(&stamps[2]), now),
            Sequenced::Deliver(vec![Release::Deliver(waiting)])
        );
        assert_eq!(
            e.sequence(&key, &relay, Some(&stamps[3]), now),
            Sequenced::Deliver(vec![])
        );
        assert!(e.hold.is_empty());
        // A copy of 2 arriving again is late: dropped, counted.
        assert!(matches!(
            e.sequence(&key, &relay, Some(&stamps[1]), now),
            Sequenced::Drop(_)
        ));
        assert_eq!(e.casts_late, 1);
    }

    #[test]
    fn a_gap_never_filled_is_given_up_after_the_gap_deadline() {
        // 2 was lost on the way (a relay crashed with it).
        let (key, from, mut e, stamps, id) = three_casts_the_second_lost();
        let gap = e.timing.gap_ms();
        e.handle_tick(Millis(gap));
        assert!(releases(&mut e).is_empty(), "not before the deadline");
        e.handle_tick(Millis(gap + 1));
        assert_eq!(releases(&mut e), vec![Release::Deliver(id)]);
        assert_eq!(e.gaps_skipped, 1);
        // Delivered when released: 3 is now the one expected.
        assert_eq!(
            e.sequence(&key, &from, Some(&stamps[2]), Millis(gap + 1)),
            Sequenced::Deliver(vec![])
        );
        assert!(matches!(
            e.sequence(&key, &from, Some(&stamps[1]), Millis(gap + 2)),
            Sequenced::Drop(_)
        ));
    }

    #[test]
    fn casts_waiting_for_their_turn_follow_the_actor_and_its_table_travels() {
        let (key, _, mut e, stamps, id) = three_casts_the_second_lost();
        // The table the actor's meta carries is what a `Migrate` entry sends.
        let table = e.child_of(&key).unwrap().meta.order.entries();
        assert_eq!(table, vec![(stamps[0].stream, 2)]);
        // The move ends: the waiting cast goes to the new host after the held ones.
        let to = NodeName::new("c");
        assert_eq!(e.hold.moved(&key, &to), vec![Release::Forward(id, to)]);
        // There, with the table, 3 still waits for 2.
        let mut there = OrderTable::from_entries(table);
        assert_eq!(there.admit(&stamps[2]), Admit::Early);
        assert_eq!(there.admit(&stamps[1]), Admit::Now);
        let stream: &Stream = &stamps[0].stream;
        assert_eq!(there.next_of(stream), Some(3));
    }

    #[test]
    fn unstamped_casts_and_names_not_hosted_are_delivered_as_they_come() {
        let key = ActorKey::new("k");
        let mut e = engine("a");
        let from = NodeName::new("b");
        assert_eq!(
            e.sequence(&key, &from, None, Millis(0)),
            Sequenced::Deliver(vec![])
        );
        let mut b = Stamper::new(from.clone(), 1, 16);
        let _first = b.stamp(&key);
        let second = b.stamp(&key);
        assert_eq!(
            e.sequence(&key, &from, Some(&second), Millis(0)),
            Sequenced::Deliver(vec![])
        );
    }
}
