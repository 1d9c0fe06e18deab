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
use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorProcessingErr, Message};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::core::snapshot::Snapshot;
pub(crate) use crate::core::snapshot::{decode_args, encode_args};
use crate::core::{ActorKey, ConflictPolicy, HandoffMode};
use crate::node::dist_ref::DistRef;

mod checkpoints;
mod erased;
mod hosted;
pub use crate::core::checkpoint::Checkpoints;
pub use crate::core::stop::StopReason;
pub(crate) use checkpoints::Policy;
pub(crate) use erased::ErasedKind;
use erased::{Factory, IdleTimeout, KindImpl};
pub(crate) use hosted::Local;
use hosted::{BoxFuture, Control, Hosted, Start};

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
    /// a snapshot was written with, and may upgrade it or refuse it. Adding a field with
    /// `#[serde(default)]` needs no bump ([`Snapshot::encode`] names fields); renaming,
    /// removing with a changed meaning, or retyping one does.
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

    /// For a kind registered with a factory ([`Kinds::with_factory`]): an actor that
    /// handled no message for this long is passivated: it stops
    /// ([`StopReason::Passivated`]) after its state is taken with [`DistActor::snapshot`]
    /// and kept on its node, and its next message starts it again there from that state
    /// with [`DistActor::restore`] (a kind without `snapshot` starts afresh). Default: never.
    /// `DistConfig::max_active` caps the number of such actors per node (the least
    /// recently used are passivated). This is the kind's default: a node may set another
    /// ([`Kinds::with_idle_timeout`], [`crate::DistNode::set_idle_timeout`]).
    ///
    /// When the name's owner changes before its next message (a node joins or leaves
    /// gracefully), the kept state moves to the new owner in that handoff, and the next
    /// message starts the name there from it (a `Restart` kind's state is dropped, as a
    /// running one's would be). The kept state is not replicated: a crash of its node
    /// loses it.
    const IDLE_TIMEOUT: Option<Duration> = None;

    /// When the state is checkpointed to the replicas of the name (default: never). A name
    /// respawned after its node crashed restores the newest checkpoint with
    /// [`DistActor::restore`]; without checkpoints it starts from its arguments. Needs
    /// [`DistActor::snapshot`]. This is the kind's default policy: a node may set another
    /// ([`Kinds::with_checkpoints`], [`crate::DistNode::set_checkpoints`]).
    const CHECKPOINTS: Checkpoints = Checkpoints::OFF;

    /// Delta checkpoints (optional): the change to `state` since this hook's previous call
    /// in this activation (since the activation started, for its first call), or `None` to
    /// checkpoint the whole state with [`DistActor::snapshot`].
    ///
    /// It is called at every checkpoint, whole ones included (whose delta is dropped: the
    /// whole state holds it), so a kind tracks what changed from one call to the next (for
    /// a log, the length it had). Whole checkpoints are still taken first in each
    /// activation, after [`Checkpoints::full_every`] deltas and once the deltas outweigh the
    /// last whole one. The replicas keep the whole checkpoint and the deltas after it; a
    /// respawn restores the whole one with [`DistActor::restore`], then applies the deltas
    /// in order with [`DistActor::apply_delta`]. An error is logged and counted, and a whole
    /// checkpoint is taken instead.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ractor::ActorProcessingErr;
    /// # use ractor_dist::{Checkpoints, DistActor, DistRef, Snapshot};
    /// # #[derive(ractor_cluster::RactorClusterMessage)] enum LogMsg { Append(String) }
    /// #[derive(Default, serde::Serialize, serde::Deserialize)]
    /// struct Events {
    ///     events: Vec<String>,
    ///     #[serde(skip)]
    ///     sent: usize, // events already in a checkpoint
    /// }
    ///
    /// struct EventLog;
    ///
    /// impl DistActor for EventLog {
    ///     const KIND: &'static str = "events";
    ///     type Msg = LogMsg;
    ///     type State = Events;
    ///     type Arguments = ();
    ///     const CHECKPOINTS: Checkpoints = Checkpoints::every_messages(1);
    /// #   async fn pre_start(&self, _: DistRef<LogMsg>, _: ()) -> Result<Events, ActorProcessingErr> { Ok(Events::default()) }
    /// #   async fn handle(&self, _: DistRef<LogMsg>, LogMsg::Append(e): LogMsg, s: &mut Events) -> Result<(), ActorProcessingErr> { s.events.push(e); Ok(()) }
    ///
    ///     fn snapshot(&self, s: &Events) -> Result<Vec<u8>, ActorProcessingErr> {
    ///         Snapshot::encode(s)
    ///     }
    ///
    ///     async fn restore(&self, _: DistRef<LogMsg>, _: (), snapshot: Snapshot) -> Result<Events, ActorProcessingErr> {
    ///         let mut s: Events = snapshot.decode(Self::STATE_VERSION)?;
    ///         s.sent = s.events.len();
    ///         Ok(s)
    ///     }
    ///
    ///     fn checkpoint_delta(&self, s: &mut Events) -> Option<Result<Vec<u8>, ActorProcessingErr>> {
    ///         let new = &s.events[s.sent..];
    ///         let delta = Snapshot::encode(&new);
    ///         s.sent = s.events.len();
    ///         Some(delta)
    ///     }
    ///
    ///     fn apply_delta(&self, s: &mut Events, delta: &[u8]) -> Result<(), ActorProcessingErr> {
    ///         let new: Vec<String> = Snapshot::new(Self::STATE_VERSION, delta.to_vec()).decode(Self::STATE_VERSION)?;
    ///         s.events.extend(new);
    ///         s.sent = s.events.len();
    ///         Ok(())
    ///     }
    /// }
    /// ```
    fn checkpoint_delta(
        &self,
        state: &mut Self::State,
    ) -> Option<Result<Vec<u8>, ActorProcessingErr>> {
        let _ = state;
        None
    }

    /// Applies a delta taken by [`DistActor::checkpoint_delta`] to a state restored from
    /// the checkpoint it followed (or from that one's deltas before it). An error stops
    /// there: the actor runs with the state restored so far (an older checkpoint), and the
    /// error is logged and counted (`NodeStatus::bad_snapshots`).
    fn apply_delta(&self, state: &mut Self::State, delta: &[u8]) -> Result<(), ActorProcessingErr> {
        let _ = (state, delta);
        Err("this kind does not implement DistActor::apply_delta".into())
    }

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

