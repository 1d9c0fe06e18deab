use std::collections::BTreeSet;

use crdts::CmRDT;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::sim::{name, Net, Set};
use super::*;
use crate::core::snapshot::{decode_fixed, encode_fixed};
use crate::core::Incarnation;

fn id(i: u8) -> ReplicaId {
    ReplicaId {
        node: NodeName::new(format!("n{i}@h")),
        incarnation: Incarnation(1),
    }
}

/// One step of a history over three replicas.
#[derive(Clone, Debug)]
enum Step {
    Inc(u8, u64),
    Dec(u8, u64),
    Add(u8, u8),
    Rm(u8, u8),
    /// Replica `.1` merges replica `.0`'s state.
    Sync(u8, u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..3u8, 1..10u64).prop_map(|(r, n)| Step::Inc(r, n)),
        (0..3u8, 1..10u64).prop_map(|(r, n)| Step::Dec(r, n)),
        (0..3u8, 0..6u8).prop_map(|(r, e)| Step::Add(r, e)),
        (0..3u8, 0..6u8).prop_map(|(r, e)| Step::Rm(r, e)),
        (0..3u8, 0..3u8).prop_map(|(a, b)| Step::Sync(a, b)),
    ]
}

/// The three replicas' states after a history.
fn replay(steps: &[Step]) -> [(Counter, Set); 3] {
    let mut r: [(Counter, Set); 3] = Default::default();
    for s in steps {
        match *s {
            Step::Inc(i, n) => {
                let op = r[i as usize].0.inc_many(id(i), n);
                r[i as usize].0.apply(op);
            }
            Step::Dec(i, n) => {
                let op = r[i as usize].0.dec_many(id(i), n);
                r[i as usize].0.apply(op);
            }
            Step::Add(i, e) => {
                let s = &mut r[i as usize].1;
                s.apply(s.add(e, s.read_ctx().derive_add_ctx(id(i))));
            }
            Step::Rm(i, e) => {
                let s = &mut r[i as usize].1;
                s.apply(s.rm(e, s.contains(&e).derive_rm_ctx()));
            }
            Step::Sync(a, b) => {
                let from = r[a as usize].clone();
                Crdt::merge(&mut r[b as usize].0, from.0);
                Crdt::merge(&mut r[b as usize].1, from.1);
            }
        }
    }
    r
}

/// Merges two encoded states and decodes the result: the form values travel in.
fn merged<T: Crdt>(a: &T, b: &T) -> T {
    let mut x: T = decode_fixed(&encode_fixed(a).unwrap(), usize::MAX).unwrap();
    let y: T = decode_fixed(&encode_fixed(b).unwrap(), usize::MAX).unwrap();
    x.merge(y);
    decode_fixed(&encode_fixed(&x).unwrap(), usize::MAX).unwrap()
}

fn laws<T: Crdt + std::fmt::Debug>(a: &T, b: &T, c: &T) {
    assert_eq!(merged(a, b), merged(b, a), "commutative");
    assert_eq!(
        merged(&merged(a, b), c),
        merged(a, &merged(b, c)),
        "associative"
    );
    assert_eq!(&merged(a, a), a, "idempotent");
}

proptest! {
    #[test]
    fn merges_of_encoded_states_are_commutative_associative_and_idempotent(
        steps in proptest::collection::vec(step(), 0..40)
    ) {
        let [a, b, c] = replay(&steps);
        laws(&a.0, &b.0, &c.0);
        laws(&a.1, &b.1, &c.1);
    }

    #[test]
    fn deltas_and_full_states_converge_to_the_same_value(
        ops in proptest::collection::vec((0..3usize, 0..3u8, 0..6u8), 1..30)
    ) {
        let mut results = Vec::new();
        for push in [Push::Deltas, Push::FullState] {
            let mut net = Net::new(3, push, 1 << 20);
            for node in &mut net.nodes {
                node.register::<Set>("s").unwrap();
                node.register::<Counter>("c").unwrap();
            }
            net.drain();
            for &(i, kind, e) in &ops {
                let node = &mut net.nodes[i];
                match kind {
                    0 => node.handle_update::<Set>("s", |s, me| s.add(e, s.read_ctx().derive_add_ctx(me.clone()))),
                    1 => node.handle_update::<Set>("s", |s, _| s.rm(e, s.contains(&e).derive_rm_ctx())),
                    _ => node.handle_update::<Counter>("c", |c, me| c.inc_many(me.clone(), u64::from(e))),
                }.unwrap();
                net.drain();
                if e % 2 == 0 {
                    net.settle(100);
                }
            }
            net.settle(100);
            let values: Vec<_> = net.nodes.iter_mut().map(|n| {
                (n.value::<Set>("s").unwrap().read().val, n.value::<Counter>("c").unwrap().read())
            }).collect();
            prop_assert!(values.windows(2).all(|w| w[0] == w[1]), "{:?} diverged: {:?}", push, values);
            results.push(values[0].clone());
        }
        prop_assert_eq!(&results[0], &results[1]);
    }
}

