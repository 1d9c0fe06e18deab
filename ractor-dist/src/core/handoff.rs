//! The handoff state machine: moving actors to their new owner when the view changes.
//!
//! One `HandoffCore` per node decides, for every membership view, which hosted names move
//! and where, batches the moves per target with flow control, tracks acknowledgements and
//! deadlines, and runs the two barriers that keep every sender's messages in order:
//!
//! 1. **View adopted.** On adopting a view, a node first flushes everything it routed by
//!    the old view, then tells every peer `ViewAdopted(view)`. Once a source node has that
//!    marker from every participant, nothing routed by the old view can still reach it.
//! 2. **Handoffs done.** A source sends `HandoffsDone(view)` to a peer once its handoffs to
//!    that peer are acknowledged (their buffered messages forwarded) and the first barrier
//!    has passed. A node is *settled* for a view when every participant said so.
//!
//! A node parks messages from peers outside its view (they route by a newer view). Until
//! it is settled, a node also parks messages for names it owns but does not host (a
//! handoff may still bring them) and, for names that arrived by handoff, messages from
//! anyone but their source. Parked messages are released when it settles, or after the
//! deadline, whichever comes first; while a source says it is still busy moving actors
//! here (`HandoffsBusy`), the barrier waits for it past the deadline (up to its patience),
//! and so do the messages for names this node owns that it may bring (see
//! `Engine::release_parked`).
//!
//! A moving actor is first drained by the executor (every message already in its mailbox
//! is handled, later ones are buffered), then its snapshot travels in a `Migrate` batch;
//! when the target acknowledges, the source forwards the buffered messages and leaves a
//! redirect. A drain or an acknowledgement that misses the deadline falls back (the state
//! is restored from the last snapshot, locally or on the current owner).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use super::identity::{ActorKey, Millis, NodeName};
use super::placement::Placement;

mod exit;
pub mod inbound;
pub use exit::{
    classify_exit, fallback_state, ChildExit, ExitAction, DRAINED_REASON, KILLED_REASON,
};

/// The digest of a membership view (its members and their incarnations); equal on every
/// node that sees the same members.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize,
)]
pub struct ViewId(pub u64);

/// What happens to an actor whose owner changes.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub enum HandoffMode {
    /// Start afresh on the new owner with the original arguments.
    #[default]
    Restart,
    /// Move with its state: snapshot on the old owner, restore on the new one.
    Resume,
    /// Keep running where it is until it stops; lookups still find it. (When its node
    /// leaves gracefully it moves as with `Resume` if it can snapshot, else `Restart`.)
    Stay,
}

impl HandoffMode {
    /// Whether an actor that stops to move carries its final state (`Restart` starts
    /// afresh and is not asked for it).
    pub fn carries_state(self) -> bool {
        self != HandoffMode::Restart
    }

    /// Whether the move goes on without state when the final state cannot be snapshotted:
    /// a `Stay` actor (moving only because its node leaves) restarts afresh on its new
    /// node; for `Resume` the snapshot failing is an error.
    pub fn moves_without_state(self) -> bool {
        self == HandoffMode::Stay
    }
}

/// Limits of the handoff machinery.
#[derive(Clone, Copy, Debug)]
pub struct HandoffConfig {
    /// Deadline of each step (drain, acknowledgement, barriers), in milliseconds.
    pub deadline_ms: u64,
    /// Target size of one `Migrate` batch, in bytes.
    pub batch_bytes: usize,
    /// Unacknowledged batches allowed per target (flow control).
    pub max_inflight: usize,
    /// How long a barrier waits at most for a source that keeps saying it is busy (its
    /// moves to this node are slow, not stuck), in milliseconds; past `deadline_ms` a
    /// silent source is given up on.
    pub patience_ms: u64,
}

impl Default for HandoffConfig {
    fn default() -> Self {
        Self {
            deadline_ms: 5_000,
            batch_bytes: 1 << 20,
            max_inflight: 4,
            patience_ms: 20_000,
        }
    }
}

/// A batch number, unique per source node.
pub type BatchId = u64;

