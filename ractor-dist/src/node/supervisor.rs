//! The `DistSupervisor`: one per node, the node's only actor visible to peers.
//!
//! It owns the node's membership state machine and mesh, executes spawn / lookup / call /
//! stop requests from local handles and from peers, delivers casts to the actors it hosts,
//! supervises them (restart on panic, cluster-wide removal on normal exit) and keeps the
//! directory entries of the names it owns. Everything it decides is published in the
//! node's shared state, from which `DistRef`s route without asking it.
//!
//! - `mesh`: sessions, hellos, heartbeats, dialing, membership changes.
//! - `requests`: frames and requests from peers and local handles.
//! - `children`: the hosted actors and their supervision.
//! - `handoff`: executing the handoff state machine.
//! - `hold`: executing the hold queues (messages held while an actor moves or the node
//!   settles).
//! - `recovery`: replicated specs, checkpoints, respawns, conflicts and the pause fence.
//! - `gateway`, `tokens`: peers' supervisors as this node reaches them, and executing the
//!   session tokens ([`crate::core::tokens`]) that tell which peer's session a frame
//!   arrived over.

mod children;
mod exec;
mod gateway;
pub(crate) use gateway::{fresh_token, Gateway, Token};
mod handoff;
mod hold;
pub(crate) use hold::{serialize_as, Refusal};
mod mesh;
mod passivate;
mod recovery;
mod requests;
mod snapshots;
mod tokens;

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use ractor::message::{BoxedDowncastErr, SerializedMessage};
use ractor::{
    Actor, ActorId, ActorProcessingErr, ActorRef, Message, RpcReplyPort, SupervisionEvent,
};
use tokio::sync::broadcast;

use crate::core::order::Stamp;
use crate::core::wire::Request;
use crate::core::Snapshot;
use crate::core::{
    Activation, ActorKey, Child, ChildId, Context, Decision, Engine, EngineConfig, Hello, HoldKind,
    MembershipEvent, Millis, MsgId, NameMeta, NodeName,
};
use crate::node::shared::{EntryState, NodeShared, View};
use crate::transport::Transport;

/// Messages of the supervisor. `Frame` and `Request` travel between nodes (as opaque,
/// versioned bytes); the others are local only.
pub(crate) enum SupervisorMsg {
    /// A one-way envelope, with the session token its receiver issued to the sender
    /// (`NO_TOKEN` when it has none yet).
    Frame(Vec<u8>, Token),
    /// A request envelope and its session token; the answer is a response envelope.
    Request(Vec<u8>, Token, RpcReplyPort<Vec<u8>>),
    /// Heartbeat timer.
    Tick,
    /// `peer` answered, over its own session, to whom it issued `token` for its supervisor
    /// `gateway` (see `core::tokens`).
    TokenChecked {
        peer: NodeName,
        gateway: ActorId,
        token: Token,
        answer: crate::core::tokens::Answer,
    },
    /// ractor_cluster reported a session change.
    SessionEvent,
    /// Discovery's latest answer: the addresses to dial, and how many sources failed.
    Discovered {
        addrs: std::collections::BTreeSet<String>,
        errors: u64,
    },
    /// Leave the cluster and stop.
    Shutdown(RpcReplyPort<()>),
    /// A typed message from a local handle for an actor that is moving or settling.
    LocalSend {
        key: ActorKey,
        msg: Box<dyn Any + Send>,
        /// Serializes `msg` (its type's), should it be forwarded to another node.
        serialize: hold::Serialize,
        /// A call's: told when the message is refused over a hold cap.
        refused: hold::Refusal,
    },
    /// Hand every hosted actor off, then answer (the node stops afterwards).
    Leave(RpcReplyPort<()>),
    /// `add_node`: dial this address and add the node it leads to.
    AddNode(String, RpcReplyPort<()>),
    /// `footprint`: the sizes of the node's tables.
    Footprint(RpcReplyPort<crate::core::Footprint>),
    /// `del_node`: remove this node from the known set.
    DelNode(
        NodeName,
        RpcReplyPort<Result<bool, crate::core::replicated::ReplicaError>>,
    ),
    /// A hosted actor checkpointed its state (`delta`: the change since its previous
    /// checkpoint).
    Checkpoint {
        key: ActorKey,
        actor: ActorId,
        snapshot: Snapshot,
        delta: bool,
    },
    /// A kind's checkpoint policy changed on this node (`DistNode::set_checkpoints`).
    KindChanged(String),
    /// A hosted actor's start (its `pre_start` or `restore`, run on its own task) ended.
    /// Several may be reported at once (the arrivals of one `Migrate` batch).
    ChildStarted(Vec<(ActorId, Result<(), String>)>),
    /// Casts the outbox could not hand to a peer's session (see `unsent`).
    Unsent(Vec<crate::core::wire::CastItem>),
    /// Final states of drained actors were snapshotted (off the supervisor's task; see
    /// `snapshots`): take the results.
    Snapshotted,
    /// A hosted actor waits for the word that the node serves (it had not heard it
    /// recently: the process may have been stopped): check for a pause now (see
    /// `node::clock`; every message does, and vouches unless the node is fenced).
    Nudge,
}

