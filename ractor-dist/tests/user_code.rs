//! User hooks that are slow or panic affect only their own actor: several nodes in this
//! process over the in-memory transport (heartbeat deadline 1 s, handoff timeout 2 s, from
//! `DistConfig::for_tests`). No hook runs on a node's supervisor, so its heartbeats and
//! every other name carry on.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ractor::{ActorProcessingErr, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::transport::MemoryNetwork;
use ractor_dist::{
    Checkpoints, DistActor, DistConfig, DistNode, DistRef, HandoffMode, Kinds, Snapshot,
};

const T: Duration = Duration::from_secs(15);
const CALL: Duration = Duration::from_secs(1);
/// How long [`SlowRestore`] takes to restore: three heartbeat deadlines.
const SLOW: Duration = Duration::from_secs(3);

#[derive(RactorClusterMessage)]
enum Msg {
    Add(i64),
    #[rpc]
    Get(RpcReplyPort<i64>),
}

fn apply(msg: Msg, n: &mut i64) {
    match msg {
        Msg::Add(d) => *n += d,
        Msg::Get(r) => {
            let _ = r.send(*n);
        }
    }
}

/// Declares a counter kind that moves with its state; `$restore_delay` delays its
/// `restore`, `$panics` makes its `snapshot` panic once set.
macro_rules! counter {
    ($name:ident, $kind:literal, $checkpoints:expr, $restore_delay:expr, $panics:expr) => {
        struct $name;

        impl DistActor for $name {
            const KIND: &'static str = $kind;
            type Msg = Msg;
            type State = i64;
            type Arguments = i64;
            const HANDOFF: HandoffMode = HandoffMode::Resume;
            const CHECKPOINTS: Checkpoints = $checkpoints;

            async fn pre_start(&self, _: DistRef<Msg>, n: i64) -> Result<i64, ActorProcessingErr> {
                Ok(n)
            }

            async fn handle(
                &self,
                _: DistRef<Msg>,
                msg: Msg,
                n: &mut i64,
            ) -> Result<(), ActorProcessingErr> {
                apply(msg, n);
                Ok(())
            }

            fn snapshot(&self, n: &i64) -> Result<Vec<u8>, ActorProcessingErr> {
                if $panics.load(Ordering::SeqCst) {
                    panic!("snapshot asked to panic");
                }
                Snapshot::encode(n)
            }

            async fn restore(
                &self,
                _: DistRef<Msg>,
                _: i64,
                snapshot: Snapshot,
            ) -> Result<i64, ActorProcessingErr> {
                tokio::time::sleep($restore_delay).await;
                snapshot.decode(Self::STATE_VERSION)
            }
        }
    };
}

static NEVER: AtomicBool = AtomicBool::new(false);
static PANIC_SNAPSHOTS: AtomicBool = AtomicBool::new(false);

counter!(Plain, "plain", Checkpoints::OFF, Duration::ZERO, NEVER);
counter!(SlowRestore, "slow-restore", Checkpoints::OFF, SLOW, NEVER);
counter!(
    Panicky,
    "panicky",
    Checkpoints::every_messages(1),
    Duration::ZERO,
    PANIC_SNAPSHOTS
);

async fn start(net: &MemoryNetwork, name: &str, port: u16, seeds: &[u16]) -> DistNode {
    let config = DistConfig {
        seeds: seeds.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
        ..DistConfig::for_tests(name, port)
    };
    let kinds = Kinds::new().with(Plain).with(SlowRestore).with(Panicky);
    net.start(config, kinds).await.expect("node starts")
}

/// Polls `check` every 20 ms until it holds, for at most the file's limit.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    common::eventually_within(T, what, check).await
}

async fn converged(nodes: &[&DistNode], n: usize) {
    common::converged_within(T, nodes, n).await
}

async fn try_value(node: &DistNode, name: &str) -> Option<i64> {
    let r = node.lookup::<Msg>(name).await.ok()?;
    r.call(Msg::Get, CALL).await.ok()
}

