//! The node's protocol engine: one value that composes every machine of the core (the mesh,
//! routing, handoffs, hold queues, `Migrate` reception and recovery) with the tables they
//! share (the names hosted here, the actors moving away, copies that met ours), and answers
//! the questions the node layer asks before it acts (where does this message go, may it be
//! handled now, what does this node host).
//!
//! Like every machine here it is sans-IO: time comes in as [`Millis`], actors are named by
//! [`ChildId`]s the node layer maps to its actor cells, and kinds by their registered names
//! with the few facts the protocol needs ([`KindInfo`]).

mod children;
mod dispatch;
mod flow;
mod frames;
mod known;
mod lifecycle;
mod moves;
mod order;
mod passivate;
mod recover;
#[cfg(test)]
mod sim;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

pub use children::{Child, ChildId, KindInfo, Outgoing};
pub(crate) use dispatch::on_demand_parts;
pub(crate) use dispatch::{lookup_answer, not_here, Asks, Dispatch, Unsent};
pub(crate) use flow::Command;
pub(crate) use frames::{Arriving, Note};
pub use lifecycle::Exit;
pub(crate) use lifecycle::{ExitPlan, SpawnDecision};
pub(crate) use moves::MigrateOutcome;
pub use moves::{Arrival, DrainedExit, Restore};
pub(crate) use order::Sequenced;
pub use recover::Respawned;

use crate::core::config::DistConfig;
use crate::core::handoff::inbound::{Inbound, InboundLimits};
use crate::core::hold::{Held, MsgId};
use crate::core::recovery::{Hosted, RecoveryConfig, RespawnStart};
use crate::core::wire::MigrateEntry;
use crate::core::{
    ActorKey, Admission, Context, Decision, Facts, HandoffConfig, HandoffCore, HandoffMode, Hello,
    HoldConfig, HoldQueues, Mesh, Millis, NodeName, Placement, Recovery, Residence, Routing,
    Snapshot, Timing,
};

/// Incoming batches whose superseded names are kept for a resent batch's acknowledgement.
pub(crate) const ANSWERS_KEPT: usize = 1024;

/// The names an incoming batch's acknowledgement names (see `FrameBody::MigrateAck`).
#[derive(Clone, Debug, Default)]
pub(crate) struct AckNames {
    /// Their arriving copy lost a conflict to the one running here.
    pub(crate) superseded: Vec<ActorKey>,
    /// Their kind is not registered here: they did not start.
    pub(crate) refused: Vec<ActorKey>,
}

/// What the acknowledgements of the last [`ANSWERS_KEPT`] incoming batches named, the
/// oldest forgotten first; a peer's go when it goes (a restarted one numbers its batches
/// from 1 again).
#[derive(Debug, Default)]
pub(crate) struct Answers {
    names: HashMap<(NodeName, u64), AckNames>,
    order: VecDeque<(NodeName, u64)>,
}

impl Answers {
    /// The names of `batch` from `from`, made room for when new.
    pub(crate) fn entry(&mut self, from: &NodeName, batch: u64) -> &mut AckNames {
        let id = (from.clone(), batch);
        if !self.names.contains_key(&id) {
            while self.names.len() >= ANSWERS_KEPT {
                let Some(oldest) = self.order.pop_front() else {
                    break;
                };
                self.names.remove(&oldest);
            }
            self.order.push_back(id.clone());
        }
        self.names.entry(id).or_default()
    }

    /// What the acknowledgement of `batch` from `from` names.
    pub(crate) fn get(&self, from: &NodeName, batch: u64) -> Option<&AckNames> {
        self.names.get(&(from.clone(), batch))
    }

    /// `peer` went: its batches' answers go.
    pub(crate) fn forget_peer(&mut self, peer: &NodeName) {
        self.names.retain(|(n, _), _| n != peer);
        self.order.retain(|(n, _)| n != peer);
    }

    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }
}

