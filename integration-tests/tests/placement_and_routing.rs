//! Three real node processes: names spawned from different nodes are placed on their
//! rendezvous owner over the live members, and every node reaches every name.

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use integration_tests::{wait_until, Cluster};
use ractor_dist::core::{ActorKey, Epoch, NodeName, Placement};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_reaches_every_name_and_placement_is_rendezvous() -> Result<()> {
    let mut cluster = Cluster::start(3).await?;
    let members = cluster.nodes[0].members().await?;
    assert_eq!(members.len(), 3);
    let placement = Placement::new(Epoch(0), members.iter().map(|m| NodeName::new(m.as_str())));
    let names: Vec<String> = (0..300).map(|i| format!("acct-{i}")).collect();

    // Spawn from different nodes (pipelined), each with its own start value.
    for (i, name) in names.iter().enumerate() {
        cluster.nodes[i % 3]
            .send(&format!("spawn {name} {i}"))
            .await?;
    }
    for (i, name) in names.iter().enumerate() {
        let reply = cluster.nodes[i % 3].recv().await?;
        let expected = placement.owner_of(&ActorKey::new(name.as_str())).unwrap();
        assert_eq!(reply, format!("ok {expected}"), "spawn {name}");
    }

    // Spawning again is idempotent: same host, state untouched.
    assert_eq!(
        cluster.nodes[1].ok("spawn acct-7 1000").await?,
        placement.owner_of(&"acct-7".into()).unwrap().to_string()
    );

    // Every node reaches every name, reads and writes.
    for node in cluster.nodes.iter_mut() {
        for name in &names {
            node.send(&format!("add {name} 1")).await?;
        }
        for name in &names {
            let reply = node.recv().await?;
            assert!(
                reply.starts_with("ok "),
                "{}: add {name}: {reply}",
                node.name()
            );
        }
    }
    for (i, name) in names.iter().enumerate() {
        let node = &mut cluster.nodes[(i + 2) % 3];
        assert_eq!(node.get(name).await?, i as i64 + 3);
        let (host, _) = node.where_is(name).await?;
        assert_eq!(
            host,
            placement
                .owner_of(&ActorKey::new(name.as_str()))
                .unwrap()
                .as_str()
        );
    }

    // Each node hosts exactly the names it owns.
    let mut total = 0;
    for node in cluster.nodes.iter_mut() {
        let local = node.local().await?;
        let owned = names
            .iter()
            .filter(|n| {
                placement
                    .owner_of(&ActorKey::new(n.as_str()))
                    .unwrap()
                    .as_str()
                    == node.node_name()
            })
            .count();
        assert_eq!(local, owned, "{}", node.name());
        total += local;
    }
    assert_eq!(total, names.len());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_actor_is_gone_cluster_wide_and_crashed_one_restarts() -> Result<()> {
    let mut cluster = Cluster::start(3).await?;
    for i in 0..20 {
        cluster.nodes[0].ok(&format!("spawn s{i} 5")).await?;
    }
    for i in 0..20 {
        cluster.nodes[1].add(&format!("s{i}"), 1).await?;
    }
    // A panic restarts the counter on its node, from its original arguments.
    cluster.nodes[2].ok("crash s3").await?;
    let restarted = wait_until(Duration::from_secs(10), async || {
        cluster.nodes[2].get("s3").await.is_ok_and(|v| v == 5)
    })
    .await;
    assert!(restarted, "s3 was not restarted from its start value");

    // A stop removes the name everywhere: no node reaches it any more, promptly.
    cluster.nodes[1].ok("stop s4").await?;
    for node in cluster.nodes.iter_mut() {
        let t = Instant::now();
        let reply = node.request("get s4").await?;
        assert!(
            reply.starts_with("error no actor named s4"),
            "{}: {reply}",
            node.name()
        );
        assert!(t.elapsed() < Duration::from_secs(3));
    }
    // ... and the name can be spawned afresh.
    cluster.nodes[2].ok("spawn s4 100").await?;
    assert_eq!(cluster.nodes[0].get("s4").await?, 100);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_each_nodes_load_and_share() -> Result<()> {
    let mut cluster = Cluster::start(3).await?;
    for i in 0..90 {
        cluster.nodes[i % 3].ok(&format!("spawn load{i} 0")).await?;
    }
    let status = cluster.nodes[1].ok("status").await?;
    let mut words = status.split_whitespace();
    assert_eq!(words.next(), Some("total=90"), "{status}");
    let mut sum = 0;
    let mut shares = 0.0;
    let mut nodes = Vec::new();
    for part in words {
        let (node, rest) = part.split_once('=').unwrap();
        let (hosted, share) = rest.split_once(':').unwrap();
        let hosted: usize = hosted.parse()?;
        sum += hosted;
        shares += share.trim_end_matches('%').parse::<f64>()?;
        nodes.push(node.to_string());
        let local = cluster
            .nodes
            .iter_mut()
            .find(|n| n.node_name() == node)
            .unwrap()
            .local()
            .await?;
        assert_eq!(hosted, local, "{node}");
    }
    assert_eq!(sum, 90);
    assert!((shares - 100.0).abs() < 0.5, "{status}");
    assert_eq!(nodes, cluster.nodes[0].members().await?);
    Ok(())
}

/// Issue 9's test gaps: a node started with `--weight 3` beside two of weight 1 owns about
/// three fifths of the names (weighted rendezvous), and every node names the same host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weighted_node_hosts_its_share_of_the_names() -> Result<()> {
    const N: usize = 300;
    let ports = integration_tests::free_ports(3)?;
    let mut cluster = Cluster::start_on(ports, |i| {
        if i == 0 {
            vec!["--weight".to_string(), "3".to_string()]
        } else {
            Vec::new()
        }
    })
    .await?;
    for i in 0..N {
        cluster.nodes[i % 3]
            .send(&format!("spawn w{i} {i}"))
            .await?;
    }
    for i in 0..N {
        let reply = cluster.nodes[i % 3].recv().await?;
        assert!(reply.starts_with("ok "), "spawn w{i}: {reply}");
    }
    let heavy = cluster.nodes[0].local().await? as f64 / N as f64;
    let light = cluster.nodes[1].local().await? as f64 / N as f64;
    assert!(
        (0.5..0.7).contains(&heavy),
        "the weight-3 node hosts {heavy:.2} of the names"
    );
    assert!(
        (0.13..0.27).contains(&light),
        "a weight-1 node hosts {light:.2} of the names"
    );
    assert_eq!(cluster.hosted(&[0, 1, 2]).await, N);
    for i in (0..N).step_by(7) {
        let name = format!("w{i}");
        let (host, _) = cluster.nodes[0].where_is(&name).await?;
        for node in 1..3 {
            assert_eq!(cluster.nodes[node].where_is(&name).await?.0, host, "{name}");
        }
        assert_eq!(cluster.nodes[(i + 1) % 3].get(&name).await?, i as i64);
    }
    Ok(())
}

/// Issue 9's test gaps: an actor whose kind checkpoints (`durable`: every message) that
/// panics restarts on its node from its last checkpoint, not from its arguments.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpointed_actor_that_panics_restarts_from_its_checkpoint() -> Result<()> {
    const N: usize = 10;
    let mut cluster = Cluster::start(3).await?;
    for i in 0..N {
        cluster.nodes[0]
            .ok(&format!("spawn-as durable r{i} 5"))
            .await?;
        cluster.nodes[1].add(&format!("r{i}"), i as i64 + 1).await?;
    }
    ensure!(
        wait_until(Duration::from_secs(10), async || {
            cluster.stat_sum(&[0, 1, 2], "checkpoints").await >= N as u64
        })
        .await,
        "no checkpoints"
    );
    let restarts_before = cluster.stat_sum(&[0, 1, 2], "restarts").await;
    for i in 0..N {
        cluster.nodes[2].ok(&format!("crash r{i}")).await?;
    }
    ensure!(
        wait_until(Duration::from_secs(10), async || {
            cluster.stat_sum(&[0, 1, 2], "restarts").await >= restarts_before + N as u64
        })
        .await,
        "the actors did not restart"
    );
    for i in 0..N {
        assert_eq!(
            cluster.nodes[i % 3].get(&format!("r{i}")).await?,
            5 + i as i64 + 1,
            "r{i} restarted from its arguments, not its checkpoint"
        );
    }
    assert_eq!(cluster.hosted(&[0, 1, 2]).await, N);
    Ok(())
}

