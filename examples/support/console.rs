//! The interactive console node shared by `node.rs` (and the demo, which runs itself in node
//! mode). Protocol: prints `ready <node-name>` once it listens, then answers every stdin line
//! with exactly one line starting with `ok` or `error`.
//!
//! | command | reply |
//! |---|---|
//! | `spawn <name> [start]` | `ok <host-node>` |
//! | `spawn-as <counter\|stay\|restart\|fragile\|durable\|tally> <name> <start>` | `ok <host-node>` (a counter with that handoff mode; `durable` checkpoints every message, `tally` also merges after partitions) |
//! | `seq <name> <sender> <n>` | `ok` (casts increment `n`, message number `n` of `sender`) |
//! | `check <name>` | `ok <value> <number of seq messages out of order>` |
//! | `spawn-blob <name> <bytes>` | `ok <host-node>` (an actor whose state is a blob of that size) |
//! | `digest <name>` | `ok <blob length> <checksum>` |
//! | `add <name> <n>` | `ok <new value>` |
//! | `cast <name> <n>` | `ok` (fire and forget) |
//! | `get <name>` | `ok <value>` |
//! | `where <name>` | `ok <host-node> <epoch>` |
//! | `owner <name>` | `ok <rendezvous owner in this node's view>` |
//! | `stop <name>` | `ok` |
//! | `sleep <name> <ms>` | `ok` at once (a cast: the counter then blocks inside its own handler for `ms`, as a slow user actor would) |
//! | `crash <name>` | `ok` (the counter panics and is restarted from its start value) |
//! | `members` | `ok <live node names, sorted, space separated>` |
//! | `local` | `ok <number of actors hosted here>` |
//! | `status` | `ok total=<actors> <node>=<hosted>:<share>% ...` (every live node, sorted) |
//! | `stats` | `ok <key=value counters of this node>` |
//! | `spawn-ghost <name>` | spawns a kind that is registered only on nodes started with `--ghost` |
//! | `bad <name>` | calls `<name>` with a message of another type (must fail cleanly) |
//! | `leave` | hands every actor off, then `ok`, and the node exits 0 |
//! | `quit` | `ok`, then the node leaves (handing its actors off) and exits 0 |

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use ractor::{ActorProcessingErr, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::{
    Checkpoints, ConflictPolicy, DistActor, DistConfig, DistNode, DistRef, HandoffMode, Kinds,
    Snapshot,
};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Messages of the counter kinds.
#[derive(RactorClusterMessage)]
pub enum CounterMsg {
    /// Add to the counter.
    Add(i64),
    /// Add and return the new value.
    #[rpc]
    AddGet(i64, RpcReplyPort<i64>),
    /// Read the value.
    #[rpc]
    Get(RpcReplyPort<i64>),
    /// Add `n`, recording that it is message `n` of `sender` (numbered from 1).
    Seq(u32, u64),
    /// The value and the number of `Seq` messages that arrived out of order.
    #[rpc]
    Check(RpcReplyPort<(i64, u64)>),
    /// Panic (to exercise restarts).
    Panic,
    /// Block inside the handler for this many milliseconds, as a slow user actor would.
    Sleep(u64),
}

/// The state of the counter kinds: a value plus per-sender sequence checking.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct CounterState {
    /// The value.
    pub value: i64,
    /// The last sequence number seen per sender.
    pub last: std::collections::BTreeMap<u32, u64>,
    /// `Seq` messages that did not follow their sender's previous one.
    pub out_of_order: u64,
}

fn counter_handle(message: CounterMsg, state: &mut CounterState) {
    match message {
        CounterMsg::Add(n) => state.value += n,
        CounterMsg::AddGet(n, reply) => {
            state.value += n;
            let _ = reply.send(state.value);
        }
        CounterMsg::Get(reply) => {
            let _ = reply.send(state.value);
        }
        CounterMsg::Seq(sender, n) => {
            let last = state.last.entry(sender).or_insert(0);
            if n != *last + 1 {
                state.out_of_order += 1;
            }
            *last = n;
            state.value += n as i64;
        }
        CounterMsg::Check(reply) => {
            let _ = reply.send((state.value, state.out_of_order));
        }
        CounterMsg::Panic => panic!("counter asked to panic"),
        CounterMsg::Sleep(_) => {}
    }
}

