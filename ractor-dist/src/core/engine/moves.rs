//! The engine's side of planned moves: what a drained actor moves with, the `Migrate`
//! frames of a batch, what a finished or failed move leaves behind, and which arrivals
//! start here.

use super::{Child, ChildId, Engine, Outgoing};
use crate::core::handoff::inbound::{chunk_ranges, MigrateIn};
use crate::core::wire::{self, Frame, FrameBody, MigrateEntry};
use crate::core::{
    Activation, ActorKey, HandoffMode, Millis, NameMeta, NodeName, Release, Snapshot,
};

/// What happens to an actor that exited while draining (see [`Engine::handle_drained`]).
#[derive(Debug, PartialEq, Eq)]
pub enum DrainedExit {
    /// Its final state is to be snapshotted (user code, off the node's task); the outcome
    /// comes back through [`Engine::handle_snapshotted`].
    Snapshot,
    /// It was handed to the handoff machine without a final state: with its last checkpoint
    /// or restarting from its arguments. `lost_state`: a `Resume` actor lost its state
    /// (a counted fallback).
    SentOff {
        /// The state was lost by a failure (not by the deadline kill, counted when ordered).
        lost_state: bool,
    },
}

/// What a finished move leaves for the node layer to carry out (see
/// [`Engine::handle_moved`]).
#[derive(Debug)]
pub(crate) struct MovedOut {
    /// What the held messages of the name become (forwarded to its new host).
    pub(crate) releases: Vec<Release>,
    /// A conflicting copy that met ours here follows it to its new host (from the node
    /// named), in these frames (see [`Engine::conflict_frames`]).
    pub(crate) conflict: Option<(NodeName, Vec<FrameBody>)>,
    /// The size of the state it moved with, and how long the move took.
    pub(crate) bytes: usize,
    /// Milliseconds from the drain to the acknowledgement.
    pub(crate) ms: u64,
}

/// An actor whose move has no target any more, to start here again (see
/// [`Engine::handle_restore`]).
#[derive(Debug)]
pub struct Restore {
    /// Its kind.
    pub kind: String,
    /// Its metadata as a new activation here.
    pub meta: NameMeta<Snapshot>,
    /// The state it starts from.
    pub snapshot: Option<Snapshot>,
}

/// What to do with a `Migrate` batch (see [`Engine::handle_migrate`]).
#[derive(Debug)]
pub(crate) enum MigrateOutcome {
    /// Start these (each with the state it arrived with), then acknowledge. `incomplete`:
    /// names whose state arrived in part (they start from their arguments), with the
    /// pieces expected and received.
    Start {
        /// The arrivals and their states.
        arrivals: Vec<(MigrateEntry, Option<Snapshot>)>,
        /// Names whose state is incomplete: expected and received pieces.
        incomplete: Vec<(ActorKey, u32, u32)>,
    },
    /// Already started: acknowledge again, start nothing.
    AckAgain,
    /// Being started: the acknowledgement follows.
    Nothing,
}

/// What to do with one arrival (the engine decides when a copy of a name arrives).
#[derive(Debug)]
pub enum Arrival {
    /// A copy runs here already: two live copies met.
    Conflict,
    /// Its kind is not registered here: it is lost.
    UnknownKind,
    /// Start it with this metadata.
    Start(Box<NameMeta<Snapshot>>),
}

impl Engine {
    /// The node layer's actor `child` for `key` exited while draining, with its final
    /// state (`has_state`) or without it (`killed` at the deadline, or failed).
    pub fn handle_drained(
        &mut self,
        id: ChildId,
        child: Child,
        has_state: bool,
        killed: bool,
        now: Millis,
    ) -> DrainedExit {
        // A kind that restarts on every move has no state to snapshot (no user code runs).
        if has_state && child.mode != HandoffMode::Restart {
            self.handoff.handle_exited(&child.key);
            self.snapshotting.insert(id, child);
            return DrainedExit::Snapshot;
        }
        let lost_state = !has_state && child.mode == HandoffMode::Resume && !killed;
        let snapshot = child.fallback_state();
        self.send_off(child, snapshot, now);
        DrainedExit::SentOff { lost_state }
    }

    /// The final state of a drained actor was snapshotted, or that failed (then it moves
    /// with its last checkpoint or restarts from its arguments: returned as `Err` with its
    /// name, a counted fallback).
    pub fn handle_snapshotted(
        &mut self,
        id: ChildId,
        snapshot: Result<Option<Snapshot>, String>,
        now: Millis,
    ) -> Result<(), (ActorKey, String)> {
        let failed = self.handle_snapshotted_all(vec![(id, snapshot)], now);
        failed.into_iter().next().map_or(Ok(()), Err)
    }

