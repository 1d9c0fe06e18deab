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
//! - [`checkpoint`]: when an actor checkpoints its state ([`Checkpoints`](crate::Checkpoints),
//!   a kind's policy) and the per-actor decisions under it ([`checkpoint::CheckpointClock`]).
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
//! - [`order`]: per-sender order of remote casts across route changes (stamps per node and
//!   name, delivered in order at the host).
//! - [`recovery`]: replicated specs, checkpoints, respawns and conflicts after partitions.
//! - `refresh`: one round of discovery, merging every source's latest answer.
//! - [`replicated`]: cluster-wide CRDT values, their deltas and anti-entropy gossip.
//! - `retry`: when a failed call is tried again ([`crate::DistRef::call_retrying`]).
//! - `ring`: the up nodes as a ring-change callback sees them.
//! - [`routing`]: the one routing function, the directory, redirects and the lookup cache.
//! - [`snapshot`]: serialized actor states and the codec of states and arguments.
//! - [`snapshot_jobs`]: which final snapshots of drained actors run when, and which are
//!   given up (slow or hung ones hold up only their own actor).
//! - [`status`]: a node's state and counters as reported to peers.
//! - `stop`: why an activation stopped ([`StopReason`](crate::StopReason)).
//! - [`tokens`]: session tokens, which prove which peer's session a frame arrived over
//!   (issued, handed out, confirmed, and which peers' gateways are usable).
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
//!
//! ## Layers of the crate
//!
//! - `core` (this module): pure and deterministic (placement, membership and the mesh, routing, hold
//!   queues, the handoff state machine, replicated specs, respawns, conflicts and the pause
//!   fence, replicated CRDT values and their gossip, and their seeded simulations); no
//!   tokio, no ractor, no clock.
//! - the actor layer: [`DistNode`], [`DistRef`], [`DistActor`], the per-node
//!   `DistSupervisor` (the only actor peers see), which executes what the core decides.
//! - [`transport`]: how nodes reach each other (ractor_cluster behind the node's own
//!   listener, with the handshake timeout, the pending cap and optional mutual TLS; or
//!   [`transport::MemoryNetwork`] for in-process tests).
//! - [`discovery`]: where peers come from (a static list, DNS A/AAAA and SRV records, a
//!   host's port range, signed LAN multicast announcements, your own
//!   [`discovery::Discovery`]); it resolves, the core's mesh decides what to dial and forget.
//! - `core::wire`: the versioned envelopes between supervisors.
//! - The test kit is a crate of its own, `ractor-dist-testkit` (`testkit/` in the
//!   workspace): the console node that multi-process tests start, a typed async client for
//!   it, its actor kinds and a bounded `wait_until`.
//!
//! ## Reading map for maintainers
//!
//! Follow a message to learn the code:
//!
//! 1. **A cast from a handle**: `node/dist_ref.rs` (`DistRef::cast`: the cached route, one
//!    atomic load) → a local actor directly, or the outbox in `node/shared.rs` (casts
//!    numbered per name and batched per peer) → the peer's supervisor.
//! 2. **On the receiving node**: `node/supervisor/requests.rs` decodes the frame
//!    (`core/wire.rs`); a cast goes to [`core::Engine`]'s `dispatch_cast`
//!    (after [`core::admission`]: the frame names the peer whose session token it carries,
//!    [`core::tokens`], and its values are in bounds)
//!    (`core/engine/dispatch.rs`: [`core::routing`] and the admission of [`core::handoff`]:
//!    deliver here, forward, hold while the name moves, park while the node settles), and
//!    a held one waits in [`core::hold`]; one delivered here goes through
//!    `Engine::sequence` (`core/engine/order.rs`: its sender's stream, numbered by the
//!    outbox with [`order`], is delivered in order); control frames go to
//!    `Engine::handle_frame`
//!    (`core/engine/frames.rs`).
//! 3. **The engine** ([`core::engine`]) composes every machine and owns the order of work
//!    (`core/engine/flow.rs`: ticks, session changes, view changes, settling, leaving); the
//!    supervisor drains its one command queue and carries each command out
//!    (`node/supervisor/exec.rs`).
//! 4. **Membership**: [`core::mesh`] (hellos, heartbeats, dialing by node identity, what
//!    to forget, leavers) over [`core::membership`]; addresses come from the seeds, gossip
//!    and [`discovery`] (its refresh loop casts each round to the supervisor,
//!    `node/supervisor/mesh.rs`), and the cluster transport tells which node a dialed
//!    address led to (`transport/cluster.rs`). The known node set ([`core::known`]:
//!    [`DistNode::all`], [`DistNode::add_node`], [`DistNode::del_node`], `node/nodes.rs`)
//!    is a replicated value the engine keeps itself (`core/engine/known.rs`): it adds
//!    dial targets, refuses removed nodes' hellos, and is read from the data directory at
//!    start.
//! 5. **A view change**: [`core::placement`] gives the new owners; [`core::handoff`] drains,
//!    batches and acknowledges the moves (the engine's side: `core/engine/moves.rs`), and its
//!    `inbound` half deduplicates and reassembles what arrives.
//! 6. **Failures**: [`core::recovery`] replicates specs and checkpoints, offers and decides
//!    respawns, resolves two copies after a partition and fences a paused node (the engine's
//!    side: `core/engine/recover.rs`; actors' exits and restarts: `core/engine/lifecycle.rs`).
//! 7. **Every wait** is a method of [`core::Timing`], derived from [`DistConfig`].
//! 8. **Replicated values** ([`DistNode::replicated`]): `node/replicated.rs` (the
//!    [`Replicated`] handle, subscriptions, the gossip timer and the files on disk) feeds
//!    [`core::replicated::Replicas`] (deltas, digests, states in parts) and carries out its
//!    commands; the supervisor only hands over `FrameBody::Replica` frames (those of the
//!    known node set go to the engine), and only live members' values are merged.
//!
//! Words used throughout: an **epoch** numbers membership views (it grows with every
//! change); a **view id** digests a view's members and incarnations (equal on every node
//! that sees the same members); a **generation** counts the activations of one name (spawn
//! 1, each respawn or conflict resolution adds 1; a planned move keeps it) and fences stale
//! specs and checkpoints; an **incarnation** tells a restarted node from its old self. A
//! name is **moving** while it is drained and handed off (its messages are held), and
//! **fenced** while its node waits to rejoin after a pause. A node's **supervisor**
//! (`DistSupervisor`) is its only actor peers see: frames and requests between nodes go
//! from supervisor to supervisor (its ractor_cluster process group keeps an older name,
//! `ractor_dist::gateways`, which is part of the wire contract).
//!
//! [`DistActor`]: crate::DistActor
//! [`DistConfig`]: crate::DistConfig
//! [`DistNode`]: crate::DistNode
//! [`DistNode::add_node`]: crate::DistNode::add_node
//! [`DistNode::all`]: crate::DistNode::all
//! [`DistNode::del_node`]: crate::DistNode::del_node
//! [`DistNode::replicated`]: crate::DistNode::replicated
//! [`DistRef`]: crate::DistRef
//! [`Replicated`]: crate::Replicated
//! [`core::Engine`]: crate::core::Engine
//! [`core::Timing`]: crate::core::Timing
//! [`core::admission`]: crate::core::admission
//! [`core::engine`]: crate::core::engine
//! [`core::handoff`]: crate::core::handoff
//! [`core::hold`]: crate::core::hold
//! [`core::known`]: crate::core::known
//! [`core::membership`]: crate::core::membership
//! [`core::mesh`]: crate::core::mesh
//! [`core::placement`]: crate::core::placement
//! [`core::recovery`]: crate::core::recovery
//! [`core::replicated::Replicas`]: crate::core::replicated::Replicas
//! [`core::routing`]: crate::core::routing
//! [`core::tokens`]: crate::core::tokens
//! [`discovery`]: crate::discovery
//! [`discovery::Discovery`]: crate::discovery::Discovery
//! [`transport`]: crate::transport
//! [`transport::MemoryNetwork`]: crate::transport::MemoryNetwork

pub mod admission;
pub(crate) mod announcement;
pub mod checkpoint;
pub mod config;
pub mod dialer;
pub mod engine;
pub(crate) mod error;
pub mod footprint;
pub mod handoff;
pub mod hash;
pub mod hold;
pub mod identity;
pub mod known;
pub mod membership;
pub mod mesh;
pub mod order;
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
pub mod snapshot_jobs;
pub mod status;
pub(crate) mod stop;
pub mod timing;
pub mod tokens;
pub(crate) mod wire;

pub use dialer::Dialer;
pub use engine::{
    Arrival, Child, ChildId, DrainedExit, Engine, EngineConfig, KindInfo, Outgoing, Restore,
};
pub use footprint::{Footprint, FootprintParseError, TableSize};
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
pub use status::{LookupStats, MeshStats, MoveStats, NodeStatus, SecurityStats};
pub use timing::Timing;
