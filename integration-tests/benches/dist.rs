//! ractor-dist benchmarks B1-B4, B6-B8 (see DESIGN.md section 7 and BENCHMARKS.md).
//!
//! ```text
//! cargo bench -p integration-tests --bench dist            # everything
//! cargo bench -p integration-tests --bench dist -- pure    # B7, B8 only (no sockets)
//! cargo bench -p integration-tests --bench dist -- remote  # B3, B4, B6 remote names only
//! ```
//!
//! Every figure is a ratio against a baseline measured in the same run, alternating
//! baseline and subject over several rounds and reporting medians. The remote benchmarks
//! start a second process (this binary with `--server`) on 127.0.0.1.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use ractor::{Actor, ActorProcessingErr, ActorRef, Message, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::core::{ActorKey, Epoch, NodeName, Placement};
use ractor_dist::{DistActor, DistConfig, DistNode, DistRef, Kinds};
use serde_bytes::ByteBuf;

const ROUNDS: usize = 5;
const T: Duration = Duration::from_secs(10);

// ---------------------------------------------------------------------------------------
// Actors

/// The message type of both the ractor-dist sink and the raw ractor_cluster baseline.
#[derive(RactorClusterMessage)]
enum SinkMsg {
    Data(ByteBuf),
    #[rpc]
    Count(RpcReplyPort<u64>),
    #[rpc]
    Echo(u64, RpcReplyPort<u64>),
}

struct Sink;

impl DistActor for Sink {
    const KIND: &'static str = "sink";
    type Msg = SinkMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: DistRef<SinkMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: DistRef<SinkMsg>,
        m: SinkMsg,
        n: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        sink_handle(m, n);
        Ok(())
    }
}

fn sink_handle(m: SinkMsg, n: &mut u64) {
    match m {
        SinkMsg::Data(_) => *n += 1,
        SinkMsg::Count(r) => {
            let _ = r.send(*n);
        }
        SinkMsg::Echo(x, r) => {
            let _ = r.send(x);
        }
    }
}

/// The raw ractor_cluster baseline: a remotable actor found through a pg group.
struct RawSink;

impl Actor for RawSink {
    type Msg = SinkMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, me: ActorRef<SinkMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        ractor::pg::join("bench-raw".to_string(), vec![me.get_cell()]);
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<SinkMsg>,
        m: SinkMsg,
        n: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        sink_handle(m, n);
        Ok(())
    }
}

/// A local-only message for the local baselines (what a plain ractor user writes).
enum LocalMsg {
    Add(u64),
    Get(RpcReplyPort<u64>),
}
impl Message for LocalMsg {}

struct LocalCounter;

impl Actor for LocalCounter {
    type Msg = LocalMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<LocalMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<LocalMsg>,
        m: LocalMsg,
        n: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match m {
            LocalMsg::Add(d) => *n += d,
            LocalMsg::Get(r) => {
                let _ = r.send(*n);
            }
        }
        Ok(())
    }
}

#[derive(RactorClusterMessage)]
enum CountMsg {
    Add(u64),
    #[rpc]
    Get(RpcReplyPort<u64>),
}

struct DistCounter;

impl DistActor for DistCounter {
    const KIND: &'static str = "counter";
    type Msg = CountMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: DistRef<CountMsg>, _: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: DistRef<CountMsg>,
        m: CountMsg,
        n: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match m {
            CountMsg::Add(d) => *n += d,
            CountMsg::Get(r) => {
                let _ = r.send(*n);
            }
        }
        Ok(())
    }
}

fn kinds() -> Kinds {
    Kinds::new().with(Sink).with(DistCounter)
}

