use proptest::prelude::*;

use super::*;
use crate::core::{Epoch, Millis};

fn n(s: &str) -> NodeName {
    NodeName::new(s)
}

fn spec(host: &str, generation: u64, seq: u64) -> Spec<u64> {
    Spec {
        kind: "k".into(),
        args: vec![1],
        generation,
        host: n(host),
        host_incarnation: Incarnation(1),
        seq,
        checkpoint: (seq > 0).then_some(seq),
    }
}

#[test]
fn conflicts_resolve_by_policy() {
    let (a, b) = (n("a"), n("b"));
    let old = CopyMeta {
        generation: 1,
        host: &a,
    };
    let new = CopyMeta {
        generation: 2,
        host: &b,
    };
    use ConflictPolicy::{KeepNewest, KeepOldest};
    use Resolution::{KeepLocal, TakeIncoming};
    let table = [
        (KeepNewest, old, new, true, TakeIncoming),
        (KeepNewest, new, old, true, KeepLocal),
        (KeepOldest, old, new, true, KeepLocal),
        (KeepOldest, new, old, true, TakeIncoming),
        (ConflictPolicy::Merge, old, new, true, Resolution::Merge),
        (ConflictPolicy::Merge, new, old, true, Resolution::Merge),
        // Without a snapshot there is nothing to take or merge.
        (KeepNewest, old, new, false, KeepLocal),
        (ConflictPolicy::Merge, old, new, false, KeepLocal),
    ];
    for (policy, local, incoming, state, want) in table {
        assert_eq!(
            resolve(policy, local, incoming, state),
            want,
            "{policy:?} local {local:?} incoming {incoming:?}"
        );
    }
}

proptest! {
    /// The surviving copy does not depend on which of the two travels to the other.
    #[test]
    fn conflict_winner_is_the_same_whichever_copy_travels(
        ga in 0u64..4, gb in 0u64..4, ha in 0u8..3, hb in 0u8..3, newest in any::<bool>()
    ) {
        prop_assume!(ha != hb);
        let (a, b) = (n(&format!("n{ha}")), n(&format!("n{hb}")));
        let x = CopyMeta { generation: ga, host: &a };
        let y = CopyMeta { generation: gb, host: &b };
        let policy = if newest { ConflictPolicy::KeepNewest } else { ConflictPolicy::KeepOldest };
        let winner_if_y_travels = match resolve(policy, x, y, true) {
            Resolution::TakeIncoming => &b,
            _ => &a,
        };
        let winner_if_x_travels = match resolve(policy, y, x, true) {
            Resolution::TakeIncoming => &a,
            _ => &b,
        };
        prop_assert_eq!(winner_if_y_travels, winner_if_x_travels);
    }

    /// A replica ends with the newest checkpoint its current host sent, whatever stale or
    /// fenced updates are interleaved.
    #[test]
    fn replicas_keep_the_newest_checkpoint_of_the_current_generation(
        ops in proptest::collection::vec((0u8..3, 1u64..4, 1u64..20), 1..40)
    ) {
        let key = ActorKey::new("x");
        let mut r: Replicas<u64> = Replicas::new();
        r.handle_spec(key.clone(), spec("a", 1, 0));
        // The model: the newest (generation, host) spec and its best seq.
        let mut model = (1u64, n("a"), 0u64);
        for (who, generation, seq) in ops {
            let host = n(["a", "b", "c"][who as usize]);
            if generation > model.0 {
                // a respawn or a move under a newer generation
                prop_assert_eq!(r.handle_spec(key.clone(), Spec { host: host.clone(), ..spec("a", generation, 0) }), ReplicaOutcome::Stored);
                model = (generation, host, 0);
                continue;
            }
            let out = r.handle_checkpoint(&host, &key, generation, seq, seq, false);
            let accept = host == model.1 && generation == model.0 && seq > model.2;
            prop_assert_eq!(out == ReplicaOutcome::Stored, accept);
            if accept {
                model.2 = seq;
            }
        }
        let s = r.get(&key).unwrap();
        prop_assert_eq!((s.generation, s.host.clone(), s.seq), model.clone());
        prop_assert_eq!(s.checkpoint, (model.2 > 0).then_some(model.2));
    }
}

#[test]
fn a_fence_lifts_only_after_a_barrier_settle_with_peers_or_a_timeout() {
    use FenceDecision::*;
    let s = FenceState {
        waited_ms: 100,
        view_changed: true,
        settled_by_barrier: true,
        has_peers: true,
        deadline_ms: 1_000,
        patience_ms: 5_000,
    };
    let table = [
        (s, Rejoined),
        // settled by deadline, or alone, or in the view from before the pause: wait
        (
            FenceState {
                settled_by_barrier: false,
                ..s
            },
            Hold,
        ),
        (
            FenceState {
                has_peers: false,
                ..s
            },
            Hold,
        ),
        (
            FenceState {
                view_changed: false,
                settled_by_barrier: false,
                ..s
            },
            Hold,
        ),
        // the peers never dropped it
        (
            FenceState {
                view_changed: false,
                settled_by_barrier: false,
                waited_ms: 1_001,
                ..s
            },
            Unnoticed,
        ),
        // alone (or never settled) for longer than the patience
        (
            FenceState {
                has_peers: false,
                waited_ms: 5_001,
                ..s
            },
            GaveUp,
        ),
        (
            FenceState {
                settled_by_barrier: false,
                waited_ms: 5_001,
                ..s
            },
            GaveUp,
        ),
    ];
    for (state, want) in table {
        assert_eq!(fence_decision(state), want, "{state:?}");
    }
}

