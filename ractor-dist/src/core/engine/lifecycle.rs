//! The engine's side of the actors' lives: where a spawn goes, what an exit means (moved,
//! removed, restarted within the limit), and stops asked for by handles.

use super::{Child, ChildId, Engine};
use crate::core::handoff::{classify_exit, ChildExit, ExitAction};
use crate::core::wire::{MigrateEntry, RemoteError, Response};
use crate::core::{Activation, ActorKey, Context, Decision, Millis, NameMeta, NodeName, Residence};

/// Where a spawn request goes (see [`Engine::spawn_decision`]).
#[derive(Debug)]
pub(crate) enum SpawnDecision {
    /// Answer it now.
    Answer(Response),
    /// An earlier copy of the name is still stopping: the spawn waits for its exit.
    Wait,
    /// Start it here (the kind is registered), as the name's first activation.
    Here(Activation),
}

/// How an actor ended, as the node layer saw it.
#[derive(Debug, Default)]
pub struct Exit {
    /// The reason ractor reported for a stop.
    pub reason: Option<String>,
    /// The error of a panic or a failed start.
    pub error: Option<String>,
    /// Its start failed (it never ran).
    pub never_started: bool,
}

/// What an exit means for the node layer (see [`Engine::handle_exit`]).
#[derive(Debug)]
pub(crate) enum ExitPlan {
    /// Nothing to do (a stop that was asked for, or an actor the engine does not know).
    Nothing,
    /// It drained for a handoff: hand it on with its final state (`with_state`) or
    /// without it (`killed` at the deadline, or failed).
    Drained {
        /// The actor.
        child: Child,
        /// It left its final state.
        with_state: bool,
        /// Killed at the deadline.
        killed: bool,
    },
    /// The name is removed from the cluster: its held messages answered as gone, its
    /// directory entry dropped. `follower`: a copy that met this one while it was leaving,
    /// which takes its place (to adopt).
    Removed {
        /// Its name.
        key: ActorKey,
        /// It stopped by itself while draining.
        while_draining: bool,
        /// It failed more often than the restart limit allows.
        gave_up: bool,
        /// A conflicting copy to adopt in its place.
        follower: Option<(NodeName, MigrateEntry)>,
    },
    /// It failed: start it again (from its last checkpoint when it has one), then
    /// [`Engine::handle_restarted`].
    Restart {
        /// The actor, its restart counted.
        child: Child,
    },
}

impl Engine {
    /// Where a spawn of `key` of `kind`, redirected `hops` times so far, goes, `hosted`
    /// being the state of its local entry.
    pub(crate) fn spawn_decision(
        &self,
        key: &ActorKey,
        kind: &str,
        hops: u8,
        hosted: Option<Residence>,
    ) -> SpawnDecision {
        match self.route(key, Context::Spawn { hops }, hosted) {
            Decision::Found(host) => SpawnDecision::Answer(self.found_for_spawn(key, kind, host)),
            Decision::Unavailable => {
                SpawnDecision::Answer(Response::Err(RemoteError::Unavailable(self.me.to_string())))
            }
            Decision::Redirect(host) => SpawnDecision::Answer(Response::Redirect { host }),
            _ if self.stopping_names.contains_key(key) => SpawnDecision::Wait,
            _ if self.kind(kind).is_none() => {
                SpawnDecision::Answer(Response::Err(RemoteError::UnknownKind(kind.to_string())))
            }
            _ => SpawnDecision::Here(Activation {
                generation: 1,
                origin: self.me.clone(),
            }),
        }
    }

    /// The answer to a spawn of `key` as `kind` that found it running on `host`: an error
    /// when this node knows it runs as another kind (it runs here, or moved away from
    /// here; a name this node only has a directory entry for is not checked).
    pub(crate) fn found_for_spawn(&self, key: &ActorKey, kind: &str, host: NodeName) -> Response {
        let running = (self.child_of(key).map(|c| c.kind.as_str()))
            .or_else(|| self.moved_kinds.get(key).map(String::as_str));
        match running {
            Some(running) if running != kind => Response::Err(RemoteError::KindMismatch {
                key: key.clone(),
                running: running.to_string(),
            }),
            _ => Response::Spawned {
                host,
                created: false,
            },
        }
    }

