//! Several nodes in this one process over the in-memory transport: routing, migration on a
//! join, respawn after a crash, and a partition that heals. Every wait is bounded.

mod common;

use std::time::Duration;

use ractor::{ActorProcessingErr, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::transport::MemoryNetwork;
use ractor_dist::{
    Checkpoints, DistActor, DistConfig, DistNode, DistRef, HandoffMode, Kinds, Snapshot,
};

const T: Duration = Duration::from_secs(10);
const CALL: Duration = Duration::from_secs(3);

#[derive(RactorClusterMessage)]
enum TallyMsg {
    Add(i64),
    #[rpc]
    Get(RpcReplyPort<i64>),
}

/// A counter that moves with its state and checkpoints after every message.
struct Tally;

impl DistActor for Tally {
    const KIND: &'static str = "tally";
    type Msg = TallyMsg;
    type State = i64;
    type Arguments = i64;
    const HANDOFF: HandoffMode = HandoffMode::Resume;
    const CHECKPOINTS: Checkpoints = Checkpoints::every_messages(1);

    async fn pre_start(&self, _: DistRef<TallyMsg>, n: i64) -> Result<i64, ActorProcessingErr> {
        Ok(n)
    }

    async fn handle(
        &self,
        _: DistRef<TallyMsg>,
        msg: TallyMsg,
        n: &mut i64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            TallyMsg::Add(d) => *n += d,
            TallyMsg::Get(r) => {
                let _ = r.send(*n);
            }
        }
        Ok(())
    }

    fn snapshot(&self, n: &i64) -> Result<Vec<u8>, ActorProcessingErr> {
        Snapshot::encode(n)
    }

    async fn restore(
        &self,
        _: DistRef<TallyMsg>,
        _: i64,
        snapshot: Snapshot,
    ) -> Result<i64, ActorProcessingErr> {
        snapshot.decode(Self::STATE_VERSION)
    }
}

fn config(name: &str, port: u16, seeds: &[u16]) -> DistConfig {
    DistConfig {
        seeds: seeds.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
        replicas: 2,
        ..DistConfig::for_tests(name, port)
    }
}

async fn start(net: &MemoryNetwork, name: &str, port: u16, seeds: &[u16]) -> DistNode {
    start_with(net, config(name, port, seeds)).await
}

async fn start_with(net: &MemoryNetwork, config: DistConfig) -> DistNode {
    net.start(config, Kinds::new().with(Tally))
        .await
        .expect("node starts")
}

/// Nodes `a` and `b` (seeded with `a`), once each sees both.
async fn two_nodes(net: &MemoryNetwork) -> (DistNode, DistNode) {
    let a = start(net, "a", 1, &[]).await;
    let b = start(net, "b", 2, &[1]).await;
    converged(&[&a, &b], 2).await;
    (a, b)
}

/// The first `n` ids `w<i>` whose tally `node` owns.
fn ids_owned_by(node: &DistNode, n: usize) -> Vec<String> {
    let ids: Vec<String> = (0..200)
        .map(|i| format!("w{i}"))
        .filter(|id| node.owner_of(&format!("tally/{id}")).as_ref() == Some(node.name()))
        .take(n)
        .collect();
    assert_eq!(ids.len(), n, "ids owned by {}", node.name());
    ids
}

/// Polls `check` every 20 ms until it holds, for at most the file's limit.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    common::eventually_within(T, what, check).await
}

async fn converged(nodes: &[&DistNode], n: usize) {
    common::converged_within(T, nodes, n).await
}

async fn value(node: &DistNode, name: &str) -> i64 {
    let r = node.lookup::<TallyMsg>(name).await.unwrap_or_else(|e| {
        panic!("{name} not found from {}: {e}", node.name());
    });
    r.call(TallyMsg::Get, CALL).await.expect("call")
}

