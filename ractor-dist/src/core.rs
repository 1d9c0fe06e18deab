//! The pure, deterministic heart of ractor-dist.
//!
//! Nothing in here touches tokio, ractor, a socket or a clock: inputs are method calls
//! (time is passed in as [`Millis`]), outputs are returned values or events drained with
//! `poll_*`. That keeps placement and membership decisions testable in microseconds with
//! property tests, and identical on every node, build and platform.
//!
//! - [`admission`]: which frames from peers are acted on (identity per frame, bounds on
//!   the values peers supply).
//! - `announcement`: the signed multicast announcement of
//!   [`crate::discovery::Multicast`] and which announced addresses are current.
//! - [`config`]: the node's configuration ([`config::DistConfig`]), from which the engine's
//!   timing and limits derive.
//! - [`engine`]: the node's protocol engine, composing the machines below.
//! - `error`: [`DistError`](crate::DistError), what an operation's caller is told, and
//!   which errors are transient.
//! - [`identity`]: who a node is ([`NodeName`] + [`Incarnation`]), what an actor is called
//!   ([`ActorKey`]), and membership [`Epoch`]s.
//! - [`hash`]: the specified, stable hash functions placement is built on.
//! - [`placement`]: rendezvous (highest-random-weight) placement over a membership view.
//! - [`membership`]: the membership state machine (hello, heartbeat deadline, down/up).
//! - [`known`]: the known node set (`all`, `add_node`, `del_node`): a replicated value that
//!   decides who is dialed and admitted.
//! - [`handoff`]: moving actors to their new owners when the view changes ([`handoff::inbound`]:
//!   the receiving side, dedupe and chunk reassembly).
//! - [`hold`]: messages held while their actor moves or the node settles, with caps.
//! - [`recovery`]: replicated specs, checkpoints, respawns and conflicts after partitions.
//! - `refresh`: one round of discovery, merging every source's latest answer.
//! - [`replicated`]: cluster-wide CRDT values, their deltas and anti-entropy gossip.
//! - `retry`: when a failed call is tried again ([`crate::DistRef::call_retrying`]).
//! - `ring`: the up nodes as a ring-change callback sees them.
//! - [`routing`]: the one routing function, the directory, redirects and the lookup cache.
//! - [`snapshot`]: serialized actor states and the codec of states and arguments.
//! - [`status`]: a node's state and counters as reported to peers.
//! - `stop`: why an activation stopped ([`StopReason`](crate::StopReason)).
//! - [`timing`]: every deadline and patience of the protocol, derived from the configuration.
//! - `wire`: the versioned envelopes between nodes.
//!
//! ## The engine and its contract
//!
//! One [`Engine`] per node composes the machines below. The node layer calls its
//! `handle_*` methods with what happened (and the time), then drains one command queue
//! (`Engine::poll_command`) and carries each command out, in order. The engine decides the
//! order of work: on a tick, the mesh's deadlines first, then recovery (the fence, quiet-view
//! replication), then handoff deadlines, then expired parked messages; on a view change, the
//! departed peers are forgotten, `Stay` names registered, respawns offered, the view's
//! handoffs started, and only then the stale routes dropped.
//!
//! ```text
//!  node layer (executor)                          Engine                       commands
//!  tick, sessions, hello, heard ─handle_*─► Mesh ──► view change worked out ─► Send | SendAll
//!  frames (ViewAdopted, Done,   ─handle_*─► HandoffCore ─────────────────────► Flush | Dial
//!   Migrate, Ack, chunks)                   Inbound                            Disconnect
//!  child exited / started,      ─handle_*─► hosted names, outgoing, ──────────► Event
//!   snapshotted, checkpoint                 conflicts, restarts                PublishView
//!  specs, checkpoints, offers,  ─handle_*─► Recovery ─────────────────────────► AdoptView
//!   register, yield                                                            ViewChanged
//!  cast, request, local send    ─dispatch─► Routes + HoldQueues ─► Deliver |   Drain | Kill
//!                                           (answered at once)     Hold | Park SendBatch
//!                                                                  Forward |   Moved | Restore
//!                                                                  Answer |    Settled
//!                                                                  Drop        ReleaseParked
//!                                                                              Respawn | Resolve
//!                                                                              Fence | Unfence
//!                                                                              Report
//!  update, replica msg, tick    ─handle_*─► Replicas ──► Send (delta | digest | state)
//!                                                         Changed | Refused
//! ```
//!
//! Each machine is usable alone (their tests and the simulations drive them directly):
//! [`Mesh`] (membership, dialing, hellos, heartbeats), [`HandoffCore`] (drains, batches,
//! acknowledgements, the barrier), [`HoldQueues`] (held messages by id, with caps),
//! [`handoff::inbound`] (`Migrate` dedupe and reassembly), [`Recovery`] (replicas, offers,
//! respawns, conflicts, the fence) and [`Routes`] (the one routing function).

pub mod admission;
pub(crate) mod announcement;
pub mod config;
pub mod dialer;
pub mod engine;
pub(crate) mod error;
pub mod handoff;
pub mod hash;
pub mod hold;
pub mod identity;
pub mod known;
pub mod membership;
pub mod mesh;
pub mod placement;
pub mod recovery;
pub(crate) mod refresh;
pub mod replicated;
pub(crate) mod retry;
pub(crate) mod ring;
pub mod routing;
#[cfg(test)]
mod sim_seeds;
pub mod snapshot;
pub mod status;
pub(crate) mod stop;
pub mod timing;
pub(crate) mod wire;

pub use dialer::Dialer;
pub use engine::{
    Arrival, Child, ChildId, DrainedExit, Engine, EngineConfig, KindInfo, Outgoing, Restore,
};
pub use handoff::{Admission, HandoffCommand, HandoffConfig, HandoffCore, HandoffMode, ViewId};
pub use hold::{
    HoldCaps, HoldConfig, HoldError, HoldKind, HoldQueues, LocalAdmission, MsgId, Release,
};
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
pub use status::{MeshStats, NodeStatus, SecurityStats};
pub use timing::Timing;
