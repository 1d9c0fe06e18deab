//! Routing: where a message, request or question about a name goes, decided in one place.
//!
//! A node knows four things about names it does not simply compute from placement:
//!
//! - the names it **hosts** (kept by the caller with the actors; passed in as [`Facts`]),
//! - the names it **handed off** in the current view, with their new host (`moved`:
//!   redirects for stale routes, cleared on every view change),
//! - the names it is the **directory node** of (their rendezvous owner) that run elsewhere
//!   (`directory`: `Stay` names and names spawned away from their owner),
//! - where its handles last **found** names ([`LookupCache`], by epoch, bounded).
//!
//! [`Routes::route`] answers, for one name and one [`Context`] (a local handle sending, a
//! handle asking, a cast from a peer with its hop count, a request, a lookup, a spawn), one
//! [`Decision`]. The precedence is the same for every context:
//!
//! 1. messages of local handles that already wait in the supervisor (handles only),
//! 2. hosted here (active, moving away, or settling after arriving),
//! 3. handed off from here in this view (`moved`),
//! 4. the directory entry,
//! 5. the lookup cache of the current epoch (handles only),
//! 6. the rendezvous owner of the current view.
//!
//! Forwarding is bounded: a cast is forwarded at most [`MAX_HOPS`] times, a spawn redirected
//! at most [`MAX_SPAWN_HOPS`] times, and a handle follows at most [`MAX_REDIRECTS`] redirects.
//!
//! [`Routing`] is the mutable state the supervisor keeps (it is its only writer): directory
//! registrations (with the yield decision of duplicates), unregistrations, redirects and
//! their pruning on view changes. Its [`Routing::snapshot`] is an immutable [`Routes`] that
//! the node publishes atomically, so that a handle resolves a route with one load.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::identity::{ActorKey, Epoch, NodeName};
use super::placement::Placement;

mod cache;
mod redirects;

pub use cache::LookupCache;
pub use redirects::{OnLoop, Redirects};

/// How many times a cast may be forwarded between nodes before it is dropped: a guard
/// against loops between stale routes, with room for a cast that follows a name through
/// several moves of overlapping membership changes (3 dropped casts in the slow-network
/// simulation, seeds 346 and 750).
pub const MAX_HOPS: u8 = 8;

/// How many times a spawn request may be redirected before the receiving node spawns it.
pub const MAX_SPAWN_HOPS: u8 = 3;

/// How many nodes a request of a handle (spawn, lookup, call, stop) asks, following
/// redirects ([`Redirects`]), and how many times a send re-resolves a stale route.
pub const MAX_REDIRECTS: usize = 4;

/// Where a hosted actor is in its life on this node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Residence {
    /// Running; local handles send to it directly.
    Active,
    /// Being drained or handed off: messages go through the supervisor, which buffers them.
    Moving,
    /// Arrived by handoff while the node is not settled: messages go through the
    /// supervisor, which parks those that could overtake the source's.
    Settling,
}

/// Who asks, and for what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Context {
    /// A local handle sends a message.
    Send,
    /// A local handle wants to know where the name runs, or whom to ask (lookup, stop).
    Ask,
    /// The supervisor delivers a message that a local handle sent through it.
    Relay,
    /// A cast arrived from a peer, already forwarded `hops` times.
    Cast {
        /// Forwards so far.
        hops: u8,
    },
    /// A call or stop request arrived.
    Request,
    /// A lookup request arrived.
    Lookup,
    /// A spawn request arrived, already redirected `hops` times.
    Spawn {
        /// Redirects so far.
        hops: u8,
    },
}

impl Context {
    /// A local handle (not the supervisor) asks.
    fn is_handle(self) -> bool {
        matches!(self, Context::Send | Context::Ask)
    }
}

/// Where the lookup cache says a name was found under an epoch (see [`LookupCache::get`]).
pub type Cached<'a> = &'a dyn Fn(&ActorKey, Epoch) -> Option<NodeName>;

/// What this node knows locally about one name, as inputs of [`Routes::route`].
#[derive(Clone, Copy, Default)]
pub struct Facts<'a> {
    /// Hosted here, and in which state.
    pub hosted: Option<Residence>,
    /// Messages of local handles for this name wait in the supervisor.
    pub pending_local: bool,
    /// The node is settled for its view (no handoff may still bring the name here).
    pub settled: bool,
    /// The node is shutting down (it spawns nothing more).
    pub shutting_down: bool,
    /// The name starts on its first message (its kind is on demand here): a handle's
    /// message for it, owned here and not running, goes to the supervisor, which starts it.
    pub on_demand: bool,
    /// The lookup cache, consulted by handle contexts only when the tables do not know
    /// the name, and only for hosts in the view.
    pub cached: Option<Cached<'a>>,
}