#[test]
fn a_concurrent_add_wins_over_a_remove_in_merged_states() {
    let steps = vec![
        Step::Add(0, 1),
        Step::Sync(0, 1),
        Step::Rm(1, 1),
        Step::Add(2, 1),
    ];
    let [a, b, c] = replay(&steps);
    let all = merged(&merged(&a.1, &b.1), &c.1);
    // the add of replica 2 was concurrent with the remove: add wins
    assert_eq!(all.read().val, [1].into_iter().collect());
}

/// Two connected nodes holding a counter `c`.
fn pair() -> Net {
    let mut net = Net::new(2, Push::Deltas, 1 << 20);
    for node in &mut net.nodes {
        node.register::<Counter>("c").unwrap();
    }
    net.drain();
    net.settle(10);
    net
}

fn changes(node: &mut Replicas) -> usize {
    let mut n = 0;
    while let Some(c) = node.poll_command() {
        n += usize::from(matches!(c, ReplicaCommand::Changed { .. }));
    }
    n
}

fn delta(net: &mut Net, i: usize, by: u64) -> ReplicaMsg {
    net.nodes[i]
        .handle_update::<Counter>("c", |c, me| c.inc_many(me.clone(), by))
        .unwrap();
    let mut out = None;
    while let Some(c) = net.nodes[i].poll_command() {
        if let ReplicaCommand::Send { msg, .. } = c {
            out = Some(msg);
        }
    }
    out.expect("a delta was pushed")
}

#[test]
fn a_duplicate_delta_changes_nothing_and_tells_no_one() {
    let mut net = pair();
    let d = delta(&mut net, 0, 5);
    let b = &mut net.nodes[1];
    b.handle_msg(&name(0), d.clone(), Millis(0));
    assert_eq!(changes(b), 1);
    b.handle_msg(&name(0), d, Millis(0));
    assert_eq!(changes(b), 0);
    assert_eq!(b.stats().duplicates, 1);
    assert_eq!(b.value::<Counter>("c").unwrap().read(), 5.into());
}

#[test]
fn a_delta_after_a_gap_is_dropped_and_the_missing_updates_pulled_from_its_sender() {
    let mut net = pair();
    let _lost = delta(&mut net, 0, 1);
    let second = delta(&mut net, 0, 2);
    net.nodes[1].handle_msg(&name(0), second.clone(), Millis(0));
    assert_eq!(net.nodes[1].stats().gaps, 1);
    let pulls: Vec<_> = std::iter::from_fn(|| net.nodes[1].poll_command()).collect();
    assert!(matches!(
        &pulls[..],
        [ReplicaCommand::Send { to, msg: ReplicaMsg::Digest { reply: false, .. } }] if *to == name(0)
    ));
    // a second gap within the interval does not pull again
    net.nodes[1].handle_msg(&name(0), second, Millis(10));
    assert!(net.nodes[1].poll_command().is_none());
    // the sender answers the pull with its state: both updates arrive
    if let ReplicaCommand::Send { msg, .. } = &pulls[0] {
        net.nodes[0].handle_msg(&name(1), msg.clone(), Millis(0));
    }
    net.drain();
    net.settle(10);
    assert_eq!(net.nodes[1].value::<Counter>("c").unwrap().read(), 3.into());
}

#[test]
fn a_value_of_another_type_or_undecodable_is_refused_and_counted() {
    let mut net = pair();
    let Some(ReplicaMsg::Delta { origin, bytes, .. }) = Some(delta(&mut net, 0, 1)) else {
        unreachable!()
    };
    let b = &mut net.nodes[1];
    let wrong = ReplicaMsg::Delta {
        name: "c".into(),
        tag: 1,
        origin: origin.clone(),
        seq: 1,
        bytes: bytes.clone(),
    };
    b.handle_msg(&name(0), wrong, Millis(0));
    let garbage = ReplicaMsg::Delta {
        name: "c".into(),
        tag: tag_hash(&Counter::type_tag()),
        origin,
        seq: 1,
        bytes: vec![0xff; 3],
    };
    b.handle_msg(&name(0), garbage, Millis(0));
    let refused: Vec<_> = std::iter::from_fn(|| b.poll_command()).collect();
    assert!(matches!(
        &refused[..],
        [
            ReplicaCommand::Refused {
                error: ReplicaError::TypeMismatch { .. },
                ..
            },
            ReplicaCommand::Refused {
                error: ReplicaError::Undecodable { .. },
                ..
            }
        ]
    ));
    assert_eq!(b.stats().refused, 2);
    assert_eq!(b.value::<Counter>("c").unwrap().read(), 0.into());
    // and the same name asked for locally as another type
    assert!(matches!(
        b.register::<Set>("c"),
        Err(ReplicaError::TypeMismatch { .. })
    ));
}