/// Declares a counter kind with a handoff mode; `$fragile` kinds refuse every snapshot on
/// restore (to exercise the fallback).
macro_rules! counter_kind {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $mode:expr, $fragile:expr) => {
        counter_kind!($(#[$doc])* $name, $kind, $mode, $fragile, Checkpoints::OFF);
    };
    ($(#[$doc:meta])* $name:ident, $kind:literal, $mode:expr, $fragile:expr, $checkpoints:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl DistActor for $name {
            const KIND: &'static str = $kind;
            type Msg = CounterMsg;
            type State = CounterState;
            type Arguments = i64;
            const HANDOFF: HandoffMode = $mode;
            const STATE_VERSION: u32 = 1;
            const CHECKPOINTS: Checkpoints = $checkpoints;

            async fn pre_start(
                &self,
                _myself: DistRef<CounterMsg>,
                start: i64,
            ) -> Result<CounterState, ActorProcessingErr> {
                Ok(CounterState { value: start, ..CounterState::default() })
            }

            async fn handle(
                &self,
                _myself: DistRef<CounterMsg>,
                message: CounterMsg,
                state: &mut CounterState,
            ) -> Result<(), ActorProcessingErr> {
                if let CounterMsg::Sleep(ms) = message {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    return Ok(());
                }
                counter_handle(message, state);
                Ok(())
            }

            fn snapshot(&self, state: &CounterState) -> Result<Vec<u8>, ActorProcessingErr> {
                Snapshot::encode(state)
            }

            async fn restore(
                &self,
                _myself: DistRef<CounterMsg>,
                _start: i64,
                snapshot: Snapshot,
            ) -> Result<CounterState, ActorProcessingErr> {
                if $fragile {
                    // Pretend the snapshot was written by an incompatible version.
                    let wrong = Snapshot { version: snapshot.version + 1, ..snapshot };
                    return wrong.decode(Self::STATE_VERSION);
                }
                snapshot.decode(Self::STATE_VERSION)
            }
        }
    };
}

counter_kind!(
    /// A counter that moves with its state (`Resume`).
    Counter, "counter", HandoffMode::Resume, false
);
counter_kind!(
    /// A counter that stays where it was spawned (`Stay`).
    StayCounter, "stay", HandoffMode::Stay, false
);
counter_kind!(
    /// A counter that restarts from its start value when it moves (`Restart`).
    RestartCounter, "restart", HandoffMode::Restart, false
);
counter_kind!(
    /// A `Resume` counter whose snapshots never restore (they fall back to `Restart`).
    FragileCounter, "fragile", HandoffMode::Resume, true
);
counter_kind!(
    /// A `Resume` counter checkpointed to its replicas after every message: a respawn
    /// after a crash keeps its value. Conflicts after a partition keep the newest copy.
    DurableCounter, "durable", HandoffMode::Resume, false, Checkpoints::every_messages(1)
);

/// The state of the `tally` kind: a grow-only counter (a G-counter CRDT) with one slot per
/// activation, so that two copies that diverged during a partition merge without losing
/// or double-counting an increment.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct TallyState {
    /// Increments per activation.
    pub parts: std::collections::BTreeMap<u64, i64>,
    /// This activation's slot (not part of the snapshot's meaning; replaced on restore).
    pub me: u64,
}

impl TallyState {
    fn fresh_slot() -> u64 {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (u64::from(std::process::id()) << 32) ^ n ^ (now_nanos() << 40)
    }

    fn value(&self) -> i64 {
        self.parts.values().sum()
    }

    fn add(&mut self, n: i64) -> i64 {
        *self.parts.entry(self.me).or_insert(0) += n;
        self.value()
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64)
}

/// A counter that merges after a partition (`ConflictPolicy::Merge`): increments made on
/// both sides all count. Checkpointed after every message.
pub struct Tally;

impl DistActor for Tally {
    const KIND: &'static str = "tally";
    type Msg = CounterMsg;
    type State = TallyState;
    type Arguments = i64;
    const HANDOFF: HandoffMode = HandoffMode::Resume;
    const CHECKPOINTS: Checkpoints = Checkpoints::every_messages(1);
    const ON_CONFLICT: ConflictPolicy = ConflictPolicy::Merge;

    async fn pre_start(
        &self,
        _: DistRef<CounterMsg>,
        start: i64,
    ) -> Result<TallyState, ActorProcessingErr> {
        let mut state = TallyState {
            me: 0,
            ..TallyState::default()
        };
        state.add(start);
        state.me = TallyState::fresh_slot();
        Ok(state)
    }

