//! The README's main job: a 3-node ractor-dist cluster on 127.0.0.1, as child processes.
//!
//! ```text
//! cargo run --release --example demo
//! ```
//!
//! It starts three console nodes (this same binary in node mode), spawns 1,000 named
//! counters from different nodes (checkpointed to a replica after every message), sends
//! increments to every counter from every node, prints how many counters each node hosts,
//! and verifies every value from yet another node. Then a fourth node joins (the counters
//! it now owns move to it with their values), the first node leaves gracefully (its
//! counters move to the others), and another one is killed with `kill -9` (its counters are
//! respawned on the survivors from their checkpoints); every value is verified after each.
//! Last, a replicated counter (a CRDT every node holds) is incremented on every node and
//! read back equal everywhere.
//! It exits non-zero on any mismatch and always stops its children.
//!
//! Options: `--nodes N` (default 3), `--actors N` (default 1000), `--verbose` (show the
//! nodes' logs).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use ractor_dist_testkit::{console_main, free_ports, wait_until, NodeCommand, NodeProc};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--node") {
        console_main(args.into_iter().skip(1));
    }
    let mut nodes_n = 3usize;
    let mut actors = 1000usize;
    let mut verbose = false;
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--nodes" => nodes_n = it.next().context("--nodes N")?.parse()?,
            "--actors" => actors = it.next().context("--actors N")?.parse()?,
            "--verbose" => verbose = true,
            other => bail!("unknown argument {other:?} (try --nodes N, --actors N, --verbose)"),
        }
    }
    ensure!(nodes_n >= 1, "--nodes must be at least 1");
    tokio::runtime::Runtime::new()?.block_on(demo(nodes_n, actors, verbose))
}

