//! Helpers for multi-process tests: clusters of console nodes (`examples/node.rs`, built as
//! the `ractor-dist-node` binary of this package) on 127.0.0.1.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{ensure, Result};

#[path = "../../examples/support/client.rs"]
pub mod client;
pub mod proxy;

pub use client::{free_ports, wait_until, NodeProc};

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
    pub fn start(n: usize) -> Result<Cluster> {
        Self::start_on(free_ports(n)?, |_| Vec::new())
    }

    /// Starts one node per port, named `n1..`, node `i` with the extra arguments `extra(i)`,
    /// and waits until each sees all.
    pub fn start_on(ports: Vec<u16>, extra: impl Fn(usize) -> Vec<String>) -> Result<Cluster> {
        let n = ports.len();
        let quiet = std::env::var_os("RACTOR_DIST_TEST_LOGS").is_none();
        let mut nodes = Vec::new();
        for (i, port) in ports.iter().enumerate() {
            let extra = extra(i);
            let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
            let args = node_args(&ports, *port, &extra);
            nodes.push(NodeProc::start(
                &node_binary(),
                &format!("n{}", i + 1),
                *port,
                &args,
                quiet,
            )?);
        }
        let mut cluster = Cluster { nodes, ports };
        ensure!(
            cluster.wait_members(n, Duration::from_secs(20)),
            "cluster of {n} did not form"
        );
        Ok(cluster)
    }

    /// Waits until every running node in `self.nodes` sees exactly `n` members.
    pub fn wait_members(&mut self, n: usize, timeout: Duration) -> bool {
        let nodes = &mut self.nodes;
        wait_until(timeout, || {
            nodes
                .iter_mut()
                .all(|node| node.members().map(|m| m.len() == n).unwrap_or(false))
        })
    }

    /// Waits until every node in `nodes` (indices) sees exactly `n` members and is settled.
    pub fn wait_settled(&mut self, nodes: &[usize], n: usize, timeout: Duration) -> bool {
        let all = &mut self.nodes;
        wait_until(timeout, || {
            nodes.iter().all(|&i| {
                all[i].members().map(|m| m.len() == n).unwrap_or(false)
                    && all[i]
                        .ok("stats")
                        .map(|s| s.contains("settled=true"))
                        .unwrap_or(false)
            })
        })
    }

    /// A counter of `stats` on node `i` (0 when it does not answer).
    pub fn stat(&mut self, i: usize, field: &str) -> u64 {
        self.nodes[i]
            .ok("stats")
            .map(|s| client::status_field(&s, field))
            .unwrap_or(0)
    }

    /// How many actors the nodes `nodes` host in all (their `local`; 0 for a node that
    /// does not answer).
    pub fn hosted(&mut self, nodes: &[usize]) -> usize {
        nodes
            .iter()
            .map(|&i| {
                self.nodes[i]
                    .ok("local")
                    .ok()
                    .and_then(|s| s.parse::<usize>().ok())
                    .unwrap_or(0)
            })
            .sum()
    }

    /// The sum of a `stats` counter over the nodes `nodes`.
    pub fn stat_sum(&mut self, nodes: &[usize], field: &str) -> u64 {
        nodes.iter().map(|&i| self.stat(i, field)).sum()
    }
}
