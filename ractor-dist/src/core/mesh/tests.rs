use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::core::hash::HASH_VERSION;

const PROTOCOL: u32 = 2;

fn hello(name: &str, inc: u64) -> Hello {
    Hello {
        node: NodeName::new(name),
        incarnation: Incarnation(inc),
        protocol: PROTOCOL,
        hash_version: HASH_VERSION,
        addr: format!("{name}:1"),
        weight: 1.0,
    }
}

fn timing() -> Timing {
    Timing {
        heartbeat_interval_ms: 100,
        heartbeat_deadline_ms: 1_000,
        reconnect_min_ms: 100,
        reconnect_max_ms: 400,
        ..Timing::default()
    }
}

fn mesh(seeds: &[&str]) -> Mesh {
    Mesh::new(
        hello("a", 1),
        seeds.iter().map(|s| s.to_string()).collect(),
        &timing(),
    )
}

fn drain(m: &mut Mesh) -> Vec<MeshCommand> {
    std::iter::from_fn(|| m.poll_command()).collect()
}

fn n(name: &str) -> NodeName {
    NodeName::new(name)
}

/// Sessions with `peers` (each reachable), none of them fresh.
fn sessions(m: &mut Mesh, peers: &[&str], now: u64) {
    let s: BTreeMap<NodeName, String> = peers.iter().map(|p| (n(p), format!("{p}:1"))).collect();
    let r: BTreeSet<NodeName> = peers.iter().map(|p| n(p)).collect();
    m.handle_sessions(s, r, &[], Millis(now));
}

/// `a` with `b` up.
fn with_b_up() -> Mesh {
    let mut m = mesh(&[]);
    sessions(&mut m, &["b"], 0);
    m.handle_hello(&n("b"), Incarnation(2), hello("b", 2), false, Millis(0))
        .unwrap();
    drain(&mut m);
    m
}

#[test]
fn a_hello_brings_a_peer_up_and_changes_the_view_once() {
    let mut m = mesh(&[]);
    sessions(&mut m, &["b"], 0);
    m.handle_hello(&n("b"), Incarnation(2), hello("b", 2), true, Millis(5))
        .unwrap();
    let cmds = drain(&mut m);
    assert!(matches!(
        &cmds[0],
        MeshCommand::Event { event: MembershipEvent::Up { node, .. }, first: true } if *node == n("b")
    ));
    assert_eq!(cmds[1], MeshCommand::ViewChanged { lost: vec![] });
    assert_eq!(
        cmds[2],
        MeshCommand::SendHello {
            to: n("b"),
            reply: false
        }
    );
    assert_eq!(cmds.len(), 3);
    // The same hello again changes nothing.
    m.handle_hello(&n("b"), Incarnation(2), hello("b", 2), false, Millis(6))
        .unwrap();
    assert!(drain(&mut m).is_empty());
}

#[test]
fn a_hello_naming_another_node_is_refused_but_its_address_is_dialed() {
    let mut m = mesh(&[]);
    let err = m
        .handle_hello(&n("b"), Incarnation(2), hello("c", 3), false, Millis(0))
        .unwrap_err();
    assert_eq!(
        err,
        HelloError::MismatchedSender {
            from: n("b"),
            claimed: n("c")
        }
    );
    assert!(m.membership().peers().is_empty());
    m.handle_tick(Millis(1));
    assert!(drain(&mut m).contains(&MeshCommand::Dial("c:1".into())));
}

#[test]
fn unknown_senders_are_asked_for_a_hello_at_most_every_250_ms() {
    let mut m = mesh(&[]);
    sessions(&mut m, &["b"], 0);
    drain(&mut m);
    let ask = MeshCommand::SendHello {
        to: n("b"),
        reply: true,
    };
    m.handle_heard(&n("b"), Incarnation(2), Millis(0));
    assert_eq!(drain(&mut m), vec![ask.clone()]);
    m.handle_heard(&n("b"), Incarnation(2), Millis(249));
    assert!(drain(&mut m).is_empty());
    m.handle_heard(&n("b"), Incarnation(2), Millis(250));
    assert_eq!(drain(&mut m), vec![ask]);
}

