//! Executing the handoff state machine: draining, `Migrate` batches, buffers, parking,
//! graceful leave.

use std::time::Instant;

use ractor::{ActorCell, ActorRef, RpcReplyPort};

use super::{cid, Activation, Child, GatewayMsg, LeaveState, NameMeta, Payload, SupervisorState};
use crate::core::engine::Dispatch;
use crate::core::wire::{FrameBody, MigrateEntry};
use crate::core::Snapshot;
use crate::core::{
    ActorKey, Arrival, ChildId, DrainedExit, HandoffCommand, MigrateOutcome, NodeName,
};
use crate::node::shared::{Counters, EntryState, HostedEntry};

impl SupervisorState {
    /// Starts the handoffs of the current view (after a membership change or when leaving).
    pub(super) async fn start_view(&mut self) {
        let now = self.now();
        self.view_started = Instant::now();
        self.engine.start_view(now);
        self.run_handoff().await;
    }

    /// Executes the commands of the handoff state machine until there are none.
    pub(super) async fn run_handoff(&mut self) {
        let mut settled = false;
        let mut by_deadline_last = false;
        let mut new_view = false;
        while let Some(command) = self.engine.handoff.poll_command() {
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
                        if let Some(child) =
                            self.engine.children.get_mut(&cid(&entry.cell.get_id()))
                        {
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
        if settled && self.engine.handoff.is_settled() {
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
            .store(self.engine.handoff.moving_out() as u64, Ordering::Relaxed);
        self.shared
            .settled
            .store(self.engine.handoff.is_settled(), Ordering::Relaxed);
    }

    pub(super) fn set_entry_state(&self, key: &ActorKey, state: EntryState) {
        let mut hosted = self.shared.hosted_mut();
        if let Some(entry) = hosted.get_mut(key) {
            entry.state = state;
        }
    }

    fn drain(&mut self, key: &ActorKey, to: &NodeName) {
        let Some(entry) = self.shared.hosted(key) else {
            self.engine.handoff.handle_gone(key);
            return;
        };
        if let Some(child) = self
            .engine
            .child_ids
            .get(key)
            .and_then(|id| self.engine.children.get_mut(id))
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
        actor: ChildId,
        child: Child,
        state: Option<ractor::actor::messages::BoxedState>,
        killed: bool,
    ) {
        let kind = self.shared.kinds.get(&child.kind).cloned();
        let key = child.key.clone();
        let now = self.now();
        let has_state = state.is_some() && kind.is_some();
        match self
            .engine
            .handle_drained(actor, child, has_state, killed, now)
        {
            DrainedExit::SentOff { lost_state } => {
                if lost_state {
                    Counters::bump(&self.shared.counters.handoff_fallbacks);
                    tracing::error!(name = %key, "the actor exited without its state while draining; it restarts from its checkpoint or arguments");
                }
                self.run_handoff().await;
            }
            DrainedExit::Snapshot => {
                let (Some(state), Some(kind), Ok(supervisor)) =
                    (state, kind, self.shared.supervisor().cloned())
                else {
                    return;
                };
                // `DistActor::snapshot` is user code: on the blocking pool, a panic caught
                // there, given up on at the handoff deadline (it moves with its fallback
                // state then).
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
        }
    }

    /// The final state of a drained actor was snapshotted (or that failed: it then moves
    /// with its last checkpoint or restarts from its arguments, a counted fallback).
    pub(super) async fn snapshotted(
        &mut self,
        actor: ChildId,
        snapshot: Result<Option<Snapshot>, String>,
    ) {
        let now = self.now();
        if let Err((key, e)) = self.engine.handle_snapshotted(actor, snapshot, now) {
            Counters::bump(&self.shared.counters.handoff_fallbacks);
            tracing::error!(name = %key, error = %e, "no snapshot; the actor restarts from its checkpoint or arguments on its new node");
        }
        self.run_handoff().await;
    }

    fn send_batch(&mut self, to: &NodeName, batch: u64, keys: &[ActorKey]) {
        let Ok(gateway) = self.shared.gateway(to) else {
            tracing::debug!(%to, batch, "target not connected; the batch will be retried");
            return;
        };
        self.shared.flush(to, &gateway, false);
        tracing::debug!(%to, batch, actors = keys.len(), "sending Migrate");
        for frame in self.engine.batch_frames(batch, keys) {
            let _ = gateway.cast(GatewayMsg::Frame(frame));
        }
    }

    fn finish_move(&mut self, key: &ActorKey, to: &NodeName) {
        let span = tracing::info_span!("handoff", name = %key, to = %to);
        let _enter = span.enter();
        self.shared.hosted_mut().remove(key);
        let now = self.now();
        let moved = self.engine.handle_moved(key, to, now);
        match moved.conflict {
            Some((from, Ok(body))) => {
                tracing::debug!(name = %key, %from, %to, "passing a conflicting copy on to where ours went");
                self.send_frame(to, body);
            }
            Some((from, Err(size))) => {
                Counters::bump(&self.shared.counters.handoff_fallbacks);
                tracing::error!(name = %key, %from, bytes = size, "a conflicting copy too large for one frame could not follow; it is discarded");
            }
            None => {}
        }
        let forwarded = moved.releases.len();
        self.release(key, moved.releases);
        Counters::bump(&self.shared.counters.moved_out);
        tracing::info!(
            name = %key,
            from = %self.shared.me,
            to = %to,
            epoch = self.engine.mesh.membership().epoch().0,
            bytes = moved.bytes,
            duration_ms = moved.ms,
            forwarded,
            outcome = "moved",
            "actor handed off"
        );
    }

    fn restore_local(&mut self, key: &ActorKey) {
        if !self.engine.outgoing.contains_key(key) {
            return;
        }
        Counters::bump(&self.shared.counters.handoff_fallbacks);
        tracing::warn!(name = %key, "handoff has no target any more; restoring the actor here");
        self.shared.hosted_mut().remove(key);
        let restore = self.engine.handle_restore(key);
        let kind = restore
            .as_ref()
            .and_then(|r| self.shared.kinds.get(&r.kind).cloned());
        let (Some(restore), Some(kind)) = (restore, kind) else {
            self.drop_buffered(key);
            return;
        };
        let cell = self.start_actor(
            key,
            &kind,
            &restore.meta.args,
            restore.snapshot,
            restore.meta.activation.clone(),
        );
        if cell.is_none() {
            // It could not start: what waited for it finds nothing.
            self.drop_buffered(key);
            return;
        }
        let now = self.now();
        let held = self.engine.handle_restored(key, restore.meta, now);
        self.run_recovery();
        self.release(key, held);
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
                if let Some(child) = self.engine.children.get_mut(&cid(&cell.get_id())) {
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
        let id = cid(&cell.get_id());
        let meta = NameMeta::new(kind.name(), args.to_vec(), activation);
        self.engine.handle_started(id, key, kind.name(), meta);
        let state = self.engine.start_residence(arrived);
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
        let arrivals = match self.engine.handle_migrate(from, batch, entries) {
            MigrateOutcome::Start {
                arrivals,
                incomplete,
            } => {
                for (key, expected, got) in incomplete {
                    Counters::bump(&self.shared.counters.bad_snapshots);
                    tracing::error!(name = %key, %from, expected, got, "snapshot chunks missing; the actor starts from its arguments");
                }
                arrivals
            }
            MigrateOutcome::AckAgain => {
                // A resent batch whose acknowledgement was slow: acknowledge again, start nothing.
                self.send_frame(from, FrameBody::MigrateAck { batch });
                return;
            }
            // Its actors are being started: the acknowledgement follows.
            MigrateOutcome::Nothing => return,
        };
        let arrived = self.adopt_arrivals(from, arrivals);
        self.engine.inbound.handle_started(from, batch);
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
            let meta = match self.engine.arrival(&entry, &snapshot) {
                Arrival::Conflict => {
                    self.resolve_conflict(from, entry, snapshot);
                    continue;
                }
                Arrival::UnknownKind => {
                    Counters::bump(&self.shared.counters.unknown_kinds);
                    tracing::error!(name = %key, kind = %entry.kind, %from, "handed-off actor of a kind not registered here; it is lost");
                    continue;
                }
                Arrival::Start(meta) => meta,
            };
            let Some(kind) = self.shared.kinds.get(&entry.kind).cloned() else {
                continue;
            };
            if self
                .start_actor(&key, &kind, &meta.args, snapshot, meta.activation.clone())
                .is_some()
            {
                let now = self.now();
                if self.engine.handle_arrived(from, &key, meta, now) {
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

    /// A local handle's message for `key`, handled now (`expired`: it was parked for the
    /// whole park deadline), parked again (keeping its time `since`), held, forwarded or
    /// dropped: the engine decides.
    pub(super) fn local_dispatch(
        &mut self,
        key: ActorKey,
        payload: Payload,
        since: crate::core::Millis,
        expired: bool,
    ) {
        let entry = self.shared.hosted(&key);
        let hosted = entry.as_ref().map(|e| e.state);
        let me = self.shared.me.clone();
        match (self.engine.dispatch_local(&key, hosted, expired), entry) {
            (Dispatch::Park, _) => self.hold_parked(&key, &me, payload, since),
            (Dispatch::Hold, _) => self.hold_moving(&key, &me, payload),
            (Dispatch::Deliver, Some(entry)) => {
                if let Payload::Local(msg, _pending) = payload {
                    if let Err(e) = entry.kind.deliver_any(&key, &entry.cell, msg) {
                        tracing::warn!(name = %key, error = ?e, "local message not delivered");
                    }
                }
            }
            (Dispatch::Forward { to, kind, .. }, _) => {
                let kind = kind.and_then(|k| self.shared.kinds.get(&k).cloned());
                self.forward(&key, &to, kind.as_deref(), payload);
            }
            _ => {
                Counters::bump(&self.shared.counters.dropped_casts);
                tracing::warn!(name = %key, "message for an actor that is gone; dropped");
            }
        }
    }

    /// Graceful leave: hand every actor off, then answer.
    pub(super) async fn leave(&mut self, _myself: &ActorRef<GatewayMsg>, reply: RpcReplyPort<()>) {
        if let Some(state) = &mut self.leaving {
            state.replies.push(reply);
            self.check_leave_done();
            return;
        }
        tracing::info!(node = %self.shared.me, actors = self.engine.children.len(), "leaving the cluster: handing off every actor");
        self.leaving = Some(LeaveState {
            replies: vec![reply],
        });
        self.engine.leaving = Some(self.now());
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
        if self.leaving.is_none() {
            return;
        }
        if let Some(timed_out) = self.engine.leave_done(self.now()) {
            if timed_out {
                Counters::bump(&self.shared.counters.handoff_fallbacks);
                tracing::error!(
                    moving = self.engine.handoff.moving_out(),
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
