//! Carrying out passivation (the engine decides which actors, `Engine::passivation_due`):
//! draining an actor while its messages are held, keeping its final state, and starting it
//! again at once when messages wait for it.

use super::SupervisorState;
use crate::core::{ActorKey, Millis};
use crate::node::shared::EntryState;

impl SupervisorState {
    /// Passivates the on-demand actors the engine finds idle or beyond the node's cap
    /// (on every tick).
    pub(super) fn passivate_idle(&mut self) {
        if !self.engine.passivation_enabled() {
            return;
        }
        let idle = self.shared.passivation.idle_ms();
        if idle.is_empty() {
            return;
        }
        let now = self.now();
        let activity: Vec<(ActorKey, Millis)> = idle
            .into_iter()
            .map(|(key, ms)| (key, Millis(now.0.saturating_sub(ms))))
            .collect();
        for key in self.engine.passivation_due(now, &activity) {
            self.passivate(&key);
        }
    }

    /// Drains `key`'s actor: it handles what its mailbox holds, then stops, leaving its
    /// state; messages sent meanwhile are held (its entry is moving).
    fn passivate(&mut self, key: &ActorKey) {
        let (Some(entry), Some(&id)) = (self.shared.hosted(key), self.engine.child_ids.get(key))
        else {
            return;
        };
        tracing::debug!(name = %key, "passivating");
        self.engine.handle_passivating(key, id);
        self.shared.passivation.begin(key);
        self.set_entry_state(key, EntryState::Moving);
        if entry.cell.drain().is_err() {
            entry.cell.kill();
        }
    }

    /// Actor `id` exited: if it was being passivated, its final state is kept and `true`
    /// returned (nothing else to do with the exit); messages that waited for it start it
    /// again at once, with that state.
    pub(super) fn passivated(&mut self, id: crate::core::ChildId) -> bool {
        let Some(key) = self.engine.passivating.get(&id).cloned() else {
            return false;
        };
        let snapshot = self.shared.passivation.end(&key);
        let kept = snapshot.is_some();
        if self.engine.handle_passivated(id, snapshot).is_none() {
            return false;
        }
        self.remove_hosted_entry(&key, id);
        crate::node::telemetry::count_passivation(&self.shared);
        tracing::debug!(name = %key, kept, "passivated");
        if self.engine.hold.held_for(&key) > 0 {
            if let Some((kind, _)) = crate::core::engine::on_demand_parts(&key) {
                let kind = kind.to_string();
                self.activate(&key, &kind);
            }
            let releases = self.engine.hold.restored(&key);
            self.release(&key, releases);
        }
        true
    }
}
