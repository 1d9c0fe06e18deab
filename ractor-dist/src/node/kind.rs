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

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use ractor::{Actor, ActorProcessingErr, ActorRef, Message};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::Instrument;

use crate::core::snapshot::Snapshot;
pub(crate) use crate::core::snapshot::{decode_args, encode_args};
use crate::core::{ActorKey, ConflictPolicy, HandoffMode, Resolution};
use crate::node::dist_ref::DistRef;
use crate::node::shared::{Counters, EntryState, NodeShared};
use crate::node::supervisor::SupervisorMsg;

mod checkpoints;
mod erased;
mod stop;
pub use checkpoints::Checkpoints;
pub(crate) use erased::ErasedKind;
use erased::{Factory, KindImpl};
pub use stop::StopReason;

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

    /// When the state is checkpointed to the replicas of the name (default: never). A name
    /// respawned after its node crashed restores the newest checkpoint with
    /// [`DistActor::restore`]; without checkpoints it starts from its arguments. Needs
    /// [`DistActor::snapshot`].
    const CHECKPOINTS: Checkpoints = Checkpoints::OFF;

    /// What happens when two live copies of the name meet after a partition heals
    /// (default [`ConflictPolicy::KeepNewest`]). Taking the other copy's state uses
    /// [`DistActor::restore`]; [`ConflictPolicy::Merge`] uses [`DistActor::merge`].
    const ON_CONFLICT: ConflictPolicy = ConflictPolicy::KeepNewest;

    /// Merges the state of another live copy of this name into this one's (NkDIST's
    /// `join`), after a partition healed; only with [`ConflictPolicy::Merge`]. `other` is
    /// the other copy's snapshot. An error is logged and counted, and this copy's state is
    /// kept as it is.
    fn merge(
        &self,
        myself: DistRef<Self::Msg>,
        state: &mut Self::State,
        other: Snapshot,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        let _ = (myself, state, other);
        async { Err("this kind does not implement DistActor::merge".into()) }
    }

    /// Runs after the actor stopped gracefully; as [`ractor::Actor::post_stop`]. It runs
    /// on every stop of this activation, **moves included**: when the name moves to another
    /// node (a membership change, or this node's graceful leave) this activation stops
    /// here and another starts there. Override [`DistActor::post_stop_with`] instead to
    /// tell a move from a stop for good.
    fn post_stop(
        &self,
        myself: DistRef<Self::Msg>,
        state: &mut Self::State,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        let _ = (myself, state);
        async { Ok(()) }
    }

    /// Runs after the actor stopped gracefully, saying why ([`StopReason`]): the name
    /// moves on to another node, or it stopped for good. The default calls
    /// [`DistActor::post_stop`]; override one of the two.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ractor::ActorProcessingErr;
    /// # use ractor_dist::{DistActor, DistRef, StopReason};
    /// # #[derive(ractor_cluster::RactorClusterMessage)] enum SessionMsg { Event(String) }
    /// struct Session;
    ///
    /// impl DistActor for Session {
    ///     const KIND: &'static str = "session";
    ///     type Msg = SessionMsg;
    ///     type State = Vec<String>;
    ///     type Arguments = ();
    ///
    ///     async fn pre_start(&self, _: DistRef<SessionMsg>, _: ()) -> Result<Vec<String>, ActorProcessingErr> {
    ///         Ok(Vec::new())
    ///     }
    ///
    ///     async fn post_stop_with(&self, me: DistRef<SessionMsg>, events: &mut Vec<String>, reason: StopReason) -> Result<(), ActorProcessingErr> {
    ///         if reason.is_final() {
    ///             tracing::info!(name = me.name(), events = events.len(), "session closed");
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// ```
    fn post_stop_with(
        &self,
        myself: DistRef<Self::Msg>,
        state: &mut Self::State,
        reason: StopReason,
    ) -> impl Future<Output = Result<(), ActorProcessingErr>> + Send {
        let _ = reason;
        self.post_stop(myself, state)
    }
}

/// What reaches a hosted actor: a user message behind a local-only envelope (not
/// serializable in ractor's eyes, so the hosted actor gets no proxy on peers; the local send
/// path never serializes), or a control message from its node.
pub(crate) enum Local<M> {
    Msg(M),
    Control(Control),
}

/// Control messages a node sends to the actors it hosts.
pub(crate) enum Control {
    /// Another live copy of the name arrived after a partition healed.
    Resolve {
        resolution: Resolution,
        other: Snapshot,
    },
    /// The time bound of [`Checkpoints::every`] passed.
    CheckpointDue,
}

impl<M: Message> Message for Local<M> {}

