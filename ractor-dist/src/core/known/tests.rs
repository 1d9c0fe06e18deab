use proptest::prelude::*;

use super::*;

fn n(s: &str) -> NodeName {
    NodeName::new(s)
}

/// Applies the delta `f` makes of `set` (when it makes one) to `set`.
fn step(set: &mut KnownNodes, f: impl FnOnce(&KnownNodes) -> Option<KnownNodes>) {
    if let Some(d) = f(set) {
        set.apply_delta(d);
    }
}

#[test]
fn a_removed_node_does_not_come_back_through_gossip_of_older_states() {
    let mut a = KnownNodes::default();
    step(&mut a, |s| s.observe(&n("x"), "h:1"));
    // b holds the same state (gossiped) from before the removal
    let b_before = a.clone();
    step(&mut a, |s| s.remove(&n("x")));
    assert!(a.is_removed(&n("x")));
    // b's older state, and an automatic observe on b that had not heard of the removal
    let mut b = b_before.clone();
    step(&mut b, |s| s.observe(&n("x"), "h:1")); // present already: nothing
    a.merge(b);
    assert!(a.is_removed(&n("x")), "an older state brought x back");
    // a node that never knew x met it concurrently with the removal: the tombstone wins
    let mut c = KnownNodes::default();
    step(&mut c, |s| s.observe(&n("x"), "h:1"));
    a.merge(c);
    assert!(a.is_removed(&n("x")));
    // an observe after the removal changes nothing
    assert_eq!(a.observe(&n("x"), "h:1"), None);
    assert_eq!(a.all(&n("a")), vec![n("a")]);
}

#[test]
fn an_add_after_the_remove_brings_the_node_back_everywhere() {
    let mut a = KnownNodes::default();
    step(&mut a, |s| s.observe(&n("x"), "h:1"));
    step(&mut a, |s| s.remove(&n("x")));
    let old = a.clone();
    step(&mut a, |s| s.add(&n("x"), "h:2"));
    assert!(a.is_present(&n("x")));
    assert_eq!(a.entries()[&n("x")].generation, 1);
    assert_eq!(a.entries()[&n("x")].addr, "h:2");
    // the older state (removed in generation 0) does not undo it, in either order
    let mut b = old.clone();
    b.merge(a.clone());
    a.merge(old);
    assert_eq!(a, b);
    assert!(b.is_present(&n("x")));
    // and it can be removed again
    step(&mut b, |s| s.remove(&n("x")));
    a.merge(b.clone());
    assert!(a.is_removed(&n("x")));
}

#[test]
fn deltas_change_only_what_they_must() {
    let mut a = KnownNodes::default();
    assert!(
        a.remove(&n("never")).is_some(),
        "an unknown node can be removed"
    );
    step(&mut a, |s| s.observe(&n("x"), "h:1"));
    assert_eq!(a.observe(&n("x"), "h:1"), None);
    assert_eq!(a.add(&n("x"), "h:1"), None);
    // a new address bumps the address stamp only
    step(&mut a, |s| s.observe(&n("x"), "h:9"));
    let e = &a.entries()[&n("x")];
    assert_eq!(
        (e.generation, e.removed, e.addr_stamp, e.addr.as_str()),
        (0, false, 1, "h:9")
    );
    step(&mut a, |s| s.remove(&n("x")));
    assert_eq!(a.remove(&n("x")), None);
    assert_eq!(a.present().count(), 0);
    assert_eq!(a.removed(), BTreeSet::from([n("x")]));
}

#[test]
fn a_node_leaves_only_when_it_learns_that_it_was_removed_while_a_member() {
    let me = n("me");
    let empty = KnownNodes::default();
    let present = empty.observe(&me, "h:1").unwrap();
    let mut removed = present.clone();
    step(&mut removed, |s| s.remove(&me));
    let mut removed_unmet = KnownNodes::default();
    step(&mut removed_unmet, |s| s.remove(&me));
    // (old, new, a member, must leave)
    let table = [
        (&present, &removed, true, true),
        // a member that never saw itself present (a full state after a partition)
        (&empty, &removed, true, true),
        (&empty, &removed_unmet, true, true),
        // a fresh node refused at hello, learning why (its history included)
        (&empty, &removed, false, false),
        (&present, &removed, false, false),
        (&removed, &removed, true, false), // restarted from a file that says so
        (&removed, &present, true, false), // added back
        (&present, &present, true, false),
    ];
    for (i, (old, new, member, leaves)) in table.into_iter().enumerate() {
        assert_eq!(self_removed(&me, old, new, member), leaves, "row {i}");
    }
}