// ---------------------------------------------------------------------------------------
// Helpers

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn p50(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

struct Report {
    rows: Vec<(String, String, String, String, String)>,
}

impl Report {
    fn row(&mut self, id: &str, what: &str, baseline: String, subject: String, ratio: String) {
        println!("{id:4} {what:52} base {baseline:>14}  dist {subject:>14}  {ratio}");
        self.rows
            .push((id.into(), what.into(), baseline, subject, ratio));
    }

    fn markdown(&self) {
        println!("\n| id | benchmark | baseline | ractor-dist | ratio |\n|---|---|---|---|---|");
        for (id, what, b, s, r) in &self.rows {
            println!("| {id} | {what} | {b} | {s} | {r} |");
        }
    }
}

// ---------------------------------------------------------------------------------------
// B7, B8: pure placement

fn node_names(n: usize) -> Vec<NodeName> {
    (0..n)
        .map(|i| NodeName::new(format!("node-{i}@10.0.{}.{}", i / 250, i % 250)))
        .collect()
}

fn b7(report: &mut Report) {
    let keys: Vec<ActorKey> = (0..20_000)
        .map(|i| ActorKey::new(format!("user-{i}")))
        .collect();
    for n in [3usize, 10, 30, 100] {
        let names = node_names(n);
        let placement = Placement::new(Epoch(1), names.clone());
        let mut crate_nodes = rendezvous_hash::RendezvousNodes::default();
        for name in &names {
            crate_nodes.insert(name.as_str());
        }
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let t = Instant::now();
            let mut acc = 0usize;
            for k in &keys {
                acc += crate_nodes
                    .calc_candidates(&k.as_str())
                    .next()
                    .map_or(0, |s: &&str| s.len());
            }
            theirs.push(t.elapsed().as_nanos() as f64 / keys.len() as f64);
            std::hint::black_box(acc);
            let t = Instant::now();
            let mut acc = 0usize;
            for k in &keys {
                acc += placement.owner_of(k).map_or(0, |s| s.as_str().len());
            }
            ours.push(t.elapsed().as_nanos() as f64 / keys.len() as f64);
            std::hint::black_box(acc);
        }
        let (b, s) = (median(theirs), median(ours));
        report.row(
            "B7",
            &format!("placement per key, {n} nodes (ns/key)"),
            format!("{b:.0} ns"),
            format!("{s:.0} ns"),
            format!("{:.1}x faster", b / s),
        );
    }
}

fn owners(p: &Placement, keys: &[ActorKey]) -> Vec<NodeName> {
    keys.iter()
        .map(|k| p.owner_of(k).cloned().unwrap_or_else(|| NodeName::new("?")))
        .collect()
}

fn load_max_over_mean(owners: &[NodeName], n: usize) -> f64 {
    let mut counts: BTreeMap<&NodeName, usize> = BTreeMap::new();
    for o in owners {
        *counts.entry(o).or_default() += 1;
    }
    let max = counts.values().copied().max().unwrap_or(0) as f64;
    max / (owners.len() as f64 / n as f64)
}

fn b8(report: &mut Report) {
    let keys: Vec<ActorKey> = (0..100_000)
        .map(|i| ActorKey::new(format!("entity-{i}")))
        .collect();
    for n in [3usize, 5, 10, 30] {
        let base = Placement::new(Epoch(1), node_names(n));
        let joined = Placement::new(Epoch(2), node_names(n + 1));
        let left_out = node_names(n)[n / 2].clone();
        let left = Placement::new(
            Epoch(2),
            node_names(n).into_iter().filter(|m| *m != left_out),
        );
        let before = owners(&base, &keys);
        let after_join = owners(&joined, &keys);
        let after_leave = owners(&left, &keys);
        let moved_join = before
            .iter()
            .zip(&after_join)
            .filter(|(a, b)| a != b)
            .count();
        let bad_join = before
            .iter()
            .zip(&after_join)
            .filter(|(a, b)| a != b && b.as_str() != node_names(n + 1)[n].as_str())
            .count();
        let moved_leave = before
            .iter()
            .zip(&after_leave)
            .filter(|(a, b)| a != b)
            .count();
        let bad_leave = before
            .iter()
            .zip(&after_leave)
            .filter(|(a, b)| a != b && **a != left_out)
            .count();
        let f_join = moved_join as f64 / keys.len() as f64;
        let f_leave = moved_leave as f64 / keys.len() as f64;
        report.row(
            "B8",
            &format!("join {n}->{} moved fraction (ideal 1/(n+1))", n + 1),
            format!("{:.4}", 1.0 / (n as f64 + 1.0)),
            format!("{f_join:.4}"),
            format!(
                "{:.3}x ideal; {bad_join} survivor moves",
                f_join * (n as f64 + 1.0)
            ),
        );
        report.row(
            "B8",
            &format!("leave {n}->{} moved fraction (ideal 1/n)", n - 1),
            format!("{:.4}", 1.0 / n as f64),
            format!("{f_leave:.4}"),
            format!(
                "{:.3}x ideal; {bad_leave} survivor moves",
                f_leave * n as f64
            ),
        );
        report.row(
            "B8",
            &format!("load max/mean, {n} nodes, 100k names"),
            "1.000".into(),
            format!("{:.3}", load_max_over_mean(&before, n)),
            "target <= 1.05".into(),
        );
    }
}

