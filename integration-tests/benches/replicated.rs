//! B15: a replicated OR-set of 10,000 elements on 3, 8 and 16 nodes (in this process, over
//! the in-memory transport, so frames are encoded and decoded but no socket is crossed):
//! how long one update takes to reach every node, and the gossip bytes each node sends
//! per second, with deltas and with full states.
//!
//! ```text
//! cargo bench -p integration-tests --bench replicated
//! ```
//!
//! Convergence is timed from the `update` call on one node until every node's change
//! subscription reported a value containing the new element (median and max of 10
//! updates, made one at a time from rotating nodes). Bytes are the nodes'
//! `ReplicaStats::bytes_sent` over 5 s with 2 updates per second (from rotating nodes),
//! then over 5 s with none (anti-entropy digests only, every 1 s).

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use ractor_dist::transport::MemoryNetwork;
use ractor_dist::{DistConfig, DistNode, Kinds, OrSet, Push, Replicated};

type Big = OrSet<u32>;

async fn cluster(n: usize, push: Push) -> Result<(MemoryNetwork, Vec<DistNode>)> {
    let net = MemoryNetwork::new();
    let mut nodes = Vec::new();
    for i in 0..n {
        let config = DistConfig {
            seeds: if i == 0 {
                vec![]
            } else {
                vec!["127.0.0.1:1".to_string()]
            },
            replica_push: push,
            gossip_interval: Duration::from_secs(1),
            ..DistConfig::for_tests(format!("b{i}"), 1 + i as u16)
        };
        nodes.push(net.start(config, Kinds::new()).await?);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while nodes.iter().any(|d| d.members().len() != n) {
        ensure!(Instant::now() < deadline, "{n} nodes did not meet");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok((net, nodes))
}

fn add(set: &Replicated<Big>, e: u32) {
    set.update(|s, me| s.add(e, s.read_ctx().derive_add_ctx(me.clone())))
        .expect("update");
}

fn bytes_sent(nodes: &[DistNode]) -> u64 {
    nodes.iter().map(|d| d.replica_stats().bytes_sent).sum()
}

async fn run(n: usize, push: Push) -> Result<()> {
    let (_net, nodes) = cluster(n, push).await?;
    let sets: Vec<Replicated<Big>> = nodes
        .iter()
        .map(|d| d.replicated::<Big>("big"))
        .collect::<Result<_, _>>()?;
    sets[0].update(|s, me| s.add_all(0..10_000, s.read_ctx().derive_add_ctx(me.clone())))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !sets.iter().all(|s| s.get().contains(&9_999).val) {
        ensure!(
            Instant::now() < deadline,
            "the 10,000 elements did not spread"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    let mut times = Vec::new();
    for k in 0..10u32 {
        let e = 20_000 + k;
        let mut subs: Vec<_> = sets.iter().map(Replicated::subscribe).collect();
        let started = Instant::now();
        add(&sets[k as usize % n], e);
        for sub in &mut subs {
            loop {
                let change = tokio::time::timeout(Duration::from_secs(30), sub.recv())
                    .await?
                    .expect("node running");
                if change.new.contains(&e).val {
                    break;
                }
            }
        }
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);

    let before = bytes_sent(&nodes);
    for k in 0..10u32 {
        add(&sets[k as usize % n], 30_000 + k);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let busy = (bytes_sent(&nodes) - before) as f64 / n as f64 / 5.0;
    let before = bytes_sent(&nodes);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle = (bytes_sent(&nodes) - before) as f64 / n as f64 / 5.0;
    println!(
        "{n:>5} {:<10} {:>8.2} {:>8.2} {:>14.0} {:>10.0}",
        format!("{push:?}"),
        times[times.len() / 2],
        times[times.len() - 1],
        busy,
        idle
    );
    for node in nodes {
        node.shutdown().await?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        println!("B15: one update of a 10,000-element OR-set, gossip every 1 s");
        println!("nodes push       p50 ms   max ms   B/node/s (2 upd/s)  B/node/s idle");
        for n in [3, 8, 16] {
            for push in [Push::Deltas, Push::FullState] {
                run(n, push).await?;
            }
        }
        Ok(())
    })
}
