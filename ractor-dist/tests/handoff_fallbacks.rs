//! Handoffs that miss their deadline over the in-memory transport: a state the node holds
//! is never dropped for a fallback, and each fallback is counted once.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ractor::{ActorProcessingErr, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::transport::MemoryNetwork;
use ractor_dist::{
    Checkpoints, DistActor, DistConfig, DistNode, DistRef, HandoffMode, Kinds, Snapshot,
};

const T: Duration = Duration::from_secs(20);
const CALL: Duration = Duration::from_secs(8);

#[derive(RactorClusterMessage)]
enum SlowMsg {
    Add(i64),
    #[rpc]
    Get(RpcReplyPort<i64>),
}

/// Moves with its state (no checkpoints); its `restore` takes 2.5 s.
struct SlowRestore;

impl DistActor for SlowRestore {
    const KIND: &'static str = "slow-restore";
    type Msg = SlowMsg;
    type State = i64;
    type Arguments = i64;
    const HANDOFF: HandoffMode = HandoffMode::Resume;

    async fn pre_start(&self, _: DistRef<SlowMsg>, n: i64) -> Result<i64, ActorProcessingErr> {
        Ok(n)
    }

    async fn handle(
        &self,
        _: DistRef<SlowMsg>,
        msg: SlowMsg,
        n: &mut i64,
    ) -> Result<(), ActorProcessingErr> {
        apply(msg, n);
        Ok(())
    }

    fn snapshot(&self, n: &i64) -> Result<Vec<u8>, ActorProcessingErr> {
        Snapshot::encode(n)
    }

    async fn restore(
        &self,
        _: DistRef<SlowMsg>,
        _: i64,
        snapshot: Snapshot,
    ) -> Result<i64, ActorProcessingErr> {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        snapshot.decode(Self::STATE_VERSION)
    }
}

/// What the three kinds here do with a message: add, or answer the value.
fn apply(msg: SlowMsg, n: &mut i64) {
    match msg {
        SlowMsg::Add(d) => *n += d,
        SlowMsg::Get(r) => {
            let _ = r.send(*n);
        }
    }
}

/// How long `SlowSnapshot::snapshot` takes, in milliseconds (set by the test).
static SNAPSHOT_MS: AtomicU64 = AtomicU64::new(0);
/// Snapshots `SlowSnapshot` has taken (checkpoints included).
static SNAPSHOTS: AtomicU64 = AtomicU64::new(0);

/// Moves with its state and checkpoints after every message; its `snapshot` takes
/// `SNAPSHOT_MS`.
struct SlowSnapshot;

impl DistActor for SlowSnapshot {
    const KIND: &'static str = "slow-snapshot";
    type Msg = SlowMsg;
    type State = i64;
    type Arguments = i64;
    const HANDOFF: HandoffMode = HandoffMode::Resume;
    const CHECKPOINTS: Checkpoints = Checkpoints::every_messages(1);

    async fn pre_start(&self, _: DistRef<SlowMsg>, n: i64) -> Result<i64, ActorProcessingErr> {
        Ok(n)
    }

    async fn handle(
        &self,
        _: DistRef<SlowMsg>,
        msg: SlowMsg,
        n: &mut i64,
    ) -> Result<(), ActorProcessingErr> {
        apply(msg, n);
        Ok(())
    }

    fn snapshot(&self, n: &i64) -> Result<Vec<u8>, ActorProcessingErr> {
        std::thread::sleep(Duration::from_millis(SNAPSHOT_MS.load(Ordering::SeqCst)));
        SNAPSHOTS.fetch_add(1, Ordering::SeqCst);
        Snapshot::encode(n)
    }

    async fn restore(
        &self,
        _: DistRef<SlowMsg>,
        _: i64,
        snapshot: Snapshot,
    ) -> Result<i64, ActorProcessingErr> {
        snapshot.decode(Self::STATE_VERSION)
    }
}

/// While set, `HangOnes` snapshots a state of 1 in 1.6 s (three drain deadlines).
static HANG_ONES: AtomicBool = AtomicBool::new(false);
/// Snapshots `HangOnes` has taken (checkpoints included).
static HANG_SNAPSHOTS: AtomicU64 = AtomicU64::new(0);

/// Moves with its state and checkpoints after every message; see `HANG_ONES`.
struct HangOnes;

impl DistActor for HangOnes {
    const KIND: &'static str = "hang-ones";
    type Msg = SlowMsg;
    type State = i64;
    type Arguments = i64;
    const HANDOFF: HandoffMode = HandoffMode::Resume;
    const CHECKPOINTS: Checkpoints = Checkpoints::every_messages(1);