impl std::fmt::Debug for Facts<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Facts")
            .field("hosted", &self.hosted)
            .field("pending_local", &self.pending_local)
            .field("settled", &self.settled)
            .field("shutting_down", &self.shutting_down)
            .field("on_demand", &self.on_demand)
            .field("cached", &self.cached.is_some())
            .finish()
    }
}

/// The answer of [`Routes::route`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Hosted here: deliver to the local actor.
    Deliver,
    /// A handle sends through the supervisor: the actor is moving or settling, earlier
    /// messages wait there, or a handoff may still bring it.
    ViaSupervisor,
    /// Moving away: hold the message in the name's buffer until the move ends.
    Hold,
    /// Send (forward) the message to `to`, with `hops` forwards counted so far.
    Forward {
        /// The next node.
        to: NodeName,
        /// The hop count to send along.
        hops: u8,
    },
    /// Ask `node` (the name's directory node; possibly this node's own supervisor).
    AskNode(NodeName),
    /// Answer the requester with a redirect to `node`.
    Redirect(NodeName),
    /// The name runs on `node` (lookups; spawns of a name that exists).
    Found(NodeName),
    /// Spawn the name here.
    SpawnHere,
    /// This node is shutting down and spawns nothing.
    Unavailable,
    /// The name exists nowhere this node can tell.
    NotFound,
    /// A cast was forwarded [`MAX_HOPS`] times already: drop it.
    HopLimit,
    /// No member owns anything (an empty view): the node is down.
    NoView,
}

/// An immutable routing snapshot: the current view and the tables, cheap to clone.
#[derive(Clone, Debug)]
pub struct Routes {
    me: NodeName,
    placement: Arc<Placement>,
    reachable: Arc<BTreeSet<NodeName>>,
    directory: Arc<BTreeMap<ActorKey, NodeName>>,
    moved: Arc<BTreeMap<ActorKey, NodeName>>,
}

impl Routes {
    /// This node.
    pub fn me(&self) -> &NodeName {
        &self.me
    }

    /// Whether a lookup-cache answer naming `host` is used: not when it names a node
    /// outside the view (it left, or went down): the owner knows better.
    pub fn takes_cached(&self, host: &NodeName) -> bool {
        self.placement.contains(host)
    }

    /// The epoch of the view.
    pub fn epoch(&self) -> Epoch {
        self.placement.epoch()
    }

    /// The placement of the view.
    pub fn placement(&self) -> &Placement {
        &self.placement
    }

    /// The rendezvous owner of `key` in the view (its directory node).
    pub fn owner_of(&self, key: &ActorKey) -> Option<&NodeName> {
        self.placement.owner_of(key)
    }

    /// The owner of `key` when that is another node: where registrations go.
    pub fn directory_node(&self, key: &ActorKey) -> Option<&NodeName> {
        self.owner_of(key).filter(|o| **o != self.me)
    }

    /// Where `key` was handed off to from here in this view.
    pub fn moved_to(&self, key: &ActorKey) -> Option<&NodeName> {
        self.moved.get(key)
    }

    /// The directory entry of `key` (it runs elsewhere, this node is its directory node).
    pub fn directory_host(&self, key: &ActorKey) -> Option<&NodeName> {
        self.directory.get(key)
    }

    /// Number of directory entries.
    pub fn directory_len(&self) -> usize {
        self.directory.len()
    }