#[test]
fn a_state_larger_than_a_frame_travels_in_parts_and_out_of_order_parts_are_refused() {
    let mut net = Net::new(2, Push::FullState, 64);
    net.nodes[0].register::<Set>("s").unwrap();
    for e in 0..50 {
        net.nodes[0]
            .handle_update::<Set>("s", |s, me| {
                s.add(e, s.read_ctx().derive_add_ctx(me.clone()))
            })
            .unwrap();
    }
    net.drain();
    // node 1 registers late: its digest pulls the state, in parts of at most 64 bytes
    net.nodes[1].register::<Set>("s").unwrap();
    net.drain();
    let parts_before = net.delivered.1;
    net.settle(1000);
    assert!(net.delivered.1 - parts_before > 10, "sent in parts");
    let set = net.nodes[1].value::<Set>("s").unwrap();
    assert_eq!(set.read().val.len(), 50);
    // a part that does not follow the previous one is refused
    let part = ReplicaMsg::State {
        name: "s".into(),
        tag: tag_hash(&Set::type_tag()),
        version: VersionVector::default(),
        transfer: 99,
        index: 3,
        count: 5,
        bytes: vec![1],
    };
    net.nodes[1].handle_msg(&name(0), part, Millis(0));
    assert_eq!(net.nodes[1].stats().refused, 1);
}

#[test]
fn a_merge_that_changes_nothing_tells_no_one() {
    let mut net = pair();
    let d = delta(&mut net, 0, 5);
    net.nodes[1].handle_msg(&name(0), d, Millis(0));
    changes(&mut net.nodes[1]);
    // anti-entropy rounds between equal nodes: no change, no state sent
    for t in 1..5 {
        net.tick_all(1_000 * t);
        net.settle(10);
    }
    for node in &mut net.nodes {
        assert_eq!(node.stats().changes, 1);
    }
    assert_eq!(net.nodes[0].stats().states_merged, 0);
    assert_eq!(net.nodes[1].stats().states_merged, 0);
}

#[test]
fn a_state_merged_twice_tells_its_change_once() {
    let mut net = Net::new(2, Push::FullState, 1 << 20);
    for node in &mut net.nodes {
        node.register::<Counter>("c").unwrap();
    }
    net.drain();
    net.nodes[0]
        .handle_update::<Counter>("c", |c, me| c.inc_many(me.clone(), 2))
        .unwrap();
    let state = std::iter::from_fn(|| net.nodes[0].poll_command())
        .find_map(|c| match c {
            ReplicaCommand::Send {
                msg: m @ ReplicaMsg::State { .. },
                ..
            } => Some(m),
            _ => None,
        })
        .expect("full state pushed");
    let b = &mut net.nodes[1];
    b.handle_msg(&name(0), state.clone(), Millis(0));
    b.handle_msg(&name(0), state, Millis(0));
    assert_eq!(b.stats().states_merged, 2);
    assert_eq!(changes(b), 1);
}

#[test]
fn anti_entropy_picks_peers_from_its_seed_only() {
    let run = || {
        let mut net = Net::new(5, Push::Deltas, 1 << 20);
        for node in &mut net.nodes {
            node.register::<Counter>("c").unwrap();
        }
        net.settle(10);
        let mut picks = Vec::new();
        for t in 1..20 {
            net.nodes[0].handle_tick(Millis(t * 1_000));
            while let Some(c) = net.nodes[0].poll_command() {
                if let ReplicaCommand::Send { to, .. } = c {
                    picks.push(to);
                }
            }
        }
        picks
    };
    let a = run();
    assert_eq!(a, run());
    let distinct: BTreeSet<_> = a.iter().collect();
    assert!(distinct.len() > 1, "{a:?}");
}

/// A type of one's own: the largest number seen.
#[derive(Clone, Default, PartialEq, Debug, Serialize, Deserialize)]
struct Max(u64);

