//! A discovery source of your own, in process over the in-memory transport: a node that
//! knows no seed finds its peer through it, and an address the source stops returning is
//! forgotten at the next refresh.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor_dist::discovery::{BoxFuture, Discovery, DiscoveryError, DiscoverySpec};
use ractor_dist::transport::MemoryNetwork;
use ractor_dist::{DistConfig, Kinds};

/// Returns whatever the test put in it last.
#[derive(Debug, Default)]
struct Listed(Mutex<Vec<String>>);

impl Discovery for Listed {
    fn discover(&self) -> BoxFuture<'_, Result<Vec<String>, DiscoveryError>> {
        let addrs = self.0.lock().unwrap().clone();
        Box::pin(async move { Ok(addrs) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_of_your_own_finds_peers_and_what_it_drops_is_forgotten() -> anyhow::Result<()> {
    let net = MemoryNetwork::new();
    let a = net
        .start(DistConfig::for_tests("a", 1), Kinds::new())
        .await?;
    // a listens at 127.0.0.1:1; nothing is at 127.0.0.1:9.
    let listed = Arc::new(Listed::default());
    *listed.0.lock().unwrap() = vec!["127.0.0.1:1".into(), "127.0.0.1:9".into()];
    let b = net
        .start(
            DistConfig {
                discovery: vec![DiscoverySpec::Custom(listed.clone())],
                refresh_interval: Some(Duration::from_millis(100)),
                ..DistConfig::for_tests("b", 2)
            },
            Kinds::new(),
        )
        .await?;
    b.wait_for_members(2, Duration::from_secs(5)).await?;
    a.wait_for_members(2, Duration::from_secs(5)).await?;
    let stats = b.mesh_stats();
    assert_eq!((stats.discovered, stats.dial_targets), (2, 2), "{stats:?}");

    *listed.0.lock().unwrap() = vec!["127.0.0.1:1".into()];
    let mut forgotten = false;
    for _ in 0..250 {
        let s = b.mesh_stats();
        if s.discovered == 1 && s.dial_targets == 1 && s.dials_forgotten == 1 {
            forgotten = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(forgotten, "{:?}", b.mesh_stats());
    assert!(b.mesh_stats().discovery_rounds >= 2);
    b.shutdown().await?;
    a.shutdown().await?;
    Ok(())
}
