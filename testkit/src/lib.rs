//! A test kit for ractor-dist clusters: the console node that
//! multi-process tests start, a typed async client to drive it, its actor kinds, and a
//! bounded [`wait_until`].
//!
//! - [`console_main`] is a whole console node: a binary that calls it answers one command
//!   per stdin line (`spawn`, `add`, `get`, `where`, `stats`, ...; see its docs for the
//!   protocol). `examples/node.rs` and the `ractor-dist-node` binary of `integration-tests`
//!   are one line each.
//! - [`NodeCommand`] starts such a binary as a child process and returns a [`NodeProc`]
//!   once it printed `ready`; its methods send commands and parse the replies
//!   ([`NodeProc::get`], [`NodeProc::stats`], ...). Every wait is bounded, and dropping a
//!   [`NodeProc`] kills its process.
//! - The kinds ([`Counter`] and its handoff-mode variants, [`Tally`], [`Blob`], [`Ghost`],
//!   and the fault kinds [`SlowCounter`] and [`PanickyCounter`]) can also be registered on
//!   in-process nodes.
//!
//! ```no_run
//! use std::time::Duration;
//! use ractor_dist_testkit::{free_ports, wait_until, NodeCommand};
//!
//! # async fn example() -> Result<(), ractor_dist_testkit::Error> {
//! let port = free_ports(1).expect("a free port")[0];
//! let mut node = NodeCommand::new("target/debug/examples/node", "a", port)
//!     .quiet(true)
//!     .start()
//!     .await?;
//! node.spawn_as("counter", "visits", 40).await?;
//! assert_eq!(node.add("visits", 2).await?, 42);
//! assert!(wait_until(Duration::from_secs(5), async || node.local().await.ok() == Some(1)).await);
//! # Ok(())
//! # }
//! ```

mod client;
mod console;
mod kinds;

use std::time::Duration;

pub use client::{free_ports, NodeCommand, NodeProc, Stats};
pub use console::console_main;
pub use kinds::{
    Blob, BlobMsg, Counter, CounterMsg, CounterState, DurableCounter, FragileCounter, Ghost,
    GhostMsg, PanickyCounter, RestartCounter, SlowArgs, SlowCounter, StayCounter, Tally,
    TallyState,
};

/// Why a command to a console node failed. Nothing is retried.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The node could not be started, written to or read from.
    #[error("node {node}: {source}")]
    Io {
        /// The node's short name.
        node: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The node did not answer in time.
    #[error("node {node} did not answer within {waited:?}")]
    Timeout {
        /// The node's short name.
        node: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The node did not exit in time (it was killed).
    #[error("node {node} did not exit within {waited:?}")]
    StillRunning {
        /// The node's short name.
        node: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The node closed its output (it exited).
    #[error("node {node} closed its output")]
    Closed {
        /// The node's short name.
        node: String,
    },
    /// The node answered something else than expected (`error ...`, or a reply that does
    /// not parse).
    #[error("{node}: {command:?} answered {reply:?}")]
    Reply {
        /// The node's short name.
        node: String,
        /// The command.
        command: String,
        /// The whole reply line.
        reply: String,
    },
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it
/// held. A call of `condition` that is still running at the deadline is dropped, so the
/// wait never exceeds `timeout` by more than one poll interval.
///
/// # Cancel safety
///
/// Cancel safe if `condition` is.
pub async fn wait_until(timeout: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, condition()).await {
            Ok(true) => return true,
            Ok(false) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            _ => return false,
        }
    }
}
