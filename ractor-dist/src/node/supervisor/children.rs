//! The hosted actors: spawning, supervision (restart on panic, removal on exit).

use std::sync::Arc;

use ractor::{ActorCell, ActorId, ActorRef, RpcReplyPort};

use super::{cid, SupervisorMsg, SupervisorState};
use crate::core::engine::{Exit, ExitPlan, SpawnDecision};
use crate::core::wire::{self, FrameBody, RemoteError, Response};
use crate::core::{ActorKey, Child, ChildId, Snapshot};
use crate::node::kind::ErasedKind;

/// The start of an actor (its `pre_start` or `restore`, on its own task): its outcome.
pub(super) type Start =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;
use crate::node::shared::{Counters, HostedEntry};

impl SupervisorState {
    /// Spawns `key` here unless it already exists somewhere this node knows of, or another
    /// node owns the name (then the requester is redirected there). `None`: the actor is
    /// starting, and `reply` is answered once its start ended (`ChildStarted`).
    pub(super) fn spawn_request(
        &mut self,
        key: ActorKey,
        kind: String,
        args: Vec<u8>,
        hops: u8,
        reply: RpcReplyPort<Vec<u8>>,
    ) -> Option<(Response, RpcReplyPort<Vec<u8>>)> {
        let hosted = self.shared.hosted(&key).map(|e| e.state);
        let activation = match self.engine.spawn_decision(&key, &kind, hops, hosted) {
            SpawnDecision::Answer(answer) => {
                if let Response::Err(RemoteError::UnknownKind(_)) = &answer {
                    let n = Counters::bump(&self.shared.counters.unknown_kinds);
                    tracing::warn!(name = %key, %kind, count = n, "spawn of an unknown kind refused");
                }
                return Some((answer, reply));
            }
            SpawnDecision::Wait => {
                // An earlier copy is still stopping: the spawn waits for its exit.
                let waiting = self.waiting_spawns.entry(key).or_default();
                waiting.push((kind, args, hops, reply));
                return None;
            }
            SpawnDecision::Here(activation) => activation,
        };
        let Some(erased) = self.shared.kinds.get(&kind).cloned() else {
            return Some((Response::Err(RemoteError::UnknownKind(kind)), reply));
        };
        match self.launch(&key, &erased, &args, None) {
            Ok(cell) => {
                tracing::debug!(name = %key, %kind, "starting");
                let actor = cid(&cell.get_id());
                self.record_started(&key, &erased, &args, cell, false, activation);
                self.engine.register_elsewhere(&key, &kind);
                self.replicate(Some(std::slice::from_ref(&key)));
                self.start_replies.insert(actor, (key, reply));
                None
            }
            Err(e) => {
                tracing::warn!(name = %key, %kind, error = ?e, "spawn failed");
                Some((Response::Err(e), reply))
            }
        }
    }

    /// Starts `key` of the on-demand `kind` here for its first message (the engine's
    /// `Dispatch::Activate`), with the arguments of the kind's factory, as a spawn would.
    /// Returns its entry at once (messages wait in its mailbox while it starts), or `None`
    /// when it could not start (logged).
    pub(super) fn activate(&mut self, key: &ActorKey, kind: &str) -> Option<HostedEntry> {
        let erased = self.shared.kinds.get(kind).cloned()?;
        let SpawnDecision::Here(activation) = self.engine.spawn_decision(key, kind, 0, None) else {
            return None;
        };
        let (_, id) = crate::core::engine::on_demand_parts(key)?;
        // From the state kept when it was passivated here, if it was.
        let kept = self.engine.take_passivated(key).flatten();
        let started = erased
            .activation_args(id)
            .and_then(|args| Ok((self.launch(key, &erased, &args, kept)?, args)));
        match started {
            Ok((cell, args)) => {
                tracing::debug!(name = %key, %kind, "activated by its first message");
                crate::node::telemetry::count_activation(&self.shared, erased.name());
                self.record_started(key, &erased, &args, cell, false, activation);
                self.engine.register_elsewhere(key, kind);
                self.replicate(Some(std::slice::from_ref(key)));
                self.shared.hosted(key)
            }
            Err(e) => {
                tracing::warn!(name = %key, %kind, error = ?e, "activation on first message failed");
                None
            }
        }
    }

    fn unregister_elsewhere(&self, key: &ActorKey) {
        if let Some(owner) = self.engine.routing.routes().directory_node(key).cloned() {
            self.send_frame(&owner, FrameBody::Unregister { key: key.clone() });
        }
    }

    /// Removes `key` from the tables before an intentional stop, so that nothing routes to
    /// the dying actor and its exit is not taken for a crash.
    pub(super) fn forget_child(&mut self, key: &ActorKey, cell: &ActorCell) {
        let actor = cid(&cell.get_id());
        self.remove_hosted(key, actor);
        self.engine.handle_stopping(key, actor);
        self.unregister_elsewhere(key);
    }

