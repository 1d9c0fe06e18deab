use std::collections::BTreeMap;

use super::*;
use crate::core::wire::{self, FrameBody};
use crate::core::{Activation, Epoch, HoldKind, Incarnation, MembershipEvent, NameMeta, ViewId};

/// A node alone (it owns every name), as the engine's table tests start one.
pub(super) fn engine(name: &str) -> Engine {
    engine_with_kinds(name, BTreeMap::new())
}

/// As [`engine`], with these kinds registered.
pub(super) fn engine_with_kinds(name: &str, kinds: BTreeMap<String, KindInfo>) -> Engine {
    let placement = Placement::weighted(Epoch(1), [(NodeName::new(name), 1.0)]);
    engine_with(name, kinds, placement)
}

/// Node `name` with these kinds, starting from `placement`.
fn engine_with(name: &str, kinds: BTreeMap<String, KindInfo>, placement: Placement) -> Engine {
    let me = NodeName::new(name);
    let config = DistConfig::for_tests(name, 7000);
    let hello = Hello {
        node: me.clone(),
        incarnation: Incarnation(1),
        protocol: u32::from(wire::PROTOCOL_VERSION),
        hash_version: crate::core::hash::HASH_VERSION,
        addr: format!("{name}:7000"),
        weight: 1.0,
    };
    Engine::new(
        EngineConfig::new(&config, hello, kinds),
        placement,
        Millis(0),
    )
}

/// A `Migrate` entry of `key` (of `kind`) with `snapshot`, at `generation`, first activated
/// on `origin`; nothing else set.
fn migrate_entry(
    key: &ActorKey,
    kind: &str,
    snapshot: Snapshot,
    generation: u64,
    origin: &str,
) -> MigrateEntry {
    MigrateEntry {
        key: key.clone(),
        kind: kind.into(),
        args: Vec::new(),
        version: snapshot.version,
        snapshot: Some(snapshot),
        chunks: 0,
        generation,
        origin: NodeName::new(origin),
        holders: Vec::new(),
        checkpoint_seq: 0,
        order: Vec::new(),
        refused: Vec::new(),
        passive: false,
    }
}

fn sends(engine: &mut Engine) -> Vec<(NodeName, FrameBody)> {
    std::iter::from_fn(|| engine.poll_command())
        .filter_map(|c| match c {
            Command::Send { to, body } => Some((to, body)),
            _ => None,
        })
        .collect()
}

/// Issue 9, finding 10 with real processes (a node joins while another is still leaving):
/// the leaver greeted the joiner with a hello, then `Leaving`; the joiner took the leaver
/// for a member and an owner in between, forwarded names it received to it, and those fell
/// back when it went. A leaving node now says `Leaving` before its hello; the joiner,
/// told first, refuses the hello and keeps the leaver out of its view.
#[test]
fn a_joiner_that_hears_leaving_first_refuses_the_leavers_hello() {
    let mut a = engine("a");
    a.handle_leave(Vec::new(), Millis(10));
    let _ = sends(&mut a);
    let b = NodeName::new("b");
    a.handle_sessions(
        vec![(b.clone(), "b:7000".into())],
        [b.clone()].into(),
        std::slice::from_ref(&b),
        Millis(20),
    );
    let leaving_first = |a: &mut Engine| {
        let to_b: Vec<FrameBody> = sends(a)
            .into_iter()
            .filter(|(to, _)| *to == b)
            .map(|(_, body)| body)
            .collect();
        let hello = (to_b.iter()).position(|f| matches!(f, FrameBody::Hello { .. }));
        let leaving = to_b.iter().position(|f| matches!(f, FrameBody::Leaving));
        assert!(
            matches!((leaving, hello), (Some(l), Some(h)) if l < h),
            "{to_b:?}"
        );
    };
    leaving_first(&mut a);
    // The joiner's hello (asking for one back) is answered the same way.
    a.handle_hello(&b, Incarnation(2), hello_of("b"), true, Millis(30))
        .unwrap();
    leaving_first(&mut a);

    // The joiner: `Leaving` from a peer it has not met, then that peer's hello.
    let mut c = engine("c");
    let a_name = NodeName::new("a");
    c.handle_sessions(
        vec![(a_name.clone(), "a:7000".into())],
        [a_name.clone()].into(),
        std::slice::from_ref(&a_name),
        Millis(20),
    );
    let _ = sends(&mut c);
    c.handle_heard(&a_name, Incarnation(1), Millis(21));
    c.handle_frame(&a_name, FrameBody::Leaving, Millis(21));
    // It takes part in the current view's barriers all the same (no view change made it a
    // participant): told the view, and its `HandoffsDone` awaited (the real-process test
    // settled by deadline, 5 s, without this).
    assert!(c.handoff.is_participant(&a_name));
    let view = std::iter::from_fn(|| c.poll_command())
        .find_map(|cmd| match cmd {
            Command::Send {
                to,
                body: FrameBody::ViewAdopted { view },
            } if to == a_name => Some(view),
            _ => None,
        })
        .expect("the leaver is told the view");
    let mut late = hello_of("a");
    late.incarnation = Incarnation(1);
    c.handle_hello(&a_name, Incarnation(1), late, false, Millis(22))
        .unwrap();
    let _ = sends(&mut c);
    assert!(!c.mesh.membership().is_up(&a_name));
    assert!(!c.mesh.membership().placement().contains(&a_name));
    // Once the leaver adopted the same view, it hears this node's `HandoffsDone`.
    c.handle_frame(&a_name, FrameBody::ViewAdopted { view }, Millis(23));
    assert!(
        sends(&mut c)
            .iter()
            .any(|(to, f)| *to == a_name && matches!(f, FrameBody::HandoffsDone { .. })),
        "the leaver waits for this node's barrier"
    );
}

