use proptest::prelude::*;

use super::*;

fn queues(per_name: usize, per_node: usize) -> HoldQueues {
    HoldQueues::new(HoldConfig {
        caps: HoldCaps { per_name, per_node },
        park_ms: 100,
    })
}

fn k(s: &str) -> ActorKey {
    ActorKey::from(s)
}

fn n(s: &str) -> NodeName {
    NodeName::from(s)
}

#[test]
fn moved_forwards_in_order_and_frees_everything() {
    let mut q = queues(10, 10);
    let ids: Vec<MsgId> = (0..3)
        .map(|i| {
            q.buffer(&k("x"), &n("a@h"), HoldKind::Cast, Millis(i))
                .unwrap()
        })
        .collect();
    let other = q
        .buffer(&k("y"), &n("a@h"), HoldKind::Cast, Millis(0))
        .unwrap();
    let out = q.moved(&k("x"), &n("b@h"));
    assert_eq!(
        out,
        ids.iter()
            .map(|id| Release::Forward(*id, n("b@h")))
            .collect::<Vec<_>>()
    );
    assert_eq!(q.len(), 1);
    assert_eq!(q.held_for(&k("x")), 0);
    assert_eq!(q.restored(&k("y")), vec![Release::Deliver(other)]);
    assert!(q.is_empty());
}

#[test]
fn gone_answers_requests_and_drops_casts() {
    let mut q = queues(10, 10);
    let cast = q
        .buffer(&k("x"), &n("a@h"), HoldKind::Cast, Millis(0))
        .unwrap();
    let call = q
        .buffer(&k("x"), &n("a@h"), HoldKind::Call, Millis(0))
        .unwrap();
    let local = q
        .buffer(&k("x"), &n("me@h"), HoldKind::Local, Millis(0))
        .unwrap();
    assert_eq!(
        q.gone(&k("x")),
        vec![
            Release::Drop(cast),
            Release::NotFound(call),
            Release::Drop(local)
        ]
    );
    assert!(q.is_empty());
    assert!(q.gone(&k("x")).is_empty());
}

/// A cast held first may have overtaken earlier ones of its sender on another path (a
/// paused host holds what arrives, in arrival order): released, each sender's casts come
/// out in their numbers' order, in the places that sender's casts held.
#[test]
fn held_casts_of_one_sender_are_released_in_their_numbers_order() {
    use crate::core::order::{Stamp, Stream};
    let mut q = queues(100, 100);
    let key = k("x");
    let stamp = |stream, seq| Stamp {
        stream: Stream(stream),
        seq,
    };
    // Sender 1's cast 3 arrived straight; its 1 and 2 through a relay; sender 2's between.
    let arrivals = [(1, 3), (2, 1), (1, 1), (2, 2), (1, 2)];
    let mut ids = Vec::new();
    for (stream, seq) in arrivals {
        let id = q.buffer(&key, &n("r"), HoldKind::Cast, Millis(0)).unwrap();
        q.stamp(id, stamp(stream, seq));
        ids.push(id);
    }
    let local = q.buffer(&key, &n("a"), HoldKind::Local, Millis(0)).unwrap();
    let out: Vec<MsgId> = q
        .restored(&key)
        .into_iter()
        .map(|r| match r {
            Release::Deliver(id) => id,
            other => panic!("{other:?}"),
        })
        .collect();
    // Sender 1 held places 0, 2 and 4: now 1, 2, 3; sender 2 and the local message keep theirs.
    assert_eq!(out, vec![ids[2], ids[1], ids[4], ids[3], ids[0], local]);
    assert!(q.is_empty());
}

#[test]
fn caps_refuse_with_a_clear_error_and_count() {
    let mut q = queues(2, 3);
    q.buffer(&k("x"), &n("a@h"), HoldKind::Cast, Millis(0))
        .unwrap();
    q.park(&k("x"), &n("a@h"), HoldKind::Call, Millis(0))
        .unwrap();
    let e = q
        .buffer(&k("x"), &n("a@h"), HoldKind::Cast, Millis(0))
        .unwrap_err();
    assert_eq!(
        e,
        HoldError::NameFull {
            key: k("x"),
            cap: 2
        }
    );
    assert_eq!(
        e.to_string(),
        "2 messages already held for x (the per-name cap)"
    );
    q.park(&k("y"), &n("a@h"), HoldKind::Local, Millis(0))
        .unwrap();
    assert_eq!(
        q.park(&k("z"), &n("a@h"), HoldKind::Local, Millis(0)),
        Err(HoldError::NodeFull { cap: 3 })
    );
    assert_eq!(q.refused(), 2);
    assert_eq!(q.len(), 3);
}