#[test]
fn ticks_heartbeat_up_peers_retry_hellos_to_the_others_and_dial_seeds() {
    let mut m = with_b_up();
    let mut m2 = mesh(&["s:1"]);
    // b is up and reachable; c is connected but has not said hello.
    sessions(&mut m, &["b", "c"], 10);
    drain(&mut m);
    m.handle_tick(Millis(20));
    let cmds = drain(&mut m);
    assert!(cmds.contains(&MeshCommand::SendHello {
        to: n("c"),
        reply: true
    }));
    let beat = cmds
        .iter()
        .find_map(|c| match c {
            MeshCommand::Heartbeat { to, members } => Some((to.clone(), members.clone())),
            _ => None,
        })
        .expect("a heartbeat");
    assert_eq!(beat.0, vec![n("b")]);
    assert!(beat.1.contains(&(n("a"), "a:1".into())));
    assert!(beat.1.contains(&(n("b"), "b:1".into())));
    // The hello to c is retried once per second, not every tick.
    m.handle_tick(Millis(500));
    assert!(!drain(&mut m)
        .iter()
        .any(|c| matches!(c, MeshCommand::SendHello { .. })));
    m.handle_tick(Millis(1_020));
    assert!(drain(&mut m)
        .iter()
        .any(|c| matches!(c, MeshCommand::SendHello { .. })));
    // Seeds are dialed with backoff.
    m2.handle_tick(Millis(0));
    assert_eq!(drain(&mut m2), vec![MeshCommand::Dial("s:1".into())]);
    m2.handle_tick(Millis(50));
    assert!(drain(&mut m2).is_empty());
}