#[test]
fn a_node_that_is_not_leaving_only_says_hello() {
    let mut a = engine("a");
    let b = NodeName::new("b");
    a.handle_sessions(
        vec![(b.clone(), "b:7000".into())],
        [b.clone()].into(),
        std::slice::from_ref(&b),
        Millis(20),
    );
    let frames = sends(&mut a);
    assert!(frames
        .iter()
        .any(|(to, f)| *to == b && matches!(f, FrameBody::Hello { .. })));
    assert!(!frames.iter().any(|(_, f)| matches!(f, FrameBody::Leaving)));
}

/// A sender's message parked for a name (it had not arrived here yet) is not overtaken by
/// its next one when the name has started to move away meanwhile: held, the next one would
/// be forwarded with the move, before the parked one is released (found by a review).
#[test]
fn a_senders_next_message_parks_behind_its_parked_one_even_while_the_name_moves_away() {
    use super::dispatch::{Asks, Dispatch};
    let e = engine("a");
    let key = ActorKey::from("x");
    let (s, other) = (NodeName::new("s"), NodeName::new("t"));
    let moving = Some(Residence::Moving);
    assert!(matches!(
        e.dispatch_cast(&key, &s, 0, moving, false),
        Dispatch::Hold
    ));
    let mut e = e;
    e.hold
        .park(&key, &s, HoldKind::Cast, Millis(0))
        .expect("under the caps");
    assert!(matches!(
        e.dispatch_cast(&key, &s, 0, moving, false),
        Dispatch::Park
    ));
    assert!(matches!(
        e.dispatch_request(&key, &s, Asks::Call, moving, false),
        Dispatch::Park
    ));
    // Another sender's message is not held back by it; nor is one released at the park
    // deadline (it is handled without a further admission check).
    assert!(matches!(
        e.dispatch_cast(&key, &other, 0, moving, false),
        Dispatch::Hold
    ));
    assert!(matches!(
        e.dispatch_cast(&key, &s, 0, moving, true),
        Dispatch::Hold
    ));
}

/// A cast whose session closed under it is parked (not dropped) until it has waited its
/// whole park deadline, and parked messages go out again as soon as a peer is reached over
/// a new session (a session replaced by ractor_cluster's election between two dials).
#[test]
fn a_cast_its_session_dropped_parks_and_a_new_session_releases_it() {
    use super::dispatch::Unsent;
    let mut e = engine("a");
    let (a, b) = (e.me().clone(), NodeName::new("b"));
    assert_eq!(e.dispatch_unsent(&a, true, false), Unsent::Park);
    // Dropped once it waited its whole deadline; a numbered cast of this node retires its
    // stream (its host must not wait for the lost number), a relayed one does not.
    let dropped = |retire_stream| Unsent::Drop {
        why: "next hop unreachable",
        retire_stream,
    };
    assert_eq!(e.dispatch_unsent(&a, true, true), dropped(true));
    assert_eq!(e.dispatch_unsent(&a, false, true), dropped(false));
    assert_eq!(e.dispatch_unsent(&b, true, true), dropped(false));
    let released = |e: &mut Engine| {
        std::iter::from_fn(|| e.poll_command()).any(|c| {
            matches!(
                c,
                Command::ReleaseParked {
                    expired_only: false
                }
            )
        })
    };
    let session = vec![(b.clone(), "b:7000".into())];
    e.handle_sessions(session.clone(), [b.clone()].into(), &[], Millis(10));
    let _ = released(&mut e);
    e.hold
        .park(
            &ActorKey::from("x"),
            &e.me().clone(),
            HoldKind::Cast,
            Millis(10),
        )
        .expect("under the caps");
    // The same session: nothing to release.
    e.handle_sessions(session.clone(), [b.clone()].into(), &[], Millis(20));
    assert!(!released(&mut e));
    // A new one.
    e.handle_sessions(
        session,
        [b.clone()].into(),
        std::slice::from_ref(&b),
        Millis(30),
    );
    assert!(released(&mut e));
}

fn hello_of(name: &str) -> Hello {
    Hello {
        node: NodeName::new(name),
        incarnation: Incarnation(2),
        protocol: u32::from(wire::PROTOCOL_VERSION),
        hash_version: crate::core::hash::HASH_VERSION,
        addr: format!("{name}:7000"),
        weight: 1.0,
    }
}

fn events(engine: &mut Engine) -> Vec<MembershipEvent> {
    std::iter::from_fn(|| engine.poll_command())
        .filter_map(|c| match c {
            Command::Event { event, .. } => Some(event),
            _ => None,
        })
        .collect()
}

