//! The hosted actors: spawning, supervision (restart on panic, removal on exit).

use std::time::Instant;

use ractor::{ActorCell, ActorRef};

use super::{GatewayMsg, SupervisorState};
use crate::core::handoff::{classify_exit, ChildExit, ExitAction};
use crate::core::wire::{FrameBody, RemoteError, Response};
use crate::core::{ActorKey, NodeName};
use crate::node::shared::{Counters, EntryState, HostedEntry};

/// How many times a spawn request may be redirected before the receiving node spawns it.
const MAX_SPAWN_HOPS: u8 = 3;

impl SupervisorState {
    /// Spawns `key` here unless it already exists somewhere this node knows of, or another
    /// node owns the name (then the requester is redirected there).
    pub(super) async fn spawn_request(
        &mut self,
        myself: &ActorRef<GatewayMsg>,
        key: ActorKey,
        kind: String,
        args: Vec<u8>,
        hops: u8,
    ) -> Response {
        let me = self.shared.me.clone();
        if self.shared.hosted(&key).is_some() {
            return Response::Spawned {
                host: me,
                created: false,
            };
        }
        if let Some(host) = self.shared.moved_to(&key) {
            return Response::Spawned {
                host,
                created: false,
            };
        }
        if let Some(host) = self.shared.directory_host(&key) {
            return Response::Spawned {
                host,
                created: false,
            };
        }
        if self.shutting_down {
            return Response::Err(RemoteError::Unavailable(me.to_string()));
        }
        let view = self.shared.view();
        if let Some(owner) = view.placement.owner_of(&key) {
            if *owner != me && hops < MAX_SPAWN_HOPS && view.gateways.contains_key(owner) {
                return Response::Redirect {
                    host: owner.clone(),
                };
            }
        }
        let Some(erased) = self.shared.kinds.get(&kind).cloned() else {
            let n = Counters::bump(&self.shared.counters.unknown_kinds);
            tracing::warn!(name = %key, %kind, count = n, "spawn of an unknown kind refused");
            return Response::Err(RemoteError::UnknownKind(kind));
        };
        match erased
            .spawn(
                key.clone(),
                &args,
                None,
                self.shared.clone(),
                myself.get_cell(),
            )
            .await
        {
            Ok(cell) => {
                tracing::debug!(name = %key, %kind, "spawned");
                let activation = super::Activation {
                    generation: 1,
                    origin: me.clone(),
                };
                self.record_started(&key, &erased, &args, cell, false, activation);
                self.register_elsewhere(&key, &kind);
                self.replicate(Some(std::slice::from_ref(&key)));
                Response::Spawned {
                    host: me,
                    created: true,
                }
            }
            Err(e) => {
                tracing::warn!(name = %key, %kind, error = ?e, "spawn failed");
                Response::Err(e)
            }
        }
    }

    /// Tells the name's directory node that it runs here, when that is another node.
    pub(super) fn register_elsewhere(&self, key: &ActorKey, kind: &str) {
        let owner: Option<NodeName> = self.shared.view().placement.owner_of(key).cloned();
        if let Some(owner) = owner.filter(|o| *o != self.shared.me) {
            self.send_frame(
                &owner,
                FrameBody::Register {
                    entries: vec![(key.clone(), kind.to_string())],
                },
            );
        }
    }

    fn unregister_elsewhere(&self, key: &ActorKey) {
        let owner: Option<NodeName> = self.shared.view().placement.owner_of(key).cloned();
        if let Some(owner) = owner.filter(|o| *o != self.shared.me) {
            self.send_frame(&owner, FrameBody::Unregister { key: key.clone() });
        }
    }

    /// Removes `key` from the tables before an intentional stop, so that nothing routes to
    /// the dying actor and its exit is not taken for a crash.
    pub(super) fn forget_child(&mut self, key: &ActorKey, cell: &ActorCell) {
        let mut holders = Default::default();
        if let Some(child) = self.children.get_mut(&cell.get_id()) {
            child.stopping = true;
            holders = std::mem::take(&mut child.holders);
        }
        self.remove_hosted(key, cell);
        self.unregister_elsewhere(key);
        self.unreplicate(key, &holders);
        self.flush_drops();
    }

    fn remove_hosted(&self, key: &ActorKey, cell: &ActorCell) {
        let mut hosted = self.shared.hosted_mut();
        if hosted
            .get(key)
            .is_some_and(|e| e.cell.get_id() == cell.get_id())
        {
            hosted.remove(key);
        }
    }

