//! Passivation of on-demand actors over in-process nodes: an actor idle past its kind's
//! timeout stops with its state kept, and its next message starts it again with that
//! state; beyond the node's cap the least recently used are passivated.

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use ractor::{ActorProcessingErr, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::transport::MemoryNetwork;
use ractor_dist::{
    DistActor, DistConfig, DistNode, DistRef, HandoffMode, Kinds, Snapshot, StopReason,
};

const T: Duration = Duration::from_secs(10);
const CALL: Duration = Duration::from_secs(3);

#[derive(RactorClusterMessage)]
enum TallyMsg {
    Add(i64),
    #[rpc]
    Get(RpcReplyPort<i64>),
}

/// Every stop reason seen, by name.
static STOPS: Mutex<BTreeMap<String, Vec<StopReason>>> = Mutex::new(BTreeMap::new());

fn stops(name: &str) -> Vec<StopReason> {
    STOPS.lock().unwrap().get(name).cloned().unwrap_or_default()
}

/// A counter passivated after 300 ms without a message (`IDLE`), or only by the cap.
struct Tally<const IDLE: bool>;

impl<const IDLE: bool> DistActor for Tally<IDLE> {
    const KIND: &'static str = if IDLE { "idle" } else { "capped" };
    type Msg = TallyMsg;
    type State = i64;
    type Arguments = i64;
    const HANDOFF: HandoffMode = HandoffMode::Resume;
    const IDLE_TIMEOUT: Option<Duration> = if IDLE {
        Some(Duration::from_millis(300))
    } else {
        None
    };

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
            TallyMsg::Get(reply) => {
                let _ = reply.send(*n);
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

    async fn post_stop_with(
        &self,
        me: DistRef<TallyMsg>,
        _: &mut i64,
        reason: StopReason,
    ) -> Result<(), ActorProcessingErr> {
        let mut all = STOPS.lock().unwrap();
        all.entry(me.name().to_string()).or_default().push(reason);
        Ok(())
    }
}

async fn node(net: &MemoryNetwork, name: &str, port: u16, max_active: usize) -> DistNode {
    let kinds = Kinds::new()
        .with_factory(Tally::<true>, |_: &str| 0)
        .with_factory(Tally::<false>, |_: &str| 0);
    let config = DistConfig {
        max_active,
        ..DistConfig::for_tests(name, port)
    };
    net.start(config, kinds).await.unwrap()
}

/// Node `b` (port 2) with `kinds`, seeded with `a` (port 1), once both see both.
async fn join_b(net: &MemoryNetwork, a: &DistNode, kinds: Kinds) -> DistNode {
    let config = DistConfig {
        seeds: vec!["127.0.0.1:1".to_string()],
        ..DistConfig::for_tests("b", 2)
    };
    let b = net.start(config, kinds).await.unwrap();
    common::converged_within(T, &[a, &b], 2).await;
    b
}

/// Gives the actor of kind `A` named by each of `ids` on `node` the value of its place
/// plus one, then waits until every one is passivated.
async fn fill_and_passivate<A: DistActor<Msg = TallyMsg>>(node: &DistNode, ids: &[String]) {
    for (i, id) in ids.iter().enumerate() {
        let tally = node.ref_for::<A>(id);
        tally.cast(TallyMsg::Add(i as i64 + 1)).unwrap();
        assert_eq!(tally.call(TallyMsg::Get, CALL).await.unwrap(), i as i64 + 1);
    }
    common::eventually_within(T, "every actor passivated", || async {
        node.local_count() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_actor_is_passivated_with_its_state_and_its_next_message_restores_it() {
    let net = MemoryNetwork::new();
    let a = node(&net, "a", 1, 0).await;
    let tally = a.ref_for::<Tally<true>>("t1");
    tally.cast(TallyMsg::Add(5)).unwrap();
    assert_eq!(tally.call(TallyMsg::Get, CALL).await.unwrap(), 5);
    // Kept busy, it stays.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        tally.cast(TallyMsg::Add(1)).unwrap();
    }
    assert_eq!(a.local_count(), 1, "an actor in use is not passivated");
    assert!(stops("idle/t1").is_empty());

    common::eventually_within(T, "passivated when idle", || async { a.local_count() == 0 }).await;
    assert_eq!(stops("idle/t1"), vec![StopReason::Passivated]);
    assert!(!StopReason::Passivated.is_final());
    // The next message starts it again, with its state.
    tally.cast(TallyMsg::Add(100)).unwrap();
    assert_eq!(tally.call(TallyMsg::Get, CALL).await.unwrap(), 111);
    assert_eq!(a.local_count(), 1);
    assert_eq!(a.status().bad_snapshots, 0);

    // Stopped for good while passivated, it starts afresh.
    common::eventually_within(T, "passivated again", || async { a.local_count() == 0 }).await;
    tally.stop_and_wait(None, None).await.unwrap();
    assert_eq!(tally.call(TallyMsg::Get, CALL).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beyond_the_cap_the_least_recently_used_are_passivated_and_keep_their_state() {
    let net = MemoryNetwork::new();
    let a = node(&net, "b", 2, 3).await;
    let names: Vec<String> = (0..5).map(|i| format!("c{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let tally = a.ref_for::<Tally<false>>(name);
        tally.cast(TallyMsg::Add(i as i64 + 1)).unwrap();
        assert_eq!(tally.call(TallyMsg::Get, CALL).await.unwrap(), i as i64 + 1);
        // Distinct last-use times, at the clock's resolution.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    common::eventually_within(T, "down to the cap", || async { a.local_count() == 3 }).await;
    let running: Vec<String> = a.local_names().iter().map(|k| k.to_string()).collect();
    assert_eq!(running, ["capped/c2", "capped/c3", "capped/c4"]);
    assert_eq!(stops("capped/c0"), vec![StopReason::Passivated]);
    assert_eq!(stops("capped/c1"), vec![StopReason::Passivated]);
    // The passivated come back with their state (and others make room).
    for (i, name) in names.iter().enumerate() {
        let tally = a.ref_for::<Tally<false>>(name);
        assert_eq!(tally.call(TallyMsg::Get, CALL).await.unwrap(), i as i64 + 1);
    }
    common::eventually_within(T, "still at most the cap", || async {
        a.local_count() == 3
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_sent_while_an_actor_is_being_passivated_wait_and_start_it_again() {
    // A cap of one and two names used in turn: each is passivated while the other's
    // messages start it, over and over, with casts arriving during every passivation.
    let net = MemoryNetwork::new();
    let a = node(&net, "c", 3, 1).await;
    let x = a.ref_for::<Tally<false>>("x");
    let y = a.ref_for::<Tally<false>>("y");
    for round in 0..40 {
        for _ in 0..5 {
            x.cast(TallyMsg::Add(1)).unwrap();
            y.cast(TallyMsg::Add(10)).unwrap();
        }
        if round % 8 == 0 {
            tokio::time::sleep(Duration::from_millis(120)).await;
        }
    }
    let passivated = stops("capped/x").len() + stops("capped/y").len();
    assert_eq!(x.call(TallyMsg::Get, CALL).await.unwrap(), 200);
    assert_eq!(y.call(TallyMsg::Get, CALL).await.unwrap(), 2000);
    assert!(
        passivated >= 2,
        "the cap passivated them ({passivated} stops)"
    );
    assert_eq!(a.status().dropped_casts, 0);
}

/// Issue 12: the idle timeout is configurable per kind at run time
/// (`DistNode::set_idle_timeout`), for actors already running too, and can be turned off
/// again; a kind without a factory, an unknown kind and a zero timeout are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_timeout_set_at_run_time_passivates_running_actors_and_can_be_turned_off() {
    // Only the "capped" kind, which has no IDLE_TIMEOUT, and no cap: nothing passivates
    // (nor is anything looked at) until a timeout is set. Two nodes of separate clusters
    // started from clones of one `Kinds` are set each on its own.
    let kinds = Kinds::new().with_factory(Tally::<false>, |_: &str| 0);
    let net = MemoryNetwork::new();
    let a = net
        .start(DistConfig::for_tests("a", 1), kinds.clone())
        .await
        .unwrap();
    let other_net = MemoryNetwork::new();
    let b = other_net
        .start(DistConfig::for_tests("b", 2), kinds.clone())
        .await
        .unwrap();
    let on_b = b.ref_for::<Tally<false>>("rt2");
    on_b.cast(TallyMsg::Add(3)).unwrap();
    assert_eq!(on_b.call(TallyMsg::Get, CALL).await.unwrap(), 3);
    let t = a.ref_for::<Tally<false>>("rt1");
    t.cast(TallyMsg::Add(7)).unwrap();
    assert_eq!(t.call(TallyMsg::Get, CALL).await.unwrap(), 7);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(a.local_count(), 1, "passivated without a timeout");

    a.set_idle_timeout("capped", Some(Duration::from_millis(200)))
        .unwrap();
    common::eventually_within(T, "passivated once a timeout is set", || async {
        a.local_count() == 0
    })
    .await;
    assert_eq!(stops("capped/rt1"), vec![StopReason::Passivated]);
    assert_eq!(t.call(TallyMsg::Get, CALL).await.unwrap(), 7, "state kept");
    // b's copy of the kind kept no timeout, even once b re-reads its kind.
    b.set_checkpoints("capped", ractor_dist::Checkpoints::every_messages(1))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(b.local_count(), 1, "b passivated by a's setting");
    assert!(stops("capped/rt2").is_empty());

    // Turned off: started again (it may have been passivated again meanwhile), it stays
    // active however long it idles.
    a.set_idle_timeout("capped", None).unwrap();
    assert_eq!(t.call(TallyMsg::Get, CALL).await.unwrap(), 7);
    let passivations = stops("capped/rt1").len();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        a.local_count(),
        1,
        "passivated after the timeout was turned off"
    );
    assert_eq!(stops("capped/rt1").len(), passivations);

    // Refused with a clear error.
    assert!(matches!(
        a.set_idle_timeout("nope", Some(Duration::from_secs(1))),
        Err(ractor_dist::DistError::UnknownKind(k)) if k == "nope"
    ));
    for short in [Duration::ZERO, Duration::from_micros(500)] {
        let refused = a.set_idle_timeout("capped", Some(short));
        assert!(
            matches!(refused, Err(ractor_dist::DistError::Config(_))),
            "{short:?}: {refused:?}"
        );
    }
}

/// A kind without a factory is never passivated, so an idle timeout for it is refused.
#[test]
fn an_idle_timeout_for_a_kind_without_a_factory_is_refused() {
    let kinds = Kinds::new().with(Tally::<false>);
    let refused = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        kinds.with_idle_timeout("capped", Some(Duration::from_secs(1)))
    }));
    let message = *refused
        .expect_err("accepted")
        .downcast::<String>()
        .expect("a message");
    assert!(message.contains("factory"), "{message}");
}

/// Issue 12: the state kept of a passivated actor moves with its name when the name's
/// owner changes (a join), in the handoff of that view, so that its next message starts it
/// on its new owner with that state; a node that leaves hands its passivated states over
/// the same way. Before, the state stayed behind on the old owner and the new one started
/// the actor afresh (every value 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_of_a_passivated_actor_moves_to_its_new_owner_on_a_join() {
    let net = MemoryNetwork::new();
    let a = node(&net, "a", 1, 0).await;
    let ids: Vec<String> = (0..40).map(|i| format!("mv{i}")).collect();
    fill_and_passivate::<Tally<true>>(&a, &ids).await;
    let b = join_b(
        &net,
        &a,
        Kinds::new().with_factory(Tally::<true>, |_: &str| 0),
    )
    .await;
    let moved: Vec<&String> = ids
        .iter()
        .filter(|id| b.owner_of(&format!("idle/{id}")).as_ref() == Some(b.name()))
        .collect();
    assert!(!moved.is_empty(), "the join moves some names to b");
    for (i, id) in ids.iter().enumerate() {
        // Asked from either node, each starts on its owner with the state it had.
        let from = if i % 2 == 0 { &a } else { &b };
        let got = from
            .ref_for::<Tally<true>>(id)
            .call(TallyMsg::Get, CALL)
            .await
            .unwrap();
        assert_eq!(got, i as i64 + 1, "{id} kept its state");
    }
    for id in moved {
        assert!(
            b.local_names()
                .iter()
                .any(|k| k.as_str() == format!("idle/{id}")),
            "{id} runs on its new owner"
        );
    }
    for node in [&a, &b] {
        assert_eq!(node.status().bad_snapshots, 0);
    }

    // A graceful leave hands its passivated states over too.
    common::eventually_within(T, "passivated again on both nodes", || async {
        a.local_count() == 0 && b.local_count() == 0
    })
    .await;
    b.leave().await.unwrap();
    common::converged_within(T, &[&a], 1).await;
    for (i, id) in ids.iter().enumerate() {
        let tally = a.ref_for::<Tally<true>>(id);
        let got = tally.call(TallyMsg::Get, CALL).await.unwrap();
        assert_eq!(got, i as i64 + 1, "{id} kept its state through b's leave");
    }
    assert_eq!(a.status().bad_snapshots, 0);
}

/// The new owner of a passivated name that lacks its kind refuses its kept state, as it
/// would refuse a running actor: the state stays with the node that has the kind, which
/// starts the name there from it (registered with its owner). Before, the new owner took
/// the state and kept it for a kind it cannot start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_owner_without_the_kind_refuses_a_passivated_state() {
    let net = MemoryNetwork::new();
    let a = node(&net, "a", 1, 0).await;
    let ids: Vec<String> = (0..20).map(|i| format!("rf{i}")).collect();
    fill_and_passivate::<Tally<true>>(&a, &ids).await;
    // `b` has another kind only.
    let b = join_b(
        &net,
        &a,
        Kinds::new().with_factory(Tally::<false>, |_: &str| 0),
    )
    .await;
    assert!(
        ids.iter()
            .any(|id| b.owner_of(&format!("idle/{id}")).as_ref() == Some(b.name())),
        "the join gives b some names"
    );
    for (i, id) in ids.iter().enumerate() {
        let got = a
            .ref_for::<Tally<true>>(id)
            .call(TallyMsg::Get, CALL)
            .await
            .unwrap();
        assert_eq!(got, i as i64 + 1, "{id} kept its state");
    }
    assert!(
        b.status().unknown_kinds > 0,
        "b refused the states it cannot start"
    );
}

/// A `Stay` counter passivated after 300 ms without a message.
struct Sticky;

impl DistActor for Sticky {
    const KIND: &'static str = "sticky";
    type Msg = TallyMsg;
    type State = i64;
    type Arguments = i64;
    const HANDOFF: HandoffMode = HandoffMode::Stay;
    const IDLE_TIMEOUT: Option<Duration> = Some(Duration::from_millis(300));

    async fn pre_start(&self, _: DistRef<TallyMsg>, n: i64) -> Result<i64, ActorProcessingErr> {
        Ok(n)
    }

    async fn handle(
        &self,
        me: DistRef<TallyMsg>,
        msg: TallyMsg,
        n: &mut i64,
    ) -> Result<(), ActorProcessingErr> {
        Tally::<true>.handle(me, msg, n).await
    }

    fn snapshot(&self, n: &i64) -> Result<Vec<u8>, ActorProcessingErr> {
        Tally::<true>.snapshot(n)
    }

    async fn restore(
        &self,
        me: DistRef<TallyMsg>,
        n: i64,
        snapshot: Snapshot,
    ) -> Result<i64, ActorProcessingErr> {
        Tally::<true>.restore(me, n, snapshot).await
    }
}

/// A passivated `Stay` actor's kept state moves to its new owner as a `Resume` one's does:
/// nothing of it runs to stay where it is, and the new owner would start it afresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_of_a_passivated_stay_actor_moves_too() {
    let net = MemoryNetwork::new();
    let kinds = || Kinds::new().with_factory(Sticky, |_: &str| 0);
    let a = net
        .start(DistConfig::for_tests("a", 1), kinds())
        .await
        .unwrap();
    let ids: Vec<String> = (0..20).map(|i| format!("st{i}")).collect();
    fill_and_passivate::<Sticky>(&a, &ids).await;
    let b = join_b(&net, &a, kinds()).await;
    let moved: Vec<&String> = ids
        .iter()
        .filter(|id| b.owner_of(&format!("sticky/{id}")).as_ref() == Some(b.name()))
        .collect();
    assert!(!moved.is_empty(), "the join gives b some names");
    for (i, id) in ids.iter().enumerate() {
        let got = b
            .ref_for::<Sticky>(id)
            .call(TallyMsg::Get, CALL)
            .await
            .unwrap();
        assert_eq!(got, i as i64 + 1, "{id} kept its state");
    }
    for id in moved {
        assert!(
            b.local_names()
                .iter()
                .any(|k| k.as_str() == format!("sticky/{id}")),
            "{id} runs on its new owner"
        );
    }
}
