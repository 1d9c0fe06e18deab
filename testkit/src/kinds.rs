//! The actor kinds of the console node: counters with every handoff mode, a grow-only
//! tally, a blob, a kind for type errors, and two fault kinds (a slow hook, a panicking
//! snapshot).

use std::collections::BTreeMap;
use std::time::Duration;

use ractor::{ActorProcessingErr, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;

use ractor_dist::{Checkpoints, ConflictPolicy, DistActor, DistRef, HandoffMode, Snapshot};

/// Messages of the counter kinds.
#[derive(Debug, RactorClusterMessage)]
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
    pub last: BTreeMap<u32, u64>,
    /// `Seq` messages that did not follow their sender's previous one.
    pub out_of_order: u64,
}

async fn counter_handle(message: CounterMsg, state: &mut CounterState) {
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
        CounterMsg::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
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
        #[derive(Debug, Clone, Copy)]
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
                counter_handle(message, state).await;
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
                    let newer = snapshot.version + 1;
                    let wrong = snapshot.with_version(newer);
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
    pub parts: BTreeMap<u64, i64>,
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
#[derive(Debug, Clone, Copy)]
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
        let other: BTreeMap<u64, i64> = other.decode(Self::STATE_VERSION)?;
        for (slot, n) in other {
            let mine = state.parts.entry(slot).or_insert(n);
            *mine = (*mine).max(n);
        }
        Ok(())
    }
}

/// Messages of the `Blob` kind.
#[derive(Debug, RactorClusterMessage)]
pub enum BlobMsg {
    /// Length and a checksum of the blob.
    #[rpc]
    Digest(RpcReplyPort<(u64, u64)>),
    /// Blocks inside the handler for this many milliseconds (a busy actor: its drain for
    /// a move waits until it is done).
    Sleep(u64),
}

/// An actor whose state is a large byte blob (to exercise chunked handoffs).
#[derive(Debug, Clone, Copy)]
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
        msg: BlobMsg,
        blob: &mut serde_bytes::ByteBuf,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            BlobMsg::Digest(reply) => {
                let sum = blob.iter().fold(0u64, |acc, b| {
                    acc.wrapping_mul(131).wrapping_add(u64::from(*b))
                });
                let _ = reply.send((blob.len() as u64, sum));
            }
            BlobMsg::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        }
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
#[derive(Debug, RactorClusterMessage)]
pub enum GhostMsg {
    /// Anything.
    #[rpc]
    Boo(String, RpcReplyPort<String>),
}

/// A kind registered only on nodes started with `--ghost`.
#[derive(Debug, Clone, Copy)]
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

/// The arguments of [`SlowCounter`]: its start value and how long its hooks take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SlowArgs {
    /// The start value.
    pub start: i64,
    /// How long `pre_start` and `restore` sleep, in milliseconds.
    pub delay_ms: u64,
}

/// A `Resume` counter whose `pre_start` and `restore` each sleep [`SlowArgs::delay_ms`]
/// before answering, like a user actor that loads its state from a slow store. Only this
/// name should wait; the node and every other name must not.
#[derive(Debug, Clone, Copy)]
pub struct SlowCounter;

impl DistActor for SlowCounter {
    const KIND: &'static str = "slow";
    type Msg = CounterMsg;
    type State = CounterState;
    type Arguments = SlowArgs;
    const HANDOFF: HandoffMode = HandoffMode::Resume;

    async fn pre_start(
        &self,
        _: DistRef<CounterMsg>,
        args: SlowArgs,
    ) -> Result<CounterState, ActorProcessingErr> {
        tokio::time::sleep(Duration::from_millis(args.delay_ms)).await;
        Ok(CounterState {
            value: args.start,
            ..CounterState::default()
        })
    }

    async fn handle(
        &self,
        _: DistRef<CounterMsg>,
        message: CounterMsg,
        state: &mut CounterState,
    ) -> Result<(), ActorProcessingErr> {
        counter_handle(message, state).await;
        Ok(())
    }

    fn snapshot(&self, state: &CounterState) -> Result<Vec<u8>, ActorProcessingErr> {
        Snapshot::encode(state)
    }

    async fn restore(
        &self,
        _: DistRef<CounterMsg>,
        args: SlowArgs,
        snapshot: Snapshot,
    ) -> Result<CounterState, ActorProcessingErr> {
        tokio::time::sleep(Duration::from_millis(args.delay_ms)).await;
        snapshot.decode(Self::STATE_VERSION)
    }
}

/// A `Resume` counter whose `snapshot()` panics, so that every move of it must fall back
/// (restart from its arguments, counted in `handoff_fallbacks`). It takes no checkpoints.
#[derive(Debug, Clone, Copy)]
pub struct PanickyCounter;

impl DistActor for PanickyCounter {
    const KIND: &'static str = "panicky";
    type Msg = CounterMsg;
    type State = CounterState;
    type Arguments = i64;
    const HANDOFF: HandoffMode = HandoffMode::Resume;

    async fn pre_start(
        &self,
        _: DistRef<CounterMsg>,
        start: i64,
    ) -> Result<CounterState, ActorProcessingErr> {
        Ok(CounterState {
            value: start,
            ..CounterState::default()
        })
    }

    async fn handle(
        &self,
        _: DistRef<CounterMsg>,
        message: CounterMsg,
        state: &mut CounterState,
    ) -> Result<(), ActorProcessingErr> {
        counter_handle(message, state).await;
        Ok(())
    }

    fn snapshot(&self, _: &CounterState) -> Result<Vec<u8>, ActorProcessingErr> {
        panic!("snapshot asked to panic (the `panicky` test kind)")
    }

    async fn restore(
        &self,
        _: DistRef<CounterMsg>,
        _: i64,
        snapshot: Snapshot,
    ) -> Result<CounterState, ActorProcessingErr> {
        snapshot.decode(Self::STATE_VERSION)
    }
}
