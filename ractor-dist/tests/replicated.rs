//! Replicated values between nodes in this one process over the in-memory transport: every
//! node converges to the same value, a partition's two sides merge after the heal with no
//! update lost, and change callbacks fire once per effective change, never for a merge
//! that changes nothing. Every wait is bounded.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ractor_dist::transport::MemoryNetwork;
use ractor_dist::{Counter, DistConfig, DistNode, Kinds, OrSet, Replicated};

const T: Duration = Duration::from_secs(10);

async fn start(net: &MemoryNetwork, name: &str, port: u16, seeds: &[u16]) -> DistNode {
    let config = DistConfig {
        seeds: seeds.iter().map(|p| format!("127.0.0.1:{p}")).collect(),
        gossip_interval: Duration::from_millis(100),
        ..DistConfig::for_tests(name, port)
    };
    net.start(config, Kinds::new()).await.expect("node starts")
}

async fn three(net: &MemoryNetwork) -> [DistNode; 3] {
    let a = start(net, "a", 1, &[]).await;
    let b = start(net, "b", 2, &[1]).await;
    let c = start(net, "c", 3, &[1, 2]).await;
    common::converged_within(T, &[&a, &b, &c], 3).await;
    [a, b, c]
}

fn members(set: &Replicated<OrSet<String>>) -> Vec<String> {
    let mut m: Vec<String> = set.get().read().val.into_iter().collect();
    m.sort();
    m
}

fn add(set: &Replicated<OrSet<String>>, elem: &str) {
    set.update(|s, me| s.add(elem.to_string(), s.read_ctx().derive_add_ctx(me.clone())))
        .unwrap();
}

fn inc(counter: &Replicated<Counter>, by: u64) {
    counter.update(|c, me| c.inc_many(me.clone(), by)).unwrap();
}

