//! ractor-shaped call sites on a `DistRef`: `cast!`, `call!` and `call_t!` (the same imports
//! serve a plain ractor `ActorRef`), `call` with an optional timeout, `send_after` and
//! `send_interval`; a failed cast hands its message back; and what a spawn tells: created or found, and a name that runs as
//! another kind. Nodes run in this process over the in-memory transport; every wait is
//! bounded.

mod common;

use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RactorErr, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::transport::MemoryNetwork;
use ractor_dist::{
    call, call_t, cast, DistActor, DistConfig, DistError, DistNode, DistRef, Kinds, Spawned,
};

const T: Duration = Duration::from_secs(10);

#[derive(RactorClusterMessage)]
enum CounterMsg {
    Add(i64),
    #[rpc]
    Get(RpcReplyPort<i64>),
    #[rpc]
    AddAndGet(i64, i64, RpcReplyPort<i64>),
    /// Sends itself `Add(n)` after `ms` with `myself.send_after`.
    AddLater(i64, u64),
    /// Ignored (a payload of any size).
    Blob(Vec<u8>),
}

struct Counter;

impl DistActor for Counter {
    const KIND: &'static str = "counter";
    type Msg = CounterMsg;
    type State = i64;
    type Arguments = i64;

    async fn pre_start(&self, _: DistRef<CounterMsg>, n: i64) -> Result<i64, ActorProcessingErr> {
        Ok(n)
    }

    async fn handle(
        &self,
        myself: DistRef<CounterMsg>,
        msg: CounterMsg,
        n: &mut i64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CounterMsg::Add(d) => *n += d,
            CounterMsg::Get(r) => {
                let _ = r.send(*n);
            }
            CounterMsg::AddAndGet(a, b, r) => {
                *n += a + b;
                let _ = r.send(*n);
            }
            CounterMsg::AddLater(d, ms) => {
                myself.send_after(Duration::from_millis(ms), move || CounterMsg::Add(d));
            }
            CounterMsg::Blob(_) => {}
        }
        Ok(())
    }
}

/// The same messages under another kind name.
struct OtherCounter;

impl DistActor for OtherCounter {
    const KIND: &'static str = "other-counter";
    type Msg = CounterMsg;
    type State = i64;
    type Arguments = i64;

    async fn pre_start(&self, _: DistRef<CounterMsg>, n: i64) -> Result<i64, ActorProcessingErr> {
        Ok(n)
    }
}

/// A plain local ractor actor, beside the distributed ones.
struct Plain;

impl Actor for Plain {
    type Msg = CounterMsg;
    type State = i64;
    type Arguments = ();

    async fn pre_start(&self, _: ActorRef<CounterMsg>, _: ()) -> Result<i64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ActorRef<CounterMsg>,
        msg: CounterMsg,
        n: &mut i64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CounterMsg::Add(d) => *n += d,
            CounterMsg::Get(r) => {
                let _ = r.send(*n);
            }
            CounterMsg::AddAndGet(a, b, r) => {
                *n += a + b;
                let _ = r.send(*n);
            }
            CounterMsg::AddLater(..) | CounterMsg::Blob(_) => {}
        }
        Ok(())
    }
}

async fn two_nodes(net: &MemoryNetwork) -> (DistNode, DistNode) {
    let kinds = || Kinds::new().with(Counter).with(OtherCounter);
    let a = net
        .start(DistConfig::for_tests("a", 1), kinds())
        .await
        .expect("a starts");
    let b = net
        .start(
            DistConfig {
                seeds: vec!["127.0.0.1:1".to_string()],
                ..DistConfig::for_tests("b", 2)
            },
            kinds(),
        )
        .await
        .expect("b starts");
    common::converged_within(T, &[&a, &b], 2).await;
    (a, b)
}

