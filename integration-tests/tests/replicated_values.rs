//! Replicated values (`rinc`, `radd`, ...) with real processes: five nodes updating one
//! counter and one set at once end equal everywhere; a 2 + 3 partition updated on both
//! sides merges with nothing lost after the heal; change callbacks fire once per effective
//! change and never for a merge that changes nothing. Gossip every 200 ms.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Result};
use integration_tests::proxy::ProxyMesh;
use integration_tests::{free_ports, wait_until, Cluster, NodeProc};

const GOSSIP: [&str; 2] = ["--gossip-ms", "200"];

fn gossip() -> Vec<String> {
    GOSSIP.iter().map(|s| s.to_string()).collect()
}

/// Whether every node in `nodes` reads `want` from counter `name` and `set` from `set`.
async fn all_hold(
    nodes: &mut [NodeProc],
    name: &str,
    want: i64,
    set_name: &str,
    set: &[String],
) -> bool {
    for node in nodes.iter_mut() {
        if node.rget(name).await.ok() != Some(want) {
            return false;
        }
        if node.rmembers(set_name).await.ok().as_deref() != Some(set) {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_updating_at_once_converge_and_see_one_callback_per_change() -> Result<()> {
    let mut cluster = Cluster::start_on(free_ports(5)?, |_| gossip()).await?;
    // Every node holds the values before anyone writes (so that it counts every change).
    for node in cluster.nodes.iter_mut() {
        node.rget("hits").await?;
        node.rmembers("seen").await?;
        node.rget("steps").await?;
    }
    // Interleaved writes from every node, none waiting for the others.
    let mut want = 0;
    let mut members = BTreeSet::new();
    for round in 0..4 {
        for (i, node) in cluster.nodes.iter_mut().enumerate() {
            node.rinc("hits", i as i64 + 1).await?;
            want += i as i64 + 1;
            let elem = format!("e{i}-{round}");
            node.radd("seen", &elem).await?;
            members.insert(elem);
            if round == 3 {
                // each node removes one of its own earlier elements
                let gone = format!("e{i}-0");
                node.rdel("seen", &gone).await?;
                members.remove(&gone);
            }
        }
    }
    let members: Vec<String> = members.into_iter().collect();
    ensure!(
        wait_until(Duration::from_secs(20), async || {
            all_hold(&mut cluster.nodes, "hits", want, "seen", &members).await
        })
        .await,
        "the nodes did not converge to {want} and {members:?}"
    );
    for node in cluster.nodes.iter_mut() {
        let n = node.changes("hits").await?;
        ensure!(
            (1..=20).contains(&n),
            "{n} changes of hits on {}",
            node.name()
        );
    }

    // One update at a time, each seen everywhere before the next: every node sees each
    // as exactly one change.
    for i in 0..5 {
        cluster.nodes[i].rinc("steps", 1).await?;
        let want = i as i64 + 1;
        ensure!(
            wait_until(Duration::from_secs(10), async || {
                for node in cluster.nodes.iter_mut() {
                    if node.rget("steps").await.ok() != Some(want) {
                        return false;
                    }
                }
                true
            })
            .await,
            "step {want} did not reach every node"
        );
    }
    // Anti-entropy between equal nodes (several gossip rounds) changes nothing.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    ensure!(
        wait_until(Duration::from_secs(5), async || {
            for node in cluster.nodes.iter_mut() {
                if node.changes("steps").await.ok() != Some(5) {
                    return false;
                }
            }
            true
        })
        .await,
        "a node did not see exactly 5 changes of steps"
    );
    for node in cluster.nodes.iter_mut() {
        let stats = node.stats().await?;
        ensure!(
            stats.get("replica_refused") == 0,
            "refusals on {}",
            node.name()
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2_plus_3_partition_updated_on_both_sides_merges_with_nothing_lost() -> Result<()> {
    let ports = free_ports(5)?;
    let mesh = ProxyMesh::start(&ports)?;
    let mut cluster = Cluster::start_on(ports.clone(), |i| {
        let mut args = mesh.args_for(i, &ports);
        args.extend(gossip());
        args
    })
    .await?;
    for node in cluster.nodes.iter_mut() {
        node.rget("n").await?;
        node.rmembers("s").await?;
    }
    cluster.nodes[0].rinc("n", 1).await?;
    cluster.nodes[0].radd("s", "before").await?;
    let before = ["before".to_string()];
    ensure!(
        wait_until(Duration::from_secs(10), async || {
            all_hold(&mut cluster.nodes, "n", 1, "s", &before).await
        })
        .await,
        "the first update did not spread"
    );

    mesh.partition(&[0, 1], &[2, 3, 4]);
    ensure!(
        cluster
            .wait_settled(&[0, 1], 2, Duration::from_secs(15))
            .await
            && cluster
                .wait_settled(&[2, 3, 4], 3, Duration::from_secs(15))
                .await,
        "the sides did not settle apart"
    );
    cluster.nodes[0].rinc("n", 10).await?;
    cluster.nodes[1].radd("s", "left").await?;
    cluster.nodes[3].rinc("n", 100).await?;
    cluster.nodes[4].radd("s", "right").await?;
    // the right side removes what it saw; the left side adds it again concurrently (the
    // add wins)
    cluster.nodes[2].rdel("s", "before").await?;
    cluster.nodes[0].radd("s", "before").await?;
    let (left, right) = cluster.nodes.split_at_mut(2);
    let left_set = ["before".to_string(), "left".to_string()];
    let right_set = ["right".to_string()];
    ensure!(
        wait_until(Duration::from_secs(10), async || {
            all_hold(left, "n", 11, "s", &left_set).await
                && all_hold(right, "n", 101, "s", &right_set).await
        })
        .await,
        "each side did not see its own updates"
    );

    mesh.heal();
    let merged = ["before", "left", "right"].map(String::from);
    ensure!(
        wait_until(Duration::from_secs(30), async || {
            all_hold(&mut cluster.nodes, "n", 111, "s", &merged).await
        })
        .await,
        "the sides did not merge to 111 and {merged:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_stopped_and_started_again_has_its_values_back_from_the_data_dirs() -> Result<()>
{
    let base = std::env::temp_dir().join(format!("ractor-dist-values-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let extra = |i: usize| {
        let mut args = gossip();
        args.extend([
            "--data-dir".to_string(),
            base.join(format!("n{i}")).display().to_string(),
        ]);
        args
    };
    let ports = free_ports(3)?;
    let mut cluster = Cluster::start_on(ports.clone(), extra).await?;
    for (i, node) in cluster.nodes.iter_mut().enumerate() {
        node.rinc("total", 10 * (i as i64 + 1)).await?;
        node.radd("names", &format!("n{i}")).await?;
    }
    let names: Vec<String> = (0..3).map(|i| format!("n{i}")).collect();
    ensure!(
        wait_until(Duration::from_secs(10), async || {
            all_hold(&mut cluster.nodes, "total", 60, "names", &names).await
        })
        .await,
        "the values did not converge before the stop"
    );
    for node in cluster.nodes.iter_mut() {
        ensure!(
            node.quit().await? == Some(0),
            "{} did not stop cleanly",
            node.name()
        );
    }
    drop(cluster);

    // The same nodes again (new incarnations), their values read back from disk.
    let mut nodes = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let extra = extra(i);
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let args = integration_tests::node_args(&ports, *port, &extra);
        nodes.push(integration_tests::start_node(&format!("n{}", i + 1), *port, &args).await?);
    }
    for node in nodes.iter_mut() {
        ensure!(
            node.rget("total").await? == 60,
            "{} lost the counter",
            node.name()
        );
        ensure!(
            node.rmembers("names").await? == names,
            "{} lost the set",
            node.name()
        );
    }
    // and they keep replicating
    nodes[0].rinc("total", 1).await?;
    ensure!(
        wait_until(Duration::from_secs(10), async || {
            all_hold(&mut nodes, "total", 61, "names", &names).await
        })
        .await,
        "the restarted nodes did not replicate"
    );
    let _ = std::fs::remove_dir_all(&base);
    Ok(())
}
