//! The actor layer: starting a node, spawning and finding named actors.
//!
//! - [`DistNode`]: the handle of the local node (start, spawn, lookup, members, shutdown).
//! - [`DistRef`]: a handle to a named actor anywhere in the cluster.
//! - [`DistActor`] and [`Kinds`]: declaring and registering actor kinds.
//! - [`DistConfig`]: configuration; [`DistError`]: errors; [`NodeStatus`]: statistics.

pub(crate) mod clock;
pub(crate) mod dist_ref;
#[cfg(feature = "fault-injection")]
mod forge;
pub(crate) mod kind;
mod leave;
pub(crate) mod macros;
mod nodes;
pub(crate) mod passivation;
pub(crate) mod replicated;
pub(crate) mod ring;
pub(crate) mod shared;
mod signal;
mod spawned;
mod stats;
pub(crate) mod supervisor;
pub(crate) mod telemetry;
mod tuning;

use std::any::TypeId;
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, Message};
use ractor_cluster::node::NodeConnectionMode;
use ractor_cluster::{IncomingEncryptionMode, NodeServer, NodeServerMessage};
use tokio::sync::broadcast;

pub use crate::core::config::{ConfigError, DistConfig, TlsFiles};
pub use crate::core::error::{DistError, SendError};
pub use dist_ref::DistRef;
pub use kind::{Checkpoints, DistActor, Kinds, StopReason};
pub use replicated::{Changes, OnStateChange, Replicated, ValueChange};
pub use ring::OnRingChange;
pub use spawned::Spawned;

use crate::core::routing::{OnLoop, Redirects};
use crate::core::wire::{Request, Response};
use crate::core::{
    ActorKey, Context, Decision, Epoch, Incarnation, MembershipEvent, NodeName, NodeStatus,
};
use crate::transport::cluster::ClusterTransport;
use crate::transport::listener;
use crate::transport::security::{Security, SecurityCounters};
use crate::transport::Transport;
use shared::NodeShared;
use supervisor::{DistSupervisor, SupervisorArgs, SupervisorMsg};

/// The registry name of the supervisor: it makes a second node in one process fail fast
/// (ractor_cluster's registry and process groups are process-global).
const SUPERVISOR_NAME: &str = "ractor_dist::supervisor";

/// The local ractor-dist node: a ractor_cluster `NodeServer` plus the `DistSupervisor`.
///
/// Cheap to clone. One per process.
#[derive(Clone)]
pub struct DistNode {
    pub(crate) shared: Arc<NodeShared>,
}

impl std::fmt::Debug for DistNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DistNode")
            .field("name", &self.shared.me)
            .field("epoch", &self.epoch())
            .finish()
    }
}