impl Crdt for Max {
    type Delta = Max;
    fn merge(&mut self, other: Max) {
        self.0 = self.0.max(other.0);
    }
    fn apply_delta(&mut self, delta: Max) {
        self.merge(delta)
    }
}

#[test]
fn a_users_own_type_replicates_and_a_no_op_update_sends_nothing() {
    let mut net = Net::new(3, Push::Deltas, 1 << 20);
    for node in &mut net.nodes {
        node.register::<Max>("m").unwrap();
    }
    net.settle(10);
    assert!(net.nodes[2]
        .handle_update::<Max>("m", |_, _| Max(7))
        .unwrap());
    net.drain();
    net.settle(10);
    assert!(!net.nodes[0]
        .handle_update::<Max>("m", |_, _| Max(3))
        .unwrap());
    assert!(net.nodes[0].poll_command().is_none());
    for node in &mut net.nodes {
        assert_eq!(*node.value::<Max>("m").unwrap(), Max(7));
    }
}

#[test]
fn type_tags_hash_to_pinned_values() {
    // part of the wire protocol: a change here needs a PROTOCOL_VERSION bump
    assert_eq!(tag_hash(""), tag_hash(""));
    assert_ne!(tag_hash("a"), tag_hash("b"));
    assert_eq!(tag_hash("counter"), 2_397_471_202_440_802_896);
}

#[test]
fn a_digest_is_answered_with_the_missing_deltas_while_the_log_has_them_else_the_state() {
    for (log, want_resent, want_states) in [(256, 2, 0), (1, 0, 1)] {
        let mut net = Net::with_log(2, Push::Deltas, 1 << 20, log);
        for node in &mut net.nodes {
            node.register::<Counter>("c").unwrap();
        }
        net.settle(10);
        // two updates node 1 never hears of
        delta(&mut net, 0, 1);
        delta(&mut net, 0, 2);
        // node 1's digest: node 0 answers with what it lacks
        net.nodes[1].handle_tick(Millis(1_000));
        net.settle(10);
        assert_eq!(net.nodes[1].value::<Counter>("c").unwrap().read(), 3.into());
        assert_eq!(net.nodes[0].stats().deltas_resent, want_resent, "log {log}");
        assert_eq!(net.nodes[1].stats().states_merged, want_states, "log {log}");
    }
}

#[test]
fn a_value_comes_back_from_its_file_and_a_bad_file_is_refused_with_a_reason() {
    let mut net = pair();
    delta(&mut net, 0, 7);
    let a = &mut net.nodes[0];
    a.persist_dirty();
    let file = std::iter::from_fn(|| a.poll_command())
        .find_map(|c| match c {
            ReplicaCommand::Persist { name, file } if name == "c" => Some(file),
            _ => None,
        })
        .expect("asked to write c");
    // nothing changed since: nothing to write
    a.persist_dirty();
    assert!(a.poll_command().is_none());

    let me = |i| {
        ReplicaConfig::new(ReplicaId {
            node: name(9),
            incarnation: Incarnation(i),
        })
    };
    let mut restarted = Replicas::new(me(2));
    let c = restarted
        .register_from::<Counter>("c", Some(&file))
        .unwrap();
    assert_eq!(c.read(), 7.into());
    assert_eq!(restarted.version("c"), net.nodes[0].version("c"));

    let refused = |bytes: &[u8], name: &str| {
        let mut fresh = Replicas::new(me(3));
        match fresh.register_from::<Counter>(name, Some(bytes)) {
            Err(ReplicaError::Persisted { reason, .. }) => {
                assert!(fresh.version(name).is_none(), "nothing registered");
                reason
            }
            other => panic!("{other:?}"),
        }
    };
    let mut flipped = file.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 1;
    assert!(refused(&flipped, "c").contains("checksum"));
    let mut other_version = file.clone();
    other_version[4] = 9;
    assert!(refused(&other_version, "c").contains("format 9"));
    assert!(refused(b"hello world, not a file", "c").contains("not a replicated value file"));
    assert!(refused(&file, "d").contains("not this name and type"));
    let mut set = Replicas::new(me(4));
    assert!(matches!(
        set.register_from::<Set>("c", Some(&file)),
        Err(ReplicaError::Persisted { .. })
    ));
}

#[test]
fn value_file_names_are_safe_and_distinct() {
    use super::persist::file_name;
    assert_eq!(file_name("visits"), "visits.rdv");
    assert_eq!(file_name("a/b"), "x612f62.rdv");
    assert_eq!(file_name("x1"), "x7831.rdv");
    assert_eq!(file_name(".."), "x2e2e.rdv");
    assert_ne!(file_name("x61"), file_name("a"));
}
