//! State encoding and checkpoint cost (see BENCHMARKS.md).
//!
//! ```text
//! cargo bench -p integration-tests --bench checkpoints              # everything
//! cargo bench -p integration-tests --bench checkpoints -- encoding  # B17 only
//! cargo bench -p integration-tests --bench checkpoints -- b16       # B16 only
//! ```
//!
//! - **B16**, checkpoint cost: writes to a session of 3,000 events hosted on one of two
//!   in-process nodes (the other keeps its spec and checkpoints), without checkpoints and
//!   with a checkpoint after every message: whole, with deltas, coalesced, both. A stream of
//!   casts (then a call), and calls one after the other; each mode in turn, over rounds.
//! - **B17**, encoding: `Snapshot::encode` / `Snapshot::decode` (MessagePack with named
//!   fields) against bincode 1 (what they used before) on a 1 KiB blob and on a session of
//!   3,000 events, alternating the two over several rounds, medians.
//!
//! Every figure is a ratio against a baseline measured in the same run.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use ractor::{ActorProcessingErr, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::transport::MemoryNetwork;
use ractor_dist::{
    Checkpoints, DistActor, DistConfig, DistNode, DistRef, HandoffMode, Kinds, Snapshot,
};
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

const ROUNDS: usize = 7;
const T: Duration = Duration::from_secs(30);

/// One event of a session: what the B16 session kind keeps too.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Event {
    seq: u64,
    text: String,
}

/// A user session's state: its events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Session {
    user: String,
    events: Vec<Event>,
}

fn session(events: usize) -> Session {
    Session {
        user: "user-42".into(),
        events: (0..events as u64)
            .map(|seq| Event {
                seq,
                text: format!("page view /products/{seq}"),
            })
            .collect(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Median time per call of `f` over `ROUNDS` rounds of `iters` calls.
fn per_call(iters: u32, mut f: impl FnMut()) -> Vec<f64> {
    (0..ROUNDS)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_secs_f64() / f64::from(iters)
        })
        .collect()
}

fn us(s: f64) -> String {
    format!("{:.2} µs", s * 1e6)
}

/// B17 on one state: encode and decode with bincode 1 and with `Snapshot`.
fn encoding_of<T>(what: &str, state: &T, iters: u32)
where
    T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let ours = Snapshot::new(1, Snapshot::encode(state).unwrap());
    let theirs = bincode::serialize(state).unwrap();
    assert_eq!(&ours.decode::<T>(1).unwrap(), state);
    assert_eq!(&bincode::deserialize::<T>(&theirs).unwrap(), state);
    let (mut be, mut me, mut bd, mut md) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        be.extend(per_call(iters, || {
            std::hint::black_box(bincode::serialize(state).unwrap());
        }));
        me.extend(per_call(iters, || {
            std::hint::black_box(Snapshot::encode(state).unwrap());
        }));
        bd.extend(per_call(iters, || {
            std::hint::black_box(bincode::deserialize::<T>(&theirs).unwrap());
        }));
        md.extend(per_call(iters, || {
            std::hint::black_box(ours.decode::<T>(1).unwrap());
        }));
    }
    let (be, me, bd, md) = (median(be), median(me), median(bd), median(md));
    println!(
        "B17 {what}: bytes bincode {} / ours {}; encode {} / {} = {:.2}x; decode {} / {} = {:.2}x",
        theirs.len(),
        ours.bytes.len(),
        us(be),
        us(me),
        me / be,
        us(bd),
        us(md),
        md / bd,
    );
}

fn encoding() {
    println!("B17: Snapshot::encode/decode (MessagePack, named fields) against bincode 1");
    encoding_of(
        "1 KiB blob (ByteBuf)",
        &ByteBuf::from(vec![7u8; 1024]),
        20_000,
    );
    let small = session(20);
    println!(
        "    (a 20-event session is {} bytes in bincode)",
        bincode::serialize(&small).unwrap().len()
    );
    encoding_of("1 KiB session (20 events)", &small, 20_000);
    encoding_of("3,000-event session", &session(3000), 100);
}

