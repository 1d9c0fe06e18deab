//! What an actor reaches from inside its hooks, over two in-process nodes: its node
//! (`myself.node()`: spawn, look up and stop other names, membership and status, without a
//! global), and `DistRef`s that travel inside messages and resolve on the receiving node.

mod common;

use std::time::Duration;

use ractor::{ActorProcessingErr, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::transport::MemoryNetwork;
use ractor_dist::{DistActor, DistConfig, DistError, DistNode, DistRef, Kinds};

const T: Duration = Duration::from_secs(10);
const CALL: Duration = Duration::from_secs(3);

#[derive(RactorClusterMessage)]
enum TallyMsg {
    Add(i64),
    #[rpc]
    Get(RpcReplyPort<i64>),
}

struct Tally;

impl DistActor for Tally {
    const KIND: &'static str = "tally";
    type Msg = TallyMsg;
    type State = i64;
    type Arguments = i64;

    async fn pre_start(&self, _: DistRef<TallyMsg>, n: i64) -> Result<i64, ActorProcessingErr> {
        Ok(n)
    }

    async fn handle(
        &self,
        _: DistRef<TallyMsg>,
        msg: TallyMsg,
        n: &mut i64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            TallyMsg::Add(d) => *n += d,
            TallyMsg::Get(r) => {
                let _ = r.send(*n);
            }
        }
        Ok(())
    }
}

#[derive(RactorClusterMessage)]
enum HubMsg {
    /// Spawns a tally from inside the actor; answers whether this spawn created it.
    #[rpc]
    SpawnTally(String, i64, RpcReplyPort<bool>),
    /// The members this actor's node sees, that node's name, how many actors it hosts by
    /// its status, and whether it is ready.
    #[rpc]
    Census(RpcReplyPort<(usize, String, u64, bool)>),
    /// Stops another name; answers whether it was stopped.
    #[rpc]
    StopName(String, RpcReplyPort<bool>),
    /// Adds to the tally behind a handle that came in this message.
    Poke(DistRef<TallyMsg>, i64),
    /// Reads the tally behind a handle that came in this message.
    #[rpc]
    Ask(DistRef<TallyMsg>, RpcReplyPort<i64>),
    /// The node a handle that came in this message routes through.
    #[rpc]
    NodeOf(DistRef<TallyMsg>, RpcReplyPort<String>),
    /// Stops itself with `myself.stop(..)`, as a ractor actor does, then goes on: adds
    /// to the tally named here and answers.
    #[rpc]
    Quit(String, RpcReplyPort<bool>),
}

/// An actor that works on other names from its hooks; its arguments name a tally its
/// `pre_start` spawns (with 7).
struct Hub;

impl DistActor for Hub {
    const KIND: &'static str = "hub";
    type Msg = HubMsg;
    type State = ();
    type Arguments = Option<String>;

    async fn pre_start(
        &self,
        myself: DistRef<HubMsg>,
        child: Option<String>,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(child) = child {
            myself.node()?.spawn::<Tally>(child, 7).await?;
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: DistRef<HubMsg>,
        msg: HubMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let node = myself.node()?;
        match msg {
            HubMsg::SpawnTally(name, n, reply) => {
                let spawned = node.spawn_with_outcome::<Tally>(name, n).await?;
                let _ = reply.send(spawned.created());
            }
            HubMsg::Census(reply) => {
                let _ = reply.send((
                    node.members().len(),
                    node.name().to_string(),
                    node.status().hosted,
                    node.is_ready(),
                ));
            }
            HubMsg::StopName(name, reply) => {
                // Waits for the removal: `stop_and_wait` from inside a handler is fine too.
                let other = node.lookup::<TallyMsg>(name).await?;
                let _ = reply.send(other.stop_and_wait(None, None).await.is_ok());
            }
            HubMsg::Poke(tally, n) => tally.cast(TallyMsg::Add(n))?,
            HubMsg::Ask(tally, reply) => {
                let _ = reply.send(tally.call(TallyMsg::Get, CALL).await?);
            }
            HubMsg::NodeOf(tally, reply) => {
                let _ = reply.send(tally.node()?.name().to_string());
            }
            HubMsg::Quit(tally, reply) => {
                myself.stop(Some("asked to quit".into()));
                node.lookup::<TallyMsg>(tally)
                    .await?
                    .cast(TallyMsg::Add(1))?;
                let _ = reply.send(true);
            }
        }
        Ok(())
    }
}

async fn two_nodes(net: &MemoryNetwork) -> (DistNode, DistNode) {
    let kinds = || Kinds::new().with(Tally).with(Hub);
    let a = net
        .start(DistConfig::for_tests("a", 1), kinds())
        .await
        .unwrap();
    let config = DistConfig {
        seeds: vec!["127.0.0.1:1".to_string()],
        ..DistConfig::for_tests("b", 2)
    };
    let b = net.start(config, kinds()).await.unwrap();
    common::converged_within(T, &[&a, &b], 2).await;
    (a, b)
}

/// A name that `node` owns.
fn owned_by(node: &DistNode, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|name| node.owner_of(name).as_ref() == Some(node.name()))
        .unwrap()
}