    /// The one routing function: what to do with `key` in `context`, given what this node
    /// knows locally (`facts`). See the module docs for the precedence.
    pub fn route(&self, key: &ActorKey, context: Context, facts: Facts<'_>) -> Decision {
        if context == Context::Send && facts.pending_local {
            return Decision::ViaSupervisor;
        }
        if let Some(residence) = facts.hosted {
            return self.hosted(context, residence);
        }
        let redirect = self.moved.get(key);
        if let Some(host) = redirect.or_else(|| self.directory.get(key)) {
            if *host != self.me {
                // A redirect to a node that does not own the name (this node's copy yielded
                // to another copy's node after a heal) may be stale: the survivor goes on
                // to the owner from there. Asked there, not taken for the answer
                // (messages follow it all the same).
                if redirect.is_some()
                    && context == Context::Ask
                    && self.placement.owner_of(key) != Some(host)
                {
                    return Decision::AskNode(host.clone());
                }
                return self.known(context, host.clone());
            }
        }
        if context.is_handle() {
            let cached = facts.cached.and_then(|c| c(key, self.epoch()));
            if let Some(host) = cached.filter(|h| self.takes_cached(h)) {
                return self.known(context, host);
            }
        }
        let Some(owner) = self.placement.owner_of(key) else {
            return match context {
                Context::Send | Context::Ask => Decision::NoView,
                Context::Spawn { .. } if facts.shutting_down => Decision::Unavailable,
                Context::Spawn { .. } => Decision::SpawnHere,
                _ => Decision::NotFound,
            };
        };
        let mine = *owner == self.me;
        match context {
            // A handoff may still bring it here: the supervisor parks the message.
            Context::Send if mine && !facts.settled => Decision::ViaSupervisor,
            Context::Send if mine && facts.on_demand => Decision::ViaSupervisor,
            Context::Send if mine => Decision::NotFound,
            Context::Send => Decision::Forward {
                to: owner.clone(),
                hops: 0,
            },
            // Ask the directory node, this node's own supervisor included (it may park
            // the question until a handoff brought the name).
            Context::Ask => Decision::AskNode(owner.clone()),
            Context::Spawn { .. } if facts.shutting_down => Decision::Unavailable,
            Context::Spawn { hops }
                if !mine && hops < MAX_SPAWN_HOPS && self.reachable.contains(owner) =>
            {
                Decision::Redirect(owner.clone())
            }
            Context::Spawn { .. } => Decision::SpawnHere,
            _ if mine => Decision::NotFound,
            // The owner is the directory node: it knows, this node does not.
            Context::Lookup => Decision::Redirect(owner.clone()),
            _ => self.known(context, owner.clone()),
        }
    }

    /// The decision for a name hosted here.
    fn hosted(&self, context: Context, residence: Residence) -> Decision {
        match (context, residence) {
            (Context::Send, Residence::Active) => Decision::Deliver,
            (Context::Send, _) => Decision::ViaSupervisor,
            (Context::Ask | Context::Lookup | Context::Spawn { .. }, _) => {
                Decision::Found(self.me.clone())
            }
            (Context::Relay | Context::Cast { .. }, Residence::Moving) => Decision::Hold,
            (Context::Relay | Context::Cast { .. } | Context::Request, _) => Decision::Deliver,
        }
    }

    /// The decision for a name known to run on `host` (another node).
    fn known(&self, context: Context, host: NodeName) -> Decision {
        match context {
            Context::Send | Context::Relay => Decision::Forward { to: host, hops: 0 },
            Context::Cast { hops } if hops < MAX_HOPS => Decision::Forward {
                to: host,
                hops: hops + 1,
            },
            Context::Cast { .. } => Decision::HopLimit,
            Context::Request => Decision::Redirect(host),
            Context::Ask | Context::Lookup | Context::Spawn { .. } => Decision::Found(host),
        }
    }
}

/// The routing state of one node; the supervisor is its only writer.
///
/// Mutations copy a table at most once per [`Routing::snapshot`] (the published snapshot
/// shares the previous one), so a batch of changes between two publications costs one copy.
#[derive(Debug)]
pub struct Routing {
    routes: Routes,
    dirty: bool,
}

impl Routing {
    /// Records the sizes of the routing tables (see [`crate::core::footprint`]).
    pub fn footprint(&self, f: &mut crate::core::Footprint) {
        f.add("routing.directory", self.routes.directory.len());
        f.add("routing.moved", self.routes.moved.len());
    }

    /// The routing state of `me` under `placement`, with empty tables.
    pub fn new(me: NodeName, placement: Placement) -> Self {
        Self {
            routes: Routes {
                me,
                placement: Arc::new(placement),
                reachable: Arc::default(),
                directory: Arc::default(),
                moved: Arc::default(),
            },
            dirty: true,
        }
    }

    /// The current routes (including changes not yet published).
    pub fn routes(&self) -> &Routes {
        &self.routes
    }

    /// The routes to publish; clears the changed flag.
    pub fn snapshot(&mut self) -> Routes {
        self.dirty = false;
        self.routes.clone()
    }