    async fn pre_start(&self, _: DistRef<SlowMsg>, n: i64) -> Result<i64, ActorProcessingErr> {
        Ok(n)
    }

    async fn handle(
        &self,
        _: DistRef<SlowMsg>,
        msg: SlowMsg,
        n: &mut i64,
    ) -> Result<(), ActorProcessingErr> {
        apply(msg, n);
        Ok(())
    }

    fn snapshot(&self, n: &i64) -> Result<Vec<u8>, ActorProcessingErr> {
        if *n == 1 && HANG_ONES.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1600));
        }
        HANG_SNAPSHOTS.fetch_add(1, Ordering::SeqCst);
        Snapshot::encode(n)
    }

    async fn restore(
        &self,
        _: DistRef<SlowMsg>,
        _: i64,
        snapshot: Snapshot,
    ) -> Result<i64, ActorProcessingErr> {
        snapshot.decode(Self::STATE_VERSION)
    }
}

fn config(name: &str, port: u16, seeds: &[u16]) -> DistConfig {
    DistConfig {
        seeds: seeds.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
        handoff_timeout: Duration::from_millis(500),
        ..DistConfig::for_tests(name, port)
    }
}

async fn start(net: &MemoryNetwork, name: &str, port: u16, seeds: &[u16]) -> DistNode {
    start_with(net, config(name, port, seeds)).await
}

async fn start_with(net: &MemoryNetwork, config: DistConfig) -> DistNode {
    net.start(
        config,
        Kinds::new()
            .with(SlowRestore)
            .with(SlowSnapshot)
            .with(HangOnes),
    )
    .await
    .expect("node starts")
}

/// Polls `check` every 20 ms until it holds, for at most the file's limit.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    common::eventually_within(T, what, check).await
}

