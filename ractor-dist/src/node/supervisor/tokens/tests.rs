//! Forged frames from an authenticated peer: `a` is a member with a session token of `b`,
//! and sends `b` frames in the name of `c`, hellos for others, absurd weights and
//! generations, frames and requests without its token, and a token `c` never issued.
//! Each one is refused and counted, and none changes `b`'s view.

use std::time::Duration;

use crate::core::hash::HASH_VERSION;
use crate::core::wire::{self, Frame, FrameBody, Req, Request, Response, PROTOCOL_VERSION};
use crate::core::{ActorKey, Hello, NodeName, Snapshot};
use crate::node::supervisor::gateway::NO_TOKEN;
use crate::node::supervisor::SupervisorMsg;
use crate::transport::MemoryNetwork;
use crate::{DistConfig, DistNode, Kinds};

const T: Duration = Duration::from_secs(10);

async fn start(net: &MemoryNetwork, name: &str, port: u16) -> DistNode {
    let config = DistConfig {
        seeds: vec!["127.0.0.1:1".into()],
        ..DistConfig::new(name, port)
    };
    net.start(config, Kinds::new()).await.expect("node starts")
}

fn hello(node: &DistNode, weight: f64) -> Hello {
    Hello {
        node: node.name().clone(),
        incarnation: node.incarnation(),
        protocol: u32::from(PROTOCOL_VERSION),
        hash_version: HASH_VERSION,
        addr: node.shared.config.addr(),
        weight,
    }
}

