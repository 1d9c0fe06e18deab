//! Helpers shared by the in-process multi-node tests (each test file uses a part).
#![allow(dead_code)]

use std::time::Duration;

use ractor_dist::{DistNode, NodeName};

/// Polls `check` every 20 ms until it holds, panicking with `what` after `limit`.
pub async fn eventually_within<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every node sees `n` members and has settled, within `limit`.
pub async fn converged_within(limit: Duration, nodes: &[&DistNode], n: usize) {
    eventually_within(limit, "membership and settle", || async {
        nodes
            .iter()
            .all(|d| d.members().len() == n && d.status().settled)
    })
    .await;
}

/// Which of `nodes` host `name` right now.
pub fn hosts(nodes: &[&DistNode], name: &str) -> Vec<NodeName> {
    nodes
        .iter()
        .filter(|d| d.local_names().iter().any(|k| k.as_str() == name))
        .map(|d| d.name().clone())
        .collect()
}
