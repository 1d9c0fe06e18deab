//! Declaring distributable actor kinds: the [`DistActor`] trait and the [`Kinds`] registry.
//!
//! A kind is an actor type that every node of the cluster knows by the same name
//! ([`DistActor::KIND`]), so that any node can ask any other to start one by name with
//! serialized arguments. The trait mirrors [`ractor::Actor`] hook for hook; the difference
//! is `myself`, a [`DistRef`] that keeps working wherever the actor lives.
//!
//! Why not a plain `ractor::Actor`? ractor_cluster gives every actor whose message type is
//! serializable a proxy actor on every connected peer (about 12 KB and 20 µs each). Hosted
//! actors are therefore spawned behind a local-only message wrapper, and only the node's
//! supervisor is visible to peers.

use std::any::{Any, TypeId};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use ractor::message::SerializedMessage;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, Message};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::core::{ActorKey, HandoffMode};
use crate::node::dist_ref::DistRef;
use crate::node::shared::NodeShared;
use crate::wire::RemoteError;

/// A distributable actor kind.
///
/// Messages are declared as for any remote ractor actor: an enum deriving
/// `ractor_cluster::RactorClusterMessage`, whose request/response variants are marked
/// `#[rpc]` and carry an [`ractor::RpcReplyPort`]. Payload types need serde (ractor's
/// `blanket_serde` feature, which ractor-dist turns on, makes them wire-ready).
///
/// # Examples
///
/// ```
/// use ractor::{ActorProcessingErr, RpcReplyPort};
/// use ractor_cluster::RactorClusterMessage;
/// use ractor_dist::{DistActor, DistRef};
///
/// #[derive(RactorClusterMessage)]
/// pub enum CounterMsg {
///     Add(i64),
///     #[rpc]
///     Get(RpcReplyPort<i64>),
/// }
///
/// pub struct Counter;
///
/// impl DistActor for Counter {
///     const KIND: &'static str = "counter";
///     type Msg = CounterMsg;
///     type State = i64;
///     type Arguments = i64;
///
///     async fn pre_start(&self, _me: DistRef<CounterMsg>, start: i64) -> Result<i64, ActorProcessingErr> {
///         Ok(start)
///     }
///
///     async fn handle(&self, _me: DistRef<CounterMsg>, msg: CounterMsg, n: &mut i64) -> Result<(), ActorProcessingErr> {
///         match msg {
///             CounterMsg::Add(d) => *n += d,
///             CounterMsg::Get(reply) => { let _ = reply.send(*n); }
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait DistActor: Sized + Send + Sync + 'static {
    /// The cluster-wide name of this kind. Every node that may host it registers a kind
    /// with this name.
    const KIND: &'static str;
    /// The message type (a `RactorClusterMessage` enum).
    type Msg: Message;
    /// The actor's state.
    type State: Send + 'static;
    /// The spawn arguments; serialized to reach the hosting node, and kept there to restart
    /// the actor after a panic.
    type Arguments: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// Builds the state; as [`ractor::Actor::pre_start`]. An error fails the spawn.
    fn pre_start(
        &self,
        myself: DistRef<Self::Msg>,
        args: Self::Arguments,
    ) -> impl Future<Output = Result<Self::State, ActorProcessingErr>> + Send;

    /// Runs once the actor is started; as [`ractor::Actor::post_start`].
    fn post_start(
        &self,
        myself: DistRef<Self::Msg>,
        state: &mut Self::State,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        let _ = (myself, state);
        async { Ok(()) }
    }

    /// Handles one message; as [`ractor::Actor::handle`]. An error or a panic restarts the
    /// actor on its node with its original arguments (up to `DistConfig::restart_limit`).
    fn handle(
        &self,
        myself: DistRef<Self::Msg>,
        message: Self::Msg,
        state: &mut Self::State,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        let _ = (myself, message, state);
        async { Ok(()) }
    }

    /// What happens when the actor's owner changes (default [`HandoffMode::Restart`]).
    const HANDOFF: HandoffMode = HandoffMode::Restart;

    /// The schema version written into snapshots; [`DistActor::restore`] sees the version
    /// a snapshot was written with, and may upgrade it or refuse it.
    const STATE_VERSION: u32 = 1;

    /// Serializes the state for a [`HandoffMode::Resume`] move (see [`Snapshot::encode`]).
    /// The default refuses, and the actor restarts from its arguments instead.
    fn snapshot(&self, state: &Self::State) -> Result<Vec<u8>, ActorProcessingErr> {
        let _ = state;
        Err("this kind does not implement DistActor::snapshot".into())
    }

    /// Builds the state on the new owner from a snapshot taken on the old one (NkDIST's
    /// start-and-join). An error makes the new owner log it, count it and start the actor
    /// from `args` with [`DistActor::pre_start`] instead.
    fn restore(
        &self,
        myself: DistRef<Self::Msg>,
        args: Self::Arguments,
        snapshot: Snapshot,
    ) -> impl Future<Output = Result<Self::State, ActorProcessingErr>> + Send {
        let _ = (myself, args, snapshot);
        async { Err("this kind does not implement DistActor::restore".into()) }
    }

    /// Runs after the actor stopped gracefully; as [`ractor::Actor::post_stop`].
    fn post_stop(
        &self,
        myself: DistRef<Self::Msg>,
        state: &mut Self::State,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        let _ = (myself, state);
        async { Ok(()) }
    }
}

