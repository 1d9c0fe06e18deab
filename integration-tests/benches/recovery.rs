//! B11: a node of a 3-node cluster hosting 10,000 checkpointed actors is lost; how long
//! until the others notice, and until every lost name serves again (restored from its
//! checkpoint) on a survivor. Once for `kill -9` and once for SIGSTOP (then SIGCONT: the
//! paused node must not run any name a second time).
//!
//! ```text
//! cargo bench -p integration-tests --bench recovery          # 10,000 actors
//! cargo bench -p integration-tests --bench recovery -- 2000  # actors
//! ```
//!
//! Detection is the moment the later survivor adopted the view without the victim (its
//! `view_adopted_unix_us`, same machine clock); serving is when polling first sees every
//! name hosted on the survivors (a few ms of console round trips included).
//!
//! Baselines, measured in the same run: for `kill -9`, the moment a bare ractor_cluster
//! node (in this process, connected to the victim) is told its session closed; for
//! SIGSTOP, the configured heartbeat deadline (ractor_cluster alone never notices a stopped
//! peer). The nodes are console nodes (`ractor_dist_testkit`) with a 100 ms heartbeat and a
//! 1.5 s deadline; every actor took one write, checkpointed to its replica.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{ensure, Result};
use integration_tests::{free_ports, wait_until, Cluster, DEADLINE_MS};
use ractor::Actor;
use ractor_cluster::node::{NodeConnectionMode, NodeServerSessionInformation};
use ractor_cluster::{NodeEventSubscription, NodeServer, NodeServerMessage};

struct Observer(Arc<Mutex<Option<Instant>>>);

impl NodeEventSubscription for Observer {
    fn node_session_opened(&self, _: NodeServerSessionInformation) {}
    fn node_session_disconnected(&self, _: NodeServerSessionInformation) {
        let mut t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        t.get_or_insert_with(Instant::now);
    }
    fn node_session_authenticated(&self, _: NodeServerSessionInformation) {}
    fn node_session_ready(&self, _: NodeServerSessionInformation) {}
}

/// A 3-node cluster whose first node spawned `actors` durable counters and wrote each
/// once (pipelined), with every checkpoint sent.
async fn populated(actors: usize) -> Result<Cluster> {
    let mut c = Cluster::start(3).await?;
    let n0 = &mut c.nodes[0];
    for chunk in (0..actors).collect::<Vec<_>>().chunks(500) {
        for i in chunk {
            n0.send(&format!("spawn-as durable d{i} 0")).await?;
            n0.send(&format!("cast d{i} 1")).await?;
        }
        for _ in 0..2 * chunk.len() {
            let reply = n0.recv().await?;
            ensure!(reply.starts_with("ok"), "{reply}");
        }
    }
    ensure!(
        wait_until(Duration::from_secs(60), async || c
            .stat_sum(&[0, 1, 2], "checkpoints")
            .await
            >= actors as u64)
        .await,
        "checkpoints did not reach the replicas"
    );
    Ok(c)
}

/// Polls until the survivors see 2 members and host every name (serving). Returns the
/// detection time (when the later survivor adopted the view without the victim, from its
/// own wall clock, against `t0_unix_us`) and the serving time since `t0`.
async fn measure(
    c: &mut Cluster,
    t0: Instant,
    t0_unix_us: u64,
    actors: usize,
) -> Result<(Duration, Duration)> {
    let mut detected = false;
    let deadline = t0 + Duration::from_secs(60);
    loop {
        ensure!(Instant::now() < deadline, "names did not all serve again");
        detected = detected
            || (c.nodes[0].members().await?.len() == 2 && c.nodes[1].members().await?.len() == 2);
        if detected && c.hosted(&[0, 1]).await >= actors {
            let serving = t0.elapsed();
            let adopted = c
                .stat(0, "view_adopted_unix_us")
                .await
                .max(c.stat(1, "view_adopted_unix_us").await);
            let detect = Duration::from_micros(adopted.saturating_sub(t0_unix_us));
            return Ok((detect, serving));
        }
    }
}

fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() -> Result<()> {
    let actors: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(bench(actors))
}