/// What the engine is built from (see `DistConfig`).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// This node, as it introduces itself.
    pub hello: Hello,
    /// Addresses to dial at start.
    pub seeds: Vec<String>,
    /// Every wait of the protocol.
    pub timing: Timing,
    /// The largest frame a peer accepts.
    pub max_frame_bytes: usize,
    /// Hold queue caps.
    pub hold: HoldConfig,
    /// How many nodes keep each name's spec (the host included).
    pub replicas: usize,
    /// Restarts of a failing actor allowed within `restart_window_ms`.
    pub restart_limit: u32,
    /// The window of `restart_limit`.
    pub restart_window_ms: u64,
    /// The kinds registered on this node, by name.
    pub kinds: BTreeMap<String, KindInfo>,
    /// The most actors of on-demand kinds active here at once (0: no cap).
    pub max_active: usize,
    /// Milliseconds between anti-entropy rounds of the known node set.
    pub gossip_interval_ms: u64,
    /// Ask for the known node set to be written to disk when it changes.
    pub persist: bool,
    /// The known node set's file, as read from disk (checked by the node first).
    pub known_file: Option<Vec<u8>>,
}

impl EngineConfig {
    /// The engine's configuration for a node of `config`, introducing itself as `hello`,
    /// with the `kinds` registered on it.
    pub fn new(config: &DistConfig, hello: Hello, kinds: BTreeMap<String, KindInfo>) -> Self {
        Self {
            hello,
            seeds: config.seeds.clone(),
            timing: config.timing(),
            max_frame_bytes: config.max_frame_bytes,
            hold: config.hold_config(),
            replicas: config.replicas,
            restart_limit: config.restart_limit,
            restart_window_ms: config.restart_window.as_millis() as u64,
            kinds,
            max_active: config.max_active,
            gossip_interval_ms: config.gossip_interval.as_millis() as u64,
            persist: config.data_dir.is_some(),
            known_file: None,
        }
    }
}

