//! What the node layer keeps for passivation (the decisions are the engine's,
//! `core/engine/passivate.rs`): when each actor of an on-demand kind last handled a
//! message, written by the actor itself, and the final state of an actor stopping to be
//! passivated, left by its `post_stop` for the supervisor.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use crate::core::{ActorKey, Snapshot};

/// Milliseconds since the process's first use of this clock.
pub(crate) fn clock_ms() -> u64 {
    static ORIGIN: std::sync::LazyLock<Instant> = std::sync::LazyLock::new(Instant::now);
    ORIGIN.elapsed().as_millis() as u64
}

/// When an actor last handled a message ([`clock_ms`]).
pub(crate) type LastActive = Arc<AtomicU64>;

#[derive(Debug, Default)]
pub(crate) struct Passivation {
    /// Per actor of an on-demand kind running here.
    active: Mutex<HashMap<ActorKey, LastActive>>,
    /// Per actor stopping to be passivated: its final state once its `post_stop` ran.
    stopping: Mutex<HashMap<ActorKey, Option<Snapshot>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Passivation {
    /// Records its tables' sizes (see [`crate::core::footprint`]).
    pub(crate) fn footprint(&self, f: &mut crate::core::Footprint) {
        f.add("node.passivation_active", lock(&self.active).len());
        f.add("node.passivation_stopping", lock(&self.stopping).len());
    }

    /// An actor of an on-demand kind started for `key`: its clock.
    pub(crate) fn started(&self, key: &ActorKey) -> LastActive {
        let last = Arc::new(AtomicU64::new(clock_ms()));
        lock(&self.active).insert(key.clone(), last.clone());
        last
    }

    /// That actor stopped (a later one of the same name keeps its own clock).
    pub(crate) fn stopped(&self, key: &ActorKey, last: &LastActive) {
        let mut active = lock(&self.active);
        if active.get(key).is_some_and(|l| Arc::ptr_eq(l, last)) {
            active.remove(key);
        }
    }

    /// The last activity of every tracked actor, in ms before now.
    pub(crate) fn idle_ms(&self) -> Vec<(ActorKey, u64)> {
        let now = clock_ms();
        lock(&self.active)
            .iter()
            .map(|(k, l)| (k.clone(), now.saturating_sub(l.load(Ordering::Relaxed))))
            .collect()
    }

    /// The supervisor passivates `key`.
    pub(crate) fn begin(&self, key: &ActorKey) {
        lock(&self.stopping).insert(key.clone(), None);
    }

    /// `key` is being passivated (asked by its `post_stop`).
    pub(crate) fn is_stopping(&self, key: &ActorKey) -> bool {
        lock(&self.stopping).contains_key(key)
    }

    /// Its `post_stop` leaves its final state.
    pub(crate) fn leave_state(&self, key: &ActorKey, snapshot: Snapshot) {
        if let Some(slot) = lock(&self.stopping).get_mut(key) {
            *slot = Some(snapshot);
        }
    }

    /// It exited: its final state, if it left one.
    pub(crate) fn end(&self, key: &ActorKey) -> Option<Snapshot> {
        lock(&self.stopping).remove(key).flatten()
    }
}
