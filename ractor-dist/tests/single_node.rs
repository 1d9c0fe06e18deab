//! One real node in this process (ractor_cluster allows one per process, so this file has a
//! single test that walks through the local behaviours in order).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ractor::message::{BoxedDowncastErr, SerializedMessage};
use ractor::{ActorProcessingErr, Message, RpcReplyPort};
use ractor_cluster::RactorClusterMessage;
use ractor_dist::{DistActor, DistConfig, DistError, DistNode, DistRef, Kinds};

const T: Duration = Duration::from_secs(2);

#[derive(RactorClusterMessage)]
enum CounterMsg {
    Add(i64),
    #[rpc]
    Get(RpcReplyPort<i64>),
    Fail,
    Quit,
    /// Stops itself from inside its handler, awaiting the stop, then answers.
    #[rpc]
    QuitAwaited(RpcReplyPort<bool>),
}

struct Counter;

impl DistActor for Counter {
    const KIND: &'static str = "counter";
    type Msg = CounterMsg;
    type State = i64;
    type Arguments = i64;

    async fn pre_start(
        &self,
        _: DistRef<CounterMsg>,
        start: i64,
    ) -> Result<i64, ActorProcessingErr> {
        if start < 0 {
            return Err("negative start".into());
        }
        Ok(start)
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
            CounterMsg::Fail => return Err("asked to fail".into()),
            CounterMsg::Quit => {
                // As in ractor: returns at once, the actor stops after this message.
                myself.stop(None);
            }
            CounterMsg::QuitAwaited(r) => {
                let stopped = myself.stop_and_wait(None, None).await.is_ok();
                let _ = r.send(stopped);
            }
        }
        Ok(())
    }
}

/// A counter whose `pre_start` takes as many milliseconds as its arguments say; it records
/// the digits it is sent in order.
struct SlowStart;

impl DistActor for SlowStart {
    const KIND: &'static str = "slow-start";
    type Msg = CounterMsg;
    type State = i64;
    type Arguments = u64;

    async fn pre_start(&self, _: DistRef<CounterMsg>, ms: u64) -> Result<i64, ActorProcessingErr> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(0)
    }

    async fn handle(
        &self,
        _: DistRef<CounterMsg>,
        msg: CounterMsg,
        n: &mut i64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            // Records the sequence of the digits added: 1, 2, 3 gives 123.
            CounterMsg::Add(d) => *n = *n * 10 + d,
            CounterMsg::Get(r) => {
                let _ = r.send(*n);
            }
            _ => {}
        }
        Ok(())
    }
}

static SERIALIZED: AtomicUsize = AtomicUsize::new(0);

/// A message type that counts how often it is serialized.
enum Probe {
    Ping(RpcReplyPort<u32>),
}

impl Message for Probe {
    fn serializable() -> bool {
        true
    }
    fn serialize(self) -> Result<SerializedMessage, BoxedDowncastErr> {
        SERIALIZED.fetch_add(1, Ordering::SeqCst);
        Err(BoxedDowncastErr)
    }
}

struct Prober;

impl DistActor for Prober {
    const KIND: &'static str = "prober";
    type Msg = Probe;
    type State = u32;
    type Arguments = ();