/// What the executor must do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandoffCommand {
    /// Flush what was routed by the old view, then send `ViewAdopted(view)` to every peer.
    Announce {
        /// The adopted view.
        view: ViewId,
    },
    /// Stop routing to `key` locally (buffer instead) and drain it; report the snapshot
    /// size with [`HandoffCore::handle_drained`].
    Drain {
        /// The actor.
        key: ActorKey,
        /// Where it goes.
        to: NodeName,
    },
    /// Kill `key` without waiting any longer (its drain missed the deadline); report it with
    /// [`HandoffCore::handle_drained`] and no state.
    ForceStop {
        /// The actor.
        key: ActorKey,
    },
    /// Send these snapshots to `to` as one `Migrate` batch (again, if it is a retry).
    SendBatch {
        /// The target.
        to: NodeName,
        /// The batch number (the target acknowledges it).
        batch: BatchId,
        /// The actors in the batch.
        keys: Vec<ActorKey>,
    },
    /// `to` runs `key` now: forward its buffered messages there, in order, then redirect.
    Moved {
        /// The actor.
        key: ActorKey,
        /// Its new host.
        to: NodeName,
    },
    /// `key` stays here after all (the view changed back, or it has nowhere to go): start
    /// it again from its snapshot and deliver its buffered messages.
    RestoreLocal {
        /// The actor.
        key: ActorKey,
        /// Its owner refused it (it lacks the kind), so it stays here by design (counted
        /// as a refusal), not as a fallback.
        refused: bool,
    },
    /// Send `HandoffsDone(view)` to `to`.
    SendDone {
        /// The peer.
        to: NodeName,
        /// The view.
        view: ViewId,
    },
    /// Send `ViewAdopted(view)` again to `adopted` and `HandoffsDone(view)` again to
    /// `done`: the node is still waiting for its barrier, and a marker sent while a peer's
    /// session was not ready yet was lost (markers are idempotent).
    Remind {
        /// The view.
        view: ViewId,
        /// Peers that have not said their handoffs are done (so may lack our adoption).
        adopted: Vec<NodeName>,
        /// Peers this node already said its handoffs are done to.
        done: Vec<NodeName>,
    },
    /// Send `HandoffsBusy` to each of `to`: actors are still on their way there.
    Busy {
        /// The peers.
        to: Vec<NodeName>,
    },
    /// This node is settled for the current view (or gave up waiting): release everything
    /// parked.
    Settled {
        /// True when it settled by deadline rather than by hearing from everyone.
        by_deadline: bool,
    },
}

/// Whether a message may be delivered now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Handle it as usual.
    Deliver,
    /// Keep it until the node settles.
    Park,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    /// Arrived by handoff but owned elsewhere: it moves on once this node settles (so that
    /// everything its previous host forwards reaches it first).
    Waiting,
    Draining,
    /// It exited and its final state is being snapshotted: no kill is due (the executor
    /// bounds the snapshot by the deadline itself and reports a fallback).
    Snapshotting,
    Ready(usize),
    InFlight(BatchId),
}

#[derive(Clone, Debug)]
struct Out {
    to: NodeName,
    phase: Phase,
    since: Millis,
}

#[derive(Clone, Debug)]
struct Batch {
    keys: Vec<ActorKey>,
    sizes: Vec<usize>,
    sent_at: Millis,
}

/// Counters of the handoff machinery.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandoffStats {
    /// Actors moved out and acknowledged.
    pub moved_out: u64,
    /// Batches sent again after a missed deadline.
    pub retries: u64,
    /// Drains that missed the deadline (the actor was killed; it restarts from arguments).
    pub forced_stops: u64,
    /// Actors restored here after a handoff could not go anywhere.
    pub restored_locally: u64,
    /// Times the node settled by deadline instead of by barrier.
    pub settled_by_deadline: u64,
    /// Actors a target refused (it lacks their kind): kept here or handed on.
    pub refused: u64,
}

/// The per-node handoff state machine (see the module docs).
#[derive(Debug)]
pub struct HandoffCore {
    me: NodeName,
    config: HandoffConfig,
    view: ViewId,
    participants: BTreeSet<NodeName>,
    view_since: Millis,
    adopted: BTreeSet<NodeName>,
    done_from: BTreeSet<NodeName>,
    done_sent: BTreeSet<NodeName>,
    /// The latest view each peer said it adopted / finished: markers can arrive before this
    /// node adopts the same view.
    adopted_views: BTreeMap<NodeName, ViewId>,
    done_views: BTreeMap<NodeName, ViewId>,
    settled: bool,
    out: BTreeMap<ActorKey, Out>,
    ready: BTreeMap<NodeName, VecDeque<(ActorKey, usize)>>,
    inflight: BTreeMap<NodeName, BTreeMap<BatchId, Batch>>,
    next_batch: BatchId,
    incoming: BTreeMap<ActorKey, NodeName>,
    commands: VecDeque<HandoffCommand>,
    stats: HandoffStats,
    /// The placement of the current view (owners of names that arrive later).
    placement: Option<Placement>,
    leaving: bool,
    /// Per name hosted or moving here: the nodes that refused it (they lack its kind; see
    /// `target`); forgotten when it leaves this node or stops, and a node's refusals
    /// when that node goes.
    refusals: BTreeMap<ActorKey, BTreeSet<NodeName>>,
    /// When each peer last said it still has actors on their way here (`HandoffsBusy`).
    busy_from: BTreeMap<NodeName, Millis>,
    /// The latest time an input carried.
    now: Millis,
}

impl HandoffCore {
    /// Records the sizes of the handoff machine's tables (see [`crate::core::footprint`]).
    pub fn footprint(&self, f: &mut crate::core::Footprint) {
        f.add("handoff.out", self.out.len());
        f.add(
            "handoff.ready",
            self.ready.values().map(VecDeque::len).sum(),
        );
        f.add(
            "handoff.inflight",
            self.inflight.values().map(BTreeMap::len).sum(),
        );
        f.add("handoff.incoming", self.incoming.len());
        f.add("handoff.refusals", self.refusals.len());
        f.add("handoff.participants", self.participants.len());
        f.add(
            "handoff.peer_views",
            self.adopted_views.len() + self.done_views.len(),
        );
        f.add(
            "handoff.peer_marks",
            self.adopted.len() + self.done_from.len() + self.done_sent.len(),
        );
        f.add("handoff.busy_from", self.busy_from.len());
    }