impl DistNode {
    /// Starts the node: listens on `config.host:config.port`, starts the supervisor with
    /// `kinds`, and begins dialing `config.seeds`. Returns once the node listens; peers come
    /// up asynchronously (see [`DistNode::wait_for_members`]).
    ///
    /// # Errors
    ///
    /// [`DistError::Config`] for an invalid configuration, [`DistError::Start`] when the
    /// port cannot be bound or a node already runs in this process. Nothing keeps running
    /// after an error.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropping the future after the listener started may leave the
    /// server running without a node (the process must then exit).
    pub async fn start(config: DistConfig, kinds: Kinds) -> Result<DistNode, DistError> {
        config.validate()?;
        config.check_cookie()?;
        if ractor::registry::where_is(SUPERVISOR_NAME).is_some() {
            return Err(DistError::Start(
                "a ractor-dist node already runs in this process (ractor_cluster's registry is process-global)".to_string(),
            ));
        }
        let counters = Arc::new(SecurityCounters::default());
        let security =
            Arc::new(Security::new(&config, counters.clone()).map_err(DistError::Start)?);
        // This node accepts on the addresses its host is (see `transport::listener`); the
        // NodeServer's own listener gets an ephemeral loopback port nothing dials.
        let ips = listener::listen_ips(&config)
            .await
            .map_err(DistError::Start)?;
        let listeners = listener::bind(&ips, config.port)
            .await
            .map_err(DistError::Start)?;
        let encryption = security
            .tls
            .as_ref()
            .map(|tls| IncomingEncryptionMode::Tls(tls.acceptor.clone()));
        let server = NodeServer::new(
            0,
            config.cookie.clone(),
            config.name.clone(),
            // An IPv6 literal in brackets, so that the session's address is dialable.
            config.advertised_host(),
            encryption,
            Some(NodeConnectionMode::Isolated),
        )
        .with_listen_addr(std::net::Ipv4Addr::LOCALHOST.into());
        let (node_server, _) = Actor::spawn(None, server, ())
            .await
            .map_err(|e| DistError::Start(format!("cannot start the node server: {e}")))?;
        // Peers are told the port this node accepts on (after the server's own listener
        // told it its ephemeral one).
        let _ = node_server.cast(NodeServerMessage::PortChanged { port: config.port });
        let transport = ClusterTransport::new(
            node_server.clone(),
            config.dial_via.clone(),
            security,
            listeners,
        );
        let started = Self::start_with(
            config,
            kinds,
            Arc::new(transport),
            Some(SUPERVISOR_NAME),
            counters,
        )
        .await;
        if started.is_err() {
            node_server.stop(None);
        }
        started
    }

    /// Runs the discovery `sources` now and every `every`, handing each answer to the
    /// supervisor, until the node stops.
    fn discover(
        &self,
        sources: Vec<Arc<dyn crate::discovery::Discovery>>,
        every: Option<Duration>,
    ) {
        let Some(supervisor) = self.shared.supervisor.get().cloned() else {
            return;
        };
        if sources.is_empty() {
            return;
        }
        tokio::spawn(crate::discovery::run_refresh(
            sources,
            every,
            move |round| {
                supervisor
                    .cast(SupervisorMsg::Discovered {
                        addrs: round.addrs,
                        errors: round.errors,
                    })
                    .is_ok()
            },
        ));
    }

    /// Starts a node over `transport`, its supervisor registered as `registry_name` when
    /// given.
    pub(crate) async fn start_with(
        config: DistConfig,
        kinds: Kinds,
        transport: Arc<dyn Transport>,
        registry_name: Option<&str>,
        security: Arc<SecurityCounters>,
    ) -> Result<DistNode, DistError> {
        config.validate()?;
        let incarnation = Incarnation(rand::random());
        let shared = Arc::new(NodeShared::new(
            config.clone(),
            kinds,
            incarnation,
            security,
        ));
        let known_file = match nodes::read_known_file(config.data_dir.as_deref(), &shared.me) {
            Ok(file) => file,
            Err(e) => {
                transport.stop();
                return Err(e);
            }
        };
        let args = SupervisorArgs {
            shared: shared.clone(),
            transport: transport.clone(),
            events: shared.events.clone(),
            known_file,
        };
        let name = registry_name.map(str::to_string);
        let supervisor = match Actor::spawn(name, DistSupervisor, args).await {
            Ok((s, _)) => s,
            Err(e) => {
                transport.stop();
                return Err(DistError::Start(format!("supervisor failed to start: {e}")));
            }
        };
        let _ = shared.supervisor.set(supervisor);
        replicated::spawn_gossip(shared.clone(), shared.events.subscribe());
        telemetry::spawn_publisher(shared.clone());
        tracing::info!(node = %shared.me, %incarnation, addr = %config.addr(), "ractor-dist node started");
        let node = DistNode { shared };
        node.discover(crate::discovery::sources(&config), config.refresh_interval);
        Ok(node)
    }

    /// The node behind a handle's shared state (`DistRef::node`).
    pub(crate) fn from_shared(shared: Arc<NodeShared>) -> DistNode {
        DistNode { shared }
    }

    /// This node's name (`"{name}@{host}"`).
    pub fn name(&self) -> &NodeName {
        &self.shared.me
    }

