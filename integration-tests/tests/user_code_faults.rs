//! User code that misbehaves during a move affects only its own name, with real processes:
//! a `restore` (and `pre_start`) that takes 10 s, and a `snapshot()` that panics. No node
//! is declared down, every other name keeps answering calls, and the faulty name ends up
//! served exactly once.
//!
//! Both failed while user hooks ran on the per-node supervisor's task (issue 8 item 3): the
//! slow hook got its node declared unreachable within the 1.5 s deadline, and the panic
//! stopped the supervisors of the source nodes, which lost two of the three names.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use integration_tests::{names_owned_by, owner_of, wait_until, Cluster};

/// Names that behave, and their values.
const OTHERS: usize = 30;
/// How long the slow name's hooks take.
const SLOW_MS: u64 = 10_000;
/// How long a call to a name that behaves may take while another name is slow.
const CALL_BOUND: Duration = Duration::from_secs(2);

/// Spawns `o0..` from every node in turn, each with its index as its value.
async fn spawn_others(cluster: &mut Cluster) -> Result<BTreeMap<String, i64>> {
    let mut expected = BTreeMap::new();
    for i in 0..OTHERS {
        let k = cluster.nodes.len();
        cluster.nodes[i % k].ok(&format!("spawn o{i} {i}")).await?;
        expected.insert(format!("o{i}"), i as i64);
    }
    Ok(expected)
}

