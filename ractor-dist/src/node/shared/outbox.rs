//! The outbox: remote casts batched per peer, numbered, and routed again when their session
//! closes under them.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use std::collections::HashMap;

use super::NodeShared;
use crate::core::error::DistError;
use crate::core::order::Stamper;
use crate::core::wire::{self, CastItem, Frame, FrameBody};
use crate::core::{ActorKey, NodeName};
use crate::node::supervisor::{Gateway, SupervisorMsg};

/// Every peer's outbox and the numbering of this node's casts, under one lock: a cast is
/// numbered and queued in one step, so numbers leave in order.
pub(crate) struct Outboxes {
    pub(super) boxes: HashMap<NodeName, Outbox>,
    pub(super) stamper: Stamper,
}

impl Outboxes {
    /// Records the outboxes' sizes and the numbering's (see [`crate::core::footprint`]).
    pub(super) fn footprint(&self, f: &mut crate::core::Footprint) {
        f.add("node.outboxes", self.boxes.len());
        f.add(
            "node.outbox_casts",
            self.boxes.values().map(|b| b.items.len()).sum(),
        );
        self.stamper.footprint(f);
    }

    pub(super) fn new(stamper: Stamper) -> Self {
        Self {
            boxes: HashMap::new(),
            stamper,
        }
    }
}

/// A cast [`NodeShared::enqueue_cast`] did not queue, handed back.
pub(crate) enum Unqueued {
    /// The view changed since its route was computed: route it again.
    Stale(CastItem),
    /// It cannot be sent: too large, or the batch before it could not be flushed (the
    /// peer is unreachable).
    Refused(Box<DistError>, CastItem),
}

/// Casts waiting to be sent to one peer as a single batch frame.
#[derive(Default)]
pub(crate) struct Outbox {
    pub(super) peer: Option<Gateway>,
    /// The gateway whose session last refused a batch (closed): casts routed over it go
    /// over the view's newer gateway to the same peer once there is one.
    dead: Option<ractor::ActorId>,
    items: Vec<CastItem>,
    bytes: usize,
    scheduled: bool,
}

impl Outbox {
    /// Nothing is queued in it.
    pub(super) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// A batch is sent at once when it reaches this size; smaller ones go out as soon as the
/// flush task runs (the next scheduling point).
const FLUSH_BYTES: usize = 256 * 1024;

impl NodeShared {
    /// Queues a cast for `host`; casts to one host leave in order, batched into one frame
    /// per flush. Requests to `host` flush first, so a cast followed by a call stays ordered.
    /// Hands the cast back ([`Unqueued::Stale`]) when the view changed since `generation`,
    /// the one the route was computed under: the caller must route again.
    pub(crate) fn enqueue_cast(
        self: &Arc<Self>,
        host: &NodeName,
        peer: &Gateway,
        mut item: CastItem,
        generation: u64,
    ) -> Result<(), Unqueued> {
        // Item framing (lengths) and its stamp: 24 + 17 bytes encoded.
        let size = item.args.len() + item.variant.len() + item.key.as_str().len() + 48;
        if size > self.config.max_frame_bytes {
            let error = DistError::TooLarge {
                size,
                limit: self.config.max_frame_bytes,
            };
            return Err(Unqueued::Refused(Box::new(error), item));
        }
        let mut guard = self.outboxes.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return Err(Unqueued::Stale(item));
        }
        let Outboxes { boxes, stamper } = &mut *guard;
        // The hot path: the peer's outbox exists (no clone of its name).
        let outbox = match boxes.get_mut(host) {
            Some(outbox) => outbox,
            None => boxes.entry(host.clone()).or_default(),
        };
        // A handle that cached a gateway whose session closed since: the newer one.
        let dead = outbox.dead.is_some_and(|dead| dead == peer.id());
        let peer = if dead {
            &self.live_peer(host, outbox, peer)
        } else {
            peer
        };
        if outbox.peer.as_ref().is_none_or(|p| !p.same(peer)) {
            outbox.peer = Some(peer.clone());
        }
        if outbox.bytes + size > FLUSH_BYTES.min(self.config.max_frame_bytes) {
            if let Err(error) = self.flush_locked(host, peer, outbox, stamper) {
                return Err(Unqueued::Refused(Box::new(error), item));
            }
        }
        item.stamp = Some(stamper.stamp(&item.key));
        outbox.items.push(item);
        outbox.bytes += size;
        if !outbox.scheduled {
            outbox.scheduled = true;
            let this = self.clone();
            let host = host.clone();
            let peer = peer.clone();
            tokio::spawn(async move {
                this.flush(&host, &peer, true);
            });
        }
        Ok(())
    }

    /// Sends whatever is queued for `host` now.
    pub(crate) fn flush(&self, host: &NodeName, peer: &Gateway, from_task: bool) {
        let mut guard = self.outboxes.lock().unwrap_or_else(|e| e.into_inner());
        let Outboxes { boxes, stamper } = &mut *guard;
        if let Some(outbox) = boxes.get_mut(host) {
            if from_task {
                outbox.scheduled = false;
            }
            // The flush task sends over the session the latest cast was routed over; a
            // caller about to send something that must not overtake the casts (a request,
            // a barrier, a batch) over the one it passes.
            let peer = match (&outbox.peer, from_task) {
                (Some(latest), true) => latest.clone(),
                _ => peer.clone(),
            };
            let peer = self.live_peer(host, outbox, &peer);
            let _ = self.flush_locked(host, &peer, outbox, stamper);
        }
    }

