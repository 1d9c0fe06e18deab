use super::*;

fn n(s: &str) -> NodeName {
    NodeName::new(s)
}

fn drain(c: &mut HandoffCore) -> Vec<HandoffCommand> {
    std::iter::from_fn(|| c.poll_command()).collect()
}

fn placement(names: &[&str]) -> Placement {
    Placement::new(crate::core::Epoch(1), names.iter().map(|s| n(s)))
}

/// Names owned by `owner` under `p`.
fn owned_by(p: &Placement, owner: &str, count: usize) -> Vec<ActorKey> {
    (0..)
        .map(|i| ActorKey::new(format!("k{i}")))
        .filter(|k| p.owner_of(k).map(|o| o.as_str()) == Some(owner))
        .take(count)
        .collect()
}

/// A core for `me` in a first view of `p` with `peer`, hosting `key` (`Resume`), its
/// first commands drained.
fn moving_one(
    me: NodeName,
    config: HandoffConfig,
    p: &Placement,
    peer: NodeName,
    key: &ActorKey,
) -> HandoffCore {
    let mut core = HandoffCore::new(me, config);
    core.handle_view(
        ViewId(1),
        p,
        [peer].into(),
        [(key.clone(), HandoffMode::Resume)],
        false,
        Millis(0),
    );
    drain(&mut core);
    core
}