    /// Something changed since the last [`Routing::snapshot`].
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// A new (or the same) view: its placement and the members this node can reach.
    pub fn set_view(
        &mut self,
        placement: Placement,
        reachable: impl IntoIterator<Item = NodeName>,
    ) {
        self.routes.placement = Arc::new(placement);
        self.routes.reachable = Arc::new(reachable.into_iter().collect());
        self.dirty = true;
    }

    /// The view changed (after [`Routing::set_view`]): redirects are only good for the view
    /// they were made in (older redirects can reorder a sender's messages), and directory
    /// entries are kept for names this node still owns whose host is not among `downs`.
    pub fn handle_view_change(&mut self, downs: &[NodeName]) {
        if !self.routes.moved.is_empty() {
            self.routes.moved = Arc::default();
        }
        let me = &self.routes.me;
        let placement = &self.routes.placement;
        let stale = |key: &ActorKey, host: &NodeName| {
            downs.contains(host) || placement.owner_of(key) != Some(me)
        };
        if self.routes.directory.iter().any(|(k, h)| stale(k, h)) {
            let kept = self
                .routes
                .directory
                .iter()
                .filter(|(k, h)| !stale(k, h))
                .map(|(k, h)| (k.clone(), h.clone()))
                .collect();
            self.routes.directory = Arc::new(kept);
        }
        self.dirty = true;
    }

    /// `key` was handed off from here to `to`.
    pub fn handle_moved(&mut self, key: ActorKey, to: NodeName) {
        Arc::make_mut(&mut self.routes.moved).insert(key, to);
        self.dirty = true;
    }

    /// `key` runs here (again): no redirect for it.
    pub fn handle_hosted(&mut self, key: &ActorKey) {
        if self.routes.moved.contains_key(key) {
            Arc::make_mut(&mut self.routes.moved).remove(key);
            self.dirty = true;
        }
        // An entry naming where it was before it came here is stale.
        if self.routes.directory.contains_key(key) {
            Arc::make_mut(&mut self.routes.directory).remove(key);
            self.dirty = true;
        }
    }

    /// The state of passivated `key` is kept here: no redirect for it.
    pub fn handle_kept(&mut self, key: &ActorKey) {
        if self.routes.moved.contains_key(key) {
            Arc::make_mut(&mut self.routes.moved).remove(key);
            self.dirty = true;
        }
    }

    /// `peer` is gone: forget the redirects to it.
    pub fn handle_peer_gone(&mut self, peer: &NodeName) {
        if self.routes.moved.values().any(|to| to == peer) {
            Arc::make_mut(&mut self.routes.moved).retain(|_, to| to != peer);
            self.dirty = true;
        }
        // A leaver's registrations (refused names it kept) end with it.
        if self.routes.directory.values().any(|host| host == peer) {
            Arc::make_mut(&mut self.routes.directory).retain(|_, host| host != peer);
            self.dirty = true;
        }
    }

    /// `from` registers that it runs these names (this node is their directory node, or
    /// will be in a view `from` already adopted). A name that also runs here
    /// (`runs_here`), or is registered on another live node (`is_up`), has two copies (a
    /// partition healed): the registering copy must yield. Returns the names `from` must
    /// yield, with the node the other copy runs on; the others are recorded.
    pub fn handle_register(
        &mut self,
        from: &NodeName,
        keys: impl IntoIterator<Item = ActorKey>,
        runs_here: impl Fn(&ActorKey) -> bool,
        is_up: impl Fn(&NodeName) -> bool,
    ) -> Vec<(ActorKey, NodeName)> {
        let mut yields = Vec::new();
        for key in keys {
            if runs_here(&key) {
                yields.push((key, self.routes.me.clone()));
                continue;
            }
            match self.routes.directory.get(&key) {
                Some(host) if host != from && is_up(host) => yields.push((key, host.clone())),
                Some(host) if host == from => {}
                // Kept whatever this node's view says now: the sender may already route by
                // a view this node has not adopted yet (entries it does not own are pruned
                // at its next view change).
                _ => {
                    Arc::make_mut(&mut self.routes.directory).insert(key, from.clone());
                    self.dirty = true;
                }
            }
        }
        yields
    }

    /// `from` no longer runs `key`: the entry goes only if it names `from` (a later
    /// registration from another node stays). Returns true when it went.
    pub fn handle_unregister(&mut self, from: &NodeName, key: &ActorKey) -> bool {
        if self.routes.directory.get(key) != Some(from) {
            return false;
        }
        Arc::make_mut(&mut self.routes.directory).remove(key);
        self.dirty = true;
        true
    }
}

#[cfg(test)]
mod tests;
