//! [`DistRef`]: a cloneable handle to a named actor, wherever it runs.
//!
//! A `DistRef` remembers where its actor was last found (a *route*) together with the
//! membership epoch it was found under. While the epoch is unchanged, a send to a local
//! actor is one lock-free `ArcSwap` load plus ractor's own enqueue: no hashing, no serialization. A
//! remote send serializes the message (ractor_cluster's derive) into a versioned envelope
//! and hands it to the hosting node's supervisor. When the epoch changes, or the route turns
//! out to be stale (the actor stopped, moved or was restarted), the route is resolved again
//! by the core's one routing function ([`crate::core::Routes::route`]) over the published
//! routes (one load): the local table, redirects and directory entries, the per-node lookup
//! cache, then the name's directory node (its rendezvous owner), which forwards or redirects.

use std::any::TypeId;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use arc_swap::ArcSwap;

use ractor::message::SerializedMessage;
use ractor::{ActorCell, Message, MessagingErr};

use crate::core::error::{DistError, SendError};
use crate::core::routing::MAX_REDIRECTS;
use crate::core::wire::CastItem;
use crate::core::{ActorKey, Context, Decision, NodeName};
use crate::node::kind::Local;
use crate::node::shared::{NodeShared, Unqueued};
use crate::node::supervisor::{Gateway, SupervisorMsg};
use crate::node::telemetry;

mod call;
mod encode;
mod stop;
mod timers;

pub(crate) use encode::{decoding_for, NodeRegistration};

#[derive(Clone)]
enum Route {
    Unresolved,
    /// The actor is being handed off from (or settling on) this node: send through the
    /// supervisor, which buffers or parks in order. Never cached.
    Supervisor,
    /// Its next hop is a node whose session (or its token) is not confirmed yet: the
    /// message goes through the supervisor, which parks it until it is (or the view routes
    /// it elsewhere), the handle's next messages behind it. Never cached.
    Unconfirmed(NodeName),
    Local {
        generation: u64,
        cell: ActorCell,
    },
    Remote {
        generation: u64,
        host: NodeName,
        peer: Gateway,
    },
}

/// Shared by every fresh handle: creating a `DistRef` allocates once.
static UNRESOLVED: std::sync::LazyLock<Arc<Route>> =
    std::sync::LazyLock::new(|| Arc::new(Route::Unresolved));

enum Fast<M> {
    Done,
    /// The cached route is a remote one ([`Route::Remote`]).
    Remote(M, Arc<Route>),
    Slow(M),
}

struct RefInner {
    key: ActorKey,
    /// The node this handle routes through; `None` for a handle decoded from a message in
    /// a process where no node could take it (every use fails with [`DistError::Unbound`]).
    node: Option<Arc<NodeShared>>,
    route: ArcSwap<Route>,
}

/// A handle to a distributed actor with message type `M`; `Clone + Send + Sync`.
///
/// Get one from [`crate::DistNode::spawn`] or [`crate::DistNode::lookup`]; an actor gets
/// its own as `myself`. The same calls work whether the actor is local or on another node.
///
/// # In messages
///
/// A `DistRef` is serde-serializable, so it can be a field of a message (or of spawn
/// arguments, or of a reply): it travels as its actor's name, and the receiving side routes
/// it through its own node. A message sent to a local actor is not encoded at all and
/// keeps its handles as they are. A handle decoded by a node delivering a message to one
/// of its actors is bound to that node; one decoded anywhere else (a call's reply, your
/// own `deserialize`) is bound to the one node running in the process. Where no node can
/// take it (no node runs in the process, or several do, as in in-process tests, outside a
/// delivery), decoding still succeeds, and every use of the handle fails with
/// [`DistError::Unbound`].
///
/// ```
/// use ractor_cluster::RactorClusterMessage;
/// use ractor_dist::DistRef;
///
/// # #[derive(RactorClusterMessage)] enum LogMsg { Line(String) }
/// #[derive(RactorClusterMessage)]
/// enum SessionMsg {
///     /// Where this session should log from now on.
///     LogTo(DistRef<LogMsg>),
/// }
/// ```
pub struct DistRef<M> {
    inner: Arc<RefInner>,
    _msg: PhantomData<fn(M) -> M>,
}

impl<M> Clone for DistRef<M> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            _msg: PhantomData,
        }
    }
}

impl<M> std::fmt::Debug for DistRef<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let route = match &**self.inner.route.load() {
            Route::Unresolved if self.inner.node.is_none() => "unbound".to_string(),
            Route::Unresolved => "unresolved".to_string(),
            Route::Supervisor => "moving".to_string(),
            Route::Unconfirmed(host) => format!("{host} (connecting)"),
            Route::Local { .. } => "local".to_string(),
            Route::Remote { host, .. } => format!("on {host}"),
        };
        write!(f, "DistRef({}, {route})", self.inner.key)
    }
}

