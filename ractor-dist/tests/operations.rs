//! Operating a node, over in-process nodes: the stop hook tells a move from a stop for
//! good, the readiness check, metrics through the `metrics` facade, a tracing span
//! around every hosted actor's hooks, and no warning for routine starts, stops and moves. This file installs the process's global metrics
//! recorder and tracing subscriber, so it is a test binary of its own.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use ractor::{ActorProcessingErr, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::transport::MemoryNetwork;
use ractor_dist::{DistActor, DistConfig, DistNode, DistRef, HandoffMode, Kinds, StopReason};

const T: Duration = Duration::from_secs(10);
const CALL: Duration = Duration::from_secs(3);

#[derive(RactorClusterMessage)]
enum NoteMsg {
    /// Logs a line (the span must give it the actor's name, kind and node).
    Log(String),
    #[rpc]
    Ping(RpcReplyPort<()>),
}

/// Every stop reason seen, by name, in order.
static STOPS: Mutex<BTreeMap<String, Vec<StopReason>>> = Mutex::new(BTreeMap::new());

fn stops(name: &str) -> Vec<StopReason> {
    STOPS.lock().unwrap().get(name).cloned().unwrap_or_default()
}

struct Note;

impl DistActor for Note {
    const KIND: &'static str = "note";
    type Msg = NoteMsg;
    type State = ();
    type Arguments = ();
    const HANDOFF: HandoffMode = HandoffMode::Restart;

    async fn pre_start(&self, _: DistRef<NoteMsg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }

    async fn handle(
        &self,
        _: DistRef<NoteMsg>,
        msg: NoteMsg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            NoteMsg::Log(line) => tracing::info!("{line}"),
            NoteMsg::Ping(reply) => {
                let _ = reply.send(());
            }
        }
        Ok(())
    }

    async fn post_stop_with(
        &self,
        myself: DistRef<NoteMsg>,
        _: &mut (),
        reason: StopReason,
    ) -> Result<(), ActorProcessingErr> {
        STOPS
            .lock()
            .unwrap()
            .entry(myself.name().to_string())
            .or_default()
            .push(reason);
        Ok(())
    }
}

// ---- a recorder and a log sink for this process ----------------------------------------

#[derive(Default)]
struct Seen {
    counters: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    gauges: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<BTreeMap<String, Arc<Samples>>>,
}

#[derive(Default)]
struct Samples(Mutex<Vec<f64>>);

impl metrics::HistogramFn for Samples {
    fn record(&self, value: f64) {
        self.0.lock().unwrap().push(value);
    }
}

/// `name{label=value,...}` with the labels sorted.
fn key_text(key: &Key) -> String {
    let mut labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    labels.sort();
    format!("{}{{{}}}", key.name(), labels.join(","))
}

struct TestRecorder(Arc<Seen>);

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut all = self.0.counters.lock().unwrap();
        Counter::from_arc(all.entry(key_text(key)).or_default().clone())
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let mut all = self.0.gauges.lock().unwrap();
        Gauge::from_arc(all.entry(key_text(key)).or_default().clone())
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut all = self.0.histograms.lock().unwrap();
        Histogram::from_arc(all.entry(key_text(key)).or_default().clone())
    }
}

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct Installed {
    seen: Arc<Seen>,
    lines: Lines,
}

fn installed() -> &'static Installed {
    static INSTALLED: OnceLock<Installed> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let seen = Arc::new(Seen::default());
        metrics::set_global_recorder(TestRecorder(seen.clone())).expect("first recorder");
        let lines = Lines::default();
        let sink = lines.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("info")
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
        Installed { seen, lines }
    })
}

