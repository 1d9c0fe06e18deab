use std::collections::BTreeMap;

use super::super::*;
use super::*;
use crate::core::{Epoch, Placement, Timing};

fn n(s: &str) -> NodeName {
    NodeName::new(s)
}

fn k(s: &str) -> ActorKey {
    ActorKey::from(s)
}

/// The peers of a test node: members with their incarnations.
struct TestPeers(BTreeMap<NodeName, Incarnation>);

impl TestPeers {
    fn of(names: &[&str]) -> Self {
        Self(names.iter().map(|s| (n(s), Incarnation(1))).collect())
    }
}

impl Peers for TestPeers {
    fn incarnation_of(&self, node: &NodeName) -> Option<Incarnation> {
        self.0.get(node).copied()
    }
    fn is_present(&self, node: &NodeName, incarnation: Incarnation) -> bool {
        self.0.get(node) == Some(&incarnation)
    }
    fn is_up(&self, node: &NodeName) -> bool {
        self.0.contains_key(node)
    }
    fn has_peers(&self) -> bool {
        self.0.len() > 1
    }
}

fn engine(me: &str, replicas: usize, budget: usize) -> Recovery<u64> {
    Recovery::new(RecoveryConfig {
        me: n(me),
        incarnation: Incarnation(1),
        replicas,
        frame_budget: budget,
        timing: Timing {
            heartbeat_interval_ms: 100,
            heartbeat_deadline_ms: 1_000,
            handoff_ms: 2_000,
            ..Timing::default()
        },
    })
}

fn placement(names: &[&str]) -> Placement {
    Placement::new(Epoch(1), names.iter().map(|s| n(s)))
}

fn ctx<'a>(now: u64, placement: &'a Placement, peers: &'a TestPeers) -> Ctx<'a, TestPeers> {
    Ctx {
        now: Millis(now),
        placement,
        peers,
        leaving: false,
    }
}

fn meta(me: &str, generation: u64) -> NameMeta<u64> {
    NameMeta::new(
        "k",
        vec![0; 200],
        Activation {
            generation,
            origin: n(me),
        },
    )
}

fn drain(r: &mut Recovery<u64>) -> Vec<RecoveryCommand<u64>> {
    std::iter::from_fn(|| r.poll_command()).collect()
}

fn sends(cmds: &[RecoveryCommand<u64>]) -> Vec<(NodeName, RecoveryMsg<u64>)> {
    cmds.iter()
        .filter_map(|c| match c {
            RecoveryCommand::Send { to, msg } => Some((to.clone(), msg.clone())),
            _ => None,
        })
        .collect()
}