impl<M: Message> DistRef<M> {
    pub(crate) fn unresolved(key: ActorKey, node: Arc<NodeShared>) -> Self {
        Self {
            inner: Arc::new(RefInner {
                key,
                node: Some(node),
                route: ArcSwap::new(UNRESOLVED.clone()),
            }),
            _msg: PhantomData,
        }
    }

    pub(crate) fn with_local(key: ActorKey, node: Arc<NodeShared>, cell: ActorCell) -> Self {
        let generation = node.generation.load(Ordering::Acquire);
        Self::with_route(key, node, Route::Local { generation, cell })
    }

    fn with_route(key: ActorKey, node: Arc<NodeShared>, route: Route) -> Self {
        Self {
            inner: Arc::new(RefInner {
                key,
                node: Some(node),
                route: ArcSwap::from_pointee(route),
            }),
            _msg: PhantomData,
        }
    }

    /// The actor's cluster-wide name.
    pub fn name(&self) -> &str {
        self.inner.key.as_str()
    }

    /// The actor's cluster-wide name as an [`ActorKey`].
    pub fn key(&self) -> &ActorKey {
        &self.inner.key
    }

    /// The node this handle routes through: inside an actor, `myself.node()` is the node
    /// hosting it, from which any hook can spawn, look up and stop other names and read
    /// the membership and status (what an Akka entity's context or an Orleans grain's
    /// factory gives), without a global.
    ///
    /// # Errors
    ///
    /// [`DistError::Unbound`] for a handle decoded from a message where no node could
    /// take it (see the [`DistRef`] docs); never for `myself` nor for a handle from
    /// [`crate::DistNode`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ractor::ActorProcessingErr;
    /// # use ractor_dist::DistRef;
    /// # async fn handle<M: ractor::Message>(myself: DistRef<M>) -> Result<(), ActorProcessingErr> {
    /// let node = myself.node()?;
    /// tracing::info!(members = node.members().len(), "hosted on {}", node.name());
    /// # Ok(())
    /// # }
    /// ```
    pub fn node(&self) -> Result<crate::DistNode, DistError> {
        Ok(crate::DistNode::from_shared(self.shared()?.clone()))
    }

    /// The node this handle routes through.
    fn shared(&self) -> Result<&Arc<NodeShared>, DistError> {
        self.inner
            .node
            .as_ref()
            .ok_or_else(|| DistError::Unbound(self.inner.key.clone()))
    }

    /// Sends a message without waiting for it to be handled, like [`ractor::ActorRef::cast`].
    ///
    /// Messages from one `DistRef` to an actor arrive in the order they were sent while the
    /// actor stays where it is. Remote casts are batched per destination node (one frame
    /// per scheduling point, at most 256 KiB); a later `call` or `stop` to the same node
    /// flushes the batch first, so it stays ordered after them. A request/response variant
    /// sent with `cast` is answered on its own reply port.
    ///
    /// # Errors
    ///
    /// A [`SendError`] with the message handed back (see there when it can be) and why:
    /// [`DistError::NotFound`] when the name exists nowhere this node can tell (checked
    /// locally when this node is the name's directory node); [`DistError::Unreachable`]
    /// when the hosting node is not connected; [`DistError::TooLarge`] over the frame
    /// limit; [`DistError::WrongType`] when the actor handles another message type;
    /// [`DistError::Overloaded`] when the actor is moving (or settling) here and this node
    /// already holds its cap of messages for it. In every error case nothing was delivered.
    /// A cast accepted by a remote node for a name that has disappeared meanwhile, or whose
    /// hold queue there is full, is dropped there, logged and counted. `?` turns the error
    /// into a [`DistError`].
    pub fn cast(&self, message: M) -> Result<(), SendError<M>> {
        match self.try_fast(message)? {
            Fast::Done => Ok(()),
            Fast::Remote(message, route) => {
                let Route::Remote {
                    host,
                    peer,
                    generation,
                } = &*route
                else {
                    return self.send_slow(message);
                };
                // Timed (sampled) on the remote path only: on the local one a clock read
                // would cost a noticeable share of the throughput.
                let started = telemetry::sample_cast().then(std::time::Instant::now);
                let sent = match self.cast_remote(message, host, peer, *generation)? {
                    None => Ok(()),
                    Some(message) => self.send_slow(message),
                };
                if let (Some(started), Some(node)) = (started, &self.inner.node) {
                    telemetry::record_cast(node, started.elapsed());
                }
                sent
            }
            Fast::Slow(message) => self.send_slow(message),
        }
    }

    /// `error`, with `message` handed back.
    fn failed(error: DistError, message: M) -> SendError<M> {
        SendError::new(error, Some(message))
    }