    fn remove_hosted(&mut self, key: &ActorKey, actor: ChildId) {
        self.engine.handle_unhosted(key, actor);
        self.remove_hosted_entry(key, actor);
    }

    /// Removes `key`'s entry from the hosted table if actor `actor` serves it.
    pub(super) fn remove_hosted_entry(&mut self, key: &ActorKey, actor: ChildId) {
        let mut hosted = self.shared.hosted_mut();
        if hosted
            .get(key)
            .is_some_and(|e| cid(&e.cell.get_id()) == actor)
        {
            hosted.remove(key);
        }
    }

    /// The name of an actor that exited is removed from the cluster: its held messages are
    /// answered as gone, its directory entry dropped (its holders were told by the engine).
    fn name_removed(&mut self, key: &ActorKey, actor: ChildId) {
        self.remove_hosted(key, actor);
        self.drop_buffered(key);
        self.unregister_elsewhere(key);
    }

    /// A hosted actor exited, or its start failed (`never_started`): what that means is the
    /// engine's decision (`Engine::handle_exit`: a normal stop removes the name
    /// cluster-wide, a panic or error restarts it within the limit, an exit while draining
    /// moves it).
    pub(super) async fn child_exited(
        &mut self,
        _myself: &ActorRef<SupervisorMsg>,
        actor: ChildId,
        state: Option<ractor::actor::messages::BoxedState>,
        reason: Option<String>,
        error: Option<String>,
        never_started: bool,
    ) {
        if self.passivated(actor) {
            return;
        }
        let exit = Exit {
            reason,
            error,
            never_started,
        };
        let now = self.now();
        let (stopped, plan) = self.engine.handle_exit(actor, &exit, now);
        if let Some(key) = stopped {
            self.resume_spawns(key);
        }
        match plan {
            ExitPlan::Nothing => {}
            ExitPlan::Drained {
                child,
                with_state,
                killed,
            } => {
                if let (false, Some(error)) = (with_state, &exit.error) {
                    tracing::warn!(name = %child.key, %error, "actor failed while draining for a handoff");
                }
                let state = if with_state { state } else { None };
                self.drained(actor, child, state, killed).await;
            }
            ExitPlan::Removed {
                key,
                while_draining: true,
                follower,
                ..
            } => {
                // It stopped by itself while handling a message already in its mailbox:
                // a normal stop, which removes the name (it does not move).
                tracing::info!(name = %key, reason = ?exit.reason, "actor stopped while draining; removed from the cluster");
                self.name_removed(&key, actor);
                // A copy that met this one while it was leaving takes its place.
                if let Some((from, entry)) = follower {
                    let snapshot = entry.snapshot.clone();
                    self.engine.adopt(&from, None, vec![(entry, snapshot)]);
                }
            }
            ExitPlan::Removed {
                key, gave_up: true, ..
            } => {
                let limit = self.engine.config.restart_limit;
                tracing::error!(name = %key, error = ?exit.error, limit, "actor failed too often; removed from the cluster");
                self.name_removed(&key, actor);
            }
            ExitPlan::Removed { key, .. } => {
                // A routine stop is not news; a start that failed is.
                match &exit.error {
                    None => {
                        tracing::debug!(name = %key, reason = ?exit.reason, "actor stopped; removed from the cluster")
                    }
                    Some(error) => {
                        tracing::info!(name = %key, reason = ?exit.reason, %error, "actor stopped (or could not start); removed from the cluster")
                    }
                }
                self.name_removed(&key, actor);
            }
            ExitPlan::Restart { child } => {
                self.remove_hosted(&child.key.clone(), actor);
                self.restart(child, exit.error.unwrap_or_default());
            }
        }
    }

    /// Starts a failed actor again (the engine counted the restart).
    fn restart(&mut self, child: Child, error: String) {
        let key = child.key.clone();
        Counters::bump(&self.shared.counters.restarts);
        tracing::warn!(name = %key, %error, restarts = child.restarts.len(), from_checkpoint = child.meta.checkpoint.is_some(), "actor failed; restarting it");
        let kind = self.shared.kinds.get(&child.kind).cloned();
        let started = kind
            .as_ref()
            .map(|kind| self.launch(&key, kind, &child.meta.args, child.meta.checkpoint.clone()));
        match (started, kind) {
            (Some(Ok(new_cell)), Some(kind)) => {
                let id = cid(&new_cell.get_id());
                self.shared.hosted_mut().insert(
                    key,
                    HostedEntry {
                        cell: new_cell,
                        kind,
                        // Held like the others while the node is fenced.
                        state: self.engine.start_residence(false),
                    },
                );
                self.engine.handle_restarted(id, child);
            }
            (started, _) => {
                let error = started.and_then(|s| s.err());
                tracing::error!(name = %key, error = ?error, "restart failed; actor removed from the cluster");
                self.engine.handle_restart_failed(&child);
                self.drop_buffered(&key);
                self.unregister_elsewhere(&key);
            }
        }
    }

