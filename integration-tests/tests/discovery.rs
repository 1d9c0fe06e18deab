//! Where peers come from, with real processes on loopback: seeds spelled otherwise than the
//! address a peer advertises are matched to that peer by identity (not redialed, its live
//! session never replaced).

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use integration_tests::{start_node, wait_until, NodeProc, DEADLINE_MS, HEARTBEAT_MS};
use ractor_dist::testing::free_ports;

/// The flags every node of these tests shares (cookie and heartbeat of the test clusters).
fn common() -> Vec<String> {
    [
        "--cookie",
        "test-cookie",
        "--heartbeat-ms",
        &HEARTBEAT_MS.to_string(),
        "--deadline-ms",
        &DEADLINE_MS.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Waits until every node sees `n` members.
async fn wait_members(nodes: &mut [NodeProc], n: usize, within: Duration) -> bool {
    wait_until(within, async || {
        for node in nodes.iter_mut() {
            if node.members().await.map(|m| m.len() != n).unwrap_or(true) {
                return false;
            }
        }
        true
    })
    .await
}

/// Nodes seeded with `localhost:PORT` advertise `127.0.0.1:PORT`: once a dialed seed said
/// hello as a member, it is that member's and is not dialed again while the member is
/// connected. Before, each seed was redialed every few seconds forever and about half of
/// the redials won ractor_cluster's duplicate-session election, replacing the live session
/// (and dropping what was queued on it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seeds_spelled_unlike_the_advertised_address_are_not_redialed() -> Result<()> {
    let ports = free_ports(3)?;
    let mut nodes = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let mut args = common();
        // A short redial cap, so that the old behaviour shows within the test.
        args.extend(["--reconnect-max-ms".to_string(), "1000".to_string()]);
        for p in ports.iter().filter(|p| *p != port) {
            args.extend(["--seed".to_string(), format!("localhost:{p}")]);
        }
        nodes.push(start_node(&format!("n{}", i + 1), *port, &args).await?);
    }
    ensure!(
        wait_members(&mut nodes, 3, Duration::from_secs(20)).await,
        "the cluster did not form from localhost seeds"
    );
    // Let the formation's own dials and elections end.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mut before = Vec::new();
    for node in nodes.iter_mut() {
        before.push(node.stats().await?);
    }
    let host = nodes[0].ok("spawn steady 0").await?;
    eprintln!("steady runs on {host}");

    // Steady casts from every node for about 8 redial caps.
    let started = Instant::now();
    let mut sent = 0i64;
    while started.elapsed() < Duration::from_secs(8) {
        for node in nodes.iter_mut() {
            node.ok("cast steady 1").await?;
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrived = {
        let node = &mut nodes[0];
        let mut last = 0;
        wait_until(Duration::from_secs(10), async || {
            last = node.get("steady").await.unwrap_or(-1);
            last == sent
        })
        .await;
        last
    };
    let mut after = Vec::new();
    for node in nodes.iter_mut() {
        after.push(node.stats().await?);
    }
    for (b, a) in before.iter().zip(&after) {
        eprintln!(
            "{}: dials {} -> {}, sessions_replaced {} -> {}, epoch {} -> {}, seeds identified {}",
            a.value("node").unwrap_or("?"),
            b.get("dials"),
            a.get("dials"),
            b.get("sessions_replaced"),
            a.get("sessions_replaced"),
            b.get("epoch"),
            a.get("epoch"),
            a.get("dials_identified"),
        );
    }
    assert_eq!(arrived, sent, "casts lost while the seeds were redialed");
    for (b, a) in before.iter().zip(&after) {
        let node = a.value("node").unwrap_or("?");
        assert!(a.value("dials").is_some(), "{node} counts no dials: {a}");
        assert_eq!(
            a.get("dials"),
            b.get("dials"),
            "{node} kept dialing connected peers"
        );
        assert_eq!(
            a.get("sessions_replaced"),
            b.get("sessions_replaced"),
            "{node} had live sessions replaced"
        );
        assert_eq!(a.get("epoch"), b.get("epoch"), "{node}'s view changed");
        assert_eq!(a.get("dials_identified"), 2, "{node}: {a}");
    }
    Ok(())
}