/// The heartbeats of one tick, as (recipients, member names carried, sorted), after
/// hearing from the `alive` peers (name, incarnation).
fn beats(m: &mut Mesh, now: u64, alive: &[(&str, u64)]) -> Vec<(Vec<NodeName>, Vec<NodeName>)> {
    for (peer, inc) in alive {
        m.handle_heard(&n(peer), Incarnation(*inc), Millis(now));
    }
    m.handle_tick(Millis(now));
    drain(m)
        .into_iter()
        .filter_map(|c| match c {
            MeshCommand::Heartbeat { to, members } => {
                let mut names: Vec<NodeName> = members.into_iter().map(|(n, _)| n).collect();
                names.sort();
                Some((to, names))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn heartbeats_carry_the_member_list_only_to_peers_without_it_and_every_ten_intervals() {
    let mut m = with_b_up();
    let ab = vec![n("a"), n("b")];
    let b = [("b", 2)];
    let bc = [("b", 2), ("c", 3)];
    // b gets the list once, then bare heartbeats.
    assert_eq!(beats(&mut m, 100, &b), vec![(vec![n("b")], ab.clone())]);
    assert_eq!(beats(&mut m, 200, &b), vec![(vec![n("b")], vec![])]);
    // c comes up: the list changed, so both get it; then neither.
    sessions(&mut m, &["b", "c"], 250);
    m.handle_hello(&n("c"), Incarnation(3), hello("c", 3), false, Millis(250))
        .unwrap();
    drain(&mut m);
    let abc = vec![n("a"), n("b"), n("c")];
    assert_eq!(
        beats(&mut m, 300, &bc),
        vec![(vec![n("b"), n("c")], abc.clone())]
    );
    assert_eq!(
        beats(&mut m, 400, &bc),
        vec![(vec![n("b"), n("c")], vec![])]
    );
    // Ten intervals (1 s here) after it last had the list, a peer gets it again.
    assert_eq!(
        beats(&mut m, 1_200, &bc),
        vec![(vec![n("b"), n("c")], vec![])]
    );
    assert_eq!(
        beats(&mut m, 1_300, &bc),
        vec![(vec![n("b"), n("c")], abc.clone())]
    );
    // A peer that lost its session gets the list again once it is back.
    sessions(&mut m, &["b"], 1_350);
    drain(&mut m);
    assert_eq!(beats(&mut m, 1_400, &b), vec![(vec![n("b")], ab.clone())]);
    sessions(&mut m, &["b", "c"], 1_450);
    m.handle_hello(&n("c"), Incarnation(4), hello("c", 4), false, Millis(1_450))
        .unwrap();
    drain(&mut m);
    assert_eq!(
        beats(&mut m, 1_500, &[("b", 2), ("c", 4)]),
        vec![(vec![n("b"), n("c")], abc)]
    );
}

#[test]
fn a_lost_session_takes_the_peer_down_as_lost() {
    let mut m = with_b_up();
    sessions(&mut m, &[], 10);
    let cmds = drain(&mut m);
    assert!(matches!(
        &cmds[0],
        MeshCommand::Event {
            event: MembershipEvent::Down {
                reason: DownReason::Disconnected,
                ..
            },
            ..
        }
    ));
    assert_eq!(cmds[1], MeshCommand::ViewChanged { lost: vec![n("b")] });
}

#[test]
fn a_silent_peer_is_disconnected_and_lost_at_the_deadline() {
    let mut m = with_b_up();
    m.handle_tick(Millis(1_000));
    assert!(!drain(&mut m)
        .iter()
        .any(|c| matches!(c, MeshCommand::Disconnect(_))));
    m.handle_tick(Millis(1_001));
    let cmds = drain(&mut m);
    assert!(cmds.contains(&MeshCommand::Disconnect(n("b"))));
    assert!(cmds.contains(&MeshCommand::ViewChanged { lost: vec![n("b")] }));
    // After a pause of this process, deadlines restart instead.
    let mut m = with_b_up();
    m.handle_resumed(Millis(5_000));
    m.handle_tick(Millis(5_001));
    assert!(m.membership().is_up(&n("b")));
}

#[test]
fn a_leaver_leaves_the_view_but_stays_a_participant_until_it_disconnects() {
    let mut m = with_b_up();
    assert!(m.handle_leaving(&n("b")));
    let cmds = drain(&mut m);
    assert!(cmds.contains(&MeshCommand::ViewChanged { lost: vec![] }));
    assert!(!m.membership().is_up(&n("b")));
    assert!(m.participants().contains(&n("b")));
    assert!(m.is_present(&n("b"), Incarnation(2)));
    sessions(&mut m, &["b"], 10);
    assert!(drain(&mut m).is_empty());
    sessions(&mut m, &[], 20);
    assert_eq!(drain(&mut m), vec![MeshCommand::LeaverGone(n("b"))]);
    assert!(m.participants().is_empty());
    // An unknown leaver changes nothing.
    assert!(!m.handle_leaving(&n("zz")));
}

/// A `Leaving` is taken by the incarnation of the frame that carried it: from a restarted
/// peer, the incarnation up was replaced (what it hosted is gone, its names are offered,
/// not awaited) and the new one leaves; from the member itself, the member leaves.
#[test]
fn a_leaving_from_a_restarted_peer_replaces_the_incarnation_up() {
    let mut m = with_b_up();
    let _ = drain(&mut m);
    m.handle_heard(&n("b"), Incarnation(3), Millis(50));
    assert!(m.handle_leaving(&n("b")));
    assert!(!m.membership().is_up(&n("b")));
    assert!(m.membership().has_left(&n("b"), Incarnation(3)));
    assert!(!m.membership().has_left(&n("b"), Incarnation(2)));
    assert!(m.membership().is_gone(&n("b"), Incarnation(2)));
    // A later frame of the member itself (after its hello) clears what was heard before.
    let mut m = with_b_up();
    m.handle_heard(&n("b"), Incarnation(3), Millis(50));
    m.handle_heard(&n("b"), Incarnation(2), Millis(60));
    assert!(m.handle_leaving(&n("b")));
    assert!(m.membership().has_left(&n("b"), Incarnation(2)));
}

#[test]
fn a_refusal_is_reported_first_once_per_reason() {
    let mut m = mesh(&[]);
    let mut bad = hello("b", 2);
    bad.protocol = 99;
    for first in [true, false] {
        m.handle_hello(&n("b"), Incarnation(2), bad.clone(), false, Millis(0))
            .unwrap();
        let cmds = drain(&mut m);
        assert_eq!(cmds.len(), 1);
        assert!(matches!(
            &cmds[0],
            MeshCommand::Event { event: MembershipEvent::Refused { .. }, first: f } if *f == first
        ));
    }
}

#[test]
fn a_stopping_node_neither_greets_nor_beats_nor_dials() {
    let mut m = with_b_up();
    m.learn(&[(n("c"), "c:1".into())], Millis(0));
    m.handle_stopping();
    m.handle_tick(Millis(10));
    m.handle_heard(&n("d"), Incarnation(4), Millis(10));
    assert!(drain(&mut m).is_empty());
}

/// Dials issued by one tick at `now`.
fn dials_at(m: &mut Mesh, now: u64) -> Vec<String> {
    m.handle_tick(Millis(now));
    drain(m)
        .into_iter()
        .filter_map(|c| match c {
            MeshCommand::Dial(addr) => Some(addr),
            _ => None,
        })
        .collect()
}

#[test]
fn a_seed_spelled_unlike_the_advertised_address_is_not_redialed_once_identified() {
    // b advertises "b:1"; the seed says "localhost:7101".
    let mut m = mesh(&["localhost:7101"]);
    assert_eq!(dials_at(&mut m, 0), vec!["localhost:7101".to_string()]);
    sessions(&mut m, &["b"], 10);
    m.handle_hello(&n("b"), Incarnation(2), hello("b", 2), false, Millis(10))
        .unwrap();
    // Not identified yet: the spelling differs, so it is redialed with backoff (the bug).
    assert_eq!(dials_at(&mut m, 100), vec!["localhost:7101".to_string()]);
    assert!(m.handle_dial_identified("localhost:7101", &n("b")));
    assert!(!m.handle_dial_identified("localhost:7101", &n("b")));
    let dials = m.dials();
    for t in (200..20_000).step_by(100) {
        assert!(dials_at(&mut m, t).is_empty(), "redialed at {t}");
    }
    assert_eq!(m.dials(), dials);
    // b goes: the seed is dialed again, with a reset backoff (b's own address, learned
    // from its hello 20 s ago and mentioned by no one since, is forgotten).
    sessions(&mut m, &[], 20_000);
    assert_eq!(dials_at(&mut m, 20_000), vec!["localhost:7101".to_string()]);
    assert_eq!(m.dials(), dials + 1);
    assert_eq!(m.forgotten(), 1);
}

#[test]
fn a_target_found_to_be_this_node_is_never_dialed() {
    let mut m = mesh(&["myself:7100"]);
    assert_eq!(dials_at(&mut m, 0).len(), 1);
    m.handle_dial_identified("myself:7100", &n("a"));
    for t in (100..10_000).step_by(100) {
        assert!(dials_at(&mut m, t).is_empty());
    }
}

#[test]
fn a_target_that_now_leads_elsewhere_follows_its_new_node() {
    let mut m = mesh(&["svc:7100"]);
    m.handle_dial_identified("svc:7100", &n("b"));
    sessions(&mut m, &["c"], 0);
    // b is not connected: the target is dialed, and this time it reached c.
    assert_eq!(dials_at(&mut m, 0), vec!["svc:7100".to_string()]);
    assert!(m.handle_dial_identified("svc:7100", &n("c")));
    assert_eq!(m.identified().get("svc:7100"), Some(&n("c")));
    assert!(dials_at(&mut m, 10_000).is_empty());
}

fn set(addrs: &[&str]) -> BTreeSet<String> {
    addrs.iter().map(|a| a.to_string()).collect()
}

#[test]
fn discovered_addresses_are_dialed_until_a_refresh_no_longer_returns_them() {
    let mut m = mesh(&["seed:1"]);
    // Our own address among them is never a target.
    m.handle_discovered(set(&["x:1", "y:1", "a:1"]), Millis(0));
    assert_eq!(dials_at(&mut m, 0), vec!["seed:1", "x:1", "y:1"]);
    assert_eq!(m.dial_targets(), 3);
    m.handle_discovered(set(&["x:1"]), Millis(50));
    assert_eq!(dials_at(&mut m, 100), vec!["seed:1", "x:1"]);
    assert_eq!(m.dial_targets(), 2);
    assert_eq!(m.forgotten(), 1);
    // The seed stays, however long nothing returns it.
    m.handle_discovered(set(&[]), Millis(200));
    for t in (300..60_000).step_by(100) {
        assert!(dials_at(&mut m, t).iter().all(|a| a == "seed:1"));
    }
    assert_eq!(m.dial_targets(), 1);
    assert_eq!(m.forgotten(), 2);
}

#[test]
fn a_target_no_longer_discovered_is_kept_while_connected_and_forgotten_once_not() {
    let mut m = mesh(&[]);
    m.handle_discovered(set(&["b:1"]), Millis(0));
    assert_eq!(dials_at(&mut m, 0), vec!["b:1"]);
    sessions(&mut m, &["b"], 10);
    m.handle_discovered(set(&[]), Millis(20));
    assert!(dials_at(&mut m, 30).is_empty());
    assert_eq!(m.dial_targets(), 1, "forgotten while connected");
    sessions(&mut m, &[], 40);
    assert!(dials_at(&mut m, 50).is_empty());
    assert_eq!(m.dial_targets(), 0);
    assert_eq!(m.forgotten(), 1);
}

#[test]
fn a_learned_address_is_forgotten_when_unmentioned_for_ten_deadlines_or_when_its_node_left() {
    let mut m = mesh(&[]);
    m.learn(&[(n("c"), "c:1".into())], Millis(0));
    assert_eq!(dials_at(&mut m, 0), vec!["c:1"]);
    // Mentioned again at 5 s: kept until 15 s.
    m.learn(&[(n("c"), "c:1".into())], Millis(5_000));
    assert!(dials_at(&mut m, 14_999).iter().all(|a| a == "c:1"));
    assert_eq!(m.dial_targets(), 1);
    assert!(dials_at(&mut m, 15_000).is_empty());
    assert_eq!(m.dial_targets(), 0);
    // A leaver's address goes as soon as the leaver is gone.
    let mut m = with_b_up();
    assert_eq!(m.dial_targets(), 1);
    m.handle_leaving(&n("b"));
    sessions(&mut m, &[], 10);
    assert!(drain(&mut m).contains(&MeshCommand::LeaverGone(n("b"))));
    assert!(dials_at(&mut m, 20).is_empty());
    assert_eq!(m.dial_targets(), 0);
}

#[test]
fn a_connected_members_advertised_address_is_not_dialed_whatever_its_session_came_through() {
    // b advertises "b:1" (a container's host name) but its session came through another
    // address (b dialed us, or we reached it at the IP discovery returned): found in the
    // container suite, where every node redialed its peers' names every few seconds.
    let mut m = mesh(&[]);
    let via_ip: BTreeMap<NodeName, String> = [(n("b"), "10.0.0.2:1".to_string())].into();
    m.handle_sessions(via_ip.clone(), [n("b")].into(), &[], Millis(0));
    m.handle_hello(&n("b"), Incarnation(2), hello("b", 2), false, Millis(0))
        .unwrap();
    drain(&mut m);
    let dials = m.dials();
    for t in (100..5_000).step_by(100) {
        m.handle_sessions(via_ip.clone(), [n("b")].into(), &[], Millis(t));
        m.handle_heard(&n("b"), Incarnation(2), Millis(t));
        assert!(dials_at(&mut m, t).is_empty(), "b dialed again at {t}");
    }
    assert_eq!(m.dials(), dials);
    // b goes: its advertised address is dialed again (learned from its hello 5 s ago).
    m.handle_sessions(BTreeMap::new(), BTreeSet::new(), &[], Millis(5_000));
    assert_eq!(dials_at(&mut m, 5_000), vec!["b:1".to_string()]);
}
