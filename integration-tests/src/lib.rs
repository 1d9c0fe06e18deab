//! Helpers for multi-process tests: clusters of console nodes (`ractor_dist_testkit`,
//! built as the `ractor-dist-node` binary of this package) on 127.0.0.1, driven through the
//! kit's client.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Result};
use ractor_dist::core::{ActorKey, Epoch, NodeName, Placement};

pub mod chaos;
pub mod containers;
pub mod dns;
pub mod proxy;

pub use ractor_dist_testkit::{free_ports, wait_until, NodeCommand, NodeProc, Stats};

/// The console node binary cargo built with this package (`target/<profile>/ractor-dist-node`,
/// next to the `deps/` folder the test binaries run from).
pub fn node_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries run from target/<profile>/deps");
    let bin = profile_dir.join(format!("ractor-dist-node{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo test -p integration-tests`",
        bin.display()
    );
    bin
}

/// Whether the nodes' logs are hidden (unless `RACTOR_DIST_TEST_LOGS` is set).
pub fn quiet() -> bool {
    std::env::var_os("RACTOR_DIST_TEST_LOGS").is_none()
}

/// Starts a console node named `name` on `port` with `args`, logs hidden unless
/// `RACTOR_DIST_TEST_LOGS` is set.
pub async fn start_node(name: &str, port: u16, args: &[String]) -> Result<NodeProc> {
    Ok(NodeCommand::new(node_binary(), name, port)
        .args(args)
        .quiet(quiet())
        .start()
        .await?)
}

/// The rendezvous owner of `name` among `members` (node names as in `members`, such as
/// `n4@127.0.0.1`).
pub fn owner_of(name: &str, members: &[String]) -> String {
    let placement = Placement::new(Epoch(0), members.iter().map(|m| NodeName::new(m.as_str())));
    placement
        .owner_of(&ActorKey::new(name))
        .map(|o| o.to_string())
        .unwrap_or_default()
}

/// Names `<prefix>-<k>` (k = 0, 1, ...) whose rendezvous owner among `members` is `owner`.
pub fn names_owned_by<'a>(
    prefix: &'a str,
    members: &'a [String],
    owner: &'a str,
) -> impl Iterator<Item = String> + 'a {
    (0..)
        .map(move |k| format!("{prefix}-{k}"))
        .filter(move |name| owner_of(name, members) == owner)
}

/// Heartbeat settings of test clusters: a 100 ms heartbeat and a 1.5 s deadline.
pub const HEARTBEAT_MS: u64 = 100;
/// See [`HEARTBEAT_MS`].
pub const DEADLINE_MS: u64 = 1500;

/// A cluster of console nodes; dropping it kills them all.
pub struct Cluster {
    /// The nodes, in start order.
    pub nodes: Vec<NodeProc>,
    /// Every node's port, in the same order.
    pub ports: Vec<u16>,
}

/// The arguments that make a node a member of a cluster with these ports.
pub fn node_args(ports: &[u16], own: u16, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--cookie".to_string(),
        "test-cookie".to_string(),
        "--heartbeat-ms".to_string(),
        HEARTBEAT_MS.to_string(),
        "--deadline-ms".to_string(),
        DEADLINE_MS.to_string(),
    ];
    for p in ports.iter().filter(|p| **p != own) {
        args.extend(["--seed".to_string(), format!("127.0.0.1:{p}")]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

impl Cluster {
    /// Starts `n` nodes named `n1..` that seed each other, and waits until each sees all.
    pub async fn start(n: usize) -> Result<Cluster> {
        Self::start_on(free_ports(n)?, |_| Vec::new()).await
    }

    /// Starts one node per port, named `n1..`, node `i` with the extra arguments `extra(i)`,
    /// and waits until each sees all.
    pub async fn start_on(
        ports: Vec<u16>,
        extra: impl Fn(usize) -> Vec<String>,
    ) -> Result<Cluster> {
        let n = ports.len();
        let mut nodes = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let extra = extra(i);
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            let args = node_args(&ports, *port, &extra);
            nodes.push(start_node(&format!("n{}", i + 1), *port, &args).await?);
        }
        let mut cluster = Cluster { nodes, ports };
        ensure!(
            cluster.wait_members(n, Duration::from_secs(20)).await,
            "cluster of {n} did not form"
        );
        Ok(cluster)
    }

    /// Starts one more node, named `n<k>`, seeded with every port of the cluster, and adds
    /// it to [`Cluster::nodes`] (it does not wait for it to be seen).
    pub async fn join(&mut self, extra: &[&str]) -> Result<&mut NodeProc> {
        let port = free_ports(1)?[0];
        self.ports.push(port);
        let args = node_args(&self.ports, port, extra);
        let name = format!("n{}", self.ports.len());
        self.nodes.push(start_node(&name, port, &args).await?);
        Ok(self.nodes.last_mut().expect("just pushed"))
    }

    /// Waits until every running node in `self.nodes` sees exactly `n` members.
    pub async fn wait_members(&mut self, n: usize, timeout: Duration) -> bool {
        let nodes = &mut self.nodes;
        wait_until(timeout, async || {
            for node in nodes.iter_mut() {
                if node.members().await.map(|m| m.len() != n).unwrap_or(true) {
                    return false;
                }
            }
            true
        })
        .await
    }

    /// Waits until every node in `nodes` (indices) sees exactly `n` members and is settled.
    pub async fn wait_settled(&mut self, nodes: &[usize], n: usize, timeout: Duration) -> bool {
        let all = &mut self.nodes;
        wait_until(timeout, async || {
            for &i in nodes {
                let members = all[i].members().await.map(|m| m.len() == n);
                let settled = all[i].stats().await.map(|s| s.settled());
                if !(matches!(members, Ok(true)) && matches!(settled, Ok(true))) {
                    return false;
                }
            }
            true
        })
        .await
    }

    /// Waits until every node sees `n` members, is settled and has no handoff in progress
    /// and nothing buffered.
    pub async fn wait_idle(&mut self, n: usize, timeout: Duration) -> bool {
        let all = &mut self.nodes;
        wait_until(timeout, async || {
            for node in all.iter_mut() {
                if !node.stats().await.is_ok_and(|s| s.idle_with(n as u64)) {
                    return false;
                }
            }
            true
        })
        .await
    }

    /// A counter of `stats` on node `i` (0 when it does not answer).
    pub async fn stat(&mut self, i: usize, field: &str) -> u64 {
        self.nodes[i]
            .stats()
            .await
            .map(|s| s.get(field))
            .unwrap_or(0)
    }

    /// How many actors the nodes `nodes` host in all (their `local`; 0 for a node that
    /// does not answer).
    pub async fn hosted(&mut self, nodes: &[usize]) -> usize {
        let mut sum = 0;
        for &i in nodes {
            sum += self.nodes[i].local().await.unwrap_or(0);
        }
        sum
    }

    /// The sum of a `stats` counter over the nodes `nodes`.
    pub async fn stat_sum(&mut self, nodes: &[usize], field: &str) -> u64 {
        let mut sum = 0;
        for &i in nodes {
            sum += self.stat(i, field).await;
        }
        sum
    }
}