    /// `error`, the message lost.
    fn lost(error: DistError) -> SendError<M> {
        SendError::new(error, None)
    }

    /// What a local mailbox's refusal means; `Ok(message)` when it handed the message
    /// back (the actor is stopping or restarting: route again).
    fn refused_locally(&self, e: MessagingErr<Local<M>>) -> Result<M, SendError<M>> {
        match e {
            MessagingErr::SendErr(Local::Msg(m)) => Ok(m),
            MessagingErr::InvalidActorType => {
                Err(Self::lost(DistError::WrongType(self.inner.key.clone())))
            }
            _ => Err(Self::lost(DistError::Stopped(self.inner.key.clone()))),
        }
    }

    /// Sends along the cached route if it is still valid for the current epoch.
    fn try_fast(&self, message: M) -> Result<Fast<M>, SendError<M>> {
        let generation = match self.shared() {
            Ok(node) => node.generation.load(Ordering::Acquire),
            Err(e) => return Err(Self::failed(e, message)),
        };
        let route = self.inner.route.load();
        match &**route {
            Route::Local {
                generation: g,
                cell,
            } if *g == generation => match cell.send_message(Local::Msg(message)) {
                Ok(()) => Ok(Fast::Done),
                Err(e) => Ok(Fast::Slow(self.refused_locally(e)?)),
            },
            Route::Remote { generation: g, .. } if *g == generation => {
                Ok(Fast::Remote(message, arc_swap::Guard::into_inner(route)))
            }
            _ => Ok(Fast::Slow(message)),
        }
    }

    fn send_slow(&self, mut message: M) -> Result<(), SendError<M>> {
        for _ in 0..MAX_REDIRECTS {
            let route = match self.resolve() {
                Ok(route) => route,
                Err(e) => return Err(Self::failed(e, message)),
            };
            match route {
                Route::Local { cell, .. } => match self.send_local(&cell, message)? {
                    None => return Ok(()),
                    Some(m) => {
                        message = m;
                        std::thread::yield_now();
                    }
                },
                Route::Remote {
                    host,
                    peer,
                    generation,
                } => match self.cast_remote(message, &host, &peer, generation)? {
                    None => return Ok(()),
                    Some(m) => message = m,
                },
                Route::Supervisor => return self.via_supervisor(message, None),
                Route::Unconfirmed(_) => return self.via_supervisor(message, None),
                Route::Unresolved => unreachable!("resolve never returns Unresolved"),
            }
        }
        Err(Self::failed(
            DistError::Stopped(self.inner.key.clone()),
            message,
        ))
    }

    /// Enqueues on a local actor. `Ok(Some(message))` gives the message back when the
    /// actor is stopping (or restarting): route again.
    fn send_local(&self, cell: &ActorCell, message: M) -> Result<Option<M>, SendError<M>> {
        match cell.send_message(Local::Msg(message)) {
            Ok(()) => Ok(None),
            Err(e) => {
                let m = self.refused_locally(e)?;
                self.invalidate();
                Ok(Some(m))
            }
        }
    }

    /// Hands `message` to the supervisor (the name is moving, starting or fenced); a call
    /// passes `refused` to learn that a hold cap refused it there.
    pub(crate) fn via_supervisor(
        &self,
        message: M,
        refused: crate::node::supervisor::Refusal,
    ) -> Result<(), SendError<M>> {
        let node = match self.shared() {
            Ok(node) => node,
            Err(e) => return Err(Self::failed(e, message)),
        };
        let supervisor = match node.supervisor() {
            Ok(supervisor) => supervisor,
            Err(e) => return Err(Self::failed(e, message)),
        };
        if let Err(refused) = node.local_send_admitted(&self.inner.key) {
            let n = crate::node::shared::Counters::bump(&node.counters.hold_refused);
            if crate::core::status::worth_logging(n) {
                tracing::warn!(name = %self.inner.key, error = %refused, count = n, "local send refused");
            }
            let error = DistError::Overloaded {
                key: self.inner.key.clone(),
                reason: refused.to_string(),
            };
            return Err(Self::failed(error, message));
        }
        // Behind this node's casts to the name still in an outbox.
        node.flush_casts_for(&self.inner.key);
        supervisor
            .cast(SupervisorMsg::LocalSend {
                key: self.inner.key.clone(),
                msg: Box::new(message),
                serialize: crate::node::supervisor::serialize_as::<M>,
                refused,
            })
            .map_err(|e| {
                node.local_send_done(&self.inner.key);
                let message = match e {
                    MessagingErr::SendErr(SupervisorMsg::LocalSend { msg, .. }) => {
                        msg.downcast::<M>().ok().map(|m| *m)
                    }
                    _ => None,
                };
                SendError::new(DistError::NodeDown, message)
            })
    }