/// A name owned by `owner` in the current view.
fn name_owned_by(node: &DistNode, owner: &DistNode, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|n| node.owner_of(n).as_ref() == Some(owner.name()))
        .expect("some name is owned by each node")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ractor_macros_work_on_local_and_remote_dist_refs_and_on_plain_actor_refs() {
    let net = MemoryNetwork::new();
    let (a, b) = two_nodes(&net).await;
    for owner in [&a, &b] {
        let name = name_owned_by(&a, owner, "m");
        let counter = a.spawn::<Counter>(name.as_str(), 1).await.expect("spawn");
        cast!(counter, CounterMsg::Add(2)).expect("cast!");
        assert_eq!(call!(counter, CounterMsg::Get).expect("call!"), 3);
        assert_eq!(
            call!(counter, CounterMsg::AddAndGet, 10, 20).expect("call! with arguments"),
            33
        );
        assert_eq!(
            call_t!(counter, CounterMsg::Get, 2_000).expect("call_t!"),
            33
        );
        assert_eq!(
            call_t!(counter, CounterMsg::AddAndGet, 2_000, 1, 1).expect("call_t! with arguments"),
            35
        );
        // `call` itself takes a Duration, Some(Duration) or None, as ractor's does.
        assert_eq!(counter.call(CounterMsg::Get, None).await.unwrap(), 35);
        let some = Some(Duration::from_secs(2));
        assert_eq!(counter.call(CounterMsg::Get, some).await.unwrap(), 35);
    }

    // The same macros on a plain ractor actor return ractor's errors, as ractor's macros do.
    let (plain, handle) = Actor::spawn(None, Plain, ()).await.expect("plain actor");
    cast!(plain, CounterMsg::Add(5)).expect("cast! on an ActorRef");
    let got: Result<i64, RactorErr<CounterMsg>> = call!(plain, CounterMsg::Get);
    assert_eq!(got.expect("call! on an ActorRef"), 5);
    assert_eq!(
        call_t!(plain, CounterMsg::AddAndGet, 2_000, 1, 2).unwrap(),
        8
    );
    plain.stop(None);
    handle.await.expect("plain actor exits");
    assert!(matches!(
        cast!(plain, CounterMsg::Add(1)),
        Err(RactorErr::Messaging(_))
    ));

    // A failing DistRef call site reports a DistError, which says whether to retry.
    let gone = a.lookup::<CounterMsg>("never-spawned").await;
    assert!(matches!(&gone, Err(DistError::NotFound(_))), "{gone:?}");
    assert!(!gone.unwrap_err().is_transient());
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_after_delivers_once_and_an_aborted_one_never() {
    let net = MemoryNetwork::new();
    let (a, b) = two_nodes(&net).await;
    let name = name_owned_by(&a, &b, "later");
    let counter = a.spawn::<Counter>(name.as_str(), 0).await.unwrap();

    let sent = counter.send_after(Duration::from_millis(20), || CounterMsg::Add(7));
    sent.await.expect("timer task").expect("the delayed cast");
    common::eventually_within(T, "the delayed cast arrives", || async {
        counter.call(CounterMsg::Get, T).await.ok() == Some(7)
    })
    .await;

    let cancelled = counter.send_after(Duration::from_secs(600), || CounterMsg::Add(1_000));
    cancelled.abort();
    assert!(cancelled.await.unwrap_err().is_cancelled());

    // From inside an actor, on its own `myself`.
    cast!(counter, CounterMsg::AddLater(3, 10)).unwrap();
    common::eventually_within(T, "the actor's own delayed cast arrives", || async {
        counter.call(CounterMsg::Get, T).await.ok() == Some(10)
    })
    .await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_interval_repeats_until_aborted_and_ends_once_the_name_is_gone() {
    let net = MemoryNetwork::new();
    let (a, b) = two_nodes(&net).await;
    let name = name_owned_by(&a, &b, "ticks");
    let counter = a.spawn::<Counter>(name.as_str(), 0).await.unwrap();

    let period = Duration::from_millis(10);
    let ticker = counter.send_interval(period, || CounterMsg::Add(1));
    common::eventually_within(T, "three ticks", || async {
        counter.call(CounterMsg::Get, T).await.unwrap_or(0) >= 3
    })
    .await;
    ticker.abort();
    assert!(ticker.await.unwrap_err().is_cancelled());
    let stopped_at = counter.call(CounterMsg::Get, T).await.unwrap();
    tokio::time::sleep(period * 10).await;
    assert_eq!(
        counter.call(CounterMsg::Get, T).await.unwrap(),
        stopped_at,
        "no tick after the abort"
    );

    // A ticker on an actor of this node ends with it (here: stopped for good).
    let name = name_owned_by(&a, &a, "local-ticks");
    let counter = a.spawn::<Counter>(name.as_str(), 0).await.unwrap();
    let ticker = counter.send_interval(period, || CounterMsg::Add(1));
    common::eventually_within(T, "a tick on the local actor", || async {
        counter.call(CounterMsg::Get, T).await.unwrap_or(0) >= 1
    })
    .await;
    counter.stop_and_wait(None, None).await.unwrap();
    let ended = tokio::time::timeout(T, ticker).await;
    assert!(
        matches!(ended, Ok(Ok(()))),
        "the ticker did not end: {ended:?}"
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_tells_created_from_found_and_refuses_another_kind() {
    let net = MemoryNetwork::new();
    let (a, b) = two_nodes(&net).await;
    for owner in [&a, &b] {
        let name = name_owned_by(&a, owner, "k");
        let first = a.spawn_with_outcome::<Counter>(name.as_str(), 5).await;
        assert!(matches!(first, Ok(Spawned::Created(_))), "{first:?}");
        // From either node: found, and its arguments were not used.
        for from in [&a, &b] {
            let again = from.spawn_with_outcome::<Counter>(name.as_str(), 99).await;
            let again = again.expect("spawn of a running name");
            assert!(!again.created());
            let counter = again.into_ref();
            assert_eq!(counter.call(CounterMsg::Get, T).await.unwrap(), 5);
        }
        // The same name as another kind (same messages): a clear error, from either node,
        // and the running actor is untouched.
        for from in [&a, &b] {
            match from.spawn::<OtherCounter>(name.as_str(), 0).await {
                Err(e @ DistError::KindMismatch { .. }) => {
                    let DistError::KindMismatch {
                        running, requested, ..
                    } = &e
                    else {
                        unreachable!()
                    };
                    assert_eq!(
                        (running.as_str(), requested.as_str()),
                        ("counter", "other-counter")
                    );
                    assert!(!e.is_transient());
                    assert!(e.to_string().contains("already runs as kind"), "{e}");
                }
                other => panic!("spawn as another kind: {other:?}"),
            }
        }
        let counter = a.lookup::<CounterMsg>(name.as_str()).await.unwrap();
        assert_eq!(counter.call(CounterMsg::Get, T).await.unwrap(), 5);
    }
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_cast_hands_its_message_back() {
    let net = MemoryNetwork::new();
    let node = |name: &str, port: u16, seeds: Vec<String>| {
        let config = DistConfig {
            seeds,
            max_frame_bytes: 64 << 10,
            ..DistConfig::for_tests(name, port)
        };
        net.start(config, Kinds::new().with(Counter))
    };
    let a = node("a", 5, vec![]).await.expect("a starts");
    let b = node("b", 6, vec!["127.0.0.1:5".into()])
        .await
        .expect("b starts");
    common::converged_within(T, &[&a, &b], 2).await;

    // Refused before it left: the name (a's own to look up) runs nowhere.
    let gone = a
        .spawn::<Counter>(name_owned_by(&a, &a, "gone").as_str(), 0)
        .await
        .unwrap();
    gone.stop_and_wait(None, None).await.unwrap();
    let (error, message) = cast!(gone, CounterMsg::Add(5)).unwrap_err().into_parts();
    assert!(matches!(error, DistError::NotFound(_)), "{error}");
    assert!(matches!(message, Some(CounterMsg::Add(5))));

    // Refused once encoded (over the frame limit, to b): decoded back for the caller.
    let far = a
        .spawn::<Counter>(name_owned_by(&a, &b, "far").as_str(), 1)
        .await
        .unwrap();
    let big: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let failed = far.cast(CounterMsg::Blob(big.clone())).unwrap_err();
    assert!(
        matches!(failed.error(), DistError::TooLarge { .. }),
        "{failed}"
    );
    match failed.into_message() {
        Some(CounterMsg::Blob(back)) => assert!(back == big, "the same bytes"),
        _ => panic!("the message was not handed back"),
    }
    // The same message to a local actor is never encoded: it goes through.
    let near = a
        .spawn::<Counter>(name_owned_by(&a, &a, "near").as_str(), 1)
        .await
        .unwrap();
    near.cast(CounterMsg::Blob(big)).unwrap();
    // `?` still makes it a DistError.
    let as_dist_error = || -> Result<(), DistError> { Ok(gone.cast(CounterMsg::Add(1))?) };
    assert!(matches!(as_dist_error(), Err(DistError::NotFound(_))));
    assert_eq!(far.call(CounterMsg::Get, T).await.unwrap(), 1);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
