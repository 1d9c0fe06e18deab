//! Nothing grows without bound under normal load (issue 9, finding 7): after names are
//! spawned, written to, looked up and called from every node, moved by a join, a graceful
//! leave and a crash, and then stopped, every table of every node that grows with names,
//! held messages or peers is back to its size before (or, for a cache, within its bound).
//! In process, over the in-memory transport; every wait is bounded.

mod common;

use std::time::Duration;

use ractor::{ActorProcessingErr, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::transport::MemoryNetwork;
use ractor_dist::{
    Checkpoints, DistActor, DistConfig, DistNode, DistRef, Footprint, HandoffMode, Kinds, Snapshot,
};

const T: Duration = Duration::from_secs(20);
const CALL: Duration = Duration::from_secs(5);

#[derive(RactorClusterMessage)]
enum TallyMsg {
    Add(i64),
    #[rpc]
    Get(RpcReplyPort<i64>),
}

/// A counter that moves with its state and checkpoints after every message (so that its
/// spec and checkpoints live on a second node too).
struct Tally;

impl DistActor for Tally {
    const KIND: &'static str = "tally";
    type Msg = TallyMsg;
    type State = i64;
    type Arguments = i64;
    const HANDOFF: HandoffMode = HandoffMode::Resume;
    const CHECKPOINTS: Checkpoints = Checkpoints::every_messages(1);

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

    fn snapshot(&self, n: &i64) -> Result<Vec<u8>, ActorProcessingErr> {
        Snapshot::encode(n)
    }

    async fn restore(
        &self,
        _: DistRef<TallyMsg>,
        _: i64,
        snapshot: Snapshot,
    ) -> Result<i64, ActorProcessingErr> {
        snapshot.decode(Self::STATE_VERSION)
    }
}

async fn start(net: &MemoryNetwork, name: &str, port: u16, seeds: &[u16]) -> DistNode {
    let config = DistConfig {
        seeds: seeds.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
        replicas: 2,
        ..DistConfig::for_tests(name, port)
    };
    net.start(config, Kinds::new().with(Tally))
        .await
        .expect("node starts")
}

async fn footprints(nodes: &[&DistNode]) -> Vec<Footprint> {
    let mut out = Vec::new();
    for node in nodes {
        out.push(node.footprint().await.expect("footprint"));
    }
    out
}

/// What grew on each node since `baseline` (empty when nothing did).
async fn growth(nodes: &[&DistNode], baseline: &[Footprint]) -> Vec<String> {
    let mut grown = Vec::new();
    for (node, before) in nodes.iter().zip(baseline) {
        let now = node.footprint().await.expect("footprint");
        for (table, was, is) in now.grown_since(before) {
            grown.push(format!("{}: {table} {was} -> {is}", node.name()));
        }
    }
    grown
}

/// Casts to and calls every name from every node: routes, lookups, numbered casts and
/// checkpoints for each.
async fn write_all(nodes: &[&DistNode], names: &[String]) {
    for node in nodes {
        for name in names {
            let r = node
                .lookup::<TallyMsg>(name.as_str())
                .await
                .unwrap_or_else(|e| panic!("{name} from {}: {e}", node.name()));
            r.cast(TallyMsg::Add(1)).expect("cast");
        }
    }
    for name in names {
        let r = nodes[0].lookup::<TallyMsg>(name.as_str()).await.unwrap();
        r.call(TallyMsg::Get, CALL).await.expect("call");
    }
}

async fn stop_all(node: &DistNode, names: &[String]) {
    for name in names {
        let r = node.lookup::<TallyMsg>(name.as_str()).await.unwrap();
        r.stop_and_wait(None, CALL).await.expect("stop");
    }
}

/// Every node hosts nothing and has settled.
async fn rest(nodes: &[&DistNode]) {
    common::eventually_within(T, "nothing hosted, settled", || async {
        nodes
            .iter()
            .all(|n| n.local_names().is_empty() && n.status().settled)
    })
    .await;
    // Two heartbeat intervals: every live peer has been sent the member list.
    tokio::time::sleep(Duration::from_millis(400)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_at_rest_after_churn_keeps_nothing_of_the_names_and_peers_it_no_longer_has() {
    let net = MemoryNetwork::new();
    let a = start(&net, "a", 1, &[]).await;
    let b = start(&net, "b", 2, &[1]).await;
    let c = start(&net, "c", 3, &[1]).await;
    common::converged_within(T, &[&a, &b, &c], 3).await;
    let nodes = [&a, &b, &c];
    // A few names written to from every node and stopped, so that what a node keeps per
    // live peer (an outbox, a gossip record) is there, then a reading at rest.
    let warm: Vec<String> = (0..6).map(|i| format!("warm{i}")).collect();
    for name in &warm {
        a.spawn::<Tally>(name.as_str(), 0).await.unwrap();
    }
    write_all(&nodes, &warm).await;
    stop_all(&a, &warm).await;
    rest(&nodes).await;
    let baseline = footprints(&nodes).await;

    let names: Vec<String> = (0..120).map(|i| format!("t{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        nodes[i % 3].spawn::<Tally>(name.as_str(), 0).await.unwrap();
    }
    write_all(&nodes, &names).await;
    let loaded = footprints(&nodes).await;
    assert!(
        loaded
            .iter()
            .map(|f| f.get("engine.child_ids"))
            .sum::<usize>()
            == names.len(),
        "every name runs once: {:?}",
        loaded.iter().map(|f| f.to_string()).collect::<Vec<_>>()
    );
    assert!(
        loaded.iter().all(|f| f.get("node.lookup_cache") > 0),
        "lookups were cached"
    );

    // A join, then a graceful leave: names move in and out with their state.
    let d = start(&net, "d", 4, &[2]).await;
    common::converged_within(T, &[&a, &b, &c, &d], 4).await;
    write_all(&[&a, &b, &c, &d], &names).await;
    d.shutdown().await.expect("leave and stop");
    common::converged_within(T, &nodes, 3).await;

    // A crash: its names respawn on the others from their checkpoints.
    let e = start(&net, "e", 5, &[1]).await;
    common::converged_within(T, &[&a, &b, &c, &e], 4).await;
    write_all(&[&a, &b, &c, &e], &names).await;
    net.crash(&e);
    common::converged_within(T, &nodes, 3).await;
    // A crashed node stays in the known set (it is expected back, and dialed) until an
    // operator removes it.
    a.del_node(e.name().clone()).await.expect("del_node");
    write_all(&nodes, &names).await;

    for name in &names {
        let r = a.lookup::<TallyMsg>(name.as_str()).await.unwrap();
        // 3 or 4 nodes wrote to it in each of 4 rounds; a crash loses only writes after
        // the last checkpoint (none here: every message checkpoints).
        let value = r.call(TallyMsg::Get, CALL).await.expect("call");
        assert!(value >= 13, "{name} kept its writes: {value}");
    }
    stop_all(&a, &names).await;

    // At rest again: nothing of the 120 names, the departed d and the removed e remains.
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let hosted: usize = nodes.iter().map(|n| n.local_names().len()).sum();
        let grown = growth(&nodes, &baseline).await;
        if hosted == 0 && grown.is_empty() && nodes.iter().all(|n| n.status().settled) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "tables that kept what is gone ({hosted} names still hosted):\n{}",
            grown.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
