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
//! ## Adding ractor-dist to a ractor application
//!
//! ractor_cluster turns on ractor's `cluster` feature for the whole build; from then on
//! every message type needs its own `ractor::Message` impl, plain local actors included,
//! and the build fails before any code changed with
//!
//! ```text
//! error[E0277]: the trait bound `LogMsg: Message` is not satisfied
//! help: the trait `serde_core::ser::Serialize` is not implemented for `LogMsg`
//! ```
//!
//! Deriving serde, as the hint says, is not the fix. Derive `ractor_cluster::RactorMessage`
//! on each local message type (`#[derive(RactorMessage)] enum LogMsg { .. }`), and
//! `ractor_cluster::RactorClusterMessage` on the messages of distributed kinds.
//! `examples/local_beside_distributed.rs` runs a plain actor beside a distributed one.
//!
//! Call sites keep their shape: [`cast!`], [`call!`] and [`call_t!`] from this crate take a
//! [`DistRef`] as well as a ractor `ActorRef` (import them instead of ractor's);
//! [`DistRef::call`] takes an optional timeout; [`DistRef::send_after`] and
//! [`DistRef::send_interval`] work as ractor's. Inside an actor, `myself.node()`
//! ([`DistRef::node`]) is its node: any hook can spawn, look up and stop other names and
//! read the membership; a [`DistRef`] can travel inside a message (it is serde-serializable
//! and routes through the receiving node). Errors say whether a retry may help
//! ([`DistError::is_transient`]). A service ends its `main` with
//! [`DistNode::run_until_signal`], so that SIGTERM or Ctrl-C hands its actors off.
//!
//! **Virtual actors**: a kind registered with [`Kinds::with_factory`] starts each of its
//! names (`KIND/id`, reached with [`DistNode::ref_for`]) on its first message, on its
//! owner, with the factory's arguments; idle past [`DistActor::IDLE_TIMEOUT`], or beyond
//! `DistConfig::max_active` per node, it is passivated with its state kept and its next
//! message starts it again from that state.
//!
//! ## Operating a node
//!
//! - **Moves and stops**: [`DistActor::post_stop`] runs on every stop of an activation,
//!   moves included; [`DistActor::post_stop_with`] says why ([`StopReason::Moving`] or
//!   [`StopReason::Stopped`]).
//! - **Readiness**: [`DistNode::is_ready`] for a readiness probe (running, not leaving,
//!   settled, not fenced).
//! - **Logs**: every hook of a hosted actor runs in a tracing span `actor` with fields
//!   `name`, `kind` and `node`, so the actor's own log lines carry them. Routine starts
//!   and stops log at `debug`.
//! - **Metrics** through the [`metrics`](https://docs.rs/metrics) facade (install any
//!   exporter, for example `metrics-exporter-prometheus`; without one they cost nothing),
//!   each labelled `node`, published every heartbeat interval: counters
//!   `ractor_dist_moves_in_total`, `ractor_dist_moves_out_total`,
//!   `ractor_dist_respawns_total`, `ractor_dist_handoff_fallbacks_total`,
//!   `ractor_dist_restarts_total`, `ractor_dist_conflicts_total`,
//!   `ractor_dist_checkpoints_total`, `ractor_dist_dropped_casts_total`,
//!   `ractor_dist_bad_messages_total`, `ractor_dist_hold_refused_total`,
//!   `ractor_dist_forwarded_total`, `ractor_dist_peers_declared_down_total`; gauges
//!   `ractor_dist_held_messages` (hold queues' depth), `ractor_dist_moving_actors`,
//!   `ractor_dist_members`, `ractor_dist_hosted_actors`, `ractor_dist_ready` (0 or 1),
//!   `ractor_dist_actors` (labelled `kind`). Recorded as they happen: counters
//!   `ractor_dist_activations_total` (labelled `kind`: names started by their first
//!   message) and `ractor_dist_passivations_total`; histograms
//!   `ractor_dist_call_seconds` (labelled `outcome`: `ok` or `error`) and
//!   `ractor_dist_cast_seconds` (the time a cast to a remote actor takes to be accepted:
//!   serialized and queued for its node; sampled, one in 64 per thread; casts to local
//!   actors, a mailbox push, are not timed).
//!
//! ## Layers
//!
//! - [`core`]: pure and deterministic (placement, membership and the mesh, routing, hold
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
//!    batched per peer) → the peer's supervisor.
//! 2. **On the receiving node**: `node/supervisor/requests.rs` decodes the frame
//!    (`core/wire.rs`); a cast goes to [`core::Engine`]'s `dispatch_cast`
//!    (after [`core::admission`]: the frame names the peer whose session token it carries,
//!    `node/supervisor/tokens.rs`, and its values are in bounds)
//!    (`core/engine/dispatch.rs`: [`core::routing`] and the admission of [`core::handoff`]:
//!    deliver here, forward, hold while the name moves, park while the node settles), and
//!    a held one waits in [`core::hold`]; control frames go to `Engine::handle_frame`
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

pub mod core;
pub mod discovery;
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
    ActorKey, Epoch, Incarnation, MembershipEvent, MeshStats, NodeName, NodeStatus, SecurityStats,
    Snapshot,
};
pub use crate::core::{ConflictPolicy, HandoffMode};
pub use node::{
    Changes, Checkpoints, ConfigError, DistActor, DistConfig, DistError, DistNode, DistRef, Kinds,
    OnRingChange, OnStateChange, Replicated, Spawned, StopReason, TlsFiles, ValueChange,
};
