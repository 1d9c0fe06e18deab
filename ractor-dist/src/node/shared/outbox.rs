//! The outbox: remote casts batched per peer, numbered, and routed again when their session
//! closes under them.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::NodeShared;
use crate::core::error::DistError;
use crate::core::wire::{self, CastItem, Frame, FrameBody};
use crate::core::{ActorKey, NodeName};
use crate::node::supervisor::{Gateway, SupervisorMsg};

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

/// A batch is sent at once when it reaches this size; smaller ones go out as soon as the
/// flush task runs (the next scheduling point).
const FLUSH_BYTES: usize = 256 * 1024;

impl NodeShared {
    /// Queues a cast for `host`; casts to one host leave in order, batched into one frame
    /// per flush. Requests to `host` flush first, so a cast followed by a call stays ordered.
    /// Returns `Ok(false)` (nothing queued) when the view changed since `generation`, the
    /// one the route was computed under: the caller must route again.
    pub(crate) fn enqueue_cast(
        self: &Arc<Self>,
        host: &NodeName,
        peer: &Gateway,
        item: CastItem,
        generation: u64,
    ) -> Result<bool, DistError> {
        // Item framing (lengths) and its stamp: 24 + 17 bytes encoded.
        let size = item.args.len() + item.variant.len() + item.key.as_str().len() + 48;
        if size > self.config.max_frame_bytes {
            return Err(DistError::TooLarge {
                size,
                limit: self.config.max_frame_bytes,
            });
        }
        let mut boxes = self.outboxes.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return Ok(false);
        }
        let outbox = boxes.entry(host.clone()).or_default();
        // A handle that cached a gateway whose session closed since: the newer one.
        let peer = &self.live_peer(host, outbox, peer);
        outbox.peer = Some(peer.clone());
        if outbox.bytes + size > FLUSH_BYTES.min(self.config.max_frame_bytes) {
            self.flush_locked(host, peer, outbox)?;
        }
        let mut item = item;
        item.stamp = Some(
            self.stamper
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .stamp(&item.key),
        );
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
        Ok(true)
    }

    /// Sends whatever is queued for `host` now.
    pub(crate) fn flush(&self, host: &NodeName, peer: &Gateway, from_task: bool) {
        let mut boxes = self.outboxes.lock().unwrap_or_else(|e| e.into_inner());
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
            let _ = self.flush_locked(host, &peer, outbox);
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
        let bytes = wire::encode(&frame);
        if peer.frame(bytes.clone()).is_ok() {
            return Ok(());
        }
        // The session closed under them. Over the view's newer session to the same peer
        // if there is one (a session replaced by a simultaneous dial).
        outbox.dead = Some(peer.id());
        let newer = self.live_peer(host, outbox, peer);
        if newer.id() != peer.id() && newer.frame(bytes).is_ok() {
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
            return self.unsendable(host, &keys);
        };
        let keys: Vec<ActorKey> = items.iter().map(|i| i.key.clone()).collect();
        match supervisor.cast(SupervisorMsg::Unsent(items)) {
            Ok(()) => {
                tracing::debug!(peer = %host, casts = count, "session closed; batched casts routed again");
                Ok(())
            }
            Err(_) => self.unsendable(host, &keys),
        }
    }

    /// Casts to `keys` that neither their peer nor this node's supervisor took: dropped,
    /// counted.
    fn unsendable(&self, host: &NodeName, keys: &[ActorKey]) -> Result<(), DistError> {
        let count = keys.len() as u64;
        self.counters
            .dropped_casts
            .fetch_add(count, Ordering::Relaxed);
        for key in keys {
            self.retire_stream(key);
        }
        tracing::warn!(peer = %host, casts = count, "peer unreachable; batched casts dropped");
        Err(DistError::Unreachable(host.clone()))
    }

    /// A numbered cast of this node to `key` was dropped before it left: its number never
    /// arrives, so the next cast starts a new stream (nothing waits for the lost one).
    pub(crate) fn retire_stream(&self, key: &ActorKey) {
        self.stamper
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retire(key);
    }
}
