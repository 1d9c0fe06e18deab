#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
#![forbid(unsafe_code)]
#![doc = include_str!("../../README.md")]
//!
//! ## The API in brief
//!
//! - [`DistNode`]: a node (start, spawn, look up, membership, status, leave,
//!   [`DistNode::run_until_signal`]).
//! - [`DistActor`]: a distributed kind (ractor's hooks with `myself: DistRef<Msg>`, plus
//!   [`HandoffMode`], [`Checkpoints`], [`ConflictPolicy`] and the state hooks), registered
//!   on every node with [`Kinds`].
//! - [`DistRef`]: a handle to a name, wherever it runs (`cast`, `call`, `call_retrying`,
//!   `send_after`, `send_interval`, `stop`); [`cast!`], [`call!`] and [`call_t!`] take it
//!   as ractor's macros take an `ActorRef`.
//! - [`DistConfig`]: the node's configuration; [`DistError`]: what can fail, and whether a
//!   retry may help ([`DistError::is_transient`]).
//! - [`Replicated`]: cluster-wide CRDT values ([`DistNode::replicated`]).
//! - [`guide`]: choosing policies, evolving state, operating a cluster, converting a ractor
//!   app, testing your kinds.
//! - [`transport`] and [`discovery`]: how nodes reach and find each other. [`core`] is
//!   the pure protocol engine underneath (for maintainers: its docs hold the reading map).

pub mod core;
pub mod discovery;
pub mod guide {
    #![doc = include_str!("../../GUIDE.md")]
}
mod node;
pub mod transport;

/// What the call-site macros ([`cast!`], [`call!`], [`call_t!`]) expand to; not part of
/// the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::node::macros::MacroOutcome;
}

pub use crate::core::replicated::{Counter, Crdt, OrMap, OrSet, Push, Register, ReplicaId};
pub use crate::core::wire::{WireError, PROTOCOL_VERSION};
pub use crate::core::{
    ActorKey, Epoch, Footprint, FootprintParseError, Incarnation, LookupStats, MembershipEvent,
    MeshStats, MoveStats, NodeName, NodeStatus, SecurityStats, Snapshot, TableSize,
};
pub use crate::core::{ConflictPolicy, HandoffMode};
pub use node::{
    Changes, Checkpoints, ConfigError, DistActor, DistConfig, DistError, DistNode, DistRef, Kinds,
    OnRingChange, OnStateChange, Replicated, SendError, Spawned, StopReason, TlsFiles, ValueChange,
};
