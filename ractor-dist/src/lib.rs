#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
#![forbid(unsafe_code)]
//! # ractor-dist
//!
//! Location-transparent named actors for [`ractor`] clusters: spawn an actor **by name**
//! once, reach it from any node through a [`DistRef`], and let the cluster place it by
//! rendezvous hashing over the live [`ractor_cluster`] membership. When nodes join or leave
//! gracefully, actors whose owner changed move, with their state for
//! [`HandoffMode::Resume`] kinds (see [`DistActor::snapshot`] and [`DistActor::restore`]),
//! without losing messages. When a node crashes, hangs or is cut off, its names are
//! respawned on their new owners from specs replicated on `DistConfig::replicas` nodes,
//! with their last checkpoint when the kind takes them ([`DistActor::CHECKPOINTS`]); after
//! a partition heals, the two copies of a name are resolved into one by the kind's
//! [`ConflictPolicy`] ([`DistActor::ON_CONFLICT`], [`DistActor::merge`]).
//!
//! ## Quick start
//!
//! ```
//! use std::time::Duration;
//! use ractor::{ActorProcessingErr, RpcReplyPort};
//! use ractor_cluster::RactorClusterMessage;
//! use ractor_dist::{DistActor, DistConfig, DistNode, DistRef, Kinds};
//!
//! #[derive(RactorClusterMessage)]
//! enum CounterMsg {
//!     Add(i64),
//!     #[rpc]
//!     Get(RpcReplyPort<i64>),
//! }
//!
//! struct Counter;
//!
//! impl DistActor for Counter {
//!     const KIND: &'static str = "counter";
//!     type Msg = CounterMsg;
//!     type State = i64;
//!     type Arguments = i64;
//!
//!     async fn pre_start(&self, _me: DistRef<CounterMsg>, start: i64) -> Result<i64, ActorProcessingErr> {
//!         Ok(start)
//!     }
//!
//!     async fn handle(&self, _me: DistRef<CounterMsg>, msg: CounterMsg, n: &mut i64) -> Result<(), ActorProcessingErr> {
//!         match msg {
//!             CounterMsg::Add(d) => *n += d,
//!             CounterMsg::Get(reply) => { let _ = reply.send(*n); }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "multi_thread", worker_threads = 2)]
//! # async fn main() -> anyhow::Result<()> {
//! // One node; start more with the same kinds and `seeds` pointing at each other.
//! let config = DistConfig { seeds: vec![], ..DistConfig::new("a", 47_101) };
//! let node = DistNode::start(config, Kinds::new().with(Counter)).await?;
//!
//! let counter = node.spawn::<Counter>("visits", 40).await?;   // placed by name
//! counter.cast(CounterMsg::Add(2))?;
//! assert_eq!(counter.call(CounterMsg::Get, Duration::from_secs(1)).await?, 42);
//!
//! // From anywhere in the cluster, by name:
//! let same = node.lookup::<CounterMsg>("visits").await?;
//! assert_eq!(same.call(CounterMsg::Get, Duration::from_secs(1)).await?, 42);
//! node.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! ## Layers
//!
//! - [`core`]: pure and deterministic (placement, membership, hashing, the handoff state
//!   machine, replicated specs, respawn and conflict decisions, and their seeded
//!   simulations); no tokio, no ractor, no clock.
//! - the actor layer: [`DistNode`], [`DistRef`], [`DistActor`], the per-node
//!   `DistSupervisor` (the only actor peers see).
//! - `core::wire`: the versioned envelopes between supervisors.
//! - `testing` (cargo feature `testing`): the console node that multi-process tests start,
//!   a typed async client for it, its actor kinds and a bounded `wait_until`.

pub mod core;
mod node;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transport;

pub use crate::core::wire::{WireError, PROTOCOL_VERSION};
pub use crate::core::{
    ActorKey, Epoch, Incarnation, MembershipEvent, NodeName, NodeStatus, Snapshot,
};
pub use crate::core::{ConflictPolicy, HandoffMode};
pub use node::{
    Checkpoints, ConfigError, DistActor, DistConfig, DistError, DistNode, DistRef, Kinds,
};