/// The value of `name` as seen from `node`, if it answers now.
async fn try_value(node: &DistNode, name: &str) -> Option<i64> {
    let r = node.lookup::<TallyMsg>(name).await.ok()?;
    r.call(TallyMsg::Get, CALL).await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_route_from_every_node_and_move_with_their_state_on_a_join() {
    let net = MemoryNetwork::new();
    let a = start(&net, "a", 1, &[]).await;
    let b = start(&net, "b", 2, &[1]).await;
    let c = start(&net, "c", 3, &[1]).await;
    converged(&[&a, &b, &c], 3).await;

    let names: Vec<String> = (0..40).map(|i| format!("t{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let r = a.spawn::<Tally>(name.as_str(), i as i64).await.unwrap();
        r.cast(TallyMsg::Add(1)).unwrap();
    }
    // Casts from another node, calls from a third: each name answers from one place.
    for name in &names {
        b.lookup::<TallyMsg>(name.as_str())
            .await
            .unwrap()
            .cast(TallyMsg::Add(10))
            .unwrap();
    }
    for (i, name) in names.iter().enumerate() {
        let want = i as i64 + 11;
        eventually("casts applied", || async {
            try_value(&c, name).await == Some(want)
        })
        .await;
        assert_eq!(
            common::hosts(&[&a, &b, &c], name).len(),
            1,
            "{name} runs once"
        );
    }

    // A fourth node joins: the names it now owns move there with their state. (This
    // found names lost on a join: a node acknowledged a batch that arrived before its
    // supervisor was published, without starting its actors.)
    let d = start(&net, "d", 4, &[2]).await;
    converged(&[&a, &b, &c, &d], 4).await;
    let all = [&a, &b, &c, &d];
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            value(&a, name).await,
            i as i64 + 11,
            "{name} kept its state"
        );
        let owner = a.owner_of(name).unwrap();
        eventually("hosted by its owner", || async {
            common::hosts(&all, name) == vec![owner.clone()]
        })
        .await;
    }
    assert!(d.local_count() > 0, "the newcomer took some names");
    assert!(d.status().moved_in > 0);
    for node in all {
        assert_eq!(node.status().handoff_fallbacks, 0, "{}", node.name());
        assert_eq!(node.status().dropped_casts, 0, "{}", node.name());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_of_a_crashed_node_are_respawned_from_their_checkpoints() {
    let net = MemoryNetwork::new();
    let a = start(&net, "a", 1, &[]).await;
    let b = start(&net, "b", 2, &[1]).await;
    let c = start(&net, "c", 3, &[1]).await;
    converged(&[&a, &b, &c], 3).await;

    let names: Vec<String> = (0..30).map(|i| format!("r{i}")).collect();
    for name in &names {
        let r = a.spawn::<Tally>(name.as_str(), 100).await.unwrap();
        assert_eq!(r.call(|p| { TallyMsg::Get(p) }, CALL).await.unwrap(), 100);
        r.cast(TallyMsg::Add(5)).unwrap();
    }
    for name in &names {
        eventually("checkpointed value", || async {
            try_value(&a, name).await == Some(105)
        })
        .await;
    }
    // Every checkpoint has reached its replicas before the crash.
    eventually("replicated", || async {
        let specs: u64 = [&a, &b, &c].iter().map(|n| n.status().replica_specs).sum();
        specs >= names.len() as u64
    })
    .await;

    let lost: Vec<String> = names
        .iter()
        .filter(|n| c.local_names().iter().any(|k| k.as_str() == n.as_str()))
        .cloned()
        .collect();
    assert!(!lost.is_empty(), "c hosts some names");
    net.crash(&c);
    converged(&[&a, &b], 2).await;
    for name in &names {
        eventually("served again", || async {
            common::hosts(&[&a, &b], name).len() == 1
        })
        .await;
        assert_eq!(
            value(&b, name).await,
            105,
            "{name} came back with its checkpoint"
        );
    }
    let respawned: u64 = [&a, &b].iter().map(|n| n.status().respawned).sum();
    assert_eq!(respawned, lost.len() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_of_a_partition_serve_and_one_copy_remains_after_the_heal() {
    // Three replicas: every node keeps every spec, so each side can serve every name.
    let net = MemoryNetwork::new();
    let all = |name, port, seeds: &[u16]| DistConfig {
        replicas: 3,
        ..config(name, port, seeds)
    };
    let a = start_with(&net, all("a", 1, &[])).await;
    let b = start_with(&net, all("b", 2, &[1])).await;
    let c = start_with(&net, all("c", 3, &[1, 2])).await;
    converged(&[&a, &b, &c], 3).await;
    let names: Vec<String> = (0..20).map(|i| format!("p{i}")).collect();
    for name in &names {
        a.spawn::<Tally>(name.as_str(), 0).await.unwrap();
    }
    eventually("replicated on every node", || async {
        let specs: u64 = [&a, &b, &c].iter().map(|n| n.status().replica_specs).sum();
        specs >= 2 * names.len() as u64
    })
    .await;

    let on_c: Vec<bool> = names
        .iter()
        .map(|n| c.local_names().iter().any(|k| k.as_str() == n.as_str()))
        .collect();
    assert!(on_c.iter().any(|x| *x) && !on_c.iter().all(|x| *x));

    // c is cut off from a and b: each side serves every name by itself.
    net.cut(c.name(), a.name());
    net.cut(c.name(), b.name());
    converged(&[&a, &b], 2).await;
    converged(&[&c], 1).await;
    // Each side writes to its own copy.
    for name in &names {
        eventually("majority side serves", || async {
            try_value(&a, name).await == Some(0)
        })
        .await;
        eventually("minority side serves", || async {
            try_value(&c, name).await == Some(0)
        })
        .await;
        let add = |node: &DistNode, n: i64| {
            let node = node.clone();
            let name = name.clone();
            async move {
                let r = node.lookup::<TallyMsg>(name.as_str()).await.unwrap();
                r.call(TallyMsg::Get, CALL).await.unwrap();
                r.cast(TallyMsg::Add(n)).unwrap();
                eventually("written", || async {
                    try_value(&node, &name).await == Some(n)
                })
                .await;
            }
        };
        add(&a, 1).await;
        add(&c, 10).await;
    }

    net.heal(c.name(), a.name());
    net.heal(c.name(), b.name());
    converged(&[&a, &b, &c], 3).await;
    // KeepNewest: the respawned copy (one generation newer) wins over the original, so a
    // name that ran on c keeps the majority's write and the others keep c's.
    for (name, was_on_c) in names.iter().zip(&on_c) {
        eventually("one copy after the heal", || async {
            common::hosts(&[&a, &b, &c], name).len() == 1
        })
        .await;
        let want = if *was_on_c { 1 } else { 10 };
        eventually("the newest copy's state", || async {
            try_value(&b, name).await == Some(want)
        })
        .await;
    }
    let conflicts: u64 = [&a, &b, &c].iter().map(|n| n.status().conflicts).sum();
    assert_eq!(
        conflicts,
        names.len() as u64,
        "every name met its other copy once"
    );
}

/// A session replaced under a stream of casts (ractor_cluster's election between two
/// simultaneous dials, seen with real processes as "node n4 is unreachable" during a join):
/// the casts that the outbox could no longer hand to the old session are routed again over
/// the new one, in order, none dropped. Before, the outbox dropped them (counted) and told
/// the sender the peer was unreachable although it was a member all along.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casts_survive_a_replaced_session() {
    let net = MemoryNetwork::new();
    let a = start(&net, "a", 1, &[]).await;
    let b = start(&net, "b", 2, &[1]).await;
    converged(&[&a, &b], 2).await;
    // Names hosted on `a`, sent to from `b`.
    let names: Vec<String> = (0..200)
        .map(|i| format!("s{i}"))
        .filter(|n| a.owner_of(n.as_str()).as_ref() == Some(a.name()))
        .take(8)
        .collect();
    assert_eq!(names.len(), 8);
    let mut refs = Vec::new();
    for name in &names {
        a.spawn::<Tally>(name.as_str(), 0).await.unwrap();
        refs.push(b.lookup::<TallyMsg>(name.as_str()).await.unwrap());
    }
    let (ab, bb) = (a.name().clone(), b.name().clone());
    let mut sent = 0i64;
    for round in 0..5 {
        for i in 0..300 {
            for r in &refs {
                r.cast(TallyMsg::Add(1))
                    .expect("a cast to a member is accepted");
            }
            sent += 1;
            if i == 150 {
                assert!(net.replace_session(&ab, &bb).await, "round {round}");
            }
            if i % 50 == 0 {
                tokio::task::yield_now().await;
            }
        }
        // Every cast of the round arrives (over the new session) before the next one.
        for name in &names {
            let mut applied = None;
            for _ in 0..200 {
                applied = try_value(&b, name).await;
                if applied == Some(sent) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(
                applied,
                Some(sent),
                "{name}, round {round}; a: {:?}; b: {:?}",
                a.status(),
                b.status()
            );
        }
    }
    // Once the new session is up, the same handles send over it: none of their casts goes
    // through the supervisor (forwarded) any more.
    let forwarded = b.status().forwarded;
    for _ in 0..300 {
        for r in &refs {
            r.cast(TallyMsg::Add(1)).expect("accepted");
        }
        sent += 1;
    }
    for name in &names {
        eventually("the last casts applied", || async {
            try_value(&b, name).await == Some(sent)
        })
        .await;
    }
    assert_eq!(
        b.status().forwarded,
        forwarded,
        "casts over a replaced session's successor went through the supervisor"
    );
    for node in [&a, &b] {
        let status = node.status();
        assert_eq!(status.dropped_casts, 0, "{}", node.name());
        assert_eq!(status.gaps_skipped, 0, "{}", node.name());
        assert_eq!(
            status.members.len(),
            2,
            "{}: the peer stayed a member",
            node.name()
        );
    }
}

/// A node's casts to one name keep their numbers across its two paths: a looked-up
/// handle's cast waiting in the outbox (its session just replaced) and a fresh handle's
/// cast handed to the supervisor right after it. The host had never heard from this
/// node about the name, so it starts the stream at the first number it sees: the
/// supervisor must not send the later cast ahead of the outbox's earlier one. Before, it
/// did (on one thread, always): the host started the stream at the later number and
/// dropped the earlier cast as "too late". (The multi-threaded test below hit this one
/// run in ten.)
#[tokio::test(flavor = "current_thread")]
async fn a_cast_waiting_in_the_outbox_is_not_overtaken_by_a_later_one_through_the_supervisor() {
    let net = MemoryNetwork::new();
    let (a, b) = two_nodes(&net).await;
    let ids = ids_owned_by(&a, 2);
    let (id, probe) = (&ids[0], &ids[1]);
    let name = format!("tally/{id}");
    a.spawn::<Tally>(name.as_str(), 0).await.unwrap();
    a.spawn::<Tally>(format!("tally/{probe}").as_str(), 0)
        .await
        .unwrap();
    let looked_up = b.lookup::<TallyMsg>(name.as_str()).await.unwrap();
    // A call caches the handle's route; no cast of `b` to the name has reached `a` yet.
    assert_eq!(looked_up.call(TallyMsg::Get, CALL).await.unwrap(), 0);
    net.delay_confirmations(Duration::from_millis(300));
    assert!(net.replace_session(a.name(), b.name()).await);
    // Once a fresh handle of `b` no longer routes over a session to `a` (it caches no
    // route), `b` knows the new session and waits for its confirmation. The looked-up
    // handle's route stays cached: the view is the same.
    eventually("b waits for the new session's confirmation", || async {
        let fresh = b.ref_for::<Tally>(probe);
        fresh.cast(TallyMsg::Add(1)).expect("accepted");
        format!("{fresh:?}").ends_with("unresolved)")
    })
    .await;
    assert!(format!("{looked_up:?}").ends_with(&format!("on {})", a.name())));
    // No await between the two: the outbox's flush task has not run.
    looked_up.cast(TallyMsg::Add(1)).expect("accepted");
    b.ref_for::<Tally>(id)
        .cast(TallyMsg::Add(10))
        .expect("accepted");
    let got = looked_up
        .call(TallyMsg::Get, CALL)
        .await
        .expect("a call to a member being confirmed waits for it");
    assert_eq!(got, 11, "both casts applied before the call");
    for node in [&a, &b] {
        assert_eq!(node.status().dropped_casts, 0, "{}", node.name());
    }
}

/// A call sent just as its session was replaced (this node has not heard of the new
/// session yet, so the old one's proxy refuses it) was never sent: it goes over the new
/// session once this node has it, within its timeout. Before, it failed at once with
/// `Unreachable` although the host was a member all along.
#[tokio::test(flavor = "current_thread")]
async fn a_call_refused_by_a_session_just_replaced_goes_over_the_new_one() {
    let net = MemoryNetwork::new();
    let (a, b) = two_nodes(&net).await;
    let id = &ids_owned_by(&a, 1)[0];
    let name = format!("tally/{id}");
    a.spawn::<Tally>(name.as_str(), 7).await.unwrap();
    let looked_up = b.lookup::<TallyMsg>(name.as_str()).await.unwrap();
    assert_eq!(looked_up.call(TallyMsg::Get, CALL).await.unwrap(), 7);
    net.delay_confirmations(Duration::from_millis(100));
    assert!(net.replace_session(a.name(), b.name()).await);
    // No await since the replacement: `b` still routes over the closed session.
    let got = looked_up
        .call(TallyMsg::Get, CALL)
        .await
        .expect("a call the closed session refused goes over the new one");
    assert_eq!(got, 7);
}

/// Between a session (re)opening and its token's confirmation, a node knows a member but
/// does not send to it yet (seen with real processes as "node n4 is unreachable" while a
/// fourth node joined). Messages sent in that window wait in the supervisor until the
/// session is confirmed, the handle's next ones behind them, and the stream goes on across
/// the confirmation: none fails, none is lost or reordered (a call sees every cast sent
/// before it). Before, every send in the window failed with `Unreachable`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_to_a_member_whose_session_is_being_confirmed_wait_for_it() {
    let net = MemoryNetwork::new();
    let (a, b) = two_nodes(&net).await;
    // Fresh handles (`ref_for`) route by the view at each send; looked-up ones by their
    // cached route.
    let ids = ids_owned_by(&a, 4);
    let names: Vec<String> = ids.iter().map(|id| format!("tally/{id}")).collect();
    let mut refs = Vec::new();
    for name in &names {
        a.spawn::<Tally>(name.as_str(), 0).await.unwrap();
        refs.push(b.lookup::<TallyMsg>(name.as_str()).await.unwrap());
    }
    net.delay_confirmations(Duration::from_millis(400));
    assert!(net.replace_session(a.name(), b.name()).await);
    let mut sent = 0i64;
    let mut called = 0;
    // The most messages `b` held at once: some waited for the confirmation.
    let mut held = 0;
    let started = std::time::Instant::now();
    // Past the confirmation (400 ms), so that sends cross it.
    while started.elapsed() < Duration::from_millis(700) {
        for (r, id) in refs.iter().zip(&ids) {
            r.cast(TallyMsg::Add(1))
                .expect("a cast to a member being confirmed is accepted");
            b.ref_for::<Tally>(id)
                .cast(TallyMsg::Add(1))
                .expect("a cast to a member being confirmed is accepted");
        }
        sent += 2;
        held = held.max(b.status().buffered);
        if sent % 40 == 0 {
            // A call in the window waits for the session, then sees every cast before it.
            let got = refs[0]
                .call(TallyMsg::Get, CALL)
                .await
                .expect("a call to a member being confirmed waits for it");
            assert_eq!(got, sent, "the call came after {sent} casts");
            called += 1;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(called > 0);
    for name in &names {
        eventually("every cast applied", || async {
            try_value(&b, name).await == Some(sent)
        })
        .await;
    }
    assert!(
        held > 0,
        "no message waited for the confirmation: the window was not hit"
    );
    for node in [&a, &b] {
        let status = node.status();
        assert_eq!(status.dropped_casts, 0, "{}", node.name());
        assert_eq!(status.gaps_skipped, 0, "{}", node.name());
    }
}

#[derive(RactorClusterMessage)]
enum WitnessMsg {
    Note,
    #[rpc]
    Seen(RpcReplyPort<Vec<u64>>),
}

/// Notes, for each message, how many pauses its node had noticed when it handled it.
struct Witness;

impl DistActor for Witness {
    const KIND: &'static str = "witness";
    type Msg = WitnessMsg;
    type State = Vec<u64>;
    type Arguments = ();

    async fn pre_start(
        &self,
        _: DistRef<WitnessMsg>,
        _: (),
    ) -> Result<Vec<u64>, ActorProcessingErr> {
        Ok(Vec::new())
    }

    async fn handle(
        &self,
        myself: DistRef<WitnessMsg>,
        msg: WitnessMsg,
        seen: &mut Vec<u64>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            WitnessMsg::Note => seen.push(myself.node()?.status().pauses),
            WitnessMsg::Seen(r) => {
                let _ = r.send(seen.clone());
            }
        }
        Ok(())
    }

    fn snapshot(&self, seen: &Vec<u64>) -> Result<Vec<u8>, ActorProcessingErr> {
        Snapshot::encode(seen)
    }

    async fn restore(
        &self,
        _: DistRef<WitnessMsg>,
        _: (),
        snapshot: Snapshot,
    ) -> Result<Vec<u64>, ActorProcessingErr> {
        snapshot.decode(Self::STATE_VERSION)
    }
}

/// After a system suspend (its clock jumps past the heartbeat deadline: its peers may have
/// declared it down and respawned its names), a node notices the pause before any hosted
/// actor handles a message a local handle put straight into its mailbox over a route
/// cached before the suspend. Before, the actor handled it at once, and the node did not
/// notice the suspend at all (its clock, `Instant`, stops during one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_suspend_no_actor_handles_a_message_before_the_node_noticed_the_pause() {
    let net = MemoryNetwork::new();
    let kinds = || Kinds::new().with(Tally).with(Witness);
    let a = net.start(config("a", 1, &[]), kinds()).await.expect("a");
    let b = net.start(config("b", 2, &[1]), kinds()).await.expect("b");
    let c = net.start(config("c", 3, &[1]), kinds()).await.expect("c");
    converged(&[&a, &b, &c], 3).await;
    let name = (0..)
        .map(|i| format!("witness-{i}"))
        .find(|n| a.owner_of(n).as_ref() == Some(a.name()))
        .expect("a owns some name");
    a.spawn::<Witness>(name.as_str(), ()).await.expect("spawn");
    let local = a.lookup::<WitnessMsg>(name.as_str()).await.expect("lookup");
    local.cast(WitnessMsg::Note).expect("cast");
    assert_eq!(
        local.call(WitnessMsg::Seen, CALL).await.expect("call"),
        vec![0]
    );
    assert_eq!(a.status().pauses, 0);

    // Suspended for three heartbeat deadlines; the first thing after it: a cast over the
    // route the handle cached.
    net.suspend(&a, Duration::from_secs(3));
    local
        .cast(WitnessMsg::Note)
        .expect("cast after the suspend");
    let mut seen = Vec::new();
    for _ in 0..100 {
        if let Ok(now) = local.call(WitnessMsg::Seen, CALL).await {
            seen = now;
            if seen.len() == 2 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen.len(),
        2,
        "the note after the suspend was not handled: {seen:?}"
    );
    assert!(
        seen[1] >= 1,
        "handled before the node noticed the pause: {seen:?}"
    );
    assert!(a.status().pauses >= 1, "{:?}", a.status());
}

/// After a join moves names, every node's `under_replicated` comes back to 0: each name it
/// hosts has its replica set confirmed again (what an operator waits for before taking the
/// next node down).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_name_has_its_replica_set_again_after_a_join() {
    let net = MemoryNetwork::new();
    let (a, b) = two_nodes(&net).await;
    for i in 0..60 {
        a.spawn::<Tally>(format!("r{i}").as_str(), i).await.unwrap();
    }
    let c = start(&net, "c", 3, &[1]).await;
    converged(&[&a, &b, &c], 3).await;
    assert!(c.status().moved_in > 0, "no name moved to the newcomer");
    eventually("every node's names have their replica sets", || async {
        [&a, &b, &c]
            .iter()
            .all(|n| n.status().under_replicated == 0)
    })
    .await;
    // Each name is kept by one node besides its host (former holders drop theirs): 60
    // specs in all.
    eventually("one spec of each name besides its host", || async {
        [&a, &b, &c]
            .iter()
            .map(|n| n.status().replica_specs)
            .sum::<u64>()
            == 60
    })
    .await;
}
