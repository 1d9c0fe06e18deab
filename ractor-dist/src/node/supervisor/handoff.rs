//! Executing the handoff state machine: draining, `Migrate` batches, buffers, parking,
//! graceful leave.

use ractor::{ActorCell, ActorRef, RpcReplyPort};

use super::{
    cid, Activation, Child, LeaveState, NameMeta, Payload, SupervisorMsg, SupervisorState,
};
use crate::core::engine::Dispatch;
use crate::core::Snapshot;
use crate::core::{ActorKey, ChildId, DrainedExit, NodeName};
use crate::node::shared::{Counters, EntryState, HostedEntry};

impl SupervisorState {
    pub(super) fn publish_gauges(&mut self) {
        use std::sync::atomic::Ordering;
        self.publish_hold();
        self.shared
            .moving
            .store(self.engine.handoff.moving_out() as u64, Ordering::Relaxed);
        self.shared
            .settled
            .store(self.engine.handoff.is_settled(), Ordering::Relaxed);
        self.shared
            .batches_resent
            .store(self.engine.handoff.stats().retries, Ordering::Relaxed);
        self.shared
            .reassembly_bytes
            .store(self.engine.inbound.bytes() as u64, Ordering::Relaxed);
    }

    pub(super) fn set_entry_state(&self, key: &ActorKey, state: EntryState) {
        let mut hosted = self.shared.hosted_mut();
        if let Some(entry) = hosted.get_mut(key) {
            entry.state = state;
        }
    }

    /// `key`'s actor moves to `to` but is still starting (the engine drains it once its
    /// start is reported): its messages go through the supervisor from now on.
    pub(super) fn hold_for_drain(&mut self, key: &ActorKey, to: &NodeName) {
        tracing::debug!(name = %key, %to, "draining once its start is reported");
        self.set_entry_state(key, EntryState::Moving);
    }

    /// Drains `key`'s actor `id` for its move to `to` (the engine marked it draining):
    /// its messages go through the supervisor from now on.
    pub(super) fn drain(&mut self, key: &ActorKey, to: &NodeName, id: ChildId) {
        let Some(entry) = self
            .shared
            .hosted(key)
            .filter(|e| cid(&e.cell.get_id()) == id)
        else {
            return;
        };
        self.set_entry_state(key, EntryState::Moving);
        // An actor waiting for the word that the node serves (it is fenced) hands its
        // message over instead, and the drain goes on.
        self.shared.clock.release(key);
        tracing::debug!(name = %key, %to, "draining for handoff");
        if entry.cell.drain().is_err() {
            entry.cell.kill();
        }
    }

