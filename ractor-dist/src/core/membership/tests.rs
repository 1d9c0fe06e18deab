use super::*;

fn hello(name: &str, inc: u64) -> Hello {
    Hello {
        node: NodeName::new(name),
        incarnation: Incarnation(inc),
        protocol: 1,
        hash_version: 1,
        addr: format!("{name}:1"),
        weight: 1.0,
    }
}

fn drain(m: &mut Membership) -> Vec<MembershipEvent> {
    std::iter::from_fn(|| m.poll_event()).collect()
}

#[test]
fn hello_brings_a_peer_up_and_bumps_the_epoch() {
    let mut m = Membership::new(hello("a", 1), 1000);
    assert_eq!(m.epoch(), Epoch(1));
    assert!(m.handle_hello(hello("b", 2), Millis(0)));
    assert_eq!(m.epoch(), Epoch(2));
    assert_eq!(
        m.member_names(),
        vec![NodeName::new("a"), NodeName::new("b")]
    );
    assert!(matches!(drain(&mut m)[..], [MembershipEvent::Up { .. }]));
    // a repeated hello changes nothing
    assert!(!m.handle_hello(hello("b", 2), Millis(5)));
    assert_eq!(m.epoch(), Epoch(2));
}

#[test]
fn silent_peer_is_declared_down_after_the_deadline_and_disconnected() {
    let mut m = Membership::new(hello("a", 1), 1000);
    m.handle_hello(hello("b", 2), Millis(0));
    drain(&mut m);
    assert_eq!(
        m.handle_heartbeat(&"b".into(), Incarnation(2), Millis(900)),
        HeartbeatOutcome::Accepted
    );
    assert!(!m.handle_tick(Millis(1900)));
    assert!(m.handle_tick(Millis(1901)));
    assert!(!m.is_up(&"b".into()));
    assert!(matches!(
        drain(&mut m)[..],
        [MembershipEvent::Down {
            reason: DownReason::HeartbeatTimeout,
            ..
        }]
    ));
    assert_eq!(
        m.poll_command(),
        Some(MembershipCommand::Disconnect("b".into()))
    );
    // its late heartbeat asks for a fresh hello instead of reviving it silently
    assert_eq!(
        m.handle_heartbeat(&"b".into(), Incarnation(2), Millis(2000)),
        HeartbeatOutcome::NeedHello
    );
    assert!(m.handle_hello(hello("b", 2), Millis(2000)));
}

#[test]
fn new_incarnation_replaces_the_old_one() {
    let mut m = Membership::new(hello("a", 1), 1000);
    m.handle_hello(hello("b", 2), Millis(0));
    drain(&mut m);
    assert!(m.handle_hello(hello("b", 3), Millis(10)));
    let events = drain(&mut m);
    assert!(matches!(
        events[..],
        [
            MembershipEvent::Down {
                reason: DownReason::Replaced,
                incarnation: Incarnation(2),
                ..
            },
            MembershipEvent::Up {
                incarnation: Incarnation(3),
                ..
            }
        ]
    ));
    assert_eq!(m.incarnation_of(&"b".into()), Some(Incarnation(3)));
    // heartbeats of the old incarnation are not accepted
    assert_eq!(
        m.handle_heartbeat(&"b".into(), Incarnation(2), Millis(20)),
        HeartbeatOutcome::NeedHello
    );
}

#[test]
fn other_protocol_version_is_refused_with_a_reason() {
    let mut m = Membership::new(hello("a", 1), 1000);
    let mut h = hello("b", 2);
    h.protocol = 99;
    assert!(!m.handle_hello(h, Millis(0)));
    assert!(!m.is_up(&"b".into()));
    match drain(&mut m).pop() {
        Some(MembershipEvent::Refused { reason, .. }) => {
            assert!(reason.contains("protocol version mismatch"), "{reason}")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn own_name_is_refused() {
    let mut m = Membership::new(hello("a", 1), 1000);
    assert!(!m.handle_hello(hello("a", 7), Millis(0)));
    assert_eq!(m.member_names(), vec![NodeName::new("a")]);
}

#[test]
fn disconnect_and_leave_take_a_peer_down_once() {
    let mut m = Membership::new(hello("a", 1), 1000);
    m.handle_hello(hello("b", 2), Millis(0));
    m.handle_hello(hello("c", 3), Millis(0));
    assert!(m.handle_disconnected(&"b".into()));
    assert!(!m.handle_disconnected(&"b".into()));
    assert!(!m.handle_left(&"c".into(), Incarnation(99)));
    assert!(m.handle_left(&"c".into(), Incarnation(3)));
    assert_eq!(m.epoch(), Epoch(5));
    assert_eq!(m.placement().members(), &[NodeName::new("a")]);
}

#[test]
fn a_resumed_node_does_not_blame_its_peers_for_its_own_pause() {
    let mut m = Membership::new(hello("a", 1), 1_000);
    m.handle_hello(hello("b", 1), Millis(0));
    while m.poll_event().is_some() {}
    let before = m.epoch();
    // paused for 5 s: the first tick after the pause would declare b down
    let epoch = m.handle_resumed(Millis(5_000));
    assert!(epoch > before);
    assert!(!m.handle_tick(Millis(5_100)));
    assert!(m.is_up(&NodeName::new("b")));
    // b still has to speak within the deadline
    assert!(m.handle_tick(Millis(6_200)));
}

#[test]
fn departures_are_remembered_for_the_last_max_gone_names_only() {
    let mut m = Membership::new(hello("a", 1), 1000);
    for i in 0..MAX_GONE + 10 {
        m.handle_left(&NodeName::new(format!("n{i}")), Incarnation(7));
    }
    // The same name leaving again takes no second place.
    m.handle_left(&NodeName::new(format!("n{}", MAX_GONE + 9)), Incarnation(8));
    let mut f = crate::core::Footprint::new();
    m.footprint(&mut f);
    assert_eq!(f.get("membership.left"), MAX_GONE);
    assert!(!m.has_left(&NodeName::new("n0"), Incarnation(7)));
    assert!(m.has_left(&NodeName::new("n10"), Incarnation(7)));
    let last = NodeName::new(format!("n{}", MAX_GONE + 9));
    assert!(m.has_left(&last, Incarnation(8)));
    assert!(f.grown_since(&crate::core::Footprint::new()).is_empty());
}

#[test]
fn a_name_that_leaves_again_is_remembered_as_the_newest_departure() {
    let mut m = Membership::new(hello("a", 1), 1000);
    let early = NodeName::new("early");
    m.handle_left(&early, Incarnation(1));
    for i in 0..MAX_GONE / 2 {
        m.handle_left(&NodeName::new(format!("n{i}")), Incarnation(7));
    }
    // `early` restarted and left again: its departure is now among the newest.
    m.handle_left(&early, Incarnation(2));
    for i in MAX_GONE / 2..MAX_GONE - 1 {
        m.handle_left(&NodeName::new(format!("n{i}")), Incarnation(7));
    }
    assert!(m.has_left(&early, Incarnation(2)));
    assert!(m.has_left(&NodeName::new("n0"), Incarnation(7)));
    // One more departure evicts the oldest (n0), not the name that left last but MAX_GONE/2.
    m.handle_left(&NodeName::new("late"), Incarnation(7));
    assert!(m.has_left(&early, Incarnation(2)));
    assert!(!m.has_left(&NodeName::new("n0"), Incarnation(7)));
    let mut f = crate::core::Footprint::new();
    m.footprint(&mut f);
    assert_eq!(f.get("membership.left"), MAX_GONE);
}