fn value(counter: &Replicated<Counter>) -> i64 {
    counter.get().read().try_into().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_on_every_node_converge_everywhere() {
    let net = MemoryNetwork::new();
    let nodes = three(&net).await;
    let counters: Vec<Replicated<Counter>> = nodes
        .iter()
        .map(|n| n.replicated::<Counter>("hits").unwrap())
        .collect();
    let sets: Vec<Replicated<OrSet<String>>> = nodes
        .iter()
        .map(|n| n.replicated::<OrSet<String>>("online").unwrap())
        .collect();
    for (i, (c, s)) in counters.iter().zip(&sets).enumerate() {
        inc(c, 1 + i as u64);
        add(s, &format!("user{i}"));
    }
    // a removal of an element every node has seen
    common::eventually_within(T, "the adds reach every node", || async {
        sets.iter().all(|s| members(s).len() == 3)
    })
    .await;
    sets[1]
        .update(|s, _| {
            let e = "user0".to_string();
            s.rm(e.clone(), s.contains(&e).derive_rm_ctx())
        })
        .unwrap();
    common::eventually_within(T, "every node holds 6 and users 1 and 2", || async {
        counters.iter().all(|c| value(c) == 6)
            && sets.iter().all(|s| members(s) == ["user1", "user2"])
    })
    .await;
    // the type is checked per name
    assert!(nodes[0].replicated::<OrSet<String>>("hits").is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_sides_of_a_partition_update_and_nothing_is_lost_after_the_heal() {
    let net = MemoryNetwork::new();
    let [a, b, c] = three(&net).await;
    let (ca, cb, cc) = (
        a.replicated::<Counter>("n").unwrap(),
        b.replicated::<Counter>("n").unwrap(),
        c.replicated::<Counter>("n").unwrap(),
    );
    let (sa, sc) = (
        a.replicated::<OrSet<String>>("s").unwrap(),
        c.replicated::<OrSet<String>>("s").unwrap(),
    );
    inc(&ca, 1);
    common::eventually_within(T, "1 everywhere", || async {
        [&ca, &cb, &cc].iter().all(|c| value(c) == 1)
    })
    .await;

    net.cut(c.name(), a.name());
    net.cut(c.name(), b.name());
    common::converged_within(T, &[&c], 1).await;
    inc(&ca, 10);
    inc(&cb, 100);
    inc(&cc, 1000);
    add(&sa, "left");
    add(&sc, "right");
    common::eventually_within(T, "each side sees its own updates", || async {
        value(&ca) == 111 && value(&cb) == 111 && value(&cc) == 1001
    })
    .await;
    assert_eq!(members(&sa), ["left"]);

    net.heal(c.name(), a.name());
    net.heal(c.name(), b.name());
    common::eventually_within(T, "merged everywhere after the heal", || async {
        [&ca, &cb, &cc].iter().all(|c| value(c) == 1111)
            && members(&sa) == ["left", "right"]
            && members(&sc) == ["left", "right"]
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_fire_once_per_effective_change_in_order_and_never_for_a_no_op_merge() {
    let net = MemoryNetwork::new();
    let nodes = three(&net).await;
    let counters: Vec<Replicated<Counter>> = nodes
        .iter()
        .map(|n| n.replicated::<Counter>("k").unwrap())
        .collect();
    let seen: Vec<Arc<AtomicU64>> = counters
        .iter()
        .map(|c| {
            let n = Arc::new(AtomicU64::new(0));
            let count = n.clone();
            c.on_state_change(move |old: &Counter, new: &Counter| {
                assert!(new.read() > old.read(), "in order: values only grow here");
                count.fetch_add(1, Ordering::SeqCst);
            });
            n
        })
        .collect();
    let mut changes = counters[2].subscribe();
    // one update at a time, each waited for everywhere: every node sees each as one change
    for (round, counter) in counters.iter().enumerate() {
        inc(counter, 1);
        let want = round as i64 + 1;
        common::eventually_within(T, "the update reached every node", || async {
            counters.iter().all(|c| value(c) == want)
        })
        .await;
    }
    // an update that changes nothing is no change anywhere
    assert!(!counters[0]
        .update(|c, me| c.inc_many(me.clone(), 0))
        .unwrap());
    // several anti-entropy rounds between equal nodes
    tokio::time::sleep(Duration::from_millis(600)).await;
    common::eventually_within(T, "three callbacks on every node", || async {
        seen.iter().all(|n| n.load(Ordering::SeqCst) == 3)
    })
    .await;
    for want in 1..=3i64 {
        let change = changes.recv().await.unwrap();
        assert_eq!(change.new.read(), want.into());
        assert_eq!(change.old.read(), (want - 1).into());
    }
    assert!(changes.try_recv().is_none());
    let stats = nodes[0].replica_stats();
    assert_eq!(stats.changes, 3, "{stats:?}");
    assert_eq!(stats.refused, 0, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_used_inside_an_update_panics_instead_of_deadlocking() {
    let net = MemoryNetwork::new();
    let a = start(&net, "a", 1, &[]).await;
    let (x, y) = (
        a.replicated::<Counter>("x").unwrap(),
        a.replicated::<Counter>("y").unwrap(),
    );
    let nested = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        x.update(|c, me| {
            let _ = y.get();
            c.inc(me.clone())
        })
    }));
    assert!(nested.is_err());
    // nothing changed, and the node's values keep working
    inc(&x, 2);
    inc(&y, 3);
    assert_eq!((value(&x), value(&y)), (2, 3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ring_change_callbacks_report_the_up_nodes_once_per_change() {
    let net = MemoryNetwork::new();
    let a = start(&net, "a", 1, &[]).await;
    let seen = Arc::new(std::sync::Mutex::new(Vec::<Vec<String>>::new()));
    let log = seen.clone();
    a.on_ring_change(move |up: &[ractor_dist::NodeName]| {
        log.lock()
            .unwrap()
            .push(up.iter().map(|n| n.to_string()).collect());
    });
    let b = start(&net, "b", 2, &[1]).await;
    let c = start(&net, "c", 3, &[1, 2]).await;
    common::converged_within(T, &[&a, &b, &c], 3).await;
    net.cut(c.name(), a.name());
    net.cut(c.name(), b.name());
    common::converged_within(T, &[&a, &b], 2).await;
    let want_last = vec![a.name().to_string(), b.name().to_string()];
    common::eventually_within(T, "the callback saw a and b alone", || async {
        seen.lock().unwrap().last() == Some(&want_last)
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    let three = vec![
        a.name().to_string(),
        b.name().to_string(),
        c.name().to_string(),
    ];
    assert!(seen.contains(&three), "{seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0] != w[1]),
        "a repeated set: {seen:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_come_back_from_the_data_dir_and_a_corrupt_file_is_refused() {
    let dir = std::env::temp_dir().join(format!("ractor-dist-replicated-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = |port| DistConfig {
        data_dir: Some(dir.clone()),
        ..DistConfig::for_tests("p", port)
    };
    {
        let net = MemoryNetwork::new();
        let node = net.start(config(1), Kinds::new()).await.unwrap();
        let (c, s) = (
            node.replicated::<Counter>("kept").unwrap(),
            node.replicated::<OrSet<String>>("kept set").unwrap(),
        );
        inc(&c, 5);
        add(&s, "x");
        node.shutdown().await.unwrap();
    }
    // a new node (another incarnation) with the same directory, alone
    let net = MemoryNetwork::new();
    let node = net.start(config(2), Kinds::new()).await.unwrap();
    let c = node.replicated::<Counter>("kept").unwrap();
    assert_eq!(value(&c), 5);
    inc(&c, 1);
    assert_eq!(value(&c), 6);
    let s = node.replicated::<OrSet<String>>("kept set").unwrap();
    assert_eq!(members(&s), ["x"]);
    node.shutdown().await.unwrap();

    // a corrupted file: a clear error, and the file is left as it is
    let path = dir.join("replicated").join("kept.rdv");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let net2 = MemoryNetwork::new();
    let other = net2.start(config(3), Kinds::new()).await.unwrap();
    let error = other.replicated::<Counter>("kept").unwrap_err().to_string();
    assert!(error.contains("checksum"), "{error}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let _ = std::fs::remove_dir_all(&dir);
}