    /// A node alone in its view (settled).
    pub fn new(me: NodeName, config: HandoffConfig) -> Self {
        Self {
            me,
            config,
            view: ViewId::default(),
            participants: BTreeSet::new(),
            view_since: Millis(0),
            adopted: BTreeSet::new(),
            done_from: BTreeSet::new(),
            done_sent: BTreeSet::new(),
            adopted_views: BTreeMap::new(),
            done_views: BTreeMap::new(),
            settled: true,
            out: BTreeMap::new(),
            ready: BTreeMap::new(),
            inflight: BTreeMap::new(),
            next_batch: 1,
            incoming: BTreeMap::new(),
            commands: VecDeque::new(),
            stats: HandoffStats::default(),
            placement: None,
            leaving: false,
            refusals: BTreeMap::new(),
            busy_from: BTreeMap::new(),
            now: Millis(0),
        }
    }

    /// The current view.
    pub fn view(&self) -> ViewId {
        self.view
    }

    /// True when every participant of the current view said its handoffs are done.
    pub fn is_settled(&self) -> bool {
        self.settled
    }

    /// True when `node` takes part in the current view's barriers.
    pub fn is_participant(&self, node: &NodeName) -> bool {
        self.participants.contains(node)
    }

    /// Actors on their way out of this node.
    pub fn moving_out(&self) -> usize {
        self.out.len()
    }

    /// True when `key` is on its way out.
    pub fn is_moving(&self, key: &ActorKey) -> bool {
        self.out.contains_key(key)
    }

    /// Where `key` is going, if it is on its way out.
    pub fn target_of(&self, key: &ActorKey) -> Option<&NodeName> {
        self.out.get(key).map(|o| &o.to)
    }

    /// Whether a node refused `key` (it lacks its kind), so that `key` may run here
    /// although another node owns it (registered with that owner, its directory node).
    pub fn was_refused(&self, key: &ActorKey) -> bool {
        self.refusals.contains_key(key)
    }

    /// `key` stays here because its owner refused it (not as a fallback).
    fn stays_refused(&self, key: &ActorKey) -> bool {
        let owner = (self.placement.as_ref()).and_then(|p| p.owner_of(key));
        (self.refusals.get(key)).is_some_and(|r| owner.is_some_and(|o| r.contains(o)))
    }

    /// `key` stopped here for good: its refusals are forgotten.
    pub fn forget(&mut self, key: &ActorKey) {
        self.refusals.remove(key);
    }

    /// The nodes that refused `key` (they travel with it, so that its next host does not
    /// ask them again).
    pub fn refused_by(&self, key: &ActorKey) -> Vec<NodeName> {
        (self.refusals.get(key).into_iter().flatten())
            .cloned()
            .collect()
    }

    /// `key` arrived here with the nodes that refused it on its way (`nodes`, members of
    /// the view only: a refusal is forgotten when its node goes).
    pub fn note_refusals(&mut self, key: &ActorKey, nodes: impl IntoIterator<Item = NodeName>) {
        let nodes: BTreeSet<NodeName> = nodes.into_iter().filter(|n| *n != self.me).collect();
        if !nodes.is_empty() {
            self.refusals.entry(key.clone()).or_default().extend(nodes);
        }
    }

    /// Where `key` goes in `placement`: its owner; never `gone`, nor this node when it is
    /// leaving. A name some node refused (it lacks the kind) goes to its owner only if the
    /// owner did not refuse it; otherwise it stays where it runs, and only a node that is
    /// leaving hands it on, to the first node of its ranking that did not refuse it. (Two
    /// nodes with the kind must not pass a refused name back and forth whenever the
    /// ranking below its owner changes.) `None`: nowhere (it stays or is restored here).
    fn target(
        &self,
        placement: &Placement,
        key: &ActorKey,
        gone: Option<&NodeName>,
    ) -> Option<NodeName> {
        let usable = |n: &NodeName| Some(n) != gone && (*n != self.me || !self.leaving);
        let owner = placement.owner_of(key).filter(|o| usable(o));
        match self.refusals.get(key) {
            None => owner.cloned(),
            Some(refused) => match owner.filter(|o| !refused.contains(*o)) {
                Some(owner) => Some(owner.clone()),
                // It stays where it runs.
                None if !self.leaving => Some(self.me.clone()),
                None => {
                    (placement.ranked(key).into_iter()).find(|n| usable(n) && !refused.contains(n))
                }
            },
        }
    }

    /// Counters.
    pub fn stats(&self) -> HandoffStats {
        self.stats
    }

    /// The next command, if any.
    pub fn poll_command(&mut self) -> Option<HandoffCommand> {
        self.commands.pop_front()
    }

