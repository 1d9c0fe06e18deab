//! The console node: a ractor-dist node hosting every kind of [`super::kinds`], driven by
//! one command per stdin line (the protocol is documented on [`console_main`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};

mod args;
mod serve;

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
/// | `blob-sleep <name> <ms>` | `ok` at once (as `sleep`, for a blob) |
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
/// | `footprint` | `ok <table=entries ...>`: the size of each table of this node that grows with names, held messages or peers (`table=entries/bound` for a bounded cache; see `DistNode::footprint`) |
/// | `spawn-ghost <name>` | spawns a kind that is registered only on nodes started with `--ghost` |
/// | `bad <name>` | calls `<name>` with a message of another type (must fail cleanly) |
/// | `inject-garbage` | `ok <n>`: sends frames that do not decode (another protocol version, a malformed envelope, a truncated one) to the supervisors of the `n` peers this node has a session with, over those authenticated sessions |
/// | `inject-forged` | `ok <n>`: sends each peer `n` frames it must refuse, over this node's authenticated session with its token (a departure and a hello in another member's name, a hello for another node, an absurd weight, a generation past any fence, a `Yield` it may not ask for) |
/// | `leave` | hands every actor off, then `ok`, and the node exits 0 |
/// | `quit` | `ok`, then the node leaves (handing its actors off) and exits 0 |
///
/// Arguments (`--help` lists them, each with its unit, default and variable): `--name N
/// --port P [--host H] [--seed ADDR]... [--discovery SPEC]... [--nameserver IP:PORT]
/// [--refresh-ms N] [--cookie C] [--allow-default-cookie] [--tls-cert PATH --tls-key PATH
/// --tls-ca PATH] [--handshake-timeout-ms N] [--max-pending N] [--heartbeat-ms N]
/// [--deadline-ms N] [--handoff-ms N] [--reconnect-min-ms N] [--reconnect-max-ms N]
/// [--request-ms N] [--weight W] [--restart-limit N] [--restart-window-ms N]
/// [--max-active N] [--max-frame-bytes N] [--replicas N] [--hold-per-name N]
/// [--hold-per-node N] [--dial-via ADDR=VIA]... [--gossip-ms N] [--replica-push
/// deltas|full] [--data-dir PATH] [--config PATH] [--ghost] [--no-stdin] [--console ADDR]
/// [--health ADDR]`, or `--attach ADDR` alone. `--host` takes IPv6 literals (`::1`, the
/// node then advertises `[::1]:P`); `--discovery` takes the specs of
/// [`ractor_dist::discovery::DiscoverySpec`] (`static:HOST:PORT[,...]`, `dns:NAME:PORT`,
/// `srv:NAME`, `host:FIRST-LAST`, `multicast:GROUP:PORT`); `--refresh-ms 0` runs discovery
/// only at start.
///
/// Every setting can also come from the environment (`RACTOR_DIST_NAME`,
/// `RACTOR_DIST_PORT`, `RACTOR_DIST_DISCOVERY`, `RACTOR_DIST_COOKIE`, ...) and from a TOML
/// file (`--config PATH` or `RACTOR_DIST_CONFIG`; keys `name`, `port`, `heartbeat_ms`, ...):
/// the scheme is [`ractor_dist::core::config::SETTINGS`]. A flag wins over its variable,
/// which wins over the file, which wins over the defaults. Logs go to stderr (`RUST_LOG`,
/// default `warn,ractor_dist=info`).
///
/// For containers: `--no-stdin` reads no commands from stdin (the node runs until SIGTERM,
/// which makes it leave); `--console 127.0.0.1:7200` serves the same protocol over TCP
/// (each connection is first greeted with `ready <node-name>`), which `--attach
/// 127.0.0.1:7200` (started with `docker exec -i`) connects stdin and stdout to;
/// `--health 0.0.0.0:8080` answers HTTP `GET /ready` (200 when
/// [`ractor_dist::DistNode::is_ready`], else 503) and `GET /live`.
///
/// A binary that is a console node is one line, as in `examples/node.rs`:
/// `fn main() { ractor_dist_testkit::console_main(std::env::args().skip(1)) }`.
pub fn console_main(args: impl IntoIterator<Item = String>) -> ! {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colors only on a terminal (not in a container's or a test's log).
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,ractor_dist=info".into()),
        )
        .try_init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => exit_with(Err(e.into())),
    };
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let outcome = args::parse(args, &vars).and_then(|invocation| match invocation {
        args::Invocation::Node(node) => {
            let (config, cli) = *node;
            runtime.block_on(run(config, cli))
        }
        args::Invocation::Attach(addr) => runtime.block_on(serve::attach(addr)),
    });
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

/// Why the node stops, asked by a console connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// `quit`: shut down (leaving first).
    Quit,
    /// `leave`: the node already left; shut down.
    Left,
}

