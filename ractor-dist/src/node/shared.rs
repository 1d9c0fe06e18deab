//! State shared between a node's supervisor (the only writer) and its handles
//! ([`crate::DistNode`], [`crate::DistRef`]), which read it without a message round trip.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use ractor::rpc::CallResult;
use ractor::{ActorCell, ActorRef};

use crate::core::config::DistConfig;
use crate::core::error::DistError;
use crate::core::order::{Stamper, MAX_STREAMS};
use crate::core::wire::{self, Frame, FrameBody, Request, Response};
use crate::core::{
    ActorKey, Context, Decision, Epoch, Facts, HoldError, Incarnation, LocalAdmission, LookupCache,
    MeshStats, NodeName, NodeStatus, Placement, Routes, Routing,
};
use crate::node::kind::{ErasedKind, Kinds};
use crate::node::supervisor::{Gateway, SupervisorMsg, Token};
use crate::transport::security::SecurityCounters;

mod outbox;
pub(crate) use outbox::Unqueued;

/// The membership view a node routes by: the routing snapshot of the core and the
/// supervisors of the members this node is connected to. Published as a whole, atomically.
#[derive(Debug)]
pub(crate) struct View {
    pub(crate) routes: Routes,
    pub(crate) supervisors: HashMap<NodeName, Gateway>,
}

impl View {
    pub(crate) fn epoch(&self) -> Epoch {
        self.routes.epoch()
    }

    pub(crate) fn placement(&self) -> &Placement {
        self.routes.placement()
    }
}

/// Where a hosted actor is in its life on this node (see [`Residence`]).
pub(crate) use crate::core::Residence as EntryState;

/// An actor hosted on this node.
#[derive(Clone)]
pub(crate) struct HostedEntry {
    pub(crate) cell: ActorCell,
    pub(crate) kind: Arc<dyn ErasedKind>,
    pub(crate) state: EntryState,
}

impl HostedEntry {
    pub(crate) fn msg_type(&self) -> TypeId {
        self.kind.msg_type()
    }
}

/// Counters of things that went wrong (and of a few that went right), per node.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) bad_frames: AtomicU64,
    pub(crate) version_mismatches: AtomicU64,
    pub(crate) refused_peers: AtomicU64,
    pub(crate) dropped_casts: AtomicU64,
    pub(crate) bad_messages: AtomicU64,
    pub(crate) bad_snapshots: AtomicU64,
    pub(crate) moved_in: AtomicU64,
    pub(crate) moved_out: AtomicU64,
    pub(crate) handoff_fallbacks: AtomicU64,
    pub(crate) unknown_kinds: AtomicU64,
    pub(crate) moves_refused: AtomicU64,
    pub(crate) restarts: AtomicU64,
    pub(crate) forwarded: AtomicU64,
    pub(crate) peers_declared_down: AtomicU64,
    pub(crate) respawned: AtomicU64,
    pub(crate) conflicts: AtomicU64,
    pub(crate) checkpoints: AtomicU64,
    pub(crate) checkpoints_fenced: AtomicU64,
    pub(crate) checkpoint_failures: AtomicU64,
    pub(crate) checkpoints_too_large: AtomicU64,
    pub(crate) pauses: AtomicU64,
    pub(crate) hold_refused: AtomicU64,
    /// Dials issued.
    pub(crate) dials: AtomicU64,
    /// Live sessions replaced by a newer one to the same peer (as the transport counts).
    pub(crate) sessions_replaced: AtomicU64,
    /// Dial targets (a gauge).
    pub(crate) dial_targets: AtomicU64,
    /// Dial targets known to lead to a node (a gauge).
    pub(crate) dials_identified: AtomicU64,
    /// Views settled by the handoff deadline instead of by barrier.
    pub(crate) settled_by_deadline: AtomicU64,
    /// Dial targets forgotten (set from the mesh's count).
    pub(crate) dials_forgotten: AtomicU64,
    /// Addresses discovery returned last (a gauge).
    pub(crate) discovered: AtomicU64,
    /// Discovery rounds run.
    pub(crate) discovery_rounds: AtomicU64,
    /// Discovery sources that failed (a round of 2 failing sources counts 2).
    pub(crate) discovery_errors: AtomicU64,
    pub(crate) offers_resent: AtomicU64,
    pub(crate) notices_resent: AtomicU64,
    pub(crate) gaps_skipped: AtomicU64,
    /// Frames, requests and session tokens refused (`NodeStatus::frames_refused`).
    pub(crate) frames_refused: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) -> u64 {
        counter.fetch_add(1, Ordering::Relaxed) + 1
    }
}