    /// Sends now every batch holding a cast for `key`: a message for `key` about to be
    /// handed to the supervisor must not overtake them (a host that has not heard from
    /// this node about `key` starts the stream at the first number it sees and drops
    /// lower ones). A batch whose session closed reaches the supervisor first, as
    /// [`SupervisorMsg::Unsent`].
    pub(crate) fn flush_casts_for(&self, key: &ActorKey) {
        let mut guard = self.outboxes.lock().unwrap_or_else(|e| e.into_inner());
        self.flush_key_locked(&mut guard, key);
    }

    /// [`Self::flush_casts_for`] with the outboxes locked.
    fn flush_key_locked(&self, outboxes: &mut Outboxes, key: &ActorKey) {
        let Outboxes { boxes, stamper } = outboxes;
        for (host, outbox) in boxes.iter_mut() {
            if !outbox.items.iter().any(|item| item.key == *key) {
                continue;
            }
            if let Some(peer) = outbox.peer.clone() {
                // Refused: dropped and counted there (the peer is unreachable).
                let _ = self.flush_locked(host, &peer, outbox, stamper);
            }
        }
    }

    /// `peer`, unless its session refused a batch already and the view has a newer
    /// gateway to `host`.
    fn live_peer(&self, host: &NodeName, outbox: &Outbox, peer: &Gateway) -> Gateway {
        if outbox.dead != Some(peer.id()) {
            return peer.clone();
        }
        match self.view.load().supervisors.get(host) {
            Some(newer) if newer.id() != peer.id() => newer.clone(),
            _ => peer.clone(),
        }
    }

    pub(super) fn flush_locked(
        &self,
        host: &NodeName,
        peer: &Gateway,
        outbox: &mut Outbox,
        stamper: &mut Stamper,
    ) -> Result<(), DistError> {
        if outbox.items.is_empty() {
            return Ok(());
        }
        let items = std::mem::take(&mut outbox.items);
        outbox.bytes = 0;
        let count = items.len() as u64;
        let frame = Frame {
            from: self.me.clone(),
            incarnation: self.incarnation,
            body: FrameBody::Casts(items),
        };
        if peer.frame(wire::encode(&frame)).is_ok() {
            return Ok(());
        }
        // The session closed under them. Over the view's newer session to the same peer
        // if there is one (a session replaced by a simultaneous dial), encoded again (no
        // copy of every batch is kept for this rare case).
        outbox.dead = Some(peer.id());
        let newer = self.live_peer(host, outbox, peer);
        if newer.id() != peer.id() && newer.frame(wire::encode(&frame)).is_ok() {
            outbox.peer = Some(newer);
            return Ok(());
        }
        let FrameBody::Casts(items) = frame.body else {
            return Ok(());
        };
        // The session closed under them (replaced by a simultaneous dial, or the peer is
        // gone and the view has not caught up): the supervisor routes them again and parks
        // them until the sessions or the view change. They keep their numbers.
        let Some(supervisor) = self.supervisor.get() else {
            let keys: Vec<ActorKey> = items.into_iter().map(|i| i.key).collect();
            return self.unsendable(host, &keys, stamper);
        };
        let keys: Vec<ActorKey> = items.iter().map(|i| i.key.clone()).collect();
        // Pending in the supervisor until it handed them on or parked them: the handles'
        // next messages for those names go the same way, behind them (not straight over
        // a newer session, overtaking them).
        for key in &keys {
            self.local_send_started(key);
        }
        match supervisor.cast(SupervisorMsg::Unsent(items)) {
            Ok(()) => {
                tracing::debug!(peer = %host, casts = count, "session closed; batched casts routed again");
                Ok(())
            }
            Err(_) => {
                for key in &keys {
                    self.local_send_done(key);
                }
                self.unsendable(host, &keys, stamper)
            }
        }
    }

    /// Casts to `keys` that neither their peer nor this node's supervisor took: dropped,
    /// counted.
    fn unsendable(
        &self,
        host: &NodeName,
        keys: &[ActorKey],
        stamper: &mut Stamper,
    ) -> Result<(), DistError> {
        let count = keys.len() as u64;
        self.counters
            .dropped_casts
            .fetch_add(count, Ordering::Relaxed);
        // Their numbers never arrive: the next casts to them start new streams.
        for key in keys {
            stamper.retire(key);
        }
        tracing::warn!(peer = %host, casts = count, "peer unreachable; batched casts dropped");
        Err(DistError::Unreachable(host.clone()))
    }

    /// The number of this node's next cast to `key`, for a cast that leaves through the
    /// supervisor (a local handle's message it forwards): in one stream with the casts the
    /// outbox numbers, so the host delivers them in the order they were sent.
    /// Casts to `key` still in an outbox (numbered before this one) leave first, under
    /// the same lock: this one cannot overtake them.
    pub(crate) fn stamp(&self, key: &ActorKey) -> crate::core::order::Stamp {
        let mut guard = self.outboxes.lock().unwrap_or_else(|e| e.into_inner());
        self.flush_key_locked(&mut guard, key);
        guard.stamper.stamp(key)
    }

    /// A numbered cast of this node to `key` was dropped before it left: its number never
    /// arrives, so the next cast starts a new stream (nothing waits for the lost one).
    pub(crate) fn retire_stream(&self, key: &ActorKey) {
        self.outboxes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stamper
            .retire(key);
    }
}