    /// The final states of several drained actors were snapshotted (each as with
    /// [`Engine::handle_snapshotted`]): they leave in as few `Migrate` batches as the
    /// batch size allows. Returns the names whose snapshot failed, with why.
    pub fn handle_snapshotted_all(
        &mut self,
        snapshots: Vec<(ChildId, Result<Option<Snapshot>, String>)>,
        now: Millis,
    ) -> Vec<(ActorKey, String)> {
        let mut failed = Vec::new();
        let mut drained = Vec::new();
        for (id, snapshot) in snapshots {
            let Some(child) = self.snapshotting.remove(&id) else {
                continue;
            };
            let snapshot = match snapshot {
                Ok(s) => s,
                Err(e) => {
                    failed.push((child.key.clone(), e));
                    child.fallback_state()
                }
            };
            drained.push(self.set_off(child, snapshot, now));
        }
        self.handoff.handle_drained_all(drained, now);
        failed
    }

    /// Hands a drained actor with its state to the handoff machine, which batches it.
    fn send_off(&mut self, child: Child, snapshot: Option<Snapshot>, now: Millis) {
        let (key, size) = self.set_off(child, snapshot, now);
        self.handoff.handle_drained(&key, size, now);
    }

    /// Keeps a drained actor's state for its move; returns its name and what it weighs in
    /// a batch, for the handoff machine.
    fn set_off(
        &mut self,
        child: Child,
        snapshot: Option<Snapshot>,
        now: Millis,
    ) -> (ActorKey, usize) {
        let key = child.key.clone();
        // What the entry weighs in a batch: state, arguments, name, kind and envelope.
        let size = snapshot.as_ref().map_or(0, |s| s.len())
            + child.meta.args.len()
            + key.as_str().len()
            + child.kind.len()
            + child.meta.order.len() * 16
            + 72;
        // Its last checkpoint stays behind: the state moves as `snapshot`.
        let mut meta = child.meta;
        meta.checkpoint = None;
        self.outgoing.insert(
            key.clone(),
            Outgoing {
                kind: child.kind,
                mode: child.mode,
                snapshot,
                started: now,
                meta,
                passive: false,
            },
        );
        (key, size)
    }