/// The engine of one node (see the module docs).
#[derive(Debug)]
pub struct Engine {
    pub(crate) me: NodeName,
    pub(crate) config: EngineConfig,
    /// Every deadline of the protocol, from the configuration.
    pub(crate) timing: Timing,
    /// Membership, dialing, hellos, heartbeats and leavers.
    pub(crate) mesh: Mesh,
    pub(crate) handoff: HandoffCore,
    /// The placement the current handoff view was computed with.
    pub(crate) placement: Placement,
    /// Routing state (directory, redirects, the view's placement).
    pub(crate) routing: Routing,
    /// What is known of the messages held while their actor moves or the node settles
    /// (their payloads stay in the node layer, under the same ids).
    pub(crate) hold: HoldQueues,
    /// `Migrate` dedupe and snapshot reassembly.
    pub(crate) inbound: Inbound,
    /// Replicas, respawn offers, the drop/rehost outbox and the pause fence.
    pub(crate) recovery: Recovery<Snapshot>,
    /// The actors of this node (until they exited).
    pub(crate) children: BTreeMap<ChildId, Child>,
    /// The actor that serves each name here (looked up for every cast delivered; never
    /// iterated, so its order cannot make a run differ).
    pub(crate) child_ids: HashMap<ActorKey, ChildId>,
    /// Actors drained for a handoff, until their target acknowledges them.
    pub(crate) outgoing: BTreeMap<ActorKey, Outgoing>,
    /// The kinds of names that moved away (local messages for them are serialized with it).
    pub(crate) moved_kinds: BTreeMap<ActorKey, String>,
    /// Stamped casts dropped because later ones of their sender were delivered.
    pub(crate) casts_late: u64,
    /// Gaps in a sender's casts given up after [`Timing::gap_ms`].
    pub(crate) gaps_skipped: u64,
    /// Names moving away whose copy lost a conflict at their target (see
    /// `FrameBody::MigrateAck`): their held casts are dropped when the move completes.
    pub(crate) superseded: BTreeSet<ActorKey>,
    /// Per incoming batch (sender, batch): the names its acknowledgement names, kept for a
    /// resent batch's (the first one may be lost; at most [`ANSWERS_KEPT`] batches).
    pub(crate) answered_in: Answers,
    /// Copies of names that arrived while this node's copy was moving away: resolved where
    /// that copy lands.
    pub(crate) conflicts: BTreeMap<ActorKey, (NodeName, MigrateEntry)>,
    /// Drained actors whose final state is being snapshotted.
    pub(crate) snapshotting: BTreeMap<ChildId, Child>,
    /// Respawned actors whose start has not completed, with when the respawn began: the
    /// respawn takes effect (replica, holders, count) once they started.
    pub(crate) respawning: BTreeMap<ChildId, (RespawnStart<Snapshot>, Millis)>,
    /// Names stopped by request whose actor has not exited yet (a spawn of the name waits
    /// for that exit, so that two copies never run at once).
    pub(crate) stopping_names: BTreeMap<ActorKey, ChildId>,
    /// Actors of on-demand kinds stopping to be passivated, until they exited.
    pub(crate) passivating: BTreeMap<ChildId, ActorKey>,
    /// Actors whose start (`pre_start` or `restore`, on their own task) the node layer has
    /// not reported yet ([`Engine::handle_starting`], [`Engine::handle_start_reported`]).
    pub(crate) starting: BTreeSet<ChildId>,
    /// Drains decided while their actor was starting, carried out once its start is
    /// reported: ractor refuses to start an actor already marked draining, and one marked
    /// while its `restore` runs fails to link to its supervisor; either way it would never
    /// start, and the messages in its mailbox would be lost.
    pub(crate) drain_after_start: BTreeMap<ChildId, NodeName>,
    /// Moves planned for names whose actor had exited to move and is about to start here
    /// again (a [`Command::Restore`] is queued: the move it was on lost its target): the
    /// restored copy is drained, to the new target, once it runs.
    pub(crate) drain_on_restore: BTreeMap<ActorKey, NodeName>,
    /// The state kept of each passivated name (`None`: its kind takes no snapshot), until
    /// its next activation here.
    pub(crate) passivated: BTreeMap<ActorKey, passivate::Kept>,
    /// Kept states that arrived here after their owner changed again, forwarded on to the
    /// new owner, with the batch (sender, number) each came in: that batch is acknowledged
    /// only once the new owner took the state ([`Engine::handle_moved`]) or it started here
    /// ([`Engine::handle_restore`]). Until then its sender's barrier keeps the new owner
    /// from settling, and so from starting the name afresh on a message before its state is
    /// there.
    pub(crate) forwarding: BTreeMap<ActorKey, (NodeName, u64)>,
    /// Names whose copy here survived a conflict: once the view has been quiet, those the
    /// view gives to another node go there ([`Engine::hand_on_resolved`]).
    pub(crate) resolved: BTreeSet<ActorKey>,
    /// Since when this node leaves the cluster (handing every actor off).
    pub(crate) leaving: Option<Millis>,
    /// The peers told of this node's leave that have not yet said they took it into their
    /// view (`LeaveSeen`): casts they routed here by an older view may still be on their
    /// way, and the leave waits for them (they are forwarded to the names' new hosts).
    pub(crate) leave_unseen: BTreeSet<NodeName>,
    /// The node stops: it spawns and restarts nothing more.
    pub(crate) shutting_down: bool,
    /// When the current handoff view started.
    pub(crate) view_started: Millis,
    /// What the node layer must do, in order (see [`Engine::poll_command`]).
    commands: VecDeque<Command>,
    /// The time of the call being handled.
    now: Millis,
    /// Membership views worked out so far.
    view_changes: u64,
    /// A new handoff view was announced in the batch being pumped.
    announced: bool,
    /// The handoff machine settled in the batch being pumped (by deadline, as the last
    /// `Settled` of the batch says).
    settled_pending: Option<bool>,
    /// Names whose arrival was handed to the node layer to start
    /// ([`Command::StartArrivals`]): they count as hosted until it reports.
    pub(crate) arriving: BTreeSet<ActorKey>,
    /// The known node set's replication machine (only [`crate::core::known::KNOWN_NODES`]).
    pub(crate) known: crate::core::replicated::Replicas,
    /// The known node set, as of its last change.
    known_value: std::sync::Arc<crate::core::known::KnownNodes>,
    /// This node learned that it was removed from the known set ([`Command::Removed`]).
    removed: bool,
}