#[test]
fn a_replaced_host_cannot_refresh_or_drop_the_spec() {
    let key = ActorKey::new("x");
    let mut r: Replicas<u64> = Replicas::new();
    assert_eq!(
        r.handle_spec(key.clone(), spec("a", 1, 3)),
        ReplicaOutcome::Stored
    );
    // b respawned it (generation 2); a comes back and repeats its old spec
    assert_eq!(
        r.handle_spec(key.clone(), spec("b", 2, 0)),
        ReplicaOutcome::Stored
    );
    assert_eq!(
        r.handle_spec(key.clone(), spec("a", 1, 9)),
        ReplicaOutcome::Stale
    );
    assert_eq!(
        r.handle_checkpoint(&n("a"), &key, 1, 10, 10, false),
        ReplicaOutcome::Stale
    );
    assert!(!r.handle_dropped(&n("a"), &key));
    assert_eq!(r.get(&key).unwrap().host, n("b"));
    assert_eq!(
        r.handle_checkpoint(&n("b"), &key, 2, 1, 1, false),
        ReplicaOutcome::Stored
    );
    assert!(r.handle_dropped(&n("b"), &key));
    assert!(r.is_empty());
    assert_eq!(
        r.handle_checkpoint(&n("b"), &key, 2, 2, 2, false),
        ReplicaOutcome::Unknown
    );
}

#[test]
fn a_replica_takes_a_delta_only_right_after_the_checkpoint_it_keeps() {
    let key = ActorKey::new("x");
    let mut r: Replicas<u64> = Replicas::new();
    r.handle_spec(key.clone(), spec("a", 1, 0));
    // (from, generation, seq, value, delta) -> outcome, then (seq, checkpoint) kept
    let table = [
        ("a", 1, 1, 5, true, ReplicaOutcome::Gap, (0, None)),
        ("a", 1, 1, 10, false, ReplicaOutcome::Stored, (1, Some(10))),
        ("a", 1, 2, 1, true, ReplicaOutcome::Stored, (2, Some(11))),
        ("a", 1, 2, 1, true, ReplicaOutcome::Stale, (2, Some(11))),
        ("a", 1, 4, 1, true, ReplicaOutcome::Gap, (2, Some(11))),
        ("b", 1, 3, 1, true, ReplicaOutcome::Stale, (2, Some(11))),
        ("a", 2, 3, 1, true, ReplicaOutcome::Stale, (2, Some(11))),
        ("a", 1, 3, 2, true, ReplicaOutcome::Stored, (3, Some(13))),
        ("a", 1, 5, 20, false, ReplicaOutcome::Stored, (5, Some(20))),
        ("a", 1, 6, 1, true, ReplicaOutcome::Stored, (6, Some(21))),
    ];
    for (from, generation, seq, value, delta, outcome, kept) in table {
        assert_eq!(
            r.handle_checkpoint(&n(from), &key, generation, seq, value, delta),
            outcome,
            "{from} {generation} {seq} {delta}"
        );
        let spec = r.get(&key).unwrap();
        assert_eq!(
            (spec.seq, spec.checkpoint),
            kept,
            "{from} {generation} {seq}"
        );
    }
}

#[test]
fn orphans_are_the_names_whose_host_is_gone_or_restarted() {
    let mut r: Replicas<u64> = Replicas::new();
    r.handle_spec(ActorKey::new("x"), spec("a", 1, 0));
    r.handle_spec(ActorKey::new("y"), spec("b", 1, 0));
    r.handle_spec(ActorKey::new("z"), spec("c", 1, 0));
    // a is gone, b restarted (incarnation 2), c is fine
    let alive = |h: &NodeName, inc: Incarnation| match h.as_str() {
        "b" => inc == Incarnation(2),
        "c" => true,
        _ => false,
    };
    assert_eq!(
        r.orphans(alive),
        vec![ActorKey::new("x"), ActorKey::new("y")]
    );
    r.reassign(&ActorKey::new("x"), n("c"), Incarnation(1));
    assert_eq!(r.orphans(alive), vec![ActorKey::new("y")]);
}

#[test]
fn the_freshest_offer_wins() {
    let mut o: Respawns<u64> = Respawns::new();
    let key = ActorKey::new("x");
    o.handle_offer(
        key.clone(),
        Offer {
            spec: spec("a", 1, 4),
            hops: 0,
        },
        Millis(1),
    );
    o.handle_offer(
        key.clone(),
        Offer {
            spec: spec("a", 1, 2),
            hops: 0,
        },
        Millis(2),
    );
    assert_eq!(o.len(), 1);
    o.handle_offer(
        key.clone(),
        Offer {
            spec: spec("a", 1, 5),
            hops: 0,
        },
        Millis(3),
    );
    let all = o.take_all();
    assert_eq!((all[0].1.spec.seq, all[0].2), (5, Millis(3)));
    assert!(o.is_empty());
}