    /// A new view: `placement` decides owners, `participants` are the peers that take part
    /// in its barriers (the members, plus nodes that are leaving but still connected), and
    /// `hosted` lists the actors running here with their modes. With `leaving`, this node
    /// is not in `placement` and everything it hosts moves, `Stay` included.
    pub fn handle_view(
        &mut self,
        view: ViewId,
        placement: &Placement,
        participants: BTreeSet<NodeName>,
        hosted: impl IntoIterator<Item = (ActorKey, HandoffMode)>,
        leaving: bool,
        now: Millis,
    ) {
        self.now = now;
        self.view = view;
        self.participants = participants;
        self.participants.remove(&self.me);
        self.view_since = now;
        self.adopted = self
            .participants
            .iter()
            .filter(|p| self.adopted_views.get(*p) == Some(&view))
            .cloned()
            .collect();
        self.done_from = self
            .participants
            .iter()
            .filter(|p| self.done_views.get(*p) == Some(&view))
            .cloned()
            .collect();
        self.done_sent.clear();
        self.settled = false;
        self.placement = Some(placement.clone());
        self.leaving = leaving;
        self.commands.push_back(HandoffCommand::Announce { view });

        // Re-target handoffs in progress.
        let keys: Vec<ActorKey> = self.out.keys().cloned().collect();
        for key in keys {
            let owner = self.target(placement, &key, None);
            let Some(out) = self.out.get_mut(&key) else {
                continue;
            };
            match (&out.phase, owner) {
                // In flight: the old target may already run it; wait for its answer.
                (Phase::InFlight(_), _) => {}
                (_, Some(owner)) if owner == out.to => {}
                (Phase::Waiting, Some(owner)) if owner == self.me => {
                    self.out.remove(&key);
                }
                (Phase::Waiting, Some(owner)) => out.to = owner,
                (Phase::Waiting, None) => {}
                (Phase::Draining | Phase::Snapshotting, Some(owner)) => out.to = owner,
                (Phase::Draining | Phase::Snapshotting, None) => {}
                (Phase::Ready(size), Some(owner)) => {
                    let size = *size;
                    let from = out.to.clone();
                    out.to = owner.clone();
                    if let Some(q) = self.ready.get_mut(&from) {
                        q.retain(|(k, _)| *k != key);
                    }
                    if owner == self.me {
                        self.out.remove(&key);
                        self.stats.restored_locally += 1;
                        let refused = self.stays_refused(&key);
                        self.commands
                            .push_back(HandoffCommand::RestoreLocal { key, refused });
                    } else {
                        self.ready.entry(owner).or_default().push_back((key, size));
                    }
                }
                (Phase::Ready(_), None) => {}
            }
        }

        // Start new handoffs.
        for (key, mode) in hosted {
            if self.out.contains_key(&key) || (mode == HandoffMode::Stay && !leaving) {
                continue;
            }
            let Some(owner) = self.target(placement, &key, None) else {
                continue;
            };
            if owner == self.me {
                continue;
            }
            self.out.insert(
                key.clone(),
                Out {
                    to: owner.clone(),
                    phase: Phase::Draining,
                    since: now,
                },
            );
            self.commands.push_back(HandoffCommand::Drain {
                key,
                to: owner.clone(),
            });
        }
        let targets: Vec<NodeName> = self.ready.keys().cloned().collect();
        for t in targets {
            self.try_send(&t, now);
        }
        self.maybe_done();
        self.maybe_settle();
    }

    /// `peer` takes part in the current view's barriers from now on: a node that leaves,
    /// met after the view began (it never entered this node's view, so no view change made
    /// it a participant). It is told this node adopted the view, waits for this node's
    /// `HandoffsDone`, and, until this node settled, is waited for (its names come here).
    pub fn add_participant(&mut self, peer: &NodeName) {
        if *peer == self.me || !self.participants.insert(peer.clone()) {
            return;
        }
        if self.adopted_views.get(peer) == Some(&self.view) {
            self.adopted.insert(peer.clone());
        }
        if !self.settled && self.done_views.get(peer) == Some(&self.view) {
            self.done_from.insert(peer.clone());
        }
        self.commands.push_back(HandoffCommand::Remind {
            view: self.view,
            adopted: vec![peer.clone()],
            done: Vec::new(),
        });
        self.maybe_done();
    }

    /// The participants of the current view whose `HandoffsDone` did not arrive (what a
    /// barrier settled by deadline missed).
    pub fn not_done(&self) -> Vec<NodeName> {
        (self.participants.iter())
            .filter(|p| !self.done_from.contains(*p))
            .cloned()
            .collect()
    }

    fn maybe_settle(&mut self) {
        if !self.settled && self.participants.iter().all(|p| self.done_from.contains(p)) {
            self.settle(false);
        }
    }

    fn settle(&mut self, by_deadline: bool) {
        self.settled = true;
        self.incoming.clear();
        if by_deadline {
            self.stats.settled_by_deadline += 1;
        }
        self.commands
            .push_back(HandoffCommand::Settled { by_deadline });
        // Actors that arrived here on their way elsewhere move on now.
        let now = self.now;
        for (key, out) in self.out.iter_mut() {
            if out.phase == Phase::Waiting {
                out.phase = Phase::Draining;
                out.since = now;
                self.commands.push_back(HandoffCommand::Drain {
                    key: key.clone(),
                    to: out.to.clone(),
                });
            }
        }
    }