/// A serialized actor state travelling with a [`HandoffMode::Resume`] move.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// The [`DistActor::STATE_VERSION`] of the node that wrote it.
    pub version: u32,
    /// The bytes [`DistActor::snapshot`] returned.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

impl Snapshot {
    /// Encodes a serde state (bincode, fixed-width integers): a ready-made body for
    /// [`DistActor::snapshot`].
    ///
    /// # Errors
    ///
    /// When the state does not serialize.
    pub fn encode<T: Serialize>(state: &T) -> Result<Vec<u8>, ActorProcessingErr> {
        bincode::serialize(state).map_err(|e| format!("state does not serialize: {e}").into())
    }

    /// Decodes a state encoded with [`Snapshot::encode`], refusing another version.
    ///
    /// # Errors
    ///
    /// When `self.version != expected_version` or the bytes do not decode.
    pub fn decode<T: DeserializeOwned>(
        &self,
        expected_version: u32,
    ) -> Result<T, ActorProcessingErr> {
        if self.version != expected_version {
            return Err(format!(
                "snapshot has state version {}, this node expects {expected_version}",
                self.version
            )
            .into());
        }
        decode_args(&self.bytes, usize::MAX)
            .map_err(|e| format!("snapshot does not decode: {e}").into())
    }
}

/// A user message behind a local-only envelope: not serializable in ractor's eyes, so the
/// hosted actor gets no proxy on peers. Zero-cost: the local send path never serializes.
pub(crate) struct Local<M>(pub(crate) M);

impl<M: Message> Message for Local<M> {}

/// The ractor actor that runs a [`DistActor`].
pub(crate) struct Hosted<A: DistActor> {
    actor: Arc<A>,
    key: ActorKey,
    shared: Arc<NodeShared>,
    myself: OnceLock<DistRef<A::Msg>>,
}

impl<A: DistActor> Hosted<A> {
    fn me(&self, cell: &ActorRef<Local<A::Msg>>) -> DistRef<A::Msg> {
        self.myself
            .get_or_init(|| {
                DistRef::with_local(self.key.clone(), self.shared.clone(), cell.get_cell())
            })
            .clone()
    }
}

/// How a hosted actor starts: from its arguments, or from a snapshot.
pub(crate) enum Start<T> {
    Fresh(T),
    Restore(T, Snapshot),
}

impl<A: DistActor> Actor for Hosted<A> {
    type Msg = Local<A::Msg>;
    type State = A::State;
    type Arguments = Start<A::Arguments>;

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        args: Start<A::Arguments>,
    ) -> Result<A::State, ActorProcessingErr> {
        match args {
            Start::Fresh(args) => self.actor.pre_start(self.me(&myself), args).await,
            Start::Restore(args, snapshot) => {
                self.actor.restore(self.me(&myself), args, snapshot).await
            }
        }
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut A::State,
    ) -> Result<(), ActorProcessingErr> {
        self.actor.post_start(self.me(&myself), state).await
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Local<A::Msg>,
        state: &mut A::State,
    ) -> Result<(), ActorProcessingErr> {
        self.actor.handle(self.me(&myself), message.0, state).await
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut A::State,
    ) -> Result<(), ActorProcessingErr> {
        self.actor.post_stop(self.me(&myself), state).await
    }
}

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A kind with its types erased, as the supervisor needs it.
pub(crate) trait ErasedKind: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn msg_type(&self) -> TypeId;
    fn mode(&self) -> HandoffMode;
    /// Decodes `args` and spawns the actor linked to `supervisor`, from `snapshot` if given.
    fn spawn(
        &self,
        key: ActorKey,
        args: &[u8],
        snapshot: Option<Snapshot>,
        shared: Arc<NodeShared>,
        supervisor: ActorCell,
    ) -> BoxFuture<Result<ActorCell, RemoteError>>;
    /// The snapshot of a stopped actor's final state (`None` when the kind restarts from
    /// its arguments, or cannot snapshot while `Stay`).
    fn snapshot(
        &self,
        state: ractor::actor::messages::BoxedState,
    ) -> Result<Option<Snapshot>, String>;
    /// Enqueues a typed message (boxed by a local `DistRef`) on `cell`.
    fn deliver_any(
        &self,
        key: &ActorKey,
        cell: &ActorCell,
        msg: Box<dyn Any + Send>,
    ) -> Result<(), RemoteError>;
    /// Serializes a typed message (boxed by a local `DistRef`) to send it elsewhere.
    fn serialize_any(&self, msg: Box<dyn Any + Send>) -> Result<SerializedMessage, String>;
    /// Decodes a serialized message for this kind and enqueues it on `cell`.
    fn deliver(
        &self,
        key: &ActorKey,
        cell: &ActorCell,
        msg: SerializedMessage,
    ) -> Result<(), RemoteError>;
}