#[test]
fn offers_go_to_the_owner_and_wait_while_the_host_is_in_view() {
    let placement = Placement::new(Epoch(1), [n("a"), n("b"), n("c")]);
    let key = ActorKey::new("x");
    let owner = placement.owner_of(&key).unwrap().clone();
    let other = placement
        .members()
        .iter()
        .find(|m| **m != owner)
        .unwrap()
        .clone();
    let offer = Offer {
        spec: spec("gone", 1, 0),
        hops: 0,
    };
    let ctx = OfferContext {
        hosted: false,
        lost_host_in_view: false,
        age_ms: 0,
        patience_ms: 100,
    };
    let decide =
        |me: &NodeName, offer: &Offer<u64>, ctx| decide_respawn(me, &placement, offer, &key, ctx);
    assert_eq!(decide(&owner, &offer, ctx), RespawnDecision::Spawn);
    assert_eq!(
        decide(&other, &offer, ctx),
        RespawnDecision::Forward(owner.clone())
    );
    assert!(matches!(
        decide(
            &owner,
            &offer,
            OfferContext {
                hosted: true,
                ..ctx
            }
        ),
        RespawnDecision::Drop(_)
    ));
    // the owner has not noticed the loss yet: wait, then give up once the host stays
    let in_view = OfferContext {
        lost_host_in_view: true,
        ..ctx
    };
    assert_eq!(decide(&owner, &offer, in_view), RespawnDecision::Wait);
    assert!(matches!(
        decide(
            &owner,
            &offer,
            OfferContext {
                age_ms: 101,
                ..in_view
            }
        ),
        RespawnDecision::Drop(_)
    ));
    let tired = Offer {
        hops: MAX_OFFER_HOPS,
        ..offer
    };
    assert!(matches!(
        decide(&other, &tired, ctx),
        RespawnDecision::Drop(_)
    ));
}

#[test]
fn replica_sets_skip_the_host_and_follow_the_ranking() {
    let placement = Placement::new(Epoch(1), [n("a"), n("b"), n("c"), n("d")]);
    let key = ActorKey::new("x");
    let ranked = placement.ranked(&key);
    assert_eq!(
        replica_set(&placement, &key, &ranked[0], 2),
        vec![ranked[1].clone()]
    );
    assert_eq!(
        replica_set(&placement, &key, &ranked[0], 3),
        vec![ranked[1].clone(), ranked[2].clone()]
    );
    // a host that is not the owner (a `Stay` actor) keeps the owner as first replica
    assert_eq!(
        replica_set(&placement, &key, &ranked[2], 2),
        vec![ranked[0].clone()]
    );
    assert!(replica_set(&placement, &key, &ranked[0], 1).is_empty());
}

#[test]
fn former_holders_keep_the_spec_until_every_new_one_confirmed() {
    let me = n("h");
    let inc = Incarnation(1);
    let mut h = SpecHolders::default();
    let c = h.retarget(&me, vec![(n("a"), inc)]);
    assert_eq!(c.send_spec, vec![n("a")]);
    assert!(c.drop.is_empty());
    // the view changes: b replaces a; a keeps the spec until b confirms
    let c = h.retarget(&me, vec![(n("b"), inc)]);
    assert_eq!(c.send_spec, vec![n("b")]);
    assert!(c.drop.is_empty());
    assert!(h.handle_confirmed(&n("x")).is_empty());
    assert_eq!(h.handle_confirmed(&n("b")), vec![(n("a"), me.clone())]);
    assert_eq!(h.all(&me), vec![(n("b"), me.clone())]);
    // an arrived name: the former host's holders go once ours confirmed
    let mut h = SpecHolders::inherit([(n("a"), n("old")), (n("c"), n("old"))]);
    let c = h.retarget(&me, vec![(n("c"), inc), (n("d"), inc)]);
    assert_eq!(c.send_spec, vec![n("c"), n("d")]);
    assert!(h.handle_confirmed(&n("c")).is_empty());
    assert_eq!(h.handle_confirmed(&n("d")), vec![(n("a"), n("old"))]);
    // a new generation: everyone is sent the spec again
    h.refresh(&me);
    let c = h.retarget(&me, vec![(n("c"), inc)]);
    assert_eq!(c.send_spec, vec![n("c")]);
    assert_eq!(h.handle_confirmed(&n("c")), vec![(n("d"), me.clone())]);
    // shrinking needs no confirmation
    let mut h = SpecHolders::default();
    h.retarget(&me, vec![(n("a"), inc), (n("b"), inc)]);
    h.handle_confirmed(&n("a"));
    h.handle_confirmed(&n("b"));
    let c = h.retarget(&me, vec![(n("a"), inc)]);
    assert_eq!(c.drop, vec![(n("b"), me)]);
}