    /// This node's incarnation (random per start).
    pub fn incarnation(&self) -> Incarnation {
        self.shared.incarnation
    }

    /// The current membership epoch as seen by this node.
    pub fn epoch(&self) -> Epoch {
        self.shared.view_guard().epoch()
    }

    /// The live members as seen by this node, sorted, this node included.
    pub fn members(&self) -> Vec<NodeName> {
        self.shared.view_guard().placement().members().to_vec()
    }

    /// The rendezvous owner of `name` in the current view: where a spawn puts it.
    pub fn owner_of(&self, name: &str) -> Option<NodeName> {
        self.shared
            .view_guard()
            .routes
            .owner_of(&ActorKey::new(name))
            .cloned()
    }

    /// Number of actors hosted on this node.
    pub fn local_count(&self) -> usize {
        self.shared.hosted_count()
    }

    /// Names of the actors hosted on this node, sorted.
    pub fn local_names(&self) -> Vec<ActorKey> {
        let mut names: Vec<ActorKey> = self
            .shared
            .hosted
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        names.sort();
        names
    }

    /// True when this node is ready to serve, for a readiness probe (a Kubernetes
    /// `readinessProbe`, a load balancer's health check): it runs, it is not leaving, its
    /// membership view is settled (no handoff in progress, so messages are not held) and it
    /// is not fenced after a pause. It does not wait for peers: a node alone serves every
    /// name ([`DistNode::wait_for_members`] waits for a cluster size). A node that turns
    /// not ready keeps serving; it only says that now is a poor time to send it new work.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn probe(node: &ractor_dist::DistNode) -> u16 {
    /// if node.is_ready() { 200 } else { 503 }
    /// # }
    /// ```
    pub fn is_ready(&self) -> bool {
        self.shared.is_ready()
    }

    /// This node's state and counters.
    pub fn status(&self) -> NodeStatus {
        self.shared.status()
    }

    /// The status of every live member (this node included), by asking each.
    ///
    /// # Errors
    ///
    /// The first member that does not answer.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads.
    pub async fn cluster_status(&self) -> Result<Vec<NodeStatus>, DistError> {
        let mut all = Vec::new();
        for node in self.members() {
            match self
                .shared
                .request(&node, &Request::Status, self.shared.config.request_timeout)
                .await?
            {
                Response::Status(s) => all.push(*s),
                other => {
                    return Err(DistError::Protocol(format!(
                        "unexpected status answer: {other:?}"
                    )))
                }
            }
        }
        Ok(all)
    }

    /// A handle to the cluster-wide replicated value `name` of type `T` (a [`crate::Counter`],
    /// an [`crate::OrSet`], ... or a type of your own implementing [`crate::Crdt`]): read it
    /// locally with [`Replicated::get`], change it with [`Replicated::update`], watch it
    /// with [`Replicated::subscribe`]. Every node that asks for `name` holds a replica and
    /// converges to the same value; see [`crate::core::replicated`] for when to use one.
    ///
    /// # Errors
    ///
    /// [`DistError::Replica`] when `name` holds a value of another type on this node.
    pub fn replicated<T: crate::Crdt>(&self, name: &str) -> Result<Replicated<T>, DistError> {
        Replicated::register(self.shared.clone(), name)
    }

    /// Calls `handler` with the up nodes (this one included, sorted) each time that set
    /// changes, in order, on a task of its own until the node stops (GenServerring's
    /// `handle_ring_change`; [`DistNode::subscribe`] gives the events themselves).
    pub fn on_ring_change(&self, handler: impl OnRingChange) {
        // Subscribed first: an event already in the members read next changes nothing.
        let events = self.shared.events.subscribe();
        let up = self.members();
        let shared = self.shared.clone();
        let members = move || shared.view_guard().placement().members().to_vec();
        ring::follow(up, events, members, handler);
    }

    /// Counters of this node's replicated values (changes, deltas, states, refusals, bytes
    /// sent).
    pub fn replica_stats(&self) -> crate::core::replicated::ReplicaStats {
        self.shared.replicas.stats()
    }