#[test]
fn a_removed_node_is_refused_at_hello_and_not_dialed_until_added_back() {
    let mut a = engine("a");
    let b = NodeName::new("b");
    a.handle_sessions(
        vec![(b.clone(), "b:7000".into())],
        [b.clone()].into(),
        &[],
        Millis(1),
    );
    a.handle_hello(&b, Incarnation(2), hello_of("b"), false, Millis(2))
        .unwrap();
    assert!(matches!(&events(&mut a)[..], [MembershipEvent::Up { .. }]));
    assert!(a.known().is_present(&b), "a node met is known");
    assert!(a.handle_del_node(&b, Millis(3)).unwrap());
    assert!(
        !a.handle_del_node(&b, Millis(3)).unwrap(),
        "removed already"
    );
    // b stays up until it leaves (it hands its names off first)
    assert!(a.mesh.membership().is_up(&b));
    let _ = events(&mut a);
    // once gone, its hello is refused, again and again
    a.handle_sessions(Vec::new(), Default::default(), &[], Millis(4));
    let _ = events(&mut a);
    a.handle_sessions(
        vec![(b.clone(), "b:7000".into())],
        [b.clone()].into(),
        &[],
        Millis(5),
    );
    for t in [6, 7] {
        a.handle_hello(&b, Incarnation(3), hello_of("b"), false, Millis(t))
            .unwrap();
        let refused = events(&mut a);
        assert!(
            matches!(&refused[..], [MembershipEvent::Refused { reason, .. }] if reason.contains("del_node")),
            "{refused:?}"
        );
    }
    // and its address is not dialed
    a.handle_sessions(Vec::new(), Default::default(), &[], Millis(8));
    a.handle_tick(Millis(10_000));
    let dials: Vec<Command> = std::iter::from_fn(|| a.poll_command())
        .filter(|c| matches!(c, Command::Dial(_)))
        .collect();
    assert!(dials.is_empty(), "{dials:?}");
    // add_node: its address is dialed, and its hello admitted (a new generation)
    a.handle_add_node("b:7000", Millis(10_001));
    a.handle_tick(Millis(20_000));
    let dials: Vec<Command> = std::iter::from_fn(|| a.poll_command())
        .filter(|c| matches!(c, Command::Dial(addr) if addr == "b:7000"))
        .collect();
    assert_eq!(dials.len(), 1);
    a.handle_sessions(
        vec![(b.clone(), "b:7000".into())],
        [b.clone()].into(),
        &[],
        Millis(20_001),
    );
    a.handle_hello(&b, Incarnation(3), hello_of("b"), false, Millis(20_002))
        .unwrap();
    assert!(matches!(&events(&mut a)[..], [MembershipEvent::Up { .. }]));
    assert!(a.known().is_present(&b));
    assert_eq!(a.known().entries()[&b].generation, 1);
    assert!(a.mesh.added().is_empty());
}

#[test]
fn a_node_that_learns_it_was_removed_leaves_once() {
    use crate::core::known::{KnownNodes, KNOWN_NODES};
    use crate::core::replicated::{Crdt, ReplicaConfig, ReplicaId, Replicas};
    let mut a = engine("a");
    let b = NodeName::new("b");
    a.handle_sessions(
        vec![(b.clone(), "b:7000".into())],
        [b.clone()].into(),
        &[],
        Millis(1),
    );
    a.handle_hello(&b, Incarnation(2), hello_of("b"), false, Millis(2))
        .unwrap();
    // b's known set (it met a, and a met b): then b removes a
    let id = ReplicaId {
        node: b.clone(),
        incarnation: Incarnation(2),
    };
    let mut kb: Replicas = crate::core::known::machine(ReplicaConfig::new(id), None).unwrap();
    let me = NodeName::new("a");
    let mut both = KnownNodes::default();
    both.merge(KnownNodes::default().observe(&me, "a:7000").unwrap());
    both.merge(KnownNodes::default().observe(&b, "b:7000").unwrap());
    kb.handle_update::<KnownNodes>(KNOWN_NODES, |_, _| both.clone())
        .unwrap();
    let _ = std::iter::from_fn(|| a.poll_command()).count();
    let mut removed = 0;
    // b's state with a present (b met a), then with a removed, then that again
    for t in [3, 4, 5] {
        if t == 4 {
            kb.handle_update::<KnownNodes>(KNOWN_NODES, |k, _| k.remove(&me).unwrap())
                .unwrap();
        }
        let full = kb.value::<KnownNodes>(KNOWN_NODES).unwrap();
        // the state arrives (twice: the second changes nothing)
        let msg = crate::core::replicated::ReplicaMsg::State {
            name: KNOWN_NODES.to_string(),
            tag: crate::core::replicated::tag_hash(&KnownNodes::type_tag()),
            version: kb.version(KNOWN_NODES).unwrap().clone(),
            transfer: t,
            index: 0,
            count: 1,
            bytes: crate::core::snapshot::encode_fixed(&*full).unwrap(),
        };
        a.handle_frame(&b, FrameBody::Replica(msg), Millis(t));
        removed += std::iter::from_fn(|| a.poll_command())
            .filter(|c| matches!(c, Command::Removed))
            .count();
    }
    assert_eq!(removed, 1);
    assert!(a.known().is_removed(&me));
}

/// The dial commands for `addr` a tick at `now` gives.
fn dials_to(engine: &mut Engine, addr: &str, now: u64) -> usize {
    engine.handle_tick(Millis(now));
    std::iter::from_fn(|| engine.poll_command())
        .filter(|c| matches!(c, Command::Dial(a) if a == addr))
        .count()
}