    async fn pre_start(&self, _: DistRef<Probe>, _: ()) -> Result<u32, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: DistRef<Probe>,
        msg: Probe,
        n: &mut u32,
    ) -> Result<(), ActorProcessingErr> {
        let Probe::Ping(r) = msg;
        *n += 1;
        let _ = r.send(*n);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_node_behaviour() -> anyhow::Result<()> {
    // An invalid configuration is refused before anything starts.
    let bad = DistNode::start(DistConfig::new("x", 0), Kinds::new()).await;
    assert!(matches!(bad, Err(DistError::Config(_))), "{bad:?}");
    // So is the default cookie on a node listening beyond loopback, unless allowed.
    let open = DistConfig {
        host: "0.0.0.0".into(),
        ..DistConfig::new("x", 7100)
    };
    let bad = DistNode::start(open.clone(), Kinds::new()).await;
    assert!(
        matches!(
            bad,
            Err(DistError::Config(
                ractor_dist::ConfigError::DefaultCookie { .. }
            ))
        ),
        "{bad:?}"
    );
    // An unreadable TLS file is a start error, not a node without TLS.
    let tls = DistConfig {
        tls: Some(ractor_dist::TlsFiles {
            cert: "/nonexistent/a.pem".into(),
            key: "/nonexistent/a.key".into(),
            ca: "/nonexistent/ca.pem".into(),
        }),
        ..DistConfig::for_tests("x", 7100)
    };
    let bad = DistNode::start(tls, Kinds::new()).await;
    assert!(matches!(bad, Err(DistError::Start(_))), "{bad:?}");

    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut config = DistConfig::for_tests("solo", port);
    config.restart_limit = 2;
    let node = DistNode::start(
        config,
        Kinds::new().with(Counter).with(Prober).with(SlowStart),
    )
    .await?;
    assert_eq!(node.members(), vec![node.name().clone()]);

    // A second node in the same process is refused (ractor_cluster state is global).
    let again = DistNode::start(DistConfig::for_tests("other", port + 1), Kinds::new()).await;
    assert!(matches!(again, Err(DistError::Start(_))), "{again:?}");

    // spawn, cast, call
    let c = node.spawn::<Counter>("c", 10).await?;
    for _ in 0..100 {
        c.cast(CounterMsg::Add(1))?;
    }
    assert_eq!(c.call(CounterMsg::Get, T).await?, 110);

    // spawn is idempotent: same actor, arguments ignored
    let c2 = node.spawn::<Counter>("c", 999).await?;
    assert_eq!(c2.call(CounterMsg::Get, T).await?, 110);
    assert_eq!(node.local_count(), 1);

    // lookup finds it; with the wrong message type it is refused
    let found = node.lookup::<CounterMsg>("c").await?;
    assert_eq!(found.call(CounterMsg::Get, T).await?, 110);
    assert!(matches!(
        node.lookup::<Probe>("c").await,
        Err(DistError::WrongType(_))
    ));
    assert_eq!(node.where_is("c").await?.0, *node.name());

    // unknown names fail promptly
    let t = std::time::Instant::now();
    assert!(matches!(
        node.lookup::<CounterMsg>("nope").await,
        Err(DistError::NotFound(_))
    ));
    assert!(t.elapsed() < T);

    // local sends never serialize
    let p = node.spawn::<Prober>("p", ()).await?;
    for i in 1..=50 {
        assert_eq!(p.call(Probe::Ping, T).await?, i);
    }
    assert_eq!(SERIALIZED.load(Ordering::SeqCst), 0);

    // a failing pre_start fails the spawn and leaves nothing behind
    let failed = node.spawn::<Counter>("neg", -1).await;
    assert!(
        matches!(failed, Err(DistError::SpawnFailed { .. })),
        "{failed:?}"
    );
    assert!(matches!(
        node.lookup::<CounterMsg>("neg").await,
        Err(DistError::NotFound(_))
    ));

    // an error in handle restarts the actor from its original arguments...
    c.cast(CounterMsg::Fail)?;
    let mut value = 0;
    for _ in 0..100 {
        match c.call(CounterMsg::Get, T).await {
            Ok(v) => {
                value = v;
                if v == 10 {
                    break;
                }
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    assert_eq!(value, 10, "restarted from its start value");
    assert_eq!(node.status().restarts, 1);

    // ... until the restart limit (2 in the window), after which it is removed.
    for _ in 0..3 {
        let _ = c.cast(CounterMsg::Fail);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(matches!(
        node.lookup::<CounterMsg>("c").await,
        Err(DistError::NotFound(_))
    ));

    // stop through `myself`, and through a handle
    let q = node.spawn::<Counter>("q", 0).await?;
    q.cast(CounterMsg::Quit)?;
    let gone = tokio::time::timeout(T, async {
        while node.lookup::<CounterMsg>("q").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(gone.is_ok(), "q did not stop");
    let (error, message) = q.cast(CounterMsg::Add(1)).unwrap_err().into_parts();
    assert!(matches!(error, DistError::NotFound(_)), "{error}");
    assert!(matches!(message, Some(CounterMsg::Add(1))), "handed back");
    // awaiting `myself.stop_and_wait(..)` inside `handle` does not wait for the actor's own exit
    let w = node.spawn::<Counter>("w", 0).await?;
    let t = std::time::Instant::now();
    assert!(
        w.call(CounterMsg::QuitAwaited, T).await?,
        "the stop answered"
    );
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    assert!(matches!(
        node.lookup::<CounterMsg>("w").await,
        Err(DistError::NotFound(_))
    ));
    p.stop_and_wait(None, None).await?;
    assert!(matches!(
        p.stop_and_wait(None, None).await,
        Err(DistError::NotFound(_))
    ));
    assert_eq!(node.local_count(), 0);

    // A slow `pre_start` runs on the actor's own task: the node serves other requests
    // meanwhile, and messages sent to the starting actor wait for it, in order.
    let t = std::time::Instant::now();
    let (slow, meanwhile) = tokio::join!(node.spawn::<SlowStart>("slow", 1500), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let fast = node.spawn::<Counter>("fast", 1).await?;
        fast.cast(CounterMsg::Add(1))?;
        let value = fast.call(CounterMsg::Get, T).await?;
        let answered = t.elapsed();
        let starting = node.lookup::<CounterMsg>("slow").await?;
        for d in [1, 2, 3] {
            starting.cast(CounterMsg::Add(d))?;
        }
        Ok::<_, DistError>((value, answered))
    });
    let (slow, (value, answered)) = (slow?, meanwhile?);
    assert_eq!(value, 2);
    assert!(answered < Duration::from_millis(1000), "{answered:?}");
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(slow.call(CounterMsg::Get, T).await?, 123, "in order");
    slow.stop_and_wait(None, None).await?;
    node.lookup::<CounterMsg>("fast")
        .await?
        .stop_and_wait(None, None)
        .await?;

    // oversized arguments are refused before anything is sent
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Big(Vec<u8>);
    struct BigKind;
    impl DistActor for BigKind {
        const KIND: &'static str = "big";
        type Msg = CounterMsg;
        type State = ();
        type Arguments = Big;
        async fn pre_start(
            &self,
            _: DistRef<CounterMsg>,
            _: Big,
        ) -> Result<(), ActorProcessingErr> {
            Ok(())
        }
    }
    let too_big = node.spawn::<BigKind>("big", Big(vec![0; 16 << 20])).await;
    assert!(
        matches!(too_big, Err(DistError::TooLarge { .. })),
        "{too_big:?}"
    );

    node.shutdown().await?;
    Ok(())
}
