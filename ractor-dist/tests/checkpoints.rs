//! Checkpoint policies over in-process nodes: delta checkpoints restore the whole state
//! after a crash while sending it whole only now and then, a policy set at run time
//! applies to running actors, and coalesced checkpoints cover a burst with one snapshot.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ractor::{ActorProcessingErr, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::transport::MemoryNetwork;
use ractor_dist::{
    Checkpoints, DistActor, DistConfig, DistError, DistNode, DistRef, HandoffMode, Kinds, Snapshot,
};

const T: Duration = Duration::from_secs(10);
const CALL: Duration = Duration::from_secs(3);

#[derive(RactorClusterMessage)]
enum LogMsg {
    Append(u64),
    /// Keeps the actor busy this many ms (messages queue up meanwhile).
    Pause(u64),
    #[rpc]
    All(RpcReplyPort<Vec<u64>>),
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct Events {
    events: Vec<u64>,
    /// How many of them a checkpoint holds already.
    #[serde(skip)]
    sent: usize,
}

/// Whole snapshots taken and deltas applied, per kind (tests run in parallel).
static SNAPSHOTS: [AtomicUsize; 2] = [AtomicUsize::new(0), AtomicUsize::new(0)];
static APPLIED: AtomicUsize = AtomicUsize::new(0);

/// An event log; `DELTAS`: with delta checkpoints after every message (a whole one every
/// fourth delta at most), else without checkpoints by default.
struct EventLog<const DELTAS: bool>;

impl<const DELTAS: bool> DistActor for EventLog<DELTAS> {
    const KIND: &'static str = if DELTAS { "deltas" } else { "plain" };
    type Msg = LogMsg;
    type State = Events;
    type Arguments = ();
    const HANDOFF: HandoffMode = HandoffMode::Resume;
    const CHECKPOINTS: Checkpoints = if DELTAS {
        Checkpoints::every_messages(1).full_every(4)
    } else {
        Checkpoints::OFF
    };

    async fn pre_start(&self, _: DistRef<LogMsg>, _: ()) -> Result<Events, ActorProcessingErr> {
        Ok(Events::default())
    }

    async fn handle(
        &self,
        _: DistRef<LogMsg>,
        msg: LogMsg,
        s: &mut Events,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            LogMsg::Append(e) => s.events.push(e),
            LogMsg::Pause(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
            LogMsg::All(reply) => {
                let _ = reply.send(s.events.clone());
            }
        }
        Ok(())
    }

    fn snapshot(&self, s: &Events) -> Result<Vec<u8>, ActorProcessingErr> {
        SNAPSHOTS[usize::from(DELTAS)].fetch_add(1, Ordering::Relaxed);
        Snapshot::encode(s)
    }

    async fn restore(
        &self,
        _: DistRef<LogMsg>,
        _: (),
        snapshot: Snapshot,
    ) -> Result<Events, ActorProcessingErr> {
        let mut s: Events = snapshot.decode(Self::STATE_VERSION)?;
        s.sent = s.events.len();
        Ok(s)
    }

    fn checkpoint_delta(&self, s: &mut Events) -> Option<Result<Vec<u8>, ActorProcessingErr>> {
        if !DELTAS {
            return None;
        }
        let delta = Snapshot::encode(&s.events[s.sent..]);
        s.sent = s.events.len();
        Some(delta)
    }