#[test]
fn a_known_node_is_redialed_after_a_crash_but_not_after_a_graceful_leave() {
    let b = NodeName::new("b");
    let session = vec![(b.clone(), "b:7000".to_string())];
    for graceful in [false, true] {
        let mut a = engine("a");
        a.handle_sessions(session.clone(), [b.clone()].into(), &[], Millis(1));
        a.handle_hello(&b, Incarnation(2), hello_of("b"), false, Millis(2))
            .unwrap();
        assert!(a.known().is_present(&b));
        if graceful {
            assert!(a.handle_leaving(&b));
        }
        a.handle_sessions(Vec::new(), Default::default(), &[], Millis(3));
        let _ = std::iter::from_fn(|| a.poll_command()).count();
        // the address came from the hello too: past the learned addresses' patience, only
        // the known set keeps it
        let later = 1_000_000;
        let _ = dials_to(&mut a, "b:7000", later);
        let dials = dials_to(&mut a, "b:7000", later * 2);
        assert_eq!(dials > 0, !graceful, "graceful: {graceful}");
        assert!(a.known().is_present(&b), "b stays known either way");
    }
}

/// A local handle's message whose next hop is a member this node has no confirmed session
/// with yet (just met; a session replaced and not confirmed again) is parked, not sent into
/// nothing (it used to fail with `Unreachable` at the handle), and goes once the peer is
/// reachable; one that waited its whole park deadline is forwarded without the check.
#[test]
fn a_local_message_for_a_member_not_reachable_yet_parks_until_it_is() {
    use super::dispatch::Dispatch;
    let me = NodeName::new("a");
    let b = NodeName::new("b");
    let placement = Placement::weighted(Epoch(1), [(me, 1.0), (b.clone(), 1.0)]);
    let mut e = engine_with("a", BTreeMap::new(), placement.clone());
    let key = (0..)
        .map(|i| ActorKey::new(format!("k{i}")))
        .find(|k| placement.owner_of(k) == Some(&b))
        .expect("b owns some name");
    assert!(matches!(
        e.dispatch_local(&key, None, false),
        Dispatch::Park
    ));
    // Past the park deadline it goes anyway (the send then parks or drops it, counted).
    assert!(matches!(
        e.dispatch_local(&key, None, true),
        Dispatch::Forward { to, .. } if to == b
    ));
    e.handle_sessions(
        vec![(b.clone(), "b:7000".into())],
        [b.clone()].into(),
        std::slice::from_ref(&b),
        Millis(10),
    );
    assert!(matches!(
        e.dispatch_local(&key, None, false),
        Dispatch::Forward { to, .. } if to == b
    ));
}

/// The answers kept for resent batches are forgotten oldest first (not by sender name),
/// and a peer's when it goes: a restarted sender numbers its batches from 1 again, and
/// must not be answered with what its previous incarnation's batch named.
#[test]
fn batch_answers_are_forgotten_oldest_first_and_with_their_peer() {
    let mut answers = Answers::default();
    let (a, z) = (NodeName::new("a"), NodeName::new("z"));
    answers.entry(&z, 1).refused.push(ActorKey::new("old"));
    for batch in 0..ANSWERS_KEPT as u64 - 1 {
        answers.entry(&a, batch);
    }
    assert_eq!(answers.len(), ANSWERS_KEPT);
    // `a` sorts before `z`; the oldest, `z`'s, goes first all the same.
    answers.entry(&a, 5000);
    assert!(answers.get(&z, 1).is_none());
    assert!(answers.get(&a, 0).is_some() && answers.get(&a, 5000).is_some());
    assert_eq!(answers.len(), ANSWERS_KEPT);
    // Naming an answer kept does not make room.
    answers.entry(&a, 0).superseded.push(ActorKey::new("k"));
    assert_eq!(answers.len(), ANSWERS_KEPT);
    answers.entry(&z, 1);
    answers.forget_peer(&a);
    assert_eq!(answers.len(), 1);
    assert!(answers.get(&z, 1).is_some_and(|n| n.refused.is_empty()));
}