async fn demo(n: usize, actors: usize, verbose: bool) -> Result<()> {
    let started = Instant::now();
    let exe = std::env::current_exe()?;
    let ports = free_ports(n)?;
    println!("starting {n} nodes on 127.0.0.1 ports {ports:?}");
    let mut nodes: Vec<NodeProc> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let mut args = vec!["--cookie".to_string(), "demo-cookie".to_string()];
        for (j, p) in ports.iter().enumerate() {
            if j != i {
                args.extend(["--seed".to_string(), format!("127.0.0.1:{p}")]);
            }
        }
        let node = start_node(&exe, &format!("n{}", i + 1), *port, &args, !verbose).await?;
        println!("  {} is ready", node.node_name());
        nodes.push(node);
    }
    let formed = wait_until(Duration::from_secs(20), async || {
        for node in nodes.iter_mut() {
            if !node.members().await.is_ok_and(|m| m.len() == n) {
                return false;
            }
        }
        true
    })
    .await;
    ensure!(formed, "the cluster did not form within 20 s");
    println!(
        "cluster formed: {} ({:?})",
        nodes[0].ok("members").await?,
        started.elapsed()
    );

    // Spawn the counters from different nodes, pipelined per node.
    let t = Instant::now();
    let name = |i: usize| format!("counter-{i}");
    for i in 0..actors {
        nodes[i % n]
            .send(&format!("spawn-as durable {} 0", name(i)))
            .await?;
    }
    let mut hosts: BTreeMap<String, String> = BTreeMap::new();
    for i in 0..actors {
        let reply = nodes[i % n].recv().await?;
        let host = reply
            .strip_prefix("ok ")
            .with_context(|| format!("spawn {} failed: {reply}", name(i)))?;
        hosts.insert(name(i), host.to_string());
    }
    println!(
        "spawned {actors} counters from {n} nodes in {:?}",
        t.elapsed()
    );

    // Every node increments every counter by (node index + 1) + (i mod 7).
    let t = Instant::now();
    for (j, node) in nodes.iter_mut().enumerate() {
        for i in 0..actors {
            node.send(&format!("add {} {}", name(i), j + 1 + i % 7))
                .await?;
        }
    }
    for node in nodes.iter_mut() {
        for i in 0..actors {
            let reply = node.recv().await?;
            ensure!(
                reply.starts_with("ok "),
                "add {} failed on {}: {reply}",
                name(i),
                node.name()
            );
        }
    }
    println!(
        "sent {} increments ({actors} from each node) in {:?}",
        actors * n,
        t.elapsed()
    );

    // Verify every value from a node other than the one that spawned it.
    let expected_value = move |i: usize| -> usize { (0..n).map(|j| j + 1 + i % 7).sum() };
    let mut mismatches = 0;
    for i in 0..actors {
        nodes[(i + 1) % n].send(&format!("get {}", name(i))).await?;
    }
    for i in 0..actors {
        let expected = expected_value(i);
        let reply = nodes[(i + 1) % n].recv().await?;
        if reply != format!("ok {expected}") {
            mismatches += 1;
            eprintln!("MISMATCH {}: expected {expected}, got {reply:?}", name(i));
        }
    }

    // Placement: who hosts how many, and is each where rendezvous hashing puts it?
    println!("placement:");
    let mut total = 0;
    for node in nodes.iter_mut() {
        let local = node.local().await?;
        total += local;
        println!(
            "  {:<16} {local:>6} counters ({:.1} %)",
            node.node_name(),
            100.0 * local as f64 / actors.max(1) as f64
        );
    }
    let mut misplaced = 0;
    for i in 0..actors {
        nodes[0].send(&format!("owner {}", name(i))).await?;
    }
    for i in 0..actors {
        let owner = nodes[0].recv().await?;
        if owner.strip_prefix("ok ") != hosts.get(&name(i)).map(String::as_str) {
            misplaced += 1;
        }
    }
    ensure!(
        total == actors,
        "nodes host {total} counters, expected {actors}"
    );
    println!("{} counters not on their rendezvous owner", misplaced);
    if mismatches > 0 || misplaced > 0 {
        bail!("{mismatches} wrong values, {misplaced} misplaced counters");
    }
    println!("all {actors} values verified");

    // A node joins: the counters it now owns move to it with their values.
    let port = free_ports(1)?[0];
    let mut args = vec!["--cookie".to_string(), "demo-cookie".to_string()];
    for p in &ports {
        args.extend(["--seed".to_string(), format!("127.0.0.1:{p}")]);
    }
    let t = Instant::now();
    let newcomer = start_node(&exe, &format!("n{}", n + 1), port, &args, !verbose).await?;
    nodes.push(newcomer);
    wait_settled(&mut nodes, n + 1).await?;
    let moved_in = nodes[n].stats().await?.get("moved_in");
    println!(
        "{} joined: {moved_in} counters moved to it with their state in {:?} ({:.1} %, ideal {:.1} %)",
        nodes[n].node_name(),
        t.elapsed(),
        100.0 * moved_in as f64 / actors.max(1) as f64,
        100.0 / (n + 1) as f64
    );
    verify(&mut nodes, actors, &expected_value).await?;
    println!("all {actors} values verified after the join");

    // The first node leaves gracefully: its counters move to the others first.
    let leaver_hosts = nodes[0].local().await?;
    let t = Instant::now();
    let reply = nodes[0].request("leave").await?;
    ensure!(reply == "ok", "leave answered {reply:?}");
    let mut leaver = nodes.remove(0);
    wait_settled(&mut nodes, n).await?;
    println!(
        "{} left: its {leaver_hosts} counters moved to the others in {:?}",
        leaver.node_name(),
        t.elapsed()
    );
    leaver.wait_exit().await?;
    verify(&mut nodes, actors, &expected_value).await?;
    println!("all {actors} values verified after the leave");

    // A node crashes: its counters are respawned on the survivors from their checkpoints.
    if nodes.len() >= 2 {
        let victim_hosts = nodes[0].local().await?;
        let t = Instant::now();
        nodes[0].signal("KILL").await?;
        let victim = nodes.remove(0);
        let k = nodes.len();
        wait_settled(&mut nodes, k).await?;
        let all_back = wait_until(Duration::from_secs(30), async || {
            let mut hosted = 0;
            for node in nodes.iter_mut() {
                hosted += node.local().await.unwrap_or(0);
            }
            hosted == actors
        })
        .await;
        ensure!(
            all_back,
            "the crashed node's counters did not all come back"
        );
        let mut respawned = 0;
        for node in nodes.iter_mut() {
            respawned += node.stats().await.map_or(0, |s| s.get("respawned"));
        }
        println!(
            "{} was killed (kill -9): its {victim_hosts} counters were respawned on the survivors from their checkpoints in {:?} ({respawned} respawned)",
            victim.node_name(),
            t.elapsed()
        );
        drop(victim);
        verify(&mut nodes, actors, &expected_value).await?;
        println!("all {actors} values verified after the crash");
    }
    // A replicated counter (no actor: every node holds a copy): incremented on every node,
    // read back equal everywhere.
    let mut want = 0;
    for (i, node) in nodes.iter_mut().enumerate() {
        node.rinc("visits", i as i64 + 1).await?;
        want += i as i64 + 1;
    }
    let t = Instant::now();
    let equal = wait_until(Duration::from_secs(10), async || {
        for node in nodes.iter_mut() {
            if node.rget("visits").await.ok() != Some(want) {
                return false;
            }
        }
        true
    })
    .await;
    ensure!(
        equal,
        "the replicated counter did not read {want} on every node"
    );
    println!(
        "replicated counter `visits` incremented on all {} nodes: {want} on every node after {:?}",
        nodes.len(),
        t.elapsed()
    );
    for node in nodes.iter_mut() {
        let code = node.quit().await?;
        ensure!(code == Some(0), "node {} exited with {code:?}", node.name());
    }
    println!("done in {:?}", started.elapsed());
    Ok(())
}

