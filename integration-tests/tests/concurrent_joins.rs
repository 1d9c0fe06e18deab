//! Known failure (found by the container suite's scale-up, reproduced here on loopback):
//! when two nodes join a cluster of three at once, a node can keep a stale route for a
//! name that moved twice. Every node agrees on the owner and the actor runs there, but
//! the stale node's `where` names the intermediate host, which answers "no actor named
//! ..." instead of redirecting: lookups and calls through that node fail for good.
//! Run it with `cargo test -p integration-tests --test concurrent_joins -- --ignored`.

use std::time::Duration;

use anyhow::{ensure, Result};
use integration_tests::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "known failure: two joins at once can leave a stale route (see the module docs)"]
async fn two_nodes_joining_at_once_leave_no_stale_route() -> Result<()> {
    // It fails in about one round of two; six rounds keep it under half a minute.
    for round in 0..6 {
        let mut c = Cluster::start(3).await?;
        for k in 0..300 {
            c.nodes[0].spawn_as("counter", &format!("c{k}"), k).await?;
        }
        c.join(&[]).await?;
        c.join(&[]).await?;
        ensure!(
            c.wait_members(5, Duration::from_secs(30)).await,
            "5 members"
        );
        ensure!(c.wait_idle(5, Duration::from_secs(30)).await, "settled");
        for k in 0..300 {
            let name = format!("c{k}");
            for node in c.nodes.iter_mut() {
                let got = node.request(&format!("get {name}")).await?;
                let (host, _) = node.where_is(&name).await?;
                ensure!(
                    got == format!("ok {k}"),
                    "round {round}: {name} through {}: {got:?} (its route: {host})",
                    node.name()
                );
            }
        }
    }
    Ok(())
}
