use std::collections::BTreeMap;

use super::*;
use crate::core::recovery::Offer;
use crate::core::{Hello, Incarnation, Snapshot, Spec};

fn n(s: &str) -> NodeName {
    NodeName::new(s)
}

fn k(s: &str) -> ActorKey {
    ActorKey::new(s)
}

/// A node that runs or keeps `known` generations and places names by `owners`.
#[derive(Default)]
struct View {
    known: BTreeMap<ActorKey, u64>,
    owners: BTreeMap<ActorKey, NodeName>,
}

impl AdmitView for View {
    fn known_generation(&self, key: &ActorKey) -> Option<u64> {
        self.known.get(key).copied()
    }
    fn owner_of(&self, key: &ActorKey) -> Option<&NodeName> {
        self.owners.get(key)
    }
}

/// What the case is, the session, the frame, and the decision.
type Case = (&'static str, Option<NodeName>, Frame, Result<(), Refused>);

fn frame(from: &str, body: FrameBody) -> Frame {
    Frame {
        from: n(from),
        incarnation: Incarnation(7),
        body,
    }
}

fn hello(node: &str, incarnation: u64, weight: f64) -> FrameBody {
    FrameBody::Hello {
        hello: Hello {
            node: n(node),
            incarnation: Incarnation(incarnation),
            protocol: 7,
            hash_version: 1,
            addr: "127.0.0.1:7101".into(),
            weight,
        },
        reply: false,
    }
}

fn entry(key: &str, generation: u64, seq: u64) -> MigrateEntry {
    MigrateEntry {
        key: k(key),
        kind: "counter".into(),
        args: Vec::new(),
        snapshot: None,
        chunks: 0,
        version: 0,
        generation,
        origin: n("b"),
        holders: Vec::new(),
        checkpoint_seq: seq,
        order: Vec::new(),
        refused: Vec::new(),
        passive: false,
    }
}

fn spec(host: &str, generation: u64, seq: u64) -> Spec<Snapshot> {
    Spec {
        kind: "counter".into(),
        args: Vec::new(),
        generation,
        host: n(host),
        host_incarnation: Incarnation(1),
        seq,
        checkpoint: None,
    }
}

fn checkpoint(key: &str, generation: u64, seq: u64) -> FrameBody {
    FrameBody::Checkpoint {
        key: k(key),
        generation,
        seq,
        snapshot: Snapshot::new(0, Vec::new()),
        delta: false,
    }
}

/// Which frames are acted on, by the session they arrived over, the sender they name and
/// what they carry. `x` is known here at generation 5; `y` is unknown; `b` owns `x`.
#[test]
fn frames_are_acted_on_only_from_their_own_session_and_within_bounds() {
    let view = View {
        known: [(k("x"), 5)].into(),
        owners: [(k("x"), n("b")), (k("y"), n("c"))].into(),
    };
    let b = Some(n("b"));
    let impersonating = |claimed: &str| Refused::Impersonation {
        claimed: n(claimed),
        session: n("b"),
    };
    let not_entitled = |what, key: &str| Refused::NotEntitled {
        what,
        key: k(key),
        from: n("b"),
    };
    let cases: Vec<Case> = vec![
        // identity per frame
        (
            "own leaving",
            b.clone(),
            frame("b", FrameBody::Leaving),
            Ok(()),
        ),
        (
            "another node's leaving",
            b.clone(),
            frame("c", FrameBody::Leaving),
            Err(impersonating("c")),
        ),
        (
            "no session",
            None,
            frame("b", FrameBody::Leaving),
            Err(Refused::Unauthenticated { claimed: n("b") }),
        ),
        (
            "a heartbeat naming another sender",
            b.clone(),
            frame(
                "c",
                FrameBody::Heartbeat {
                    members: Vec::new(),
                },
            ),
            Err(impersonating("c")),
        ),
        (
            "a token needs no session (it acts through a confirmation)",
            None,
            frame("c", FrameBody::Token { token: 1 }),
            Ok(()),
        ),
        // hellos
        (
            "own hello",
            b.clone(),
            frame("b", hello("b", 7, 1.0)),
            Ok(()),
        ),
        (
            "a hello for someone else",
            b.clone(),
            frame("b", hello("c", 7, 1.0)),
            Err(Refused::HelloForOther {
                from: n("b"),
                described: n("c"),
            }),
        ),
        (
            "a hello for another incarnation",
            b.clone(),
            frame("b", hello("b", 8, 1.0)),
            Err(Refused::HelloForOther {
                from: n("b"),
                described: n("b"),
            }),
        ),
        (
            "a hello for someone else over their session",
            b.clone(),
            frame("c", hello("c", 7, 1.0)),
            Err(impersonating("c")),
        ),
        (
            "the largest weight",
            b.clone(),
            frame("b", hello("b", 7, MAX_WEIGHT)),
            Ok(()),
        ),
        (
            "an absurd weight",
            b.clone(),
            frame("b", hello("b", 7, 1e300)),
            Err(Refused::Weight(1e300)),
        ),
        (
            "a zero weight",
            b.clone(),
            frame("b", hello("b", 7, 0.0)),
            Err(Refused::Weight(0.0)),
        ),
        // generations and sequence numbers
        (
            "a checkpoint of the next generation",
            b.clone(),
            frame("b", checkpoint("x", 6, 10)),
            Ok(()),
        ),
        (
            "a generation far past the known one",
            b.clone(),
            frame("b", checkpoint("x", 5 + MAX_GENERATION_STEP + 1, 1)),
            Err(Refused::Generation {
                key: k("x"),
                generation: 5 + MAX_GENERATION_STEP + 1,
                limit: 5 + MAX_GENERATION_STEP,
            }),
        ),
        (
            "a new name at a high but possible generation",
            b.clone(),
            frame("b", checkpoint("y", MAX_GENERATION_STEP * 4, 1)),
            Ok(()),
        ),
        (
            "an absurd generation of an unknown name",
            b.clone(),
            frame(
                "b",
                FrameBody::Migrate {
                    batch: 1,
                    entries: vec![entry("y", 1, 0), entry("z", u64::MAX, 0)],
                },
            ),
            Err(Refused::Generation {
                key: k("z"),
                generation: u64::MAX,
                limit: MAX_GENERATION - 1,
            }),
        ),
        (
            "an absurd sequence number",
            b.clone(),
            frame("b", checkpoint("x", 5, u64::MAX)),
            Err(Refused::Sequence {
                key: k("x"),
                seq: u64::MAX,
            }),
        ),
        (
            "a conflicting copy past fencing",
            b.clone(),
            frame(
                "b",
                FrameBody::Conflict {
                    entry: entry("x", 1 << 40, 0),
                },
            ),
            Err(Refused::Generation {
                key: k("x"),
                generation: 1 << 40,
                limit: 5 + MAX_GENERATION_STEP,
            }),
        ),
        (
            "a respawn offer with an absurd generation",
            b.clone(),
            frame(
                "b",
                FrameBody::Respawn {
                    offers: vec![(
                        k("y"),
                        Offer {
                            spec: spec("d", u64::MAX - 1, 0),
                            hops: 0,
                        },
                    )],
                },
            ),
            Err(Refused::Generation {
                key: k("y"),
                generation: u64::MAX - 1,
                limit: MAX_GENERATION - 1,
            }),
        ),
        (
            "a spec with an absurd sequence number",
            b.clone(),
            frame(
                "b",
                FrameBody::Replicate {
                    specs: vec![(k("x"), spec("b", 5, MAX_SEQ))],
                },
            ),
            Err(Refused::Sequence {
                key: k("x"),
                seq: MAX_SEQ,
            }),
        ),
        // who may send what
        (
            "the new host rehosts",
            b.clone(),
            frame(
                "b",
                FrameBody::Rehost {
                    batch: 1,
                    keys: vec![(k("x"), n("c"))],
                    to: n("b"),
                    incarnation: Incarnation(7),
                },
            ),
            Ok(()),
        ),
        (
            "the named host rehosts to another",
            b.clone(),
            frame(
                "b",
                FrameBody::Rehost {
                    batch: 1,
                    keys: vec![(k("x"), n("b"))],
                    to: n("d"),
                    incarnation: Incarnation(1),
                },
            ),
            Ok(()),
        ),
        (
            "a bystander rehosts someone else's name to itself elsewhere",
            b.clone(),
            frame(
                "b",
                FrameBody::Rehost {
                    batch: 1,
                    keys: vec![(k("x"), n("b")), (k("y"), n("c"))],
                    to: n("d"),
                    incarnation: Incarnation(1),
                },
            ),
            Err(not_entitled("rehost", "y")),
        ),
        (
            "the directory node asks to yield",
            b.clone(),
            frame(
                "b",
                FrameBody::Yield {
                    keys: vec![(k("x"), n("c"))],
                },
            ),
            Ok(()),
        ),
        (
            "another node asks to yield",
            b.clone(),
            frame(
                "b",
                FrameBody::Yield {
                    keys: vec![(k("x"), n("c")), (k("y"), n("b"))],
                },
            ),
            Err(not_entitled("yield", "y")),
        ),
    ];
    for (what, session, frame, expected) in cases {
        assert_eq!(admit(session.as_ref(), &frame, &view), expected, "{what}");
    }
}

#[test]
fn weights_within_bounds_pass_and_others_do_not() {
    for ok in [MIN_WEIGHT, 0.5, 1.0, 64.0, MAX_WEIGHT] {
        assert_eq!(weight(ok), Ok(()), "{ok}");
    }
    for bad in [
        0.0,
        -1.0,
        MIN_WEIGHT / 2.0,
        MAX_WEIGHT * 1.01,
        f64::INFINITY,
        f64::NAN,
    ] {
        assert!(weight(bad).is_err(), "{bad}");
    }
}

/// Every frame of the forgery catalogue (what `inject-forged` sends over real sessions) is
/// refused over the forger's own session, whatever the view.
#[test]
fn every_forged_frame_of_the_catalogue_is_refused() {
    let forger = super::forged::Forger {
        me: n("a"),
        incarnation: Incarnation(7),
        addr: "127.0.0.1:7101".into(),
        other: n("c"),
        foreign: k("y"),
    };
    let view = View {
        known: [(k("y"), 3)].into(),
        owners: [(k("y"), n("b"))].into(),
    };
    let frames = forger.frames();
    assert_eq!(frames.len(), 6);
    for frame in &frames {
        assert!(
            admit(Some(&n("a")), frame, &view).is_err(),
            "admitted: {frame:?}"
        );
    }
}