    async fn handle(
        &self,
        _: DistRef<CounterMsg>,
        message: CounterMsg,
        state: &mut TallyState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            CounterMsg::Add(n) => {
                state.add(n);
            }
            CounterMsg::AddGet(n, reply) => {
                let _ = reply.send(state.add(n));
            }
            CounterMsg::Get(reply) => {
                let _ = reply.send(state.value());
            }
            CounterMsg::Seq(_, n) => {
                state.add(n as i64);
            }
            CounterMsg::Check(reply) => {
                let _ = reply.send((state.value(), 0));
            }
            CounterMsg::Panic => panic!("tally asked to panic"),
            CounterMsg::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
        Ok(())
    }

    fn snapshot(&self, state: &TallyState) -> Result<Vec<u8>, ActorProcessingErr> {
        Snapshot::encode(&state.parts)
    }

    async fn restore(
        &self,
        _: DistRef<CounterMsg>,
        _: i64,
        snapshot: Snapshot,
    ) -> Result<TallyState, ActorProcessingErr> {
        Ok(TallyState {
            parts: snapshot.decode(Self::STATE_VERSION)?,
            me: TallyState::fresh_slot(),
        })
    }

    async fn merge(
        &self,
        _: DistRef<CounterMsg>,
        state: &mut TallyState,
        other: Snapshot,
    ) -> Result<(), ActorProcessingErr> {
        let other: std::collections::BTreeMap<u64, i64> = other.decode(Self::STATE_VERSION)?;
        for (slot, n) in other {
            let mine = state.parts.entry(slot).or_insert(n);
            *mine = (*mine).max(n);
        }
        Ok(())
    }
}

/// Messages of the `Blob` kind.
#[derive(RactorClusterMessage)]
pub enum BlobMsg {
    /// Length and a checksum of the blob.
    #[rpc]
    Digest(RpcReplyPort<(u64, u64)>),
}

/// An actor whose state is a large byte blob (to exercise chunked handoffs).
pub struct Blob;

impl DistActor for Blob {
    const KIND: &'static str = "blob";
    type Msg = BlobMsg;
    type State = serde_bytes::ByteBuf;
    type Arguments = (u64, u8);
    const HANDOFF: HandoffMode = HandoffMode::Resume;

    async fn pre_start(
        &self,
        _: DistRef<BlobMsg>,
        (len, seed): (u64, u8),
    ) -> Result<serde_bytes::ByteBuf, ActorProcessingErr> {
        Ok(serde_bytes::ByteBuf::from(
            (0..len)
                .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
                .collect::<Vec<u8>>(),
        ))
    }

    async fn handle(
        &self,
        _: DistRef<BlobMsg>,
        BlobMsg::Digest(reply): BlobMsg,
        blob: &mut serde_bytes::ByteBuf,
    ) -> Result<(), ActorProcessingErr> {
        let sum = blob.iter().fold(0u64, |acc, b| {
            acc.wrapping_mul(131).wrapping_add(u64::from(*b))
        });
        let _ = reply.send((blob.len() as u64, sum));
        Ok(())
    }

    fn snapshot(&self, blob: &serde_bytes::ByteBuf) -> Result<Vec<u8>, ActorProcessingErr> {
        Snapshot::encode(blob)
    }

    async fn restore(
        &self,
        _: DistRef<BlobMsg>,
        _: (u64, u8),
        snapshot: Snapshot,
    ) -> Result<serde_bytes::ByteBuf, ActorProcessingErr> {
        snapshot.decode(Self::STATE_VERSION)
    }
}

/// Messages of the `Ghost` kind: a different message type, used to provoke errors.
#[derive(RactorClusterMessage)]
pub enum GhostMsg {
    /// Anything.
    #[rpc]
    Boo(String, RpcReplyPort<String>),
}

/// A kind registered only on nodes started with `--ghost`.
pub struct Ghost;

