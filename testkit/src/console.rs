//! The console node: a ractor-dist node hosting every kind of [`super::kinds`], driven by
//! one command per stdin line (the protocol is documented on [`console_main`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

use super::kinds::{
    Blob, BlobMsg, Counter, CounterMsg, DurableCounter, FragileCounter, Ghost, GhostMsg,
    PanickyCounter, RestartCounter, SlowArgs, SlowCounter, StayCounter, Tally,
};
use ractor_dist::core::replicated::Counter as RCounter;
use ractor_dist::{Crdt, DistConfig, DistNode, Kinds, OrSet, Replicated};

/// Runs a console node with these command-line arguments until stdin closes, `quit`,
/// `leave`, SIGTERM or Ctrl-C, then exits the process: 0 after a clean shutdown, 1 (with
/// the reason on stderr) when the arguments are wrong or the node fails.
///
/// It prints `ready <node-name>` once it listens, then answers every stdin line with
/// exactly one line starting with `ok` or `error`:
///
/// | command | reply |
/// |---|---|
/// | `spawn <name> [start]` | `ok <host-node>` |
/// | `spawn-as <counter\|stay\|restart\|fragile\|durable\|tally\|panicky> <name> <start>` | `ok <host-node>` (a counter with that handoff mode; `durable` checkpoints every message, `tally` also merges after partitions, `panicky` panics in `snapshot()`) |
/// | `spawn-slow <name> <start> <ms>` | `ok <host-node>` (a counter whose `pre_start` and `restore` take `<ms>`) |
/// | `seq <name> <sender> <n>` | `ok` (casts increment `n`, message number `n` of `sender`) |
/// | `check <name>` | `ok <value> <number of seq messages out of order>` |
/// | `spawn-blob <name> <bytes>` | `ok <host-node>` (an actor whose state is a blob of that size) |
/// | `digest <name>` | `ok <blob length> <checksum>` |
/// | `add <name> <n>` | `ok <new value>` |
/// | `cast <name> <n>` | `ok` (fire and forget) |
/// | `get <name>` | `ok <value>` |
/// | `where <name>` | `ok <host-node> <epoch>` |
/// | `owner <name>` | `ok <rendezvous owner in this node's view>` |
/// | `stop <name>` | `ok` |
/// | `sleep <name> <ms>` | `ok` at once (a cast: the counter then blocks inside its own handler for `ms`, as a slow user actor would) |
/// | `crash <name>` | `ok` (the counter panics and is restarted from its start value) |
/// | `members` | `ok <live node names, sorted, space separated>` |
/// | `rinc <name> <n>` | `ok` (adds `n`, maybe negative, to the replicated counter `name`) |
/// | `rget <name>` | `ok <value>` (this node's view of the replicated counter `name`) |
/// | `radd <set> <elem>`, `rdel <set> <elem>` | `ok` (edits the replicated set of strings `set`) |
/// | `rmembers <set>` | `ok <elements, sorted, space separated>` (this node's view) |
/// | `nodes up` | `ok <up node names, sorted, space separated>` (as `members`) |
/// | `nodes all` | `ok <known node names, sorted, space separated>` (up or not, this node included unless removed) |
/// | `add-node <host:port>` | `ok` (dials it; the node found there is added to the known set, back if it was removed) |
/// | `del-node <node>` | `ok` (removes the node from the known set, cluster-wide: it leaves and stops if up, and is refused until added back) |
/// | `changes <name>` | `ok <number of change callbacks this node saw for the replicated value name>` |
/// | `local` | `ok <number of actors hosted here>` |
/// | `status` | `ok total=<actors> <node>=<hosted>:<share>% ...` (every live node, sorted) |
/// | `stats` | `ok <key=value counters of this node>` |
/// | `spawn-ghost <name>` | spawns a kind that is registered only on nodes started with `--ghost` |
/// | `bad <name>` | calls `<name>` with a message of another type (must fail cleanly) |
/// | `leave` | hands every actor off, then `ok`, and the node exits 0 |
/// | `quit` | `ok`, then the node leaves (handing its actors off) and exits 0 |
///
/// Arguments: `--name N --port P [--host H] [--seed ADDR]... [--discovery SPEC]...
/// [--nameserver IP:PORT] [--refresh-ms N] [--cookie C] [--allow-default-cookie]
/// [--tls-cert PATH --tls-key PATH --tls-ca PATH] [--handshake-timeout-ms N] [--max-pending N]
/// [--heartbeat-ms N] [--deadline-ms N] [--handoff-ms N] [--reconnect-max-ms N] [--weight W]
/// [--max-frame-bytes N]
/// [--replicas N] [--hold-per-name N] [--hold-per-node N] [--dial-via ADDR=VIA]...
/// [--gossip-ms N] [--data-dir PATH] [--ghost]`. `--host` takes IPv6 literals (`::1`, the
/// node then advertises `[::1]:P`); `--discovery` takes the specs of
/// [`ractor_dist::discovery::DiscoverySpec`] (`static:HOST:PORT[,...]`, `dns:NAME:PORT`,
/// `srv:NAME`, `host:FIRST-LAST`, `multicast:GROUP:PORT`); `--refresh-ms 0` runs discovery
/// only at start. Every setting can also come from the environment (`RACTOR_DIST_NAME`,
/// `RACTOR_DIST_PORT`, `RACTOR_DIST_DISCOVERY`, `RACTOR_DIST_COOKIE`, ...: the list is
/// [`ractor_dist::core::config::ENV_VARS`]); a flag wins over its variable. Logs go
/// to stderr (`RUST_LOG`, default `warn,ractor_dist=info`).
///
/// A binary that is a console node is one line, as in `examples/node.rs`:
/// `fn main() { ractor_dist_testkit::console_main(std::env::args().skip(1)) }`.
pub fn console_main(args: impl IntoIterator<Item = String>) -> ! {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,ractor_dist=info".into()),
        )
        .try_init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => exit_with(Err(e.into())),
    };
    let outcome = parse_args(args).and_then(|args| runtime.block_on(run(args)));
    // A read of stdin may still be pending in tokio's blocking pool (after SIGTERM, say):
    // dropping the runtime would wait for it, so exit while it is still alive.
    exit_with(outcome)
}