    /// The frames of `Migrate` batch `batch` of `keys`, in the order to send them:
    /// snapshots above half a frame travel in pieces before the batch.
    pub fn batch_frames(&self, batch: u64, keys: &[ActorKey]) -> Vec<Vec<u8>> {
        let frame_limit = self.config.max_frame_bytes;
        let incarnation = self.config.hello.incarnation;
        let mut frames = Vec::new();
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
                kind: out.kind.clone(),
                args: out.meta.args.clone(),
                // Copied only when it travels inline; a chunked one's checkpoint deltas (a
                // checkpoint taken as the state to move) travel here, without its bytes.
                snapshot: match &out.snapshot {
                    Some(snap) if pieces.is_empty() => Some(snap.clone()),
                    Some(snap) if !snap.deltas.is_empty() => Some(Snapshot {
                        version: snap.version,
                        bytes: Vec::new(),
                        deltas: snap.deltas.clone(),
                    }),
                    _ => None,
                },
                chunks: 0,
                version: 0,
                generation: out.meta.activation.generation,
                origin: out.meta.activation.origin.clone(),
                holders: out.meta.holders.all(&self.me),
                checkpoint_seq: out.meta.checkpoint_seq,
                order: out.meta.order.entries(),
                refused: self.handoff.refused_by(key),
                passive: out.passive,
            };
            if let (Some(snap), false) = (&out.snapshot, pieces.is_empty()) {
                entry.version = snap.version;
                for range in pieces {
                    frames.push(wire::encode_state_chunk(
                        &self.me,
                        incarnation,
                        batch,
                        key,
                        entry.chunks,
                        &snap.bytes[range],
                    ));
                    entry.chunks += 1;
                }
            }
            entries.push(entry);
        }
        frames.push(wire::encode(&Frame {
            from: self.me.clone(),
            incarnation,
            body: FrameBody::Migrate { batch, entries },
        }));
        frames
    }

    /// The frames that carry a conflicting copy of a name (`entry`, its state inline) to
    /// the node where this node's copy of it went: one `Conflict` frame, or, when its state
    /// does not fit one frame, its pieces and a `Migrate` batch of its own, which that node
    /// resolves against its copy the same way (and acknowledges; no batch of this node
    /// waits for that acknowledgement: like the `Conflict` frame, sent once).
    pub(crate) fn conflict_frames(&mut self, entry: MigrateEntry) -> Vec<FrameBody> {
        let mut entry = entry;
        let pieces = (entry.snapshot.as_ref())
            .map(|s| chunk_ranges(s.bytes.len(), self.config.max_frame_bytes))
            .unwrap_or_default();
        let snap = match entry.snapshot.take() {
            Some(snap) if !pieces.is_empty() => snap,
            snapshot => {
                entry.snapshot = snapshot;
                return vec![FrameBody::Conflict { entry }];
            }
        };
        let batch = self.handoff.next_batch_id();
        let mut frames = Vec::with_capacity(pieces.len() + 1);
        for range in pieces {
            frames.push(FrameBody::StateChunk {
                batch,
                key: entry.key.clone(),
                index: entry.chunks,
                bytes: snap.bytes[range].to_vec(),
            });
            entry.chunks += 1;
        }
        entry.version = snap.version;
        // Its checkpoint deltas travel in the entry, without the bytes (as in a batch).
        entry.snapshot = (!snap.deltas.is_empty()).then(|| Snapshot {
            version: snap.version,
            bytes: Vec::new(),
            deltas: snap.deltas,
        });
        frames.push(FrameBody::Migrate {
            batch,
            entries: vec![entry],
        });
        frames
    }

    /// `key` arrived at `to`, which acknowledged it: forget it here, point its holders and
    /// the routes at `to`, and forward what was held for it.
    pub(crate) fn handle_moved(&mut self, key: &ActorKey, to: &NodeName, now: Millis) -> MovedOut {
        let out = self.outgoing.remove(key);
        self.forwarded(key);
        // A passivated name's kept state: no actor of it was here, and nothing routes by
        // this move (its messages go by its owner; the state may even have come back here
        // already, a later view making this node its owner again).
        if !out.as_ref().is_some_and(|o| o.passive) {
            self.child_ids.remove(key);
            self.routing.handle_moved(key.clone(), to.clone());
        }
        let (mut bytes, mut ms) = (0, 0);
        if let Some(out) = out {
            self.recovery.rehost(key, &out.meta.holders, to, &self.mesh);
            bytes = out.snapshot.as_ref().map_or(0, |s| s.len());
            ms = now.0.saturating_sub(out.started.0);
            self.moved_kinds.insert(key.clone(), out.kind);
        }
        // A conflicting copy met ours here while ours was leaving: it follows ours.
        let conflict =
            (self.conflicts.remove(key)).map(|(from, entry)| (from, self.conflict_frames(entry)));
        // Its copy lost to one running at `to`: what was held for it is older than what
        // that copy took (casts are dropped, requests still go there).
        let releases = if self.superseded.remove(key) {
            self.hold.superseded(key, to)
        } else {
            self.hold.moved(key, to)
        };
        MovedOut {
            releases,
            conflict,
            bytes,
            ms,
        }
    }

    /// A restore of `key` could not start it here (its kind is unknown, or its start
    /// failed): it is gone, and so are its refusals.
    pub fn handle_restore_failed(&mut self, key: &ActorKey) {
        self.drain_on_restore.remove(key);
        self.handoff.forget(key);
    }

    /// The move of `key` has no target any more: it starts here again, as a new activation
    /// (a batch in flight may have reached its target anyway: if the two copies ever meet
    /// they are told apart, and the older one's checkpoints are fenced). `None`: nothing
    /// moves, or its kind is unknown.
    pub fn handle_restore(&mut self, key: &ActorKey) -> Option<Restore> {
        self.superseded.remove(key);
        self.forwarded(key);
        let out = self.outgoing.remove(key)?;
        self.child_ids.remove(key);
        let checkpoints = self.kind(&out.kind)?.checkpoints;
        let meta = out
            .meta
            .restored(&self.me, out.snapshot.clone(), checkpoints);
        Some(Restore {
            kind: out.kind,
            meta,
            snapshot: out.snapshot,
        })
    }

    /// A restored actor started: its holders get the new generation's spec (with its final
    /// state as the checkpoint); a copy that met it while it was leaving is resolved now.
    /// Returns what becomes of the messages held for it.
    pub fn handle_restored(
        &mut self,
        key: &ActorKey,
        meta: NameMeta<Snapshot>,
        now: Millis,
    ) -> Vec<Release> {
        if let Some(child) = self.child_of_mut(key) {
            child.meta = meta;
        }
        // A move planned while it was on its way back here: it goes on, to the new target.
        if let (Some(to), Some(&id)) = (self.drain_on_restore.remove(key), self.child_ids.get(key))
        {
            if let Some(child) = self.children.get_mut(&id) {
                child.draining = true;
                if self.starting.contains(&id) {
                    self.drain_after_start.insert(id, to.clone());
                    self.commands.push_back(super::Command::HoldForDrain {
                        key: key.clone(),
                        to,
                    });
                } else {
                    self.commands.push_back(super::Command::Drain {
                        key: key.clone(),
                        to,
                        id,
                    });
                }
            }
        }
        if let Some((from, entry)) = self.conflicts.remove(key) {
            let snapshot = entry.snapshot.clone();
            self.resolve_conflict(&from, entry, snapshot, now);
        }
        let held = self.hold.restored(key);
        self.replicate(Some(std::slice::from_ref(key)), now);
        held
    }

    /// A `Migrate` batch from `from`.
    pub(crate) fn handle_migrate(
        &mut self,
        from: &NodeName,
        batch: u64,
        entries: Vec<MigrateEntry>,
    ) -> MigrateOutcome {
        let chunked = entries
            .iter()
            .filter(|e| e.chunks > 0)
            .map(|e| (e.key.clone(), e.chunks));
        let mut snapshots = match self.inbound.handle_migrate(from, batch, chunked) {
            MigrateIn::Fresh(snapshots) => snapshots,
            MigrateIn::Duplicate => return MigrateOutcome::AckAgain,
            MigrateIn::InProgress => return MigrateOutcome::Nothing,
        };
        let mut arrivals = Vec::new();
        let mut incomplete = Vec::new();
        for mut entry in entries {
            let snapshot = if entry.chunks > 0 {
                match snapshots.remove(&entry.key) {
                    Some(Ok(bytes)) => Some(Snapshot {
                        version: entry.version,
                        bytes,
                        deltas: entry.snapshot.take().map(|s| s.deltas).unwrap_or_default(),
                    }),
                    other => {
                        // Incomplete: restart from the arguments rather than from half a state.
                        let got = match other {
                            Some(Err(missing)) => missing.got,
                            _ => 0,
                        };
                        incomplete.push((entry.key.clone(), entry.chunks, got));
                        None
                    }
                }
            } else {
                entry.snapshot.take()
            };
            arrivals.push((entry, snapshot));
        }
        MigrateOutcome::Start {
            arrivals,
            incomplete,
        }
    }

    /// What to do with a copy of a name arriving from `from` (by handoff or following a
    /// conflict), with the state `snapshot`.
    pub(crate) fn arrival(&self, entry: &MigrateEntry, snapshot: &Option<Snapshot>) -> Arrival {
        if self.child_ids.contains_key(&entry.key) {
            return Arrival::Conflict;
        }
        let Some(info) = self.kind(&entry.kind) else {
            return Arrival::UnknownKind;
        };
        let activation = Activation {
            generation: entry.generation,
            origin: entry.origin.clone(),
        };
        // The former host's holders keep the spec; checkpoints continue its sequence.
        let meta = NameMeta::new(entry.kind.clone(), entry.args.clone(), activation)
            .arrived(
                entry.holders.clone(),
                entry.checkpoint_seq,
                snapshot.clone(),
                info.checkpoints,
            )
            .with_order(entry.order.iter().cloned());
        Arrival::Start(Box::new(meta))
    }

    /// An arrival from `from` started here with `meta`. Returns true when it stays here
    /// (it is not moving on), although another node may own it.
    pub fn handle_arrived(
        &mut self,
        from: &NodeName,
        key: &ActorKey,
        meta: NameMeta<Snapshot>,
        now: Millis,
    ) -> bool {
        let mut meta = meta;
        // The holders it inherited name this node from now on.
        self.recovery.handle_adopted(key, &mut meta.holders);
        let mode = self.child_of(key).map(|c| c.mode);
        if let Some(child) = self.child_of_mut(key) {
            child.meta = meta;
        }
        if let Some(mode) = mode {
            self.handoff
                .handle_migrated_in(from, key.clone(), mode, now);
        }
        !self.handoff.is_moving(key)
    }
}