/// The kinds a node can host, by [`DistActor::KIND`].
///
/// Register the same kinds on every node: a spawn is executed by the name's owner, and an
/// owner that lacks the kind answers [`crate::DistError::UnknownKind`].
#[derive(Default)]
pub struct Kinds {
    kinds: std::collections::BTreeMap<&'static str, Arc<dyn ErasedKind>>,
}

/// A clone has its own copy of the per-kind settings ([`Kinds::with_checkpoints`],
/// [`Kinds::with_idle_timeout`], and what [`crate::DistNode::set_checkpoints`] and
/// [`crate::DistNode::set_idle_timeout`] change later): nodes started from clones of one
/// `Kinds` are set each on its own.
impl Clone for Kinds {
    fn clone(&self) -> Self {
        Kinds {
            kinds: self.kinds.iter().map(|(k, v)| (*k, v.fork())).collect(),
        }
    }
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
        let policy = Policy::new(A::CHECKPOINTS);
        self.kinds.insert(
            A::KIND,
            Arc::new(KindImpl(
                Arc::new(actor),
                factory,
                policy,
                IdleTimeout::new(A::IDLE_TIMEOUT),
            )),
        );
        self
    }

    /// Sets the checkpoint policy of the registered kind `kind` on this node, instead of
    /// its [`DistActor::CHECKPOINTS`] (for example from the application's configuration).
    /// Every node should set the same. [`crate::DistNode::set_checkpoints`] changes it
    /// while the node runs.
    ///
    /// # Panics
    ///
    /// When no kind named `kind` is registered (register it first).
    ///
    /// # Examples
    ///
    /// ```
    /// # use ractor::ActorProcessingErr;
    /// # use ractor_dist::{Checkpoints, DistActor, DistRef, Kinds};
    /// # #[derive(ractor_cluster::RactorClusterMessage)] enum CartMsg { Add(String) }
    /// # struct Cart;
    /// # impl DistActor for Cart {
    /// #     const KIND: &'static str = "cart";
    /// #     type Msg = CartMsg;
    /// #     type State = Vec<String>;
    /// #     type Arguments = ();
    /// #     async fn pre_start(&self, _: DistRef<CartMsg>, _: ()) -> Result<Vec<String>, ActorProcessingErr> { Ok(vec![]) }
    /// # }
    /// let every = std::env::var("CART_CHECKPOINTS").ok().and_then(|n| n.parse().ok()).unwrap_or(10);
    /// let kinds = Kinds::new().with(Cart).with_checkpoints("cart", Checkpoints::every_messages(every));
    /// ```
    pub fn with_checkpoints(self, kind: &str, policy: Checkpoints) -> Self {
        assert!(
            self.set_checkpoints(kind, policy),
            "Kinds::with_checkpoints: no kind {kind:?} is registered"
        );
        self
    }

    /// Sets the idle timeout of the registered on-demand kind `kind` on this node
    /// (`None`: never passivated for idleness), instead of its [`DistActor::IDLE_TIMEOUT`]
    /// (for example from the application's configuration).
    /// [`crate::DistNode::set_idle_timeout`] changes it while the node runs.
    ///
    /// # Panics
    ///
    /// When no kind named `kind` is registered with a factory ([`Kinds::with_factory`]),
    /// or `timeout` is shorter than 1 ms.
    pub fn with_idle_timeout(self, kind: &str, timeout: Option<Duration>) -> Self {
        if let Err(e) = self.set_idle_timeout(kind, timeout) {
            panic!("Kinds::with_idle_timeout: {e}");
        }
        self
    }

    /// Sets the idle timeout of `kind`.
    pub(crate) fn set_idle_timeout(
        &self,
        kind: &str,
        timeout: Option<Duration>,
    ) -> Result<(), crate::DistError> {
        let Some(k) = self.kinds.get(kind) else {
            return Err(crate::DistError::UnknownKind(kind.to_string()));
        };
        let setting = |reason: &str| {
            crate::DistError::Config(crate::ConfigError::Setting {
                key: format!("idle_timeout of kind {kind:?}"),
                reason: reason.to_string(),
            })
        };
        if !k.on_demand() {
            return Err(setting(
                "only a kind registered with a factory (Kinds::with_factory) is passivated",
            ));
        }
        if timeout.is_some_and(|t| t < Duration::from_millis(1)) {
            return Err(setting("must be at least 1 ms (None: never)"));
        }
        k.set_idle_timeout_ms(timeout.map(erased::millis));
        Ok(())
    }

    /// Sets the policy of `kind`; false when it is not registered.
    pub(crate) fn set_checkpoints(&self, kind: &str, policy: Checkpoints) -> bool {
        match self.kinds.get(kind) {
            Some(k) => {
                k.set_checkpoints(policy);
                true
            }
            None => false,
        }
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