/// Exits the process: 0 after `Ok`, else 1 with the reason on stderr.
fn exit_with(outcome: Result<(), Failure>) -> ! {
    match outcome {
        Ok(()) => std::process::exit(0),
        Err(Failure(e)) => {
            eprintln!("Error: {e}");
            std::process::exit(1)
        }
    }
}

/// Why a console command (or the node) failed: the message, with its causes joined by
/// `": "`.
struct Failure(String);

impl<E: std::error::Error> From<E> for Failure {
    fn from(e: E) -> Self {
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        Failure(text)
    }
}

/// Returns early with a [`Failure`] built like `format!`.
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err(Failure(format!($($arg)*)))
    };
}

/// Adds what was being done in front of a failure.
trait Context<T> {
    fn context(self, what: impl fmt::Display) -> Result<T, Failure>;
}

impl<T, E: Into<Failure>> Context<T> for Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T, Failure> {
        self.map_err(|e| Failure(format!("{what}: {}", e.into().0)))
    }
}

/// Command-line options of a console node.
struct NodeArgs {
    /// The node configuration.
    config: DistConfig,
    /// Register the `ghost` kind.
    ghost: bool,
}

/// Parses the arguments documented on [`console_main`].
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<NodeArgs, Failure> {
    // The environment first (`RACTOR_DIST_*`), then the flags over it.
    let mut config = DistConfig::default();
    let vars: Vec<(String, String)> = std::env::vars().collect();
    for var in config.apply_env(vars.iter().cloned())? {
        // The test kit's own switch is not a node setting.
        if var != "RACTOR_DIST_TEST_LOGS" {
            eprintln!("warning: ignoring unknown environment variable {var}");
        }
    }
    let set = |var: &str| vars.iter().any(|(k, _)| k == var);
    let mut ghost = false;
    let mut name = set("RACTOR_DIST_NAME").then(|| config.name.clone());
    let mut port = set("RACTOR_DIST_PORT").then_some(config.port);
    let mut tls: [Option<std::path::PathBuf>; 3] = [None, None, None];
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| Failure(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--name" => name = Some(value()?),
            "--port" => port = Some(value()?.parse::<u16>().context("--port")?),
            "--host" => config.host = value()?,
            "--seed" => config.seeds.push(value()?),
            "--discovery" => config
                .discovery
                .push(value()?.parse().context("--discovery")?),
            "--nameserver" => {
                config.nameserver = Some(value()?.parse().context("--nameserver (IP:PORT)")?)
            }
            "--refresh-ms" => {
                let ms: u64 = value()?.parse().context("--refresh-ms")?;
                config.refresh_interval = (ms > 0).then(|| Duration::from_millis(ms));
            }
            "--cookie" => config.cookie = value()?,
            "--allow-default-cookie" => config.allow_default_cookie = true,
            "--tls-cert" => tls[0] = Some(value()?.into()),
            "--tls-key" => tls[1] = Some(value()?.into()),
            "--tls-ca" => tls[2] = Some(value()?.into()),
            "--handshake-timeout-ms" => {
                config.handshake_timeout = Duration::from_millis(value()?.parse()?)
            }
            "--max-pending" => {
                config.max_pending_connections = value()?.parse().context("--max-pending")?
            }
            "--heartbeat-ms" => {
                config.heartbeat_interval = Duration::from_millis(value()?.parse()?)
            }
            "--deadline-ms" => config.heartbeat_deadline = Duration::from_millis(value()?.parse()?),
            "--handoff-ms" => config.handoff_timeout = Duration::from_millis(value()?.parse()?),
            "--reconnect-max-ms" => config.reconnect_max = Duration::from_millis(value()?.parse()?),
            "--weight" => config.weight = value()?.parse().context("--weight")?,
            "--ghost" => ghost = true,
            "--data-dir" => config.data_dir = Some(value()?.into()),
            "--gossip-ms" => config.gossip_interval = Duration::from_millis(value()?.parse()?),
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
                    .ok_or_else(|| Failure(format!("--dial-via wants ADDR=VIA, got {v:?}")))?;
                config.dial_via.insert(to.to_string(), via.to_string());
            }
            other => fail!("unknown argument {other:?}"),
        }
    }
    match tls {
        [Some(cert), Some(key), Some(ca)] => {
            config.tls = Some(ractor_dist::TlsFiles { cert, key, ca })
        }
        [None, None, None] => {}
        _ => fail!("--tls-cert, --tls-key and --tls-ca go together"),
    }
    config.name =
        name.ok_or_else(|| Failure("--name (or RACTOR_DIST_NAME) is required".to_string()))?;
    config.port =
        port.ok_or_else(|| Failure("--port (or RACTOR_DIST_PORT) is required".to_string()))?;
    Ok(NodeArgs { config, ghost })
}

