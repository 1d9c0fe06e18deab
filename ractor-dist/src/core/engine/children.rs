//! What the engine knows of the actors of its node: each running actor, each actor drained
//! and on its way out, and the kinds they are of.

use std::collections::VecDeque;
use std::fmt;

use crate::core::{ActorKey, ConflictPolicy, HandoffMode, Millis, NameMeta, Snapshot};

/// One actor of this node, as the node layer numbers it (its actor cell's id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChildId(pub u64);

impl fmt::Display for ChildId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// What the protocol needs to know of a registered kind (default: a plain kind, restarted
/// on moves, no checkpoints, not on demand).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KindInfo {
    /// What happens to its actors' state on a planned move.
    pub mode: HandoffMode,
    /// Its actors checkpoint their state (replicated to the spec holders).
    pub checkpoints: bool,
    /// How two live copies of one of its names are resolved.
    pub conflict: ConflictPolicy,
    /// Its names (`KIND/id`) start on their first message, on their owner (the node layer
    /// has a factory for their arguments).
    pub on_demand: bool,
    /// An on-demand actor idle this long is passivated (`None`: never for idleness).
    pub idle_timeout_ms: Option<u64>,
}

/// A hosted actor.
#[derive(Debug)]
pub struct Child {
    /// Its name.
    pub key: ActorKey,
    /// Its kind's registered name.
    pub kind: String,
    /// Its kind's handoff mode.
    pub mode: HandoffMode,
    /// When it failed within the restart window.
    pub restarts: VecDeque<Millis>,
    /// Set when the stop was asked for (not a crash): no restart, no double cleanup.
    pub stopping: bool,
    /// Set while it drains for a handoff: its exit carries the state to move.
    pub draining: bool,
    /// Its arguments, activation, spec holders and newest checkpoint (for recovery).
    pub meta: NameMeta<Snapshot>,
    /// The snapshot it was started from, until its start completed or it sent a
    /// checkpoint: killed before that, it moves on with this state.
    pub started_from: Option<Snapshot>,
    /// Killed at the drain deadline.
    pub kill_ordered: bool,
}

impl Child {
    /// A freshly started actor of `kind` for `key`, with its metadata.
    pub fn new(key: ActorKey, kind: &str, info: &KindInfo, meta: NameMeta<Snapshot>) -> Self {
        Self {
            key,
            kind: kind.to_string(),
            mode: info.mode,
            restarts: VecDeque::new(),
            stopping: false,
            draining: false,
            meta,
            started_from: None,
            kill_ordered: false,
        }
    }

    /// What it moves with when its final state is lost (see
    /// `core::handoff::fallback_state`).
    pub fn fallback_state(&self) -> Option<Snapshot> {
        crate::core::handoff::fallback_state(
            self.mode,
            self.started_from.clone(),
            self.meta.checkpoint.clone(),
        )
    }
}

/// An actor drained for a handoff, until its target acknowledges it.
#[derive(Debug)]
pub struct Outgoing {
    /// Its kind's registered name.
    pub kind: String,
    /// Its kind's handoff mode.
    pub mode: HandoffMode,
    /// The state it moves with.
    pub snapshot: Option<Snapshot>,
    /// When it was drained.
    pub started: Millis,
    /// Its arguments, activation and spec holders (they name the new host once it
    /// arrived, and keep the spec until the new host's own holders have it).
    pub meta: NameMeta<Snapshot>,
    /// The state kept of a passivated name moving to its new owner (no actor was
    /// drained; its target keeps the state, and a move that loses its target keeps it
    /// here again).
    pub passive: bool,
}