/// Issue 9's test gap "lookup cache hits and invalidation on an epoch change": a node that
/// found a name asks its directory node once per membership view; its next lookups and
/// sends are answered by its cache (counted), and a join invalidates every cached answer
/// (the next lookup asks again and finds the name where the new view put it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_are_cached_for_one_view_and_asked_again_after_a_join() -> Result<()> {
    let mut cluster = Cluster::start(3).await?;
    let members = cluster.nodes[0].members().await?;
    let me = cluster.nodes[0].node_name().to_string();
    // A name another node hosts and directs: node 0 knows nothing of it locally.
    let name = (0..)
        .map(|i| format!("cached-{i}"))
        .find(|n| integration_tests::owner_of(n, &members) != me)
        .expect("a name owned elsewhere");
    let host = cluster.nodes[1].spawn_as("counter", &name, 5).await?;
    ensure!(host != me, "{name} placed on node 0");

    let stats = |s: &integration_tests::Stats| (s.get("lookups_asked"), s.get("lookup_cache_hits"));
    let (asked0, _) = stats(&cluster.nodes[0].stats().await?);
    ensure!(
        cluster.nodes[0].where_is(&name).await?.0 == host,
        "first lookup"
    );
    let (asked1, hits1) = stats(&cluster.nodes[0].stats().await?);
    ensure!(
        asked1 == asked0 + 1,
        "the first lookup asks: {asked0} -> {asked1}"
    );
    // Again, and sends through fresh handles: the cache answers, nothing is asked.
    ensure!(
        cluster.nodes[0].where_is(&name).await?.0 == host,
        "second lookup"
    );
    ensure!(
        cluster.nodes[0].add(&name, 1).await? == 6,
        "add through the cache"
    );
    let (asked2, hits2) = stats(&cluster.nodes[0].stats().await?);
    ensure!(
        asked2 == asked1,
        "a cached answer asked again: {asked1} -> {asked2}"
    );
    ensure!(hits2 >= hits1 + 2, "cache hits {hits1} -> {hits2}");

    // A join changes the view: every cached answer is stale.
    cluster.join(&[]).await?;
    ensure!(
        cluster
            .wait_settled(&[0, 1, 2, 3], 4, Duration::from_secs(15))
            .await,
        "the cluster did not settle with n4"
    );
    let members4 = cluster.nodes[0].members().await?;
    let (asked3, _) = stats(&cluster.nodes[0].stats().await?);
    let (found, _) = cluster.nodes[0].where_is(&name).await?;
    let (asked4, hits4) = stats(&cluster.nodes[0].stats().await?);
    ensure!(
        asked4 > asked3,
        "the lookup after the join was answered from the old view's cache"
    );
    if integration_tests::owner_of(&name, &members4) != me {
        ensure!(
            found == integration_tests::owner_of(&name, &members4),
            "{name} found on {found}, owned by {}",
            integration_tests::owner_of(&name, &members4)
        );
    }
    // Cached again in the new view.
    ensure!(
        cluster.nodes[0].where_is(&name).await?.0 == found,
        "lookup in the new view"
    );
    let (asked5, hits5) = stats(&cluster.nodes[0].stats().await?);
    ensure!(
        asked5 == asked4 && hits5 > hits4,
        "not cached in the new view: asked {asked4} -> {asked5}, hits {hits4} -> {hits5}"
    );
    ensure!(
        cluster.nodes[2].get(&name).await? == 6,
        "{name} kept its value"
    );
    Ok(())
}