/// Runs a console node until stdin closes or `quit`.
async fn run(args: NodeArgs) -> Result<(), Failure> {
    let mut kinds = Kinds::new()
        .with(Counter)
        .with(StayCounter)
        .with(RestartCounter)
        .with(FragileCounter)
        .with(DurableCounter)
        .with(Tally)
        .with(Blob)
        .with(SlowCounter)
        .with(PanickyCounter);
    if args.ghost {
        kinds.register(Ghost);
    }
    let node = DistNode::start(args.config, kinds).await?;
    println!("ready {}", node.name());
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    // SIGTERM or Ctrl-C: the node leaves and stops (between two commands: the future is
    // only polled while waiting for a line, and a signal meanwhile is kept until then).
    let until_signal = node.run_until_signal();
    tokio::pin!(until_signal);
    loop {
        let line = tokio::select! {
            biased;
            stopped = &mut until_signal => return Ok(stopped?),
            line = lines.next_line() => line?,
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
            Err(Failure(e)) => println!("error {}", e.replace('\n', " ")),
        }
    }
    node.shutdown().await?;
    Ok(())
}

const TIMEOUT: Duration = Duration::from_secs(5);

/// How many change callbacks this node saw, per replicated value (`changes <name>`).
fn change_counts() -> MutexGuard<'static, HashMap<String, Arc<AtomicU64>>> {
    static COUNTS: OnceLock<Mutex<HashMap<String, Arc<AtomicU64>>>> = OnceLock::new();
    COUNTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// The replicated value `name` as a `T`; the first time, a change callback that counts.
fn replica<T: Crdt>(node: &DistNode, name: &str) -> Result<Replicated<T>, Failure> {
    let handle = node.replicated::<T>(name)?;
    let mut counts = change_counts();
    if !counts.contains_key(name) {
        let count = Arc::new(AtomicU64::new(0));
        counts.insert(name.to_string(), count.clone());
        handle.on_state_change(move |_: &T, _: &T| {
            count.fetch_add(1, Ordering::Relaxed);
        });
    }
    Ok(handle)
}