    /// A hosted actor exited: normally (`error` is `None`: it is removed cluster-wide) or
    /// by panic or error (restarted with its original arguments, within the limit).
    pub(super) async fn child_exited(
        &mut self,
        myself: &ActorRef<GatewayMsg>,
        cell: ActorCell,
        state: Option<ractor::actor::messages::BoxedState>,
        reason: Option<String>,
        error: Option<String>,
    ) {
        let Some(mut child) = self.children.remove(&cell.get_id()) else {
            return;
        };
        let action = classify_exit(ChildExit {
            draining: child.draining,
            stopping: child.stopping || self.shutting_down,
            reason: reason.as_deref(),
            failed: error.is_some(),
        });
        let key = child.key.clone();
        match action {
            ExitAction::Nothing => return,
            ExitAction::Moved => return self.drained(child, state, false).await,
            ExitAction::MovedWithoutState { killed } => {
                if let Some(error) = &error {
                    tracing::warn!(name = %key, %error, "actor failed while draining for a handoff");
                }
                return self.drained(child, None, killed).await;
            }
            ExitAction::RemovedWhileDraining => {
                // It stopped by itself while handling a message already in its mailbox:
                // a normal stop, which removes the name (it does not move).
                tracing::info!(name = %key, ?reason, "actor stopped while draining; removed from the cluster");
                self.remove_hosted(&key, &cell);
                self.handoff.handle_gone(&key);
                self.drop_buffered(&key);
                self.unregister_elsewhere(&key);
                self.unreplicate(&key, &child.holders);
                self.flush_drops();
                // A copy that met this one while it was leaving takes its place.
                if let Some((from, entry)) = self.conflicts.remove(&key) {
                    let snapshot = entry.snapshot.clone();
                    let arrived = self.adopt_arrivals(&from, vec![(entry, snapshot)]).await;
                    self.replicate(Some(&arrived));
                }
                self.run_handoff().await;
                return;
            }
            ExitAction::Removed => {
                tracing::info!(name = %key, ?reason, "actor stopped; removed from the cluster");
                self.remove_hosted(&key, &cell);
                self.unregister_elsewhere(&key);
                self.unreplicate(&key, &child.holders);
                self.flush_drops();
                return;
            }
            ExitAction::Restart => {}
        }
        let error = error.unwrap_or_default();
        self.remove_hosted(&key, &cell);
        let config = &self.shared.config;
        let now = Instant::now();
        child
            .restarts
            .retain(|t| now.duration_since(*t) < config.restart_window);
        if child.restarts.len() >= config.restart_limit as usize {
            tracing::error!(name = %key, %error, limit = config.restart_limit, "actor failed too often; removed from the cluster");
            self.unregister_elsewhere(&key);
            self.unreplicate(&key, &child.holders);
            self.flush_drops();
            return;
        }
        child.restarts.push_back(now);
        Counters::bump(&self.shared.counters.restarts);
        tracing::warn!(name = %key, %error, restarts = child.restarts.len(), from_checkpoint = child.checkpoint.is_some(), "actor failed; restarting it");
        // From its last checkpoint when it has one (falling back to its arguments).
        let mut started = Err(crate::core::wire::RemoteError::Timeout);
        if let Some(checkpoint) = child.checkpoint.clone() {
            started = child
                .kind
                .spawn(
                    key.clone(),
                    &child.args,
                    Some(checkpoint),
                    self.shared.clone(),
                    myself.get_cell(),
                )
                .await;
            if let Err(e) = &started {
                Counters::bump(&self.shared.counters.bad_snapshots);
                tracing::error!(name = %key, error = ?e, "restart from the last checkpoint failed; restarting from the arguments");
            }
        }
        if started.is_err() {
            started = child
                .kind
                .spawn(
                    key.clone(),
                    &child.args,
                    None,
                    self.shared.clone(),
                    myself.get_cell(),
                )
                .await;
        }
        match started {
            Ok(new_cell) => {
                self.child_ids.insert(key.clone(), new_cell.get_id());
                self.shared.hosted_mut().insert(
                    key,
                    HostedEntry {
                        cell: new_cell.clone(),
                        kind: child.kind.clone(),
                        // Held like the others while the node is fenced.
                        state: if self.fenced_since.is_some() {
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
                self.unregister_elsewhere(&key);
                self.unreplicate(&key, &child.holders);
                self.flush_drops();
            }
        }
    }
}