/// The engine's name of a local actor.
fn cid(actor: &ActorId) -> ChildId {
    ChildId(actor.pid())
}

impl SupervisorMsg {
    /// The variant's name, for logs.
    fn name(&self) -> &'static str {
        match self {
            SupervisorMsg::Frame(..) => "frame",
            SupervisorMsg::Request(..) => "request",
            SupervisorMsg::Tick => "tick",
            SupervisorMsg::TokenChecked { .. } => "token checked",
            SupervisorMsg::SessionEvent => "session event",
            SupervisorMsg::Discovered { .. } => "discovered",
            SupervisorMsg::Shutdown(_) => "shutdown",
            SupervisorMsg::LocalSend { .. } => "local send",
            SupervisorMsg::Leave(_) => "leave",
            SupervisorMsg::AddNode(..) => "add node",
            SupervisorMsg::Footprint(_) => "footprint",
            SupervisorMsg::DelNode(..) => "del node",
            SupervisorMsg::Checkpoint { .. } => "checkpoint",
            SupervisorMsg::KindChanged(_) => "kind changed",
            SupervisorMsg::ChildStarted(_) => "child started",
            SupervisorMsg::Snapshotted => "snapshotted",
            SupervisorMsg::Unsent(_) => "unsent",
            SupervisorMsg::Nudge => "nudge",
        }
    }
}

impl SupervisorState {
    /// Heartbeats go out from this actor's ticks, so no handler may take long: user code
    /// runs on the actors' own tasks, never here. One that took longer than a heartbeat
    /// interval anyway delayed the heartbeats behind it, and says so.
    fn note_handled(&self, what: &'static str, started: Instant) {
        let ms = started.elapsed().as_millis() as u64;
        if ms > self.engine.timing.heartbeat_interval_ms {
            tracing::warn!(
                ms,
                message = what,
                "a supervisor handler took longer than a heartbeat interval; heartbeats waited behind it"
            );
        }
    }
}

const FRAME: &str = "frame";
const REQUEST: &str = "request";

impl Message for SupervisorMsg {
    fn serializable() -> bool {
        true
    }

    fn serialize(self) -> Result<SerializedMessage, BoxedDowncastErr> {
        match self {
            // The token travels in the metadata, beside the versioned envelope.
            SupervisorMsg::Frame(args, token) => Ok(SerializedMessage::Cast {
                variant: FRAME.to_string(),
                args,
                metadata: Some(crate::core::tokens::to_metadata(token)),
            }),
            SupervisorMsg::Request(args, token, reply) => Ok(SerializedMessage::Call {
                variant: REQUEST.to_string(),
                args,
                reply,
                metadata: Some(crate::core::tokens::to_metadata(token)),
            }),
            _ => Err(BoxedDowncastErr),
        }
    }

    fn deserialize(msg: SerializedMessage) -> Result<Self, BoxedDowncastErr> {
        match msg {
            SerializedMessage::Cast {
                variant,
                args,
                metadata,
            } if variant == FRAME => Ok(SupervisorMsg::Frame(
                args,
                crate::core::tokens::from_metadata(metadata.as_deref()),
            )),
            SerializedMessage::Call {
                variant,
                args,
                reply,
                metadata,
            } if variant == REQUEST => Ok(SupervisorMsg::Request(
                args,
                crate::core::tokens::from_metadata(metadata.as_deref()),
                reply,
            )),
            _ => Err(BoxedDowncastErr),
        }
    }
}

/// The per-node supervisor actor. Started by [`crate::DistNode::start`].
#[derive(Debug)]
pub(crate) struct DistSupervisor;

pub(crate) struct SupervisorArgs {
    pub(crate) shared: Arc<NodeShared>,
    pub(crate) transport: Arc<dyn Transport>,
    pub(crate) events: broadcast::Sender<MembershipEvent>,
    /// The known node set's file, checked by `DistNode::start`.
    pub(crate) known_file: Option<Vec<u8>>,
}

/// The payload of a held message; what the protocol knows of it (name, sender, time,
/// kind) is in the core's `HoldQueues`, under the same id.
enum Payload {
    /// A serialized cast from a peer.
    Cast {
        variant: String,
        args: Vec<u8>,
        hops: u8,
        stamp: Option<Stamp>,
    },
    /// A request with its reply port.
    Request {
        request: Request,
        reply: RpcReplyPort<Vec<u8>>,
    },
    /// A typed message from a local handle, counted as pending for its name while held,
    /// with its type's serializer.
    Local(Box<dyn Any + Send>, hold::PendingLocal, hold::Serialize),
}