    /// The draining actor `key` exited and its final state is being snapshotted: it is not
    /// force-stopped any more ([`HandoffCore::handle_drained`] follows).
    pub fn handle_exited(&mut self, key: &ActorKey) {
        if let Some(out) = self.out.get_mut(key).filter(|o| o.phase == Phase::Draining) {
            out.phase = Phase::Snapshotting;
        }
    }

    /// `key` has nothing to drain (the state kept of a passivated name, `size` bytes in a
    /// batch): it is ready to go to `to`. Called before [`HandoffCore::handle_view`] of the
    /// view that moves it (which sends it), so that this node's barrier waits for it.
    pub fn handle_at_rest(&mut self, key: ActorKey, to: NodeName, size: usize, now: Millis) {
        if self.out.contains_key(&key) || to == self.me {
            return;
        }
        self.out.insert(
            key.clone(),
            Out {
                to: to.clone(),
                phase: Phase::Ready(size),
                since: now,
            },
        );
        self.ready.entry(to).or_default().push_back((key, size));
    }

    /// As [`HandoffCore::handle_at_rest`], outside a view change: sent at once (the
    /// barrier of the current view may be behind it already).
    pub fn handle_at_rest_now(&mut self, key: ActorKey, to: NodeName, size: usize, now: Millis) {
        self.now = now;
        self.handle_at_rest(key, to.clone(), size, now);
        self.try_send(&to, now);
    }

    /// The executor drained `key` (its snapshot is `size` bytes; 0 without state).
    pub fn handle_drained(&mut self, key: &ActorKey, size: usize, now: Millis) {
        self.handle_drained_all([(key.clone(), size)], now);
    }

    /// The executor drained these actors at once (each with its snapshot's size): they
    /// leave in as few batches as `batch_bytes` allows. (Told one at a time, the first
    /// ones would leave alone, filling the window with one-actor batches, each a round of
    /// work for the target, while the rest wait for acknowledgements.)
    pub fn handle_drained_all(
        &mut self,
        drained: impl IntoIterator<Item = (ActorKey, usize)>,
        now: Millis,
    ) {
        self.now = now;
        let mut targets = BTreeSet::new();
        for (key, size) in drained {
            let Some(out) = self.out.get_mut(&key) else {
                continue;
            };
            if !matches!(out.phase, Phase::Draining | Phase::Snapshotting) {
                continue;
            }
            if out.to == self.me {
                self.out.remove(&key);
                self.stats.restored_locally += 1;
                // A name its owner refused stays here by design (see `stays_refused`).
                let refused = self.stays_refused(&key);
                self.commands
                    .push_back(HandoffCommand::RestoreLocal { key, refused });
                self.maybe_done();
                continue;
            }
            out.phase = Phase::Ready(size);
            out.since = now;
            let to = out.to.clone();
            self.ready
                .entry(to.clone())
                .or_default()
                .push_back((key, size));
            targets.insert(to);
        }
        for to in targets {
            self.try_send(&to, now);
        }
    }

    fn try_send(&mut self, to: &NodeName, now: Millis) {
        loop {
            let inflight = self.inflight.get(to).map_or(0, BTreeMap::len);
            if inflight >= self.config.max_inflight {
                return;
            }
            let Some(queue) = self.ready.get_mut(to) else {
                return;
            };
            if queue.is_empty() {
                return;
            }
            let mut keys = Vec::new();
            let mut sizes = Vec::new();
            let mut bytes = 0usize;
            while let Some((key, size)) = queue.front() {
                if !keys.is_empty() && bytes + size > self.config.batch_bytes {
                    break;
                }
                bytes += size;
                keys.push(key.clone());
                sizes.push(*size);
                queue.pop_front();
            }
            let batch = self.next_batch_id();
            for key in &keys {
                if let Some(out) = self.out.get_mut(key) {
                    out.phase = Phase::InFlight(batch);
                    out.since = now;
                }
            }
            self.inflight.entry(to.clone()).or_default().insert(
                batch,
                Batch {
                    keys: keys.clone(),
                    sizes,
                    sent_at: now,
                },
            );
            self.commands.push_back(HandoffCommand::SendBatch {
                to: to.clone(),
                batch,
                keys,
            });
        }
    }

    /// A batch number of its own for a copy sent outside the batches this machine tracks
    /// (a conflicting copy following ours): its acknowledgement is ignored.
    pub fn next_batch_id(&mut self) -> BatchId {
        let batch = self.next_batch;
        self.next_batch += 1;
        batch
    }

    /// `key` is on its way in `batch` (sent, not acknowledged yet).
    pub fn in_flight_in(&self, key: &ActorKey, batch: BatchId) -> bool {
        self.out
            .get(key)
            .is_some_and(|o| o.phase == Phase::InFlight(batch))
    }