fn nobody_declared_down(nodes: &[&DistNode]) {
    for node in nodes {
        assert_eq!(node.status().peers_declared_down, 0, "{}", node.name());
        assert_eq!(node.members().len(), nodes.len(), "{}", node.name());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_restore_during_a_move_holds_only_its_own_name() {
    let net = MemoryNetwork::new();
    let a = start(&net, "a", 1, &[]).await;
    let b = start(&net, "b", 2, &[1]).await;
    converged(&[&a, &b], 2).await;
    let plain: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
    let slow: Vec<String> = (0..12).map(|i| format!("s{i}")).collect();
    for (i, name) in plain.iter().enumerate() {
        a.spawn::<Plain>(name.as_str(), i as i64).await.unwrap();
    }
    for name in &slow {
        let r = a.spawn::<SlowRestore>(name.as_str(), 10).await.unwrap();
        r.cast(Msg::Add(5)).unwrap();
    }

    // A third node joins: the slow names it owns take 3 s each to restore there.
    let c = start(&net, "c", 3, &[1]).await;
    let joined = Instant::now();
    let all = [&a, &b, &c];
    converged(&all, 3).await;
    let restoring: Vec<&String> = slow
        .iter()
        .filter(|n| a.owner_of(n.as_str()).as_ref() == Some(c.name()))
        .collect();
    assert!(!restoring.is_empty(), "c owns none of the slow names");
    // Meanwhile, messages for the restoring names wait for them, and every other name
    // answers at once from every node.
    for name in &restoring {
        b.lookup::<Msg>(name.as_str())
            .await
            .unwrap()
            .cast(Msg::Add(1))
            .unwrap();
    }
    for (i, name) in plain.iter().enumerate() {
        for node in all {
            let t = Instant::now();
            assert_eq!(try_value(node, name).await, Some(i as i64), "{name}");
            assert!(t.elapsed() < CALL, "{name} took {:?}", t.elapsed());
        }
    }
    assert!(
        joined.elapsed() < SLOW,
        "the restores were over before the checks ({:?})",
        joined.elapsed()
    );
    // Past three heartbeat deadlines of restoring, no node was declared down.
    tokio::time::sleep(SLOW.saturating_sub(joined.elapsed()) + Duration::from_millis(500)).await;
    nobody_declared_down(&all);
    for name in &slow {
        let want = if restoring.contains(&name) { 16 } else { 15 };
        eventually("the slow name serves with its state", || async {
            try_value(&a, name).await == Some(want)
        })
        .await;
        assert_eq!(
            common::hosts(&all, name),
            vec![a.owner_of(name.as_str()).unwrap()]
        );
    }
    for node in all {
        assert_eq!(node.status().handoff_fallbacks, 0, "{}", node.name());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_snapshot_during_a_move_falls_back_to_the_checkpoint() {
    let net = MemoryNetwork::new();
    let a = start(&net, "a", 1, &[]).await;
    let b = start(&net, "b", 2, &[1]).await;
    converged(&[&a, &b], 2).await;
    let names: Vec<String> = (0..20).map(|i| format!("x{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let r = a.spawn::<Panicky>(name.as_str(), i as i64).await.unwrap();
        r.cast(Msg::Add(100)).unwrap();
        // Checkpointed after the `Add`, before this answer.
        assert_eq!(r.call(Msg::Get, CALL).await.unwrap(), i as i64 + 100);
    }

    // From now on every snapshot panics; a third node joins and takes some names.
    PANIC_SNAPSHOTS.store(true, Ordering::SeqCst);
    let c = start(&net, "c", 3, &[1]).await;
    let all = [&a, &b, &c];
    converged(&all, 3).await;
    let moved = names
        .iter()
        .filter(|n| a.owner_of(n.as_str()).as_ref() == Some(c.name()))
        .count() as u64;
    assert!(moved > 0, "c owns none of the names");
    for name in &names {
        let owner = a.owner_of(name.as_str()).unwrap();
        eventually("served once, on its owner", || async {
            common::hosts(&all, name) == vec![owner.clone()]
        })
        .await;
    }
    // (Checkpoints snapshot too: no more panics before the next messages.)
    PANIC_SNAPSHOTS.store(false, Ordering::SeqCst);
    for (i, name) in names.iter().enumerate() {
        // Restarted on c from its last checkpoint, which holds every message.
        assert_eq!(try_value(&b, name).await, Some(i as i64 + 100), "{name}");
    }
    let fallbacks: u64 = all.iter().map(|n| n.status().handoff_fallbacks).sum();
    assert_eq!(
        fallbacks, moved,
        "one counted fallback per panicking snapshot"
    );
    nobody_declared_down(&all);
    // Every node still serves requests.
    for (i, node) in all.iter().enumerate() {
        node.spawn::<Plain>(format!("after{i}"), 1).await.unwrap();
        assert_eq!(try_value(node, &format!("after{i}")).await, Some(1));
    }
    for node in all {
        assert_eq!(node.status().restarts, 0, "{}", node.name());
    }
}