impl Payload {
    fn cast(variant: String, args: Vec<u8>, hops: u8, stamp: Option<Stamp>) -> Self {
        Payload::Cast {
            variant,
            args,
            hops,
            stamp,
        }
    }

    fn kind(&self) -> HoldKind {
        match self {
            Payload::Cast { .. } => HoldKind::Cast,
            Payload::Request { .. } => HoldKind::Call,
            Payload::Local(..) => HoldKind::Local,
        }
    }
}

struct LeaveState {
    replies: Vec<RpcReplyPort<()>>,
    /// The leave is over (reported once; later callers are answered at once).
    over: bool,
}

pub(crate) struct SupervisorState {
    shared: Arc<NodeShared>,
    /// Sessions with peers, dialing, disconnecting.
    transport: Arc<dyn Transport>,
    events: broadcast::Sender<MembershipEvent>,
    /// Every decision of the protocol, and the tables it decides on.
    engine: Engine,
    /// Peers' supervisors this node holds a confirmed session token for (frames go to
    /// these only).
    supervisors: HashMap<NodeName, Gateway>,
    /// Session tokens issued and held, and hellos waiting for them (see `core::tokens`).
    tokens: crate::core::tokens::Tokens<ActorId>,
    /// Every peer supervisor the transport reports, token or not.
    raw_gateways: HashMap<NodeName, ActorRef<SupervisorMsg>>,
    /// Payloads of the messages the engine holds, by its ids.
    held: HashMap<MsgId, Payload>,
    /// Who waits for the end of a graceful leave.
    leaving: Option<LeaveState>,
    /// Spawn requests answered once their actor has started (`ChildStarted`), by actor.
    start_replies: HashMap<ChildId, (ActorKey, RpcReplyPort<Vec<u8>>)>,
    /// Spawns of names stopped by request, waiting for the stopped actor's exit.
    waiting_spawns: HashMap<ActorKey, Vec<WaitingSpawn>>,
    /// Final states of drained actors being snapshotted.
    snapshots: snapshots::Snapshots,
    /// Counts this node as running in the process (for `DistRef`s decoded outside a
    /// delivery) until the supervisor stops.
    _running: crate::node::dist_ref::NodeRegistration,
}

/// A spawn request waiting for an earlier copy of its name to exit: kind, arguments, hops
/// and the reply port.
type WaitingSpawn = (String, Vec<u8>, u8, RpcReplyPort<Vec<u8>>);