    /// `from` acknowledged a batch: its actors run there now, except those it `refused`
    /// (it lacks their kind): those go to the next node of their ranking that did not
    /// refuse them, or are restored here.
    pub fn handle_ack(
        &mut self,
        from: &NodeName,
        batch: BatchId,
        refused: &[ActorKey],
        now: Millis,
    ) {
        self.now = now;
        let Some(b) = self.inflight.get_mut(from).and_then(|m| m.remove(&batch)) else {
            return;
        };
        let refused: BTreeSet<&ActorKey> = refused.iter().collect();
        let mut targets = BTreeSet::from([from.clone()]);
        for (key, size) in b.keys.into_iter().zip(b.sizes) {
            if !self
                .out
                .get(&key)
                .is_some_and(|o| o.phase == Phase::InFlight(batch))
            {
                continue;
            }
            if !refused.contains(&key) {
                self.out.remove(&key);
                self.refusals.remove(&key);
                self.stats.moved_out += 1;
                self.commands.push_back(HandoffCommand::Moved {
                    key,
                    to: from.clone(),
                });
                continue;
            }
            self.stats.refused += 1;
            self.refusals
                .entry(key.clone())
                .or_default()
                .insert(from.clone());
            let next = (self.placement.as_ref()).and_then(|p| self.target(p, &key, None));
            match (next, self.out.get_mut(&key)) {
                (Some(to), Some(out)) if to != self.me => {
                    out.to = to.clone();
                    out.phase = Phase::Ready(size);
                    out.since = now;
                    self.ready
                        .entry(to.clone())
                        .or_default()
                        .push_back((key, size));
                    targets.insert(to);
                }
                _ => {
                    self.out.remove(&key);
                    self.stats.restored_locally += 1;
                    self.commands
                        .push_back(HandoffCommand::RestoreLocal { key, refused: true });
                }
            }
        }
        for to in targets {
            self.try_send(&to, now);
        }
        self.maybe_done();
    }

    /// `from` adopted `view`.
    pub fn handle_view_adopted(&mut self, from: &NodeName, view: ViewId) {
        self.adopted_views.insert(from.clone(), view);
        // A newer adoption voids the peer's earlier `HandoffsDone`: view ids can repeat (a
        // join then a leave), and a stale one must not settle a later view.
        if self.done_views.get(from) != Some(&view) {
            self.done_views.remove(from);
        }
        if view == self.view {
            self.adopted.insert(from.clone());
            self.maybe_done();
        }
    }

    /// Whether this node's barrier is waiting for a source that said, within the last
    /// deadline, that it still has actors on their way here (and the patience has not run
    /// out): messages it parked for names it owns and does not run may be for those.
    pub fn waits_for_busy(&self, now: Millis) -> bool {
        !self.settled
            && now.since(self.view_since) <= self.config.patience_ms
            && (self.participants.iter())
                .filter(|p| !self.done_from.contains(*p))
                .any(|p| {
                    (self.busy_from.get(p))
                        .is_some_and(|t| now.since(*t) <= self.config.deadline_ms)
                })
    }

    /// How long a barrier waits at most for a busy source (see [`HandoffConfig`]).
    pub fn patience_ms(&self) -> u64 {
        self.config.patience_ms
    }

    /// `from` still has actors on their way here: while it keeps saying so, this node's
    /// barrier waits for it past the deadline (up to `patience_ms`).
    pub fn handle_busy(&mut self, from: &NodeName, now: Millis) {
        if self.participants.contains(from) {
            self.busy_from.insert(from.clone(), now);
        }
    }

    /// `from` finished its handoffs for `view`.
    pub fn handle_done(&mut self, from: &NodeName, view: ViewId) {
        self.done_views.insert(from.clone(), view);
        if view != self.view {
            return;
        }
        self.done_from.insert(from.clone());
        // `incoming` is kept until the node settles: releasing one source's names early
        // would let new messages overtake the ones already parked for them.
        self.maybe_settle();
    }

    /// `key` (of `mode`) arrived here by handoff from `from`. If the current view gives it
    /// to another node (the source moved it under an older view, or was leaving), it is
    /// handed on at once, before this node tells that owner its handoffs are done.
    pub fn handle_migrated_in(
        &mut self,
        from: &NodeName,
        key: ActorKey,
        mode: HandoffMode,
        now: Millis,
    ) {
        if !self.settled {
            self.incoming.insert(key.clone(), from.clone());
        }
        if mode == HandoffMode::Stay && !self.leaving {
            return;
        }
        let owner = (self.placement.as_ref()).and_then(|p| self.target(p, &key, None));
        // Never straight back to where it came from (that node is handing it off), unless
        // this node is leaving and has nowhere else to put it.
        if let Some(owner) = owner.filter(|o| *o != self.me && (o != from || self.leaving)) {
            self.hand_on(key, owner, now);
        }
    }

    /// Two live copies of `key` (of `mode`) met here and the one here survives; the view has
    /// been quiet since (see `Engine::hand_on_resolved`). Copies meet where one of them
    /// runs, which need not be the name's owner (a copy yields to the node another
    /// registered copy runs on): if the current view gives `key` to another node, the
    /// survivor goes there, as a name that arrived on its way elsewhere does (once this
    /// node settles). Without this it ran off its owner until the next view change, and
    /// nodes named different hosts for it.
    pub fn handle_resolved(&mut self, key: ActorKey, mode: HandoffMode, now: Millis) {
        if mode == HandoffMode::Stay && !self.leaving {
            return;
        }
        let owner = (self.placement.as_ref()).and_then(|p| self.target(p, &key, None));
        if let Some(owner) = owner.filter(|o| *o != self.me) {
            self.hand_on(key, owner, now);
        }
    }