impl DistActor for Ghost {
    const KIND: &'static str = "ghost";
    type Msg = GhostMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: DistRef<GhostMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

/// Command-line options of a console node.
#[derive(Debug, Clone)]
pub struct NodeArgs {
    /// The node configuration.
    pub config: DistConfig,
    /// Register the `ghost` kind.
    pub ghost: bool,
}

/// Parses `--name N --port P [--host H] [--seed ADDR]... [--cookie C] [--heartbeat-ms N]
/// [--deadline-ms N] [--handoff-ms N] [--ghost]`.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<NodeArgs> {
    let mut config = DistConfig::default();
    let mut ghost = false;
    let mut name = None;
    let mut port = None;
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| anyhow!("{flag} needs a value"));
        match flag.as_str() {
            "--name" => name = Some(value()?),
            "--port" => port = Some(value()?.parse().context("--port")?),
            "--host" => config.host = value()?,
            "--seed" => config.seeds.push(value()?),
            "--cookie" => config.cookie = value()?,
            "--heartbeat-ms" => {
                config.heartbeat_interval = Duration::from_millis(value()?.parse()?)
            }
            "--deadline-ms" => config.heartbeat_deadline = Duration::from_millis(value()?.parse()?),
            "--handoff-ms" => config.handoff_timeout = Duration::from_millis(value()?.parse()?),
            "--ghost" => ghost = true,
            "--max-frame-bytes" => config.max_frame_bytes = value()?.parse()?,
            "--replicas" => config.replicas = value()?.parse().context("--replicas")?,
            "--hold-per-name" => {
                config.hold_per_name = value()?.parse().context("--hold-per-name")?
            }
            "--hold-per-node" => {
                config.hold_per_node = value()?.parse().context("--hold-per-node")?
            }
            "--dial-via" => {
                let v = value()?;
                let (to, via) = v
                    .split_once('=')
                    .ok_or_else(|| anyhow!("--dial-via wants ADDR=VIA, got {v:?}"))?;
                config.dial_via.insert(to.to_string(), via.to_string());
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    config.name = name.ok_or_else(|| anyhow!("--name is required"))?;
    config.port = port.ok_or_else(|| anyhow!("--port is required"))?;
    Ok(NodeArgs { config, ghost })
}

/// Runs a console node until stdin closes or `quit`.
pub async fn run(args: NodeArgs) -> Result<()> {
    let mut kinds = Kinds::new()
        .with(Counter)
        .with(StayCounter)
        .with(RestartCounter)
        .with(FragileCounter)
        .with(DurableCounter)
        .with(Tally)
        .with(Blob);
    if args.ghost {
        kinds.register(Ghost);
    }
    let node = DistNode::start(args.config, kinds).await?;
    println!("ready {}", node.name());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut shutdown = Box::pin(shutdown_signal());
    loop {
        let line = tokio::select! {
            line = lines.next_line() => line?,
            _ = &mut shutdown => None,
        };
        let Some(line) = line else { break };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "quit" {
            println!("ok");
            break;
        }
        if line == "leave" {
            match node.leave().await {
                Ok(()) => println!("ok"),
                Err(e) => println!("error {e}"),
            }
            break;
        }
        match execute(&node, line).await {
            Ok(reply) if reply.is_empty() => println!("ok"),
            Ok(reply) => println!("ok {reply}"),
            Err(e) => println!("error {}", format!("{e:#}").replace('\n', " ")),
        }
    }
    node.shutdown().await?;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

const TIMEOUT: Duration = Duration::from_secs(5);

async fn execute(node: &DistNode, line: &str) -> Result<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let arg = |i: usize| {
        words
            .get(i)
            .copied()
            .ok_or_else(|| anyhow!("usage: see the console protocol (missing argument {i})"))
    };
    let number = |i: usize| -> Result<i64> {
        arg(i)?
            .parse::<i64>()
            .with_context(|| format!("{:?} is not an integer", words.get(i)))
    };
    let counter = |name: &str| {
        let name = name.to_string();
        async move { node.lookup::<CounterMsg>(name).await }
    };
    Ok(match words[0] {
        "spawn" => {
            let start = if words.len() > 2 { number(2)? } else { 0 };
            let r = node.spawn::<Counter>(arg(1)?, start).await?;
            r.host().await?.to_string()
        }
        "spawn-as" => {
            let (name, start) = (arg(2)?, number(3)?);
            let r = match arg(1)? {
                "counter" => node.spawn::<Counter>(name, start).await?,
                "stay" => node.spawn::<StayCounter>(name, start).await?,
                "restart" => node.spawn::<RestartCounter>(name, start).await?,
                "fragile" => node.spawn::<FragileCounter>(name, start).await?,
                "durable" => node.spawn::<DurableCounter>(name, start).await?,
                "tally" => node.spawn::<Tally>(name, start).await?,
                other => bail!("unknown counter kind {other:?} (counter, stay, restart, fragile, durable, tally)"),
            };
            r.host().await?.to_string()
        }
        "spawn-blob" => {
            let len = number(2)? as u64;
            let r = node.spawn::<Blob>(arg(1)?, (len, 7)).await?;
            r.host().await?.to_string()
        }
        "digest" => {
            let r = node.lookup::<BlobMsg>(arg(1)?).await?;
            let (len, sum) = r.call(BlobMsg::Digest, TIMEOUT).await?;
            format!("{len} {sum}")
        }
        "seq" => {
            let (sender, n) = (number(2)?, number(3)?);
            counter(arg(1)?)
                .await?
                .cast(CounterMsg::Seq(sender as u32, n as u64))?;
            String::new()
        }
        "check" => {
            let r = counter(arg(1)?).await?;
            let (value, out_of_order) = r.call(CounterMsg::Check, TIMEOUT).await?;
            format!("{value} {out_of_order}")
        }
        "add" => {
            let n = number(2)?;
            let r = counter(arg(1)?).await?;
            r.call(|p| CounterMsg::AddGet(n, p), TIMEOUT)
                .await?
                .to_string()
        }
        "cast" => {
            let n = number(2)?;
            counter(arg(1)?).await?.cast(CounterMsg::Add(n))?;
            String::new()
        }
        "get" => {
            let r = counter(arg(1)?).await?;
            r.call(CounterMsg::Get, TIMEOUT).await?.to_string()
        }
        "where" => {
            let (host, epoch) = node.where_is(arg(1)?).await?;
            format!("{host} {epoch}")
        }
        "owner" => node
            .owner_of(arg(1)?)
            .map(|n| n.to_string())
            .unwrap_or_default(),
        "stop" => {
            counter(arg(1)?).await?.stop().await?;
            String::new()
        }
        "sleep" => {
            // A cast: the counter blocks inside its own handler; the console goes on.
            let ms = number(2)?.max(0) as u64;
            counter(arg(1)?).await?.cast(CounterMsg::Sleep(ms))?;
            String::new()
        }
        "crash" => {
            counter(arg(1)?).await?.cast(CounterMsg::Panic)?;
            String::new()
        }
        "members" => node
            .members()
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" "),
        "local" => node.local_count().to_string(),
        "status" => {
            // Per-node load: hosted actors and their share of the total, sorted by node.
            let all = node.cluster_status().await?;
            let total: u64 = all.iter().map(|s| s.hosted).sum();
            let mut parts = vec![format!("total={total}")];
            for s in &all {
                let share = if total == 0 {
                    0.0
                } else {
                    100.0 * s.hosted as f64 / total as f64
                };
                parts.push(format!("{}={}:{share:.1}%", s.node, s.hosted));
            }
            parts.join(" ")
        }
        "stats" => {
            let s = node.status();
            format!(
                "node={} epoch={} members={} hosted={} directory={} settled={} moving={} buffered={} moved_in={} moved_out={} handoff_fallbacks={} bad_snapshots={} bad_frames={} version_mismatches={} refused_peers={} dropped_casts={} bad_messages={} unknown_kinds={} restarts={} forwarded={} peers_declared_down={}",
                s.node, s.epoch, s.members.len(), s.hosted, s.directory, s.settled, s.moving, s.buffered,
                s.moved_in, s.moved_out, s.handoff_fallbacks, s.bad_snapshots, s.bad_frames,
                s.version_mismatches, s.refused_peers, s.dropped_casts, s.bad_messages,
                s.unknown_kinds, s.restarts, s.forwarded, s.peers_declared_down
            ) + &format!(
                " replica_specs={} respawned={} conflicts={} checkpoints={} checkpoints_fenced={} checkpoint_failures={} checkpoints_too_large={} pauses={} fenced={} view_adopted_unix_us={} hold_refused={}",
                s.replica_specs, s.respawned, s.conflicts, s.checkpoints, s.checkpoints_fenced,
                s.checkpoint_failures, s.checkpoints_too_large, s.pauses, s.fenced,
                s.view_adopted_unix_us, s.hold_refused
            )
        }
        "spawn-ghost" => {
            let r = node.spawn::<Ghost>(arg(1)?, ()).await?;
            r.host().await?.to_string()
        }
        "bad" => {
            let r = node.lookup::<GhostMsg>(arg(1)?).await?;
            r.call(|p| GhostMsg::Boo("boo".into(), p), TIMEOUT).await?
        }
        other => bail!("unknown command {other:?}"),
    })
}
