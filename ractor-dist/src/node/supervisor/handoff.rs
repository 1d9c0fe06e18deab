//! Executing the handoff state machine: draining, `Migrate` batches, buffers, parking,
//! graceful leave.

use std::any::Any;
use std::collections::BTreeSet;
use std::time::Instant;

use ractor::{ActorCell, ActorId, ActorRef, RpcReplyPort};

use super::{Activation, Child, GatewayMsg, LeaveState, NameMeta, Outgoing, SupervisorState};
use crate::core::handoff::inbound::{chunk_ranges, MigrateIn};
use crate::core::wire::{self, FrameBody, MigrateEntry};
use crate::core::Snapshot;
use crate::core::{
    ActorKey, Admission, Context, Decision, HandoffCommand, HandoffMode, NodeName, Placement,
};
use crate::node::shared::{Counters, EntryState, HostedEntry};

/// What a drained actor moves with when its final state is lost (see
/// `core::handoff::fallback_state`).
fn fallback_state(child: &Child) -> Option<Snapshot> {
    crate::core::handoff::fallback_state(
        child.kind.mode(),
        child.started_from.clone(),
        child.meta.checkpoint.clone(),
    )
}

impl SupervisorState {
    /// Starts the handoffs of the current view (after a membership change or when leaving).
    pub(super) async fn start_view(&mut self) {
        let leaving = self.leaving.is_some();
        let (placement, view) = if leaving {
            let peers = self
                .mesh
                .membership()
                .peers()
                .iter()
                .map(|(n, m)| (n.clone(), m.weight));
            (
                Placement::weighted(self.mesh.membership().epoch(), peers),
                self.mesh.membership().view_id_without_me(),
            )
        } else {
            (
                self.mesh.membership().placement(),
                self.mesh.membership().view_id(),
            )
        };
        let participants: BTreeSet<NodeName> = self.mesh.participants();
        // Actors about to be restored here (their target went away) count as hosted: they
        // may belong elsewhere in this view.
        let restoring = self
            .outgoing
            .iter()
            .filter(|(k, _)| !self.handoff.is_moving(k))
            .map(|(k, o)| (k.clone(), o.kind.mode()));
        let hosted: Vec<(ActorKey, HandoffMode)> = self
            .children
            .values()
            .filter(|c| !c.stopping && !c.draining)
            .map(|c| (c.key.clone(), c.kind.mode()))
            .chain(restoring)
            .collect();
        self.placement = placement.clone();
        let now = self.now();
        self.view_started = Instant::now();
        self.handoff
            .handle_view(view, &placement, participants, hosted, leaving, now);
        self.run_handoff().await;
    }