/// The ractor actor that runs a [`DistActor`].
pub(crate) struct Hosted<A: DistActor> {
    actor: Arc<A>,
    key: ActorKey,
    shared: Arc<NodeShared>,
    myself: OnceLock<DistRef<A::Msg>>,
    /// The encoded spawn arguments (a conflict resolution that takes the other copy's
    /// state restores with them).
    args: Vec<u8>,
    /// Messages handled since the last checkpoint.
    dirty: AtomicU64,
    /// When the last checkpoint was taken (or the actor started).
    last_checkpoint: std::sync::Mutex<Instant>,
    /// A `CheckpointDue` is on its way.
    due_scheduled: AtomicBool,
    /// Entered around every hook: the user's log lines carry the name, kind and node.
    span: tracing::Span,
}

impl<A: DistActor> Hosted<A> {
    fn me(&self, cell: &ActorRef<Local<A::Msg>>) -> DistRef<A::Msg> {
        self.myself
            .get_or_init(|| {
                DistRef::with_local(self.key.clone(), self.shared.clone(), cell.get_cell())
            })
            .clone()
    }

    /// Counts a handled message and checkpoints when [`DistActor::CHECKPOINTS`] says so.
    fn after_message(&self, myself: &ActorRef<Local<A::Msg>>, state: &A::State) {
        let policy = A::CHECKPOINTS;
        if policy.is_off() {
            return;
        }
        let dirty = self.dirty.fetch_add(1, Ordering::Relaxed) + 1;
        if policy.every_messages > 0 && dirty >= u64::from(policy.every_messages) {
            self.checkpoint(myself, state);
            return;
        }
        if let Some(every) = policy.every {
            let elapsed = self
                .last_checkpoint
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .elapsed();
            if elapsed >= every {
                self.checkpoint(myself, state);
            } else if !self.due_scheduled.swap(true, Ordering::Relaxed) {
                myself.send_after(every - elapsed, || Local::Control(Control::CheckpointDue));
            }
        }
    }

    /// Snapshots the state and hands it to the node's supervisor for the replicas.
    fn checkpoint(&self, myself: &ActorRef<Local<A::Msg>>, state: &A::State) {
        self.dirty.store(0, Ordering::Relaxed);
        *self
            .last_checkpoint
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Instant::now();
        match self.actor.snapshot(state) {
            Ok(bytes) => {
                if let Ok(supervisor) = self.shared.supervisor() {
                    let _ = supervisor.cast(SupervisorMsg::Checkpoint {
                        key: self.key.clone(),
                        actor: myself.get_id(),
                        snapshot: Snapshot {
                            version: A::STATE_VERSION,
                            bytes,
                        },
                    });
                }
            }
            Err(e) => {
                let n = Counters::bump(&self.shared.counters.checkpoint_failures);
                if n.is_power_of_two() {
                    tracing::warn!(name = %self.key, error = %e, failures = n, "checkpoint failed (DistActor::snapshot)");
                }
            }
        }
    }

    /// Applies the resolution of a conflict with another live copy of the name.
    async fn resolve(
        &self,
        myself: &ActorRef<Local<A::Msg>>,
        resolution: Resolution,
        other: Snapshot,
        state: &mut A::State,
    ) {
        let me = self.me(myself);
        let outcome = match resolution {
            Resolution::KeepLocal => Ok(()),
            Resolution::Merge => self.actor.merge(me, state, other).await,
            Resolution::TakeIncoming => match decode_args::<A::Arguments>(&self.args, usize::MAX) {
                Ok(args) => self
                    .actor
                    .restore(me, args, other)
                    .await
                    .map(|taken| *state = taken),
                Err(e) => Err(format!("arguments do not decode: {e}").into()),
            },
        };
        match outcome {
            Ok(()) => {
                tracing::info!(name = %self.key, ?resolution, "conflicting copy resolved");
                if !A::CHECKPOINTS.is_off() {
                    self.checkpoint(myself, state);
                }
            }
            Err(e) => {
                Counters::bump(&self.shared.counters.bad_snapshots);
                tracing::error!(name = %self.key, ?resolution, error = %e, "the other copy's state could not be taken or merged; this copy's state is kept");
            }
        }
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
        self.start(myself, args).instrument(self.span.clone()).await
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut A::State,
    ) -> Result<(), ActorProcessingErr> {
        let me = self.me(&myself);
        self.actor
            .post_start(me, state)
            .instrument(self.span.clone())
            .await
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        message: Local<A::Msg>,
        state: &mut A::State,
    ) -> Result<(), ActorProcessingErr> {
        self.handle_local(myself, message, state)
            .instrument(self.span.clone())
            .await
    }

    async fn post_stop(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut A::State,
    ) -> Result<(), ActorProcessingErr> {
        // The supervisor marks an actor it drains for a move before draining it.
        let moving = self.shared.hosted(&self.key).is_some_and(|entry| {
            entry.cell.get_id() == myself.get_id() && entry.state == EntryState::Moving
        });
        let reason = match moving {
            true => StopReason::Moving,
            false => StopReason::Stopped,
        };
        tracing::debug!(parent: &self.span, ?reason, "actor stopped");
        self.actor
            .post_stop_with(self.me(&myself), state, reason)
            .instrument(self.span.clone())
            .await
    }
}