fn main() -> Result<()> {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |what: &str| only.is_empty() || only.iter().any(|o| o == what);
    if wants("encoding") {
        encoding();
    }
    if wants("b16") {
        b16()?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// B16: writes to a session of 3,000 events, checkpointed after every message or not.

#[derive(RactorClusterMessage)]
enum SessionMsg {
    Event(String),
    #[rpc]
    Record(String, RpcReplyPort<u64>),
    #[rpc]
    Len(RpcReplyPort<u64>),
}

/// The session's state: its events, and how many of them a checkpoint holds.
#[derive(Serialize, Deserialize)]
struct SessionState {
    session: Session,
    #[serde(skip)]
    sent: usize,
}

/// How a session kind checkpoints (its `MODE`).
const OFF: u8 = 0;
const WHOLE: u8 = 1;
const DELTAS: u8 = 2;
const COALESCED: u8 = 3;
const DELTAS_COALESCED: u8 = 4;

fn mode_name(mode: u8) -> &'static str {
    match mode {
        OFF => "no checkpoints",
        WHOLE => "every message, whole",
        DELTAS => "every message, deltas",
        COALESCED => "every message, whole, coalesced",
        _ => "every message, deltas, coalesced",
    }
}

/// A user session that appends events; `MODE` says how it checkpoints.
struct SessionKind<const MODE: u8>;

impl<const MODE: u8> DistActor for SessionKind<MODE> {
    const KIND: &'static str = match MODE {
        OFF => "session-off",
        WHOLE => "session-whole",
        DELTAS => "session-deltas",
        COALESCED => "session-coalesced",
        _ => "session-deltas-coalesced",
    };
    type Msg = SessionMsg;
    type State = SessionState;
    type Arguments = u64;
    const HANDOFF: HandoffMode = HandoffMode::Resume;
    const CHECKPOINTS: Checkpoints = match MODE {
        OFF => Checkpoints::OFF,
        WHOLE | DELTAS => Checkpoints::every_messages(1),
        _ => Checkpoints::every_messages(1).coalesce(Duration::ZERO),
    };

    async fn pre_start(
        &self,
        _: DistRef<SessionMsg>,
        events: u64,
    ) -> Result<SessionState, ActorProcessingErr> {
        Ok(SessionState {
            session: session(events as usize),
            sent: 0,
        })
    }

    async fn handle(
        &self,
        _: DistRef<SessionMsg>,
        msg: SessionMsg,
        s: &mut SessionState,
    ) -> Result<(), ActorProcessingErr> {
        let events = &mut s.session.events;
        match msg {
            SessionMsg::Event(text) => events.push(Event {
                seq: events.len() as u64,
                text,
            }),
            SessionMsg::Record(text, reply) => {
                events.push(Event {
                    seq: events.len() as u64,
                    text,
                });
                let _ = reply.send(events.len() as u64);
            }
            SessionMsg::Len(reply) => {
                let _ = reply.send(events.len() as u64);
            }
        }
        Ok(())
    }

    fn snapshot(&self, s: &SessionState) -> Result<Vec<u8>, ActorProcessingErr> {
        Snapshot::encode(&s.session)
    }

    async fn restore(
        &self,
        _: DistRef<SessionMsg>,
        _: u64,
        snapshot: Snapshot,
    ) -> Result<SessionState, ActorProcessingErr> {
        let session: Session = snapshot.decode(Self::STATE_VERSION)?;
        let sent = session.events.len();
        Ok(SessionState { session, sent })
    }

    fn checkpoint_delta(
        &self,
        s: &mut SessionState,
    ) -> Option<Result<Vec<u8>, ActorProcessingErr>> {
        if MODE != DELTAS && MODE != DELTAS_COALESCED {
            return None;
        }
        let delta = Snapshot::encode(&s.session.events[s.sent..]);
        s.sent = s.session.events.len();
        Some(delta)
    }

    fn apply_delta(&self, s: &mut SessionState, delta: &[u8]) -> Result<(), ActorProcessingErr> {
        let new: Vec<Event> = Snapshot::new(1, delta.to_vec()).decode(1)?;
        s.session.events.extend(new);
        s.sent = s.session.events.len();
        Ok(())
    }
}

const MODES: [u8; 5] = [OFF, WHOLE, DELTAS, COALESCED, DELTAS_COALESCED];
const STREAM: usize = 2_000;
const CALLS: usize = 300;

async fn b16_nodes(net: &MemoryNetwork) -> Result<(DistNode, DistNode)> {
    let kinds = || {
        Kinds::new()
            .with(SessionKind::<OFF>)
            .with(SessionKind::<WHOLE>)
            .with(SessionKind::<DELTAS>)
            .with(SessionKind::<COALESCED>)
            .with(SessionKind::<DELTAS_COALESCED>)
    };
    let config = |name: &str, port: u16, seeds: Vec<String>| DistConfig {
        seeds,
        replicas: 2,
        ..DistConfig::new(name, port)
    };
    let a = net.start(config("a", 1, vec![]), kinds()).await?;
    let b = net
        .start(config("b", 2, vec!["127.0.0.1:1".into()]), kinds())
        .await?;
    a.wait_for_members(2, T).await?;
    b.wait_for_members(2, T).await?;
    Ok((a, b))
}