    /// `key`, running here, goes on to `owner`: at once when this node has settled, else
    /// once it does.
    fn hand_on(&mut self, key: ActorKey, owner: NodeName, now: Millis) {
        self.now = now;
        if self.out.contains_key(&key) {
            return;
        }
        let phase = if self.settled {
            Phase::Draining
        } else {
            Phase::Waiting
        };
        self.out.insert(
            key.clone(),
            Out {
                to: owner.clone(),
                phase: phase.clone(),
                since: now,
            },
        );
        if phase == Phase::Draining {
            self.commands
                .push_back(HandoffCommand::Drain { key, to: owner });
        }
    }

    /// Whether a message for `key` from `sender` (`None`: a local sender) may be handled
    /// now. `hosted` says whether `key` runs here, `owned` whether this node owns it.
    pub fn admit(
        &self,
        key: &ActorKey,
        sender: Option<&NodeName>,
        hosted: bool,
        owned: bool,
    ) -> Admission {
        // A peer outside this node's view routes by a view this node has not adopted yet
        // (a newcomer hears from the others before it sees them): wait for the next view.
        if sender.is_some_and(|s| !self.participants.contains(s)) {
            return Admission::Park;
        }
        if self.settled {
            return Admission::Deliver;
        }
        if hosted {
            return match self.incoming.get(key) {
                Some(source) if Some(source) != sender => Admission::Park,
                _ => Admission::Deliver,
            };
        }
        if owned {
            Admission::Park
        } else {
            Admission::Deliver
        }
    }

    /// The nodes actors here are on their way to: each one's target, and its owner in
    /// the current view when that differs (a name sent by an older view goes on from its
    /// target). Neither hears `HandoffsDone` from this node before the actor is
    /// acknowledged, and both hear `HandoffsBusy` every tick until then.
    fn busy_toward(&self) -> BTreeSet<NodeName> {
        let placement = self.placement.as_ref();
        (self.out.iter())
            .flat_map(|(key, o)| {
                let owner = placement.and_then(|p| p.owner_of(key));
                [Some(&o.to), owner.filter(|w| **w != o.to)]
            })
            .flatten()
            .filter(|n| **n != self.me)
            .cloned()
            .collect()
    }

    fn maybe_done(&mut self) {
        if !self.participants.iter().all(|p| self.adopted.contains(p)) {
            return;
        }
        let busy = self.busy_toward();
        for peer in self.participants.clone() {
            if !busy.contains(&peer) && self.done_sent.insert(peer.clone()) {
                self.commands.push_back(HandoffCommand::SendDone {
                    to: peer,
                    view: self.view,
                });
            }
        }
    }

    /// Checks deadlines: stuck drains are forced, unacknowledged batches are sent again,
    /// barriers that do not complete are given up on.
    pub fn handle_tick(&mut self, now: Millis) {
        self.now = now;
        let deadline = self.config.deadline_ms;
        if !self.settled && now > self.view_since {
            let adopted: Vec<NodeName> = self
                .participants
                .iter()
                .filter(|p| !self.done_from.contains(*p))
                .cloned()
                .collect();
            let done: Vec<NodeName> = self.done_sent.iter().cloned().collect();
            if !adopted.is_empty() || !done.is_empty() {
                self.commands.push_back(HandoffCommand::Remind {
                    view: self.view,
                    adopted,
                    done,
                });
            }
        }
        // The targets of the actors on their way are told this node is busy with them
        // (their barriers wait for a live source), those waiting here for this node's own
        // settle included: a leaving node that holds a name for a newcomer must keep the
        // newcomer waiting for it (leaving them out, the slow-network simulation's seeds
        // 38 and 51 lose casts). Two nodes that each hold one for the other, each waiting
        // for the other's word, wait for each other up to the patience (four deadlines).
        // A name sent by an older view to a node that no longer owns it (the batch was on
        // its way when the view changed) goes on to its owner from there: that owner is
        // told too, or it would settle by deadline and drop the casts it parked for the
        // name (slow-network simulation, seed 1703).
        let busy = self.busy_toward();
        if !busy.is_empty() {
            self.commands.push_back(HandoffCommand::Busy {
                to: busy.into_iter().collect(),
            });
        }
        let stuck: Vec<ActorKey> = self
            .out
            .iter()
            .filter(|(_, o)| o.phase == Phase::Draining && now.since(o.since) > deadline)
            .map(|(k, _)| k.clone())
            .collect();
        for key in stuck {
            if let Some(o) = self.out.get_mut(&key) {
                o.since = now;
            }
            self.stats.forced_stops += 1;
            self.commands.push_back(HandoffCommand::ForceStop { key });
        }
        let mut resend = Vec::new();
        for (to, batches) in &mut self.inflight {
            for (id, b) in batches.iter_mut() {
                if now.since(b.sent_at) > deadline {
                    b.sent_at = now;
                    resend.push(HandoffCommand::SendBatch {
                        to: to.clone(),
                        batch: *id,
                        keys: b.keys.clone(),
                    });
                }
            }
        }
        self.stats.retries += resend.len() as u64;
        self.commands.extend(resend);
        if now.since(self.view_since) > deadline {
            // Give up on peers that never adopted the view or never finished.
            let missing: Vec<NodeName> = self
                .participants
                .iter()
                .filter(|p| !self.adopted.contains(*p))
                .cloned()
                .collect();
            self.adopted.extend(missing);
            self.maybe_done();
            // A source that said it is busy within the last deadline is slow, not stuck:
            // waited for, up to the patience.
            if !self.settled && !self.waits_for_busy(now) {
                self.settle(true);
            }
        }
    }