async fn try_value(node: &DistNode, name: &str) -> Option<i64> {
    let r = node.lookup::<SlowMsg>(name).await.ok()?;
    r.call(SlowMsg::Get, CALL).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_killed_while_restoring_moves_on_with_the_snapshot_it_arrived_with() {
    let net = MemoryNetwork::new();
    let a = start(&net, "a", 1, &[]).await;
    let b = start(&net, "b", 2, &[1]).await;
    eventually("a and b meet", || async {
        [&a, &b]
            .iter()
            .all(|d| d.members().len() == 2 && d.status().settled)
    })
    .await;
    let names: Vec<String> = (0..12).map(|i| format!("s{i}")).collect();
    for name in &names {
        let r = a.spawn::<SlowRestore>(name.as_str(), 0).await.unwrap();
        r.cast(SlowMsg::Add(7)).unwrap();
        assert_eq!(r.call(SlowMsg::Get, CALL).await.unwrap(), 7);
    }
    // c joins and leaves while the names it received are still restoring: they are killed
    // at the drain deadline and move on with the snapshot they arrived with.
    let c = start(&net, "c", 3, &[1]).await;
    eventually("c receives names", || async { c.local_count() > 0 }).await;
    c.leave().await.unwrap_or_else(|e| panic!("leave: {e}"));
    for name in &names {
        eventually("the name answers", || async {
            try_value(&a, name).await.is_some()
        })
        .await;
        assert_eq!(try_value(&a, name).await, Some(7), "{name} kept its state");
    }
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// A name asked to move on while its `restore` still runs (it had just arrived) waits for
/// its start, then drains with its state and the messages sent to it meanwhile. ractor
/// refuses to link an actor marked draining to its supervisor: drained at once, it never
/// started, and restarted elsewhere from the snapshot it arrived with (a counted
/// fallback), the messages in its mailbox lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_moved_on_while_restoring_drains_once_started_with_its_messages() {
    let net = MemoryNetwork::new();
    // A handoff timeout well above the 2.5 s restore: nothing is killed at the deadline.
    let patient = |name: &str, port: u16, seeds: &[u16]| DistConfig {
        handoff_timeout: Duration::from_secs(8),
        ..config(name, port, seeds)
    };
    let a = start_with(&net, patient("a", 1, &[])).await;
    let b = start_with(&net, patient("b", 2, &[1])).await;
    eventually("a and b meet", || async {
        [&a, &b]
            .iter()
            .all(|d| d.members().len() == 2 && d.status().settled)
    })
    .await;
    let names: Vec<String> = (0..12).map(|i| format!("s{i}")).collect();
    for name in &names {
        let r = a.spawn::<SlowRestore>(name.as_str(), 0).await.unwrap();
        r.cast(SlowMsg::Add(7)).unwrap();
        assert_eq!(r.call(SlowMsg::Get, CALL).await.unwrap(), 7);
    }
    let c = start_with(&net, patient("c", 3, &[1])).await;
    eventually("c receives names", || async { c.local_count() > 0 }).await;
    // While they restore: one more message each, then c leaves. (c learns b by gossip:
    // a lookup that asks b before c's session to it is up is answered `Unreachable`, and
    // asked again.)
    for name in &names {
        let mut handle = None;
        for _ in 0..100 {
            handle = c.lookup::<SlowMsg>(name.as_str()).await.ok();
            if handle.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let handle = handle.unwrap_or_else(|| panic!("c does not find {name}"));
        handle.cast(SlowMsg::Add(1)).unwrap();
    }
    c.leave().await.unwrap_or_else(|e| panic!("leave: {e}"));
    assert_eq!(c.status().handoff_fallbacks, 0, "{:?}", c.status());
    for name in &names {
        eventually("the name answers", || async {
            try_value(&a, name).await.is_some()
        })
        .await;
        assert_eq!(try_value(&a, name).await, Some(8), "{name}");
    }
    for node in [&a, &b] {
        assert_eq!(node.status().handoff_fallbacks, 0, "{:?}", node.status());
    }
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_past_the_deadline_falls_back_once_and_the_name_serves() {
    let net = MemoryNetwork::new();
    let a = start(&net, "a", 11, &[]).await;
    let names: Vec<String> = (0..12).map(|i| format!("p{i}")).collect();
    for name in &names {
        let r = a.spawn::<SlowSnapshot>(name.as_str(), 0).await.unwrap();
        r.cast(SlowMsg::Add(5)).unwrap();
        assert_eq!(r.call(SlowMsg::Get, CALL).await.unwrap(), 5);
    }
    // The checkpoint after each of the two messages is taken after the reply: wait for
    // them all, so that only the final snapshots are slow.
    let taken = 2 * names.len() as u64;
    eventually("checkpoints taken", || async {
        SNAPSHOTS.load(Ordering::SeqCst) >= taken
    })
    .await;
    // Each final snapshot takes three drain deadlines: no kill is ordered for an actor
    // that already exited, and the snapshot is given up on at the deadline (it moves with
    // its checkpoint), one fallback per move.
    SNAPSHOT_MS.store(1600, Ordering::SeqCst);
    let b = start(&net, "b", 12, &[11]).await;
    eventually("a and b settle", || async {
        [&a, &b]
            .iter()
            .all(|d| d.members().len() == 2 && d.status().settled && d.status().moving == 0)
    })
    .await;
    // Each call is followed by a checkpoint: fast again.
    SNAPSHOT_MS.store(0, Ordering::SeqCst);
    for name in &names {
        eventually("the name answers", || async {
            try_value(&b, name).await.is_some()
        })
        .await;
        assert_eq!(try_value(&b, name).await, Some(5), "{name} kept its state");
    }
    let moved = a.status().moved_out;
    assert!(moved > 0, "something moved");
    assert_eq!(a.status().handoff_fallbacks, moved, "one fallback per move");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// The final snapshots of a move share a few jobs on the blocking pool: a hung one must
/// not hold up those queued behind it past their own deadlines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_snapshot_falls_back_alone_and_the_states_queued_behind_it_move() {
    let net = MemoryNetwork::new();
    let a = start(&net, "a", 21, &[]).await;
    // A quarter of the names hang in their final snapshot; the others are instant.
    let names: Vec<(String, i64)> = (0..40)
        .map(|i| (format!("h{i}"), if i % 4 == 0 { 1 } else { 5 }))
        .collect();
    for (name, value) in &names {
        let r = a.spawn::<HangOnes>(name.as_str(), 0).await.unwrap();
        r.cast(SlowMsg::Add(*value)).unwrap();
        assert_eq!(r.call(SlowMsg::Get, CALL).await.unwrap(), *value);
    }
    // Checkpoints after both messages, before any snapshot hangs.
    let taken = 2 * names.len() as u64;
    eventually("checkpoints taken", || async {
        HANG_SNAPSHOTS.load(Ordering::SeqCst) >= taken
    })
    .await;
    HANG_ONES.store(true, Ordering::SeqCst);
    let b = start(&net, "b", 22, &[21]).await;
    eventually("a and b settle", || async {
        [&a, &b]
            .iter()
            .all(|d| d.members().len() == 2 && d.status().settled && d.status().moving == 0)
    })
    .await;
    HANG_ONES.store(false, Ordering::SeqCst);
    for (name, value) in &names {
        eventually("the name answers", || async {
            try_value(&b, name).await.is_some()
        })
        .await;
        assert_eq!(
            try_value(&b, name).await,
            Some(*value),
            "{name} kept its state"
        );
    }
    let moved = |v: i64| {
        names
            .iter()
            .filter(|(name, value)| *value == v && b.owner_of(name).as_ref() == Some(b.name()))
            .count() as u64
    };
    let (hung, fast) = (moved(1), moved(5));
    assert!(
        hung > 0 && fast > 0,
        "both kinds of names moved: {hung} / {fast}"
    );
    assert_eq!(a.status().moved_out, hung + fast);
    // The hung ones moved with their checkpoints; every other state was snapshotted in
    // time, although it may have been queued behind a hung one.
    assert_eq!(
        a.status().handoff_fallbacks,
        hung,
        "only the hung snapshots fell back"
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[derive(RactorClusterMessage)]
enum BusyMsg {
    /// Keeps the actor busy this many milliseconds.
    Sleep(u64),
    #[rpc]
    Ping(RpcReplyPort<()>),
}

/// Handles `Sleep` by sleeping: its drain waits behind it.
struct Busy;

impl DistActor for Busy {
    const KIND: &'static str = "busy";
    type Msg = BusyMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: DistRef<BusyMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _: DistRef<BusyMsg>,
        msg: BusyMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            BusyMsg::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            BusyMsg::Ping(r) => {
                let _ = r.send(());
            }
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_call_over_the_node_hold_cap_is_overloaded_not_stopped() {
    let net = MemoryNetwork::new();
    let node = |name: &str, port: u16, seeds: &[u16]| {
        let config = DistConfig {
            handoff_timeout: Duration::from_secs(5),
            hold_per_name: 1,
            hold_per_node: 1,
            ..config(name, port, seeds)
        };
        net.start(config, Kinds::new().with(Busy))
    };
    let a = node("a", 31, &[]).await.expect("a starts");
    let names: Vec<String> = (0..8).map(|i| format!("b{i}")).collect();
    let mut refs = Vec::new();
    for name in &names {
        let r = a.spawn::<Busy>(name.as_str(), ()).await.unwrap();
        r.cast(BusyMsg::Sleep(1500)).unwrap();
        refs.push(r);
    }
    // b joins: the names it owns drain behind their long handler, and calls to them from
    // `a` are held by a's supervisor, one at most on the whole node.
    let b = node("b", 32, &[31]).await.expect("b starts");
    eventually("moves start", || async { a.status().moving >= 2 }).await;
    let call = |r: &DistRef<BusyMsg>| {
        let r = r.clone();
        async move { r.call(BusyMsg::Ping, CALL).await }
    };
    let results = tokio::join!(
        call(&refs[0]),
        call(&refs[1]),
        call(&refs[2]),
        call(&refs[3]),
        call(&refs[4]),
        call(&refs[5]),
        call(&refs[6]),
        call(&refs[7]),
    );
    let results = [
        results.0, results.1, results.2, results.3, results.4, results.5, results.6, results.7,
    ];
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(ractor_dist::DistError::Overloaded { .. })))
        .count();
    for r in &results {
        assert!(
            r.is_ok() || matches!(r, Err(ractor_dist::DistError::Overloaded { .. })),
            "{r:?}"
        );
    }
    assert!(refused > 0, "the node cap refused some: {results:?}");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrying_calls_ride_out_the_hold_cap_that_refuses_plain_ones() {
    let net = MemoryNetwork::new();
    let node = |name: &str, port: u16, seeds: &[u16]| {
        let config = DistConfig {
            handoff_timeout: Duration::from_secs(5),
            hold_per_name: 1,
            hold_per_node: 1,
            ..config(name, port, seeds)
        };
        net.start(config, Kinds::new().with(Busy))
    };
    // As in the test above: eight names drain behind a 1.5 s handler while b joins, and
    // a's supervisor holds one call at most.
    let a = node("a", 51, &[]).await.expect("a starts");
    let mut refs = Vec::new();
    for i in 0..8 {
        let r = a.spawn::<Busy>(format!("r{i}"), ()).await.unwrap();
        r.cast(BusyMsg::Sleep(1500)).unwrap();
        refs.push(r);
    }
    let b = node("b", 52, &[51]).await.expect("b starts");
    eventually("moves start", || async { a.status().moving >= 2 }).await;
    let call = |r: &DistRef<BusyMsg>| {
        let r = r.clone();
        async move {
            r.call_retrying(BusyMsg::Ping, CALL, Duration::from_secs(15))
                .await
        }
    };
    let results = tokio::join!(
        call(&refs[0]),
        call(&refs[1]),
        call(&refs[2]),
        call(&refs[3]),
        call(&refs[4]),
        call(&refs[5]),
        call(&refs[6]),
        call(&refs[7]),
    );
    let results = [
        results.0, results.1, results.2, results.3, results.4, results.5, results.6, results.7,
    ];
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert!(
        a.status().hold_refused > 0,
        "the cap refused attempts, which were retried"
    );
    // A permanent error is not retried: it comes back at once.
    let gone = a.ref_for::<Busy>("nobody");
    let started = std::time::Instant::now();
    let error = gone
        .call_retrying(BusyMsg::Ping, CALL, Duration::from_secs(15))
        .await;
    assert!(
        matches!(error, Err(ractor_dist::DistError::NotFound(_))),
        "{error:?}"
    );
    assert!(started.elapsed() < CALL, "{:?}", started.elapsed());
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// Its `pre_start` takes 1.5 s.
struct SlowStart;

impl DistActor for SlowStart {
    const KIND: &'static str = "slow-start";
    type Msg = BusyMsg;
    type State = ();
    type Arguments = ();

    async fn pre_start(&self, _: DistRef<BusyMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Ok(())
    }

    async fn handle(
        &self,
        _: DistRef<BusyMsg>,
        msg: BusyMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        if let BusyMsg::Ping(r) = msg {
            let _ = r.send(());
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawn_whose_start_the_drain_deadline_cut_succeeds_and_the_name_serves() {
    let net = MemoryNetwork::new();
    let node = |name: &str, port: u16, seeds: &[u16]| {
        net.start(config(name, port, seeds), Kinds::new().with(SlowStart))
    };
    let a = node("a", 41, &[]).await.expect("a starts");
    let spawn = |i: usize| a.spawn::<SlowStart>(format!("w{i}"), ());
    // b joins while the eight starts run: those it owns are killed at the drain deadline
    // and start again on b.
    let (spawned, b) = tokio::join!(
        async {
            tokio::join!(
                spawn(0),
                spawn(1),
                spawn(2),
                spawn(3),
                spawn(4),
                spawn(5),
                spawn(6),
                spawn(7)
            )
        },
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            node("b", 42, &[41]).await.expect("b starts")
        }
    );
    let spawned = [
        spawned.0, spawned.1, spawned.2, spawned.3, spawned.4, spawned.5, spawned.6, spawned.7,
    ];
    for r in &spawned {
        assert!(r.is_ok(), "{r:?}");
    }
    for r in spawned.iter().flatten() {
        r.call(BusyMsg::Ping, CALL).await.expect("the name serves");
    }
    assert!(b.local_count() > 0, "b took some names");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[derive(RactorClusterMessage)]
enum BlobMsg {
    #[rpc]
    Len(RpcReplyPort<usize>),
}

/// A state of `n` bytes (its arguments), moved with the actor.
struct Blob;

impl DistActor for Blob {
    const KIND: &'static str = "blob";
    type Msg = BlobMsg;
    type State = Vec<u8>;
    type Arguments = u32;
    const HANDOFF: HandoffMode = HandoffMode::Resume;

    async fn pre_start(&self, _: DistRef<BlobMsg>, n: u32) -> Result<Vec<u8>, ActorProcessingErr> {
        Ok(vec![7; n as usize])
    }

    async fn handle(
        &self,
        _: DistRef<BlobMsg>,
        msg: BlobMsg,
        state: &mut Vec<u8>,
    ) -> Result<(), ActorProcessingErr> {
        let BlobMsg::Len(r) = msg;
        let _ = r.send(state.len());
        Ok(())
    }

    fn snapshot(&self, state: &Vec<u8>) -> Result<Vec<u8>, ActorProcessingErr> {
        Snapshot::encode(state)
    }

    async fn restore(
        &self,
        _: DistRef<BlobMsg>,
        _: u32,
        snapshot: Snapshot,
    ) -> Result<Vec<u8>, ActorProcessingErr> {
        snapshot.decode(Self::STATE_VERSION)
    }
}

/// Nodes with different `max_frame_bytes` (issue 9, finding 6: "the target refuses the
/// frame and the batch is resent forever"): the joining node `a` (64 KiB) is the new owner
/// of names whose 100 KiB states `b` (1 MiB; it splits only states over half of its own
/// limit) sends in frames of 100-300 KiB. `a` takes them (its limit bounds what it sends;
/// what it accepts is bounded by ractor_cluster's 16 MiB frames), so the names move with
/// their state and nothing falls back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_with_different_frame_limits_move_states_between_them() {
    let net = MemoryNetwork::new();
    let node = |name: &str, port, seeds: &[u16], limit| {
        let config = DistConfig {
            max_frame_bytes: limit,
            ..config(name, port, seeds)
        };
        net.start(config, Kinds::new().with(Blob))
    };
    let b = node("b", 2, &[], 1 << 20).await.expect("b");
    let names: Vec<String> = (0..12).map(|i| format!("blob-{i}")).collect();
    for name in &names {
        b.spawn::<Blob>(name.as_str(), 100 << 10)
            .await
            .expect("spawn");
    }
    let a = node("a", 1, &[2], 64 << 10).await.expect("a");
    common::converged_within(T, &[&a, &b], 2).await;
    let moving: Vec<&String> = names
        .iter()
        .filter(|n| a.owner_of(n.as_str()).as_ref() == Some(a.name()))
        .collect();
    assert!(!moving.is_empty(), "a owns none of the names");
    let len = |node: &DistNode, name: &str| {
        let node = node.clone();
        let name = name.to_string();
        async move {
            let r = node.lookup::<BlobMsg>(name.as_str()).await.ok()?;
            r.call(BlobMsg::Len, CALL).await.ok()
        }
    };
    for name in &names {
        for n in [&a, &b] {
            eventually(&format!("{name} serves from {}", n.name()), || {
                let f = len(n, name);
                async move { f.await == Some(100 << 10) }
            })
            .await;
        }
    }
    let (sa, sb) = (a.status(), b.status());
    assert_eq!(sa.bad_frames, 0, "{sa:?}");
    assert_eq!(sa.moved_in, moving.len() as u64, "{sa:?}");
    assert_eq!(sa.hosted, moving.len() as u64, "{sa:?}");
    assert_eq!(sb.handoff_fallbacks, 0, "{sb:?}");
    assert_eq!(sa.hosted + sb.hosted, names.len() as u64);
}

/// Moves with its state; no checkpoints, no delays.
struct Tally;

impl DistActor for Tally {
    const KIND: &'static str = "tally";
    type Msg = SlowMsg;
    type State = i64;
    type Arguments = i64;
    const HANDOFF: HandoffMode = HandoffMode::Resume;

    async fn pre_start(&self, _: DistRef<SlowMsg>, n: i64) -> Result<i64, ActorProcessingErr> {
        Ok(n)
    }

    async fn handle(
        &self,
        _: DistRef<SlowMsg>,
        msg: SlowMsg,
        n: &mut i64,
    ) -> Result<(), ActorProcessingErr> {
        apply(msg, n);
        Ok(())
    }

    fn snapshot(&self, n: &i64) -> Result<Vec<u8>, ActorProcessingErr> {
        Snapshot::encode(n)
    }

    async fn restore(
        &self,
        _: DistRef<SlowMsg>,
        _: i64,
        snapshot: Snapshot,
    ) -> Result<i64, ActorProcessingErr> {
        snapshot.decode(Self::STATE_VERSION)
    }
}

/// A node that lacks a kind (issue 9, finding 6: "a node without the kind acknowledges the
/// move and deletes the actor"; a rolling deploy that adds a kind meets it): `a`, without
/// `tally`, joins and owns some of `b`'s tallies. It refuses them in its acknowledgement,
/// `b` keeps them (registered with `a`, their directory node) with their values, and a
/// handle on `a` reaches them. When `c` (with the kind) joins, `b` keeps what `a` refused
/// (a refused name moves only to an owner that has not refused it, or when its host
/// leaves): nothing moves back and forth. When `b` leaves, every name goes to `c`, which
/// learns from the move that `a` refused them and keeps them (`a` is not asked again),
/// and every value survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_the_kind_refuses_its_moves_and_the_names_keep_their_state() {
    let net = MemoryNetwork::new();
    let node =
        |name: &str, port, seeds: &[u16], kinds: Kinds| net.start(config(name, port, seeds), kinds);
    let b = node("b", 52, &[], Kinds::new().with(Tally))
        .await
        .expect("b");
    let names: Vec<String> = (0..24).map(|i| format!("tally-{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let r = b
            .spawn::<Tally>(name.as_str(), i as i64)
            .await
            .expect("spawn");
        r.cast(SlowMsg::Add(1000)).expect("cast");
    }
    let a = node("a", 51, &[52], Kinds::new().with(Blob))
        .await
        .expect("a");
    common::converged_within(T, &[&a, &b], 2).await;
    let refused = names
        .iter()
        .filter(|n| a.owner_of(n.as_str()).as_ref() == Some(a.name()))
        .count() as u64;
    assert!(refused > 0, "a owns none of the names");
    let expect = |i: usize, extra: i64| 1000 + i as i64 + extra;
    for (i, name) in names.iter().enumerate() {
        for n in [&a, &b] {
            eventually(&format!("{name} serves from {}", n.name()), || async {
                try_value(n, name).await == Some(expect(i, 0))
            })
            .await;
        }
    }
    let (sa, sb) = (a.status(), b.status());
    assert_eq!(
        (sa.hosted, sb.hosted),
        (0, names.len() as u64),
        "{sa:?} {sb:?}"
    );
    assert_eq!(sa.unknown_kinds, refused, "{sa:?}");
    assert_eq!(sb.moves_refused, refused, "{sb:?}");
    assert_eq!(sb.moved_out, 0, "{sb:?}");
    assert_eq!(sa.settled_by_deadline + sb.settled_by_deadline, 0);
    // Casts through `a`'s handles reach the names `a` owns and `b` keeps.
    for name in &names {
        let r = a.lookup::<SlowMsg>(name.as_str()).await.expect("lookup");
        r.cast(SlowMsg::Add(1)).expect("cast");
    }
    let c = node("c", 53, &[52], Kinds::new().with(Tally))
        .await
        .expect("c");
    common::converged_within(T, &[&a, &b, &c], 3).await;
    for (i, name) in names.iter().enumerate() {
        eventually(&format!("{name} serves from c after c joined"), || async {
            try_value(&c, name).await == Some(expect(i, 1))
        })
        .await;
    }
    // Settled: nothing moves any more (a refused name bounced between `b` and `c`).
    let counters = |s: ractor_dist::NodeStatus| {
        (
            s.moved_in,
            s.moved_out,
            s.moves_refused,
            s.unknown_kinds,
            s.handoff_fallbacks,
        )
    };
    let before = [
        counters(a.status()),
        counters(b.status()),
        counters(c.status()),
    ];
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = [
        counters(a.status()),
        counters(b.status()),
        counters(c.status()),
    ];
    assert_eq!(before, after, "moves after the cluster settled");
    let (sa, sb) = (a.status(), b.status());
    assert_eq!(sa.unknown_kinds, refused, "a asked again: {sa:?}");
    assert_eq!(sb.moves_refused, refused, "{sb:?}");
    let owners_before: Vec<_> = names.iter().map(|n| a.owner_of(n.as_str())).collect();
    b.leave().await.expect("b leaves");
    for (i, name) in names.iter().enumerate() {
        eventually(&format!("{name} serves from c after b left"), || async {
            try_value(&c, name).await == Some(expect(i, 1))
        })
        .await;
    }
    let (sa, sc) = (a.status(), c.status());
    assert_eq!(sc.hosted, names.len() as u64, "{sc:?}");
    assert_eq!(sa.hosted, 0);
    // `a` is asked once for each name `b` owned that `a` owns now (`b` refers it to `c`);
    // the names `a` had refused went to `c` with the refusal, and `c` did not ask again.
    let asked_again = (names.iter().zip(&owners_before))
        .filter(|(n, before)| {
            before.as_ref() == Some(b.name()) && a.owner_of(n.as_str()).as_ref() == Some(a.name())
        })
        .count() as u64;
    assert_eq!(sa.unknown_kinds, refused + asked_again, "{sa:?}");
    assert_eq!(sc.moves_refused, 0, "{sc:?}");
    assert_eq!(
        sa.handoff_fallbacks + sc.handoff_fallbacks,
        0,
        "{sa:?} {sc:?}"
    );
    assert_eq!(try_value(&a, &names[0]).await, Some(expect(0, 1)));
    a.shutdown().await.unwrap();
    c.shutdown().await.unwrap();
}

#[derive(RactorClusterMessage)]
enum LongMsg {
    Add(i64),
    /// Keeps the actor busy this many milliseconds.
    Sleep(u64),
    #[rpc]
    Get(RpcReplyPort<i64>),
}

/// How long `LongMove::snapshot` takes, in milliseconds (set by the test).
static LONG_SNAPSHOT_MS: AtomicU64 = AtomicU64::new(0);

/// Moves with its state (no checkpoints); its `snapshot` takes `LONG_SNAPSHOT_MS`.
struct LongMove;

impl DistActor for LongMove {
    const KIND: &'static str = "long-move";
    type Msg = LongMsg;
    type State = i64;
    type Arguments = i64;
    const HANDOFF: HandoffMode = HandoffMode::Resume;

    async fn pre_start(&self, _: DistRef<LongMsg>, n: i64) -> Result<i64, ActorProcessingErr> {
        Ok(n)
    }

    async fn handle(
        &self,
        _: DistRef<LongMsg>,
        msg: LongMsg,
        n: &mut i64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            LongMsg::Add(k) => *n += k,
            LongMsg::Sleep(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            LongMsg::Get(reply) => {
                let _ = reply.send(*n);
            }
        }
        Ok(())
    }

    fn snapshot(&self, n: &i64) -> Result<Vec<u8>, ActorProcessingErr> {
        std::thread::sleep(Duration::from_millis(
            LONG_SNAPSHOT_MS.load(Ordering::SeqCst),
        ));
        Snapshot::encode(n)
    }

    async fn restore(
        &self,
        _: DistRef<LongMsg>,
        _: i64,
        snapshot: Snapshot,
    ) -> Result<i64, ActorProcessingErr> {
        snapshot.decode(Self::STATE_VERSION)
    }
}

/// Issue 9, finding 6: "a transfer longer than `handoff_timeout` drops casts to the
/// incoming name at the target". `c` joins; each name it takes from `a` moves for 1.6
/// deadlines (its drain waits behind a long message, then its snapshot is slow; each
/// stays within its own deadline, so nothing falls back), while handles on `b` cast to
/// it every 25 ms, which reach `c` and wait there for it. `c`'s barrier waits for `a`,
/// busy with the moves (it does not settle by deadline), every cast reaches its name and
/// none is dropped: each value counts them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casts_to_a_name_whose_move_outlasts_the_deadline_wait_for_it_at_the_target() {
    let net = MemoryNetwork::new();
    let node = |name: &str, port, seeds: &[u16]| {
        net.start(config(name, port, seeds), Kinds::new().with(LongMove))
    };
    let a = node("a", 61, &[]).await.expect("a");
    let names: Vec<String> = (0..12).map(|i| format!("long-{i}")).collect();
    for name in &names {
        a.spawn::<LongMove>(name.as_str(), 100)
            .await
            .expect("spawn");
    }
    let b = node("b", 62, &[61]).await.expect("b");
    common::converged_within(T, &[&a, &b], 2).await;
    let mut refs = Vec::new();
    for name in &names {
        refs.push(b.lookup::<LongMsg>(name.as_str()).await.expect("lookup"));
    }
    let owners: Vec<_> = names.iter().map(|n| a.owner_of(n.as_str())).collect();
    LONG_SNAPSHOT_MS.store(400, Ordering::SeqCst);
    for name in &names {
        let r = a.lookup::<LongMsg>(name.as_str()).await.expect("lookup");
        r.cast(LongMsg::Sleep(400)).expect("cast");
    }
    let c = node("c", 63, &[61]).await.expect("c");
    eventually("the moves start", || async { a.status().moving > 0 }).await;
    // The names `c` takes from `a`.
    let moving: Vec<usize> = (0..names.len())
        .filter(|&i| {
            owners[i].as_ref() == Some(a.name())
                && c.owner_of(names[i].as_str()).as_ref() == Some(c.name())
        })
        .collect();
    assert!(!moving.is_empty(), "c takes none of a's names");
    let mut sent = 0i64;
    for _ in 0..48 {
        for &i in &moving {
            refs[i].cast(LongMsg::Add(1)).expect("cast");
        }
        sent += 1;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    LONG_SNAPSHOT_MS.store(0, Ordering::SeqCst);
    for &i in &moving {
        eventually(&format!("{} counts every cast", names[i]), || async {
            refs[i].call(LongMsg::Get, CALL).await.ok() == Some(100 + sent)
        })
        .await;
    }
    let (sa, sb, sc) = (a.status(), b.status(), c.status());
    assert!(sc.moved_in >= moving.len() as u64, "{sc:?}");
    let fallbacks = sa.handoff_fallbacks + sb.handoff_fallbacks + sc.handoff_fallbacks;
    assert_eq!(fallbacks, 0, "{sa:?} {sb:?} {sc:?}");
    let dropped = sa.dropped_casts + sb.dropped_casts + sc.dropped_casts;
    assert_eq!(dropped, 0, "{sa:?} {sb:?} {sc:?}");
    assert_eq!(sc.settled_by_deadline, 0, "{sc:?}");
    for n in [a, b, c] {
        n.shutdown().await.unwrap();
    }
}