async fn bench(actors: usize) -> Result<()> {
    println!(
        "B11: {actors} durable actors on 3 nodes (heartbeat 100 ms, deadline {DEADLINE_MS} ms)"
    );

    // kill -9, against a bare ractor_cluster node that watches the same victim.
    let mut c = populated(actors).await?;
    let victim_hosted = c.hosted(&[2]).await;
    let seen = Arc::new(Mutex::new(None));
    let victim_port = c.nodes[2].port();
    let observer_port = free_ports(1)?[0];
    let server = async {
        let server = NodeServer::new(
            observer_port,
            "test-cookie".to_string(),
            "observer".to_string(),
            "127.0.0.1".to_string(),
            None,
            Some(NodeConnectionMode::Isolated),
        );
        let (server, _) = Actor::spawn(None, server, ()).await?;
        server.cast(NodeServerMessage::SubscribeToEvents {
            id: "b11".to_string(),
            subscription: Box::new(Observer(seen.clone())),
        })?;
        ractor_cluster::client_connect(&server, format!("127.0.0.1:{victim_port}")).await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        anyhow::Ok(server)
    }
    .await?;
    let (t0, t0_us) = (Instant::now(), unix_us());
    c.nodes[2].signal("KILL").await?;
    let (detect, serving) = measure(&mut c, t0, t0_us, actors).await?;
    let raw = seen
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .map(|t| t.duration_since(t0));
    // A respawn is counted once its actor has started (after it already serves): wait,
    // bounded, for the count to catch up before checking it.
    let counted_by = Instant::now() + Duration::from_secs(20);
    let mut respawned = c.stat_sum(&[0, 1], "respawned").await;
    while (respawned as usize) < victim_hosted && Instant::now() < counted_by {
        tokio::time::sleep(Duration::from_millis(20)).await;
        respawned = c.stat_sum(&[0, 1], "respawned").await;
    }
    let mut values_ok = true;
    for i in 0..actors.min(200) {
        values_ok &= c.nodes[i % 2]
            .get(&format!("d{i}"))
            .await
            .is_ok_and(|v| v == 1);
    }
    println!(
        "kill -9: detected after {:.1} ms (bare ractor_cluster session drop: {}), all {} names serving after {:.1} ms ({} respawned, {:.1} µs each after detection); sampled values from checkpoints intact: {values_ok}",
        ms(detect),
        raw.map_or("not seen".to_string(), |r| format!("{:.1} ms, ratio {:.2}x", ms(r), ms(detect) / ms(r).max(0.001))),
        actors,
        ms(serving),
        respawned,
        if respawned > 0 { ms(serving - detect) * 1000.0 / respawned as f64 } else { 0.0 },
    );
    ensure!(
        respawned as usize == victim_hosted,
        "respawned {respawned} of {victim_hosted}"
    );
    ensure!(values_ok, "a respawned actor lost its checkpoint");
    server.stop(None);
    drop(c);

    // SIGSTOP, then SIGCONT: never two copies.
    let mut c = populated(actors).await?;
    let (t0, t0_us) = (Instant::now(), unix_us());
    c.nodes[2].signal("STOP").await?;
    let (detect, serving) = measure(&mut c, t0, t0_us, actors).await?;
    c.nodes[2].signal("CONT").await?;
    let healed = wait_until(Duration::from_secs(60), async || {
        if c.hosted(&[0, 1, 2]).await != actors {
            return false;
        }
        for n in c.nodes.iter_mut() {
            let ok = n.stats().await.is_ok_and(|s| {
                s.get("members") == 3 && s.settled() && s.value("fenced") == Some("false")
            });
            if !ok {
                return false;
            }
        }
        true
    })
    .await;
    let conflicts = c.stat_sum(&[0, 1, 2], "conflicts").await;
    let pauses = c.stat_sum(&[2], "pauses").await;
    println!(
        "SIGSTOP: detected after {:.1} ms (deadline {DEADLINE_MS} ms: {:.2}x), all names serving after {:.1} ms; after SIGCONT: converged {healed}, {actors} names hosted once, the paused node noticed {pauses} pause(s) and its {conflicts} stale copies were replaced",
        ms(detect),
        ms(detect) / DEADLINE_MS as f64,
        ms(serving),
    );
    ensure!(healed, "did not converge after SIGCONT");
    Ok(())
}