/// Waits (bounded) until `b` counted `n` refused frames.
async fn refused(b: &DistNode, n: u64) -> u64 {
    for _ in 0..100 {
        if b.status().frames_refused >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.status().frames_refused
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_frames_from_an_authenticated_peer_are_refused_counted_and_change_nothing() {
    let net = MemoryNetwork::new();
    let a = start(&net, "a", 1).await;
    let b = start(&net, "b", 2).await;
    let c = start(&net, "c", 3).await;
    for node in [&a, &b, &c] {
        node.wait_for_members(3, T).await.expect("3 members");
    }
    // Settled: nothing refused so far (every frame of the protocol passes).
    assert_eq!(b.status().frames_refused, 0);
    let epoch = b.epoch();
    let placement_before: Vec<_> = (0..50).map(|i| b.owner_of(&format!("k{i}"))).collect();

    // `a`'s way to `b`: `b`'s supervisor with the token `b` issued to `a`.
    let gw = a.shared.view_guard().supervisors[b.name()].clone();
    let me_a = a.name().clone();
    let frame = |from: &NodeName, incarnation, body| {
        wire::encode(&Frame {
            from: from.clone(),
            incarnation,
            body,
        })
    };
    // A name `a` does not own in `b`'s view (a Yield for it is not `a`'s to send).
    let foreign = (0..)
        .map(|i| ActorKey::new(format!("y{i}")))
        .find(|k| b.shared.view().placement().owner_of(k) != Some(&me_a))
        .expect("some name is owned elsewhere");
    let forged: Vec<Vec<u8>> = vec![
        // c's departure, c's hello, in c's name over a's session
        frame(c.name(), c.incarnation(), FrameBody::Leaving),
        frame(
            c.name(),
            c.incarnation(),
            FrameBody::Hello {
                hello: hello(&c, 1.0),
                reply: false,
            },
        ),
        // a hello for someone else, in a's own name
        frame(
            &me_a,
            a.incarnation(),
            FrameBody::Hello {
                hello: hello(&c, 1.0),
                reply: false,
            },
        ),
        // a's own hello with an absurd weight (every name would move to a)
        frame(
            &me_a,
            a.incarnation(),
            FrameBody::Hello {
                hello: hello(&a, 1e12),
                reply: false,
            },
        ),
        // an absurd generation, fencing the real copy out
        frame(
            &me_a,
            a.incarnation(),
            FrameBody::Checkpoint {
                key: ActorKey::new("k1"),
                generation: u64::MAX,
                seq: 1,
                snapshot: Snapshot::new(0, Vec::new()),
                delta: false,
            },
        ),
        // a yield only the name's directory node may ask for
        frame(
            &me_a,
            a.incarnation(),
            FrameBody::Yield {
                keys: vec![(foreign, me_a.clone())],
            },
        ),
    ];
    let n = forged.len() as u64;
    for bytes in forged {
        gw.frame(bytes).expect("session open");
    }
    assert_eq!(refused(&b, n).await, n, "each forged frame counted once");

    // Without a token (or with a made-up one), even in a's own name.
    let sup_b = gw.actor().clone();
    let heartbeat = frame(
        &me_a,
        a.incarnation(),
        FrameBody::Heartbeat { members: vec![] },
    );
    sup_b
        .cast(SupervisorMsg::Frame(heartbeat.clone(), NO_TOKEN))
        .expect("open");
    sup_b
        .cast(SupervisorMsg::Frame(heartbeat, 0x5eed))
        .expect("open");
    assert_eq!(refused(&b, n + 2).await, n + 2);

    // A request in c's name over a's session is refused with an error.
    let req = wire::encode(&Req {
        from: c.name().clone(),
        body: Request::Status,
    });
    let answer = gw.request(req, T).await.expect("answered");
    let ractor::rpc::CallResult::Success(bytes) = answer else {
        panic!("no answer");
    };
    let response: Response = wire::decode(&bytes, u64::MAX).expect("decodes");
    assert!(
        matches!(response, Response::Err(_)),
        "a request in another node's name was served: {response:?}"
    );
    assert_eq!(refused(&b, n + 3).await, n + 3);

    // A token handed out in c's name: b asks c, which never issued it; b keeps using c's
    // real token.
    gw.frame(frame(
        c.name(),
        c.incarnation(),
        FrameBody::Token { token: 42 },
    ))
    .expect("open");
    assert_eq!(refused(&b, n + 4).await, n + 4);

    // Nothing changed: the same members, view and placement; b still talks to c.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(b.members().len(), 3, "{:?}", b.members());
    assert_eq!(b.epoch(), epoch, "the view changed");
    let placement_after: Vec<_> = (0..50).map(|i| b.owner_of(&format!("k{i}"))).collect();
    assert_eq!(placement_before, placement_after);
    let status = b.shared.request(c.name(), &Request::Status, T).await;
    assert!(matches!(status, Ok(Response::Status(_))), "{status:?}");
    assert_eq!(b.status().frames_refused, n + 4, "refusals stopped there");
    assert_eq!(a.status().frames_refused, 0);
    assert_eq!(c.status().frames_refused, 0);
}

/// Garbage from an authenticated peer reaches the envelope decoder (a stranger's never
/// does: its session is refused first): random bytes, a truncated frame, and a frame of
/// another protocol version, over `a`'s session with `a`'s token, as frames and as a
/// request. Each is counted (`bad_frames`, `version_mismatches`), a request is answered
/// with an error, and nothing of `b`'s view changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_from_an_authenticated_peer_is_counted_and_changes_nothing() {
    let net = MemoryNetwork::new();
    let a = start(&net, "a", 1).await;
    let b = start(&net, "b", 2).await;
    for node in [&a, &b] {
        node.wait_for_members(2, T).await.expect("2 members");
    }
    let epoch = b.epoch();
    let before = b.status();
    assert_eq!((before.bad_frames, before.version_mismatches), (0, 0));
    let gw = a.shared.view_guard().supervisors[b.name()].clone();
    let heartbeat = wire::encode(&Frame {
        from: a.name().clone(),
        incarnation: a.incarnation(),
        body: FrameBody::Heartbeat { members: vec![] },
    });
    let mut other_version = heartbeat.clone();
    other_version[..2].copy_from_slice(&(PROTOCOL_VERSION + 1).to_le_bytes());
    let truncated = heartbeat[..heartbeat.len() / 2].to_vec();
    // Our version's two bytes, then garbage.
    let random: Vec<u8> = PROTOCOL_VERSION
        .to_le_bytes()
        .into_iter()
        .chain((0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8))
        .collect();
    for bytes in [random.clone(), truncated, Vec::new()] {
        gw.frame(bytes).expect("session open");
    }
    gw.frame(other_version.clone()).expect("session open");
    // As requests: answered with an error, not dropped.
    for bytes in [random, other_version] {
        let answer = gw.request(bytes, T).await.expect("answered");
        let ractor::rpc::CallResult::Success(bytes) = answer else {
            panic!("no answer");
        };
        let response: Response = wire::decode(&bytes, u64::MAX).expect("decodes");
        assert!(matches!(response, Response::Err(_)), "{response:?}");
    }
    let mut after = b.status();
    for _ in 0..100 {
        if after.bad_frames >= 4 && after.version_mismatches >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = b.status();
    }
    assert_eq!(
        after.bad_frames, 4,
        "random, truncated and empty frames, a random request"
    );
    assert_eq!(
        after.version_mismatches, 2,
        "a frame and a request of another version"
    );
    // Nothing changed, and the peer is still served.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.epoch(), epoch, "the view changed");
    assert_eq!(b.members().len(), 2);
    let status = b.shared.request(a.name(), &Request::Status, T).await;
    assert!(matches!(status, Ok(Response::Status(_))), "{status:?}");
    assert_eq!(a.status().bad_frames, 0);
}