#[test]
fn join_drains_only_names_owned_by_the_newcomer_and_stays_put() {
    let before = placement(&["a", "b"]);
    let after = placement(&["a", "b", "c"]);
    let mine = owned_by(&before, "a", 50);
    let mut core = HandoffCore::new(n("a"), HandoffConfig::default());
    let hosted = mine.iter().enumerate().map(|(i, k)| {
        let mode = if i % 5 == 0 {
            HandoffMode::Stay
        } else {
            HandoffMode::Resume
        };
        (k.clone(), mode)
    });
    core.handle_view(
        ViewId(2),
        &after,
        [n("b"), n("c")].into(),
        hosted,
        false,
        Millis(0),
    );
    let cmds = drain(&mut core);
    assert_eq!(cmds[0], HandoffCommand::Announce { view: ViewId(2) });
    for c in &cmds[1..] {
        match c {
            HandoffCommand::Drain { key, to } => {
                assert_eq!(to.as_str(), "c");
                assert_eq!(after.owner_of(key), Some(&n("c")));
                let i = mine.iter().position(|k| k == key).unwrap();
                assert_ne!(i % 5, 0, "a Stay actor was drained");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[test]
fn batches_respect_flow_control_and_acks_release_more() {
    let p = placement(&["a", "b"]);
    let keys = owned_by(&p, "b", 10);
    let config = HandoffConfig {
        deadline_ms: 1000,
        batch_bytes: 100,
        max_inflight: 2,
        ..HandoffConfig::default()
    };
    let mut core = HandoffCore::new(n("a"), config);
    core.handle_view(
        ViewId(1),
        &p,
        [n("b")].into(),
        keys.iter().map(|k| (k.clone(), HandoffMode::Resume)),
        false,
        Millis(0),
    );
    drain(&mut core);
    for k in &keys {
        core.handle_drained(k, 60, Millis(1));
    }
    let sent: Vec<_> = drain(&mut core)
        .into_iter()
        .filter_map(|c| match c {
            HandoffCommand::SendBatch { batch, keys, .. } => Some((batch, keys)),
            _ => None,
        })
        .collect();
    // 60-byte snapshots in 100-byte batches: one per batch, two in flight.
    assert_eq!(sent.len(), 2);
    assert!(sent.iter().all(|(_, k)| k.len() == 1));
    core.handle_ack(&n("b"), sent[0].0, &[], Millis(2));
    let after_ack = drain(&mut core);
    assert!(matches!(after_ack[0], HandoffCommand::Moved { .. }));
    assert!(matches!(after_ack[1], HandoffCommand::SendBatch { .. }));
    assert_eq!(core.moving_out(), 9);
}

#[test]
fn actors_drained_together_leave_in_one_batch_not_one_each() {
    let p = placement(&["a", "b"]);
    let keys = owned_by(&p, "b", 10);
    let config = HandoffConfig {
        deadline_ms: 1000,
        batch_bytes: 1000,
        max_inflight: 4,
        ..HandoffConfig::default()
    };
    let batches = |together: bool| {
        let mut core = HandoffCore::new(n("a"), config);
        core.handle_view(
            ViewId(1),
            &p,
            [n("b")].into(),
            keys.iter().map(|k| (k.clone(), HandoffMode::Resume)),
            false,
            Millis(0),
        );
        drain(&mut core);
        if together {
            core.handle_drained_all(keys.iter().map(|k| (k.clone(), 10)), Millis(1));
        } else {
            for k in &keys {
                core.handle_drained(k, 10, Millis(1));
            }
        }
        drain(&mut core)
            .into_iter()
            .filter_map(|c| match c {
                HandoffCommand::SendBatch { keys, .. } => Some(keys.len()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(batches(true), vec![10]);
    // One at a time, each of the first ones leaves alone while the window has room.
    assert_eq!(batches(false), vec![1, 1, 1, 1]);
}

#[test]
fn done_waits_for_every_adoption_and_for_acks() {
    let p = placement(&["a", "b", "c"]);
    let key = owned_by(&p, "b", 1).pop().unwrap();
    let mut core = HandoffCore::new(n("a"), HandoffConfig::default());
    core.handle_view(
        ViewId(7),
        &p,
        [n("b"), n("c")].into(),
        [(key.clone(), HandoffMode::Restart)],
        false,
        Millis(0),
    );
    drain(&mut core);
    core.handle_view_adopted(&n("b"), ViewId(7));
    core.handle_view_adopted(&n("c"), ViewId(6)); // another view does not count
    assert!(drain(&mut core).is_empty());
    core.handle_view_adopted(&n("c"), ViewId(7));
    // c has nothing coming: done at once; b waits for its handoff.
    assert_eq!(
        drain(&mut core),
        vec![HandoffCommand::SendDone {
            to: n("c"),
            view: ViewId(7)
        }]
    );
    core.handle_drained(&key, 10, Millis(1));
    let batch = match drain(&mut core).pop() {
        Some(HandoffCommand::SendBatch { batch, .. }) => batch,
        other => panic!("{other:?}"),
    };
    core.handle_ack(&n("b"), batch, &[], Millis(2));
    assert_eq!(
        drain(&mut core),
        vec![
            HandoffCommand::Moved { key, to: n("b") },
            HandoffCommand::SendDone {
                to: n("b"),
                view: ViewId(7)
            }
        ]
    );
}

#[test]
fn unsettled_node_parks_what_a_handoff_may_still_bring() {
    let p = placement(&["a", "b"]);
    let mut core = HandoffCore::new(n("b"), HandoffConfig::default());
    core.handle_view(ViewId(3), &p, [n("a")].into(), Vec::new(), false, Millis(0));
    drain(&mut core);
    let k = owned_by(&p, "b", 1).pop().unwrap();
    assert_eq!(
        core.admit(&k, Some(&n("stranger")), false, false),
        Admission::Park
    );
    assert_eq!(core.admit(&k, Some(&n("a")), false, true), Admission::Park);
    assert_eq!(
        core.admit(&k, Some(&n("a")), false, false),
        Admission::Deliver
    );
    core.handle_migrated_in(&n("a"), k.clone(), HandoffMode::Resume, Millis(0));
    assert_eq!(
        core.admit(&k, Some(&n("a")), true, true),
        Admission::Deliver
    );
    assert_eq!(core.admit(&k, None, true, true), Admission::Park);
    core.handle_done(&n("a"), ViewId(3));
    assert_eq!(
        drain(&mut core),
        vec![HandoffCommand::Settled { by_deadline: false }]
    );
    assert_eq!(core.admit(&k, None, true, true), Admission::Deliver);
}

#[test]
fn deadlines_force_stuck_drains_retry_batches_and_settle() {
    let p = placement(&["a", "b"]);
    let keys = owned_by(&p, "b", 2);
    let config = HandoffConfig {
        deadline_ms: 100,
        ..HandoffConfig::default()
    };
    let mut core = HandoffCore::new(n("a"), config);
    core.handle_view(
        ViewId(1),
        &p,
        [n("b")].into(),
        keys.iter().map(|k| (k.clone(), HandoffMode::Resume)),
        false,
        Millis(0),
    );
    drain(&mut core);
    core.handle_drained(&keys[0], 5, Millis(10));
    drain(&mut core);
    core.handle_tick(Millis(150));
    let cmds = drain(&mut core);
    assert!(cmds.contains(&HandoffCommand::ForceStop {
        key: keys[1].clone()
    }));
    assert!(cmds
        .iter()
        .any(|c| matches!(c, HandoffCommand::SendBatch { .. })));
    assert!(cmds.contains(&HandoffCommand::Settled { by_deadline: true }));
    assert_eq!(core.stats().forced_stops, 1);
    assert_eq!(core.stats().retries, 1);
}

#[test]
fn a_view_that_returns_the_owner_restores_locally() {
    let two = placement(&["a", "b"]);
    let one = placement(&["a"]);
    let key = owned_by(&two, "b", 1).pop().unwrap();
    let mut core = HandoffCore::new(n("a"), HandoffConfig::default());
    core.handle_view(
        ViewId(1),
        &two,
        [n("b")].into(),
        [(key.clone(), HandoffMode::Resume)],
        false,
        Millis(0),
    );
    drain(&mut core);
    core.handle_peer_gone(&n("b"));
    core.handle_view(
        ViewId(2),
        &one,
        BTreeSet::new(),
        Vec::new(),
        false,
        Millis(1),
    );
    drain(&mut core);
    core.handle_drained(&key, 5, Millis(2));
    assert_eq!(
        drain(&mut core),
        vec![HandoffCommand::RestoreLocal {
            key,
            refused: false
        }]
    );
    assert_eq!(core.moving_out(), 0);
}

#[test]
fn leaving_node_moves_everything_including_stay() {
    let without_me = placement(&["b", "c"]);
    let keys: Vec<ActorKey> = (0..20).map(|i| ActorKey::new(format!("s{i}"))).collect();
    let mut core = HandoffCore::new(n("a"), HandoffConfig::default());
    core.handle_view(
        ViewId(9),
        &without_me,
        [n("b"), n("c")].into(),
        keys.iter().map(|k| (k.clone(), HandoffMode::Stay)),
        true,
        Millis(0),
    );
    let drains = drain(&mut core)
        .into_iter()
        .filter(|c| matches!(c, HandoffCommand::Drain { .. }))
        .count();
    assert_eq!(drains, keys.len());
}

#[test]
fn markers_that_arrive_before_the_view_are_remembered() {
    let p = placement(&["a", "b"]);
    let mut core = HandoffCore::new(n("a"), HandoffConfig::default());
    core.handle_view_adopted(&n("b"), ViewId(5));
    core.handle_done(&n("b"), ViewId(5));
    core.handle_view(ViewId(5), &p, [n("b")].into(), Vec::new(), false, Millis(0));
    assert_eq!(
        drain(&mut core),
        vec![
            HandoffCommand::Announce { view: ViewId(5) },
            HandoffCommand::SendDone {
                to: n("b"),
                view: ViewId(5)
            },
            HandoffCommand::Settled { by_deadline: false },
        ]
    );
}

#[test]
fn an_older_done_does_not_settle_a_repeated_view() {
    let p = placement(&["a", "b"]);
    let mut core = HandoffCore::new(n("a"), HandoffConfig::default());
    // b finished view 5, then adopted view 6: its Done(5) no longer counts.
    core.handle_view_adopted(&n("b"), ViewId(5));
    core.handle_done(&n("b"), ViewId(5));
    core.handle_view_adopted(&n("b"), ViewId(6));
    core.handle_view(ViewId(5), &p, [n("b")].into(), Vec::new(), false, Millis(0));
    assert!(!drain(&mut core)
        .iter()
        .any(|c| matches!(c, HandoffCommand::Settled { .. })));
    assert!(!core.is_settled());
}

#[test]
fn an_actor_whose_final_state_is_being_snapshotted_is_never_force_stopped() {
    let p = placement(&["a", "b"]);
    let key = owned_by(&p, "b", 1).pop().unwrap();
    let config = HandoffConfig {
        deadline_ms: 100,
        ..HandoffConfig::default()
    };
    let mut core = moving_one(n("a"), config, &p, n("b"), &key);
    core.handle_exited(&key);
    for t in [150, 300, 450] {
        core.handle_tick(Millis(t));
        let cmds = drain(&mut core);
        assert!(
            !cmds
                .iter()
                .any(|c| matches!(c, HandoffCommand::ForceStop { .. })),
            "{cmds:?}"
        );
    }
    assert_eq!(core.stats().forced_stops, 0);
    // The snapshot (or its fallback) arrives: it is batched as usual.
    core.handle_drained(&key, 5, Millis(500));
    assert!(drain(&mut core)
        .iter()
        .any(|c| matches!(c, HandoffCommand::SendBatch { .. })));
}

/// a and b adopt the same view with nothing to move; b's adoption reaches a, and a's
/// reaches b only when `delivered` (else it was sent while b's session was not ready).
fn barrier(delivered: bool) -> (HandoffCore, HandoffCore, ViewId) {
    let p = placement(&["a", "b"]);
    let view = ViewId(7);
    let mut a = HandoffCore::new(n("a"), HandoffConfig::default());
    let mut b = HandoffCore::new(n("b"), HandoffConfig::default());
    a.handle_view(view, &p, [n("b")].into(), [], false, Millis(0));
    b.handle_view(view, &p, [n("a")].into(), [], false, Millis(0));
    drain(&mut a);
    drain(&mut b);
    a.handle_view_adopted(&n("b"), view);
    if delivered {
        b.handle_view_adopted(&n("a"), view);
    }
    let from_a = drain(&mut a);
    let from_b = drain(&mut b);
    for cmd in from_a {
        if let HandoffCommand::SendDone { view, .. } = cmd {
            b.handle_done(&n("a"), view);
        }
    }
    for cmd in from_b {
        if let HandoffCommand::SendDone { view, .. } = cmd {
            a.handle_done(&n("b"), view);
        }
    }
    drain(&mut a);
    drain(&mut b);
    (a, b, view)
}

fn reminders(c: &mut HandoffCore) -> Vec<(ViewId, Vec<NodeName>, Vec<NodeName>)> {
    drain(c)
        .into_iter()
        .filter_map(|c| match c {
            HandoffCommand::Remind {
                view,
                adopted,
                done,
            } => Some((view, adopted, done)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_lost_view_marker_is_repeated_until_the_barrier_completes() {
    let (mut a, mut b, view) = barrier(false);
    // b never heard a's adoption, so it never says its handoffs are done: a waits.
    assert!(!a.is_settled());
    a.handle_tick(Millis(100));
    assert_eq!(reminders(&mut a), vec![(view, vec![n("b")], vec![n("b")])]);
    // The reminder arrives: b answers, and a settles by the barrier, not the deadline.
    b.handle_view_adopted(&n("a"), view);
    assert!(drain(&mut b).contains(&HandoffCommand::SendDone { to: n("a"), view }));
    a.handle_done(&n("b"), view);
    assert!(a.is_settled() && b.is_settled());
    assert_eq!(a.stats().settled_by_deadline, 0);
    // Settled nodes remind nobody.
    a.handle_tick(Millis(200));
    b.handle_tick(Millis(200));
    assert!(reminders(&mut a).is_empty() && reminders(&mut b).is_empty());
}

#[test]
fn without_a_lost_marker_nobody_is_reminded() {
    let (mut a, mut b, _) = barrier(true);
    assert!(a.is_settled() && b.is_settled());
    a.handle_tick(Millis(100));
    b.handle_tick(Millis(100));
    assert!(reminders(&mut a).is_empty() && reminders(&mut b).is_empty());
}

/// Sends `key` (hosted here, owned by `to` in `p`) and returns its batch id.
fn send_one(core: &mut HandoffCore, p: &Placement, key: &ActorKey, leaving: bool) -> BatchId {
    let peers: BTreeSet<NodeName> = p
        .members()
        .iter()
        .filter(|m| **m != core.me)
        .cloned()
        .collect();
    core.handle_view(
        ViewId(1),
        p,
        peers,
        [(key.clone(), HandoffMode::Resume)],
        leaving,
        Millis(0),
    );
    drain(core);
    core.handle_drained(key, 10, Millis(1));
    match drain(core).pop() {
        Some(HandoffCommand::SendBatch { batch, .. }) => batch,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_refused_name_stays_here_and_is_not_offered_to_its_refuser_again() {
    let p = placement(&["a", "b"]);
    let key = owned_by(&p, "b", 1).pop().unwrap();
    let mut core = HandoffCore::new(n("a"), HandoffConfig::default());
    let batch = send_one(&mut core, &p, &key, false);
    core.handle_ack(&n("b"), batch, std::slice::from_ref(&key), Millis(2));
    let after = drain(&mut core);
    assert!(
        after.contains(&HandoffCommand::RestoreLocal {
            key: key.clone(),
            refused: true
        }),
        "{after:?}"
    );
    assert!(!after
        .iter()
        .any(|c| matches!(c, HandoffCommand::Moved { .. })));
    assert!(core.was_refused(&key));
    assert_eq!((core.stats().refused, core.stats().moved_out), (1, 0));
    // The next view (b still its owner) does not drain it again.
    core.handle_view(
        ViewId(2),
        &p,
        [n("b")].into(),
        [(key.clone(), HandoffMode::Resume)],
        false,
        Millis(3),
    );
    assert!(!drain(&mut core)
        .iter()
        .any(|c| matches!(c, HandoffCommand::Drain { .. })));
    // b goes (it may come back with the kind): its refusal is forgotten.
    core.handle_peer_gone(&n("b"));
    assert!(!core.was_refused(&key));
}

#[test]
fn a_leaving_node_hands_a_refused_name_to_the_next_of_its_ranking() {
    let all = placement(&["a", "b", "c", "d"]);
    // Owned by b once a (leaving) is out, with c ranked after b.
    let without_a = placement(&["b", "c", "d"]);
    let key = (0..)
        .map(|i| ActorKey::new(format!("k{i}")))
        .find(|k| {
            all.ranked(k).first() == Some(&n("a")) && without_a.ranked(k)[..2] == [n("b"), n("c")]
        })
        .unwrap();
    let mut core = HandoffCore::new(n("a"), HandoffConfig::default());
    let batch = send_one(&mut core, &without_a, &key, true);
    core.handle_ack(&n("b"), batch, std::slice::from_ref(&key), Millis(2));
    let after = drain(&mut core);
    assert!(
        after.iter().any(|c| matches!(c,
            HandoffCommand::SendBatch { to, keys, .. } if *to == n("c") && keys == std::slice::from_ref(&key))),
        "{after:?}"
    );
    assert_eq!(core.target_of(&key), Some(&n("c")));
    // c takes it: it moved, and its refusals are forgotten.
    let batch = after
        .iter()
        .find_map(|c| match c {
            HandoffCommand::SendBatch { batch, .. } => Some(*batch),
            _ => None,
        })
        .unwrap();
    core.handle_ack(&n("c"), batch, &[], Millis(3));
    assert!(drain(&mut core).contains(&HandoffCommand::Moved {
        key: key.clone(),
        to: n("c")
    }));
    assert!(!core.was_refused(&key));
}

/// A name its owner refused, kept on `b`, must not move when the ranking below its owner
/// changes (a node with the kind joins): two nodes with the kind would otherwise pass it
/// back and forth (each sending it to the owner, refused, kept, asked to yield, ...).
#[test]
fn a_refused_name_stays_put_when_the_ranking_below_its_owner_changes() {
    let before = placement(&["a", "b"]);
    let after = placement(&["a", "b", "c"]);
    let owned_by_d = placement(&["a", "b", "c", "d"]);
    // Owned by a in the first two views, with c ranked above b once it joins; by d once
    // d joins.
    let key = (0..)
        .map(|i| ActorKey::new(format!("k{i}")))
        .find(|k| {
            before.owner_of(k) == Some(&n("a"))
                && after.ranked(k)[..2] == [n("a"), n("c")]
                && owned_by_d.owner_of(k) == Some(&n("d"))
        })
        .unwrap();
    let mut core = HandoffCore::new(n("b"), HandoffConfig::default());
    let batch = send_one(&mut core, &before, &key, false);
    core.handle_ack(&n("a"), batch, std::slice::from_ref(&key), Millis(2));
    assert!(drain(&mut core).contains(&HandoffCommand::RestoreLocal {
        key: key.clone(),
        refused: true
    }));
    assert_eq!(core.refused_by(&key), vec![n("a")]);
    core.handle_view(
        ViewId(2),
        &after,
        [n("a"), n("c")].into(),
        [(key.clone(), HandoffMode::Resume)],
        false,
        Millis(3),
    );
    let cmds = drain(&mut core);
    assert!(
        !cmds
            .iter()
            .any(|c| matches!(c, HandoffCommand::Drain { .. })),
        "{cmds:?}"
    );
    // A new owner that did not refuse it takes it.
    core.handle_view(
        ViewId(3),
        &owned_by_d,
        [n("a"), n("c"), n("d")].into(),
        [(key.clone(), HandoffMode::Resume)],
        false,
        Millis(4),
    );
    assert!(drain(&mut core).contains(&HandoffCommand::Drain {
        key: key.clone(),
        to: n("d")
    }));
}

/// The refusals travel with a name: where it arrives, a refusing owner is not its target,
/// so the name stays there (registered with the owner) instead of being sent to be
/// refused again.
#[test]
fn a_name_that_arrives_with_its_owners_refusal_stays_where_it_arrived() {
    let p = placement(&["a", "c"]);
    let key = owned_by(&p, "a", 1).pop().unwrap();
    let mut core = HandoffCore::new(n("c"), HandoffConfig::default());
    core.handle_view(ViewId(1), &p, [n("a")].into(), [], false, Millis(0));
    drain(&mut core);
    // Without the refusal, it would go on to its owner.
    core.handle_migrated_in(&n("b"), key.clone(), HandoffMode::Resume, Millis(1));
    assert_eq!(core.target_of(&key), Some(&n("a")));
    let mut core = HandoffCore::new(n("c"), HandoffConfig::default());
    core.handle_view(ViewId(1), &p, [n("a")].into(), [], false, Millis(0));
    drain(&mut core);
    core.note_refusals(&key, [n("a"), n("c")]);
    assert_eq!(
        core.refused_by(&key),
        vec![n("a")],
        "never this node itself"
    );
    core.handle_migrated_in(&n("b"), key.clone(), HandoffMode::Resume, Millis(1));
    assert!(!core.is_moving(&key));
    assert!(core.was_refused(&key));
}

/// A source whose moves to this node outlast the deadline says so every tick: this node's
/// barrier waits for it (a live, busy source), up to the patience; a silent one is given
/// up on after the deadline. The source side tells each target of an actor on its way.
#[test]
fn a_barrier_waits_for_a_busy_source_up_to_its_patience() {
    let p = placement(&["a", "b"]);
    let config = HandoffConfig {
        deadline_ms: 100,
        patience_ms: 400,
        ..HandoffConfig::default()
    };
    let settles = |core: &mut HandoffCore, t: u64| {
        core.handle_tick(Millis(t));
        drain(core).contains(&HandoffCommand::Settled { by_deadline: true })
    };
    // `b` waits for `a`, which keeps saying it is busy.
    let mut b = HandoffCore::new(n("b"), config);
    b.handle_view(ViewId(1), &p, [n("a")].into(), [], false, Millis(0));
    drain(&mut b);
    b.handle_view_adopted(&n("a"), ViewId(1));
    for t in (50..=400).step_by(50) {
        b.handle_busy(&n("a"), Millis(t));
        assert!(!settles(&mut b, t), "settled at {t} ms although a is busy");
    }
    b.handle_busy(&n("a"), Millis(450));
    assert!(settles(&mut b, 450), "past the patience");
    // Silent, it is given up on after the deadline (a busy word from a non-participant
    // counts for nothing).
    let mut b = HandoffCore::new(n("b"), config);
    b.handle_view(ViewId(1), &p, [n("a")].into(), [], false, Millis(0));
    drain(&mut b);
    b.handle_busy(&n("a"), Millis(20));
    b.handle_busy(&n("z"), Millis(120));
    assert!(!settles(&mut b, 100));
    assert!(settles(&mut b, 130));
    // The source says it is busy to the target of each actor on its way, every tick.
    let key = owned_by(&p, "b", 1).pop().unwrap();
    let mut a = moving_one(n("a"), config, &p, n("b"), &key);
    a.handle_tick(Millis(50));
    assert!(drain(&mut a).contains(&HandoffCommand::Busy { to: vec![n("b")] }));
    a.handle_drained(&key, 10, Millis(60));
    let batch = match drain(&mut a).pop() {
        Some(HandoffCommand::SendBatch { batch, .. }) => batch,
        other => panic!("{other:?}"),
    };
    a.handle_ack(&n("b"), batch, &[], Millis(70));
    drain(&mut a);
    a.handle_tick(Millis(80));
    assert!(!drain(&mut a)
        .iter()
        .any(|c| matches!(c, HandoffCommand::Busy { .. })));
}

/// Slow-network simulation, seed 1703: a name on its way to `b` when a view made `c` its
/// owner goes on from `b` to `c`; `c` parks casts for it, and settled by deadline and
/// dropped them because only `b` heard this node was busy. The owner hears it too.
#[test]
fn a_source_busy_with_a_name_sent_by_an_older_view_tells_its_owner_too() {
    let (before, after) = (placement(&["a", "b"]), placement(&["a", "b", "c"]));
    let key = (0..)
        .map(|i| ActorKey::new(format!("k{i}")))
        .find(|k| before.owner_of(k) == Some(&n("b")) && after.owner_of(k) == Some(&n("c")))
        .unwrap();
    let config = HandoffConfig::default();
    let mut a = moving_one(n("a"), config, &before, n("b"), &key);
    a.handle_drained(&key, 10, Millis(10));
    assert!(matches!(
        drain(&mut a).pop(),
        Some(HandoffCommand::SendBatch { .. })
    ));
    a.handle_view(
        ViewId(2),
        &after,
        [n("b"), n("c")].into(),
        [],
        false,
        Millis(20),
    );
    drain(&mut a);
    a.handle_tick(Millis(30));
    assert!(drain(&mut a).contains(&HandoffCommand::Busy {
        to: vec![n("b"), n("c")]
    }));
}

/// A refused name on its way to a new owner that leaves before it arrives stays here (its
/// refusing owner is the owner again): it is not sent on to the leaving node.
#[test]
fn a_refused_name_bound_for_a_new_owner_that_leaves_stays_here() {
    let with_d = placement(&["a", "b", "d"]);
    let without_d = placement(&["a", "b"]);
    let key = (0..)
        .map(|i| ActorKey::new(format!("k{i}")))
        .find(|k| with_d.owner_of(k) == Some(&n("d")) && without_d.owner_of(k) == Some(&n("a")))
        .unwrap();
    let mut core = HandoffCore::new(n("b"), HandoffConfig::default());
    let batch = send_one(&mut core, &without_d, &key, false);
    core.handle_ack(&n("a"), batch, std::slice::from_ref(&key), Millis(2));
    drain(&mut core);
    core.handle_view(
        ViewId(2),
        &with_d,
        [n("a"), n("d")].into(),
        [(key.clone(), HandoffMode::Resume)],
        false,
        Millis(3),
    );
    assert!(drain(&mut core).contains(&HandoffCommand::Drain {
        key: key.clone(),
        to: n("d")
    }));
    // d announces its leave (still connected: a participant, not an owner).
    core.handle_view(
        ViewId(3),
        &without_d,
        [n("a"), n("d")].into(),
        [],
        false,
        Millis(4),
    );
    drain(&mut core);
    assert_eq!(core.target_of(&key), Some(&n("b")));
    core.handle_drained(&key, 10, Millis(5));
    // It stays by design (its owner refused it), not as a fallback.
    assert_eq!(
        drain(&mut core),
        vec![HandoffCommand::RestoreLocal { key, refused: true }]
    );
}

/// Two copies of a name met at a node that does not own it (copies meet where one of them
/// runs): the surviving copy goes on to the owner (the containers test's heal left names
/// on a non-owner, and nodes named different hosts for them until the next view change);
/// a `Stay` one stays, and an unsettled node waits for its settle.
#[test]
fn a_copy_that_survives_a_conflict_off_its_owner_goes_to_the_owner() {
    let (mut a, _, _) = barrier(true);
    assert!(a.is_settled());
    let p = placement(&["a", "b"]);
    let keys = owned_by(&p, "b", 2);
    let mine = owned_by(&p, "a", 1);
    a.handle_resolved(keys[0].clone(), HandoffMode::Resume, Millis(10));
    a.handle_resolved(keys[1].clone(), HandoffMode::Stay, Millis(10));
    a.handle_resolved(mine[0].clone(), HandoffMode::Resume, Millis(10));
    assert_eq!(
        drain(&mut a),
        vec![HandoffCommand::Drain {
            key: keys[0].clone(),
            to: n("b"),
        }]
    );
    assert!(a.is_moving(&keys[0]));

    // Not settled yet: it waits for the settle, then goes.
    let mut c = HandoffCore::new(n("a"), HandoffConfig::default());
    c.handle_view(ViewId(3), &p, [n("b")].into(), [], false, Millis(0));
    drain(&mut c);
    c.handle_resolved(keys[0].clone(), HandoffMode::Resume, Millis(10));
    assert!(drain(&mut c).is_empty());
    assert!(c.is_moving(&keys[0]));
    c.handle_view_adopted(&n("b"), ViewId(3));
    c.handle_done(&n("b"), ViewId(3));
    assert!(drain(&mut c).iter().any(|cmd| matches!(
        cmd,
        HandoffCommand::Drain { key, to } if *key == keys[0] && *to == n("b")
    )));
}
