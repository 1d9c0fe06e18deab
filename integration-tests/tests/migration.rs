//! Live migration with real processes: a node joins and another leaves gracefully while
//! two senders stream numbered increments; handoff modes; a snapshot that does not restore.

use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use integration_tests::proxy::ProxyMesh;
use integration_tests::{node_args, owner_of, start_node, wait_until, Cluster, NodeProc};

const NAMES: usize = 200;
const ROUNDS: u64 = 60;

/// Streams `seq <name> <sender> <round>` for every name and round, pipelined; returns the
/// node and the number of commands that failed.
async fn stream(mut node: NodeProc, sender: u32) -> Result<(NodeProc, Vec<String>)> {
    let mut failures = Vec::new();
    let window = 100;
    let mut outstanding = 0;
    for round in 1..=ROUNDS {
        for i in 0..NAMES {
            node.send(&format!("seq m{i} {sender} {round}")).await?;
            outstanding += 1;
            if outstanding >= window {
                let reply = node.recv().await?;
                if reply != "ok" {
                    failures.push(reply);
                }
                outstanding -= 1;
            }
        }
    }
    for _ in 0..outstanding {
        let reply = node.recv().await?;
        if reply != "ok" {
            failures.push(reply);
        }
    }
    Ok((node, failures))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_and_graceful_leave_lose_nothing_and_keep_each_senders_order() -> Result<()> {
    let mut cluster = Cluster::start(3).await?;
    for i in 0..NAMES {
        cluster.nodes[i % 3].send(&format!("spawn m{i} 0")).await?;
    }
    for i in 0..NAMES {
        let reply = cluster.nodes[i % 3].recv().await?;
        ensure!(reply.starts_with("ok "), "spawn m{i}: {reply}");
    }
    let mut nodes = std::mem::take(&mut cluster.nodes);
    let n2 = nodes.pop().unwrap();
    let n1 = nodes.pop().unwrap();
    let mut n0 = nodes.pop().unwrap();

    // Two senders stream while a fourth node joins and the first one leaves.
    let s1 = tokio::spawn(stream(n1, 1));
    let s2 = tokio::spawn(stream(n2, 2));

    let ports = integration_tests::free_ports(1)?;
    let mut all_ports = cluster.ports.clone();
    all_ports.push(ports[0]);
    let args = node_args(&all_ports, ports[0], &[]);
    let mut n3 = start_node("n4", ports[0], &args).await?;
    ensure!(
        wait_until(Duration::from_secs(20), async || {
            n3.members().await.map(|m| m.len() == 4).unwrap_or(false)
                && n0.members().await.map(|m| m.len() == 4).unwrap_or(false)
        })
        .await,
        "the fourth node did not join"
    );
    let streaming_during_join = !s1.is_finished() && !s2.is_finished();
    assert_eq!(n0.request("leave").await?, "ok", "graceful leave");
    let streaming_during_leave = !s1.is_finished() && !s2.is_finished();
    eprintln!("senders streaming during join: {streaming_during_join}, during leave: {streaming_during_leave}");
    assert!(
        streaming_during_join && streaming_during_leave,
        "the senders finished too early: raise ROUNDS"
    );

    let (n1, f1) = s1.await.expect("sender 1")?;
    let (n2, f2) = s2.await.expect("sender 2")?;
    assert!(
        f1.is_empty() && f2.is_empty(),
        "failed sends: {f1:?} {f2:?}"
    );
    audit_streams([n1, n2, n3]).await?;
    Ok(())
}

/// After both senders finished on a cluster of the three `nodes`: waits until each sees
/// the three and has settled with nothing moving or held, then checks that every counter
/// holds exactly the sum of both senders' increments, applied in order, that each name is
/// hosted once, on the node every node names as its owner, and that nothing fell back, was
/// dropped or waited for a lost cast.
async fn audit_streams(mut nodes: [NodeProc; 3]) -> Result<()> {
    ensure!(
        wait_until(Duration::from_secs(20), async || {
            for n in nodes.iter_mut() {
                if !n.members().await.is_ok_and(|m| m.len() == 3) {
                    return false;
                }
            }
            true
        })
        .await,
        "the cluster did not settle on three members"
    );
    // A cast answered `ok` was accepted, not yet delivered: the last ones may still be
    // parked at a node that has not settled its view. Wait until every node settled with
    // nothing moving or held (a cast lost on the way never arrives, and fails below).
    ensure!(
        wait_until(Duration::from_secs(20), async || {
            for n in nodes.iter_mut() {
                let Ok(stats) = n.stats().await else {
                    return false;
                };
                if !stats.settled() || stats.get("moving") > 0 || stats.get("buffered") > 0 {
                    return false;
                }
            }
            true
        })
        .await,
        "the cluster did not settle with nothing held"
    );

    let expected = 2 * (ROUNDS * (ROUNDS + 1) / 2);
    let members = nodes[0].members().await?;
    for node in nodes.iter_mut() {
        for i in 0..NAMES {
            node.send(&format!("where m{i}")).await?;
        }
        for i in 0..NAMES {
            let owner = owner_of(&format!("m{i}"), &members);
            let reply = node.recv().await?;
            assert!(
                reply.starts_with(&format!("ok {owner} ")),
                "{}: where m{i}: {reply} (owner {owner})",
                node.name()
            );
        }
    }
    // Every counter holds exactly the sum of both senders' increments, in order.
    let last = &mut nodes[2];
    for i in 0..NAMES {
        last.send(&format!("check m{i}")).await?;
    }
    for i in 0..NAMES {
        assert_eq!(last.recv().await?, format!("ok {expected} 0"), "m{i}");
    }
    let mut hosted = 0;
    let mut moved_in = 0;
    for node in nodes.iter_mut() {
        let status = node.stats().await?;
        hosted += status.get("hosted");
        moved_in += status.get("moved_in");
        assert_eq!(status.get("handoff_fallbacks"), 0, "{status}");
        assert_eq!(status.get("dropped_casts"), 0, "{status}");
        // Every numbered cast came in its sender's order: none waited for a lost one.
        assert_eq!(status.get("gaps_skipped"), 0, "{status}");
    }
    assert_eq!(hosted, NAMES as u64, "every counter runs exactly once");
    assert!(moved_in > 0, "nothing moved");
    Ok(())
}

/// How long the slow name of the overlapping test blocks in its handler, and so how long
/// the leave waits for its drain (below the handoff timeout, 5 s by default).
const SLOW_MS: u64 = 3000;

/// Finding 10 of issue 9 with real processes: a node joins while another is still leaving
/// (its leave waits for the drain of a name busy in its handler), under two streaming
/// senders. Both membership changes overlap; nothing is lost or reordered, nothing falls
/// back, and every name ends once on the owner of the final view.
///
/// It failed about one run in three on a 2-core machine until three fixes: the joiner
/// took the leaver for an owner (the leaver now says `Leaving` before its hello); a name
/// drained the moment it arrived never started and restarted from its arguments (it now
/// drains once its start is reported); the joiner left the leaver out of its barrier, and
/// the leaver's barrier waited for its deadline, lookups parked behind it timing out (the
/// joiner now counts it as a participant).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_while_a_node_is_still_leaving_loses_nothing_and_keeps_each_senders_order(
) -> Result<()> {
    let mut cluster = Cluster::start(3).await?;
    for i in 0..NAMES {
        cluster.nodes[i % 3].send(&format!("spawn m{i} 0")).await?;
    }
    for i in 0..NAMES {
        let reply = cluster.nodes[i % 3].recv().await?;
        ensure!(reply.starts_with("ok "), "spawn m{i}: {reply}");
    }
    let mut nodes = std::mem::take(&mut cluster.nodes);
    let n2 = nodes.pop().unwrap();
    let n1 = nodes.pop().unwrap();
    let mut n0 = nodes.pop().unwrap();
    let members = n0.members().await?;
    let slow = (0..NAMES)
        .map(|i| format!("m{i}"))
        .find(|m| owner_of(m, &members) == n0.node_name())
        .expect("the leaving node owns a name");

    let s1 = tokio::spawn(stream(n1, 1));
    let s2 = tokio::spawn(stream(n2, 2));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The slow name blocks; the leave waits for its drain while the fourth node joins.
    n0.ok(&format!("sleep {slow} {SLOW_MS}")).await?;
    let leave = tokio::spawn(async move {
        let reply = n0.request("leave").await;
        (reply, Instant::now())
    });
    let ports = integration_tests::free_ports(1)?;
    let mut all_ports = cluster.ports.clone();
    all_ports.push(ports[0]);
    let mut n3 = start_node("n4", ports[0], &node_args(&all_ports, ports[0], &[])).await?;
    let mut joined_at = None;
    ensure!(
        wait_until(Duration::from_secs(20), async || {
            let seen = n3.members().await.unwrap_or_default();
            let others = seen.iter().filter(|m| !m.starts_with("n1@")).count();
            if others >= 3 && joined_at.is_none() {
                joined_at = Some(Instant::now());
            }
            joined_at.is_some()
        })
        .await,
        "the fourth node did not join"
    );
    let (reply, left_at) = leave.await.expect("leave");
    assert_eq!(reply?, "ok", "graceful leave");
    let joined_at = joined_at.expect("seen");
    ensure!(
        joined_at < left_at,
        "the join did not overlap the leave (joined {:?} after it ended): raise SLOW_MS",
        joined_at - left_at
    );
    ensure!(
        !s1.is_finished() && !s2.is_finished(),
        "the senders finished before the leave ended: raise ROUNDS"
    );

    let (n1, f1) = s1.await.expect("sender 1")?;
    let (n2, f2) = s2.await.expect("sender 2")?;
    assert!(
        f1.is_empty() && f2.is_empty(),
        "failed sends: {f1:?} {f2:?}"
    );
    audit_streams([n1, n2, n3]).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_handoff_mode_moves_as_declared_and_a_bad_snapshot_falls_back() -> Result<()> {
    let mut cluster = Cluster::start(3).await?;
    let kinds = ["counter", "stay", "restart", "fragile"];
    let per_kind = 40;
    let names: Vec<(String, String)> = kinds
        .iter()
        .flat_map(|k| (0..per_kind).map(move |i| (k.to_string(), format!("{k}-{i}"))))
        .collect();
    let mut before = Vec::new();
    for (i, (kind, name)) in names.iter().enumerate() {
        let host = cluster.nodes[i % 3].spawn_as(kind, name, 10).await?;
        cluster.nodes[(i + 1) % 3].add(name, 5).await?;
        before.push(host);
    }

    cluster.join(&[]).await?;
    ensure!(
        cluster.wait_members(4, Duration::from_secs(20)).await,
        "no join"
    );
    let nodes = &mut cluster.nodes;
    ensure!(
        wait_until(Duration::from_secs(20), async || {
            for n in nodes.iter_mut() {
                if !n
                    .stats()
                    .await
                    .is_ok_and(|s| s.get("moving") == 0 && s.get("buffered") == 0)
                {
                    return false;
                }
            }
            true
        })
        .await,
        "handoffs did not finish"
    );
    let newcomer = cluster.nodes[3].node_name().to_string();
    let mut moved = std::collections::BTreeMap::<&str, usize>::new();
    for ((kind, name), old_host) in names.iter().zip(&before) {
        let node = &mut cluster.nodes[3];
        let (host, _) = node.where_is(name).await?;
        let owner = node.ok(&format!("owner {name}")).await?;
        let value = node.get(name).await?;
        let did_move = host != *old_host;
        if did_move {
            *moved.entry(kind.as_str()).or_default() += 1;
            assert_eq!(host, newcomer, "{name} moved between old nodes");
        }
        match kind.as_str() {
            "counter" => assert_eq!((value, host == owner), (15, true), "{name}"),
            "stay" => assert_eq!((value, did_move), (15, false), "{name}"),
            "restart" | "fragile" => {
                assert_eq!(host, owner, "{name}");
                assert_eq!(
                    value,
                    if did_move { 10 } else { 15 },
                    "{name} (moved: {did_move})"
                );
            }
            _ => unreachable!(),
        }
    }
    for kind in ["counter", "restart", "fragile"] {
        assert!(
            moved.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} moved: {moved:?}"
        );
    }
    let status = cluster.nodes[3].stats().await?;
    assert_eq!(
        status.get("bad_snapshots"),
        moved["fragile"] as u64,
        "{status}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_states_move_in_chunks_between_nodes_with_different_frame_limits() -> Result<()> {
    // 200 KiB states under a 64 KiB frame limit: every moved state needs several chunks.
    // The third node takes frames of at most 32 KiB (issue 9, finding 6: a target used to
    // refuse a larger sender's frames, and the batch was resent forever while the actor
    // ran nowhere); states move to it when it joins and from it when it leaves.
    let ports = integration_tests::free_ports(3)?;
    let mut nodes = Vec::new();
    for (i, port) in ports[..2].iter().enumerate() {
        let args = node_args(&ports[..2], *port, &["--max-frame-bytes", "65536"]);
        nodes.push(start_node(&format!("b{i}"), *port, &args).await?);
    }
    ensure!(
        wait_until(Duration::from_secs(20), async || {
            for n in nodes.iter_mut() {
                if !n.members().await.is_ok_and(|m| m.len() == 2) {
                    return false;
                }
            }
            true
        })
        .await,
        "no cluster"
    );
    let mut digests = Vec::new();
    for i in 0..12 {
        nodes[i % 2]
            .ok(&format!("spawn-blob blob{i} 200000"))
            .await?;
        digests.push(nodes[0].ok(&format!("digest blob{i}")).await?);
    }
    let args = node_args(&ports, ports[2], &["--max-frame-bytes", "32768"]);
    nodes.push(start_node("b2", ports[2], &args).await?);
    ensure!(all_idle(&mut nodes, 3).await, "handoffs did not finish");
    let moved = nodes[2].stats().await?.get("moved_in");
    assert!(moved > 0, "no blob moved to the new node");
    for (i, digest) in digests.iter().enumerate() {
        assert_eq!(
            &nodes[2].ok(&format!("digest blob{i}")).await?,
            digest,
            "blob{i}"
        );
    }
    for node in nodes.iter_mut() {
        let status = node.stats().await?;
        assert_eq!(status.get("bad_frames"), 0, "{status}");
        assert_eq!(status.get("handoff_fallbacks"), 0, "{status}");
    }
    // From the small-frame node back to the others.
    let mut b2 = nodes.pop().expect("three nodes");
    assert_eq!(b2.request("leave").await?, "ok");
    ensure!(
        all_idle(&mut nodes, 2).await,
        "the leave's handoffs did not finish"
    );
    for (i, digest) in digests.iter().enumerate() {
        assert_eq!(
            &nodes[i % 2].ok(&format!("digest blob{i}")).await?,
            digest,
            "blob{i} after the leave"
        );
    }
    let mut hosted = 0;
    for node in nodes.iter_mut() {
        let status = node.stats().await?;
        hosted += status.get("hosted");
        assert_eq!(status.get("bad_frames"), 0, "{status}");
        assert_eq!(status.get("handoff_fallbacks"), 0, "{status}");
    }
    assert_eq!(hosted, 12, "every blob runs once");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_hands_the_actors_off_before_the_node_exits() -> Result<()> {
    let mut cluster = Cluster::start(3).await?;
    for i in 0..60 {
        cluster.nodes[i % 3].ok(&format!("spawn t{i} {i}")).await?;
    }
    let leaving_hosts = cluster.nodes[2].local().await?;
    assert!(leaving_hosts > 0);
    cluster.nodes[2].signal("TERM").await?;
    let code = cluster.nodes[2].wait_exit().await?;
    assert_eq!(code, Some(0), "a SIGTERMed node exits cleanly");
    let mut rest = cluster.nodes.drain(..2).collect::<Vec<_>>();
    ensure!(
        wait_until(Duration::from_secs(20), async || {
            for n in rest.iter_mut() {
                if !n.members().await.is_ok_and(|m| m.len() == 2) {
                    return false;
                }
            }
            true
        })
        .await,
        "the others did not drop the node"
    );
    for i in 0..60 {
        assert_eq!(rest[i % 2].get(&format!("t{i}")).await?, i as i64, "t{i}");
    }
    let mut hosted = 0;
    for n in rest.iter_mut() {
        hosted += n.local().await.unwrap_or(0);
    }
    assert_eq!(hosted, 60);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_that_misses_its_deadline_restarts_the_name_on_its_new_owner() -> Result<()> {
    // Every counter is busy in its handler for 3 s when a second node joins; the handoff
    // deadline is 1 s, so those that move are killed while draining. They lose their state
    // (not their name): they restart from their arguments on the newcomer, counted.
    const N: usize = 20;
    let handoff = ["--handoff-ms".to_string(), "1000".to_string()];
    let ports = integration_tests::free_ports(2)?;
    let mut cluster = Cluster::start_on(ports[..1].to_vec(), |_| handoff.to_vec()).await?;
    for i in 0..N {
        cluster.nodes[0].ok(&format!("spawn s{i} 7")).await?;
        assert_eq!(cluster.nodes[0].add(&format!("s{i}"), 5).await?, 12);
    }
    for i in 0..N {
        cluster.nodes[0].ok(&format!("sleep s{i} 3000")).await?;
    }
    let args = node_args(&ports, ports[1], &["--handoff-ms", "1000"]);
    cluster.nodes.push(start_node("n2", ports[1], &args).await?);
    ensure!(
        cluster.wait_members(2, Duration::from_secs(20)).await,
        "no join"
    );
    ensure!(
        cluster
            .wait_settled(&[0, 1], 2, Duration::from_secs(20))
            .await,
        "the nodes did not settle"
    );
    let nodes = &mut cluster.nodes;
    ensure!(
        wait_until(Duration::from_secs(20), async || {
            for n in nodes.iter_mut() {
                if !n
                    .stats()
                    .await
                    .is_ok_and(|s| s.get("moving") == 0 && s.get("buffered") == 0)
                {
                    return false;
                }
            }
            true
        })
        .await,
        "handoffs did not finish"
    );
    let newcomer = cluster.nodes[1].node_name().to_string();
    let mut restarted = 0u64;
    for i in 0..N {
        let node = &mut cluster.nodes[1];
        let value = node.get(&format!("s{i}")).await?;
        let (host, _) = node.where_is(&format!("s{i}")).await?;
        match value {
            12 => {}
            7 => {
                assert_eq!(
                    host, newcomer,
                    "s{i} restarted from its arguments elsewhere"
                );
                restarted += 1;
            }
            other => panic!("s{i}: unexpected value {other}"),
        }
    }
    assert!(restarted > 0, "no counter moved: raise N");
    assert_eq!(
        cluster.hosted(&[0, 1]).await,
        N,
        "every name runs exactly once"
    );
    assert_eq!(
        cluster.stat(0, "handoff_fallbacks").await,
        restarted,
        "each killed drain is one fallback"
    );
    Ok(())
}

/// Pipelines `add t<i> 1` calls to every name for `rounds` rounds; returns the node and
/// the replies that were not `ok <value>`.
async fn call_stream(
    mut node: NodeProc,
    names: usize,
    rounds: usize,
) -> Result<(NodeProc, Vec<String>)> {
    let mut failures = Vec::new();
    let window = 50;
    let mut outstanding = 0;
    for _ in 0..rounds {
        for i in 0..names {
            node.send(&format!("add t{i} 1")).await?;
            outstanding += 1;
            if outstanding >= window {
                let reply = node.recv().await?;
                if !reply.starts_with("ok ") {
                    failures.push(reply);
                }
                outstanding -= 1;
            }
        }
    }
    for _ in 0..outstanding {
        let reply = node.recv().await?;
        if !reply.starts_with("ok ") {
            failures.push(reply);
        }
    }
    Ok((node, failures))
}

/// Issue 9's test gaps: calls (not only casts) in flight while a node leaves on SIGTERM.
/// Every call is answered, each is applied exactly once (the values are exact), and the
/// leaver's names end on the survivors with nothing fallen back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_during_a_sigterm_leave_are_each_applied_once() -> Result<()> {
    const N: usize = 60;
    const ROUNDS: usize = 40;
    let mut cluster = Cluster::start(3).await?;
    for i in 0..N {
        cluster.nodes[i % 3].ok(&format!("spawn t{i} {i}")).await?;
    }
    ensure!(
        cluster.nodes[2].local().await? > 0,
        "the leaver hosts nothing"
    );
    let mut leaver = cluster.nodes.pop().expect("three nodes");
    let caller = cluster.nodes.remove(0);
    let calls = tokio::spawn(call_stream(caller, N, ROUNDS));
    tokio::time::sleep(Duration::from_millis(300)).await;
    ensure!(
        !calls.is_finished(),
        "the calls finished before the leave: raise ROUNDS"
    );
    leaver.signal("TERM").await?;
    assert_eq!(
        leaver.wait_exit().await?,
        Some(0),
        "a SIGTERMed node exits cleanly"
    );
    ensure!(
        !calls.is_finished(),
        "the calls finished before the leave ended: raise ROUNDS"
    );
    let (caller, failures) = calls.await.expect("caller")?;
    assert!(failures.is_empty(), "failed calls: {failures:?}");

    let mut rest = [caller, cluster.nodes.remove(0)];
    ensure!(
        wait_until(Duration::from_secs(20), async || {
            for n in rest.iter_mut() {
                if !n.members().await.is_ok_and(|m| m.len() == 2) {
                    return false;
                }
            }
            true
        })
        .await,
        "the others did not drop the node"
    );
    for i in 0..N {
        for n in rest.iter_mut() {
            assert_eq!(n.get(&format!("t{i}")).await?, (i + ROUNDS) as i64, "t{i}");
        }
    }
    let mut hosted = 0;
    for n in rest.iter_mut() {
        let stats = n.stats().await?;
        hosted += stats.get("hosted");
        assert_eq!(stats.get("handoff_fallbacks"), 0, "{stats}");
    }
    assert_eq!(hosted, N as u64);
    Ok(())
}

/// Issue 9, finding 5: the target of a chunked move whose acknowledgement was lost gets
/// the whole batch again. It used to keep the pieces of that duplicate (never freed) and
/// the source copied every snapshot again for each resend. Here every frame from the
/// joiner to the others is swallowed (the sessions stay up) while the states of busy blobs
/// reach it: the sources resend (`batches_resent`), the joiner acknowledges the duplicate
/// without starting anything twice, and no piece stays held (`reassembly_bytes` = 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_move_whose_acknowledgement_was_lost_is_resent_and_frees_its_pieces() -> Result<()>
{
    const BLOBS: usize = 12;
    let ports = integration_tests::free_ports(3)?;
    let mesh = ProxyMesh::start(&ports)?;
    // A deadline long enough to lose the joiner's frames for a while without declaring it
    // down; a handoff timeout (after which a batch is resent) above the blobs' sleep.
    let args = |i: usize| -> Vec<String> {
        let mut args: Vec<String> = [
            "--cookie",
            "test-cookie",
            "--heartbeat-ms",
            "100",
            "--deadline-ms",
            "8000",
            "--handoff-ms",
            "6000",
            "--max-frame-bytes",
            "65536",
        ]
        .map(String::from)
        .into();
        for (j, port) in ports.iter().enumerate() {
            if j != i && (j < 2 || i == 2) {
                args.extend(["--seed".to_string(), format!("127.0.0.1:{port}")]);
            }
        }
        args.extend(mesh.args_for(i, &ports));
        args
    };
    let mut nodes = Vec::new();
    for (i, port) in ports[..2].iter().enumerate() {
        nodes.push(start_node(&format!("r{i}"), *port, &args(i)).await?);
    }
    ensure!(all_see(&mut nodes, 2).await, "no cluster");
    let mut digests = Vec::new();
    for i in 0..BLOBS {
        nodes[i % 2]
            .ok(&format!("spawn-blob blob{i} 200000"))
            .await?;
        digests.push(nodes[0].ok(&format!("digest blob{i}")).await?);
    }
    // Busy blobs: their drains, hence their transfers, wait until the joiner's frames are
    // being lost.
    const SLEEP_MS: u64 = 4000;
    let sleeping = Instant::now();
    for i in 0..BLOBS {
        nodes[0]
            .ok(&format!("blob-sleep blob{i} {SLEEP_MS}"))
            .await?;
    }
    nodes.push(start_node("r2", ports[2], &args(2)).await?);
    ensure!(all_see(&mut nodes, 3).await, "the joiner was not seen");
    mesh.drop_frames(2, 0);
    mesh.drop_frames(2, 1);
    let dropping = Instant::now();
    ensure!(
        sleeping.elapsed() < Duration::from_millis(SLEEP_MS - 1000),
        "the joiner took {:?} to be seen: the blobs may have moved before its frames were lost",
        sleeping.elapsed()
    );
    // The blobs wake up, drain and travel; the joiner's acknowledgements are lost.
    tokio::time::sleep(Duration::from_millis(SLEEP_MS + 1000) - sleeping.elapsed()).await;
    mesh.pass_frames(2, 0);
    mesh.pass_frames(2, 1);
    ensure!(
        dropping.elapsed() < Duration::from_millis(6000),
        "the window came close to the heartbeat deadline ({:?})",
        dropping.elapsed()
    );
    ensure!(mesh.frames_dropped() > 0, "nothing was dropped");
    ensure!(all_idle(&mut nodes, 3).await, "the moves did not finish");
    let (mut hosted, mut resent, mut moved_in) = (0, 0, 0);
    for node in nodes.iter_mut() {
        let status = node.stats().await?;
        hosted += status.get("hosted");
        resent += status.get("batches_resent");
        moved_in += status.get("moved_in");
        assert_eq!(status.get("reassembly_bytes"), 0, "{status}");
        assert_eq!(status.get("bad_frames"), 0, "{status}");
        assert_eq!(status.get("handoff_fallbacks"), 0, "{status}");
        assert_eq!(status.get("peers_declared_down"), 0, "{status}");
    }
    assert_eq!(hosted, BLOBS as u64, "every blob runs once");
    ensure!(moved_in >= 1, "nothing moved to the joiner");
    ensure!(resent >= 1, "no batch was resent");
    for (i, digest) in digests.iter().enumerate() {
        for node in nodes.iter_mut() {
            assert_eq!(
                &node.ok(&format!("digest blob{i}")).await?,
                digest,
                "blob{i}"
            );
        }
    }
    Ok(())
}

/// Waits (30 s at most) until every node of `nodes` sees `n` members, is settled, and has
/// nothing moving or held.
async fn all_idle(nodes: &mut [NodeProc], n: u64) -> bool {
    wait_until(Duration::from_secs(30), async || {
        for node in nodes.iter_mut() {
            if !node.stats().await.is_ok_and(|s| s.idle_with(n)) {
                return false;
            }
        }
        true
    })
    .await
}

/// Waits until every node of `nodes` sees `n` members.
async fn all_see(nodes: &mut [NodeProc], n: usize) -> bool {
    wait_until(Duration::from_secs(20), async || {
        for node in nodes.iter_mut() {
            if !node.members().await.is_ok_and(|m| m.len() == n) {
                return false;
            }
        }
        true
    })
    .await
}
