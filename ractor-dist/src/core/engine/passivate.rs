//! Passivation of on-demand actors: which to stop when (idle past their kind's timeout, or
//! the least recently used beyond the node's cap), and the state kept of each until its
//! next message starts it again here.

use super::{ChildId, Engine, Outgoing};

/// What a passivated name left behind: its state and the arguments it was started with.
#[derive(Debug)]
pub(crate) struct Kept {
    /// Its state (`None`: it had none to snapshot).
    pub(crate) snapshot: Option<Snapshot>,
    /// Its spawn arguments.
    pub(crate) args: Vec<u8>,
}
use crate::core::{Activation, ActorKey, Millis, NameMeta, NodeName, Placement, Snapshot};

impl Engine {
    /// Whether any actor here may be passivated: the node caps its active actors
    /// (`max_active` above 0) or an on-demand kind has an idle timeout (kinds can change
    /// while the node runs, [`Engine::set_kind`]). Every actor of an on-demand kind has its
    /// activity tracked; without this, nothing needs to look at it.
    pub(crate) fn passivation_enabled(&self) -> bool {
        self.config.max_active > 0
            || self
                .config
                .kinds
                .values()
                .any(|k| k.on_demand && k.idle_timeout_ms.is_some())
    }

    /// The actors to passivate now, given `activity`: the time of the last message of each
    /// actor of an on-demand kind running here. An actor is passivated when it has been
    /// idle for its kind's idle timeout, or, while more than `max_active` of them run,
    /// when it is among the least recently used (ties by name). Only an actor that serves
    /// its name here as its owner, has started, and is neither moving, stopping nor
    /// passivating, is
    /// passivated, and only while the node is settled, not leaving and not fenced.
    pub(crate) fn passivation_due(
        &self,
        now: Millis,
        activity: &[(ActorKey, Millis)],
    ) -> Vec<ActorKey> {
        let quiet = self.handoff.is_settled() && !self.is_leaving() && !self.recovery.is_fenced();
        if !quiet {
            return Vec::new();
        }
        let routes = self.routing.routes();
        let mut due = Vec::new();
        let mut kept: Vec<(Millis, &ActorKey)> = Vec::new();
        for (key, last) in activity {
            let Some(&id) = self.child_ids.get(key) else {
                continue;
            };
            let Some(child) = self.children.get(&id) else {
                continue;
            };
            let Some(info) = self.kind(&child.kind) else {
                continue;
            };
            // (an actor still starting cannot be drained: ractor would refuse to start it,
            // losing its mailbox and the state it restores)
            let eligible = info.on_demand
                && !self.starting.contains(&id)
                && !child.draining
                && !child.stopping
                && !self.passivating.contains_key(&id)
                && self.hold.held_for(key) == 0
                && routes.owner_of(key) == Some(&self.me);
            if !eligible {
                continue;
            }
            let idle = now.0.saturating_sub(last.0);
            match info.idle_timeout_ms {
                Some(timeout) if idle >= timeout => due.push(key.clone()),
                _ => kept.push((*last, key)),
            }
        }
        let cap = self.config.max_active;
        if cap > 0 && kept.len() > cap {
            kept.sort();
            let excess = kept.len() - cap;
            due.extend(kept.into_iter().take(excess).map(|(_, k)| k.clone()));
        }
        due
    }

    /// Actor `id`, serving `key`, stops to be passivated: messages for it are held (its
    /// entry is moving) until [`Engine::handle_passivated`].
    pub(crate) fn handle_passivating(&mut self, key: &ActorKey, id: ChildId) {
        self.passivating.insert(id, key.clone());
    }

    /// Actor `id` exited. If it was being passivated, it is forgotten (its holders drop
    /// its spec: nothing of it runs) and `snapshot` is kept for its next activation here;
    /// returns its name. `None`: it was not being passivated, or a handoff began draining
    /// it meanwhile (a view changed): its exit is an ordinary one (it moves).
    pub(crate) fn handle_passivated(
        &mut self,
        id: ChildId,
        snapshot: Option<Snapshot>,
    ) -> Option<ActorKey> {
        let key = self.passivating.remove(&id)?;
        if self.children.get(&id).is_some_and(|c| c.draining) {
            return None;
        }
        let mut args = Vec::new();
        if let Some(child) = self.children.remove(&id) {
            self.handle_unhosted(&key, id);
            self.handoff.forget(&key);
            self.recovery.unreplicate(&key, &child.meta.holders);
            self.recovery.flush();
            args = child.meta.args;
        }
        self.passivated.insert(key.clone(), Kept { snapshot, args });
        Some(key)
    }