    /// Membership changes (up, down, refused) from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<MembershipEvent> {
        self.shared.events.subscribe()
    }

    /// Waits until this node sees at least `count` live members (itself included).
    ///
    /// # Errors
    ///
    /// [`DistError::Timeout`] when that does not happen within `timeout`.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads.
    pub async fn wait_for_members(&self, count: usize, timeout: Duration) -> Result<(), DistError> {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.members().len() < count {
            if tokio::time::Instant::now() >= deadline {
                return Err(DistError::Timeout(timeout));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }

    /// Spawns the actor `name` of kind `A` on its rendezvous owner, from any node.
    ///
    /// Idempotent: if `name` already runs as kind `A`, its [`DistRef`] is returned and
    /// `args` are ignored ([`DistNode::spawn_with_outcome`] tells which happened).
    ///
    /// # Errors
    ///
    /// [`DistError::UnknownKind`] when the owner does not know `A::KIND`,
    /// [`DistError::KindMismatch`] when `name` already runs as another kind (as known to
    /// the node that answers: the one hosting it, or the one it moved away from),
    /// [`DistError::SpawnFailed`] when `pre_start` fails, [`DistError::BadArguments`],
    /// [`DistError::TooLarge`], or a transport error. Nothing new runs after an error.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: once the request was sent, the name may start although the future
    /// was dropped; spawn it again (idempotent) to learn where it runs.
    pub async fn spawn<A: DistActor>(
        &self,
        name: impl Into<ActorKey>,
        args: A::Arguments,
    ) -> Result<DistRef<A::Msg>, DistError> {
        Ok(self.spawn_with_outcome::<A>(name, args).await?.into_ref())
    }

    /// As [`DistNode::spawn`], telling whether this call started the actor (and used
    /// `args`) or found it already running.
    ///
    /// # Errors
    ///
    /// As [`DistNode::spawn`].
    ///
    /// # Cancel safety
    ///
    /// As [`DistNode::spawn`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # use ractor_dist::{DistActor, DistNode, Spawned};
    /// # async fn example<A: DistActor<Arguments = i64>>(node: DistNode) -> Result<(), ractor_dist::DistError> {
    /// match node.spawn_with_outcome::<A>("visits", 40).await? {
    ///     Spawned::Created(_) => println!("started with 40"),
    ///     Spawned::Found(_) => println!("already running; 40 was not used"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn spawn_with_outcome<A: DistActor>(
        &self,
        name: impl Into<ActorKey>,
        args: A::Arguments,
    ) -> Result<Spawned<A::Msg>, DistError> {
        let key = name.into();
        let args = kind::encode_args(&args).map_err(|reason| DistError::BadArguments {
            kind: A::KIND.to_string(),
            reason,
        })?;
        let shared = &self.shared;
        if args.len() > shared.config.max_frame_bytes {
            return Err(DistError::TooLarge {
                size: args.len(),
                limit: shared.config.max_frame_bytes,
            });
        }
        let first = shared.view_guard().routes.owner_of(&key).cloned();
        let mut follow =
            Redirects::new(first.unwrap_or_else(|| shared.me.clone()), OnLoop::AskAgain);
        loop {
            let request = Request::Spawn {
                key: key.clone(),
                kind: A::KIND.to_string(),
                args: args.clone(),
                hops: follow.hops(),
            };
            let asked_in = shared.view_guard().epoch();
            match shared
                .request(follow.target(), &request, shared.config.request_timeout)
                .await?
            {
                Response::Spawned { host, created } => {
                    shared.remember_host(&key, host, asked_in);
                    let actor = DistRef::unresolved(key, self.shared.clone());
                    return Ok(match created {
                        true => Spawned::Created(actor),
                        false => Spawned::Found(actor),
                    });
                }
                Response::Redirect { host } => {
                    if !follow.redirected(host) {
                        return Err(DistError::Protocol(format!(
                            "spawn of {key} redirected too often"
                        )));
                    }
                }
                Response::Err(e) => {
                    return Err(match DistError::from(e) {
                        DistError::KindMismatch { key, running, .. } => DistError::KindMismatch {
                            key,
                            running,
                            requested: A::KIND.to_string(),
                        },
                        e => e,
                    })
                }
                other => {
                    return Err(DistError::Protocol(format!(
                        "unexpected spawn answer: {other:?}"
                    )))
                }
            }
        }
    }

    /// A [`DistRef`] to the actor `id` of the on-demand kind `A` (registered with
    /// [`Kinds::with_factory`]), named `"{KIND}/{id}"`, without asking anyone: it starts
    /// on the first message sent through the handle (or through any handle to that name),
    /// on its owner, with the arguments of the kind's factory.
    ///
    /// Sending fails with [`DistError::NotFound`] when the owner has no factory for `A`.
    pub fn ref_for<A: DistActor>(&self, id: &str) -> DistRef<A::Msg> {
        let key = ActorKey::new(format!("{}/{id}", A::KIND));
        DistRef::unresolved(key, self.shared.clone())
    }

    /// A [`DistRef`] to the existing actor `name`, wherever it runs.
    ///
    /// The answer is cached on this node for the current epoch.
    ///
    /// # Errors
    ///
    /// [`DistError::NotFound`] when no such actor exists, [`DistError::WrongType`] when it
    /// is local and handles another message type, or a transport error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads (and fills the lookup cache).
    pub async fn lookup<M: Message>(
        &self,
        name: impl Into<ActorKey>,
    ) -> Result<DistRef<M>, DistError> {
        let key = name.into();
        let local = self
            .shared
            .hosted
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .map(|entry| entry.msg_type() == TypeId::of::<M>());
        match local {
            // The first send resolves the route from the local table.
            Some(true) => return Ok(DistRef::unresolved(key, self.shared.clone())),
            Some(false) => return Err(DistError::WrongType(key)),
            None => {}
        }
        locate(&self.shared, &key).await?;
        Ok(DistRef::unresolved(key, self.shared.clone()))
    }

    /// Where `name` runs, and the epoch of the view the answer was obtained under.
    ///
    /// # Errors
    ///
    /// [`DistError::NotFound`], or a transport error.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads (and fills the lookup cache).
    pub async fn where_is(
        &self,
        name: impl Into<ActorKey>,
    ) -> Result<(NodeName, Epoch), DistError> {
        let key = name.into();
        let epoch = self.epoch();
        let host = locate(&self.shared, &key).await?;
        Ok((host, epoch))
    }
}