impl<A: DistActor> Hosted<A> {
    /// `pre_start`: from the arguments, or from a snapshot falling back to them.
    async fn start(
        &self,
        myself: ActorRef<Local<A::Msg>>,
        args: Start<A::Arguments>,
    ) -> Result<A::State, ActorProcessingErr> {
        let (args, snapshot) = match args {
            Start::Fresh(args) => return self.actor.pre_start(self.me(&myself), args).await,
            Start::Restore(args, snapshot) => (args, snapshot),
        };
        // From the snapshot, falling back to the arguments in this same actor (messages sent
        // to it meanwhile wait in its mailbox); a panicking `restore` falls back too.
        let restored = CatchUnwind(Box::pin(self.actor.restore(
            self.me(&myself),
            args,
            snapshot,
        )));
        let error = match restored.await {
            Ok(Ok(state)) => return Ok(state),
            Ok(Err(e)) => e.to_string(),
            Err(()) => "restore panicked".to_string(),
        };
        Counters::bump(&self.shared.counters.bad_snapshots);
        tracing::error!(name = %self.key, %error, "snapshot could not be restored; starting the actor from its arguments");
        let args = decode_args::<A::Arguments>(&self.args, usize::MAX)
            .map_err(|e| format!("arguments do not decode: {e}"))?;
        self.actor.pre_start(self.me(&myself), args).await
    }

    /// `handle`: a user message, or a control message from the node.
    async fn handle_local(
        &self,
        myself: ActorRef<Local<A::Msg>>,
        message: Local<A::Msg>,
        state: &mut A::State,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            Local::Msg(message) => {
                self.actor.handle(self.me(&myself), message, state).await?;
                self.after_message(&myself, state);
            }
            Local::Control(Control::CheckpointDue) => {
                self.due_scheduled.store(false, Ordering::Relaxed);
                if self.dirty.load(Ordering::Relaxed) > 0 {
                    self.checkpoint(&myself, state);
                }
            }
            Local::Control(Control::Resolve { resolution, other }) => {
                self.resolve(&myself, resolution, other, state).await;
            }
        }
        Ok(())
    }
}

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A future whose panic becomes `Err(())` (user hooks must not take their node down).
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, ()>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(poll) => poll.map(Ok),
            Err(_) => std::task::Poll::Ready(Err(())),
        }
    }
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
        self.insert(actor, None)
    }

    /// Adds a kind whose actors start on their first message (virtual actors, as Orleans
    /// grains and Akka's sharded entities): the actor `id` of this kind is the name
    /// `"{KIND}/{id}"`, reached with [`crate::DistNode::ref_for`] without spawning it; its
    /// owner starts it when the first message (cast or call) for it arrives, with the
    /// arguments `factory(id)` builds. Afterwards it is an actor like any other (it moves,
    /// is respawned, can be stopped; a later message starts it again). A second kind with
    /// the same `KIND` replaces the first. `KIND` must not contain `/`.
    ///
    /// Register the kind with its factory on every node: the owner of a name starts it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ractor::ActorProcessingErr;
    /// # use ractor_dist::{DistActor, DistRef, Kinds};
    /// # #[derive(ractor_cluster::RactorClusterMessage)] enum CartMsg { Add(String) }
    /// # struct Cart;
    /// # impl DistActor for Cart {
    /// #     const KIND: &'static str = "cart";
    /// #     type Msg = CartMsg;
    /// #     type State = Vec<String>;
    /// #     type Arguments = String;
    /// #     async fn pre_start(&self, _: DistRef<CartMsg>, _: String) -> Result<Vec<String>, ActorProcessingErr> { Ok(vec![]) }
    /// # }
    /// // A cart per user, started by the first message to "cart/{user}".
    /// let kinds = Kinds::new().with_factory(Cart, |user: &str| user.to_string());
    /// ```
    pub fn with_factory<A: DistActor>(
        mut self,
        actor: A,
        factory: impl Fn(&str) -> A::Arguments + Send + Sync + 'static,
    ) -> Self {
        self.insert(actor, Some(Arc::new(factory)));
        self
    }

    fn insert<A: DistActor>(
        &mut self,
        actor: A,
        factory: Option<Factory<A::Arguments>>,
    ) -> &mut Self {
        self.kinds
            .insert(A::KIND, Arc::new(KindImpl(Arc::new(actor), factory)));
        self
    }

    /// `key` names an actor of a kind registered with a factory (`KIND/id`).
    pub(crate) fn on_demand(&self, key: &ActorKey) -> bool {
        crate::core::engine::on_demand_parts(key)
            .and_then(|(kind, _)| self.kinds.get(kind))
            .is_some_and(|kind| kind.on_demand())
    }

    /// The registered kind names.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.kinds.keys().copied()
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Arc<dyn ErasedKind>> {
        self.kinds.get(name)
    }
}