fn events(cmds: &[RecoveryCommand<u64>]) -> Vec<RecoveryEvent> {
    cmds.iter()
        .filter_map(|c| match c {
            RecoveryCommand::Event(e) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn replicate_sends_specs_batched_under_the_frame_budget_then_drops_former_holders() {
    let mut r = engine("a", 2, 1_000);
    let p = placement(&["a", "b", "c"]);
    let peers = TestPeers::of(&["a", "b", "c"]);
    let keys: Vec<ActorKey> = (0..40).map(|i| k(&format!("n{i}"))).collect();
    let mut metas: Vec<NameMeta<u64>> = keys.iter().map(|_| meta("a", 1)).collect();
    let mut names: Vec<Hosted<'_, u64>> = keys.iter().zip(metas.iter_mut()).collect();
    r.replicate(&mut names, ctx(0, &p, &peers));
    let out = sends(&drain(&mut r));
    let mut per_node: BTreeMap<NodeName, usize> = BTreeMap::new();
    for (to, msg) in &out {
        let RecoveryMsg::Replicate { specs } = msg else {
            panic!("only specs go out first: {msg:?}");
        };
        let bytes: usize = specs.iter().map(|(k, s)| spec_size(k, s)).sum();
        // Each spec weighs 200 + key + overhead: four fit in a 1000-byte frame.
        assert!(
            specs.len() == 1 || bytes <= 1_000,
            "{bytes} bytes in one frame"
        );
        assert!(specs
            .iter()
            .all(|(_, s)| s.host == n("a") && s.generation == 1));
        *per_node.entry(to.clone()).or_default() += specs.len();
    }
    assert_eq!(per_node.values().sum::<usize>(), 40, "one holder per name");
    assert!(out.len() > 2, "batched into several frames");
    // Nothing changed: nothing is sent again.
    let mut names: Vec<Hosted<'_, u64>> = keys.iter().zip(metas.iter_mut()).collect();
    r.replicate(&mut names, ctx(0, &p, &peers));
    assert!(drain(&mut r).is_empty());

    // `c` leaves: names held on `c` go to `b`; `c` drops them once `b` confirmed.
    let p2 = placement(&["a", "b"]);
    let peers2 = TestPeers::of(&["a", "b"]);
    let on_c: Vec<usize> = (0..40)
        .filter(|i| metas[*i].holders.current()[0].0 == n("c"))
        .collect();
    assert!(!on_c.is_empty());
    let mut names: Vec<Hosted<'_, u64>> = keys.iter().zip(metas.iter_mut()).collect();
    r.replicate(&mut names, ctx(0, &p2, &peers2));
    let out = sends(&drain(&mut r));
    assert!(out
        .iter()
        .all(|(to, m)| *to == n("b") && matches!(m, RecoveryMsg::Replicate { .. })));
    for i in &on_c {
        r.handle_spec_kept(&n("b"), &keys[*i], &mut metas[*i].holders);
    }
    r.flush();
    let out = sends(&drain(&mut r));
    assert_eq!(out.len(), 1);
    let (to, RecoveryMsg::Unreplicate { keys: dropped, .. }) = &out[0] else {
        panic!("{out:?}");
    };
    assert_eq!(*to, n("c"));
    assert_eq!(dropped.len(), on_c.len());
    assert!(dropped.iter().all(|(_, host)| *host == n("a")));
}

#[test]
fn drops_and_rehosts_go_in_frames_of_at_most_4096_names() {
    let mut r = engine("a", 2, 1_000);
    let peers = TestPeers::of(&["a", "b", "c"]);
    let mut holders = SpecHolders::default();
    holders.retarget(&n("a"), vec![(n("b"), Incarnation(1))]);
    for i in 0..5_000 {
        r.unreplicate(&k(&format!("n{i}")), &holders);
        r.rehost(&k(&format!("m{i}")), &holders, &n("c"), &peers);
    }
    r.flush();
    let out = sends(&drain(&mut r));
    let sizes: Vec<(bool, usize)> = out
        .iter()
        .map(|(_, m)| match m {
            RecoveryMsg::Rehost { keys, to, .. } => {
                assert_eq!(*to, n("c"));
                (true, keys.len())
            }
            RecoveryMsg::Unreplicate { keys, .. } => (false, keys.len()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        sizes,
        vec![(true, 4096), (true, 904), (false, 4096), (false, 904)]
    );
}

#[test]
fn specs_from_another_host_are_refused_and_stale_ones_fenced() {
    let mut r = engine("b", 2, 1_000);
    let spec = |host: &str, generation| Spec {
        kind: "k".into(),
        args: vec![],
        generation,
        host: n(host),
        host_incarnation: Incarnation(1),
        seq: 0,
        checkpoint: None::<u64>,
    };
    r.handle_replicate(
        &n("a"),
        vec![(k("x"), spec("c", 1)), (k("y"), spec("a", 2))],
    );
    let cmds = drain(&mut r);
    assert_eq!(
        events(&cmds),
        vec![RecoveryEvent::SpecFromOtherHost {
            key: k("x"),
            from: n("a"),
            host: n("c")
        }]
    );
    assert_eq!(
        sends(&cmds),
        vec![(n("a"), RecoveryMsg::SpecsKept { keys: vec![k("y")] })]
    );
    assert!(r.replicas().get(&k("x")).is_none());
    // An older generation of `y` (its host was replaced by a respawn) is refused.
    r.handle_replicate(&n("a"), vec![(k("y"), spec("a", 1))]);
    let cmds = drain(&mut r);
    assert_eq!(
        events(&cmds),
        vec![RecoveryEvent::StaleSpec {
            key: k("y"),
            from: n("a")
        }]
    );
    assert!(sends(&cmds).is_empty());
    // Checkpoints: from the host, of its generation, newer than the last one.
    let table = [
        ("a", 2, 1, None),
        ("a", 2, 1, Some(ReplicaOutcome::Stale)),
        ("c", 2, 2, Some(ReplicaOutcome::Stale)),
        ("a", 1, 3, Some(ReplicaOutcome::Stale)),
        ("a", 2, 3, None),
    ];
    for (from, generation, seq, refused) in table {
        r.handle_checkpoint(&n(from), k("y"), generation, seq, seq, false);
        let got: Vec<ReplicaOutcome> = events(&drain(&mut r))
            .into_iter()
            .filter_map(|e| match e {
                RecoveryEvent::CheckpointRefused { outcome, .. } => Some(outcome),
                _ => None,
            })
            .collect();
        assert_eq!(
            got,
            refused.into_iter().collect::<Vec<_>>(),
            "{from} {generation} {seq}"
        );
    }
    assert_eq!(r.replicas().get(&k("y")).unwrap().seq, 3);
}

#[test]
fn a_delta_checkpoint_extends_the_one_kept_here_and_goes_to_the_holders_as_a_delta() {
    let mut r = engine("a", 2, 1_000);
    let mut m = meta("a", 3);
    m.holders = SpecHolders::inherit([(n("b"), n("a"))]);
    // No checkpoint to extend yet: dropped, and said so.
    r.handle_checkpointed(&k("x"), &mut m, 1, true);
    let cmds = drain(&mut r);
    assert!(sends(&cmds).is_empty());
    assert!(matches!(
        events(&cmds)[..],
        [RecoveryEvent::CheckpointRefused {
            outcome: ReplicaOutcome::Gap,
            ..
        }]
    ));
    assert_eq!((m.checkpoint, m.checkpoint_seq), (None, 0));
    // A full one, then two deltas: kept extended here (the counter's delta adds).
    r.handle_checkpointed(&k("x"), &mut m, 10, false);
    r.handle_checkpointed(&k("x"), &mut m, 2, true);
    r.handle_checkpointed(&k("x"), &mut m, 3, true);
    assert_eq!((m.checkpoint, m.checkpoint_seq), (Some(15), 3));
    let sent: Vec<(u64, u64, bool)> = sends(&drain(&mut r))
        .into_iter()
        .map(|(to, msg)| {
            assert_eq!(to, n("b"));
            match msg {
                RecoveryMsg::Checkpoint {
                    seq,
                    snapshot,
                    delta,
                    ..
                } => (seq, snapshot, delta),
                other => panic!("{other:?}"),
            }
        })
        .collect();
    assert_eq!(sent, vec![(1, 10, false), (2, 2, true), (3, 3, true)]);
}

#[test]
fn checkpoints_go_to_every_holder_unless_too_large_or_fenced() {
    let mut r = engine("a", 2, 1_000);
    let mut m = meta("a", 3);
    // No holder yet: kept here only.
    r.handle_checkpointed(&k("x"), &mut m, 7, false);
    assert!(drain(&mut r).is_empty());
    assert_eq!((m.checkpoint, m.checkpoint_seq), (Some(7), 1));
    m.holders = SpecHolders::inherit([(n("c"), n("z"))]);
    m.holders.retarget(&n("a"), vec![(n("b"), Incarnation(1))]);
    r.handle_checkpointed(&k("x"), &mut m, 8, false);
    let cmds = drain(&mut r);
    let to: Vec<NodeName> = sends(&cmds).into_iter().map(|(to, _)| to).collect();
    assert_eq!(to, vec![n("b"), n("c")], "current and former holders");
    assert!(sends(&cmds).iter().all(|(_, msg)| *msg
        == RecoveryMsg::Checkpoint {
            key: k("x"),
            generation: 3,
            seq: 2,
            snapshot: 8,
            delta: false,
        }));
    assert_eq!(events(&cmds), vec![RecoveryEvent::Checkpointed]);
    // Over the budget: kept here, counted.
    let mut small = engine("a", 2, 4);
    small.handle_checkpointed(&k("x"), &mut m, 9, false);
    assert_eq!(
        events(&drain(&mut small)),
        vec![RecoveryEvent::CheckpointTooLarge {
            key: k("x"),
            bytes: 8,
            limit: 4
        }]
    );
    assert_eq!(m.checkpoint_seq, 3);
    // A fenced node sends none.
    let peers = TestPeers::of(&["a", "b"]);
    r.handle_message_done(Millis(0), peers.has_peers(), false);
    assert!(r.handle_message(Millis(5_000), true, false));
    drain(&mut r);
    r.handle_checkpointed(&k("x"), &mut m, 10, false);
    assert!(drain(&mut r).is_empty());
    assert_eq!(m.checkpoint_seq, 4);
}

#[test]
fn the_spec_leaves_out_a_checkpoint_over_the_budget() {
    let mut m = meta("a", 2);
    m.checkpoint = Some(5);
    m.checkpoint_seq = 4;
    let spec = m.spec(&n("a"), Incarnation(3), 100);
    assert_eq!(
        (spec.seq, spec.checkpoint, spec.generation),
        (4, Some(5), 2)
    );
    let spec = m.spec(&n("a"), Incarnation(3), 4);
    assert_eq!((spec.seq, spec.checkpoint), (0, None));
}

#[test]
fn orphans_are_offered_to_their_owner_and_kept_only_where_its_replicas_are() {
    let names = ["a", "b", "c", "d"];
    // Specs of names hosted on `d`, kept on `a`.
    let mut r = engine("a", 2, 100_000);
    let keys: Vec<ActorKey> = (0..30).map(|i| k(&format!("n{i}"))).collect();
    let specs = keys
        .iter()
        .map(|key| {
            let spec = Spec {
                kind: "k".into(),
                args: vec![],
                generation: 2,
                host: n("d"),
                host_incarnation: Incarnation(1),
                seq: 1,
                checkpoint: Some(1),
            };
            (key.clone(), spec)
        })
        .collect();
    r.handle_replicate(&n("d"), specs);
    drain(&mut r);
    // `d` is gone.
    let p = placement(&names[..3]);
    let peers = TestPeers::of(&["a", "b", "c"]);
    r.offer_orphans(ctx(10, &p, &peers));
    let cmds = drain(&mut r);
    let mut offered = 0;
    for (to, msg) in sends(&cmds) {
        let RecoveryMsg::Respawn { offers } = msg else {
            panic!("{msg:?}");
        };
        for (key, offer) in offers {
            offered += 1;
            assert_eq!(p.owner_of(&key), Some(&to));
            assert_eq!((offer.hops, offer.spec.generation), (0, 2));
            let keeps = replica_set(&p, &key, &to, 2).contains(&n("a"));
            match r.replicas().get(&key) {
                Some(spec) => {
                    assert!(keeps);
                    assert_eq!(spec.host, to, "reassigned to the owner");
                }
                None => assert!(!keeps),
            }
        }
    }
    let mine = keys
        .iter()
        .filter(|k| p.owner_of(k) == Some(&n("a")))
        .count();
    assert_eq!(offered + mine, keys.len());
    assert_eq!(
        r.respawns().len(),
        mine,
        "offers for names it owns wait here"
    );
    // The view changes before they ran: they follow their new owner, one hop further.
    let p2 = placement(&["b", "c"]);
    r.offer_orphans(ctx(20, &p2, &peers));
    let forwarded: Vec<(NodeName, ActorKey, u8)> = sends(&drain(&mut r))
        .into_iter()
        .flat_map(|(to, m)| match m {
            RecoveryMsg::Respawn { offers } => offers
                .into_iter()
                .map(|(k, o)| (to.clone(), k, o.hops))
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .filter(|(_, _, hops)| *hops == 1)
        .collect();
    assert_eq!(forwarded.len(), mine);
    assert!(forwarded
        .iter()
        .all(|(to, key, _)| p2.owner_of(key) == Some(to)));
}

/// The respawn offers in `cmds`, per receiver: (receiver, name).
fn offered(cmds: &[RecoveryCommand<u64>]) -> Vec<(NodeName, ActorKey)> {
    let mut out: Vec<(NodeName, ActorKey)> = sends(cmds)
        .into_iter()
        .flat_map(|(to, m)| match m {
            RecoveryMsg::Respawn { offers } => offers
                .into_iter()
                .map(|(k, _)| (to.clone(), k))
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect();
    out.sort();
    out
}

#[test]
fn a_lost_offer_is_sent_again_until_its_owner_takes_it_and_follows_the_owner() {
    // `a` keeps specs of names hosted on `d`; `d` is gone.
    let mut r = engine("a", 2, 100_000);
    let keys: Vec<ActorKey> = (0..40).map(|i| k(&format!("n{i}"))).collect();
    let specs = keys
        .iter()
        .map(|key| {
            let spec = Spec {
                kind: "k".into(),
                args: vec![],
                generation: 1,
                host: n("d"),
                host_incarnation: Incarnation(1),
                seq: 0,
                checkpoint: None,
            };
            (key.clone(), spec)
        })
        .collect();
    r.handle_replicate(&n("d"), specs);
    drain(&mut r);
    let p = placement(&["a", "b", "c"]);
    let peers = TestPeers::of(&["a", "b", "c"]);
    r.offer_orphans(ctx(10, &p, &peers));
    // Every frame of it is lost.
    let first = offered(&drain(&mut r));
    assert!(first.iter().any(|(to, _)| *to == n("b")) && first.iter().any(|(to, _)| *to == n("c")));
    assert_eq!(r.sent_offers().len(), first.len());
    let resend = r.config().timing.offer_resend_ms();
    let tick = |r: &mut Recovery<u64>, now: u64, p: &Placement, peers: &TestPeers| {
        r.handle_tick(true, Millis(0), &mut [], ctx(now, p, peers), |_| false);
        drain(r)
    };
    assert!(
        offered(&tick(&mut r, 10 + resend - 1, &p, &peers)).is_empty(),
        "not yet due"
    );
    let again = tick(&mut r, 10 + resend, &p, &peers);
    assert_eq!(offered(&again), first, "the same offers to the same owners");
    assert!(events(&again).contains(&RecoveryEvent::OffersResent { count: first.len() }));
    // `b` takes its offers (an answer from another node for them changes nothing).
    let to_b: Vec<ActorKey> = first
        .iter()
        .filter(|(to, _)| *to == n("b"))
        .map(|(_, k)| k.clone())
        .collect();
    r.handle_offers_taken(&n("c"), &to_b);
    assert_eq!(r.sent_offers().len(), first.len());
    r.handle_offers_taken(&n("b"), &to_b);
    assert_eq!(r.sent_offers().len(), first.len() - to_b.len());
    let third = offered(&tick(&mut r, 10 + 2 * resend, &p, &peers));
    assert!(third.iter().all(|(to, _)| *to == n("c")) && !third.is_empty());
    // `c` leaves before answering: its offers go to their owners in the new view at once,
    // and the names `a` owns now wait here to be decided.
    let p2 = placement(&["a", "b"]);
    let peers2 = TestPeers::of(&["a", "b"]);
    r.offer_orphans(ctx(10 + 2 * resend + 1, &p2, &peers2));
    let moved = offered(&drain(&mut r));
    assert!(moved
        .iter()
        .all(|(to, key)| *to == n("b") && p2.owner_of(key) == Some(to)));
    let to_a = third.len() - moved.len();
    assert!(
        to_a > 0 && r.respawns().len() >= to_a,
        "a's own names wait here"
    );
    r.handle_offers_taken(
        &n("b"),
        &moved.iter().map(|(_, k)| k.clone()).collect::<Vec<_>>(),
    );
    assert!(r.sent_offers().is_empty());
    assert!(offered(&tick(&mut r, 10 + 10 * resend, &p2, &peers2)).is_empty());
}

#[test]
fn the_owner_acknowledges_every_offer_it_receives() {
    let mut r = engine("b", 2, 100_000);
    let p = placement(&["a", "b"]);
    let peers = TestPeers::of(&["a", "b"]);
    let offers: Vec<(ActorKey, Offer<u64>)> = (0..5)
        .map(|i| (k(&format!("o{i}")), offer("d", 1, 0, 0)))
        .collect();
    let keys: Vec<ActorKey> = offers.iter().map(|(k, _)| k.clone()).collect();
    r.handle_offers(&n("a"), offers, false, ctx(0, &p, &peers), |_| false);
    assert_eq!(
        sends(&drain(&mut r)),
        vec![(n("a"), RecoveryMsg::OffersTaken { keys })]
    );
}

fn offer(host: &str, generation: u64, seq: u64, hops: u8) -> Offer<u64> {
    Offer {
        spec: Spec {
            kind: "k".into(),
            args: vec![9],
            generation,
            host: n(host),
            host_incarnation: Incarnation(1),
            seq,
            checkpoint: (seq > 0).then_some(seq * 10),
        },
        hops,
    }
}

#[test]
fn respawns_start_at_the_next_generation_from_the_freshest_checkpoint() {
    let p = placement(&["a", "b"]);
    let peers = TestPeers::of(&["a", "b"]);
    let mine: Vec<ActorKey> = (0..20)
        .map(|i| k(&format!("n{i}")))
        .filter(|key| p.owner_of(key) == Some(&n("a")))
        .take(3)
        .collect();
    let theirs = (0..20)
        .map(|i| k(&format!("n{i}")))
        .find(|key| p.owner_of(key) == Some(&n("b")))
        .unwrap();
    let mut r = engine("a", 2, 100_000);
    // A newer checkpoint of mine[0] reached this node after the offer was made.
    let kept = Spec {
        seq: 5,
        checkpoint: Some(50),
        ..offer("x", 4, 5, 0).spec
    };
    r.handle_replicate(&n("x"), vec![(mine[0].clone(), kept)]);
    drain(&mut r);
    let offers = vec![
        (mine[0].clone(), offer("x", 4, 2, 0)),
        (mine[1].clone(), offer("x", 1, 0, 0)),
        // Its host is still in the view: wait.
        (mine[2].clone(), offer("b", 1, 0, 0)),
        (theirs.clone(), offer("x", 1, 0, 2)),
    ];
    r.handle_offers(&n("b"), offers, true, ctx(0, &p, &peers), |_| false);
    let cmds = drain(&mut r);
    let starts: Vec<&RespawnStart<u64>> = cmds
        .iter()
        .filter_map(|c| match c {
            RecoveryCommand::Respawn(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(starts.len(), 2);
    let s0 = starts.iter().find(|s| s.key == mine[0]).unwrap();
    assert_eq!(
        s0.meta.activation,
        Activation {
            generation: 5,
            origin: n("a")
        }
    );
    assert_eq!(
        (s0.meta.checkpoint, s0.meta.checkpoint_seq, s0.seq),
        (Some(50), 1, 5)
    );
    assert_eq!(s0.lost, n("x"));
    let s1 = starts.iter().find(|s| s.key == mine[1]).unwrap();
    assert_eq!(
        (s1.meta.activation.generation, s1.meta.checkpoint_seq),
        (2, 0)
    );
    assert_eq!(s1.meta.args, vec![9]);
    assert_eq!(
        sends(&cmds)
            .into_iter()
            .filter(|(_, m)| !matches!(m, RecoveryMsg::OffersTaken { .. }))
            .collect::<Vec<_>>(),
        vec![(
            n("b"),
            RecoveryMsg::Respawn {
                offers: vec![(theirs.clone(), offer("x", 1, 0, 3))]
            }
        )]
    );
    assert_eq!(r.respawns().len(), 1, "the offer whose host is back waits");
    // Past the patience, dropped; at the hop limit, dropped too.
    let late = r.config().timing.respawn_patience_ms() + 1;
    r.run_respawns(ctx(late, &p, &peers), |_| false);
    r.handle_offers(
        &n("b"),
        vec![(theirs.clone(), offer("x", 1, 0, 3))],
        true,
        ctx(late, &p, &peers),
        |_| false,
    );
    let why: Vec<&'static str> = events(&drain(&mut r))
        .into_iter()
        .filter_map(|e| match e {
            RecoveryEvent::OfferDropped { why, .. } => Some(why),
            _ => None,
        })
        .collect();
    assert_eq!(why, vec!["its host is back", "no owner in reach"]);
    // Not settled, fenced or leaving: offers wait.
    r.handle_offers(
        &n("b"),
        vec![(mine[1].clone(), offer("x", 1, 0, 0))],
        false,
        ctx(0, &p, &peers),
        |_| false,
    );
    assert_eq!(
        sends(&drain(&mut r)),
        vec![(
            n("b"),
            RecoveryMsg::OffersTaken {
                keys: vec![mine[1].clone()]
            }
        )],
        "only the acknowledgement"
    );
    r.run_respawns(
        Ctx {
            leaving: true,
            ..ctx(0, &p, &peers)
        },
        |_| false,
    );
    assert!(drain(&mut r).is_empty());
    assert_eq!(r.respawns().len(), 1);
}

#[test]
fn a_conflict_makes_the_survivor_a_new_activation_made_here() {
    let p = placement(&["a", "b", "c"]);
    let peers = TestPeers::of(&["a", "b", "c"]);
    let policies = [
        (ConflictPolicy::KeepNewest, Resolution::TakeIncoming),
        (ConflictPolicy::KeepOldest, Resolution::KeepLocal),
        (ConflictPolicy::Merge, Resolution::Merge),
    ];
    for (policy, want) in policies {
        let mut r = engine("a", 2, 100_000);
        let mut m = meta("a", 2);
        m.holders.retarget(&n("a"), vec![(n("c"), Incarnation(1))]);
        let incoming = Activation {
            generation: 3,
            origin: n("b"),
        };
        let former = vec![(n("c"), n("b"))];
        let here = Here::Running {
            meta: &mut m,
            policy,
        };
        let out = r.resolve_conflict(
            &k("x"),
            &n("b"),
            &incoming,
            former,
            Some(7),
            here,
            ctx(0, &p, &peers),
        );
        assert_eq!(out, ConflictOutcome::Resolved(want));
        assert_eq!(
            m.activation,
            Activation {
                generation: 4,
                origin: n("a")
            },
            "max(2, 3) + 1, made here"
        );
        let cmds = drain(&mut r);
        let resolves: Vec<(Resolution, u64)> = cmds
            .iter()
            .filter_map(|c| match c {
                RecoveryCommand::Resolve {
                    resolution,
                    snapshot,
                    ..
                } => Some((*resolution, *snapshot)),
                _ => None,
            })
            .collect();
        let applied = if want == Resolution::KeepLocal {
            vec![]
        } else {
            vec![(want, 7)]
        };
        assert_eq!(resolves, applied, "{policy:?}");
        // Every holder gets the new generation's spec.
        let specs: Vec<(NodeName, u64)> = sends(&cmds)
            .into_iter()
            .filter_map(|(to, m)| match m {
                RecoveryMsg::Replicate { specs } => Some((to, specs[0].1.generation)),
                _ => None,
            })
            .collect();
        assert!(!specs.is_empty() && specs.iter().all(|(_, g)| *g == 4));
    }
    // The same copy twice is ignored; a copy that moves away takes the conflict along.
    let mut r = engine("a", 2, 100_000);
    let mut m = meta("a", 2);
    let same = m.activation.clone();
    let here = Here::Running {
        meta: &mut m,
        policy: ConflictPolicy::KeepNewest,
    };
    let out = r.resolve_conflict(
        &k("x"),
        &n("b"),
        &same,
        vec![],
        Some(1),
        here,
        ctx(0, &p, &peers),
    );
    assert_eq!(out, ConflictOutcome::Ignored);
    assert_eq!(m.activation.generation, 2);
    let other = Activation {
        generation: 5,
        origin: n("b"),
    };
    // A copy of `incoming` arriving while ours moves away (still `draining` here, or
    // `outgoing`: sent, its move not acknowledged).
    let mut moving =
        |incoming: &Activation, draining: Option<&Activation>, outgoing: Option<&Activation>| {
            let here = Here::Moving { draining, outgoing };
            r.resolve_conflict(
                &k("x"),
                &n("b"),
                incoming,
                vec![],
                Some(1),
                here,
                ctx(0, &p, &peers),
            )
        };
    assert_eq!(
        moving(&other, None, Some(&same)),
        ConflictOutcome::Follows(Some(1))
    );
    // Ours left already and the same activation arrives: ours came back (its target moved
    // it on, and it reached this node before the acknowledgement did). It is the live
    // copy: it follows ours (it was ignored, and the name lost: engine simulation, slow
    // network, seeds 3 and 27).
    assert_eq!(
        moving(&same, None, Some(&same)),
        ConflictOutcome::Follows(Some(1))
    );
    // Ours still drains here: the same activation arriving is the same copy.
    assert_eq!(moving(&same, Some(&same), None), ConflictOutcome::Ignored);
}

#[test]
fn the_pause_gap_counts_from_the_end_of_the_previous_message_plus_one_interval() {
    // Interval 100, deadline 1000: silence over 1000 counting the interval before.
    let table: [(u64, u64, bool, bool, bool); 6] = [
        // (previous end, this start, has peers, leaving, fenced)
        (0, 900, true, false, false),
        (0, 901, true, false, true),
        (0, 5_000, false, false, false),
        (0, 5_000, true, true, false),
        (4_000, 4_850, true, false, false),
        (4_000, 5_500, true, false, true),
    ];
    for (end, start, peers, leaving, want) in table {
        let mut r = engine("a", 2, 1_000);
        r.handle_message_done(Millis(end), peers, leaving);
        assert_eq!(
            r.handle_message(Millis(start), peers, leaving),
            want,
            "{end} {start}"
        );
        let cmds = drain(&mut r);
        assert_eq!(
            cmds.iter().any(|c| matches!(c, RecoveryCommand::Fence)),
            want
        );
    }
    // A handler that outlasts the deadline is noticed when it ends.
    let mut r = engine("a", 2, 1_000);
    r.handle_message_done(Millis(0), true, false);
    assert!(!r.handle_message(Millis(50), true, false));
    assert!(r.handle_message_done(Millis(1_050), true, false));
    assert_eq!(
        events(&drain(&mut r)),
        vec![RecoveryEvent::Paused { gap_ms: 1_150 }]
    );
    // Fenced once only.
    assert!(!r.handle_message(Millis(5_000), true, false));
    assert!(r.is_fenced());
}

#[test]
fn the_fence_lifts_on_rejoin_when_unnoticed_or_after_the_patience() {
    let p = placement(&["a", "b"]);
    let peers = TestPeers::of(&["a", "b"]);
    let alone = TestPeers::of(&["a"]);
    let fenced = || {
        let mut r = engine("a", 2, 1_000);
        r.handle_message_done(Millis(0), true, false);
        assert!(r.handle_message(Millis(2_000), true, false));
        drain(&mut r);
        r
    };
    let lifted = |r: &mut Recovery<u64>| {
        let cmds = drain(r);
        cmds.iter().any(|c| matches!(c, RecoveryCommand::Unfence))
    };
    // Settled by barrier for a view adopted after the pause: rejoined.
    let mut r = fenced();
    r.handle_settled(
        false,
        Millis(2_100),
        &mut [],
        ctx(2_200, &p, &peers),
        |_| false,
    );
    assert!(lifted(&mut r) && !r.is_fenced());
    // Settled by deadline: some copies may still come back.
    let mut r = fenced();
    r.handle_settled(true, Millis(2_100), &mut [], ctx(2_200, &p, &peers), |_| {
        false
    });
    assert!(!lifted(&mut r) && r.is_fenced());
    // The view never changed and a deadline passed: the peers kept this node.
    let mut r = fenced();
    r.handle_tick(true, Millis(0), &mut [], ctx(2_900, &p, &peers), |_| false);
    assert!(!lifted(&mut r));
    r.handle_tick(true, Millis(0), &mut [], ctx(3_001, &p, &peers), |_| false);
    let cmds = drain(&mut r);
    assert!(cmds.iter().any(|c| matches!(c, RecoveryCommand::Unfence)));
    assert!(events(&cmds).contains(&RecoveryEvent::Unfenced {
        decision: FenceDecision::Unnoticed,
        waited_ms: 1_001
    }));
    // Alone: gives up after the patience (2 deadlines + a handoff).
    let mut r = fenced();
    let patience = r.config().timing.fence_patience_ms();
    r.handle_tick(
        false,
        Millis(2_100),
        &mut [],
        ctx(2_000 + patience, &p, &alone),
        |_| false,
    );
    assert!(!lifted(&mut r));
    r.handle_tick(
        false,
        Millis(2_100),
        &mut [],
        ctx(2_001 + patience, &p, &alone),
        |_| false,
    );
    assert!(lifted(&mut r));
}

#[test]
fn replica_sets_catch_up_once_the_view_is_quiet_after_a_settle() {
    let p = placement(&["a", "b"]);
    let peers = TestPeers::of(&["a", "b"]);
    let mut r = engine("a", 2, 100_000);
    let key = k("x");
    // A name whose former holder `b` is live: not replicated at the settle.
    let mut m = meta("a", 1).arrived([(n("b"), n("z"))], 0, None, false);
    r.handle_settled(
        false,
        Millis(0),
        &mut [(&key, &mut m)],
        ctx(0, &p, &peers),
        |_| false,
    );
    assert!(sends(&drain(&mut r)).is_empty());
    assert!(r.replicate_due());
    let quiet = r.config().timing.replicate_quiet_ms();
    let mut names = [(&key, &mut m)];
    assert!(!r.handle_tick(
        true,
        Millis(0),
        &mut names,
        ctx(quiet - 1, &p, &peers),
        |_| false
    ));
    assert!(
        !r.handle_tick(false, Millis(0), &mut names, ctx(quiet, &p, &peers), |_| {
            false
        })
    );
    assert!(
        r.handle_tick(true, Millis(0), &mut names, ctx(quiet, &p, &peers), |_| {
            false
        })
    );
    assert_eq!(
        sends(&drain(&mut r))
            .into_iter()
            .map(|(to, _)| to)
            .collect::<Vec<_>>(),
        vec![n("b")]
    );
    assert!(!r.replicate_due());
    // Without a live former holder it is replicated at once.
    let mut r = engine("a", 2, 100_000);
    let mut m = meta("a", 1).arrived([(n("gone"), n("z"))], 0, None, false);
    r.handle_arrivals(&mut [(&key, &mut m)], ctx(0, &p, &peers));
    assert_eq!(sends(&drain(&mut r)).len(), 1);
    assert!(!r.replicate_due());
}

#[test]
fn arrived_and_restored_copies_continue_the_checkpoint_sequence() {
    let m = meta("b", 3).arrived([(n("c"), n("b"))], 4, Some(9), true);
    assert_eq!((m.checkpoint, m.checkpoint_seq), (Some(9), 5));
    assert_eq!(m.activation.generation, 3, "a handoff keeps the generation");
    let m = meta("b", 3).arrived([(n("c"), n("b"))], 4, Some(9), false);
    assert_eq!((m.checkpoint, m.checkpoint_seq), (None, 4));
    let mut before = meta("a", 3);
    before
        .holders
        .retarget(&n("a"), vec![(n("c"), Incarnation(1))]);
    before.checkpoint_seq = 6;
    let m = before.restored(&n("a"), Some(1), true);
    assert_eq!(
        m.activation,
        Activation {
            generation: 4,
            origin: n("a")
        }
    );
    assert_eq!((m.checkpoint, m.checkpoint_seq), (Some(1), 7));
    assert!(
        m.holders.current().is_empty(),
        "every holder gets the new spec"
    );
    assert_eq!(m.holders.all(&n("a")), vec![(n("c"), n("a"))]);
}

#[test]
fn an_adopted_name_rehosts_its_former_holders_to_here_and_its_next_move_names_here() {
    // `c` keeps the spec of `x`, naming `a`; `x` moved from `a` to `b`.
    let mut b = engine("b", 2, 1 << 20);
    let mut holders = SpecHolders::inherit([(n("c"), n("a"))]);
    b.handle_adopted(&k("x"), &mut holders);
    b.flush();
    let sent: Vec<_> = std::iter::from_fn(|| b.poll_command()).collect();
    assert!(
        sent.iter().any(|c| matches!(c, RecoveryCommand::Send { to, msg: RecoveryMsg::Rehost { keys, to: host, .. } }
            if *to == n("c") && *host == n("b") && keys == &vec![(k("x"), n("a"))])),
        "{sent:?}"
    );
    // `c` names `b` now: when `x` moves on (say to `d`, `b` leaving), `c` is told the
    // host its spec names, `b`, not `a` (it would ignore that, and respawn `x` once `b`
    // is gone).
    assert_eq!(holders.all(&n("b")), vec![(n("c"), n("b"))]);
    let peers = TestPeers::of(&["b", "c", "d"]);
    b.rehost(&k("x"), &holders, &n("d"), &peers);
    b.flush();
    let sent: Vec<_> = std::iter::from_fn(|| b.poll_command()).collect();
    assert!(
        sent.iter().any(
            |c| matches!(c, RecoveryCommand::Send { to, msg: RecoveryMsg::Rehost { keys, .. } }
            if *to == n("c") && keys == &vec![(k("x"), n("b"))])
        ),
        "{sent:?}"
    );
}

/// Lossy simulation, seed 47: `x` moved from `a` to `h`; both rehosts to its holder `b`
/// were lost (the checkpoint `h` sent next settled `h`'s, and `a` kept sending its own),
/// then `a` crashed. `b`, its spec naming `a`, offered `x` to `h` and, outside `h`'s
/// replica set, dropped its spec; `h` still counted on `b` and would replicate only once
/// the view was quiet, so a crash of `h` meanwhile lost `x`. An offer for a name running
/// here now sends its spec to its holders at once.
#[test]
fn a_name_offered_while_it_runs_here_is_replicated_again_at_once() {
    let p = placement(&["h", "b", "c"]);
    let peers = TestPeers::of(&["h", "b", "c"]);
    let key = (0..50)
        .map(|i| k(&format!("n{i}")))
        .find(|key| {
            p.owner_of(key) == Some(&n("h")) && replica_set(&p, key, &n("h"), 2) == vec![n("c")]
        })
        .expect("a name owned by h and kept on c");
    let mut h = engine("h", 2, 1 << 20);
    let mut m = meta("h", 2);
    m.checkpoint = Some(70);
    m.checkpoint_seq = 7;
    m.holders = SpecHolders::inherit([(n("b"), n("a"))]);
    h.handle_adopted(&key, &mut m.holders);
    h.flush();
    drain(&mut h);
    let runs = |k: &ActorKey| *k == key;

    h.handle_offers(
        &n("b"),
        vec![(key.clone(), offer("a", 2, 6, 0))],
        true,
        ctx(0, &p, &peers),
        runs,
    );
    let mut names: Vec<Hosted<'_, u64>> = vec![(&key, &mut m)];
    h.replicate_offered(&mut names, ctx(0, &p, &peers), runs);
    let cmds = drain(&mut h);
    assert!(
        events(&cmds).contains(&RecoveryEvent::OfferDropped {
            key: key.clone(),
            why: "already running here"
        }),
        "{cmds:?}"
    );
    let specs: Vec<(NodeName, Spec<u64>)> = sends(&cmds)
        .into_iter()
        .filter_map(|(to, msg)| match msg {
            RecoveryMsg::Replicate { specs } => Some((to, specs[0].1.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(specs.len(), 1, "{cmds:?}");
    let (to, spec) = &specs[0];
    assert_eq!(to, &n("c"));
    assert_eq!(
        (spec.host.clone(), spec.generation, spec.seq),
        (n("h"), 2, 7)
    );
    // `b` drops whatever it kept once `c` confirmed.
    assert_eq!(
        m.holders.all(&n("h")),
        vec![(n("c"), n("h")), (n("b"), n("h"))]
    );
    h.handle_spec_kept(&n("c"), &key, &mut m.holders);
    h.flush();
    assert!(sends(&drain(&mut h)).iter().any(|(to, msg)| *to == n("b")
        && matches!(msg, RecoveryMsg::Unreplicate { keys, .. } if keys == &vec![(key.clone(), n("h"))])));
    // Once done, nothing is sent again.
    let mut names: Vec<Hosted<'_, u64>> = vec![(&key, &mut m)];
    h.replicate_offered(&mut names, ctx(0, &p, &peers), runs);
    assert!(sends(&drain(&mut h)).is_empty());
}

fn spec_on(host: &str) -> Spec<u64> {
    Spec {
        kind: "k".into(),
        args: vec![],
        generation: 1,
        host: n(host),
        host_incarnation: Incarnation(1),
        seq: 0,
        checkpoint: None,
    }
}

/// Issue 9, finding 4: drops and rehosts were sent once; a lost one left a holder with a
/// stale spec. Each is now numbered, acknowledged and sent again until it is.
#[test]
fn drops_and_rehosts_are_sent_again_until_the_holder_acknowledges_them() {
    let mut a = engine("a", 2, 1_000);
    let peers = TestPeers::of(&["a", "b", "c"]);
    let mut holders = SpecHolders::default();
    holders.retarget(&n("a"), vec![(n("b"), Incarnation(1))]);
    a.set_now(Millis(0));
    a.unreplicate(&k("x"), &holders);
    a.flush();
    let first = sends(&drain(&mut a));
    let [(to, RecoveryMsg::Unreplicate { keys, batch })] = first.as_slice() else {
        panic!("one drop: {first:?}");
    };
    assert_eq!((to, keys.as_slice()), (&n("b"), &[(k("x"), n("a"))][..]));
    assert_eq!(a.sent_notices().len(), 1);
    // Lost: after the resend interval it goes again, in a new batch.
    let resend = a.config().timing.offer_resend_ms();
    a.resend_notices(Millis(resend - 1), &peers);
    assert!(sends(&drain(&mut a)).is_empty());
    a.resend_notices(Millis(resend), &peers);
    let again = drain(&mut a);
    assert!(events(&again).contains(&RecoveryEvent::NoticesResent { count: 1 }));
    let again = sends(&again);
    let [(_, RecoveryMsg::Unreplicate { batch: batch2, .. })] = again.as_slice() else {
        panic!("the drop again: {again:?}");
    };
    assert_ne!(batch, batch2);
    // The first batch's late answer settles nothing; the second's does.
    a.handle_notices_taken(&n("b"), *batch);
    assert_eq!(a.sent_notices().len(), 1);
    a.handle_notices_taken(&n("b"), *batch2);
    assert!(a.sent_notices().is_empty());

    // The holder answers every drop and rehost, applied or not.
    let mut b = engine("b", 2, 1_000);
    b.handle_unreplicate(&n("a"), vec![(k("x"), n("a"))], 7);
    assert_eq!(
        sends(&drain(&mut b)),
        vec![(n("a"), RecoveryMsg::NoticesTaken { batch: 7 })]
    );
}

/// A spec sent after a drop settles it; a checkpoint does not (the holder keeps the spec
/// until the drop lands, and takes the checkpoints meanwhile, lossy simulation seed 82),
/// but settles a rehost.
#[test]
fn a_spec_sent_after_a_drop_settles_it_and_checkpoints_reach_the_holder_meanwhile() {
    let mut a = engine("a", 2, 1_000);
    let peers = TestPeers::of(&["a", "b", "c"]);
    let place = placement(&["a", "b"]);
    let mut holders = SpecHolders::default();
    holders.retarget(&n("a"), vec![(n("b"), Incarnation(1))]);
    a.unreplicate(&k("x"), &holders);
    a.flush();
    drain(&mut a);
    assert_eq!(a.sent_notices().len(), 1);
    // `b` is no holder any more, yet its drop is pending: it gets the checkpoint.
    let mut m = meta("a", 1);
    a.handle_checkpointed(&k("x"), &mut m, 5, false);
    let out = sends(&drain(&mut a));
    assert!(
        matches!(&out[..], [(to, RecoveryMsg::Checkpoint { seq: 1, .. })] if *to == n("b")),
        "{out:?}"
    );
    assert_eq!(a.sent_notices().len(), 1, "the checkpoint settles no drop");
    a.handle_notices_taken(&n("b"), 1);
    a.handle_checkpointed(&k("x"), &mut m, 6, false);
    assert!(sends(&drain(&mut a)).is_empty(), "the drop landed");

    a.unreplicate(&k("x"), &holders);
    a.flush();
    drain(&mut a);
    assert_eq!(a.sent_notices().len(), 1);
    // The name is replicated to `b` again: its spec settles the drop.
    let mut m = meta("a", 1);
    let key = k("x");
    let mut names = [(&key, &mut m)];
    a.replicate(&mut names, ctx(0, &place, &peers));
    drain(&mut a);
    assert!(a.sent_notices().is_empty(), "the spec settles the drop");

    // A checkpoint settles a rehost.
    a.rehost(&key, &m.holders, &n("c"), &peers);
    a.flush();
    drain(&mut a);
    assert_eq!(a.sent_notices().len(), 1);
    a.handle_checkpointed(&key, &mut m, 7, false);
    drain(&mut a);
    assert!(
        a.sent_notices().is_empty(),
        "the checkpoint settles the rehost"
    );
}

/// Rehosts and drops from different senders come in no order: a rehost (or drop) that
/// names a host the spec does not name yet waits for the rehost that makes it so.
#[test]
fn a_rehost_or_drop_that_overtakes_the_rehost_it_depends_on_applies_after_it() {
    let mut h = engine("h", 2, 1_000);
    h.handle_replicate(&n("a"), vec![(k("x"), spec_on("a"))]);
    h.handle_replicate(&n("a"), vec![(k("y"), spec_on("a"))]);
    drain(&mut h);
    // x moved a -> b -> c; the second move's rehost (from b) comes first.
    h.handle_rehost(&n("b"), vec![(k("x"), n("b"))], n("c"), Incarnation(1), 1);
    assert_eq!(h.replicas().get(&k("x")).unwrap().host, n("a"));
    let named = h.handle_rehost(&n("a"), vec![(k("x"), n("a"))], n("b"), Incarnation(1), 1);
    assert_eq!(h.replicas().get(&k("x")).unwrap().host, n("c"));
    assert_eq!(named, vec![(k("x"), n("c"), Incarnation(1))]);
    // y moved a -> b and b dropped this holder; the drop comes first.
    h.handle_unreplicate(&n("b"), vec![(k("y"), n("b"))], 2);
    assert!(h.replicas().get(&k("y")).is_some());
    h.handle_rehost(&n("a"), vec![(k("y"), n("a"))], n("b"), Incarnation(1), 3);
    assert!(h.replicas().get(&k("y")).is_none());
}

/// A rehost sent again after the holder offered the name (its new host was lost) does
/// not settle the offer: only a drop or rehost that applies does.
#[test]
fn a_stale_rehost_or_drop_does_not_settle_an_offer() {
    let mut h = engine("h", 2, 1_000);
    let peers = TestPeers::of(&["h", "o"]);
    let place = placement(&["h", "o"]);
    // A name that `o` owns, so that `h` offers it there.
    let x = (0..)
        .map(|i| k(&format!("x{i}")))
        .find(|x| place.owner_of(x) == Some(&n("o")))
        .expect("some name is owned by o");
    h.handle_replicate(&n("a"), vec![(x.clone(), spec_on("a"))]);
    drain(&mut h);
    // `a` is gone: the spec is offered to the owner.
    h.offer_orphans(ctx(0, &place, &peers));
    drain(&mut h);
    assert_eq!(h.sent_offers().waits_on(&x), Some(&n("o")));
    h.handle_rehost(
        &n("z"),
        vec![(x.clone(), n("z"))],
        n("q"),
        Incarnation(1),
        9,
    );
    h.handle_unreplicate(&n("z"), vec![(x.clone(), n("z"))], 10);
    assert_eq!(
        h.sent_offers().len(),
        1,
        "the offer still waits for its answer"
    );
}

/// Issue 9, F2: an offer sent again after its acknowledgement was lost reached the owner
/// after the name it had started was stopped, and started it again. The owner remembers
/// the loss it respawned for and drops that offer; a later loss of the same name (another
/// host or incarnation) is still respawned.
#[test]
fn an_offer_sent_again_for_a_loss_already_respawned_does_not_restart_a_stopped_name() {
    let mut r = engine("b", 2, 100_000);
    let p = placement(&["b"]);
    let peers = TestPeers::of(&["b"]);
    let x = k("x");
    let respawns = |cmds: &[RecoveryCommand<u64>]| {
        cmds.iter()
            .filter(|c| matches!(c, RecoveryCommand::Respawn(_)))
            .count()
    };
    r.handle_offers(
        &n("a"),
        vec![(x.clone(), offer("d", 1, 3, 0))],
        true,
        ctx(0, &p, &peers),
        |_| false,
    );
    let first = drain(&mut r);
    assert_eq!(respawns(&first), 1);
    let loss = first
        .iter()
        .find_map(|c| match c {
            RecoveryCommand::Respawn(start) => Some(start.loss.clone()),
            _ => None,
        })
        .expect("a respawn");
    assert_eq!(loss, (n("d"), Incarnation(1), 1));
    // A launch that never started records nothing: the same offer may start it.
    r.handle_offers(
        &n("a"),
        vec![(x.clone(), offer("d", 1, 3, 0))],
        true,
        ctx(5, &p, &peers),
        |_| false,
    );
    assert_eq!(
        respawns(&drain(&mut r)),
        1,
        "a failed launch is tried again"
    );
    // It started (the engine reports it), and was stopped here since (not hosted); the
    // same offer comes again.
    r.handle_loss_respawned(&x, loss);
    r.handle_offers(
        &n("a"),
        vec![(x.clone(), offer("d", 1, 3, 0))],
        true,
        ctx(10, &p, &peers),
        |_| false,
    );
    let again = drain(&mut r);
    assert_eq!(respawns(&again), 0, "a stopped name must not come back");
    assert!(events(&again).contains(&RecoveryEvent::OfferDropped {
        key: x.clone(),
        why: "respawned for this loss already"
    }));
    // A new activation of the name, lost with another host, is respawned.
    r.handle_offers(
        &n("a"),
        vec![(x.clone(), offer("e", 1, 0, 0))],
        true,
        ctx(20, &p, &peers),
        |_| false,
    );
    assert_eq!(respawns(&drain(&mut r)), 1);
}

/// Both ends of a move send its rehost: the second copy is no early notice, so a later
/// move back does not send the spec to the former host again (found by a review).
#[test]
fn the_second_copy_of_a_rehost_leaves_nothing_waiting() {
    let mut h = engine("h", 2, 1_000);
    h.handle_replicate(&n("a"), vec![(k("x"), spec_on("a"))]);
    drain(&mut h);
    h.handle_rehost(&n("a"), vec![(k("x"), n("a"))], n("b"), Incarnation(1), 1);
    h.handle_rehost(&n("b"), vec![(k("x"), n("a"))], n("b"), Incarnation(1), 1);
    assert_eq!(h.replicas().get(&k("x")).unwrap().host, n("b"));
    // x moves back b -> a.
    h.handle_rehost(&n("b"), vec![(k("x"), n("b"))], n("a"), Incarnation(1), 2);
    assert_eq!(h.replicas().get(&k("x")).unwrap().host, n("a"));
}