impl Engine {
    /// An engine for a node alone (it has met no peer yet), at `now`.
    pub fn new(config: EngineConfig, placement: Placement, now: Millis) -> Self {
        let me = config.hello.node.clone();
        let timing = config.timing;
        let mut mesh = Mesh::new(config.hello.clone(), config.seeds.clone(), &timing);
        let mut known = Self::known_machine(&config);
        let known_value = known
            .value::<crate::core::known::KnownNodes>(crate::core::known::KNOWN_NODES)
            .unwrap_or_default();
        mesh.handle_known(&known_value);
        let handoff = HandoffCore::new(
            me.clone(),
            HandoffConfig {
                deadline_ms: timing.handoff_ms,
                // a batch of small snapshots fits in half a frame
                batch_bytes: (config.max_frame_bytes / 2).min(1 << 20),
                max_inflight: 4,
                patience_ms: timing.busy_patience_ms(),
            },
        );
        let recovery = Recovery::new(RecoveryConfig {
            me: me.clone(),
            incarnation: config.hello.incarnation,
            replicas: config.replicas,
            frame_budget: RecoveryConfig::frame_budget_of(config.max_frame_bytes),
            timing,
        });
        // What `all()` reads starts with the set from disk.
        let commands = VecDeque::from([Command::KnownChanged(known_value.clone())]);
        Self {
            known,
            known_value,
            removed: false,
            routing: Routing::new(me.clone(), placement.clone()),
            hold: HoldQueues::new(config.hold),
            me,
            timing,
            mesh,
            handoff,
            placement,
            inbound: Inbound::new(InboundLimits::default()),
            recovery,
            children: BTreeMap::new(),
            child_ids: HashMap::new(),
            outgoing: BTreeMap::new(),
            moved_kinds: BTreeMap::new(),
            casts_late: 0,
            gaps_skipped: 0,
            superseded: BTreeSet::new(),
            answered_in: Answers::default(),
            conflicts: BTreeMap::new(),
            snapshotting: BTreeMap::new(),
            commands,
            now,
            view_changes: 0,
            announced: false,
            settled_pending: None,
            arriving: BTreeSet::new(),
            respawning: BTreeMap::new(),
            stopping_names: BTreeMap::new(),
            passivating: BTreeMap::new(),
            starting: BTreeSet::new(),
            drain_after_start: BTreeMap::new(),
            drain_on_restore: BTreeMap::new(),
            passivated: BTreeMap::new(),
            forwarding: BTreeMap::new(),
            resolved: BTreeSet::new(),
            leaving: None,
            leave_unseen: BTreeSet::new(),
            shutting_down: false,
            view_started: now,
            config,
        }
    }

    /// This node.
    pub fn me(&self) -> &NodeName {
        &self.me
    }

    /// Every deadline of the protocol.
    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    /// What the protocol knows of a registered kind.
    pub fn kind(&self, name: &str) -> Option<&KindInfo> {
        self.config.kinds.get(name)
    }

    /// What the protocol knows of kind `name` changed (its checkpoint policy, say).
    pub fn set_kind(&mut self, name: &str, info: KindInfo) {
        self.config.kinds.insert(name.to_string(), info);
    }

    /// The node leaves the cluster or stops.
    pub fn is_leaving(&self) -> bool {
        self.leaving.is_some() || self.shutting_down
    }

    /// The routing decision for `key` in a supervisor `context`, `hosted` being the state
    /// of its local entry, if any.
    pub fn route(&self, key: &ActorKey, context: Context, hosted: Option<Residence>) -> Decision {
        let facts = Facts {
            hosted,
            pending_local: false,
            settled: self.handoff.is_settled(),
            shutting_down: self.shutting_down,
            on_demand: false,
            cached: None,
        };
        self.routing.routes().route(key, context, facts)
    }

    /// Admission of a message for `key` from `from` (this node: a local sender), `hosted`
    /// telling whether it is hosted here. A settled node admits everything from known
    /// senders without hashing the name.
    pub fn admit_hosted(&self, key: &ActorKey, from: &NodeName, hosted: bool) -> Admission {
        // A sender's messages for a name keep their order: one parked earlier (the name
        // had not arrived yet) must not be overtaken by a later one on the same link (the
        // sender forwarded it once the name had moved through it).
        if self.hold.has_parked_from(key, from) {
            return Admission::Park;
        }
        let sender = (*from != self.me).then_some(from);
        if self.handoff.is_settled() && sender.is_none_or(|s| self.handoff.is_participant(s)) {
            return Admission::Deliver;
        }
        let owned = self.placement.owner_of(key) == Some(&self.me);
        self.handoff.admit(key, sender, hosted, owned)
    }