/// Runs a console node until stdin closes (unless `--no-stdin`), `quit`, `leave` (on stdin
/// or a `--console` connection), SIGTERM or Ctrl-C.
async fn run(config: DistConfig, cli: args::Cli) -> Result<(), Failure> {
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
    if cli.ghost {
        kinds.register(Ghost);
    }
    let node = DistNode::start(config, kinds).await?;
    let (stop_tx, mut stop_rx) = tokio::sync::mpsc::channel(1);
    if let Some(addr) = cli.console {
        serve::console(addr, node.clone(), stop_tx)
            .await
            .context(format_args!("--console {addr}"))?;
    }
    if let Some(addr) = cli.health {
        serve::health(addr, node.clone())
            .await
            .context(format_args!("--health {addr}"))?;
    }
    println!("ready {}", node.name());
    let mut lines = (!cli.no_stdin).then(|| BufReader::new(tokio::io::stdin()).lines());
    // SIGTERM or Ctrl-C: the node leaves and stops (between two commands: the future is
    // only polled while waiting for a line, and a signal meanwhile is kept until then).
    let until_signal = node.run_until_signal();
    tokio::pin!(until_signal);
    loop {
        let next_line = async {
            match lines.as_mut() {
                Some(lines) => lines.next_line().await,
                None => std::future::pending().await,
            }
        };
        let line = tokio::select! {
            biased;
            stopped = &mut until_signal => return Ok(stopped?),
            _ = stop_rx.recv() => break,
            line = next_line => line?,
        };
        let Some(line) = line else { break };
        let (reply, then) = answer(&node, line.trim()).await;
        if let Some(reply) = reply {
            println!("{reply}");
        }
        if then.is_some() {
            break;
        }
    }
    node.shutdown().await?;
    Ok(())
}

/// The reply to one console line (`None` for an empty line), and whether the node stops
/// after it.
async fn answer(node: &DistNode, line: &str) -> (Option<String>, Option<Stop>) {
    match line {
        "" => (None, None),
        "quit" => (Some("ok".into()), Some(Stop::Quit)),
        "leave" => {
            let reply = match node.leave().await {
                Ok(()) => "ok".to_string(),
                Err(e) => format!("error {e}"),
            };
            (Some(reply), Some(Stop::Left))
        }
        _ => {
            let reply = match execute(node, line).await {
                Ok(reply) if reply.is_empty() => "ok".to_string(),
                Ok(reply) => format!("ok {reply}"),
                Err(Failure(e)) => format!("error {}", e.replace('\n', " ")),
            };
            (Some(reply), None)
        }
    }
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
        "blob-sleep" => {
            // As `sleep`, for a blob.
            let ms = number(2)?.max(0) as u64;
            let r = node.lookup::<BlobMsg>(arg(1)?).await?;
            r.cast(BlobMsg::Sleep(ms))?;
            String::new()
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
        "inject-forged" => node.inject_forged_frames().to_string(),
        "inject-garbage" => {
            // Straight to the peers' supervisors over ractor_cluster's authenticated
            // sessions, as a peer with the cookie but a broken (or hostile) build would.
            use ractor::message::SerializedMessage;
            let version = ractor_dist::PROTOCOL_VERSION;
            let frames: [Vec<u8>; 3] = [
                [version.wrapping_add(1).to_le_bytes().as_slice(), &[0u8; 30]].concat(),
                [version.to_le_bytes().as_slice(), &[0xff; 40]].concat(),
                vec![version.to_le_bytes()[0]],
            ];
            let peers: Vec<ractor::ActorCell> =
                ractor::pg::get_members(&"ractor_dist::gateways".to_string())
                    .into_iter()
                    .filter(|c| !c.get_id().is_local())
                    .collect();
            for cell in &peers {
                for args in &frames {
                    let _ = cell.send_serialized(SerializedMessage::Cast {
                        variant: "frame".to_string(),
                        args: args.clone(),
                        metadata: None,
                    });
                }
            }
            peers.len().to_string()
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
        "footprint" => node.footprint().await?.to_string(),
        "stats" => {
            let s = node.status();
            format!(
                "node={} epoch={} members={} hosted={} directory={} settled={} moving={} buffered={} moved_in={} moved_out={} handoff_fallbacks={} bad_snapshots={} bad_frames={} version_mismatches={} refused_peers={} dropped_casts={} bad_messages={} unknown_kinds={} restarts={} forwarded={} peers_declared_down={}",
                s.node, s.epoch, s.members.len(), s.hosted, s.directory, s.settled, s.moving, s.buffered,
                s.moved_in, s.moved_out, s.handoff_fallbacks, s.bad_snapshots, s.bad_frames,
                s.version_mismatches, s.refused_peers, s.dropped_casts, s.bad_messages,
                s.unknown_kinds, s.restarts, s.forwarded, s.peers_declared_down
            ) + &format!(
                " replica_specs={} under_replicated={} respawned={} conflicts={} checkpoints={} checkpoints_fenced={} checkpoint_failures={} checkpoints_too_large={} pauses={} fenced={} view_adopted_unix_us={} hold_refused={} settled_by_deadline={} offers_resent={} notices_resent={} gaps_skipped={}",
                s.replica_specs, s.under_replicated, s.respawned, s.conflicts, s.checkpoints, s.checkpoints_fenced,
                s.checkpoint_failures, s.checkpoints_too_large, s.pauses, s.fenced,
                s.view_adopted_unix_us, s.hold_refused, s.settled_by_deadline, s.offers_resent, s.notices_resent, s.gaps_skipped
            ) + &{
                let m = node.mesh_stats();
                format!(
                    " dials={} dial_targets={} dials_identified={} sessions_replaced={} dials_forgotten={} discovered={} discovery_rounds={} discovery_errors={}",
                    m.dials, m.dial_targets, m.dials_identified, m.sessions_replaced,
                    m.dials_forgotten, m.discovered, m.discovery_rounds, m.discovery_errors
                )
            } + &{
                let m = node.move_stats();
                format!(
                    " batches_resent={} reassembly_bytes={}",
                    m.batches_resent, m.reassembly_bytes
                )
            } + &{
                let l = node.lookup_stats();
                format!(
                    " lookups_asked={} lookup_cache_hits={}",
                    l.asked, l.cache_hits
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
