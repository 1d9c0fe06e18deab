//! Crashed, hung and restarted peers, with real processes and signals.
//!
//! The test cluster heartbeats every 100 ms with a 1.5 s deadline
//! (`integration_tests::DEADLINE_MS`). ractor_cluster alone notices a crash (the socket
//! closes) but never a hung peer; ractor-dist's heartbeat must catch both.

use std::time::{Duration, Instant};

use anyhow::Result;
use integration_tests::{wait_until, Cluster, DEADLINE_MS, HEARTBEAT_MS};

fn deadline() -> Duration {
    Duration::from_millis(DEADLINE_MS + 2 * HEARTBEAT_MS)
}

fn without(members: &[String], gone: &str) -> Vec<String> {
    members.iter().filter(|m| *m != gone).cloned().collect()
}

/// Waits until the first two nodes see every member of `all` but `victim`.
async fn survivors_drop(
    cluster: &mut Cluster,
    all: &[String],
    victim: &str,
    within: Duration,
) -> bool {
    let expected = without(all, victim);
    let (a, b) = cluster.nodes.split_at_mut(1);
    wait_until(within, async || {
        a[0].members().await.is_ok_and(|m| m == expected)
            && b[0].members().await.is_ok_and(|m| m == expected)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_node_is_seen_down_by_the_others_within_the_deadline() -> Result<()> {
    let mut cluster = Cluster::start(3).await?;
    let all = cluster.nodes[0].members().await?;
    let victim = cluster.nodes[2].node_name().to_string();
    cluster.nodes[2].signal("KILL").await?;
    let t = Instant::now();
    let seen = survivors_drop(&mut cluster, &all, &victim, deadline()).await;
    assert!(
        seen,
        "kill -9 of {victim} not noticed within {:?}",
        deadline()
    );
    eprintln!("kill -9 noticed after {:?}", t.elapsed());
    // The survivors keep serving.
    cluster.nodes[0].ok("spawn after-crash 1").await?;
    assert_eq!(cluster.nodes[1].get("after-crash").await?, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_node_is_declared_down_and_accepted_back_after_sigcont() -> Result<()> {
    let mut cluster = Cluster::start(3).await?;
    let all = cluster.nodes[0].members().await?;
    let victim = cluster.nodes[2].node_name().to_string();
    cluster.nodes[2].signal("STOP").await?;
    let t = Instant::now();
    let seen = survivors_drop(
        &mut cluster,
        &all,
        &victim,
        deadline() + Duration::from_millis(500),
    )
    .await;
    assert!(
        seen,
        "SIGSTOPped {victim} not declared down within the deadline"
    );
    eprintln!("SIGSTOP noticed after {:?}", t.elapsed());
    let status = cluster.nodes[0].stats().await?;
    assert!(status.get("peers_declared_down") != 0, "{status}");

    cluster.nodes[2].signal("CONT").await?;
    assert!(
        cluster.wait_members(3, Duration::from_secs(20)).await,
        "{victim} was not accepted back after SIGCONT"
    );
    cluster.nodes[0].ok("spawn after-cont 2").await?;
    assert_eq!(cluster.nodes[2].get("after-cont").await?, 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_restarted_under_the_same_name_rejoins() -> Result<()> {
    let mut cluster = Cluster::start(3).await?;
    cluster.nodes[1].signal("KILL").await?;
    assert!(cluster.nodes[0].members().await.is_ok());
    cluster.nodes[1].restart().await?;
    assert!(
        cluster.wait_members(3, Duration::from_secs(20)).await,
        "restarted node did not rejoin"
    );
    // The cluster places and serves names across all three again.
    for i in 0..30 {
        cluster.nodes[i % 3].ok(&format!("spawn r{i} {i}")).await?;
    }
    for i in 0..30 {
        assert_eq!(
            cluster.nodes[(i + 1) % 3].get(&format!("r{i}")).await?,
            i as i64
        );
    }
    Ok(())
}