impl Actor for DistSupervisor {
    type Msg = SupervisorMsg;
    type State = SupervisorState;
    type Arguments = SupervisorArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        args: SupervisorArgs,
    ) -> Result<SupervisorState, ActorProcessingErr> {
        let shared = args.shared;
        // Before the transport reports anything: every handler may need this node's own
        // supervisor (to link the actors it starts), and a frame can arrive before
        // `DistNode::start` has returned.
        let _ = shared.supervisor.set(myself.clone());
        let config = &shared.config;
        let me = Hello {
            node: shared.me.clone(),
            incarnation: shared.incarnation,
            protocol: u32::from(crate::core::wire::PROTOCOL_VERSION),
            hash_version: crate::core::hash::HASH_VERSION,
            addr: config.addr(),
            weight: config.weight,
        };

        args.transport.attach(&myself)?;
        myself.send_interval(config.heartbeat_interval, || SupervisorMsg::Tick);
        let kinds = shared
            .kinds
            .names()
            .filter_map(|name| shared.kinds.get(name).map(|k| (name.to_string(), k.info())))
            .collect();
        let engine_config = EngineConfig {
            known_file: args.known_file,
            ..EngineConfig::new(config, me, kinds)
        };
        let engine = Engine::new(engine_config, shared.view().placement().clone(), Millis(0));
        let tokens = crate::core::tokens::Tokens::new(shared.local_token, shared.me.clone());
        let snapshots = snapshots::Snapshots::new(myself.clone(), engine.timing());
        Ok(SupervisorState {
            _running: crate::node::dist_ref::NodeRegistration::new(&shared),
            shared,
            transport: args.transport,
            events: args.events,
            engine,
            supervisors: HashMap::new(),
            tokens,
            raw_gateways: HashMap::new(),
            held: HashMap::new(),
            leaving: None,
            start_replies: HashMap::new(),
            waiting_spawns: HashMap::new(),
            snapshots,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        state.tick(&myself).await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        message: SupervisorMsg,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        // Before anything else: after a pause, the first message handled (often a session
        // event about peers that dropped this node) must already see the fence.
        state.check_pause();
        state.run().await;
        let started = Instant::now();
        let what = message.name();
        match message {
            SupervisorMsg::Frame(bytes, token) => state.handle_frame(&bytes, token).await,
            SupervisorMsg::Request(bytes, token, reply) => {
                state.handle_request(&myself, &bytes, token, reply).await
            }
            SupervisorMsg::Tick => state.tick(&myself).await,
            SupervisorMsg::TokenChecked {
                peer,
                gateway,
                token,
                answer,
            } => state.token_checked(peer, gateway, token, answer).await,
            SupervisorMsg::SessionEvent => state.reconcile().await,
            SupervisorMsg::Discovered { addrs, errors } => state.discovered(addrs, errors),
            SupervisorMsg::Shutdown(reply) => {
                state.shutdown(&myself).await;
                let _ = reply.send(());
                myself.stop(Some("ractor-dist node shut down".to_string()));
            }
            SupervisorMsg::LocalSend {
                key,
                msg,
                serialize,
                refused,
            } => {
                state
                    .local_send(&myself, key, msg, serialize, refused)
                    .await
            }
            SupervisorMsg::Leave(reply) => state.leave(&myself, reply).await,
            SupervisorMsg::AddNode(addr, reply) => {
                let now = state.now();
                state.engine.handle_add_node(&addr, now);
                let _ = reply.send(());
            }
            SupervisorMsg::Footprint(reply) => {
                let _ = reply.send(state.footprint());
            }
            SupervisorMsg::DelNode(node, reply) => {
                let now = state.now();
                let _ = reply.send(state.engine.handle_del_node(&node, now));
            }
            SupervisorMsg::Checkpoint {
                key,
                actor,
                snapshot,
                delta,
            } => state.checkpointed(key, cid(&actor), snapshot, delta),
            SupervisorMsg::KindChanged(kind) => state.kind_changed(&kind),
            SupervisorMsg::ChildStarted(started) => {
                for (actor, result) in started {
                    state.child_started(&myself, cid(&actor), result).await
                }
            }
            SupervisorMsg::Snapshotted => state.snapshotted(),
            SupervisorMsg::Unsent(items) => state.unsent(items),
            SupervisorMsg::Nudge => {}
        }
        state.run().await;
        state.note_handled(what, started);
        state.message_done();
        state.run().await;
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        state.check_pause();
        state.run().await;
        let started = Instant::now();
        match event {
            SupervisionEvent::ActorTerminated(cell, final_state, reason) => {
                state
                    .child_exited(
                        &myself,
                        cid(&cell.get_id()),
                        final_state,
                        reason,
                        None,
                        false,
                    )
                    .await;
            }
            SupervisionEvent::ActorFailed(cell, error) => {
                let error = error.to_string();
                state
                    .child_exited(&myself, cid(&cell.get_id()), None, None, Some(error), false)
                    .await;
            }
            SupervisionEvent::ProcessGroupChanged(_) => state.reconcile().await,
            _ => {}
        }
        state.run().await;
        state.note_handled("supervision event", started);
        state.message_done();
        state.run().await;
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<SupervisorMsg>,
        state: &mut SupervisorState,
    ) -> Result<(), ActorProcessingErr> {
        state.transport.stop();
        // Hosted actors waiting for the word that the node serves drop their message.
        state.shared.clock.close();
        Ok(())
    }
}

impl SupervisorState {
    /// The core's routing decision for `key` in a supervisor `context`, `hosted` being the
    /// state of its local entry, if any.
    pub(super) fn route(
        &self,
        key: &ActorKey,
        context: Context,
        hosted: Option<EntryState>,
    ) -> Decision {
        self.engine.route(key, context, hosted)
    }

    /// The sizes of the engine's tables, the supervisor's and the shared state's.
    fn footprint(&self) -> crate::core::Footprint {
        let mut f = self.engine.footprint();
        self.tokens.footprint(&mut f);
        f.add(
            "node.supervisors",
            self.supervisors.len() + self.raw_gateways.len(),
        );
        f.add("node.held", self.held.len());
        f.add("node.start_replies", self.start_replies.len());
        f.add(
            "node.waiting_spawns",
            self.waiting_spawns.values().map(Vec::len).sum(),
        );
        self.snapshots.footprint(&mut f);
        self.shared.footprint(&mut f);
        self.transport.footprint(&mut f);
        f
    }

    /// A view of the engine's routes and the supervisors, to publish.
    pub(super) fn current_view(&mut self) -> View {
        View {
            routes: self.engine.routing.snapshot(),
            supervisors: self.supervisors.clone(),
        }
    }

    /// Publishes the routing tables if they changed since they were last published.
    pub(super) fn publish_routes(&mut self) {
        if self.engine.routing.is_dirty() {
            self.shared.publish_routes(self.engine.routing.snapshot());
        }
    }
}