// ---------------------------------------------------------------------------------------
// B1, B2, B6 (warm): one local node

async fn local_benches(report: &mut Report, node: &DistNode) -> Result<()> {
    let (plain, _) = Actor::spawn(None, LocalCounter, ()).await?;
    let dist = node.spawn::<DistCounter>("b1-counter", ()).await?;
    let n = 300_000u64;
    // `B1_PROFILE=N`: only ractor-dist's local casts, N rounds (for a profiler).
    if let Some(rounds) = profile_rounds("B1_PROFILE") {
        for _ in 0..rounds {
            for _ in 0..n {
                dist.cast(CountMsg::Add(1))?;
            }
            dist.call(CountMsg::Get, T).await?;
        }
        return Ok(());
    }
    let (mut base, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for _ in 0..n {
            plain.cast(LocalMsg::Add(1))?;
        }
        ractor::call_t!(plain, LocalMsg::Get, 30_000)?;
        base.push(n as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        for _ in 0..n {
            dist.cast(CountMsg::Add(1))?;
        }
        dist.call(CountMsg::Get, T).await?;
        ours.push(n as f64 / t.elapsed().as_secs_f64());
    }
    let (b, s) = (median(base), median(ours));
    report.row(
        "B1",
        "local cast throughput (msg/s), 300k per round",
        format!("{:.2} M/s", b / 1e6),
        format!("{:.2} M/s", s / 1e6),
        format!("{:.2}x (target >= 0.90)", s / b),
    );

    let calls = 20_000;
    let (mut base, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let mut lat = Vec::with_capacity(calls);
        for _ in 0..calls {
            let t = Instant::now();
            ractor::call_t!(plain, LocalMsg::Get, 30_000)?;
            lat.push(t.elapsed());
        }
        base.push(p50(lat).as_nanos() as f64);
        let mut lat = Vec::with_capacity(calls);
        for _ in 0..calls {
            let t = Instant::now();
            dist.call(CountMsg::Get, T).await?;
            lat.push(t.elapsed());
        }
        ours.push(p50(lat).as_nanos() as f64);
    }
    let (b, s) = (median(base), median(ours));
    report.row(
        "B2",
        "local call latency p50",
        format!("{:.2} us", b / 1e3),
        format!("{:.2} us", s / 1e3),
        format!("{:.2}x (target <= 1.10)", s / b),
    );

    // B6 warm: name -> handle for 2,000 local names.
    let names: Vec<String> = (0..2_000).map(|i| format!("b6-{i}")).collect();
    for name in &names {
        node.spawn::<DistCounter>(name.as_str(), ()).await?;
    }
    warm_lookup_row::<CountMsg>(report, node, &names, "local names").await
}

/// B6 warm: name -> handle for `names`, against `registry::where_is` on as many locally
/// registered names.
async fn warm_lookup_row<M: Message>(
    report: &mut Report,
    node: &DistNode,
    names: &[String],
    what: &str,
) -> Result<()> {
    let raw_names: Vec<String> = names.iter().map(|n| format!("raw-{n}")).collect();
    let mut registered = Vec::new();
    for n in &raw_names {
        if ractor::registry::where_is(n.clone()).is_none() {
            registered.push(Actor::spawn(Some(n.clone()), LocalCounter, ()).await?.0);
        }
    }
    let (mut base, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let t = Instant::now();
        for n in &raw_names {
            std::hint::black_box(ractor::registry::where_is(n.clone()));
        }
        base.push(t.elapsed().as_nanos() as f64 / raw_names.len() as f64);
        let t = Instant::now();
        for n in names {
            std::hint::black_box(node.lookup::<M>(n.as_str()).await?);
        }
        ours.push(t.elapsed().as_nanos() as f64 / names.len() as f64);
    }
    let (b, s) = (median(base), median(ours));
    report.row(
        "B6",
        &format!("warm lookup name -> handle ({what})"),
        format!("{b:.0} ns"),
        format!("{s:.0} ns"),
        format!("{:.2}x registry where_is (target <= 100 ns)", s / b),
    );
    for r in registered {
        r.stop(None);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// B3, B4, B6 (cold): a second process

struct ServerGuard(Child);
impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn server(port: u16, client_port: u16) -> Result<()> {
    let mut config = DistConfig::new("server", port);
    config.seeds = vec![format!("127.0.0.1:{client_port}")];
    config.cookie = "bench".into();
    let node = DistNode::start(config, kinds()).await?;
    let _raw = Actor::spawn(None, RawSink, ()).await?;
    node.wait_for_members(2, Duration::from_secs(20)).await?;
    for name in cold_names(&node, node.name()) {
        node.spawn::<Sink>(name.as_str(), ()).await?;
    }
    println!("ready");
    // Exit when the parent goes away (stdin closes).
    let mut buf = String::new();
    let _ = tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut buf)).await;
    node.shutdown().await?;
    Ok(())
}

/// 500 names owned (and so hosted) by `server` in the current two-node view.
fn cold_names(node: &DistNode, server: &NodeName) -> Vec<String> {
    (0..)
        .map(|i| format!("cold-{i}"))
        .filter(|n| node.owner_of(n).as_ref() == Some(server))
        .take(500)
        .collect()
}

/// The rounds a profiling mode asks for (`VAR=N`), if it is set to a number.
fn profile_rounds(var: &str) -> Option<u64> {
    std::env::var(var).ok().and_then(|v| v.parse().ok())
}

fn payload(size: usize) -> ByteBuf {
    ByteBuf::from(vec![7u8; size])
}

async fn remote_benches(
    report: &mut Report,
    node: &DistNode,
    server_name: &NodeName,
) -> Result<()> {
    // A sink owned by the server, and the raw baseline sink found through pg.
    let name = (0..)
        .map(|i| format!("sink-{i}"))
        .find(|n| node.owner_of(n).as_ref() == Some(server_name))
        .ok_or_else(|| anyhow!("no name owned by the server"))?;
    let dist = node.spawn::<Sink>(name.as_str(), ()).await?;
    assert_eq!(dist.host().await?, *server_name);
    let mut raw = None;
    for _ in 0..500 {
        raw = ractor::pg::get_members(&"bench-raw".to_string())
            .into_iter()
            .find(|c| !c.get_id().is_local());
        if raw.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let raw: ActorRef<SinkMsg> = raw.ok_or_else(|| anyhow!("raw sink not visible"))?.into();

    // `B3_PROFILE=N`: only ractor-dist's 64 B casts, N rounds (for a profiler).
    if let Some(rounds) = profile_rounds("B3_PROFILE") {
        for _ in 0..rounds {
            let before = dist.call(SinkMsg::Count, Duration::from_secs(60)).await?;
            for _ in 0..100_000 {
                dist.cast(SinkMsg::Data(payload(64)))?;
            }
            let after = dist.call(SinkMsg::Count, Duration::from_secs(60)).await?;
            assert_eq!(after - before, 100_000, "DistRef casts lost");
        }
        return Ok(());
    }
    for (size, n) in [(64usize, 100_000u64), (1024, 50_000)] {
        let (mut base, mut ours) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let before = ractor::call_t!(raw, SinkMsg::Count, 60_000)?;
            let t = Instant::now();
            for _ in 0..n {
                raw.cast(SinkMsg::Data(payload(size)))?;
            }
            let after = ractor::call_t!(raw, SinkMsg::Count, 60_000)?;
            base.push(n as f64 / t.elapsed().as_secs_f64());
            assert_eq!(after - before, n, "raw casts lost");
            let before = dist.call(SinkMsg::Count, Duration::from_secs(60)).await?;
            let t = Instant::now();
            for _ in 0..n {
                dist.cast(SinkMsg::Data(payload(size)))?;
            }
            let after = dist.call(SinkMsg::Count, Duration::from_secs(60)).await?;
            ours.push(n as f64 / t.elapsed().as_secs_f64());
            assert_eq!(after - before, n, "DistRef casts lost");
        }
        let (b, s) = (median(base), median(ours));
        report.row(
            "B3",
            &format!("remote cast throughput, {size} B payload"),
            format!("{:.0} k/s", b / 1e3),
            format!("{:.0} k/s", s / 1e3),
            format!("{:.2}x (target >= 3 batched)", s / b),
        );
    }

    let calls = 3_000;
    let (mut base, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let mut lat = Vec::with_capacity(calls);
        for i in 0..calls as u64 {
            let t = Instant::now();
            ractor::call_t!(raw, SinkMsg::Echo, 10_000, i)?;
            lat.push(t.elapsed());
        }
        base.push(p50(lat).as_nanos() as f64);
        let mut lat = Vec::with_capacity(calls);
        for i in 0..calls as u64 {
            let t = Instant::now();
            dist.call(|p| SinkMsg::Echo(i, p), T).await?;
            lat.push(t.elapsed());
        }
        ours.push(p50(lat).as_nanos() as f64);
    }
    let (b, s) = (median(base), median(ours));
    report.row(
        "B4",
        "remote call latency p50",
        format!("{:.0} us", b / 1e3),
        format!("{:.0} us", s / 1e3),
        format!("{:.2}x (target <= 1.2)", s / b),
    );

    // B6 cold: lookups of names the server spawned, never seen by this node.
    let remote_names = cold_names(node, server_name);
    let mut lat_raw = Vec::new();
    let mut lat_cold = Vec::new();
    for (i, n) in remote_names.iter().enumerate() {
        let t = Instant::now();
        ractor::call_t!(raw, SinkMsg::Echo, 10_000, i as u64)?;
        lat_raw.push(t.elapsed());
        let t = Instant::now();
        std::hint::black_box(node.lookup::<SinkMsg>(n.as_str()).await?);
        lat_cold.push(t.elapsed());
    }
    let (b, s) = (p50(lat_raw), p50(lat_cold));
    report.row(
        "B6",
        "cold lookup via the directory node p50",
        format!("{:.0} us", b.as_nanos() as f64 / 1e3),
        format!("{:.0} us", s.as_nanos() as f64 / 1e3),
        format!(
            "{:.2}x a raw remote call (target <= 1.1)",
            s.as_secs_f64() / b.as_secs_f64()
        ),
    );

    // B6 warm, remote names: the same names again, now in this node's lookup cache.
    warm_lookup_row::<SinkMsg>(report, node, &remote_names, "remote names, cached").await?;
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--server") {
        let port: u16 = args[1].parse()?;
        let client_port: u16 = args[2].parse()?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        return rt.block_on(server(port, client_port));
    }
    let only_pure = args.iter().any(|a| a == "pure");
    let only_remote = args.iter().any(|a| a == "remote");
    // `local`: only B1, B2 and B6 for local names (the hosted actor's hot path).
    let only_local = args.iter().any(|a| a == "local");
    let mut report = Report { rows: Vec::new() };
    println!(
        "ractor-dist benchmarks ({ROUNDS} rounds, medians; ratios against same-run baselines)"
    );
    if !only_remote && !only_local {
        b7(&mut report);
        b8(&mut report);
    }
    if !only_pure {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        rt.block_on(async {
            let ports: Vec<u16> = (0..2)
                .map(|_| {
                    std::net::TcpListener::bind("127.0.0.1:0")
                        .and_then(|l| l.local_addr())
                        .map(|a| a.port())
                })
                .collect::<std::io::Result<_>>()?;
            let mut config = DistConfig::new("client", ports[0]);
            config.cookie = "bench".into();
            config.seeds = vec![format!("127.0.0.1:{}", ports[1])];
            let node = DistNode::start(config, kinds()).await?;
            if !only_remote {
                local_benches(&mut report, &node).await?;
                if only_local || profile_rounds("B1_PROFILE").is_some() {
                    return node.shutdown().await.map_err(Into::into);
                }
            }
            let exe = std::env::current_exe()?;
            let mut child = Command::new(exe)
                .args(["--server", &ports[1].to_string(), &ports[0].to_string()])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .context("starting the server process")?;
            let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
            let _guard = ServerGuard(child);
            let mut line = String::new();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)?;
            anyhow::ensure!(line.trim() == "ready", "server said {line:?}");
            node.wait_for_members(2, Duration::from_secs(20)).await?;
            let server_name = NodeName::new("server@127.0.0.1");
            remote_benches(&mut report, &node, &server_name).await?;
            node.shutdown().await?;
            anyhow::Ok(())
        })?;
    }
    report.markdown();
    Ok(())
}