/// For `window`, calls every name of `expected` through the nodes `via` in turn and checks
/// each answers its value within [`CALL_BOUND`], and that none of `via` declared a peer
/// down. Returns the number of calls made.
async fn keep_probing(
    cluster: &mut Cluster,
    via: &[usize],
    expected: &BTreeMap<String, i64>,
    window: Duration,
    phase: &str,
) -> Result<usize> {
    let end = Instant::now() + window;
    let mut calls = 0;
    while Instant::now() < end {
        for (j, (name, want)) in expected.iter().enumerate() {
            let i = via[(j + calls) % via.len()];
            let t = Instant::now();
            let got = cluster.nodes[i].get(name).await;
            ensure!(
                matches!(got, Ok(v) if v == *want) && t.elapsed() < CALL_BOUND,
                "{phase}: get {name} through {} answered {got:?} after {:?} (want {want})",
                cluster.nodes[i].name(),
                t.elapsed()
            );
        }
        calls += expected.len();
        for &i in via {
            let stats = cluster.nodes[i].stats().await?;
            ensure!(
                stats.get("peers_declared_down") == 0,
                "{phase}: {} declared a peer down: {stats}",
                cluster.nodes[i].name()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(calls)
}

/// Checks that every node answers, sees `n` members and never declared a peer down.
async fn every_node_up(cluster: &mut Cluster, n: usize, phase: &str) -> Result<()> {
    for node in cluster.nodes.iter_mut() {
        let members = node.members().await?;
        let stats = node.stats().await?;
        ensure!(
            members.len() == n && stats.get("peers_declared_down") == 0,
            "{phase}: {} sees {members:?}; {stats}",
            node.name()
        );
    }
    Ok(())
}

/// The node name a node started as `n<k>` by [`Cluster::join`] gets.
fn joiner_name(cluster: &Cluster) -> String {
    format!("n{}@127.0.0.1", cluster.nodes.len() + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_restore_during_a_move_delays_only_its_own_name() -> Result<()> {
    let t0 = Instant::now();
    let mut cluster = Cluster::start(3).await?;
    let expected = spawn_others(&mut cluster).await?;
    // A name the fourth node will own, spawned with 10 s hooks while the cluster has
    // three, from the node that hosts it (the others' consoles stay free for probing).
    let three = cluster.nodes[0].members().await?;
    let mut four = three.clone();
    let joiner = joiner_name(&cluster);
    four.push(joiner.clone());
    let slow = names_owned_by("slow", &four, &joiner).next().unwrap();
    let host = owner_of(&slow, &three);
    let h = (0..3)
        .find(|&i| cluster.nodes[i].node_name() == host)
        .unwrap();
    let others: Vec<usize> = (0..3).filter(|&i| i != h).collect();
    cluster.nodes[h]
        .send(&format!("spawn-slow {slow} 7 {SLOW_MS}"))
        .await?;
    let calls = keep_probing(
        &mut cluster,
        &others,
        &expected,
        Duration::from_millis(SLOW_MS + 500),
        "during the slow pre_start",
    )
    .await?;
    // The spawn may answer before the start ends (a request timeout, shorter than 10 s);
    // the name must serve anyway.
    let reply = cluster.nodes[h].recv().await?;
    eprintln!("spawn-slow {slow} answered {reply:?}");
    ensure!(
        reply == format!("ok {host}") || reply.starts_with("error no answer within"),
        "spawn-slow {slow}: {reply}"
    );
    let prober = &mut cluster.nodes[others[0]];
    ensure!(
        wait_until(Duration::from_secs(10), async || prober
            .get(&slow)
            .await
            .is_ok())
        .await,
        "{slow} does not serve after its slow pre_start"
    );
    every_node_up(&mut cluster, 3, "after the slow pre_start").await?;
    ensure!(cluster.nodes[others[0]].add(&slow, 5).await? == 12);
    eprintln!(
        "slow pre_start: {calls} calls to other names answered meanwhile ({:?} in)",
        t0.elapsed()
    );

    // The fourth node joins; the slow name moves to it and its restore takes 10 s.
    let t = Instant::now();
    cluster.join(&[]).await?;
    ensure!(
        cluster.wait_members(4, Duration::from_secs(10)).await,
        "the fourth node did not join"
    );
    let calls = keep_probing(
        &mut cluster,
        &[0, 1, 2, 3],
        &expected,
        Duration::from_millis(SLOW_MS + 1000),
        "during the slow restore",
    )
    .await?;
    eprintln!("slow restore: {calls} calls to other names answered meanwhile");

    // The slow name ends up served exactly once, on its owner.
    let newcomer = &mut cluster.nodes[3];
    ensure!(
        wait_until(Duration::from_secs(20), async || newcomer
            .get(&slow)
            .await
            .is_ok())
        .await,
        "{slow} does not answer on {joiner}"
    );
    let nodes = &mut cluster.nodes;
    ensure!(
        wait_until(Duration::from_secs(20), async || {
            for node in nodes.iter_mut() {
                if !node.stats().await.is_ok_and(|s| s.idle_with(4)) {
                    return false;
                }
            }
            true
        })
        .await,
        "the cluster did not settle after the join"
    );
    every_node_up(&mut cluster, 4, "after the slow restore").await?;
    ensure!(
        cluster.hosted(&[0, 1, 2, 3]).await == OTHERS + 1,
        "{} actors hosted, want {}",
        cluster.hosted(&[0, 1, 2, 3]).await,
        OTHERS + 1
    );
    for i in 0..4 {
        let (host, _) = cluster.nodes[i].where_is(&slow).await?;
        ensure!(
            host == joiner,
            "{slow} is on {host}, not on its owner {joiner}"
        );
    }
    let value = cluster.nodes[3].get(&slow).await?;
    let fallbacks = cluster.stat_sum(&[0, 1, 2, 3], "handoff_fallbacks").await;
    ensure!(
        value == 12 || (value == 7 && fallbacks >= 1),
        "{slow} = {value} ({fallbacks} fallbacks)"
    );
    eprintln!(
        "{slow} served once on {joiner} with {value} ({fallbacks} fallbacks), {:?} after the join, {:?} in all",
        t.elapsed(),
        t0.elapsed()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_snapshot_during_a_move_falls_back_to_a_restart() -> Result<()> {
    let t0 = Instant::now();
    let mut cluster = Cluster::start(3).await?;
    let expected = spawn_others(&mut cluster).await?;
    // Names the fourth node will own, whose snapshot panics when they move there.
    let mut members = cluster.nodes[0].members().await?;
    let joiner = joiner_name(&cluster);
    members.push(joiner.clone());
    let panicky: Vec<String> = names_owned_by("panicky", &members, &joiner)
        .take(3)
        .collect();
    for (i, name) in panicky.iter().enumerate() {
        cluster.nodes[i % 3].spawn_as("panicky", name, 7).await?;
        ensure!(cluster.nodes[(i + 1) % 3].add(name, 5).await? == 12);
    }

    cluster.join(&[]).await?;
    ensure!(
        cluster.wait_members(4, Duration::from_secs(10)).await,
        "the fourth node did not join"
    );
    let calls = keep_probing(
        &mut cluster,
        &[0, 1, 2, 3],
        &expected,
        Duration::from_secs(3),
        "after the panicking snapshots",
    )
    .await?;
    let nodes = &mut cluster.nodes;
    ensure!(
        wait_until(Duration::from_secs(20), async || {
            for node in nodes.iter_mut() {
                if !node.stats().await.is_ok_and(|s| s.idle_with(4)) {
                    return false;
                }
            }
            true
        })
        .await,
        "the cluster did not settle after the join"
    );
    every_node_up(&mut cluster, 4, "after the panicking snapshots").await?;
    ensure!(
        cluster.hosted(&[0, 1, 2, 3]).await == OTHERS + panicky.len(),
        "{} actors hosted, want {}",
        cluster.hosted(&[0, 1, 2, 3]).await,
        OTHERS + panicky.len()
    );
    // Without a snapshot or a checkpoint each restarts from its arguments.
    for name in &panicky {
        for i in 0..4 {
            let value = cluster.nodes[i].get(name).await?;
            ensure!(value == 7, "{name} = {value} through node {i}, want 7");
        }
    }
    let fallbacks = cluster.stat_sum(&[0, 1, 2, 3], "handoff_fallbacks").await;
    ensure!(fallbacks >= 1, "no fallback was counted");
    eprintln!(
        "{} panicking snapshots: {fallbacks} fallbacks counted, {calls} calls to other names answered, {:?} in all",
        panicky.len(),
        t0.elapsed()
    );
    Ok(())
}