fn unix_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

pub(crate) struct NodeShared {
    pub(crate) me: NodeName,
    pub(crate) incarnation: Incarnation,
    pub(crate) config: DistConfig,
    pub(crate) kinds: Kinds,
    /// Equals the epoch of `view`; routes cached in `DistRef`s are valid while it is unchanged.
    pub(crate) generation: AtomicU64,
    /// The published view and routes (the supervisor publishes, handles load).
    view: ArcSwap<View>,
    pub(crate) hosted: RwLock<HashMap<ActorKey, HostedEntry>>,
    /// Where names were last found, by epoch (the per-node lookup cache).
    cache: Mutex<LookupCache>,
    pub(crate) supervisor: OnceLock<ActorRef<SupervisorMsg>>,
    /// The session token of local handles' requests to this node (never sent to a peer).
    pub(crate) local_token: Token,
    pub(crate) counters: Counters,
    /// Connections and sessions the transport refused.
    pub(crate) security: Arc<SecurityCounters>,
    /// Gauges published by the supervisor.
    pub(crate) moving: AtomicU64,
    pub(crate) buffered: AtomicU64,
    pub(crate) settled: std::sync::atomic::AtomicBool,
    pub(crate) last_settle_ms: AtomicU64,
    pub(crate) view_adopted_unix_us: AtomicU64,
    pub(crate) replica_specs: AtomicU64,
    pub(crate) under_replicated: AtomicU64,
    /// See [`crate::MoveStats`].
    pub(crate) batches_resent: AtomicU64,
    /// See [`crate::LookupStats`].
    pub(crate) lookups_asked: AtomicU64,
    pub(crate) lookup_cache_hits: AtomicU64,
    pub(crate) reassembly_bytes: AtomicU64,
    pub(crate) fenced: std::sync::atomic::AtomicBool,
    /// A graceful leave began (`DistNode::leave`).
    pub(crate) leaving: std::sync::atomic::AtomicBool,
    /// Remote casts being batched, per destination node, and the numbering of this node's casts per name (`core::order`).
    outboxes: Mutex<outbox::Outboxes>,
    /// Messages sent to the supervisor by local handles and not handled yet, and the full
    /// hold queues as the supervisor last published them (see [`LocalAdmission`]).
    local_admission: Mutex<LocalAdmission>,
    /// Replicated values (`DistNode::replicated`).
    pub(crate) replicas: crate::node::replicated::Hub,
    /// Activity and final states for passivation.
    pub(crate) passivation: crate::node::passivation::Passivation,
    /// Membership events, to every subscriber (`DistNode::subscribe`).
    pub(crate) events: tokio::sync::broadcast::Sender<crate::core::MembershipEvent>,
    /// The known node set, as published by the supervisor (`DistNode::all`).
    pub(crate) known: ArcSwap<crate::core::known::KnownNodes>,
    /// The node's clock, and when the supervisor last vouched that it was not paused.
    pub(crate) clock: crate::node::clock::NodeClock,
}

