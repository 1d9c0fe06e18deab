//! Held messages are capped: a node that holds its cap of messages for a name refuses the
//! next one with a clear error and counts it, instead of growing without bound.
//!
//! A node resumed after a pause past the heartbeat deadline holds every message to its
//! actors until it has rejoined (the pause fence): that is the hold queue exercised here,
//! with real processes and `--hold-per-name 2`.

use std::time::Duration;

use anyhow::{ensure, Result};
use integration_tests::{free_ports, wait_until, Cluster};

const CAP: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_hold_queue_refuses_local_sends_with_an_error_and_counts_them() -> Result<()> {
    let ports = free_ports(2)?;
    let mut cluster = Cluster::start_on(ports, |i| {
        if i == 1 {
            vec!["--hold-per-name".to_string(), CAP.to_string()]
        } else {
            Vec::new()
        }
    })
    .await?;
    // A name hosted on the node that will be paused.
    let mut name = None;
    for i in 0..40 {
        let host = cluster.nodes[0].ok(&format!("spawn c{i} 0")).await?;
        if host == "n2@127.0.0.1" {
            name = Some(format!("c{i}"));
            break;
        }
    }
    let Some(name) = name else {
        anyhow::bail!("no name was placed on n2");
    };

    cluster.nodes[1].signal("STOP").await?;
    ensure!(
        cluster.wait_settled(&[0], 1, Duration::from_secs(10)).await,
        "the survivor did not drop the stopped node"
    );
    // The survivor stops too while the paused node resumes: the resumed node cannot rejoin
    // (which would lift its fence at once), so it stays fenced for its whole patience
    // (twice the deadline plus the handoff timeout), well past the casts below.
    cluster.nodes[0].signal("STOP").await?;
    cluster.nodes[1].signal("CONT").await?;
    ensure!(
        wait_until(Duration::from_secs(5), async || cluster
            .stat(1, "pauses")
            .await
            >= 1)
        .await,
        "the resumed node did not notice its pause"
    );
    // Fenced: casts from its own handles are held, up to the cap; past it they are refused.
    let mut refused = 0;
    let mut accepted = 0;
    for _ in 0..(CAP + 4) {
        let line = cluster.nodes[1].request(&format!("cast {name} 1")).await?;
        if line.starts_with("ok") {
            accepted += 1;
        } else {
            ensure!(
                line.contains("refused") && line.contains("per-name cap"),
                "unexpected answer {line:?}"
            );
            refused += 1;
        }
    }
    let counted = cluster.stat(1, "hold_refused").await;
    ensure!(
        refused >= 1,
        "no message was refused ({accepted} accepted while fenced: {})",
        cluster.nodes[1].stats().await?
    );
    ensure!(
        counted >= refused,
        "{refused} refusals but hold_refused = {counted}"
    );
    // The fence outlasts these few commands: exactly the cap was held.
    ensure!(accepted <= CAP, "{accepted} held with a cap of {CAP}");
    cluster.nodes[0].signal("CONT").await?;
    ensure!(
        cluster
            .wait_settled(&[0, 1], 2, Duration::from_secs(20))
            .await,
        "the resumed node did not rejoin"
    );
    Ok(())
}