    /// Another live copy of `key` runs on `to` (two copies met after a partition healed,
    /// and this one would not move by itself, e.g. a `Stay` actor): hand this one over
    /// there, where the two are resolved by the kind's conflict policy.
    pub fn handle_yield(&mut self, key: ActorKey, to: NodeName, now: Millis) {
        if self.out.contains_key(&key) || to == self.me {
            return;
        }
        self.now = now;
        self.out.insert(
            key.clone(),
            Out {
                to: to.clone(),
                phase: Phase::Draining,
                since: now,
            },
        );
        self.commands.push_back(HandoffCommand::Drain { key, to });
    }

    /// `key` stopped by itself while it was being handed off: forget it.
    pub fn handle_gone(&mut self, key: &ActorKey) {
        self.refusals.remove(key);
        if let Some(out) = self.out.remove(key) {
            if let Some(q) = self.ready.get_mut(&out.to) {
                q.retain(|(k, _)| k != key);
            }
            self.maybe_done();
        }
    }

    /// True when every participant has been sent `HandoffsDone` for the current view and
    /// nothing is on its way out (what a leaving node waits for).
    pub fn is_quiescent(&self) -> bool {
        self.settled
            && self.out.is_empty()
            && self.participants.iter().all(|p| self.done_sent.contains(p))
    }

    /// A peer left for good: forget batches in flight to it (their actors go back to
    /// `Ready` and are re-targeted by the next [`HandoffCore::handle_view`]).
    pub fn handle_peer_gone(&mut self, peer: &NodeName) {
        // Its refusals are forgotten: it may come back with the kind.
        self.refusals.retain(|_, refused| {
            refused.remove(peer);
            !refused.is_empty()
        });
        let mut orphans: Vec<(ActorKey, usize)> = Vec::new();
        if let Some(batches) = self.inflight.remove(peer) {
            for (_, b) in batches {
                for (key, size) in b.keys.into_iter().zip(b.sizes) {
                    if self.out.contains_key(&key) {
                        orphans.push((key, size));
                    }
                }
            }
        }
        if let Some(queue) = self.ready.remove(peer) {
            orphans.extend(queue);
        }
        // Re-target at once (the next view may be far away): to the owner in the current
        // placement, or back here.
        let now = self.now;
        for (key, size) in orphans {
            let owner = (self.placement.as_ref()).and_then(|p| self.target(p, &key, Some(peer)));
            match owner {
                Some(owner) if owner != self.me => {
                    if let Some(out) = self.out.get_mut(&key) {
                        out.to = owner.clone();
                        out.phase = Phase::Ready(size);
                        out.since = now;
                    }
                    self.ready.entry(owner).or_default().push_back((key, size));
                }
                _ => {
                    self.out.remove(&key);
                    self.stats.restored_locally += 1;
                    let refused = self.stays_refused(&key);
                    self.commands
                        .push_back(HandoffCommand::RestoreLocal { key, refused });
                }
            }
        }
        // Draining actors bound for the departed peer follow the same rule once drained.
        let me = self.me.clone();
        let bound: Vec<ActorKey> = (self.out.iter())
            .filter(|(_, out)| out.to == *peer)
            .map(|(key, _)| key.clone())
            .collect();
        for key in bound {
            let to = (self.placement.as_ref())
                .and_then(|p| self.target(p, &key, Some(peer)))
                .unwrap_or_else(|| me.clone());
            if let Some(out) = self.out.get_mut(&key) {
                out.to = to;
            }
        }
        self.out
            .retain(|_, o| !(o.phase == Phase::Waiting && o.to == me));
        self.participants.remove(peer);
        self.adopted.remove(peer);
        self.adopted_views.remove(peer);
        self.done_views.remove(peer);
        self.busy_from.remove(peer);
        let targets: Vec<NodeName> = self.ready.keys().cloned().collect();
        for t in targets {
            self.try_send(&t, now);
        }
        self.maybe_done();
        self.maybe_settle();
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod mode_tests {
    use super::HandoffMode;

    #[test]
    fn what_a_stopping_actor_owes_its_move_depends_on_its_mode() {
        for (mode, carries, without) in [
            (HandoffMode::Restart, false, false),
            (HandoffMode::Resume, true, false),
            (HandoffMode::Stay, true, true),
        ] {
            assert_eq!(mode.carries_state(), carries, "{mode:?}");
            assert_eq!(mode.moves_without_state(), without, "{mode:?}");
        }
    }
}