/// Finds where `key` runs: locally, in the routing tables or the lookup cache, or by
/// asking its directory node.
pub(crate) async fn locate(shared: &NodeShared, key: &ActorKey) -> Result<NodeName, DistError> {
    let decision = shared
        .route_handle(&shared.view_guard(), key, Context::Ask)
        .0;
    let mut follow = match decision {
        Decision::Found(host) => return Ok(host),
        Decision::AskNode(node) => Redirects::new(node, OnLoop::GiveUp),
        _ => return Err(DistError::NodeDown),
    };
    loop {
        let request = Request::Lookup { key: key.clone() };
        let asked_in = shared.view_guard().epoch();
        let response = shared
            .request(follow.target(), &request, shared.config.request_timeout)
            .await?;
        // Counted once answered: a question that could not be sent asked nothing.
        shared
            .lookups_asked
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match response {
            Response::Found { host } => {
                shared.remember_host(key, host.clone(), asked_in);
                return Ok(host);
            }
            Response::Redirect { host } => {
                if !follow.redirected(host) {
                    return Err(DistError::NotFound(key.clone()));
                }
            }
            Response::Err(e) => {
                shared.forget_host(key);
                return Err(e.into());
            }
            other => {
                return Err(DistError::Protocol(format!(
                    "unexpected lookup answer: {other:?}"
                )))
            }
        }
    }
}