impl std::fmt::Debug for NodeShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeShared")
            .field("me", &self.me)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl NodeShared {
    pub(crate) fn new(
        config: DistConfig,
        kinds: Kinds,
        incarnation: Incarnation,
        security: Arc<SecurityCounters>,
    ) -> Self {
        let me = NodeName::new(config.node_name());
        let replicas = crate::node::replicated::Hub::new(
            config.replica_config(incarnation),
            config.data_dir.as_ref().map(|d| d.join("replicated")),
        );
        let cache = LookupCache::new(me.clone(), LookupCache::DEFAULT_CAPACITY);
        let view = View {
            routes: Routing::new(me.clone(), Self::first_placement(&me, &config)).snapshot(),
            supervisors: HashMap::new(),
        };
        let stamper = Stamper::new(me.clone(), incarnation.0, MAX_STREAMS);
        let timing = config.timing();
        Self {
            me,
            incarnation,
            config,
            kinds,
            generation: AtomicU64::new(1),
            view: ArcSwap::from_pointee(view),
            hosted: RwLock::new(HashMap::new()),
            cache: Mutex::new(cache),
            supervisor: OnceLock::new(),
            security,
            local_token: crate::node::supervisor::fresh_token(),
            counters: Counters::default(),
            moving: AtomicU64::new(0),
            buffered: AtomicU64::new(0),
            settled: std::sync::atomic::AtomicBool::new(true),
            last_settle_ms: AtomicU64::new(0),
            view_adopted_unix_us: AtomicU64::new(unix_us()),
            replica_specs: AtomicU64::new(0),
            under_replicated: AtomicU64::new(0),
            batches_resent: AtomicU64::new(0),
            lookups_asked: AtomicU64::new(0),
            lookup_cache_hits: AtomicU64::new(0),
            reassembly_bytes: AtomicU64::new(0),
            fenced: std::sync::atomic::AtomicBool::new(false),
            leaving: std::sync::atomic::AtomicBool::new(false),
            outboxes: Mutex::new(outbox::Outboxes::new(stamper)),
            local_admission: Mutex::default(),
            replicas,
            events: tokio::sync::broadcast::channel(1024).0,
            passivation: Default::default(),
            known: ArcSwap::from_pointee(Default::default()),
            clock: crate::node::clock::NodeClock::new(timing.ask_after_ms()),
        }
    }

    /// The placement of a node alone (before it met any peer).
    pub(crate) fn first_placement(me: &NodeName, config: &DistConfig) -> Placement {
        Placement::weighted(Epoch(1), [(me.clone(), config.weight)])
    }

    pub(crate) fn view(&self) -> Arc<View> {
        self.view.load_full()
    }

    pub(crate) fn set_view(&self, view: View) {
        let epoch = view.epoch().0;
        if epoch != self.generation.load(Ordering::Acquire) {
            self.view_adopted_unix_us
                .store(unix_us(), Ordering::Relaxed);
        }
        self.view.store(Arc::new(view));
        self.generation.store(epoch, Ordering::Release);
    }

    /// Publishes changed routing tables under the same view (epoch and supervisors): routes
    /// cached in handles stay valid.
    pub(crate) fn publish_routes(&self, routes: Routes) {
        let supervisors = self.view.load().supervisors.clone();
        self.view.store(Arc::new(View {
            routes,
            supervisors,
        }));
    }

    /// Routes `key` for a local handle (`Send` or `Ask`) by `view`: what this node knows
    /// locally about it, given to the core's routing function. Also returns the hosted entry.
    pub(crate) fn route_handle(
        &self,
        view: &View,
        key: &ActorKey,
        context: Context,
    ) -> (Decision, Option<HostedEntry>) {
        let entry = self.hosted(key);
        let cached = |key: &ActorKey, epoch: Epoch| {
            let host = self
                .cache
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(key, epoch)
                .cloned();
            if host.as_ref().is_some_and(|h| view.routes.takes_cached(h)) {
                self.lookup_cache_hits.fetch_add(1, Ordering::Relaxed);
            }
            host
        };
        let facts = Facts {
            hosted: entry.as_ref().map(|e| e.state),
            // (only sends follow earlier sends; spare asks the lock)
            pending_local: context == Context::Send && self.local_send_pending(key),
            settled: self.settled.load(Ordering::Relaxed),
            shutting_down: false,
            on_demand: context == Context::Send && entry.is_none() && self.kinds.on_demand(key),
            cached: Some(&cached),
        };
        (view.routes.route(key, context, facts), entry)
    }

    /// The published view, without cloning its `Arc` (hold it briefly).
    pub(crate) fn view_guard(&self) -> arc_swap::Guard<Arc<View>> {
        self.view.load()
    }

    /// Adopts a new view: publishes it, then (holding the outbox lock, so that no cast
    /// routed by the old view can follow) flushes every outbox and sends `marker` to every
    /// peer supervisor of the new view.
    pub(crate) fn adopt_view(&self, view: View, marker: &FrameBody) {
        let mut guard = self.outboxes.lock().unwrap_or_else(|e| e.into_inner());
        let outbox::Outboxes { boxes, stamper } = &mut *guard;
        let supervisors = view.supervisors.clone();
        self.set_view(view);
        for (host, outbox) in boxes.iter_mut() {
            if let Some(gw) = outbox.peer.clone() {
                let _ = self.flush_locked(host, &gw, outbox, stamper);
            }
        }
        // The outboxes of nodes that left the view go with them (one comes back with its
        // next cast).
        let view = self.view.load();
        boxes.retain(|host, outbox| !outbox.is_empty() || view.placement().contains(host));
        let frame = wire::encode(&Frame {
            from: self.me.clone(),
            incarnation: self.incarnation,
            body: marker.clone(),
        });
        for gw in supervisors.values() {
            let _ = gw.frame(frame.clone());
        }
    }

    fn local_admission(&self) -> std::sync::MutexGuard<'_, LocalAdmission> {
        self.local_admission
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The supervisor holds a message of a local handle for `key` (already admitted).
    pub(crate) fn local_send_started(&self, key: &ActorKey) {
        self.local_admission().started(key);
    }

    /// The supervisor delivered, forwarded, held or dropped one such message.
    pub(crate) fn local_send_done(&self, key: &ActorKey) {
        self.local_admission().done(key);
    }

    /// Publishes the names whose hold queue is full, and whether the node's is.
    pub(crate) fn set_hold_full(&self, names: Vec<ActorKey>, node_full: bool) {
        self.local_admission().set_full(names, node_full);
    }

    /// Counts a message of a local handle for `key` as pending in the supervisor, unless
    /// the hold caps refuse it ([`LocalAdmission::admit`]).
    pub(crate) fn local_send_admitted(&self, key: &ActorKey) -> Result<(), HoldError> {
        let caps = self.config.hold_config().caps;
        self.local_admission().admit(&caps, key)
    }

    /// True while messages of local handles for `key` wait in the supervisor.
    pub(crate) fn local_send_pending(&self, key: &ActorKey) -> bool {
        self.local_admission().is_pending(key)
    }

    /// The hosted table, for the supervisor (its only writer) to change.
    pub(crate) fn hosted_mut(
        &self,
    ) -> std::sync::RwLockWriteGuard<'_, HashMap<ActorKey, HostedEntry>> {
        self.hosted.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn hosted(&self, key: &ActorKey) -> Option<HostedEntry> {
        self.hosted
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    pub(crate) fn hosted_count(&self) -> usize {
        self.hosted.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// `key` was found on `host` by a question asked under `asked_in` (the epoch when the
    /// request left, not when its answer came: an answer that crossed a view change is
    /// about the old view, and must not be served in the new one).
    pub(crate) fn remember_host(&self, key: &ActorKey, host: NodeName, asked_in: Epoch) {
        let epoch = asked_in;
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remember(key.clone(), epoch, host);
    }

    pub(crate) fn forget_host(&self, key: &ActorKey) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forget(key);
    }

    /// Forgets every cached answer naming one of `hosts` (they went down).
    pub(crate) fn forget_hosts(&self, hosts: &[NodeName]) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .forget_hosts(hosts);
    }

    pub(crate) fn supervisor(&self) -> Result<&ActorRef<SupervisorMsg>, DistError> {
        self.supervisor.get().ok_or(DistError::NodeDown)
    }

    /// The supervisor of `node`: ours, or a peer's proxy.
    pub(crate) fn peer_supervisor(&self, node: &NodeName) -> Result<Gateway, DistError> {
        if *node == self.me {
            return Ok(Gateway::new(self.supervisor()?.clone(), self.local_token));
        }
        self.view
            .load()
            .supervisors
            .get(node)
            .cloned()
            .ok_or_else(|| DistError::Unreachable(node.clone()))
    }

    /// The supervisor of `node`, waiting up to `timeout` while `node` is a member whose
    /// session (or its token) is not confirmed yet: a node just met, or a session replaced
    /// by a simultaneous dial (polled every 5 ms; a member that stays unreachable is
    /// `Unreachable` at the end, and a node that leaves the view at once).
    pub(crate) async fn peer_supervisor_within(
        &self,
        node: &NodeName,
        timeout: Duration,
    ) -> Result<Gateway, DistError> {
        let deadline = tokio::time::Instant::now() + timeout;
        self.gateway_within(node, deadline, |_| true).await
    }

    /// The supervisor of `node` once it is one `accept` takes, polled every 5 ms until
    /// `deadline` while `node` is a member (`Unreachable` then, or at once when `node`
    /// leaves the view).
    async fn gateway_within(
        &self,
        node: &NodeName,
        deadline: tokio::time::Instant,
        accept: impl Fn(&Gateway) -> bool,
    ) -> Result<Gateway, DistError> {
        loop {
            let error = match self.peer_supervisor(node) {
                Ok(peer) if accept(&peer) => return Ok(peer),
                Ok(_) => DistError::Unreachable(node.clone()),
                Err(e) => e,
            };
            let member = self.view.load().placement().contains(node);
            if !member || tokio::time::Instant::now() >= deadline {
                return Err(error);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Sends a request to `node`'s supervisor and decodes its response (waiting for its
    /// session while it is being confirmed: see `peer_supervisor_within`).
    pub(crate) async fn request(
        &self,
        node: &NodeName,
        req: &Request,
        timeout: Duration,
    ) -> Result<Response, DistError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut peer = self.peer_supervisor_within(node, timeout).await?;
        loop {
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            self.flush(node, &peer, false);
            let bytes = wire::encode(&wire::Req {
                from: self.me.clone(),
                body: req.clone(),
            });
            if bytes.len() > self.config.max_frame_bytes {
                return Err(DistError::TooLarge {
                    size: bytes.len(),
                    limit: self.config.max_frame_bytes,
                });
            }
            return match peer.request(bytes, remaining).await {
                Ok(CallResult::Success(bytes)) => {
                    wire::decode(&bytes, self.config.max_frame_bytes as u64)
                        .map_err(|e| DistError::Protocol(format!("response from {node}: {e}")))
                }
                Ok(CallResult::Timeout) => Err(DistError::Timeout(remaining)),
                // Not sent: the session closed under it (replaced by a simultaneous dial,
                // and this node has not adopted the new one yet). Over the newer session
                // once there is one, within the request's time.
                Err(_) if *node != self.me => {
                    match self.newer_gateway(node, &peer, req, deadline).await {
                        Some(newer) => {
                            peer = newer;
                            continue;
                        }
                        None => Err(DistError::Unreachable(node.clone())),
                    }
                }
                Ok(CallResult::SenderError) | Err(_) => {
                    if *node == self.me {
                        Err(DistError::NodeDown)
                    } else {
                        Err(DistError::Unreachable(node.clone()))
                    }
                }
            };
        }
    }

    /// A gateway to `node` other than `closed` (whose session closed), waiting for it until
    /// `deadline` while `node` is a member (polled every 5 ms). `None` when `node` left the
    /// view or the deadline passed. A call waits, besides, until no cast of this node to
    /// its name is in the supervisor (the casts the closed session handed back): they leave
    /// first, and the call follows them over the same session.
    async fn newer_gateway(
        &self,
        node: &NodeName,
        closed: &Gateway,
        req: &Request,
        deadline: tokio::time::Instant,
    ) -> Option<Gateway> {
        let key = match req {
            Request::Call { key, .. } => Some(key),
            _ => None,
        };
        let behind = || key.is_some_and(|key| self.local_send_pending(key));
        self.gateway_within(node, deadline, |g| g.id() != closed.id() && !behind())
            .await
            .ok()
    }

    pub(crate) fn mesh_stats(&self) -> MeshStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MeshStats {
            dials: get(&c.dials),
            dial_targets: get(&c.dial_targets),
            dials_identified: get(&c.dials_identified),
            sessions_replaced: get(&c.sessions_replaced),
            dials_forgotten: get(&c.dials_forgotten),
            discovered: get(&c.discovered),
            discovery_rounds: get(&c.discovery_rounds),
            discovery_errors: get(&c.discovery_errors),
        }
    }

    /// Records the sizes of the tables of the node's shared state (see
    /// [`crate::core::footprint`]).
    pub(crate) fn footprint(&self, f: &mut crate::core::Footprint) {
        f.add("node.hosted", self.hosted_count());
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .footprint(f);
        self.outboxes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .footprint(f);
        self.local_admission().footprint(f);
        f.add("node.clock_released", self.clock.released_len());
        self.passivation.footprint(f);
    }

    pub(crate) fn lookup_stats(&self) -> crate::LookupStats {
        crate::LookupStats {
            asked: self.lookups_asked.load(Ordering::Relaxed),
            cache_hits: self.lookup_cache_hits.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn move_stats(&self) -> crate::MoveStats {
        crate::MoveStats {
            batches_resent: self.batches_resent.load(Ordering::Relaxed),
            reassembly_bytes: self.reassembly_bytes.load(Ordering::Relaxed),
        }
    }

    /// See `DistNode::is_ready`.
    pub(crate) fn is_ready(&self) -> bool {
        let running = self
            .supervisor()
            .is_ok_and(|s| s.get_status() == ractor::ActorStatus::Running);
        running
            && !self.leaving.load(Ordering::Relaxed)
            && self.settled.load(Ordering::Relaxed)
            && !self.fenced.load(Ordering::Relaxed)
    }

    pub(crate) fn status(&self) -> NodeStatus {
        let view = self.view();
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        NodeStatus {
            node: self.me.clone(),
            epoch: view.epoch(),
            members: view.placement().members().to_vec(),
            hosted: self.hosted_count() as u64,
            directory: view.routes.directory_len() as u64,
            bad_frames: get(&c.bad_frames),
            version_mismatches: get(&c.version_mismatches),
            refused_peers: get(&c.refused_peers),
            dropped_casts: get(&c.dropped_casts),
            bad_messages: get(&c.bad_messages),
            bad_snapshots: get(&c.bad_snapshots),
            moved_in: get(&c.moved_in),
            moved_out: get(&c.moved_out),
            handoff_fallbacks: get(&c.handoff_fallbacks),
            moving: self.moving.load(Ordering::Relaxed),
            settled: self.settled.load(Ordering::Relaxed),
            last_settle_ms: self.last_settle_ms.load(Ordering::Relaxed),
            view_adopted_unix_us: self.view_adopted_unix_us.load(Ordering::Relaxed),
            buffered: self.buffered.load(Ordering::Relaxed),
            unknown_kinds: get(&c.unknown_kinds),
            moves_refused: get(&c.moves_refused),
            restarts: get(&c.restarts),
            forwarded: get(&c.forwarded),
            peers_declared_down: get(&c.peers_declared_down),
            replica_specs: self.replica_specs.load(Ordering::Relaxed),
            under_replicated: self.under_replicated.load(Ordering::Relaxed),
            respawned: get(&c.respawned),
            conflicts: get(&c.conflicts),
            checkpoints: get(&c.checkpoints),
            checkpoints_fenced: get(&c.checkpoints_fenced),
            checkpoint_failures: get(&c.checkpoint_failures),
            checkpoints_too_large: get(&c.checkpoints_too_large),
            pauses: get(&c.pauses),
            fenced: self.fenced.load(Ordering::Relaxed),
            hold_refused: get(&c.hold_refused),
            settled_by_deadline: get(&c.settled_by_deadline),
            offers_resent: get(&c.offers_resent),
            notices_resent: get(&c.notices_resent),
            gaps_skipped: get(&c.gaps_skipped),
            frames_refused: get(&c.frames_refused),
        }
    }
}