    /// The answer to the spawn request that started `key`, once that start ended with
    /// `result`: spawned here; or, when the start failed while the actor was `draining`
    /// (it moves on and starts on its target), spawned on that target; or the failure.
    pub(crate) fn spawn_reply(
        &self,
        key: ActorKey,
        draining: bool,
        result: Result<(), String>,
    ) -> Response {
        match result {
            Ok(()) => Response::Spawned {
                host: self.me.clone(),
                created: true,
            },
            Err(_) if draining => Response::Spawned {
                host: (self.handoff.target_of(&key).cloned()).unwrap_or_else(|| self.me.clone()),
                created: true,
            },
            Err(reason) => Response::Err(RemoteError::SpawnFailed { key, reason }),
        }
    }

    /// The state an actor starts in here: held while the node is fenced (paused and not
    /// rejoined yet); `arrived` by handoff while the node is not settled, settling.
    pub fn start_residence(&self, arrived: bool) -> Residence {
        if self.recovery.is_fenced() {
            Residence::Moving
        } else if !arrived || self.handoff.is_settled() {
            Residence::Active
        } else {
            Residence::Settling
        }
    }

    /// Records actor `id` started for `key` (of a registered `kind`) with `meta`.
    pub fn handle_started(
        &mut self,
        id: ChildId,
        key: &ActorKey,
        kind: &str,
        meta: NameMeta<crate::core::Snapshot>,
    ) {
        let Some(info) = self.kind(kind).copied() else {
            return;
        };
        self.children
            .insert(id, Child::new(key.clone(), kind, &info, meta));
        self.child_ids.insert(key.clone(), id);
        self.routing.handle_hosted(key);
        self.moved_kinds.remove(key);
    }

    /// Actor `id` no longer serves its name here (it exited, or was stopped).
    pub fn handle_unhosted(&mut self, key: &ActorKey, id: ChildId) {
        if self.child_ids.get(key) == Some(&id) {
            self.child_ids.remove(key);
        }
    }

    /// A stop of `key` was asked for: it is forgotten at once (its exit finds it gone, and
    /// a spawn of the name waits for that exit); its holders drop its spec.
    pub fn handle_stopping(&mut self, key: &ActorKey, id: ChildId) {
        let mut holders = Default::default();
        if let Some(child) = self.children.get_mut(&id) {
            child.stopping = true;
            holders = std::mem::take(&mut child.meta.holders);
        }
        self.handle_unhosted(key, id);
        self.handoff.forget(key);
        self.recovery.unreplicate(key, &holders);
        self.recovery.flush();
    }

    /// The node shuts down: it takes no more work (ticks and session changes are
    /// ignored), the mesh says goodbye, and every child is stopping (its exit is neither a
    /// crash nor a move). The executor then tells its peers (`Leaving`) and stops the
    /// actors.
    pub fn handle_shutdown(&mut self) {
        self.shutting_down = true;
        self.mesh.handle_stopping();
        for child in self.children.values_mut() {
            child.stopping = true;
        }
        self.child_ids.clear();
    }

    /// A view change was worked out: the kinds of names that moved away from here (a spawn
    /// of one as another kind is refused) are forgotten, except for names that still have
    /// local messages waiting in the executor (`pending`).
    pub fn forget_moved_kinds(&mut self, pending: impl Fn(&ActorKey) -> bool) {
        self.moved_kinds.retain(|key, _| pending(key));
    }

    /// Marks `key`'s stop as waiting for actor `id`'s exit.
    pub fn handle_stop_requested(&mut self, key: &ActorKey, id: ChildId) {
        self.stopping_names.entry(key.clone()).or_insert(id);
    }