struct KindImpl<A>(Arc<A>);

impl<A: DistActor> ErasedKind for KindImpl<A> {
    fn name(&self) -> &'static str {
        A::KIND
    }

    fn msg_type(&self) -> TypeId {
        TypeId::of::<A::Msg>()
    }

    fn mode(&self) -> HandoffMode {
        A::HANDOFF
    }

    fn snapshot(
        &self,
        state: ractor::actor::messages::BoxedState,
    ) -> Result<Option<Snapshot>, String> {
        if A::HANDOFF == HandoffMode::Restart {
            return Ok(None);
        }
        let mut state = state;
        let state = state
            .take::<A::State>()
            .map_err(|_| "the final state has an unexpected type".to_string())?;
        match self.0.snapshot(&state) {
            Ok(bytes) => Ok(Some(Snapshot {
                version: A::STATE_VERSION,
                bytes,
            })),
            Err(e) if A::HANDOFF == HandoffMode::Stay => {
                tracing::debug!(kind = A::KIND, error = %e, "no snapshot; the actor restarts on its new node");
                Ok(None)
            }
            Err(e) => Err(format!("snapshot failed: {e}")),
        }
    }

    fn deliver_any(
        &self,
        key: &ActorKey,
        cell: &ActorCell,
        msg: Box<dyn Any + Send>,
    ) -> Result<(), RemoteError> {
        let msg = msg
            .downcast::<A::Msg>()
            .map_err(|_| RemoteError::BadMessage {
                key: key.clone(),
                reason: "the message has another type".to_string(),
            })?;
        cell.send_message(Local(*msg))
            .map_err(|_| RemoteError::NotFound(key.clone()))
    }

    fn serialize_any(&self, msg: Box<dyn Any + Send>) -> Result<SerializedMessage, String> {
        let msg = msg
            .downcast::<A::Msg>()
            .map_err(|_| "the message has another type".to_string())?;
        (*msg)
            .serialize()
            .map_err(|_| "the message does not serialize".to_string())
    }

    fn spawn(
        &self,
        key: ActorKey,
        args: &[u8],
        snapshot: Option<Snapshot>,
        shared: Arc<NodeShared>,
        supervisor: ActorCell,
    ) -> BoxFuture<Result<ActorCell, RemoteError>> {
        let decoded = decode_args::<A::Arguments>(args, shared.config.max_frame_bytes);
        let actor = self.0.clone();
        Box::pin(async move {
            let args = decoded.map_err(|reason| RemoteError::BadArguments {
                kind: A::KIND.to_string(),
                reason,
            })?;
            let hosted = Hosted {
                actor,
                key: key.clone(),
                shared,
                myself: OnceLock::new(),
            };
            let start = match snapshot {
                Some(s) => Start::Restore(args, s),
                None => Start::Fresh(args),
            };
            match Actor::spawn_linked(None, hosted, start, supervisor).await {
                Ok((actor, _handle)) => Ok(actor.get_cell()),
                Err(e) => Err(RemoteError::SpawnFailed {
                    key,
                    reason: e.to_string(),
                }),
            }
        })
    }

    fn deliver(
        &self,
        key: &ActorKey,
        cell: &ActorCell,
        msg: SerializedMessage,
    ) -> Result<(), RemoteError> {
        let msg = A::Msg::deserialize(msg).map_err(|_| RemoteError::BadMessage {
            key: key.clone(),
            reason: format!(
                "the message does not decode as a message of kind {:?} (unknown variant or malformed arguments)",
                A::KIND
            ),
        })?;
        cell.send_message(Local(msg))
            .map_err(|_| RemoteError::NotFound(key.clone()))
    }
}

/// Encodes spawn arguments (bincode, fixed-width integers).
pub(crate) fn encode_args<T: Serialize>(args: &T) -> Result<Vec<u8>, String> {
    bincode::serialize(args).map_err(|e| e.to_string())
}

fn decode_args<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, String> {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .reject_trailing_bytes()
        .with_limit(limit as u64)
        .deserialize(bytes)
        .map_err(|e| e.to_string())
}

/// The kinds a node can host, by [`DistActor::KIND`].
///
/// Register the same kinds on every node: a spawn is executed by the name's owner, and an
/// owner that lacks the kind answers [`crate::DistError::UnknownKind`].
#[derive(Clone, Default)]
pub struct Kinds {
    kinds: std::collections::BTreeMap<&'static str, Arc<dyn ErasedKind>>,
}

impl std::fmt::Debug for Kinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.kinds.keys()).finish()
    }
}

impl Kinds {
    /// No kinds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a kind (builder style). A second kind with the same `KIND` replaces the first.
    pub fn with<A: DistActor>(mut self, actor: A) -> Self {
        self.register(actor);
        self
    }

    /// Adds a kind. A second kind with the same `KIND` replaces the first.
    pub fn register<A: DistActor>(&mut self, actor: A) -> &mut Self {
        self.kinds
            .insert(A::KIND, Arc::new(KindImpl(Arc::new(actor))));
        self
    }

    /// The registered kind names.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Arc<dyn ErasedKind>> {
        self.kinds.get(name)
    }
}
