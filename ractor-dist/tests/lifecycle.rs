//! One node over the in-memory transport: a name's copies never overlap in time across a
//! stop and a spawn.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use ractor::{ActorProcessingErr, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::transport::MemoryNetwork;
use ractor_dist::{DistActor, DistConfig, DistRef, Kinds};

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
    x.stop().await.unwrap();
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
