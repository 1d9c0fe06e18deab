//! The pure, deterministic heart of ractor-dist.
//!
//! Nothing in here touches tokio, ractor, a socket or a clock: inputs are method calls
//! (time is passed in as [`Millis`]), outputs are returned values or events drained with
//! `poll_*`. That keeps placement and membership decisions testable in microseconds with
//! property tests, and identical on every node, build and platform.
//!
//! - [`config`]: the node's configuration ([`config::DistConfig`]), from which the engine's
//!   timing and limits derive.
//! - [`engine`]: the node's protocol engine, composing the machines below.
//! - [`identity`]: who a node is ([`NodeName`] + [`Incarnation`]), what an actor is called
//!   ([`ActorKey`]), and membership [`Epoch`]s.
//! - [`hash`]: the specified, stable hash functions placement is built on.
//! - [`placement`]: rendezvous (highest-random-weight) placement over a membership view.
//! - [`membership`]: the membership state machine (hello, heartbeat deadline, down/up).
//! - [`handoff`]: moving actors to their new owners when the view changes ([`handoff::inbound`]:
//!   the receiving side, dedupe and chunk reassembly).
//! - [`hold`]: messages held while their actor moves or the node settles, with caps.
//! - [`recovery`]: replicated specs, checkpoints, respawns and conflicts after partitions.
//! - [`replicated`]: cluster-wide CRDT values, their deltas and anti-entropy gossip.
//! - [`routing`]: the one routing function, the directory, redirects and the lookup cache.
//! - [`snapshot`]: serialized actor states and the codec of states and arguments.
//! - [`status`]: a node's state and counters as reported to peers.
//! - [`timing`]: every deadline and patience of the protocol, derived from the configuration.
//! - `wire`: the versioned envelopes between nodes.
//!
//! ## The machines and their contract
//!
//! Each protocol is a sans-IO machine: the node layer calls `handle_*` with what happened
//! (and the time), then drains what to do with `poll_command` and carries it out.
//!
//! ```text
//!  node layer (executor)                                   core machine
//!  session up/down, frame, tick ──handle_*──► Mesh ──────► SendHello | Heartbeat | Dial
//!                                                          Disconnect | Event | ViewChanged
//!  view, drained, ack, done     ──handle_*──► HandoffCore ► Drain | SendBatch | Moved
//!                                                          RestoreLocal | SendDone | Settled
//!  held message, move outcome   ──handle_*──► HoldQueues ─► Deliver | Forward | NotFound | Drop
//!  Migrate, StateChunk          ──handle_*──► Inbound ────► start these | ack again | refuse
//!  spec, checkpoint, offer, tick──handle_*──► Recovery ───► frames | Respawn | Resolve
//!                                                          Fence | Unfence | events
//!  a name to reach              ──route()───► Routes ─────► Deliver | Forward | Ask | NotFound
//!  update, replica msg, tick,   ──handle_*──► Replicas ───► Send (delta | digest | state)
//!  peers                                                   Changed | Refused
//! ```
//!
//! The supervisor still composes these machines itself (the order of work on a tick, a
//! view change and a settle lives in `node/supervisor`); composing them in one engine here,
//! so that the simulations run that same composition, is the next step (issue 8).

pub mod config;
pub mod dialer;
pub mod engine;
pub mod handoff;
pub mod hash;
pub mod hold;
pub mod identity;
pub mod membership;
pub mod mesh;
pub mod placement;
pub mod recovery;
pub mod replicated;
pub mod routing;
#[cfg(test)]
mod sim_seeds;
pub mod snapshot;
pub mod status;
pub mod timing;
pub(crate) mod wire;

pub use dialer::Dialer;
pub(crate) use engine::MigrateOutcome;
pub use engine::{
    Arrival, Child, ChildId, DrainedExit, Engine, EngineConfig, KindInfo, Outgoing, Restore,
};
pub use handoff::{Admission, HandoffCommand, HandoffConfig, HandoffCore, HandoffMode, ViewId};
pub use hold::{HoldCaps, HoldConfig, HoldError, HoldKind, HoldQueues, MsgId, Release};
pub use identity::{ActorKey, Epoch, Incarnation, Millis, NodeName};
pub use membership::{
    DownReason, HeartbeatOutcome, Hello, MemberInfo, Membership, MembershipCommand, MembershipEvent,
};
pub use mesh::{HelloError, Mesh, MeshCommand};
pub use placement::{OwnerCache, Placement};
pub use recovery::{
    Activation, ConflictPolicy, NameMeta, Offer, Recovery, RecoveryCommand, RecoveryConfig,
    RecoveryMsg, ReplicaOutcome, Replicas, Resolution, RespawnDecision, Respawns, Spec,
    SpecHolders,
};
pub use routing::{Context, Decision, Facts, LookupCache, Residence, Routes, Routing};
pub use snapshot::Snapshot;
pub use status::NodeStatus;
pub use timing::Timing;
