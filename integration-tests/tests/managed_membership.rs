//! Membership you can manage, with real processes (issue 11 items 3 and 4): `del-node` of
//! a live node moves its names off with their state and keeps it out (its hellos refused,
//! counted) until `add-node` brings it back; a whole cluster stopped and started again from
//! its data directories with no seeds re-forms, with its known set and replicated values;
//! a corrupted known-set file stops a node from starting, with a clear error.

use std::time::Duration;

use anyhow::{ensure, Result};
use integration_tests::NodeProc;
use integration_tests::{free_ports, names_owned_by, node_args, start_node, wait_until, Cluster};

fn gossip() -> Vec<String> {
    ["--gossip-ms", "200"].map(String::from).to_vec()
}

/// Whether every node in `nodes` answers `nodes <which>` with `want`.
async fn all_see(nodes: &mut [NodeProc], which: &str, want: &str) -> bool {
    for node in nodes.iter_mut() {
        if node.ok(&format!("nodes {which}")).await.ok().as_deref() != Some(want) {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_live_node_hands_its_names_off_stays_out_and_comes_back_when_added() -> Result<()>
{
    let ports = free_ports(3)?;
    let mut cluster = Cluster::start_on(ports.clone(), |_| gossip()).await?;
    let members: Vec<String> = cluster.nodes[0].members().await?;
    let n3 = cluster.nodes[2].node_name().to_string();
    let names: Vec<String> = names_owned_by("d", &members, &n3).take(3).collect();
    for (k, name) in names.iter().enumerate() {
        ensure!(
            cluster.nodes[0]
                .spawn_as("counter", name, 10 * k as i64)
                .await?
                == n3
        );
        cluster.nodes[1].add(name, 5).await?;
    }
    let all3 = members.join(" ");
    ensure!(
        wait_until(Duration::from_secs(10), async || {
            all_see(&mut cluster.nodes, "all", &all3).await
        })
        .await,
        "the known set did not hold the three nodes"
    );

    cluster.nodes[0].ok(&format!("del-node {n3}")).await?;
    let two = members[..2].join(" ");
    let (first_two, _) = cluster.nodes.split_at_mut(2);
    ensure!(
        wait_until(Duration::from_secs(15), async || {
            all_see(first_two, "up", &two).await && all_see(first_two, "all", &two).await
        })
        .await,
        "n3 did not leave after its removal"
    );
    // its names moved off with their state
    for (k, name) in names.iter().enumerate() {
        let (host, _) = cluster.nodes[1].where_is(name).await?;
        ensure!(host != n3, "{name} still on {host}");
        ensure!(
            cluster.nodes[1].get(name).await? == 10 * k as i64 + 5,
            "{name} lost its state"
        );
    }

    // started again (a new process, seeded with the others): refused at hello
    cluster.nodes[2].kill().await;
    let args = node_args(&ports, ports[2], &["--gossip-ms", "200"]);
    cluster.nodes[2] = start_node("n3", ports[2], &args).await?;
    ensure!(
        wait_until(Duration::from_secs(10), async || {
            cluster.nodes[0]
                .stats()
                .await
                .is_ok_and(|s| s.get("refused_peers") > 0)
        })
        .await,
        "n3's hellos were not refused"
    );
    ensure!(
        cluster.nodes[0].ok("nodes up").await? == two,
        "n3 was admitted"
    );

    // added back: it is dialed, admitted everywhere, and its names come back to it
    cluster.nodes[1]
        .ok(&format!("add-node 127.0.0.1:{}", ports[2]))
        .await?;
    ensure!(
        wait_until(Duration::from_secs(15), async || {
            all_see(&mut cluster.nodes, "up", &all3).await
                && all_see(&mut cluster.nodes, "all", &all3).await
        })
        .await,
        "n3 did not come back after add-node"
    );
    for (k, name) in names.iter().enumerate() {
        ensure!(
            wait_until(Duration::from_secs(10), async || {
                cluster.nodes[0]
                    .where_is(name)
                    .await
                    .is_ok_and(|(h, _)| h == n3)
            })
            .await,
            "{name} did not move back to n3"
        );
        ensure!(
            cluster.nodes[0].get(name).await? == 10 * k as i64 + 5,
            "{name} lost its state"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_restarted_from_its_data_dirs_without_seeds_reforms_and_a_bad_file_is_refused(
) -> Result<()> {
    let base = std::env::temp_dir().join(format!("ractor-dist-members-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let dir = |i: usize| base.join(format!("n{i}")).display().to_string();
    let extra = |i: usize| {
        let mut args = gossip();
        args.extend(["--data-dir".to_string(), dir(i)]);
        args
    };
    let ports = free_ports(3)?;
    let mut cluster = Cluster::start_on(ports.clone(), extra).await?;
    let members = cluster.nodes[0].members().await?.join(" ");
    for (i, node) in cluster.nodes.iter_mut().enumerate() {
        node.rinc("total", 10 * (i as i64 + 1)).await?;
    }
    ensure!(
        wait_until(Duration::from_secs(10), async || {
            for node in cluster.nodes.iter_mut() {
                if node.rget("total").await.ok() != Some(60) {
                    return false;
                }
            }
            all_see(&mut cluster.nodes, "all", &members).await
        })
        .await,
        "the values and known sets did not converge before the stop"
    );
    for node in cluster.nodes.iter_mut() {
        ensure!(
            node.quit().await? == Some(0),
            "{} did not stop cleanly",
            node.name()
        );
    }
    drop(cluster);

    // Every node again, with its data directory and no seeds at all.
    let mut nodes = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let mut args = vec!["--cookie".to_string(), "test-cookie".to_string()];
        args.extend(extra(i));
        nodes.push(start_node(&format!("n{}", i + 1), *port, &args).await?);
    }
    ensure!(
        wait_until(Duration::from_secs(20), async || {
            all_see(&mut nodes, "up", &members).await
        })
        .await,
        "the cluster did not re-form from the known sets on disk"
    );
    for node in nodes.iter_mut() {
        ensure!(
            node.ok("nodes all").await? == members,
            "{} lost its known set",
            node.name()
        );
        ensure!(
            node.rget("total").await? == 60,
            "{} lost the counter",
            node.name()
        );
    }
    for node in nodes.iter_mut() {
        let _ = node.quit().await;
    }
    drop(nodes);

    // A corrupted known-set file: the node refuses to start and says why; the file stays.
    let file = base
        .join("n0")
        .join("replicated")
        .join("_ractor_dist_nodes.rdv");
    let mut bytes = std::fs::read(&file)?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    std::fs::write(&file, &bytes)?;
    let output = std::process::Command::new(integration_tests::node_binary())
        .args([
            "--name",
            "n1",
            "--port",
            &ports[0].to_string(),
            "--data-dir",
            &dir(0),
        ])
        .stdin(std::process::Stdio::null())
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(
        output.status.code() == Some(1),
        "started with a corrupted file: {stderr}"
    );
    ensure!(
        stderr.contains("known node set") && stderr.contains("checksum"),
        "unclear error: {stderr}"
    );
    ensure!(
        std::fs::read(&file)? == bytes,
        "the corrupted file was replaced"
    );
    let _ = std::fs::remove_dir_all(&base);
    Ok(())
}

/// Spawns `names` (checkpointed counters) from the nodes `from` in turn.
async fn spawn_durable(cluster: &mut Cluster, from: &[usize], names: &[String]) -> Result<()> {
    for (k, name) in names.iter().enumerate() {
        cluster.nodes[from[k % from.len()]]
            .spawn_as("durable", name, 0)
            .await?;
    }
    Ok(())
}

/// Adds 1 to every name from each of the nodes `from`.
async fn add_from(cluster: &mut Cluster, from: &[usize], names: &[String]) -> Result<()> {
    for &i in from {
        for name in names {
            cluster.nodes[i].add(name, 1).await?;
        }
    }
    Ok(())
}

/// What grew on the nodes `nodes` since their `baseline` readings (empty when nothing did).
async fn grown(
    cluster: &mut Cluster,
    nodes: &[usize],
    baseline: &[ractor_dist::Footprint],
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (&i, before) in nodes.iter().zip(baseline) {
        let now = cluster.nodes[i].footprint().await?;
        for (table, was, is) in now.grown_since(before) {
            out.push(format!(
                "{}: {table} {was} -> {is}",
                cluster.nodes[i].name()
            ));
        }
    }
    Ok(out)
}

/// Issue 9, finding 7, with real processes and ractor_cluster's sessions: after names are
/// spawned, written to from every node, moved by a join, a graceful leave and a `kill -9`
/// (the dead node then removed with `del-node`), and stopped, every table of every
/// survivor is back to its size before (caches within their bounds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_at_rest_after_joins_leaves_kills_and_stops_is_back_to_its_footprint(
) -> Result<()> {
    let mut cluster = Cluster::start(3).await?;
    let first = [0, 1, 2];
    // A few names written to from every node and stopped, so that what a node keeps per
    // live peer (outboxes, sessions, gossip) is there; then a reading at rest.
    let warm: Vec<String> = (0..6).map(|i| format!("warm{i}")).collect();
    spawn_durable(&mut cluster, &first, &warm).await?;
    add_from(&mut cluster, &first, &warm).await?;
    for name in &warm {
        cluster.nodes[0].ok(&format!("stop {name}")).await?;
    }
    ensure!(
        cluster.wait_idle(3, Duration::from_secs(10)).await,
        "the cluster did not come to rest"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut baseline = Vec::new();
    for &i in &first {
        baseline.push(cluster.nodes[i].footprint().await?);
    }

    let names: Vec<String> = (0..60).map(|i| format!("f{i}")).collect();
    spawn_durable(&mut cluster, &first, &names).await?;
    add_from(&mut cluster, &first, &names).await?;
    // A join and a graceful leave: names move in and out with their state.
    cluster.join(&[]).await?;
    ensure!(
        cluster
            .wait_settled(&[0, 1, 2, 3], 4, Duration::from_secs(15))
            .await,
        "the cluster did not settle with n4"
    );
    add_from(&mut cluster, &[0, 1, 2, 3], &names).await?;
    ensure!(
        cluster.nodes[3].ok("leave").await.is_ok(),
        "n4 did not leave"
    );
    let _ = cluster.nodes[3].wait_exit().await;
    ensure!(
        cluster
            .wait_settled(&first, 3, Duration::from_secs(15))
            .await,
        "the cluster did not settle after n4 left"
    );
    // A node killed with its names, then removed for good.
    cluster.join(&[]).await?;
    ensure!(
        cluster
            .wait_settled(&[0, 1, 2, 4], 4, Duration::from_secs(15))
            .await,
        "the cluster did not settle with n5"
    );
    add_from(&mut cluster, &[0, 1, 2, 4], &names).await?;
    let n5 = cluster.nodes[4].node_name().to_string();
    cluster.nodes[4].signal("KILL").await?;
    ensure!(
        cluster
            .wait_settled(&first, 3, Duration::from_secs(15))
            .await,
        "the cluster did not settle after n5 was killed"
    );
    cluster.nodes[0].ok(&format!("del-node {n5}")).await?;
    for name in &names {
        // 3, 4 and 4 writers; a name killed with n5 keeps what reached its holders (at
        // least the 7 writes it had before n5 came).
        let value = cluster.nodes[1].get(name).await?;
        ensure!(
            (7..=11).contains(&value),
            "{name} = {value}, expected 7 to 11"
        );
        cluster.nodes[2].ok(&format!("stop {name}")).await?;
    }

    // At rest again: nothing of the names, the departed n4 and the removed n5 remains.
    let mut last = Vec::new();
    let rested = wait_until(Duration::from_secs(20), async || {
        for &i in &first {
            if !cluster.nodes[i].stats().await.is_ok_and(|s| s.idle_with(3)) {
                return false;
            }
        }
        if cluster.hosted(&first).await != 0 {
            return false;
        }
        match grown(&mut cluster, &first, &baseline).await {
            Ok(g) => {
                last = g;
                last.is_empty()
            }
            Err(_) => false,
        }
    })
    .await;
    ensure!(
        rested,
        "tables that kept what is gone:\n{}",
        last.join("\n")
    );
    Ok(())
}