    /// Executes the commands of the handoff state machine until there are none.
    pub(super) async fn run_handoff(&mut self) {
        let mut settled = false;
        let mut by_deadline_last = false;
        let mut new_view = false;
        while let Some(command) = self.handoff.poll_command() {
            match command {
                HandoffCommand::Announce { view } => {
                    let v = self.new_view();
                    self.shared.adopt_view(v, &FrameBody::ViewAdopted { view });
                    new_view = true;
                }
                HandoffCommand::Drain { key, to } => self.drain(&key, &to),
                HandoffCommand::ForceStop { key } => {
                    Counters::bump(&self.shared.counters.handoff_fallbacks);
                    tracing::warn!(name = %key, "actor did not drain within the handoff deadline; killing it (it restarts on its new node from its checkpoint or arguments)");
                    if let Some(entry) = self.shared.hosted(&key) {
                        if let Some(child) = self.children.get_mut(&entry.cell.get_id()) {
                            child.kill_ordered = true;
                        }
                        entry.cell.kill();
                    }
                }
                HandoffCommand::SendBatch { to, batch, keys } => self.send_batch(&to, batch, &keys),
                HandoffCommand::Moved { key, to } => self.finish_move(&key, &to),
                HandoffCommand::RestoreLocal { key } => self.restore_local(&key),
                HandoffCommand::SendDone { to, view } => {
                    if let Ok(gw) = self.shared.gateway(&to) {
                        self.shared.flush(&to, &gw, false);
                    }
                    self.send_frame(&to, FrameBody::HandoffsDone { view });
                }
                HandoffCommand::Remind {
                    view,
                    adopted,
                    done,
                } => {
                    for peer in adopted {
                        self.send_frame(&peer, FrameBody::ViewAdopted { view });
                    }
                    for peer in done {
                        self.send_frame(&peer, FrameBody::HandoffsDone { view });
                    }
                }
                HandoffCommand::Settled { by_deadline } => {
                    if by_deadline {
                        tracing::warn!(
                            "handoff barrier incomplete at the deadline; releasing parked messages"
                        );
                    }
                    by_deadline_last = by_deadline;
                    settled = true;
                }
            }
        }
        // A `Settled` of a view that was already replaced (a departed peer completed its
        // barrier just before the next view) counts only if the current view is settled.
        if settled && self.handoff.is_settled() {
            let ms = self.view_started.elapsed().as_millis() as u64;
            self.shared
                .last_settle_ms
                .store(ms, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(ms, "settled for the current view");
            self.settle(by_deadline_last).await;
        } else if new_view {
            self.release_parked(false).await;
        }
        self.flush_drops();
        self.publish_gauges();
        self.publish_routes();
        self.check_leave_done();
    }

    pub(super) fn publish_gauges(&mut self) {
        use std::sync::atomic::Ordering;
        self.publish_hold();
        self.shared
            .moving
            .store(self.handoff.moving_out() as u64, Ordering::Relaxed);
        self.shared
            .settled
            .store(self.handoff.is_settled(), Ordering::Relaxed);
    }

    pub(super) fn set_entry_state(&self, key: &ActorKey, state: EntryState) {
        let mut hosted = self.shared.hosted_mut();
        if let Some(entry) = hosted.get_mut(key) {
            entry.state = state;
        }
    }

    fn drain(&mut self, key: &ActorKey, to: &NodeName) {
        let Some(entry) = self.shared.hosted(key) else {
            self.handoff.handle_gone(key);
            return;
        };
        if let Some(child) = self
            .child_ids
            .get(key)
            .and_then(|id| self.children.get_mut(id))
        {
            child.draining = true;
        }
        self.set_entry_state(key, EntryState::Moving);
        tracing::debug!(name = %key, %to, "draining for handoff");
        if entry.cell.drain().is_err() {
            entry.cell.kill();
        }
    }

    /// A draining child exited: its final state is snapshotted off the supervisor's task
    /// (`Snapshotted` follows), then the state machine is told. Without its final state
    /// (`killed` at the deadline, or failed) it moves with its last checkpoint, or restarts
    /// from its arguments on its target.
    pub(super) async fn drained(
        &mut self,
        actor: ActorId,
        child: Child,
        state: Option<ractor::actor::messages::BoxedState>,
        killed: bool,
    ) {
        // A kind that restarts on every move has no state to snapshot (no user code runs).
        let state = state.filter(|_| child.kind.mode() != HandoffMode::Restart);
        let Some(state) = state else {
            // The deadline kill was counted when it was ordered.
            if child.kind.mode() == HandoffMode::Resume && !killed {
                Counters::bump(&self.shared.counters.handoff_fallbacks);
                tracing::error!(name = %child.key, "the actor exited without its state while draining; it restarts from its checkpoint or arguments");
            }
            let snapshot = fallback_state(&child);
            return self.send_off(child, snapshot).await;
        };
        let Ok(supervisor) = self.shared.supervisor().cloned() else {
            return;
        };
        let kind = child.kind.clone();
        self.handoff.handle_exited(&child.key);
        self.snapshotting.insert(actor, child);
        // `DistActor::snapshot` is user code: on the blocking pool, a panic caught there,
        // given up on at the handoff deadline (it moves with its fallback state then).
        let deadline = self.shared.config.handoff_timeout;
        tokio::spawn(async move {
            let task = tokio::task::spawn_blocking(move || kind.snapshot(state));
            let snapshot = match tokio::time::timeout(deadline, task).await {
                Ok(done) => done.unwrap_or_else(|e| match e.is_panic() {
                    true => Err("snapshot panicked".to_string()),
                    false => Err(format!("snapshot task failed: {e}")),
                }),
                Err(_) => Err(format!(
                    "snapshot took longer than the handoff deadline ({deadline:?})"
                )),
            };
            let _ = supervisor.cast(GatewayMsg::Snapshotted { actor, snapshot });
        });
    }

    /// The final state of a drained actor was snapshotted (or that failed: it then moves
    /// with its last checkpoint or restarts from its arguments, a counted fallback).
    pub(super) async fn snapshotted(
        &mut self,
        actor: ActorId,
        snapshot: Result<Option<Snapshot>, String>,
    ) {
        let Some(child) = self.snapshotting.remove(&actor) else {
            return;
        };
        let snapshot = snapshot.unwrap_or_else(|e| {
            Counters::bump(&self.shared.counters.handoff_fallbacks);
            tracing::error!(name = %child.key, error = %e, "no snapshot; the actor restarts from its checkpoint or arguments on its new node");
            fallback_state(&child)
        });
        self.send_off(child, snapshot).await;
    }

    /// Hands a drained actor with its state to the state machine, which batches it.
    async fn send_off(&mut self, child: Child, snapshot: Option<Snapshot>) {
        let key = child.key.clone();
        // What the entry weighs in a batch: state, arguments, name, kind and envelope.
        let size = snapshot.as_ref().map_or(0, |s| s.bytes.len())
            + child.meta.args.len()
            + key.as_str().len()
            + child.kind.name().len()
            + 64;
        // Its last checkpoint stays behind: the state moves as `snapshot`.
        let mut meta = child.meta;
        meta.checkpoint = None;
        self.outgoing.insert(
            key.clone(),
            Outgoing {
                kind: child.kind.clone(),
                snapshot,
                started: Instant::now(),
                meta,
            },
        );
        let now = self.now();
        self.handoff.handle_drained(&key, size, now);
        self.run_handoff().await;
    }

    fn send_batch(&mut self, to: &NodeName, batch: u64, keys: &[ActorKey]) {
        let Ok(gateway) = self.shared.gateway(to) else {
            tracing::debug!(%to, batch, "target not connected; the batch will be retried");
            return;
        };
        self.shared.flush(to, &gateway, false);
        // Snapshots above half a frame travel in pieces before the batch (`core`'s split).
        let frame_limit = self.shared.config.max_frame_bytes;
        let mut entries = Vec::new();
        for key in keys {
            let Some(out) = self.outgoing.get(key) else {
                continue;
            };
            let pieces = out
                .snapshot
                .as_ref()
                .map(|s| chunk_ranges(s.bytes.len(), frame_limit))
                .unwrap_or_default();
            let mut entry = MigrateEntry {
                key: key.clone(),
                kind: out.kind.name().to_string(),
                args: out.meta.args.clone(),
                // Copied only when it travels inline.
                snapshot: if pieces.is_empty() {
                    out.snapshot.clone()
                } else {
                    None
                },
                chunks: 0,
                version: 0,
                generation: out.meta.activation.generation,
                origin: out.meta.activation.origin.clone(),
                holders: out.meta.holders.all(&self.shared.me),
                checkpoint_seq: out.meta.checkpoint_seq,
            };
            if let (Some(snap), false) = (&out.snapshot, pieces.is_empty()) {
                entry.version = snap.version;
                for range in pieces {
                    let frame = wire::encode_state_chunk(
                        &self.shared.me,
                        self.shared.incarnation,
                        batch,
                        key,
                        entry.chunks,
                        &snap.bytes[range],
                    );
                    entry.chunks += 1;
                    let _ = gateway.cast(GatewayMsg::Frame(frame));
                }
            }
            entries.push(entry);
        }
        tracing::debug!(%to, batch, actors = entries.len(), "sending Migrate");
        let _ = gateway.cast(GatewayMsg::Frame(
            self.frame(FrameBody::Migrate { batch, entries }),
        ));
    }

    fn finish_move(&mut self, key: &ActorKey, to: &NodeName) {
        let span = tracing::info_span!("handoff", name = %key, to = %to);
        let _enter = span.enter();
        let out = self.outgoing.remove(key);
        let kind = out.as_ref().map(|o| o.kind.clone());
        {
            let mut hosted = self.shared.hosted_mut();
            hosted.remove(key);
        }
        self.child_ids.remove(key);
        self.routing.handle_moved(key.clone(), to.clone());
        if let Some(kind) = &kind {
            self.moved_kinds.insert(key.clone(), kind.clone());
        }
        if let Some(out) = &out {
            self.rehost(key, &out.meta.holders, to);
        }
        if let Some((from, entry)) = self.conflicts.remove(key) {
            // A conflicting copy met ours here while ours was leaving: it follows ours.
            let size = entry.snapshot.as_ref().map_or(0, |s| s.bytes.len());
            if size <= self.shared.config.max_frame_bytes / 2 {
                tracing::debug!(name = %key, %from, %to, "passing a conflicting copy on to where ours went");
                self.send_frame(to, FrameBody::Conflict { entry });
            } else {
                Counters::bump(&self.shared.counters.handoff_fallbacks);
                tracing::error!(name = %key, %from, bytes = size, "a conflicting copy too large for one frame could not follow; it is discarded");
            }
        }
        let held = self.hold.moved(key, to);
        let forwarded = held.len();
        self.release(key, held);
        Counters::bump(&self.shared.counters.moved_out);
        let (bytes, ms) = out.as_ref().map_or((0, 0), |o| {
            (
                o.snapshot.as_ref().map_or(0, |s| s.bytes.len()),
                o.started.elapsed().as_millis() as u64,
            )
        });
        tracing::info!(
            name = %key,
            from = %self.shared.me,
            to = %to,
            epoch = self.mesh.membership().epoch().0,
            bytes,
            duration_ms = ms,
            forwarded,
            outcome = "moved",
            "actor handed off"
        );
    }

    fn restore_local(&mut self, key: &ActorKey) {
        let Some(out) = self.outgoing.remove(key) else {
            return;
        };
        Counters::bump(&self.shared.counters.handoff_fallbacks);
        tracing::warn!(name = %key, "handoff has no target any more; restoring the actor here");
        self.shared.hosted_mut().remove(key);
        // A batch in flight may have reached its target anyway (which then became
        // unreachable): this copy is a new activation, so that if the two ever meet they
        // are told apart and resolved, and the older one's checkpoints are fenced.
        let meta = out.meta.restored(
            &self.shared.me,
            out.snapshot.clone(),
            out.kind.checkpoints(),
        );
        let cell = self.start_actor(
            key,
            &out.kind,
            &meta.args,
            out.snapshot.clone(),
            meta.activation.clone(),
        );
        let Some(_cell) = cell else {
            // It could not start: what waited for it finds nothing.
            self.drop_buffered(key);
            return;
        };
        if let Some(child) = self
            .child_ids
            .get(key)
            .and_then(|id| self.children.get_mut(id))
        {
            // Its holders get the new generation's spec (with its final state as the
            // checkpoint) and drop the old one.
            child.meta = meta;
        }
        if let Some((from, entry)) = self.conflicts.remove(key) {
            let snapshot = entry.snapshot.clone();
            self.resolve_conflict(&from, entry, snapshot);
        }
        let held = self.hold.restored(key);
        self.release(key, held);
        self.replicate(Some(std::slice::from_ref(key)));
    }

    /// Starts `key` here (from `snapshot` when given, falling back to its arguments) and
    /// records it as a child. Returns its cell at once (see `launch`): messages delivered
    /// to it wait in its mailbox until its `restore` or `pre_start` is done.
    pub(super) fn start_actor(
        &mut self,
        key: &ActorKey,
        kind: &std::sync::Arc<dyn crate::node::kind::ErasedKind>,
        args: &[u8],
        snapshot: Option<Snapshot>,
        activation: Activation,
    ) -> Option<ActorCell> {
        match self.launch(key, kind, args, snapshot.clone()) {
            Ok(cell) => {
                self.record_started(key, kind, args, cell.clone(), true, activation);
                if let Some(child) = self.children.get_mut(&cell.get_id()) {
                    child.started_from = snapshot;
                }
                Some(cell)
            }
            Err(e) => {
                tracing::error!(name = %key, error = ?e, "actor could not be started; it is lost");
                None
            }
        }
    }

    /// Records a freshly started actor as a child and in the hosted table. An actor that
    /// `arrived` by handoff while the node is not settled starts `Settling`.
    pub(super) fn record_started(
        &mut self,
        key: &ActorKey,
        kind: &std::sync::Arc<dyn crate::node::kind::ErasedKind>,
        args: &[u8],
        cell: ActorCell,
        arrived: bool,
        activation: Activation,
    ) {
        self.children.insert(
            cell.get_id(),
            Child {
                key: key.clone(),
                kind: kind.clone(),
                restarts: Default::default(),
                stopping: false,
                draining: false,
                meta: NameMeta::new(kind.name(), args.to_vec(), activation),
                started_from: None,
                kill_ordered: false,
            },
        );
        self.child_ids.insert(key.clone(), cell.get_id());
        self.routing.handle_hosted(key);
        self.moved_kinds.remove(key);
        let state = if self.recovery.is_fenced() {
            // Paused and not rejoined yet: held like the others (see `recovery`).
            EntryState::Moving
        } else if !arrived || self.handoff.is_settled() {
            EntryState::Active
        } else {
            EntryState::Settling
        };
        self.shared.hosted_mut().insert(
            key.clone(),
            HostedEntry {
                cell,
                kind: kind.clone(),
                state,
            },
        );
    }

    /// A `Migrate` batch from `from`: start its actors here, then acknowledge it.
    pub(super) async fn receive_migrate(
        &mut self,
        from: &NodeName,
        batch: u64,
        entries: Vec<MigrateEntry>,
    ) {
        let chunked = entries
            .iter()
            .filter(|e| e.chunks > 0)
            .map(|e| (e.key.clone(), e.chunks));
        let mut snapshots = match self.inbound.handle_migrate(from, batch, chunked) {
            MigrateIn::Fresh(snapshots) => snapshots,
            MigrateIn::Duplicate => {
                // A resent batch whose acknowledgement was slow: acknowledge again, start nothing.
                self.send_frame(from, FrameBody::MigrateAck { batch });
                return;
            }
            // Its actors are being started: the acknowledgement follows.
            MigrateIn::InProgress => return,
        };
        let mut arrivals = Vec::new();
        for mut entry in entries {
            let snapshot = if entry.chunks > 0 {
                match snapshots.remove(&entry.key) {
                    Some(Ok(bytes)) => Some(Snapshot {
                        version: entry.version,
                        bytes,
                    }),
                    other => {
                        // Incomplete: restart from the arguments rather than from half a state.
                        Counters::bump(&self.shared.counters.bad_snapshots);
                        let got = match other {
                            Some(Err(missing)) => missing.got,
                            _ => 0,
                        };
                        tracing::error!(name = %entry.key, %from, expected = entry.chunks, got, "snapshot chunks missing; the actor starts from its arguments");
                        None
                    }
                }
            } else {
                entry.snapshot.take()
            };
            arrivals.push((entry, snapshot));
        }
        let arrived = self.adopt_arrivals(from, arrivals);
        self.inbound.handle_started(from, batch);
        self.send_frame(from, FrameBody::MigrateAck { batch });
        // Their specs go to this node's holders once the view is quiet, off the move's
        // critical path: until these confirm, the former holders keep the specs, naming
        // this node once the source has the acknowledgement. Names with no former holder
        // but this node (a leaver's names go to their successor, which held their specs)
        // are replicated at once.
        self.replicate_arrivals(&arrived);
    }

    /// Starts copies of names that arrived from `from` (by handoff, or following a
    /// conflict) and records them in order; their restores run on their own tasks, and
    /// messages for them wait in their mailboxes meanwhile. A name that already runs here
    /// is a conflict between two live copies. Returns the names that stay here (to
    /// replicate).
    pub(super) fn adopt_arrivals(
        &mut self,
        from: &NodeName,
        arrivals: Vec<(MigrateEntry, Option<Snapshot>)>,
    ) -> Vec<ActorKey> {
        let mut arrived = Vec::new();
        for (entry, snapshot) in arrivals {
            let key = entry.key.clone();
            if self.shared.hosted(&key).is_some() {
                self.resolve_conflict(from, entry, snapshot);
                continue;
            }
            let Some(kind) = self.shared.kinds.get(&entry.kind).cloned() else {
                Counters::bump(&self.shared.counters.unknown_kinds);
                tracing::error!(name = %key, kind = %entry.kind, %from, "handed-off actor of a kind not registered here; it is lost");
                continue;
            };
            let activation = Activation {
                generation: entry.generation,
                origin: entry.origin.clone(),
            };
            // The former host's holders keep the spec; checkpoints continue its sequence.
            let meta = NameMeta::new(entry.kind, entry.args, activation).arrived(
                entry.holders,
                entry.checkpoint_seq,
                snapshot.clone(),
                kind.checkpoints(),
            );
            if self
                .start_actor(&key, &kind, &meta.args, snapshot, meta.activation.clone())
                .is_some()
            {
                // The holders it inherited name this node from now on.
                self.recovery.handle_adopted(&key, &meta.holders);
                if let Some(child) = self
                    .child_ids
                    .get(&key)
                    .and_then(|id| self.children.get_mut(id))
                {
                    child.meta = meta;
                }
                let now = self.now();
                self.handoff
                    .handle_migrated_in(from, key.clone(), kind.mode(), now);
                if !self.handoff.is_moving(&key) {
                    // It stays here although another node may own it: tell that node.
                    self.register_elsewhere(&key, kind.name());
                    arrived.push(key.clone());
                }
                Counters::bump(&self.shared.counters.moved_in);
                tracing::debug!(name = %key, %from, "actor arrived by handoff");
            }
        }
        arrived
    }

    /// Releases parked messages once the node is settled.
    async fn settle(&mut self, by_deadline: bool) {
        {
            let mut hosted = self.shared.hosted_mut();
            for entry in hosted.values_mut() {
                if entry.state == EntryState::Settling {
                    entry.state = EntryState::Active;
                }
            }
        }
        self.after_settle(by_deadline).await;
        self.release_parked(false).await;
    }

    /// Admission of a message for `key` from `from` (this node: a local sender).
    pub(super) fn admit(&self, key: &ActorKey, from: &NodeName) -> Admission {
        let hosted = self.shared.hosted(key).is_some();
        self.admit_hosted(key, from, hosted)
    }

    /// [`Self::admit`] when the caller already knows whether `key` is hosted here. A settled
    /// node admits everything from known senders without hashing the name.
    pub(super) fn admit_hosted(&self, key: &ActorKey, from: &NodeName, hosted: bool) -> Admission {
        let sender = (*from != self.shared.me).then_some(from);
        if self.handoff.is_settled() && sender.is_none_or(|s| self.handoff.is_participant(s)) {
            return Admission::Deliver;
        }
        let owned = self.placement.owner_of(key) == Some(&self.shared.me);
        self.handoff.admit(key, sender, hosted, owned)
    }

    pub(super) fn is_moving(&self, key: &ActorKey) -> bool {
        self.shared
            .hosted(key)
            .is_some_and(|e| e.state == EntryState::Moving)
    }

    pub(super) fn local_send_inner(
        &mut self,
        key: ActorKey,
        msg: Box<dyn Any + Send>,
        refused: super::hold::Refusal,
    ) {
        let entry = self.shared.hosted(&key);
        match (
            self.route(&key, Context::Relay, entry.as_ref().map(|e| e.state)),
            entry,
        ) {
            (Decision::Hold, _) => {
                let me = self.shared.me.clone();
                let payload = self.local_payload(&key, msg, refused);
                self.hold_moving(&key, &me, payload);
                return;
            }
            (Decision::Deliver, Some(entry)) => {
                if let Err(e) = entry.kind.deliver_any(&key, &entry.cell, msg) {
                    tracing::warn!(name = %key, error = ?e, "local message not delivered");
                }
                return;
            }
            (Decision::Forward { to, .. }, _) => {
                // Only a name that was hosted here has the kind to serialize it with.
                if let Some(kind) = self.moved_kinds.get(&key).cloned() {
                    let payload = self.local_payload(&key, msg, refused);
                    self.forward(&key, &to, Some(kind.as_ref()), payload);
                    return;
                }
            }
            _ => {}
        }
        Counters::bump(&self.shared.counters.dropped_casts);
        tracing::warn!(name = %key, "message for an actor that is gone; dropped");
    }

    /// Graceful leave: hand every actor off, then answer.
    pub(super) async fn leave(&mut self, _myself: &ActorRef<GatewayMsg>, reply: RpcReplyPort<()>) {
        if let Some(state) = &mut self.leaving {
            state.replies.push(reply);
            self.check_leave_done();
            return;
        }
        tracing::info!(node = %self.shared.me, actors = self.children.len(), "leaving the cluster: handing off every actor");
        self.leaving = Some(LeaveState {
            replies: vec![reply],
            since: Instant::now(),
        });
        let peers: Vec<NodeName> = self.gateways.keys().cloned().collect();
        for peer in &peers {
            if let Ok(gw) = self.shared.gateway(peer) {
                self.shared.flush(peer, &gw, false);
            }
            self.send_frame(peer, FrameBody::Leaving);
        }
        self.start_view().await;
    }

    pub(super) fn check_leave_done(&mut self) {
        let Some(state) = &self.leaving else { return };
        let timed_out = state.since.elapsed().as_millis() as u64 > self.timing.leave_ms();
        if self.handoff.is_quiescent() || timed_out {
            if timed_out {
                Counters::bump(&self.shared.counters.handoff_fallbacks);
                tracing::error!(
                    moving = self.handoff.moving_out(),
                    "leave did not complete within the deadline"
                );
            } else {
                tracing::info!("all actors handed off; leaving");
            }
            if let Some(state) = &mut self.leaving {
                for reply in state.replies.drain(..) {
                    let _ = reply.send(());
                }
            }
        }
    }
}