async fn value(node: &DistNode, name: &str) -> Result<i64, DistError> {
    let tally = node.lookup::<TallyMsg>(name).await?;
    tally.call(TallyMsg::Get, CALL).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_spawn_look_up_and_stop_other_names_through_their_node() {
    let net = MemoryNetwork::new();
    let (a, b) = two_nodes(&net).await;
    let hub_name = owned_by(&b, "hub");
    let hub = a
        .spawn::<Hub>(hub_name.as_str(), Some("born".to_string()))
        .await
        .unwrap();
    // pre_start spawned a name of its own before the hub's spawn returned.
    assert_eq!(value(&a, "born").await.unwrap(), 7);

    assert!(hub
        .call(|p| HubMsg::SpawnTally("t".into(), 5, p), CALL)
        .await
        .unwrap());
    assert!(!hub
        .call(|p| HubMsg::SpawnTally("t".into(), 9, p), CALL)
        .await
        .unwrap());
    assert_eq!(value(&a, "t").await.unwrap(), 5);

    let (members, node, hosted, ready) = hub.call(HubMsg::Census, CALL).await.unwrap();
    assert_eq!((members, node), (2, b.name().to_string()));
    assert_eq!(
        hosted,
        b.local_count() as u64,
        "b's status, read from inside"
    );
    assert!(ready);

    assert!(hub
        .call(|p| HubMsg::StopName("t".into(), p), CALL)
        .await
        .unwrap());
    common::eventually_within(T, "t is gone", || async {
        matches!(value(&a, "t").await, Err(DistError::NotFound(_)))
    })
    .await;
    assert_eq!(value(&b, "born").await.unwrap(), 7, "only t was stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_travel_in_messages_and_resolve_on_the_receiving_node() {
    let net = MemoryNetwork::new();
    let (a, b) = two_nodes(&net).await;
    // The tally on a, the hub on b: every message to the hub crosses the network.
    let tally_name = owned_by(&a, "tally");
    let tally = a.spawn::<Tally>(tally_name.as_str(), 0).await.unwrap();
    let hub = a
        .spawn::<Hub>(owned_by(&b, "hub").as_str(), None)
        .await
        .unwrap();

    hub.cast(HubMsg::Poke(tally.clone(), 3)).unwrap();
    common::eventually_within(T, "the hub's cast reached the tally", || async {
        value(&a, &tally_name).await.ok() == Some(3)
    })
    .await;
    assert_eq!(
        hub.call(|p| HubMsg::Ask(tally.clone(), p), CALL)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        hub.call(|p| HubMsg::NodeOf(tally.clone(), p), CALL)
            .await
            .unwrap(),
        b.name().to_string(),
        "decoded on b, the handle routes through b"
    );
    // A handle to a local actor in a local message is not encoded: it stays as it was.
    let local_hub = a
        .spawn::<Hub>(owned_by(&a, "hub").as_str(), None)
        .await
        .unwrap();
    assert_eq!(
        local_hub
            .call(|p| HubMsg::NodeOf(tally.clone(), p), CALL)
            .await
            .unwrap(),
        a.name().to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_actor_stops_itself_from_its_handler_and_no_node_is_declared_down() {
    let net = MemoryNetwork::new();
    let (a, b) = two_nodes(&net).await;
    let tally = owned_by(&a, "tally");
    a.spawn::<Tally>(tally.as_str(), 0).await.unwrap();
    // One hub on each node, both called from a: a local and a remote self-stop.
    for (i, host) in [&a, &b].into_iter().enumerate() {
        let name = owned_by(host, &format!("quitter{i}-"));
        let hub = a.spawn::<Hub>(name.as_str(), None).await.unwrap();
        assert!(
            hub.call(|p| HubMsg::Quit(tally.clone(), p), CALL)
                .await
                .unwrap(),
            "the handler went on after stop and answered"
        );
        // Gone: a call through the handle and a lookup on its host both say so (the
        // caller's node may keep the host in its lookup cache until a send fails).
        common::eventually_within(T, "the hub is gone", || async {
            matches!(
                hub.call(HubMsg::Census, CALL).await,
                Err(DistError::NotFound(_))
            ) && matches!(
                host.lookup::<HubMsg>(name.as_str()).await,
                Err(DistError::NotFound(_))
            )
        })
        .await;
    }
    assert_eq!(value(&a, &tally).await.unwrap(), 2, "each handler finished");
    // Past the heartbeat deadline (1 s in tests): neither node stopped answering.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for node in [&a, &b] {
        assert_eq!(node.status().peers_declared_down, 0, "{}", node.name());
        assert_eq!(node.members().len(), 2, "{}", node.name());
    }
    // And a stopped name can be spawned again.
    let name = owned_by(&b, "quitter1-");
    a.spawn::<Hub>(name.as_str(), None).await.unwrap();
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