/// A fresh 3,000-event session of `MODE`, as a handle on the node that hosts it (the
/// writer is local: what is measured is the checkpoint, not the network).
async fn b16_session<const MODE: u8>(
    a: &DistNode,
    b: &DistNode,
    name: &str,
) -> Result<(DistRef<SessionMsg>, DistNode)> {
    a.spawn::<SessionKind<MODE>>(name, 3_000).await?;
    let host = if a.owner_of(name).as_ref() == Some(a.name()) {
        a.clone()
    } else {
        b.clone()
    };
    let handle = host.lookup::<SessionMsg>(name).await?;
    Ok((handle, host))
}

/// Seconds for `STREAM` casts then a call, and for `CALLS` calls one after the other.
async fn b16_write(s: &DistRef<SessionMsg>) -> Result<(f64, f64)> {
    let t = Instant::now();
    for i in 0..STREAM {
        s.cast(SessionMsg::Event(format!("click /products/{i}")))?;
    }
    s.call(SessionMsg::Len, T).await?;
    let stream = t.elapsed().as_secs_f64();
    let t = Instant::now();
    for i in 0..CALLS {
        s.call(|r| SessionMsg::Record(format!("click /cart/{i}"), r), T)
            .await?;
    }
    Ok((stream, t.elapsed().as_secs_f64()))
}

/// Waits until `host` sent no checkpoint for 100 ms (the last round's are out).
async fn b16_quiet(host: &DistNode) {
    let mut last = host.status().checkpoints;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = host.status().checkpoints;
        if now == last {
            return;
        }
        last = now;
    }
}

async fn b16_round(a: &DistNode, b: &DistNode, mode: u8, round: usize) -> Result<(f64, f64, u64)> {
    let name = format!("s{mode}-{round}");
    let (s, host) = match mode {
        OFF => b16_session::<OFF>(a, b, &name).await?,
        WHOLE => b16_session::<WHOLE>(a, b, &name).await?,
        DELTAS => b16_session::<DELTAS>(a, b, &name).await?,
        COALESCED => b16_session::<COALESCED>(a, b, &name).await?,
        _ => b16_session::<DELTAS_COALESCED>(a, b, &name).await?,
    };
    s.call(SessionMsg::Len, T).await?;
    b16_quiet(&host).await;
    let before = host.status().checkpoints;
    let (stream, calls) = b16_write(&s).await?;
    b16_quiet(&host).await;
    let taken = host.status().checkpoints - before;
    s.stop_and_wait(None, None).await?;
    Ok((stream, calls, taken))
}

fn b16() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        let net = MemoryNetwork::new();
        let (a, b) = b16_nodes(&net).await?;
        let mut stream: BTreeMap<u8, Vec<f64>> = BTreeMap::new();
        let mut calls: BTreeMap<u8, Vec<f64>> = BTreeMap::new();
        let mut taken: BTreeMap<u8, u64> = BTreeMap::new();
        for round in 0..ROUNDS.min(5) {
            for mode in MODES {
                let (s, c, n) = b16_round(&a, &b, mode, round).await?;
                stream.entry(mode).or_default().push(s);
                calls.entry(mode).or_default().push(c);
                *taken.entry(mode).or_default() += n;
            }
        }
        let rounds = ROUNDS.min(5) as f64;
        let base_stream = median(stream[&OFF].clone());
        let base_calls = median(calls[&OFF].clone());
        println!(
            "B16: a session of 3,000 events on one of two in-process nodes, {STREAM} casts then a call, and {CALLS} calls in a row; medians of {rounds} rounds"
        );
        for mode in MODES {
            let (s, c) = (median(stream[&mode].clone()), median(calls[&mode].clone()));
            println!(
                "B16 {:34} casts {:>8.0}/s ({:.2}x slower)  calls {:>7.0}/s ({:.2}x slower)  checkpoints per round {:.0}",
                mode_name(mode),
                (STREAM + 1) as f64 / s,
                s / base_stream,
                CALLS as f64 / c,
                c / base_calls,
                taken[&mode] as f64 / rounds,
            );
        }
        a.shutdown().await?;
        b.shutdown().await?;
        Ok(())
    })
}