    /// Actor `id` exited (see [`Exit`]). Returns the name whose waiting spawns may go ahead
    /// (it had been stopped by request), and what the exit means.
    pub(crate) fn handle_exit(
        &mut self,
        id: ChildId,
        exit: &Exit,
        now: Millis,
    ) -> (Option<ActorKey>, ExitPlan) {
        let stopped = self
            .stopping_names
            .iter()
            .find(|(_, c)| **c == id)
            .map(|(k, _)| k.clone());
        if let Some(key) = &stopped {
            self.stopping_names.remove(key);
        }
        // A respawn that never started takes no effect.
        self.respawning.remove(&id);
        let Some(mut child) = self.children.remove(&id) else {
            return (stopped, ExitPlan::Nothing);
        };
        let action = classify_exit(ChildExit {
            draining: child.draining,
            stopping: child.stopping || self.shutting_down,
            reason: exit.reason.as_deref(),
            failed: exit.error.is_some(),
            never_started: exit.never_started,
            kill_ordered: child.kill_ordered,
        });
        let key = child.key.clone();
        let plan = match action {
            ExitAction::Nothing => ExitPlan::Nothing,
            ExitAction::Moved => ExitPlan::Drained {
                child,
                with_state: true,
                killed: false,
            },
            ExitAction::MovedWithoutState { killed } => ExitPlan::Drained {
                child,
                with_state: false,
                killed,
            },
            ExitAction::RemovedWhileDraining => {
                self.handle_unhosted(&key, id);
                self.handoff.handle_gone(&key);
                self.recovery.unreplicate(&key, &child.meta.holders);
                self.recovery.flush();
                ExitPlan::Removed {
                    follower: self.conflicts.remove(&key),
                    key,
                    while_draining: true,
                    gave_up: false,
                }
            }
            ExitAction::Removed => {
                self.handle_unhosted(&key, id);
                self.handoff.forget(&key);
                self.recovery.unreplicate(&key, &child.meta.holders);
                self.recovery.flush();
                ExitPlan::Removed {
                    key,
                    while_draining: false,
                    gave_up: false,
                    follower: None,
                }
            }
            ExitAction::Restart => {
                self.handle_unhosted(&key, id);
                let window = self.config.restart_window_ms;
                child
                    .restarts
                    .retain(|t| now.0.saturating_sub(t.0) < window);
                if child.restarts.len() >= self.config.restart_limit as usize {
                    self.handoff.forget(&key);
                    self.recovery.unreplicate(&key, &child.meta.holders);
                    self.recovery.flush();
                    ExitPlan::Removed {
                        key,
                        while_draining: false,
                        gave_up: true,
                        follower: None,
                    }
                } else {
                    child.restarts.push_back(now);
                    // From its last checkpoint when it has one (falling back to its arguments).
                    child.started_from = child.meta.checkpoint.clone();
                    ExitPlan::Restart { child }
                }
            }
        };
        (stopped, plan)
    }

    /// A failed actor was started again as `id`.
    pub fn handle_restarted(&mut self, id: ChildId, child: Child) {
        self.child_ids.insert(child.key.clone(), id);
        self.children.insert(id, child);
    }

    /// A restart could not start: the name is removed from the cluster.
    pub fn handle_restart_failed(&mut self, child: &Child) {
        self.recovery.unreplicate(&child.key, &child.meta.holders);
        self.recovery.flush();
    }
}

impl Engine {
    /// The node layer launched these actors; their starts (`pre_start` or `restore`, on
    /// their own tasks) will be reported with [`Engine::handle_start_reported`]. A drain
    /// decided meanwhile waits for that report ([`super::Command::HoldForDrain`]).
    pub(crate) fn handle_starting(&mut self, ids: impl IntoIterator<Item = ChildId>) {
        self.starting.extend(ids);
    }

    /// The start of `id` ended (`ok`: it runs). A drain decided while it was starting is
    /// carried out now ([`super::Command::Drain`]) if it still serves its name here and is
    /// still to move; a failed start is an exit, told separately.
    pub(crate) fn handle_start_reported(&mut self, id: ChildId, ok: bool) {
        self.starting.remove(&id);
        let Some(to) = self.drain_after_start.remove(&id) else {
            return;
        };
        let Some(child) = self.children.get(&id).filter(|c| c.draining) else {
            return;
        };
        if ok && self.child_ids.get(&child.key) == Some(&id) {
            self.commands.push_back(super::Command::Drain {
                key: child.key.clone(),
                to,
                id,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spawn_is_answered_by_how_its_start_ended() {
        let me = NodeName::new("a");
        let engine = super::super::tests::engine("a");
        let key = ActorKey::from("k");
        let spawned_here = Response::Spawned {
            host: me,
            created: true,
        };
        for (draining, result, expected) in [
            (false, Ok(()), spawned_here.clone()),
            (true, Ok(()), spawned_here.clone()),
            // Failed while draining with no move under way: it is still this node's.
            (true, Err("boom".to_string()), spawned_here),
            (
                false,
                Err("boom".to_string()),
                Response::Err(RemoteError::SpawnFailed {
                    key: key.clone(),
                    reason: "boom".into(),
                }),
            ),
        ] {
            let got = engine.spawn_reply(key.clone(), draining, result.clone());
            assert_eq!(
                format!("{got:?}"),
                format!("{expected:?}"),
                "{draining} {result:?}"
            );
        }
    }
}
