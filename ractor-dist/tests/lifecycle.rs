//! Starts and stops over the in-memory transport: a name's copies never overlap in time
//! across a stop and a spawn, and a respawn that fails to start deletes nothing.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use ractor::{ActorProcessingErr, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::transport::MemoryNetwork;
use ractor_dist::{Checkpoints, DistActor, DistConfig, DistNode, DistRef, Kinds, Snapshot};

const CALL: Duration = Duration::from_secs(5);

/// Copies alive now, and the most ever alive at once.
static ALIVE: AtomicI64 = AtomicI64::new(0);
static MOST: AtomicI64 = AtomicI64::new(0);

#[derive(RactorClusterMessage)]
enum LingerMsg {
    #[rpc]
    Ping(RpcReplyPort<()>),
}

/// Counts its live copies; its `post_stop` takes 500 ms.
struct Linger;

impl DistActor for Linger {
    const KIND: &'static str = "linger";
    type Msg = LingerMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: DistRef<LingerMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        let alive = ALIVE.fetch_add(1, Ordering::SeqCst) + 1;
        MOST.fetch_max(alive, Ordering::SeqCst);
        Ok(())
    }

    async fn handle(
        &self,
        _: DistRef<LingerMsg>,
        msg: LingerMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let LingerMsg::Ping(r) = msg;
        let _ = r.send(());
        Ok(())
    }

    async fn post_stop(&self, _: DistRef<LingerMsg>, _: &mut ()) -> Result<(), ActorProcessingErr> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        ALIVE.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawn_after_a_stop_waits_for_the_old_copy_to_exit() {
    let net = MemoryNetwork::new();
    let node = net
        .start(DistConfig::for_tests("solo", 1), Kinds::new().with(Linger))
        .await
        .expect("node starts");
    let x = node.spawn::<Linger>("x", ()).await.unwrap();
    x.call(LingerMsg::Ping, CALL).await.unwrap();
    x.stop_and_wait(None, None).await.unwrap();
    let again = node.spawn::<Linger>("x", ()).await.unwrap();
    again.call(LingerMsg::Ping, CALL).await.unwrap();
    assert_eq!(
        MOST.load(Ordering::SeqCst),
        1,
        "two copies of x ran at once"
    );
    assert_eq!(ALIVE.load(Ordering::SeqCst), 1);
    node.shutdown().await.unwrap();
}

/// While set, `Fragile` cannot start (nor restore).
static FRAGILE_FAILS: AtomicBool = AtomicBool::new(false);

/// Checkpoints after every message; cannot start while `FRAGILE_FAILS` is set.
struct Fragile;

impl DistActor for Fragile {
    const KIND: &'static str = "fragile";
    type Msg = LingerMsg;
    type State = i64;
    type Arguments = ();
    const CHECKPOINTS: Checkpoints = Checkpoints::every_messages(1);

    async fn pre_start(&self, _: DistRef<LingerMsg>, _: ()) -> Result<i64, ActorProcessingErr> {
        if FRAGILE_FAILS.load(Ordering::SeqCst) {
            return Err("cannot start now".into());
        }
        Ok(0)
    }

    async fn handle(
        &self,
        _: DistRef<LingerMsg>,
        msg: LingerMsg,
        _: &mut i64,
    ) -> Result<(), ActorProcessingErr> {
        let LingerMsg::Ping(r) = msg;
        let _ = r.send(());
        Ok(())
    }

    fn snapshot(&self, n: &i64) -> Result<Vec<u8>, ActorProcessingErr> {
        Snapshot::encode(n)
    }

    async fn restore(
        &self,
        _: DistRef<LingerMsg>,
        _: (),
        snapshot: Snapshot,
    ) -> Result<i64, ActorProcessingErr> {
        if FRAGILE_FAILS.load(Ordering::SeqCst) {
            return Err("cannot restore now".into());
        }
        snapshot.decode(Self::STATE_VERSION)
    }
}

/// Polls `check` every 20 ms until it holds, for at most the file's limit.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    common::eventually_within(Duration::from_secs(10), what, check).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_respawn_that_fails_to_start_keeps_the_name_s_spec() {
    let net = MemoryNetwork::new();
    let start = |name: &'static str, port: u16, seeds: Vec<String>| {
        let net = net.clone();
        async move {
            let config = DistConfig {
                seeds,
                replicas: 3,
                ..DistConfig::for_tests(name, port)
            };
            net.start(config, Kinds::new().with(Fragile))
                .await
                .expect("node starts")
        }
    };
    let seed = vec!["127.0.0.1:21".to_string()];
    let a = start("a", 21, Vec::new()).await;
    let b = start("b", 22, seed.clone()).await;
    let c = start("c", 23, seed).await;
    let nodes: [&DistNode; 3] = [&a, &b, &c];
    eventually("three members settle", || async {
        nodes
            .iter()
            .all(|d| d.members().len() == 3 && d.status().settled)
    })
    .await;
    let names: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
    for name in &names {
        let r = a.spawn::<Fragile>(name.as_str(), ()).await.unwrap();
        r.call(LingerMsg::Ping, CALL).await.unwrap();
    }
    // Every node keeps the spec of every name hosted elsewhere.
    eventually("replicated", || async {
        nodes.iter().map(|n| n.status().replica_specs).sum::<u64>() >= 2 * names.len() as u64
    })
    .await;
    let lost = c.local_count() as u64;
    assert!(lost > 0, "c hosts some names");
    FRAGILE_FAILS.store(true, Ordering::SeqCst);
    net.crash(&c);
    eventually("a and b see c gone", || async {
        [&a, &b].iter().all(|d| d.members().len() == 2)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Nothing was respawned, and the specs of the lost names are still kept.
    let respawned: u64 = [&a, &b].iter().map(|n| n.status().respawned).sum();
    assert_eq!(respawned, 0, "a failed start is not a respawn");
    let kept: u64 = [&a, &b].iter().map(|n| n.status().replica_specs).sum();
    assert!(kept >= lost, "{kept} specs kept for {lost} lost names");
    FRAGILE_FAILS.store(false, Ordering::SeqCst);
}