#[test]
fn the_machine_starts_from_its_file_and_refuses_a_bad_one() {
    use crate::core::replicated::{ReplicaCommand, ReplicaId};
    use crate::core::{Incarnation, Millis};
    let id = ReplicaId {
        node: n("a"),
        incarnation: Incarnation(1),
    };
    let config = ReplicaConfig {
        persist: true,
        ..ReplicaConfig::new(id)
    };
    let mut m = machine(config.clone(), None).unwrap();
    m.handle_update::<KnownNodes>(KNOWN_NODES, |k, _| k.observe(&n("b"), "h:2").unwrap())
        .unwrap();
    m.handle_tick(Millis(0));
    let mut file = None;
    while let Some(c) = m.poll_command() {
        if let ReplicaCommand::Persist { name, file: f } = c {
            assert_eq!(name, KNOWN_NODES);
            file = Some(f);
        }
    }
    let file = file.expect("the known set was not persisted");
    let mut again = machine(config.clone(), Some(&file)).unwrap();
    let known = again.value::<KnownNodes>(KNOWN_NODES).unwrap();
    assert!(known.is_present(&n("b")));
    let mut corrupt = file.clone();
    let last = corrupt.len() - 9;
    corrupt[last] ^= 0xff;
    let err = machine(config.clone(), Some(&corrupt)).unwrap_err();
    assert!(err.to_string().contains("checksum"), "{err}");
    let mut other_version = file.clone();
    other_version[4] = 99;
    let err = machine(config, Some(&other_version)).unwrap_err();
    assert!(err.to_string().contains("format 99"), "{err}");
}

#[test]
fn only_known_set_messages_are_taken_by_the_engine() {
    use crate::core::replicated::{DigestEntry, VersionVector};
    let digest = |name: &str| ReplicaMsg::Digest {
        entries: vec![DigestEntry {
            name: name.to_string(),
            tag: 0,
            version: VersionVector::default(),
        }],
        reply: true,
    };
    assert!(is_known_msg(&digest(KNOWN_NODES)));
    assert!(!is_known_msg(&digest("visits")));
}

fn entry() -> impl Strategy<Value = (String, KnownEntry)> {
    (
        prop::sample::select(vec!["a", "b", "c"]),
        0u64..3,
        any::<bool>(),
        0u64..3,
        prop::sample::select(vec!["h:1", "h:2", ""]),
    )
        .prop_map(|(name, generation, removed, addr_stamp, addr)| {
            (
                name.to_string(),
                KnownEntry {
                    generation,
                    removed,
                    addr_stamp,
                    addr: addr.to_string(),
                },
            )
        })
}

fn set() -> impl Strategy<Value = KnownNodes> {
    prop::collection::vec(entry(), 0..4).prop_map(|entries| {
        let mut s = KnownNodes::default();
        for (name, e) in entries {
            s.merge(KnownNodes::one(&n(&name), e));
        }
        s
    })
}

proptest! {
    /// The merge is a join: commutative, associative, idempotent.
    #[test]
    fn merge_is_a_join(a in set(), b in set(), c in set()) {
        let mut ab = a.clone();
        ab.merge(b.clone());
        let mut ba = b.clone();
        ba.merge(a.clone());
        prop_assert_eq!(&ab, &ba);
        let mut ab_c = ab.clone();
        ab_c.merge(c.clone());
        let mut bc = b.clone();
        bc.merge(c.clone());
        let mut a_bc = a.clone();
        a_bc.merge(bc);
        prop_assert_eq!(&ab_c, &a_bc);
        let mut aa = a.clone();
        aa.merge(a.clone());
        prop_assert_eq!(aa, a);
    }
}