    /// Parked messages to dispatch again (see [`HoldQueues::release_parked`]), except,
    /// while this node's barrier waits for a busy source (see
    /// [`HandoffCore::waits_for_busy`]), expired ones for names it owns and nothing says
    /// run elsewhere, that it does not run and would not activate: that source's slow
    /// move may still bring them, and handled without the admission check they would be
    /// dropped as not found. They go when the node settles, or once they waited the
    /// barrier's patience.
    pub fn release_parked(&mut self, now: Millis, expired_only: bool) -> Vec<(MsgId, Held)> {
        if !expired_only || !self.handoff.waits_for_busy(now) {
            return self.hold.release_parked(now, expired_only);
        }
        let patience = self.handoff.patience_ms();
        let incoming = |key: &ActorKey| {
            let routes = self.routing.routes();
            self.placement.owner_of(key) == Some(&self.me)
                && !self.child_ids.contains_key(key)
                && routes.moved_to(key).is_none()
                && routes.directory_host(key).is_none()
                && self.activates(key, None).is_none()
        };
        // Decided per name (its messages keep their order), by its oldest message.
        let mut oldest: BTreeMap<&ActorKey, Millis> = BTreeMap::new();
        for (key, since) in self.hold.parked_keys() {
            let first = oldest.entry(key).or_insert(since);
            *first = (*first).min(since);
        }
        let kept: BTreeSet<ActorKey> = (oldest.into_iter())
            .filter(|(key, since)| now.since(*since) <= patience && incoming(key))
            .map(|(key, _)| key.clone())
            .collect();
        self.hold
            .release_parked_except(now, expired_only, |key| kept.contains(key))
    }

    /// The sizes of the engine's tables that grow with names, held messages and peers
    /// (see [`crate::core::footprint`]); the node layer adds its own.
    pub fn footprint(&self) -> crate::core::Footprint {
        let mut f = crate::core::Footprint::new();
        f.add("engine.children", self.children.len());
        f.add("engine.child_ids", self.child_ids.len());
        f.add("engine.outgoing", self.outgoing.len());
        f.add("engine.moved_kinds", self.moved_kinds.len());
        f.add("engine.superseded", self.superseded.len());
        f.add("engine.conflicts", self.conflicts.len());
        f.add("engine.snapshotting", self.snapshotting.len());
        f.add("engine.respawning", self.respawning.len());
        f.add("engine.stopping", self.stopping_names.len());
        f.add("engine.passivating", self.passivating.len());
        f.add("engine.starting", self.starting.len());
        f.add("engine.drain_after_start", self.drain_after_start.len());
        f.add("engine.drain_on_restore", self.drain_on_restore.len());
        f.add("engine.arriving", self.arriving.len());
        f.add("engine.leave_unseen", self.leave_unseen.len());
        f.add_bounded("engine.answered_in", self.answered_in.len(), ANSWERS_KEPT);
        // Kept on purpose: the state of each passivated name until its next activation.
        f.add("engine.passivated", self.passivated.len());
        f.add("engine.forwarding", self.forwarding.len());
        f.add("engine.resolved", self.resolved.len());
        self.mesh.footprint(&mut f);
        self.handoff.footprint(&mut f);
        self.inbound.footprint(&mut f);
        self.hold.footprint(&mut f);
        self.recovery.footprint(&mut f);
        self.routing.footprint(&mut f);
        f
    }

    /// The actor serving `key` here, if it has not exited.
    pub fn child_of(&self, key: &ActorKey) -> Option<&Child> {
        self.child_ids.get(key).and_then(|id| self.children.get(id))
    }

    /// As [`Self::child_of`], to change it.
    pub fn child_of_mut(&mut self, key: &ActorKey) -> Option<&mut Child> {
        self.child_ids
            .get(key)
            .and_then(|id| self.children.get_mut(id))
    }

    /// `key` runs here and is neither moving away nor being stopped.
    pub fn runs_here(&self, key: &ActorKey) -> bool {
        self.child_of(key)
            .is_some_and(|c| !c.draining && !c.stopping)
    }