impl Installed {
    fn counter(&self, key: &str) -> u64 {
        let all = self.seen.counters.lock().unwrap();
        all.get(key).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    fn gauge(&self, key: &str) -> Option<f64> {
        let all = self.seen.gauges.lock().unwrap();
        all.get(key)
            .map(|g| f64::from_bits(g.load(Ordering::Relaxed)))
    }

    fn samples(&self, key: &str) -> usize {
        let all = self.seen.histograms.lock().unwrap();
        all.get(key).map_or(0, |h| h.0.lock().unwrap().len())
    }

    fn log(&self) -> String {
        String::from_utf8_lossy(&self.lines.0.lock().unwrap()).into_owned()
    }
}

async fn start(net: &MemoryNetwork, name: &str, port: u16, seeds: &[u16]) -> DistNode {
    let config = DistConfig {
        seeds: seeds.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
        ..DistConfig::for_tests(name, port)
    };
    net.start(config, Kinds::new().with(Note)).await.unwrap()
}

/// Names owned by `node`, with `prefix`.
fn owned_by(node: &DistNode, prefix: &str, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .filter(|name| node.owner_of(name).as_ref() == Some(node.name()))
        .take(n)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stop_hook_tells_a_move_from_a_stop_for_good() {
    installed();
    let net = MemoryNetwork::new();
    let a = start(&net, "sa", 11, &[]).await;
    let b = start(&net, "sb", 12, &[11]).await;
    common::converged_within(T, &[&a, &b], 2).await;
    let on_b = owned_by(&b, "stop-", 3);
    for name in &on_b {
        a.spawn::<Note>(name.as_str(), ()).await.unwrap();
    }
    // The first is stopped for good; the others move when b leaves.
    a.lookup::<NoteMsg>(on_b[0].as_str())
        .await
        .unwrap()
        .stop_and_wait(None, None)
        .await
        .unwrap();
    b.leave().await.unwrap();
    common::eventually_within(T, "stops seen", || async {
        on_b.iter().all(|name| !stops(name).is_empty())
    })
    .await;
    assert_eq!(stops(&on_b[0]), vec![StopReason::Stopped]);
    for name in &on_b[1..] {
        assert_eq!(stops(name), vec![StopReason::Moving], "{name}");
        let moved = a.lookup::<NoteMsg>(name.as_str()).await.unwrap();
        moved.call(NoteMsg::Ping, CALL).await.unwrap();
    }
    assert!(StopReason::Stopped.is_final() && !StopReason::Moving.is_final());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_is_ready_while_settled_and_not_once_it_leaves() {
    installed();
    let net = MemoryNetwork::new();
    let a = start(&net, "ra", 21, &[]).await;
    common::eventually_within(T, "ready", || async { a.is_ready() }).await;
    let b = start(&net, "rb", 22, &[21]).await;
    common::converged_within(T, &[&a, &b], 2).await;
    assert!(a.is_ready() && b.is_ready());
    b.leave().await.unwrap();
    assert!(!b.is_ready(), "a leaving node is not ready");
    b.shutdown().await.unwrap();
    assert!(!b.is_ready());
    common::eventually_within(T, "the survivor settles", || async {
        a.members().len() == 1 && a.is_ready()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_actors_per_kind_moves_and_call_latency() {
    let probe = installed();
    let net = MemoryNetwork::new();
    let a = start(&net, "ma", 31, &[]).await;
    let node = "node=ma@127.0.0.1";
    let names: Vec<String> = (0..8).map(|i| format!("m{i}")).collect();
    for name in &names {
        let note = a.spawn::<Note>(name.as_str(), ()).await.unwrap();
        note.call(NoteMsg::Ping, CALL).await.unwrap();
        for _ in 0..64 {
            note.cast(NoteMsg::Log(String::new())).unwrap();
        }
    }
    let per_kind = format!("ractor_dist_actors{{kind=note,{node}}}");
    common::eventually_within(T, "actors per kind published", || async {
        probe.gauge(&per_kind) == Some(8.0)
    })
    .await;
    assert_eq!(
        probe.samples(&format!("ractor_dist_call_seconds{{{node},outcome=ok}}")),
        8
    );
    // Casts to local actors are not timed.
    assert_eq!(
        probe.samples(&format!("ractor_dist_cast_seconds{{{node}}}")),
        0
    );
    assert_eq!(
        probe.gauge(&format!("ractor_dist_ready{{{node}}}")),
        Some(1.0)
    );

    // A second node joins: the names it owns move there, and both count them.
    let b = start(&net, "mb", 32, &[31]).await;
    common::converged_within(T, &[&a, &b], 2).await;
    let moved = b.local_count() as u64;
    assert!(moved > 0);
    common::eventually_within(T, "moves published", || async {
        probe.counter(&format!("ractor_dist_moves_out_total{{{node}}}")) == moved
            && probe.counter("ractor_dist_moves_in_total{node=mb@127.0.0.1}") == moved
            && probe.gauge(&per_kind) == Some(8.0 - moved as f64)
    })
    .await;
    // Casts to the moved (now remote) names are timed, one in 64 (the first of each
    // handle resolves its route and is not).
    let remote = b.local_names();
    for name in &remote {
        let note = a.lookup::<NoteMsg>(name.clone()).await.unwrap();
        for _ in 0..130 {
            note.cast(NoteMsg::Log(String::new())).unwrap();
        }
    }
    assert!(probe.samples(&format!("ractor_dist_cast_seconds{{{node}}}")) >= remote.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_log_line_carries_the_actor_s_name_kind_and_node() {
    let probe = installed();
    let net = MemoryNetwork::new();
    let a = start(&net, "la", 41, &[]).await;
    let note = a.spawn::<Note>("logger-7", ()).await.unwrap();
    note.cast(NoteMsg::Log("hello from inside".into())).unwrap();
    note.call(NoteMsg::Ping, CALL).await.unwrap();
    let log = probe.log();
    let line = log
        .lines()
        .find(|l| l.contains("hello from inside"))
        .expect("the line was logged");
    for field in ["name=logger-7", "kind=\"note\"", "node=la@127.0.0.1"] {
        assert!(line.contains(field), "{field} missing from: {line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routine_starts_stops_and_moves_log_no_warning() {
    let probe = installed();
    let net = MemoryNetwork::new();
    let a = start(&net, "wa", 51, &[]).await;
    let mut names = Vec::new();
    for i in 0..12 {
        let name = format!("routine-{i}");
        a.spawn::<Note>(name.as_str(), ()).await.unwrap();
        names.push(name);
    }
    // A join moves some names to b; a stop for good; b's graceful leave moves them back.
    let b = start(&net, "wb", 52, &[51]).await;
    common::converged_within(T, &[&a, &b], 2).await;
    a.lookup::<NoteMsg>("routine-0")
        .await
        .unwrap()
        .stop_and_wait(None, None)
        .await
        .unwrap();
    a.lookup::<NoteMsg>("routine-1")
        .await
        .unwrap()
        .stop(Some("done".into()));
    b.leave().await.unwrap();
    b.shutdown().await.unwrap();
    common::eventually_within(T, "b is gone", || async { a.members().len() == 1 }).await;
    for name in &names[2..] {
        let note = a.lookup::<NoteMsg>(name.as_str()).await.unwrap();
        note.call(NoteMsg::Ping, CALL).await.unwrap();
    }
    a.shutdown().await.unwrap();
    let log = probe.log();
    let ours = |l: &&str| ["routine-", "wa@", "wb@"].iter().any(|m| l.contains(m));
    let warnings: Vec<&str> = log
        .lines()
        .filter(ours)
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    // The log does carry this test's lines (topology changes, at `info`).
    assert!(
        log.lines().filter(ours).any(|l| l.contains(" INFO ")),
        "{log}"
    );
    assert!(
        warnings.is_empty(),
        "routine work logged:\n{}",
        warnings.join("\n")
    );
}
