//! The hosted actors: spawning, supervision (restart on panic, removal on exit).

use std::sync::Arc;
use std::time::Instant;

use ractor::{ActorCell, ActorId, ActorRef, RpcReplyPort};

use super::{GatewayMsg, SupervisorState};
use crate::core::handoff::{classify_exit, ChildExit, ExitAction};
use crate::core::wire::{self, FrameBody, RemoteError, Response};
use crate::core::{ActorKey, Context, Decision, Snapshot};
use crate::node::kind::ErasedKind;
use crate::node::shared::{Counters, EntryState, HostedEntry};

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
        let me = self.shared.me.clone();
        let hosted = self.shared.hosted(&key).map(|e| e.state);
        let answer = match self.route(&key, Context::Spawn { hops }, hosted) {
            Decision::Found(host) => Response::Spawned {
                host,
                created: false,
            },
            Decision::Unavailable => Response::Err(RemoteError::Unavailable(me.to_string())),
            Decision::Redirect(host) => Response::Redirect { host },
            _ => {
                // An earlier copy is still stopping: the spawn waits for its exit.
                if let Some((_, waiting)) = self.stopping_names.get_mut(&key) {
                    waiting.push((kind, args, hops, reply));
                    return None;
                }
                return self.spawn_here(key, kind, args, reply);
            }
        };
        Some((answer, reply))
    }

    /// Starts `key` here (the routing decided so).
    fn spawn_here(
        &mut self,
        key: ActorKey,
        kind: String,
        args: Vec<u8>,
        reply: RpcReplyPort<Vec<u8>>,
    ) -> Option<(Response, RpcReplyPort<Vec<u8>>)> {
        let me = self.shared.me.clone();
        let Some(erased) = self.shared.kinds.get(&kind).cloned() else {
            let n = Counters::bump(&self.shared.counters.unknown_kinds);
            tracing::warn!(name = %key, %kind, count = n, "spawn of an unknown kind refused");
            return Some((Response::Err(RemoteError::UnknownKind(kind)), reply));
        };
        match self.launch(&key, &erased, &args, None) {
            Ok(cell) => {
                tracing::debug!(name = %key, %kind, "starting");
                let activation = super::Activation {
                    generation: 1,
                    origin: me,
                };
                let actor = cell.get_id();
                self.record_started(&key, &erased, &args, cell, false, activation);
                self.register_elsewhere(&key, &kind);
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

    /// Tells the name's directory node that it runs here, when that is another node.
    pub(super) fn register_elsewhere(&self, key: &ActorKey, kind: &str) {
        if let Some(owner) = self.routing.routes().directory_node(key).cloned() {
            self.send_frame(
                &owner,
                FrameBody::Register {
                    entries: vec![(key.clone(), kind.to_string())],
                },
            );
        }
    }

    fn unregister_elsewhere(&self, key: &ActorKey) {
        if let Some(owner) = self.routing.routes().directory_node(key).cloned() {
            self.send_frame(&owner, FrameBody::Unregister { key: key.clone() });
        }
    }

    /// Removes `key` from the tables before an intentional stop, so that nothing routes to
    /// the dying actor and its exit is not taken for a crash.
    pub(super) fn forget_child(&mut self, key: &ActorKey, cell: &ActorCell) {
        let mut holders = Default::default();
        if let Some(child) = self.children.get_mut(&cell.get_id()) {
            child.stopping = true;
            holders = std::mem::take(&mut child.meta.holders);
        }
        self.remove_hosted(key, cell.get_id());
        self.unregister_elsewhere(key);
        self.unreplicate(key, &holders);
        self.flush_drops();
    }

    fn remove_hosted(&self, key: &ActorKey, actor: ActorId) {
        let mut hosted = self.shared.hosted_mut();
        if hosted.get(key).is_some_and(|e| e.cell.get_id() == actor) {
            hosted.remove(key);
        }
    }

    /// A hosted actor exited, or its start failed (`never_started`): what that means is
    /// `core::handoff::classify_exit`'s decision (a normal stop removes the name
    /// cluster-wide, a panic or error restarts it within the limit, an exit while draining
    /// moves it).
    pub(super) async fn child_exited(
        &mut self,
        _myself: &ActorRef<GatewayMsg>,
        actor: ActorId,
        state: Option<ractor::actor::messages::BoxedState>,
        reason: Option<String>,
        error: Option<String>,
        never_started: bool,
    ) {
        self.stopped_exited(actor);
        // A respawn that never started takes no effect.
        self.respawning.remove(&actor);
        let Some(mut child) = self.children.remove(&actor) else {
            return;
        };
        let action = classify_exit(ChildExit {
            draining: child.draining,
            stopping: child.stopping || self.shutting_down,
            reason: reason.as_deref(),
            failed: error.is_some(),
            never_started,
            kill_ordered: child.kill_ordered,
        });
        let key = child.key.clone();
        match action {
            ExitAction::Nothing => return,
            ExitAction::Moved => return self.drained(actor, child, state, false).await,
            ExitAction::MovedWithoutState { killed } => {
                if let Some(error) = &error {
                    tracing::warn!(name = %key, %error, "actor failed while draining for a handoff");
                }
                return self.drained(actor, child, None, killed).await;
            }
            ExitAction::RemovedWhileDraining => {
                // It stopped by itself while handling a message already in its mailbox:
                // a normal stop, which removes the name (it does not move).
                tracing::info!(name = %key, ?reason, "actor stopped while draining; removed from the cluster");
                self.remove_hosted(&key, actor);
                self.handoff.handle_gone(&key);
                self.drop_buffered(&key);
                self.unregister_elsewhere(&key);
                self.unreplicate(&key, &child.meta.holders);
                self.flush_drops();
                // A copy that met this one while it was leaving takes its place.
                if let Some((from, entry)) = self.conflicts.remove(&key) {
                    let snapshot = entry.snapshot.clone();
                    let arrived = self.adopt_arrivals(&from, vec![(entry, snapshot)]);
                    self.replicate(Some(&arrived));
                }
                self.run_handoff().await;
                return;
            }
            ExitAction::Removed => {
                tracing::info!(name = %key, ?reason, ?error, "actor stopped (or could not start); removed from the cluster");
                self.remove_hosted(&key, actor);
                // Messages held for it (by the pause fence) are answered as gone.
                self.drop_buffered(&key);
                self.unregister_elsewhere(&key);
                self.unreplicate(&key, &child.meta.holders);
                self.flush_drops();
                return;
            }
            ExitAction::Restart => {}
        }
        let error = error.unwrap_or_default();
        self.remove_hosted(&key, actor);
        let config = &self.shared.config;
        let now = Instant::now();
        child
            .restarts
            .retain(|t| now.duration_since(*t) < config.restart_window);
        if child.restarts.len() >= config.restart_limit as usize {
            tracing::error!(name = %key, %error, limit = config.restart_limit, "actor failed too often; removed from the cluster");
            self.drop_buffered(&key);
            self.unregister_elsewhere(&key);
            self.unreplicate(&key, &child.meta.holders);
            self.flush_drops();
            return;
        }
        child.restarts.push_back(now);
        Counters::bump(&self.shared.counters.restarts);
        tracing::warn!(name = %key, %error, restarts = child.restarts.len(), from_checkpoint = child.meta.checkpoint.is_some(), "actor failed; restarting it");
        // From its last checkpoint when it has one (falling back to its arguments).
        child.started_from = child.meta.checkpoint.clone();
        let started = self.launch(
            &key,
            &child.kind,
            &child.meta.args,
            child.meta.checkpoint.clone(),
        );
        match started {
            Ok(new_cell) => {
                self.child_ids.insert(key.clone(), new_cell.get_id());
                self.shared.hosted_mut().insert(
                    key,
                    HostedEntry {
                        cell: new_cell.clone(),
                        kind: child.kind.clone(),
                        // Held like the others while the node is fenced.
                        state: if self.recovery.is_fenced() {
                            EntryState::Moving
                        } else {
                            EntryState::Active
                        },
                    },
                );
                self.children.insert(new_cell.get_id(), child);
            }
            Err(e) => {
                tracing::error!(name = %key, error = ?e, "restart failed; actor removed from the cluster");
                self.drop_buffered(&key);
                self.unregister_elsewhere(&key);
                self.unreplicate(&key, &child.meta.holders);
                self.flush_drops();
            }
        }
    }

    /// Starts an actor for `key` (see `ErasedKind::start`) and returns its cell at once:
    /// its `pre_start` or `restore` runs on its own task, never on the supervisor's, and
    /// the outcome comes back as `ChildStarted`.
    pub(super) fn launch(
        &self,
        key: &ActorKey,
        kind: &Arc<dyn ErasedKind>,
        args: &[u8],
        snapshot: Option<Snapshot>,
    ) -> Result<ActorCell, RemoteError> {
        let supervisor = self
            .shared
            .supervisor()
            .map_err(|_| RemoteError::Unavailable(self.shared.me.to_string()))?
            .clone();
        let (cell, started) = kind.start(
            key.clone(),
            args,
            snapshot,
            self.shared.clone(),
            supervisor.get_cell(),
        )?;
        let actor = cell.get_id();
        tokio::spawn(async move {
            let result = started.await;
            let _ = supervisor.cast(GatewayMsg::ChildStarted { actor, result });
        });
        Ok(cell)
    }

    /// `actor` exited: if it was stopped by request, the spawns of its name that waited
    /// for its exit go ahead.
    fn stopped_exited(&mut self, actor: ActorId) {
        let Some(key) = self
            .stopping_names
            .iter()
            .find(|(_, (id, _))| *id == actor)
            .map(|(k, _)| k.clone())
        else {
            return;
        };
        let Some((_, waiting)) = self.stopping_names.remove(&key) else {
            return;
        };
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
        myself: &ActorRef<GatewayMsg>,
        actor: ActorId,
        result: Result<(), String>,
    ) {
        let waiting = self.start_replies.remove(&actor);
        // A start that failed while draining still moves on (and starts on its target).
        let moving_on = self.children.get(&actor).is_some_and(|c| c.draining);
        if result.is_ok() {
            if let Some(child) = self.children.get_mut(&actor) {
                child.started_from = None;
            }
            self.respawn_started(actor);
        }
        if let Err(reason) = &result {
            self.child_exited(myself, actor, None, None, Some(reason.clone()), true)
                .await;
        }
        let Some((key, reply)) = waiting else { return };
        let response = match result {
            Ok(()) => Response::Spawned {
                host: self.shared.me.clone(),
                created: true,
            },
            Err(_) if moving_on => Response::Spawned {
                host: (self.handoff.target_of(&key).cloned())
                    .unwrap_or_else(|| self.shared.me.clone()),
                created: true,
            },
            Err(reason) => {
                tracing::warn!(name = %key, %reason, "spawn failed");
                Response::Err(RemoteError::SpawnFailed { key, reason })
            }
        };
        let _ = reply.send(wire::encode(&response));
    }
}