    /// Starts an actor for `key` (see `ErasedKind::start`) and returns its cell at once:
    /// its `pre_start` or `restore` runs on its own task, never on the supervisor's, and
    /// the outcome comes back as `ChildStarted`.
    pub(super) fn launch(
        &mut self,
        key: &ActorKey,
        kind: &Arc<dyn ErasedKind>,
        args: &[u8],
        snapshot: Option<Snapshot>,
    ) -> Result<ActorCell, RemoteError> {
        let (cell, started) = self.start_child(key, kind, args, snapshot)?;
        self.report_starts(vec![(cell.get_id(), started)]);
        Ok(cell)
    }

    /// Starts an actor as `launch` does, but hands back its start for `report_starts`.
    pub(super) fn start_child(
        &self,
        key: &ActorKey,
        kind: &Arc<dyn ErasedKind>,
        args: &[u8],
        snapshot: Option<Snapshot>,
    ) -> Result<(ActorCell, Start), RemoteError> {
        let supervisor = self
            .shared
            .supervisor()
            .map_err(|_| RemoteError::Unavailable(self.shared.me.to_string()))?;
        kind.start(
            key.clone(),
            args,
            snapshot,
            self.shared.clone(),
            supervisor.get_cell(),
        )
    }

    /// One task waits for these starts and reports them as `ChildStarted`, each report
    /// carrying every start that ended since the previous one (a batch of arrivals costs
    /// the supervisor a few messages, not one per actor).
    pub(super) fn report_starts(&mut self, starts: Vec<(ActorId, Start)>) {
        let Ok(supervisor) = self.shared.supervisor().cloned() else {
            return;
        };
        self.engine
            .handle_starting(starts.iter().map(|(actor, _)| cid(actor)));
        let mut pending = starts;
        tokio::spawn(async move {
            while !pending.is_empty() {
                let ended = std::future::poll_fn(|cx| {
                    let mut ended = Vec::new();
                    pending.retain_mut(|(actor, start)| match start.as_mut().poll(cx) {
                        std::task::Poll::Ready(result) => {
                            ended.push((*actor, result));
                            false
                        }
                        std::task::Poll::Pending => true,
                    });
                    match ended.is_empty() {
                        true => std::task::Poll::Pending,
                        false => std::task::Poll::Ready(ended),
                    }
                })
                .await;
                let _ = supervisor.cast(SupervisorMsg::ChildStarted(ended));
            }
        });
    }

    /// The copy of `key` stopped by request exited: the spawns of its name that waited for
    /// that exit go ahead.
    fn resume_spawns(&mut self, key: ActorKey) {
        let waiting = self.waiting_spawns.remove(&key).unwrap_or_default();
        for (kind, args, hops, reply) in waiting {
            if let Some((response, reply)) =
                self.spawn_request(key.clone(), kind, args, hops, reply)
            {
                let _ = reply.send(wire::encode(&response));
            }
        }
    }

    /// The start of `actor` ended: a waiting spawn request is answered, and a failed start
    /// is an exit of an actor that never ran.
    pub(super) async fn child_started(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        actor: ChildId,
        result: Result<(), String>,
    ) {
        self.engine.handle_start_reported(actor, result.is_ok());
        let waiting = self.start_replies.remove(&actor);
        // A start that failed while draining still moves on (and starts on its target).
        let moving_on = self.engine.children.get(&actor).is_some_and(|c| c.draining);
        if result.is_ok() {
            let now = self.now();
            if let Some(done) = self.engine.handle_start_ok(actor, now) {
                Counters::bump(&self.shared.counters.respawned);
                tracing::info!(
                    name = %done.key,
                    lost = %done.lost,
                    generation = done.generation,
                    checkpoint = done.seq,
                    start_ms = done.start_ms,
                    "respawned a name whose host was lost"
                );
            }
        }
        if let Err(reason) = &result {
            self.child_exited(myself, actor, None, None, Some(reason.clone()), true)
                .await;
        }
        let Some((key, reply)) = waiting else { return };
        let response = self.engine.spawn_reply(key, moving_on, result);
        if let Response::Err(RemoteError::SpawnFailed { key, reason }) = &response {
            tracing::warn!(name = %key, %reason, "spawn failed");
        }
        let _ = reply.send(wire::encode(&response));
    }
}