async fn execute(node: &DistNode, line: &str) -> Result<String, Failure> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let arg = |i: usize| {
        words.get(i).copied().ok_or_else(|| {
            Failure(format!(
                "usage: see the console protocol (missing argument {i})"
            ))
        })
    };
    let number = |i: usize| -> Result<i64, Failure> {
        arg(i)?
            .parse::<i64>()
            .context(format_args!("{:?} is not an integer", words.get(i)))
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
                "panicky" => node.spawn::<PanickyCounter>(name, start).await?,
                other => fail!("unknown counter kind {other:?} (counter, stay, restart, fragile, durable, tally, panicky)"),
            };
            r.host().await?.to_string()
        }
        "spawn-slow" => {
            let args = SlowArgs {
                start: number(2)?,
                delay_ms: number(3)?.max(0) as u64,
            };
            let r = node.spawn::<SlowCounter>(arg(1)?, args).await?;
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
            counter(arg(1)?).await?.stop_and_wait(None, None).await?;
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
                " replica_specs={} respawned={} conflicts={} checkpoints={} checkpoints_fenced={} checkpoint_failures={} checkpoints_too_large={} pauses={} fenced={} view_adopted_unix_us={} hold_refused={} settled_by_deadline={} offers_resent={} notices_resent={}",
                s.replica_specs, s.respawned, s.conflicts, s.checkpoints, s.checkpoints_fenced,
                s.checkpoint_failures, s.checkpoints_too_large, s.pauses, s.fenced,
                s.view_adopted_unix_us, s.hold_refused, s.settled_by_deadline, s.offers_resent, s.notices_resent
            ) + &{
                let m = node.mesh_stats();
                format!(
                    " dials={} dial_targets={} dials_identified={} sessions_replaced={} dials_forgotten={} discovered={} discovery_rounds={} discovery_errors={}",
                    m.dials, m.dial_targets, m.dials_identified, m.sessions_replaced,
                    m.dials_forgotten, m.discovered, m.discovery_rounds, m.discovery_errors
                )
            } + &{
                let t = node.security_stats();
                format!(
                    " frames_refused={} tls_failures={} identity_mismatches={} handshake_timeouts={} connections_over_cap={} pending_connections={}",
                    t.frames_refused, t.tls_failures, t.identity_mismatches, t.handshake_timeouts,
                    t.connections_over_cap, t.pending_connections
                )
            } + &{
                let r = node.replica_stats();
                format!(
                    " replica_changes={} replica_deltas={} replica_states={} replica_duplicates={} replica_gaps={} replica_refused={} replica_unknown={} replica_bytes_sent={}",
                    r.changes, r.deltas_applied, r.states_merged, r.duplicates, r.gaps,
                    r.refused, r.unknown_names, r.bytes_sent
                )
            }
        }
        "rinc" => {
            let n = number(2)?;
            replica::<RCounter>(node, arg(1)?)?.update(|c, me| match u64::try_from(n) {
                Ok(up) => c.inc_many(me.clone(), up),
                Err(_) => c.dec_many(me.clone(), n.unsigned_abs()),
            })?;
            String::new()
        }
        "rget" => replica::<RCounter>(node, arg(1)?)?.get().read().to_string(),
        "radd" => {
            let elem = arg(2)?.to_string();
            replica::<OrSet<String>>(node, arg(1)?)?
                .update(|s, me| s.add(elem, s.read_ctx().derive_add_ctx(me.clone())))?;
            String::new()
        }
        "rdel" => {
            let elem = arg(2)?.to_string();
            replica::<OrSet<String>>(node, arg(1)?)?
                .update(|s, _| s.rm(elem.clone(), s.contains(&elem).derive_rm_ctx()))?;
            String::new()
        }
        "rmembers" => {
            let set = replica::<OrSet<String>>(node, arg(1)?)?.get();
            let mut members: Vec<String> = set.read().val.into_iter().collect();
            members.sort();
            members.join(" ")
        }
        "nodes" => match arg(1)? {
            "up" => {
                let mut up: Vec<String> = node.members().iter().map(|m| m.to_string()).collect();
                up.sort();
                up.join(" ")
            }
            "all" => {
                let all: Vec<String> = node.all().iter().map(|m| m.to_string()).collect();
                all.join(" ")
            }
            other => fail!("nodes {other:?}: `nodes up` or `nodes all`"),
        },
        "add-node" => {
            node.add_node(arg(1)?).await?;
            String::new()
        }
        "del-node" => {
            node.del_node(arg(1)?).await?;
            String::new()
        }
        "changes" => change_counts()
            .get(arg(1)?)
            .map_or(0, |n| n.load(Ordering::Relaxed))
            .to_string(),
        "spawn-ghost" => {
            let r = node.spawn::<Ghost>(arg(1)?, ()).await?;
            r.host().await?.to_string()
        }
        "bad" => {
            let r = node.lookup::<GhostMsg>(arg(1)?).await?;
            r.call(|p| GhostMsg::Boo("boo".into(), p), TIMEOUT).await?
        }
        other => fail!("unknown command {other:?}"),
    })
}