    fn apply_delta(&self, s: &mut Events, delta: &[u8]) -> Result<(), ActorProcessingErr> {
        let new: Vec<u64> = Snapshot::new(1, delta.to_vec()).decode(1)?;
        s.events.extend(new);
        s.sent = s.events.len();
        APPLIED.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Two nodes (each keeps the other's specs) with both kinds.
async fn pair(net: &MemoryNetwork, first_port: u16, kinds: impl Fn() -> Kinds) -> [DistNode; 2] {
    let config = |name: &str, port: u16, seeds: &[u16]| DistConfig {
        seeds: seeds.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
        replicas: 2,
        ..DistConfig::for_tests(name, port)
    };
    let a = net
        .start(config(&format!("a{first_port}"), first_port, &[]), kinds())
        .await
        .unwrap();
    let b = net
        .start(
            config(&format!("b{first_port}"), first_port + 1, &[first_port]),
            kinds(),
        )
        .await
        .unwrap();
    common::converged_within(T, &[&a, &b], 2).await;
    [a, b]
}

fn kinds() -> Kinds {
    Kinds::new().with(EventLog::<true>).with(EventLog::<false>)
}

/// The host of `name` and the other node.
fn host_and_survivor<'a>(nodes: &'a [DistNode; 2], name: &str) -> (&'a DistNode, &'a DistNode) {
    let owner = nodes[0].owner_of(name).unwrap();
    if owner == *nodes[0].name() {
        (&nodes[0], &nodes[1])
    } else {
        (&nodes[1], &nodes[0])
    }
}

/// Waits until `host` sent `n` checkpoints, then until the survivor handled them (the
/// in-memory link is one queue: an answer from the survivor comes after them).
async fn checkpoints_reached(host: &DistNode, n: u64) {
    common::eventually_within(T, "checkpoints sent", || async {
        host.status().checkpoints >= n
    })
    .await;
    host.cluster_status().await.unwrap();
}

/// Crashes `host` and reads `name` back from `survivor` once respawned there.
async fn after_crash(
    net: &MemoryNetwork,
    host: &DistNode,
    survivor: &DistNode,
    name: &str,
) -> Vec<u64> {
    net.crash(host);
    common::converged_within(T, &[survivor], 1).await;
    common::eventually_within(T, "respawned", || async {
        survivor.local_names().iter().any(|k| k.as_str() == name)
    })
    .await;
    let log = survivor.lookup::<LogMsg>(name).await.unwrap();
    log.call(LogMsg::All, CALL).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delta_checkpoints_restore_the_whole_state_after_a_crash() {
    let net = MemoryNetwork::new();
    let nodes = pair(&net, 10, kinds).await;
    let log = nodes[0].spawn::<EventLog<true>>("d1", ()).await.unwrap();
    let (host, survivor) = host_and_survivor(&nodes, "d1");
    for e in 0..29 {
        log.cast(LogMsg::Append(e)).unwrap();
    }
    assert_eq!(log.call(LogMsg::All, CALL).await.unwrap().len(), 29);
    // 30 messages, each checkpointed: whole only the first and after 4 deltas (1, 6, ..,
    // 26), so the replica holds the 26th whole and 4 deltas.
    checkpoints_reached(host, 30).await;
    let whole = SNAPSHOTS[1].load(Ordering::Relaxed);
    assert_eq!(whole, 6, "whole checkpoints of 30");

    let back = after_crash(&net, host, survivor, "d1").await;
    assert_eq!(
        back,
        (0..29).collect::<Vec<u64>>(),
        "whole checkpoint + deltas"
    );
    assert_eq!(APPLIED.load(Ordering::Relaxed), 4, "deltas applied");
    assert_eq!(survivor.status().bad_snapshots, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_policy_set_at_run_time_applies_to_running_actors() {
    let net = MemoryNetwork::new();
    let nodes = pair(&net, 20, kinds).await;
    let log = nodes[0].spawn::<EventLog<false>>("p1", ()).await.unwrap();
    let (host, survivor) = host_and_survivor(&nodes, "p1");
    for e in 0..5 {
        log.cast(LogMsg::Append(e)).unwrap();
    }
    assert_eq!(log.call(LogMsg::All, CALL).await.unwrap().len(), 5);
    assert_eq!(host.status().checkpoints, 0, "off by default");

    for node in &nodes {
        node.set_checkpoints("plain", Checkpoints::every_messages(1))
            .unwrap();
    }
    assert!(matches!(
        nodes[0].set_checkpoints("nope", Checkpoints::OFF),
        Err(DistError::UnknownKind(k)) if k == "nope"
    ));
    for e in 5..10 {
        log.cast(LogMsg::Append(e)).unwrap();
    }
    assert_eq!(log.call(LogMsg::All, CALL).await.unwrap().len(), 10);
    checkpoints_reached(host, 6).await;
    let back = after_crash(&net, host, survivor, "p1").await;
    assert_eq!(back, (0..10).collect::<Vec<u64>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coalesced_checkpoints_cover_a_burst_with_one_snapshot() {
    let net = MemoryNetwork::new();
    let coalesced = || {
        kinds().with_checkpoints(
            "plain",
            Checkpoints::every_messages(1).coalesce(Duration::ZERO),
        )
    };
    let nodes = pair(&net, 30, coalesced).await;
    let log = nodes[0].spawn::<EventLog<false>>("c1", ()).await.unwrap();
    let (host, survivor) = host_and_survivor(&nodes, "c1");
    // The burst queues up behind a pause: its messages are handled back to back.
    log.cast(LogMsg::Pause(200)).unwrap();
    for e in 0..1000 {
        log.cast(LogMsg::Append(e)).unwrap();
    }
    assert_eq!(log.call(LogMsg::All, CALL).await.unwrap().len(), 1000);
    // A second call comes after the coalesced checkpoint the burst asked for.
    log.call(LogMsg::All, CALL).await.unwrap();
    checkpoints_reached(host, 1).await;
    let taken = host.status().checkpoints;
    assert!(taken <= 4, "{taken} checkpoints for 1,003 messages");

    let back = after_crash(&net, host, survivor, "c1").await;
    assert_eq!(back, (0..1000).collect::<Vec<u64>>());
}
