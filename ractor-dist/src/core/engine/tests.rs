use std::collections::BTreeMap;

use super::*;
use crate::core::wire::{self, FrameBody};
use crate::core::{Epoch, HoldKind, Incarnation};

fn engine(name: &str) -> Engine {
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
    let placement = Placement::weighted(Epoch(1), [(me, 1.0)]);
    Engine::new(
        EngineConfig::new(&config, hello, BTreeMap::new()),
        placement,
        Millis(0),
    )
}

fn sends(engine: &mut Engine) -> Vec<(NodeName, FrameBody)> {
    std::iter::from_fn(|| engine.poll_command())
        .filter_map(|c| match c {
            Command::Send { to, body } => Some((to, body)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_leaving_node_tells_a_peer_it_meets_that_it_is_leaving_right_after_its_hello() {
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
    let to_b: Vec<FrameBody> = sends(&mut a)
        .into_iter()
        .filter(|(to, _)| *to == b)
        .map(|(_, body)| body)
        .collect();
    let hello = to_b
        .iter()
        .position(|f| matches!(f, FrameBody::Hello { .. }));
    let leaving = to_b.iter().position(|f| matches!(f, FrameBody::Leaving));
    assert!(
        matches!((hello, leaving), (Some(h), Some(l)) if h < l),
        "{to_b:?}"
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