    /// A draining child exited: its final state is snapshotted off the supervisor's task
    /// (`Snapshotted` follows, see `snapshots`), then the state machine is told. Without its final state
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
            }
            DrainedExit::Snapshot => {
                // `DistActor::snapshot` is user code: see `snapshots` (on the blocking pool,
                // a panic caught there, given up on at the handoff deadline; it moves with
                // its fallback state then).
                if let (Some(state), Some(kind)) = (state, kind) {
                    self.snapshots.push(actor, kind, state);
                }
            }
        }
    }

    /// Final states of drained actors were snapshotted (or that failed: such an actor then
    /// moves with its last checkpoint or restarts from its arguments, a counted fallback).
    pub(super) fn snapshotted(&mut self) {
        let now = self.now();
        let snapshots = self.snapshots.take();
        for (key, e) in self.engine.handle_snapshotted_all(snapshots, now) {
            Counters::bump(&self.shared.counters.handoff_fallbacks);
            tracing::error!(name = %key, error = %e, "no snapshot; the actor restarts from its checkpoint or arguments on its new node");
        }
    }

    pub(super) fn send_batch(&mut self, to: &NodeName, batch: u64, keys: &[ActorKey]) {
        let Ok(peer) = self.shared.peer_supervisor(to) else {
            tracing::debug!(%to, batch, "target not connected; the batch will be retried");
            return;
        };
        self.shared.flush(to, &peer, false);
        tracing::debug!(%to, batch, actors = keys.len(), "sending Migrate");
        for frame in self.engine.batch_frames(batch, keys) {
            let _ = peer.frame(frame);
        }
    }

    pub(super) fn finish_move(&mut self, key: &ActorKey, to: &NodeName) {
        let span = tracing::info_span!("handoff", name = %key, to = %to);
        let _enter = span.enter();
        self.shared.hosted_mut().remove(key);
        let now = self.now();
        let moved = self.engine.handle_moved(key, to, now);
        if let Some((from, frames)) = moved.conflict {
            tracing::debug!(name = %key, %from, %to, frames = frames.len(), "passing a conflicting copy on to where ours went");
            for body in frames {
                self.send_frame(to, body);
            }
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

    pub(super) fn restore_local(&mut self, key: &ActorKey, refused: bool) {
        if !self.engine.outgoing.contains_key(key) {
            return;
        }
        if refused {
            // Counted as `moves_refused` when the acknowledgement named it.
            tracing::info!(name = %key, "no node that has its kind takes it; it runs here, registered with its owner");
        } else {
            Counters::bump(&self.shared.counters.handoff_fallbacks);
            tracing::warn!(name = %key, "handoff has no target any more; restoring the actor here");
        }
        self.shared.hosted_mut().remove(key);
        let restore = self.engine.handle_restore(key);
        let kind = restore
            .as_ref()
            .and_then(|r| self.shared.kinds.get(&r.kind).cloned());
        let (Some(restore), Some(kind)) = (restore, kind) else {
            self.engine.handle_restore_failed(key);
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
            self.engine.handle_restore_failed(key);
            self.drop_buffered(key);
            return;
        }
        let now = self.now();
        let held = self.engine.handle_restored(key, restore.meta, now);
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
        let (decision, entry) = match self.engine.dispatch_local(&key, hosted, expired) {
            Dispatch::Activate { kind } => (Dispatch::Deliver, self.activate(&key, &kind)),
            decision => (decision, entry),
        };
        match (decision, entry) {
            (Dispatch::Park, _) => self.hold_parked(&key, &me, payload, since),
            (Dispatch::Hold, _) => self.hold_moving(&key, &me, payload),
            (Dispatch::Deliver, Some(entry)) => {
                if let Payload::Local(msg, _pending, _) = payload {
                    if let Err(e) = entry.kind.deliver_any(&key, &entry.cell, msg) {
                        tracing::warn!(name = %key, error = ?e, "local message not delivered");
                    }
                }
            }
            (Dispatch::Forward { to, .. }, _) => {
                let waited = super::hold::Waited { since, expired };
                self.forward(&key, &to, payload, waited);
            }
            _ => {
                Counters::bump(&self.shared.counters.dropped_casts);
                tracing::warn!(name = %key, "message for an actor that is gone; dropped");
            }
        }
    }

    /// Graceful leave: hand every actor off, then answer.
    pub(super) async fn leave(
        &mut self,
        _myself: &ActorRef<SupervisorMsg>,
        reply: RpcReplyPort<()>,
    ) {
        if let Some(state) = &mut self.leaving {
            state.replies.push(reply);
            self.check_leave_done();
            return;
        }
        self.shared
            .leaving
            .store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(node = %self.shared.me, actors = self.engine.children.len(), "leaving the cluster: handing off every actor");
        self.leaving = Some(LeaveState {
            replies: vec![reply],
            over: false,
        });
        let peers: Vec<NodeName> = self.supervisors.keys().cloned().collect();
        let now = self.now();
        self.engine.handle_leave(peers, now);
        self.run().await;
    }

    pub(super) fn check_leave_done(&mut self) {
        let Some(state) = &self.leaving else {
            return;
        };
        if !state.over {
            let Some(fell_back) = self.engine.leave_done(self.now()) else {
                return;
            };
            let unseen = self.engine.leave_unseen();
            if fell_back {
                Counters::bump(&self.shared.counters.handoff_fallbacks);
                tracing::error!(
                    moving = self.engine.handoff.moving_out(),
                    "leave did not complete within the deadline"
                );
            } else if !unseen.is_empty() {
                tracing::warn!(?unseen, "every actor handed off; leaving although these peers did not confirm the leave (casts they still route here are lost)");
            } else {
                tracing::info!("all actors handed off; leaving");
            }
        }
        if let Some(state) = &mut self.leaving {
            state.over = true;
            for reply in state.replies.drain(..) {
                let _ = reply.send(());
            }
        }
    }
}