/// Issue 9, finding 6: a conflicting copy whose state does not fit one frame was discarded
/// when it followed this node's copy (even under `Merge`). It travels now as its own
/// `Migrate` batch, its state in pieces, and arrives whole: here the target does not run
/// the name, so it starts it from the reassembled state (one that runs it resolves the
/// two copies the same way as with a `Conflict` frame).
#[test]
fn a_conflicting_copy_larger_than_a_frame_follows_in_pieces_and_arrives_whole() {
    let frame_limit = 64 * 1024;
    let engine = |name: &str| {
        let mut config = DistConfig::for_tests(name, 7000);
        config.max_frame_bytes = frame_limit;
        let mut hello = hello_of(name);
        hello.protocol = u32::from(wire::PROTOCOL_VERSION);
        let kind = KindInfo {
            mode: HandoffMode::Resume,
            ..KindInfo::default()
        };
        let kinds = BTreeMap::from([("counter".to_string(), kind)]);
        let placement = Placement::weighted(Epoch(1), [(NodeName::new(name), 1.0)]);
        Engine::new(
            EngineConfig::new(&config, hello, kinds),
            placement,
            Millis(0),
        )
    };
    let (mut a, mut b) = (engine("a"), engine("b"));
    let bytes: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    let entry = |snapshot: Vec<u8>| MigrateEntry {
        args: vec![7],
        version: 0,
        ..migrate_entry(
            &ActorKey::new("x"),
            "counter",
            Snapshot::new(3, snapshot),
            4,
            "c",
        )
    };
    // A small one is one `Conflict` frame, as before.
    let small = a.conflict_frames(entry(vec![1; 100]));
    assert!(
        matches!(small[..], [FrameBody::Conflict { .. }]),
        "{small:?}"
    );
    let frames = a.conflict_frames(entry(bytes.clone()));
    let pieces = bytes.len().div_ceil(frame_limit / 2);
    assert_eq!(frames.len(), pieces + 1);
    for body in &frames {
        let encoded = wire::encode(&wire::Frame {
            from: NodeName::new("a"),
            incarnation: Incarnation(1),
            body: body.clone(),
        });
        assert!(
            encoded.len() <= frame_limit,
            "a frame of {} bytes",
            encoded.len()
        );
    }
    std::iter::from_fn(|| b.poll_command()).for_each(drop);
    for body in frames {
        assert!(b
            .handle_frame(&NodeName::new("a"), body, Millis(1))
            .is_none());
    }
    let arrivals: Vec<Arriving> = std::iter::from_fn(|| b.poll_command())
        .filter_map(|c| match c {
            Command::StartArrivals { arrivals, .. } => Some(arrivals),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(arrivals.len(), 1);
    let snapshot = arrivals[0].snapshot.as_ref().expect("its state");
    assert_eq!((snapshot.version, &snapshot.bytes), (3, &bytes));
    assert_eq!(arrivals[0].meta.activation.generation, 4);
}

/// While the barrier waits for a busy source, expired parked messages for names this node
/// owns and does not run stay parked (the source's slow move may bring them), unless
/// something places the name elsewhere; past the patience, or with the source silent,
/// they go as before.
#[test]
fn expired_parked_messages_wait_for_a_busy_source_only_for_names_it_may_bring() {
    let (a, b, c) = (NodeName::new("a"), NodeName::new("b"), NodeName::new("c"));
    let placement = Placement::weighted(Epoch(2), [(a.clone(), 1.0), (b.clone(), 1.0)]);
    let engine = || {
        let mut e = engine_with("a", BTreeMap::new(), placement.clone());
        e.handoff.handle_view(
            ViewId(2),
            &placement,
            [b.clone()].into(),
            [],
            false,
            Millis(0),
        );
        e
    };
    let mut e = engine();
    let patience = e.handoff.patience_ms();
    let park = patience / 4;
    let mine: Vec<ActorKey> = (0..)
        .map(|i| ActorKey::new(format!("n{i}")))
        .filter(|k| placement.owner_of(k) == Some(&a))
        .take(2)
        .collect();
    let (incoming, elsewhere) = (&mine[0], &mine[1]);
    // `elsewhere` runs on c, registered with this node.
    e.routing
        .handle_register(&c, [elsewhere.clone()], |_| false, |_| true);
    let park_both = |e: &mut Engine| {
        for key in [incoming, elsewhere] {
            e.hold.park(key, &b, HoldKind::Cast, Millis(0)).unwrap();
        }
    };
    let released = |e: &mut Engine, now: u64| -> Vec<ActorKey> {
        (e.release_parked(Millis(now), true).into_iter())
            .map(|(_, held)| held.key)
            .collect()
    };
    park_both(&mut e);
    let now = park + 10;
    e.handoff.handle_busy(&b, Millis(now - 5));
    assert_eq!(released(&mut e, now), vec![elsewhere.clone()]);
    // Still busy at the patience's end: it goes then.
    e.handoff.handle_busy(&b, Millis(patience));
    assert_eq!(released(&mut e, patience + 1), vec![incoming.clone()]);
    // A silent source: nothing waits past the park deadline.
    let mut e = engine();
    e.routing
        .handle_register(&c, [elsewhere.clone()], |_| false, |_| true);
    park_both(&mut e);
    e.handoff.handle_busy(&b, Millis(1));
    let mut both = released(&mut e, 2 * park + 10);
    both.sort();
    let mut expect = vec![incoming.clone(), elsewhere.clone()];
    expect.sort();
    assert_eq!(both, expect);
}

/// `a` with `b` up (a session and a hello).
fn with_peer_b(a: &mut Engine) -> NodeName {
    let b = NodeName::new("b");
    a.handle_sessions(
        vec![(b.clone(), "b:7000".into())],
        [b.clone()].into(),
        &[],
        Millis(1),
    );
    a.handle_hello(&b, Incarnation(2), hello_of("b"), false, Millis(2))
        .unwrap();
    let _ = std::iter::from_fn(|| a.poll_command()).count();
    b
}

/// `a` with `b` up, and settled in their view (`b` adopted it and is done).
fn settled_with_peer_b(a: &mut Engine) -> NodeName {
    let b = with_peer_b(a);
    let view = a.handoff.view();
    a.handle_frame(&b, FrameBody::ViewAdopted { view }, Millis(3));
    a.handle_frame(&b, FrameBody::HandoffsDone { view }, Millis(3));
    assert!(a.handoff.is_settled());
    b
}

/// Issue 9, finding 10 (slow-network simulation, seed 400): a leaver went as soon as its
/// actors were handed off, and casts a peer had routed to it by its older view were lost
/// on the way. It now waits until each peer still up said it took the leave into its
/// view; a peer says so after it flushed what it routed there.
#[test]
fn a_leaver_goes_only_once_every_peer_up_took_its_leave_into_its_view() {
    // `a` leaves with nothing to hand off; `b` has finished its handoffs for the view.
    let leaving = || {
        let mut a = engine("a");
        let b = with_peer_b(&mut a);
        a.handle_leave(vec![b.clone()], Millis(10));
        let view = std::iter::from_fn(|| a.poll_command())
            .find_map(|c| match c {
                Command::AdoptView(view) => Some(view),
                _ => None,
            })
            .expect("a view without a");
        a.handle_frame(&b, FrameBody::ViewAdopted { view }, Millis(11));
        a.handle_frame(&b, FrameBody::HandoffsDone { view }, Millis(12));
        let _ = std::iter::from_fn(|| a.poll_command()).count();
        assert!(a.handoff.is_quiescent());
        (a, b)
    };
    let (mut a, b) = leaving();
    assert_eq!(a.leave_done(Millis(20)), None, "b has not seen the leave");
    a.handle_frame(&b, FrameBody::LeaveSeen, Millis(30));
    assert_eq!(a.leave_done(Millis(30)), Some(false));

    // A peer that goes down is not waited for.
    let (mut a, _) = leaving();
    a.handle_sessions(Vec::new(), Default::default(), &[], Millis(30));
    assert_eq!(a.leave_done(Millis(30)), Some(false));

    // Nor past the leave deadline (not a fallback: every actor was handed off).
    let (a, b) = leaving();
    let late = 10 + a.timing().leave_ms() + 1;
    assert_eq!(a.leave_done(Millis(late)), Some(false));
    assert_eq!(a.leave_unseen(), vec![b]);

    // Until then, each tick reminds a silent peer (its `Leaving` or the answer may have
    // been lost with a replaced session); once it answered, it hears nothing more.
    let (mut a, b) = leaving();
    a.handle_tick(Millis(100));
    let reminded = |a: &mut Engine| {
        sends(a)
            .iter()
            .any(|(to, f)| *to == b && matches!(f, FrameBody::Leaving))
    };
    assert!(reminded(&mut a));
    a.handle_frame(&b, FrameBody::LeaveSeen, Millis(150));
    a.handle_tick(Millis(200));
    assert!(!reminded(&mut a));

    // The peer's side: what it holds for the leaver goes first, then the word.
    let mut c = engine("c");
    let b = with_peer_b(&mut c);
    c.handle_frame(&b, FrameBody::Leaving, Millis(10));
    let commands: Vec<Command> = std::iter::from_fn(|| c.poll_command()).collect();
    let flush = commands
        .iter()
        .position(|c| matches!(c, Command::Flush(to) if *to == b));
    let seen = commands
        .iter()
        .position(|c| matches!(c, Command::Send { to, body: FrameBody::LeaveSeen } if *to == b));
    assert!(
        matches!((flush, seen), (Some(f), Some(s)) if f < s),
        "{commands:?}"
    );
    assert!(!c.mesh.membership().placement().contains(&b));
}

/// Slow-network simulation, seeds 1311, 1593 and 2071: a registration a leaver sent
/// before its `Leaving` arrived after it, made a directory entry naming the leaver, and
/// casts routed by it went to a node that was gone.
#[test]
fn a_leavers_late_registration_makes_no_directory_entry() {
    let mut a = engine("a");
    let b = with_peer_b(&mut a);
    let key = ActorKey::new("x");
    assert!(a.handle_leaving(&b));
    let yields = a.handle_register(&b, vec![(key.clone(), "kind".into())]);
    assert!(yields.is_empty());
    assert_eq!(a.routing.routes().directory_host(&key), None);
}

/// Issue 8: the drain of an actor still starting waits in the engine, not in the node
/// layer. ractor refuses to start an actor already marked draining (and one marked while
/// its `restore` runs fails to link), so a drain decided before the start was reported is
/// only a hold ([`Command::HoldForDrain`]) until the report, then a [`Command::Drain`]; a
/// start that failed is not drained (its exit is told separately).
#[test]
fn a_drain_decided_while_an_actor_starts_waits_for_its_start_to_be_reported() {
    let mut a = engine_with_kinds("a", [("plain".to_string(), KindInfo::default())].into());
    let b = with_peer_b(&mut a);
    let activation = crate::core::Activation {
        generation: 1,
        origin: a.me.clone(),
    };
    let keys: Vec<ActorKey> = (0..3).map(|i| ActorKey::new(format!("k{i}"))).collect();
    for (i, key) in keys.iter().enumerate() {
        let meta = crate::core::NameMeta::new("plain", Vec::new(), activation.clone());
        a.handle_started(ChildId(i as u64), key, "plain", meta);
    }
    // k0 and k1 are still starting; k2 runs.
    a.handle_starting([ChildId(0), ChildId(1)]);
    a.handle_leave(vec![b.clone()], Millis(10));
    let commands: Vec<Command> = std::iter::from_fn(|| a.poll_command()).collect();
    let drains = |commands: &[Command]| -> Vec<(String, &'static str)> {
        let mut out: Vec<_> = commands
            .iter()
            .filter_map(|c| match c {
                Command::Drain { key, to, .. } if *to == b => Some((key.to_string(), "drain")),
                Command::HoldForDrain { key, to } if *to == b => Some((key.to_string(), "hold")),
                _ => None,
            })
            .collect();
        out.sort();
        out
    };
    assert_eq!(
        drains(&commands),
        vec![
            ("k0".to_string(), "hold"),
            ("k1".to_string(), "hold"),
            ("k2".to_string(), "drain")
        ],
        "{commands:?}"
    );
    assert_eq!(a.footprint().get("engine.drain_after_start"), 2);
    // k0 started: drained now. k1's start failed: nothing to drain.
    a.handle_start_reported(ChildId(0), true);
    a.handle_start_reported(ChildId(1), false);
    let commands: Vec<Command> = std::iter::from_fn(|| a.poll_command()).collect();
    assert_eq!(drains(&commands), vec![("k0".to_string(), "drain")]);
    let f = a.footprint();
    assert_eq!(
        (f.get("engine.starting"), f.get("engine.drain_after_start")),
        (0, 0)
    );
}

/// A passivated name's kept state that reaches a node whose view has given the name to a
/// third node since is forwarded there, and the batch it came in is acknowledged only once
/// that owner took it: the sender's barrier waits for the owner until then, so the owner
/// cannot settle and start the name afresh on a message while its state is on the way (it
/// then dropped the state as a second copy's).
#[test]
fn a_forwarded_kept_state_is_acknowledged_to_its_sender_only_once_its_owner_took_it() {
    let (a, b, c) = (NodeName::new("a"), NodeName::new("b"), NodeName::new("c"));
    let placement = Placement::weighted(
        Epoch(1),
        [(a.clone(), 1.0), (b.clone(), 1.0), (c.clone(), 1.0)],
    );
    let kind = KindInfo {
        mode: HandoffMode::Resume,
        on_demand: true,
        ..KindInfo::default()
    };
    let kinds = BTreeMap::from([("cart".to_string(), kind)]);
    let mut engine = engine_with("b", kinds, placement.clone());
    let key = (0..)
        .map(|i| ActorKey::new(format!("cart/{i}")))
        .find(|k| placement.owner_of(k) == Some(&c))
        .expect("c owns some name");
    let entry = MigrateEntry {
        args: vec![7],
        passive: true,
        ..migrate_entry(&key, "cart", Snapshot::new(1, vec![42]), 1, "a")
    };
    let _ = sends(&mut engine);
    engine.handle_frame(
        &a,
        FrameBody::Migrate {
            batch: 9,
            entries: vec![entry],
        },
        Millis(10),
    );
    // The node layer starts what arrived (nothing runs of a kept state) and reports it.
    let mut forward = None;
    for command in std::iter::from_fn(|| engine.poll_command()).collect::<Vec<_>>() {
        match command {
            Command::StartArrivals { arrivals, .. } => assert!(arrivals.is_empty()),
            Command::SendBatch { to, batch, keys } => {
                assert_eq!((&to, keys.as_slice()), (&c, std::slice::from_ref(&key)));
                forward = Some(batch);
            }
            _ => {}
        }
    }
    let forward = forward.expect("the kept state goes on to its owner");
    engine.handle_arrivals_started(&a, Some(9), Vec::new(), Vec::new());
    let acked = |sent: &[(NodeName, FrameBody)]| {
        (sent.iter()).any(|(to, f)| *to == a && matches!(f, FrameBody::MigrateAck { batch: 9, .. }))
    };
    assert!(!acked(&sends(&mut engine)), "acknowledged before c took it");
    // The sender resends the batch meanwhile: still not acknowledged.
    engine.handle_frame(
        &a,
        FrameBody::Migrate {
            batch: 9,
            entries: Vec::new(),
        },
        Millis(20),
    );
    assert!(!acked(&sends(&mut engine)), "a resend acknowledged early");
    // The owner acknowledges the forward; the node layer reports the move done.
    engine.handle_frame(
        &c,
        FrameBody::MigrateAck {
            batch: forward,
            superseded: Vec::new(),
            refused: Vec::new(),
        },
        Millis(30),
    );
    let moved = std::iter::from_fn(|| engine.poll_command())
        .any(|cmd| matches!(cmd, Command::Moved { key: k, to } if k == key && to == c));
    assert!(moved);
    let _ = engine.handle_moved(&key, &c, Millis(30));
    assert!(acked(&sends(&mut engine)), "acknowledged once c took it");
    assert!(engine.forwarding.is_empty());
}

/// Two live copies of a name met at a node that does not own it (after a heal a copy
/// yields to wherever another copy runs): the survivor is resolved there, then, once the
/// view has been quiet (the two nodes may have decided under different views), handed to
/// the name's owner. The containers test's heal left such names on a non-owner until the
/// next view change, and nodes named different hosts for them.
#[test]
fn a_conflict_resolved_off_the_owner_hands_the_survivor_to_the_owner() {
    let kind = KindInfo {
        mode: HandoffMode::Resume,
        ..KindInfo::default()
    };
    let kinds = BTreeMap::from([("counter".to_string(), kind)]);
    let mut a = engine_with_kinds("a", kinds);
    let b = settled_with_peer_b(&mut a);
    let _ = sends(&mut a);
    assert!(a.handoff.is_settled());
    let placement = a.view_placement();
    let key = (0..)
        .map(|i| ActorKey::new(format!("k{i}")))
        .find(|k| placement.owner_of(k) == Some(&b))
        .expect("b owns some name");
    // A copy of it runs here (respawned while b was cut off, say).
    let id = ChildId(1);
    let activation = Activation::first(NodeName::new("a"));
    a.handle_started(
        id,
        &key,
        "counter",
        NameMeta::new("counter", Vec::new(), activation),
    );
    a.handle_start_ok(id, Millis(4));
    let _ = sends(&mut a);
    // A newer copy arrives from a third node and wins.
    let entry = migrate_entry(&key, "counter", Snapshot::new(1, vec![9]), 5, "c");
    a.handle_frame(
        &NodeName::new("c"),
        FrameBody::Conflict { entry },
        Millis(5),
    );
    let mut commands: Vec<Command> = std::iter::from_fn(|| a.poll_command()).collect();
    assert!(
        !commands.iter().any(|c| matches!(c, Command::Drain { .. })),
        "moved before the view was quiet: {commands:?}"
    );
    // Once the view has been quiet (two heartbeats, 200 ms here), it goes to its owner.
    for t in (50..600).step_by(50) {
        a.handle_heard(&b, Incarnation(2), Millis(t));
        a.handle_tick(Millis(t));
        commands.extend(std::iter::from_fn(|| a.poll_command()));
    }
    let resolve = commands
        .iter()
        .position(|c| matches!(c, Command::Resolve { key: k, .. } if *k == key));
    let drain = commands
        .iter()
        .position(|c| matches!(c, Command::Drain { key: k, to, .. } if *k == key && *to == b));
    assert!(
        matches!((resolve, drain), (Some(r), Some(d)) if r < d),
        "{commands:?}"
    );
}

/// `under_replicated` counts the names hosted here whose replica set is not confirmed: a
/// name just started has none (its spec goes to `b`, which has not said it keeps it), and
/// once `b` confirms, none is left. A spec not confirmed for a whole resend interval is sent
/// again (one lost with a replaced session left a name short of a holder for good: the
/// containers test's rolling restart waited 60 s for `under_replicated=0`).
#[test]
fn a_name_is_under_replicated_and_its_spec_sent_again_until_its_holder_confirmed_it() {
    let kinds = BTreeMap::from([("counter".to_string(), KindInfo::default())]);
    let mut a = engine_with_kinds("a", kinds);
    // Two names `a` keeps once `b` is up (they do not move).
    let both = Placement::weighted(Epoch(1), [(a.me.clone(), 1.0), (NodeName::new("b"), 1.0)]);
    let keys: Vec<ActorKey> = (0..)
        .map(|i| ActorKey::new(format!("k{i}")))
        .filter(|k| both.owner_of(k) == Some(&a.me))
        .take(2)
        .collect();
    let (key, other) = (keys[0].clone(), keys[1].clone());
    for (i, k) in keys.iter().enumerate() {
        let id = ChildId(i as u64 + 1);
        let activation = Activation::first(NodeName::new("a"));
        a.handle_started(
            id,
            k,
            "counter",
            NameMeta::new("counter", Vec::new(), activation),
        );
        a.handle_start_ok(id, Millis(1));
    }
    // Alone, nothing more can be asked of them.
    assert_eq!(a.under_replicated(), 0);
    let b = settled_with_peer_b(&mut a);
    assert_eq!(a.under_replicated(), 2);
    a.replicate(None, Millis(4));
    let sent = sends(&mut a);
    assert!(
        sent.iter()
            .any(|(to, f)| *to == b && matches!(f, FrameBody::Replicate { .. })),
        "{sent:?}"
    );
    assert_eq!(a.under_replicated(), 2, "sent, not confirmed yet");
    // `b` confirms one of them at once.
    a.handle_frame(
        &b,
        FrameBody::SpecsKept {
            keys: vec![other.clone()],
        },
        Millis(5),
    );
    assert_eq!(a.under_replicated(), 1);
    // How many times each name's spec goes to `b` again within a second from `from`.
    let resent = |a: &mut Engine, from: u64| {
        let (mut unconfirmed, mut confirmed) = (0, 0);
        for t in (from..from + 1_000).step_by(50) {
            // (b keeps answering: it stays up)
            a.handle_heard(&b, Incarnation(2), Millis(t));
            a.handle_tick(Millis(t));
            for (to, f) in sends(a) {
                if let (true, FrameBody::Replicate { specs }) = (to == b, f) {
                    unconfirmed += specs.iter().filter(|(k, _)| *k == key).count();
                    confirmed += specs.iter().filter(|(k, _)| *k == other).count();
                }
            }
        }
        (unconfirmed, confirmed)
    };
    // (the resend interval is two heartbeats, 200 ms here)
    let (first, again) = resent(&mut a, 10);
    assert!(first >= 2, "an unconfirmed spec goes again");
    assert_eq!(again, 0, "a confirmed spec is not sent again");
    // At most `MAX_SPEC_RESENDS` times (a holder that refuses it never confirms).
    let (more, _) = resent(&mut a, 1_010);
    let (last, _) = resent(&mut a, 2_010);
    assert_eq!(
        first + more + last,
        crate::core::recovery::MAX_SPEC_RESENDS as usize
    );
    assert_eq!(a.under_replicated(), 1);
    a.handle_frame(
        &b,
        FrameBody::SpecsKept {
            keys: vec![key.clone()],
        },
        Millis(3_100),
    );
    assert_eq!(a.under_replicated(), 0);
    assert!(a.mesh.membership().is_up(&b));
}