    /// Takes the state kept of passivated `key` to start it with (`Some(None)`: it was
    /// passivated without a snapshot; `None`: it was not passivated here).
    pub(crate) fn take_passivated(&mut self, key: &ActorKey) -> Option<Option<Snapshot>> {
        self.passivated.remove(key).map(|kept| kept.snapshot)
    }

    /// The state of passivated `key` arrived from `from`, its former owner (an entry of a
    /// `Migrate` batch marked passive): kept here for its next activation. A copy of the
    /// name that runs or starts here already, or a state kept here already, serves it:
    /// the arrival is dropped (counted). When this node is not the name's owner any more
    /// (the owner changed again while it was on its way, or this node leaves), it goes on
    /// to the owner at once, and its `batch` is acknowledged only once it got there
    /// ([`Engine::forwarding`]).
    pub(crate) fn handle_passive_arrival(
        &mut self,
        from: &NodeName,
        batch: Option<u64>,
        key: ActorKey,
        snapshot: Option<Snapshot>,
        args: Vec<u8>,
    ) {
        if self.child_ids.contains_key(&key)
            || self.arriving.contains(&key)
            || self.passivated.contains_key(&key)
        {
            self.note(super::frames::Note::PassiveStateDropped {
                key,
                from: from.clone(),
            });
            return;
        }
        self.passivated.insert(key.clone(), Kept { snapshot, args });
        self.routing.handle_kept(&key);
        let owner = self.placement.owner_of(&key).cloned();
        if let Some(owner) = owner.filter(|o| *o != self.me) {
            let now = self.now;
            if let Some((key, owner, size)) = self.set_off_passivated(key, owner, now) {
                // Acknowledged once the owner took it: its sender's barrier (which waits
                // for that owner too, the name's owner having changed) holds the owner back
                // from settling, and so from starting the name afresh, until it is there.
                if let Some(batch) = batch {
                    self.forwarding.insert(key.clone(), (from.clone(), batch));
                }
                self.handoff.handle_at_rest_now(key, owner, size, now);
            }
        }
    }

    /// The forward of kept `key` ended (its owner took it, or it starts here): the batch
    /// it came in is acknowledged once nothing else of it is on its way.
    pub(crate) fn forwarded(&mut self, key: &ActorKey) {
        if let Some((from, batch)) = self.forwarding.remove(key) {
            self.acknowledge(&from, batch);
        }
    }

    /// The states kept of names passivated here whose owner in the view being adopted
    /// (`placement`) is another node go there in this view's handoff, before this node's
    /// barrier, as moves with nothing to drain; the new owner keeps the state for the
    /// name's next activation. A `Stay` kind's moves too (nothing of it runs here to stay);
    /// a `Restart` kind's is dropped, as a running one's state would be (its next
    /// activation starts afresh). A move that loses its target (or that every node
    /// refuses) starts the name here from that state, as any move that falls back does.
    pub(crate) fn move_passivated(&mut self, placement: &Placement, now: Millis) {
        let moving: Vec<(ActorKey, NodeName)> = (self.passivated.keys())
            .filter_map(|key| {
                let owner = placement.owner_of(key).filter(|o| **o != self.me)?;
                Some((key.clone(), owner.clone()))
            })
            .collect();
        for (key, owner) in moving {
            if let Some((key, owner, size)) = self.set_off_passivated(key, owner, now) {
                self.handoff.handle_at_rest(key, owner, size, now);
            }
        }
    }

    /// Takes the state kept of passivated `key` out, as a passive move to `owner`; returns
    /// what the handoff machine needs (`None`: nothing moves).
    fn set_off_passivated(
        &mut self,
        key: ActorKey,
        owner: NodeName,
        now: Millis,
    ) -> Option<(ActorKey, NodeName, usize)> {
        if self.handoff.is_moving(&key) || self.outgoing.contains_key(&key) {
            return None;
        }
        let (kind, _) = super::dispatch::on_demand_parts(&key)?;
        let kind = kind.to_string();
        let mode = self.kind(&kind)?.mode;
        let Kept { snapshot, args } = self.passivated.remove(&key)?;
        if !mode.carries_state() {
            return None;
        }
        let size = snapshot.as_ref().map_or(0, |s| s.len())
            + args.len()
            + key.as_str().len()
            + kind.len()
            + 72;
        let activation = Activation::first(self.me.clone());
        self.outgoing.insert(
            key.clone(),
            Outgoing {
                kind: kind.clone(),
                mode,
                snapshot,
                started: now,
                meta: NameMeta::new(kind, args, activation),
                passive: true,
            },
        );
        Some((key, owner, size))
    }

    /// Names passivated here (their state kept).
    pub fn passivated_len(&self) -> usize {
        self.passivated.len()
    }
}