    /// The placement and view id of the next handoff view, the participants, and the names
    /// to place in it (those running here and those about to be restored here because
    /// their target went away).
    pub fn next_view(
        &self,
    ) -> (
        Placement,
        crate::core::ViewId,
        BTreeSet<NodeName>,
        Vec<(ActorKey, HandoffMode)>,
    ) {
        let membership = self.mesh.membership();
        let (placement, view) = if self.leaving.is_some() {
            let peers = membership
                .peers()
                .iter()
                .map(|(n, m)| (n.clone(), m.weight));
            (
                Placement::weighted(membership.epoch(), peers),
                membership.view_id_without_me(),
            )
        } else {
            (membership.placement(), membership.view_id())
        };
        let restoring = self
            .outgoing
            .iter()
            .filter(|(k, _)| !self.handoff.is_moving(k))
            .map(|(k, o)| (k.clone(), o.mode));
        let hosted = self
            .children
            .values()
            .filter(|c| !c.stopping && !c.draining)
            .map(|c| (c.key.clone(), c.mode))
            .chain(restoring)
            .collect();
        (placement, view, self.mesh.participants(), hosted)
    }

    /// Starts the handoffs of the current view (after a membership change or when leaving).
    pub fn start_view(&mut self, now: Millis) {
        let (placement, view, participants, hosted) = self.next_view();
        let leaving = self.leaving.is_some();
        self.placement = placement.clone();
        self.view_started = now;
        self.move_passivated(&placement, now);
        self.handoff
            .handle_view(view, &placement, participants, hosted, leaving, now);
    }

    /// The actors running here although another node owns them (`Stay` actors, and those
    /// their owner refused for lacking their kind) grouped by that owner in the current
    /// view (their directory node, which detects a second copy and asks one to yield),
    /// with their kinds.
    pub fn stays_by_owner(&self) -> BTreeMap<NodeName, Vec<(ActorKey, String)>> {
        let placement = self.mesh.membership().placement();
        let peers = self.mesh.membership().peers();
        let mut by_owner: BTreeMap<NodeName, Vec<(ActorKey, String)>> = BTreeMap::new();
        for child in self.children.values() {
            let stays = child.mode == HandoffMode::Stay || self.handoff.was_refused(&child.key);
            if child.stopping || child.draining || !stays {
                continue;
            }
            let owner = placement.owner_of(&child.key).filter(|o| **o != self.me);
            if let Some((owner, _)) = owner.and_then(|o| peers.get_key_value(o)) {
                by_owner
                    .entry(owner.clone())
                    .or_default()
                    .push((child.key.clone(), child.kind.clone()));
            }
        }
        by_owner
    }

    /// Whether a graceful leave is over at `now`: `Some(fell_back)` once every actor is
    /// handed off and every peer still up has taken the leave into its view (so that no
    /// cast is on its way here any more), or the leave deadline passed (`fell_back` when
    /// actors were still moving then; a peer that never answered is only logged).
    pub fn leave_done(&self, now: Millis) -> Option<bool> {
        let since = self.leaving?;
        let timed_out = now.0.saturating_sub(since.0) > self.timing.leave_ms();
        let membership = self.mesh.membership();
        let seen = !self.leave_unseen.iter().any(|p| membership.is_up(p));
        let handed_off = self.handoff.is_quiescent();
        (handed_off && seen || timed_out).then_some(timed_out && !handed_off)
    }

    /// The peers up that have not said they took this node's leave into their view.
    pub fn leave_unseen(&self) -> Vec<NodeName> {
        let membership = self.mesh.membership();
        (self.leave_unseen.iter())
            .filter(|p| membership.is_up(p))
            .cloned()
            .collect()
    }

    /// The names that run here (neither stopping nor moving away), all or `only` these,
    /// for the recovery engine (split borrows: the engine's other fields stay usable).
    pub(crate) fn running<'a>(
        children: &'a mut BTreeMap<ChildId, Child>,
        child_ids: &HashMap<ActorKey, ChildId>,
        only: Option<&[ActorKey]>,
    ) -> Vec<Hosted<'a, Snapshot>> {
        if let Some([key]) = only {
            return child_ids
                .get(key)
                .and_then(|id| children.get_mut(id))
                .filter(|c| !c.stopping && !c.draining)
                .map(|c| (&c.key, &mut c.meta))
                .into_iter()
                .collect();
        }
        let only: Option<BTreeSet<&ActorKey>> = only.map(|keys| keys.iter().collect());
        children
            .values_mut()
            .filter(|c| !c.stopping && !c.draining)
            .filter(|c| only.as_ref().is_none_or(|o| o.contains(&c.key)))
            .map(|c| (&c.key, &mut c.meta))
            .collect()
    }
}
