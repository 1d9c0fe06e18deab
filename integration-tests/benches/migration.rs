//! B9 (migration of 10,000 actors with 1 KiB of state to a joining node), B8 on a live
//! cluster (what moved, and nothing between survivors) and B12 (membership convergence).
//!
//! ```text
//! cargo bench -p integration-tests --bench migration             # 10,000 actors x 1 KiB
//! cargo bench -p integration-tests --bench migration -- 2000 256 # actors, state bytes
//! B9_LOG_DIR=/tmp/b9 RUST_LOG=ractor_dist=debug cargo bench ... # a log per node, for a timeline
//! ```
//!
//! Three node processes (this binary with `--node`) form a cluster and spawn the actors;
//! this process then joins as the fourth node, and measures from the moment it sees all
//! three peers until it has settled (every actor it now owns runs here with its state, and
//! every buffered message was forwarded). In the same run it measures the baseline: the
//! same bytes sent through raw ractor_cluster in 64 KiB messages, plus the same number of
//! local ractor spawns. Finally one of the original nodes leaves.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context, Result};
use ractor::{Actor, ActorProcessingErr, ActorRef, Message, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::{
    DistActor, DistConfig, DistNode, DistRef, HandoffMode, Kinds, NodeStatus, Snapshot,
};
use serde_bytes::ByteBuf;

#[derive(RactorClusterMessage)]
enum BlobMsg {
    #[rpc]
    Len(RpcReplyPort<u64>),
}

struct Blob;

impl DistActor for Blob {
    const KIND: &'static str = "blob";
    type Msg = BlobMsg;
    type State = ByteBuf;
    type Arguments = ByteBuf;
    const HANDOFF: HandoffMode = HandoffMode::Resume;

    async fn pre_start(
        &self,
        _: DistRef<BlobMsg>,
        blob: ByteBuf,
    ) -> Result<ByteBuf, ActorProcessingErr> {
        Ok(blob)
    }

    async fn handle(
        &self,
        _: DistRef<BlobMsg>,
        msg: BlobMsg,
        blob: &mut ByteBuf,
    ) -> Result<(), ActorProcessingErr> {
        let BlobMsg::Len(r) = msg;
        let _ = r.send(blob.len() as u64);
        Ok(())
    }

    fn snapshot(&self, blob: &ByteBuf) -> Result<Vec<u8>, ActorProcessingErr> {
        Snapshot::encode(blob)
    }

    async fn restore(
        &self,
        _: DistRef<BlobMsg>,
        _: ByteBuf,
        s: Snapshot,
    ) -> Result<ByteBuf, ActorProcessingErr> {
        s.decode(Self::STATE_VERSION)
    }
}

/// The raw baseline: a remotable sink found through a pg group.
#[derive(RactorClusterMessage)]
enum RawMsg {
    Data(ByteBuf),
    #[rpc]
    Bytes(RpcReplyPort<u64>),
}

struct RawSink;

impl Actor for RawSink {
    type Msg = RawMsg;
    type State = u64;
    type Arguments = ();
    async fn pre_start(&self, me: ActorRef<RawMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        ractor::pg::join("b9-raw".to_string(), vec![me.get_cell()]);
        Ok(0)
    }
    async fn handle(
        &self,
        _: ActorRef<RawMsg>,
        m: RawMsg,
        n: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match m {
            RawMsg::Data(b) => *n += b.len() as u64,
            RawMsg::Bytes(r) => {
                let _ = r.send(*n);
            }
        }
        Ok(())
    }
}

/// A local actor for the spawn baseline.
struct Plain;
struct PlainMsg;
impl Message for PlainMsg {}
impl Actor for Plain {
    type Msg = PlainMsg;
    type State = ByteBuf;
    type Arguments = ByteBuf;
    async fn pre_start(
        &self,
        _: ActorRef<PlainMsg>,
        b: ByteBuf,
    ) -> Result<ByteBuf, ActorProcessingErr> {
        Ok(b)
    }
}

fn config(name: &str, port: u16, seeds: &[u16]) -> DistConfig {
    let mut c = DistConfig::new(name, port);
    c.cookie = "b9".into();
    c.heartbeat_interval = Duration::from_millis(100);
    c.heartbeat_deadline = Duration::from_secs(2);
    c.reconnect_min = Duration::from_millis(20);
    c.handoff_timeout = Duration::from_secs(30);
    c.seeds = seeds.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    // B9_REPLICAS=1 measures without spec replication (the cost of respawnability).
    if let Some(r) = std::env::var("B9_REPLICAS")
        .ok()
        .and_then(|r| r.parse().ok())
    {
        c.replicas = r;
    }
    c
}

/// Node mode: `--node NAME PORT ACTORS BYTES SEED...`; node `a` spawns the actors once the
/// three nodes see each other. Prints `ready`, then `leave` on stdin makes it leave.
async fn node_mode(args: &[String]) -> Result<()> {
    let name = &args[0];
    let port: u16 = args[1].parse()?;
    let actors: usize = args[2].parse()?;
    let bytes: usize = args[3].parse()?;
    let seeds: Vec<u16> = args[4..]
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let node = DistNode::start(config(name, port, &seeds), Kinds::new().with(Blob)).await?;
    node.wait_for_members(3, Duration::from_secs(30)).await?;
    if name == "a" {
        let _raw = Actor::spawn(None, RawSink, ()).await?;
        let mut set = tokio::task::JoinSet::new();
        for i in 0..actors {
            if set.len() >= 64 {
                set.join_next().await;
            }
            let node = node.clone();
            set.spawn(async move {
                node.spawn::<Blob>(format!("b{i}"), ByteBuf::from(vec![i as u8; bytes]))
                    .await
            });
        }
        while let Some(r) = set.join_next().await {
            r??;
        }
    }
    println!("ready");
    let mut line = String::new();
    let _ = tokio::task::spawn_blocking(move || {
        let _ = std::io::stdin().read_line(&mut line);
        line
    })
    .await;
    node.shutdown().await?;
    Ok(())
}

struct Children(Vec<(Child, ChildStdin)>);
impl Drop for Children {
    fn drop(&mut self) {
        for (c, _) in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn status_of(all: &[NodeStatus], name: &str) -> Option<NodeStatus> {
    all.iter()
        .find(|s| s.node.as_str().starts_with(&format!("{name}@")))
        .cloned()
}

async fn run(actors: usize, bytes: usize) -> Result<()> {
    let ports: Vec<u16> = (0..4)
        .map(|_| {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
        })
        .collect::<std::io::Result<_>>()?;
    let exe = std::env::current_exe()?;
    let mut children = Children(Vec::new());
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let seeds: Vec<String> = ports[..3]
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, p)| p.to_string())
            .collect();
        let mut cmd = Command::new(&exe);
        cmd.args([
            "--node",
            name,
            &ports[i].to_string(),
            &actors.to_string(),
            &bytes.to_string(),
        ]);
        cmd.args(&seeds)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().context("starting a node")?;
        let stdin = child.stdin.take().ok_or_else(|| anyhow!("stdin"))?;
        children.0.push((child, stdin));
    }
    let t = Instant::now();
    for (child, _) in &mut children.0 {
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().ok_or_else(|| anyhow!("stdout"))?)
            .read_line(&mut line)?;
        ensure!(line.trim() == "ready", "node said {line:?}");
    }
    println!(
        "3 nodes up with {actors} actors x {bytes} B in {:?}",
        t.elapsed()
    );

    // B9 + B12 (join): this process joins as the fourth node.
    let joined_at = Instant::now();
    let joined_unix_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros() as u64;
    let node = DistNode::start(config("d", ports[3], &ports[..3]), Kinds::new().with(Blob)).await?;
    let mut events = node.subscribe();
    let first_up = tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(ractor_dist::MembershipEvent::Up { .. }) => return Some(Instant::now()),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    });
    node.wait_for_members(4, Duration::from_secs(30)).await?;
    let sees_all = joined_at.elapsed();
    let t0 = first_up.await?.unwrap_or(joined_at);
    let expected = (0..actors)
        .filter(|i| node.owner_of(&format!("b{i}")).as_ref() == Some(node.name()))
        .count();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = node.status();
        if s.settled && s.moving == 0 && s.hosted as usize == expected {
            break;
        }
        ensure!(Instant::now() < deadline, "migration did not finish: {s:?}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let migrated = t0.elapsed().as_millis() as u64;
    let converge_deadline = Instant::now() + Duration::from_secs(30);
    let convergence = loop {
        let all = node.cluster_status().await?;
        if all.len() == 4 && all.iter().all(|s| s.members.len() == 4) {
            // When the last node adopted the 4-member view (wall clock, one machine).
            let last = all
                .iter()
                .map(|s| s.view_adopted_unix_us)
                .max()
                .unwrap_or(0);
            break Duration::from_micros(last.saturating_sub(joined_unix_us));
        }
        ensure!(
            Instant::now() < converge_deadline,
            "membership did not converge"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    let all = node.cluster_status().await?;
    let survivor_moves: u64 = ["a", "b", "c"]
        .iter()
        .filter_map(|n| status_of(&all, n))
        .map(|s| s.moved_in)
        .sum();
    let moved = node.status().moved_in;
    // every moved actor answers, with its state
    for i in (0..actors)
        .filter(|i| node.owner_of(&format!("b{i}")).as_ref() == Some(node.name()))
        .take(200)
    {
        let r = node.lookup::<BlobMsg>(format!("b{i}")).await?;
        ensure!(
            r.call(BlobMsg::Len, Duration::from_secs(5)).await? == bytes as u64,
            "state lost"
        );
    }

    // Baseline, same run: raw bulk transfer of the same bytes + the same number of local spawns.
    let raw: ActorRef<RawMsg> = ractor::pg::get_members(&"b9-raw".to_string())
        .into_iter()
        .find(|c| !c.get_id().is_local())
        .ok_or_else(|| anyhow!("raw sink not visible"))?
        .into();
    let total = moved as usize * bytes;
    let before = ractor::call_t!(raw, RawMsg::Bytes, 30_000)?;
    let t = Instant::now();
    let mut left = total;
    while left > 0 {
        let n = left.min(64 * 1024);
        raw.cast(RawMsg::Data(ByteBuf::from(vec![7u8; n])))?;
        left -= n;
    }
    let after = ractor::call_t!(raw, RawMsg::Bytes, 60_000)?;
    ensure!(after - before == total as u64, "raw bytes lost");
    let bulk = t.elapsed();
    let t = Instant::now();
    let mut spawned = Vec::with_capacity(moved as usize);
    for _ in 0..moved {
        spawned.push(
            Actor::spawn(None, Plain, ByteBuf::from(vec![1u8; bytes]))
                .await?
                .0,
        );
    }
    let spawns = t.elapsed();
    for a in spawned {
        a.stop(None);
    }
    let baseline_ms = (bulk + spawns).as_secs_f64() * 1e3;

    println!("\n| id | what | baseline | ractor-dist | ratio / note |\n|---|---|---|---|---|");
    println!(
        "| B9 | {moved} of {actors} actors x {bytes} B move to a joining 4th node: first membership event on the new node -> all moved actors serving there | raw bulk {:.1} ms + {moved} local spawns {:.1} ms = {baseline_ms:.1} ms | {migrated} ms | {:.2}x (target <= 2) |",
        bulk.as_secs_f64() * 1e3,
        spawns.as_secs_f64() * 1e3,
        migrated as f64 / baseline_ms
    );
    println!(
        "| B8 live | fraction moved on join 3 -> 4 | ideal 0.2500 | {:.4} | {:.3}x ideal; {survivor_moves} survivor-to-survivor moves |",
        moved as f64 / actors as f64,
        moved as f64 / actors as f64 * 4.0
    );
    println!(
        "| B12 | join: new node start -> it sees all members / the last node adopts the 4-member view | none | {:.1} ms / {:.1} ms | target <= 50 ms |",
        sees_all.as_secs_f64() * 1e3,
        convergence.as_secs_f64() * 1e3
    );

    // B12 (leave) and B8 on leave: node c leaves gracefully.
    let before_leave = node.cluster_status().await?;
    let c_hosted = status_of(&before_leave, "c").map(|s| s.hosted).unwrap_or(0);
    let moved_in_before: u64 = before_leave.iter().map(|s| s.moved_in).sum();
    let t = Instant::now();
    writeln!(children.0[2].1, "leave")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if node.members().len() == 3 && node.status().settled && node.status().moving == 0 {
            let all = node.cluster_status().await?;
            let hosted: u64 = all.iter().map(|s| s.hosted).sum();
            if all.len() == 3
                && hosted == actors as u64
                && all.iter().all(|s| s.members.len() == 3 && s.settled)
            {
                break;
            }
        }
        ensure!(Instant::now() < deadline, "leave did not finish");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let left_in = t.elapsed();
    let all = node.cluster_status().await?;
    let moved_in_after: u64 = all.iter().map(|s| s.moved_in).sum();
    let hosted: u64 = all.iter().map(|s| s.hosted).sum();
    println!(
        "| B8 live | leave 4 -> 3: actors moved / actors the leaver hosted | ideal 1.000 | {} / {c_hosted} | all remaining actors: {hosted} of {actors} |",
        moved_in_after - moved_in_before
    );
    println!(
        "| B12 | graceful leave of a node hosting {c_hosted} actors: `leave` -> 3 members agree, all settled | none | {:.1} ms | includes the handoff |",
        left_in.as_secs_f64() * 1e3
    );
    node.shutdown().await?;
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let node_mode_args = args.first().map(String::as_str) == Some("--node");
    // `B9_LOG_DIR=dir RUST_LOG=ractor_dist=debug`: each node (the joining one is `d`)
    // logs to `dir/<name>.log`, with timestamps, for a timeline of the move.
    if let Some(dir) = std::env::var_os("B9_LOG_DIR") {
        let name = if node_mode_args {
            args[1].as_str()
        } else {
            "d"
        };
        let file = std::fs::File::create(std::path::Path::new(&dir).join(format!("{name}.log")))?;
        tracing_subscriber::fmt()
            .with_writer(std::sync::Mutex::new(file))
            .with_ansi(false)
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    } else if node_mode_args && std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .init();
    }
    if node_mode_args {
        return rt.block_on(node_mode(&args[1..]));
    }
    let nums: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let actors = nums.first().copied().unwrap_or(10_000);
    let bytes = nums.get(1).copied().unwrap_or(1024);
    rt.block_on(run(actors, bytes))
}