    /// Sends a message to a remote host. `Ok(Some(message))` gives the message back when
    /// the view changed since the route was computed (route again).
    fn cast_remote(
        &self,
        message: M,
        host: &NodeName,
        peer: &Gateway,
        generation: u64,
    ) -> Result<Option<M>, SendError<M>> {
        if !M::serializable() {
            let error = self.bad_message(
                "the message type is not serializable; derive ractor_cluster::RactorClusterMessage",
            );
            return Err(Self::failed(error, message));
        }
        let node = match self.shared() {
            Ok(node) => node,
            Err(e) => return Err(Self::failed(e, message)),
        };
        match self.serialize(message).map_err(Self::lost)? {
            SerializedMessage::Cast { variant, args, .. } => {
                let item = CastItem {
                    key: self.inner.key.clone(),
                    variant,
                    args,
                    stamp: None,
                };
                let (error, item) = match node.enqueue_cast(host, peer, item, generation) {
                    Ok(()) => return Ok(None),
                    Err(Unqueued::Stale(item)) => (None, item),
                    Err(Unqueued::Refused(error, item)) => (Some(*error), item),
                };
                self.invalidate();
                let again = M::deserialize(SerializedMessage::Cast {
                    variant: item.variant,
                    args: item.args,
                    metadata: None,
                });
                match (error, again) {
                    (Some(e), again) => Err(SendError::new(e, again.ok())),
                    (None, Ok(again)) => Ok(Some(again)),
                    (None, Err(_)) => Err(Self::lost(
                        self.bad_message("the message failed to re-decode"),
                    )),
                }
            }
            SerializedMessage::Call {
                variant,
                args,
                reply,
                ..
            } => {
                // A request/response variant sent with `cast`: answer on its own port.
                let this = self.clone();
                let timeout = reply.get_timeout().unwrap_or(node.config.request_timeout);
                tokio::spawn(async move {
                    if let Err(e) = this.remote_call(variant, args, reply, timeout).await {
                        tracing::debug!(name = %this.inner.key, error = %e, "cast of a request variant failed");
                    }
                });
                Ok(None)
            }
            SerializedMessage::CallReply(..) => {
                Err(Self::lost(self.bad_message("unexpected call reply")))
            }
        }
    }

    fn serialize(&self, message: M) -> Result<SerializedMessage, DistError> {
        if !M::serializable() {
            return Err(self.bad_message(
                "the message type is not serializable; derive ractor_cluster::RactorClusterMessage",
            ));
        }
        message
            .serialize()
            .map_err(|_| self.bad_message("the message failed to serialize"))
    }

    fn bad_message(&self, reason: &str) -> DistError {
        DistError::BadMessage {
            key: self.inner.key.clone(),
            reason: reason.to_string(),
        }
    }

    /// The node the actor runs on now (asks its directory node unless it is local or
    /// cached for the current epoch).
    ///
    /// # Errors
    ///
    /// [`DistError::NotFound`], or a transport error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads (and updates this handle's cached route).
    pub async fn host(&self) -> Result<NodeName, DistError> {
        crate::node::locate(self.shared()?, &self.inner.key).await
    }

    fn invalidate(&self) {
        self.inner.route.store(UNRESOLVED.clone());
    }

    /// Routes by the published view (one load) with the core's routing function, and
    /// caches the route (unless it goes through the supervisor).
    fn resolve(&self) -> Result<Route, DistError> {
        let node = self.shared()?;
        let key = &self.inner.key;
        let view = node.view_guard();
        let generation = view.epoch().0;
        let (decision, entry) = node.route_handle(&view, key, Context::Send);
        if entry
            .as_ref()
            .is_some_and(|e| e.msg_type() != TypeId::of::<M>())
        {
            return Err(DistError::WrongType(key.clone()));
        }
        let route = match (decision, entry) {
            (Decision::Deliver, Some(entry)) => Route::Local {
                generation,
                cell: entry.cell,
            },
            (Decision::ViaSupervisor, _) => return Ok(Route::Supervisor),
            (Decision::Forward { to, .. }, _) => {
                // A node this one has no confirmed session (token) with yet: a member
                // just met, or a session replaced and not confirmed again (not cached: the
                // next send looks again).
                let Ok(peer) = node.peer_supervisor(&to) else {
                    return Ok(Route::Unconfirmed(to));
                };
                Route::Remote {
                    generation,
                    host: to,
                    peer,
                }
            }
            (Decision::NoView, _) => return Err(DistError::NodeDown),
            _ => return Err(DistError::NotFound(key.clone())),
        };
        self.inner.route.store(Arc::new(route.clone()));
        Ok(route)
    }
}