/// Waits until every node sees `n` members and has no handoff in progress.
async fn wait_settled(nodes: &mut [NodeProc], n: usize) -> Result<()> {
    let ok = wait_until(Duration::from_secs(30), async || {
        for node in nodes.iter_mut() {
            if !node.stats().await.is_ok_and(|s| s.idle_with(n as u64)) {
                return false;
            }
        }
        true
    })
    .await;
    ensure!(ok, "the cluster did not settle on {n} members within 30 s");
    Ok(())
}

/// Reads every counter through the nodes and checks its value, and that each counter runs
/// exactly once.
async fn verify(
    nodes: &mut [NodeProc],
    actors: usize,
    expected: &dyn Fn(usize) -> usize,
) -> Result<()> {
    let k = nodes.len();
    for i in 0..actors {
        nodes[i % k].send(&format!("get counter-{i}")).await?;
    }
    let mut wrong = 0;
    for i in 0..actors {
        let reply = nodes[i % k].recv().await?;
        if reply != format!("ok {}", expected(i)) {
            wrong += 1;
            eprintln!(
                "MISMATCH counter-{i}: expected {}, got {reply:?}",
                expected(i)
            );
        }
    }
    let mut hosted = 0;
    for node in nodes.iter_mut() {
        hosted += node.local().await?;
    }
    ensure!(wrong == 0, "{wrong} wrong values");
    ensure!(
        hosted == actors,
        "{hosted} counters hosted, expected {actors} (each exactly once)"
    );
    Ok(())
}

async fn start_node(
    exe: &std::path::Path,
    name: &str,
    port: u16,
    args: &[String],
    quiet: bool,
) -> Result<NodeProc> {
    // This same binary in node mode: `--node` must come before the console's arguments.
    Ok(NodeCommand::new(exe, name, port)
        .prefix(["--node"])
        .args(args)
        .quiet(quiet)
        .start()
        .await?)
}
