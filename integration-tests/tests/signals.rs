//! `DistNode::run_until_signal` in a real process (the console node ends its `main` with
//! it): Ctrl-C (SIGINT) makes the node hand its actors off and exit cleanly, as SIGTERM does
//! (`migration.rs` covers SIGTERM under load).

use std::time::Duration;

use anyhow::{ensure, Result};
use integration_tests::{wait_until, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_hands_the_actors_off_before_the_node_exits() -> Result<()> {
    let mut cluster = Cluster::start(2).await?;
    // Counters (moved with their state on a planned leave) whose value differs from their
    // start value: one restarted from its arguments would read 0.
    for i in 0..20 {
        cluster.nodes[i % 2].ok(&format!("spawn s{i} 0")).await?;
        cluster.nodes[i % 2]
            .add(&format!("s{i}"), i as i64 + 1)
            .await?;
    }
    let leaving_hosts = cluster.nodes[1].local().await?;
    ensure!(leaving_hosts > 0, "the leaving node hosts nothing");
    cluster.nodes[1].signal("INT").await?;
    let code = cluster.nodes[1].wait_exit().await?;
    assert_eq!(code, Some(0), "a node stopped with Ctrl-C exits cleanly");
    let rest = &mut cluster.nodes[0];
    ensure!(
        wait_until(Duration::from_secs(20), async || rest
            .members()
            .await
            .is_ok_and(|m| m.len() == 1))
        .await,
        "the other node did not drop the leaver"
    );
    // Handed off with their state, not respawned from their arguments.
    for i in 0..20 {
        assert_eq!(rest.get(&format!("s{i}")).await?, i as i64 + 1, "s{i}");
    }
    assert_eq!(rest.local().await?, 20);
    let stats = rest.stats().await?;
    assert_eq!(stats.get("respawned"), 0, "{stats}");
    assert!(stats.get("moved_in") > 0, "{stats}");
    Ok(())
}