#[test]
fn full_names_are_published_when_they_change() {
    let mut q = queues(1, 2);
    assert_eq!(q.poll_full(), None);
    q.buffer(&k("x"), &n("a@h"), HoldKind::Cast, Millis(0))
        .unwrap();
    assert_eq!(q.poll_full(), Some((vec![k("x")], false)));
    assert_eq!(q.poll_full(), None);
    q.park(&k("y"), &n("a@h"), HoldKind::Cast, Millis(0))
        .unwrap();
    assert_eq!(q.poll_full(), Some((vec![k("x"), k("y")], true)));
    q.restored(&k("x"));
    assert_eq!(q.poll_full(), Some((vec![k("y")], false)));
    q.release_parked(Millis(0), false);
    assert_eq!(q.poll_full(), Some((vec![], false)));
}

#[test]
fn parked_messages_expire_after_park_ms_and_keep_their_order() {
    let mut q = queues(10, 10);
    let old = q
        .park(&k("x"), &n("a@h"), HoldKind::Cast, Millis(0))
        .unwrap();
    let young = q
        .park(&k("x"), &n("a@h"), HoldKind::Cast, Millis(50))
        .unwrap();
    let old2 = q
        .park(&k("y"), &n("a@h"), HoldKind::Call, Millis(10))
        .unwrap();
    assert!(q.release_parked(Millis(100), true).is_empty());
    let out: Vec<MsgId> = q
        .release_parked(Millis(111), true)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(out, vec![old, old2]);
    assert!(q.has_parked());
    // Parked again with its original time: it expires as if it had stayed.
    let (_, held) = q.release_parked(Millis(120), false).pop().unwrap();
    assert_eq!(held.since, Millis(50));
    let again = q
        .park(&held.key, &held.from, held.kind, held.since)
        .unwrap();
    assert_ne!(again, young);
    assert_eq!(q.release_parked(Millis(151), true).len(), 1);
    assert!(q.is_empty());
}

#[derive(Clone, Debug)]
enum Op {
    Buffer(u8, bool),
    Park(u8, u64),
    Moved(u8),
    Restored(u8),
    Gone(u8),
    Release(u64, bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, any::<bool>()).prop_map(|(k, c)| Op::Buffer(k, c)),
        4 => (0u8..4, 0u64..300).prop_map(|(k, t)| Op::Park(k, t)),
        1 => (0u8..4).prop_map(Op::Moved),
        1 => (0u8..4).prop_map(Op::Restored),
        1 => (0u8..4).prop_map(Op::Gone),
        1 => (0u64..400, any::<bool>()).prop_map(|(t, e)| Op::Release(t, e)),
    ]
}

proptest! {
    /// Under any sequence of operations the caps hold, every message released was held
    /// exactly once, each name's moving queue releases in hold order, and the counts match.
    #[test]
    fn caps_hold_and_every_message_is_released_once(ops in prop::collection::vec(op(), 0..200)) {
        let mut q = queues(5, 12);
        let mut held: BTreeMap<MsgId, ActorKey> = BTreeMap::new();
        let mut released = BTreeSet::new();
        let mut refused = 0;
        let key = |i: u8| k(&format!("k{i}"));
        for op in ops {
            let out: Vec<MsgId> = match op {
                Op::Buffer(i, call) => {
                    let kind = if call { HoldKind::Call } else { HoldKind::Cast };
                    match q.buffer(&key(i), &n("a@h"), kind, Millis(0)) {
                        Ok(id) => { held.insert(id, key(i)); }
                        Err(_) => refused += 1,
                    }
                    vec![]
                }
                Op::Park(i, t) => {
                    match q.park(&key(i), &n("a@h"), HoldKind::Local, Millis(t)) {
                        Ok(id) => { held.insert(id, key(i)); }
                        Err(_) => refused += 1,
                    }
                    vec![]
                }
                Op::Moved(i) | Op::Restored(i) | Op::Gone(i) => {
                    let out = match op {
                        Op::Moved(_) => q.moved(&key(i), &n("b@h")),
                        Op::Restored(_) => q.restored(&key(i)),
                        _ => q.gone(&key(i)),
                    };
                    let ids: Vec<MsgId> = out.iter().map(|r| match r {
                        Release::Deliver(id) | Release::Forward(id, _)
                        | Release::NotFound(id) | Release::Drop(id) => *id,
                    }).collect();
                    let mut sorted = ids.clone();
                    sorted.sort();
                    prop_assert_eq!(&sorted, &ids, "a name's messages leave in hold order");
                    for id in &ids { prop_assert_eq!(held.get(id), Some(&key(i))); }
                    ids
                }
                Op::Release(t, expired) => q.release_parked(Millis(t), expired)
                    .into_iter().map(|(id, _)| id).collect(),
            };
            for id in out {
                prop_assert!(held.contains_key(&id));
                prop_assert!(released.insert(id), "released twice");
            }
            prop_assert!(q.len() <= 12);
            for i in 0..4 { prop_assert!(q.held_for(&key(i)) <= 5); }
            prop_assert_eq!(q.len(), held.len() - released.len());
            prop_assert_eq!(q.refused(), refused);
        }
    }
}
