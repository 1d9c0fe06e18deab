//! Executing the hold queues: the core (`core::hold`) decides what is held, for how long and
//! where it goes; this keeps the payloads (reply ports, typed messages, bytes) by message id
//! and carries the decisions out.

use std::any::Any;
use std::sync::Arc;

use ractor::message::SerializedMessage;
use ractor::{ActorCell, ActorRef, RpcReplyPort};

use super::{Payload, SupervisorMsg, SupervisorState};
use crate::core::engine::Sequenced;
use crate::core::wire::{self, FrameBody, RemoteError, Req, Request, Response};
use crate::core::{ActorKey, HoldError, Millis, MsgId, NodeName, Release};
use crate::node::shared::{Counters, HostedEntry, NodeShared};

/// Keeps a local handle's message counted as pending for its name in the shared state
/// while the supervisor holds it: later local sends follow it through the supervisor (in
/// order) and are refused past the per-name cap. Dropped once delivered, forwarded or
/// dropped.
pub(super) struct PendingLocal {
    key: ActorKey,
    shared: Arc<NodeShared>,
    /// A local call's: told when the message is refused over a hold cap.
    refused: Refusal,
}

/// Serializes a local handle's typed message (the handle's message type's), for a message
/// the supervisor forwards to another node.
pub(crate) type Serialize = fn(Box<dyn Any + Send>) -> Result<SerializedMessage, String>;

/// [`Serialize`] for messages of type `M`.
pub(crate) fn serialize_as<M: ractor::Message>(
    msg: Box<dyn Any + Send>,
) -> Result<SerializedMessage, String> {
    let msg = msg
        .downcast::<M>()
        .map_err(|_| "the message has another type".to_string())?;
    (*msg)
        .serialize()
        .map_err(|_| "the message does not serialize".to_string())
}

/// Where a local call learns that its message was refused over a hold cap (the message,
/// with its reply port, is dropped): it then reports `Overloaded`, not `Stopped`.
pub(crate) type Refusal = Option<tokio::sync::oneshot::Sender<HoldError>>;

impl PendingLocal {
    fn new(shared: &Arc<NodeShared>, key: &ActorKey) -> Self {
        shared.local_send_started(key);
        Self {
            key: key.clone(),
            shared: shared.clone(),
            refused: None,
        }
    }

    /// Takes the refusal channel (the message is handed on).
    fn take_refusal(&mut self) -> Refusal {
        self.refused.take()
    }
}

impl Drop for PendingLocal {
    fn drop(&mut self) {
        self.shared.local_send_done(&self.key);
    }
}

/// How a message being dispatched has waited so far.
#[derive(Clone, Copy, Debug)]
pub(super) struct Waited {
    /// When it was first held (now for a new message): parked again, it keeps this time.
    pub(super) since: Millis,
    /// It was parked for the whole park deadline: it is handled without a further
    /// admission check.
    pub(super) expired: bool,
}

impl Waited {
    /// A message that has not waited.
    pub(super) fn new(now: Millis) -> Self {
        Self {
            since: now,
            expired: false,
        }
    }
}

impl SupervisorState {
    /// A local handle's message for `key`, counted as pending while it exists.
    pub(super) fn local_payload(
        &self,
        key: &ActorKey,
        msg: Box<dyn Any + Send>,
        serialize: Serialize,
        refused: Refusal,
    ) -> Payload {
        let mut pending = PendingLocal::new(&self.shared, key);
        pending.refused = refused;
        Payload::Local(msg, pending, serialize)
    }

    /// Holds `payload` for `key`, which is moving away or fenced, until its move ends.
    /// Over a cap it is refused.
    pub(super) fn hold_moving(&mut self, key: &ActorKey, from: &NodeName, payload: Payload) {
        let now = self.now();
        match self.engine.hold.buffer(key, from, payload.kind(), now) {
            Ok(id) => self.keep(id, payload),
            Err(e) => self.refuse(key, payload, &e),
        }
        self.publish_hold();
    }

    /// Parks `payload` for `key` until the node settles; `since` is when it was first
    /// held (now, or its original time when it is parked again). Over a cap it is refused.
    pub(super) fn hold_parked(
        &mut self,
        key: &ActorKey,
        from: &NodeName,
        payload: Payload,
        since: Millis,
    ) {
        match self.engine.hold.park(key, from, payload.kind(), since) {
            Ok(id) => self.keep(id, payload),
            Err(e) => {
                if *from == self.shared.me
                    && matches!(payload, Payload::Cast { stamp: Some(_), .. })
                {
                    // One of this node's numbered casts (routed again): it never arrives.
                    self.shared.retire_stream(key);
                }
                self.refuse(key, payload, &e)
            }
        }
        self.publish_hold();
    }

    /// Keeps the payload of held message `id` (and tells the queues a cast's stamp).
    fn keep(&mut self, id: MsgId, payload: Payload) {
        if let Payload::Cast {
            stamp: Some(stamp), ..
        } = &payload
        {
            self.engine.hold.stamp(id, stamp.clone());
        }
        self.held.insert(id, payload);
    }

    /// A message over a hold cap: a request is answered with the error, a cast dropped;
    /// each is counted.
    fn refuse(&self, key: &ActorKey, payload: Payload, error: &HoldError) {
        let n = Counters::bump(&self.shared.counters.hold_refused);
        if crate::core::status::worth_logging(n) {
            tracing::warn!(name = %key, %error, count = n, "message refused: hold queue full");
        }
        match payload {
            Payload::Request { reply, .. } => {
                let _ = reply.send(wire::encode(&Response::Err(RemoteError::Overloaded {
                    key: key.clone(),
                    reason: error.to_string(),
                })));
            }
            // Told before the message (and its reply port) is dropped.
            Payload::Local(_, mut pending, _) => {
                if let Some(refused) = pending.take_refusal() {
                    let _ = refused.send(error.clone());
                }
            }
            Payload::Cast { .. } => {}
        }
    }

    /// Publishes which hold queues are full (local handles refuse at once) and the gauge.
    pub(super) fn publish_hold(&mut self) {
        if let Some((names, node_full)) = self.engine.hold.poll_full() {
            self.shared.set_hold_full(names, node_full);
        }
        self.shared.buffered.store(
            self.engine.hold.len() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }

    /// Carries out the core's decisions about the held messages of `key`.
    pub(super) fn release(&mut self, key: &ActorKey, releases: Vec<Release>) {
        let now = self.now();
        for release in releases {
            match release {
                Release::Deliver(id) => {
                    let Some(payload) = self.held.remove(&id) else {
                        continue;
                    };
                    match self.shared.hosted(key) {
                        Some(entry) => {
                            let me = self.engine.me.clone();
                            self.deliver_ordered(key, &me, &entry, payload, now)
                        }
                        None => self.answer_gone(key, payload),
                    }
                }
                Release::Forward(id, to) => {
                    let Some(payload) = self.held.remove(&id) else {
                        continue;
                    };
                    let waited = Waited::new(self.now());
                    self.forward(key, &to, payload, waited);
                }
                Release::NotFound(id) | Release::Drop(id) => {
                    if let Some(payload) = self.held.remove(&id) {
                        self.answer_gone(key, payload);
                    }
                }
            }
        }
        self.publish_hold();
    }

    /// A held message whose name is gone: a request is answered `NotFound`, a cast dropped.
    fn answer_gone(&self, key: &ActorKey, payload: Payload) {
        match payload {
            Payload::Request { reply, .. } => {
                let _ = reply.send(wire::encode(&Response::Err(RemoteError::NotFound(
                    key.clone(),
                ))));
            }
            Payload::Cast { .. } | Payload::Local(..) => {
                Counters::bump(&self.shared.counters.dropped_casts);
            }
        }
    }

    /// Answers the held requests of a name that is gone and drops its other messages.
    pub(super) fn drop_buffered(&mut self, key: &ActorKey) {
        let releases = self.engine.hold.gone(key);
        self.release(key, releases);
    }

    /// Dispatches parked messages again (those that still may not be handled are parked
    /// again, with their original time). With `expired_only`, only those parked for longer
    /// than the park deadline are released, and without the admission check.
    pub(super) async fn release_parked(&mut self, expired_only: bool) {
        let now = self.now();
        let released = self.engine.release_parked(now, expired_only);
        if !released.is_empty() {
            tracing::debug!(
                count = released.len(),
                expired_only,
                "releasing parked messages"
            );
        }
        for (id, held) in released {
            let Some(payload) = self.held.remove(&id) else {
                continue;
            };
            let since = held.since;
            let waited = Waited {
                since,
                expired: expired_only,
            };
            match payload {
                cast @ Payload::Cast { .. } => {
                    self.deliver_cast_admitted(&held.from, held.key, cast, waited, now)
                }
                Payload::Request { request, reply } => {
                    self.dispatch_request_admitted(held.from, request, reply, waited)
                        .await
                }
                local @ Payload::Local(..) => {
                    self.local_dispatch(held.key, local, since, expired_only)
                }
            }
        }
        self.publish_gauges();
    }

    /// A typed message from a local handle whose actor is moving or settling.
    pub(super) async fn local_send(
        &mut self,
        _myself: &ActorRef<SupervisorMsg>,
        key: ActorKey,
        msg: Box<dyn Any + Send>,
        serialize: Serialize,
        refused: Refusal,
    ) {
        let now = self.now();
        let payload = self.local_payload(&key, msg, serialize, refused);
        self.local_dispatch(key.clone(), payload, now, false);
        // Taken: held (counted by its payload), delivered or forwarded.
        self.shared.local_send_done(&key);
        self.publish_gauges();
    }

    /// Sends one held message for `key` to its new host, in order with the others (a cast
    /// whose session closed under it is parked, as `waited` allows).
    pub(super) fn forward(
        &mut self,
        key: &ActorKey,
        to: &NodeName,
        payload: Payload,
        waited: Waited,
    ) {
        match payload {
            Payload::Cast {
                variant,
                args,
                stamp,
                ..
            } => {
                let body = FrameBody::Cast {
                    key: key.clone(),
                    variant,
                    args,
                    hops: 0,
                    stamp,
                };
                if let Err(body) = self.try_send_frame(to, body) {
                    let me = self.engine.me.clone();
                    self.unsent_cast(key, &me, *body, 0, waited);
                }
            }
            Payload::Request { request, reply } => self.forward_request(to, request, reply),
            // `_pending` lives until the message is handed on: the handle's next messages
            // follow it through here until then.
            Payload::Local(msg, _pending, serialize) => {
                match serialize(msg) {
                    Ok(SerializedMessage::Cast { variant, args, .. }) => {
                        // Numbered in the stream of the casts the outbox sends, so that
                        // the host keeps this sender's order across both paths.
                        let stamp = self.shared.stamp(key);
                        let cast = Payload::cast(variant, args, 0, Some(stamp));
                        self.forward(key, to, cast, waited);
                    }
                    Ok(SerializedMessage::Call {
                        variant,
                        args,
                        reply,
                        ..
                    }) => {
                        let timeout = reply
                            .get_timeout()
                            .unwrap_or(self.shared.config.request_timeout);
                        let request = Request::Call {
                            key: key.clone(),
                            variant,
                            args,
                            timeout_ms: timeout.as_millis() as u64,
                        };
                        let (tx, rx) = ractor::concurrency::oneshot();
                        self.forward_request(to, request, RpcReplyPort::from((tx, timeout)));
                        tokio::spawn(async move {
                            if let Ok(Ok(bytes)) = tokio::time::timeout(timeout, rx).await {
                                if let Ok(Response::Reply(r)) =
                                    wire::decode::<Response>(&bytes, u64::MAX)
                                {
                                    let _ = reply.send(r);
                                }
                            }
                        });
                    }
                    Ok(_) | Err(_) => {
                        Counters::bump(&self.shared.counters.bad_messages);
                        tracing::warn!(name = %key, "a held message could not be serialized; dropped");
                    }
                }
            }
        }
    }

    /// Sends a request to `to` now (in order with frames already sent), relaying the
    /// response to `reply`.
    fn forward_request(&self, to: &NodeName, request: Request, reply: RpcReplyPort<Vec<u8>>) {
        // The supervisor's own gateways (the published view may not have a just-confirmed
        // one yet: parked messages are released before it is published).
        let Some(peer) = self.supervisors.get(to).cloned() else {
            let _ = reply.send(wire::encode(&Response::Err(RemoteError::Unavailable(
                to.to_string(),
            ))));
            return;
        };
        let timeout = reply
            .get_timeout()
            .unwrap_or(self.shared.config.request_timeout);
        let bytes = wire::encode(&Req {
            from: self.shared.me.clone(),
            body: request,
        });
        let (tx, rx) = ractor::concurrency::oneshot();
        if peer
            .send_request(bytes, RpcReplyPort::from((tx, timeout)))
            .is_err()
        {
            let _ = reply.send(wire::encode(&Response::Err(RemoteError::Unavailable(
                to.to_string(),
            ))));
            return;
        }
        tokio::spawn(async move {
            let response = match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(_)) => wire::encode(&Response::Err(RemoteError::Unavailable(
                    "forwarding failed".into(),
                ))),
                Err(_) => wire::encode(&Response::Err(RemoteError::Timeout)),
            };
            let _ = reply.send(response);
        });
    }

    /// Delivers `payload` to the actor of `key` here; a stamped cast in its sender's order
    /// (it may wait for an earlier one, or come too late: see `core::order`), then the
    /// casts that waited for it.
    pub(super) fn deliver_ordered(
        &mut self,
        key: &ActorKey,
        from: &NodeName,
        entry: &HostedEntry,
        payload: Payload,
        now: Millis,
    ) {
        let mut next = Some(payload);
        let mut released = false;
        while let Some(payload) = next.take() {
            let stamp = match &payload {
                Payload::Cast { stamp, .. } => stamp.as_ref(),
                _ => None,
            };
            match self.engine.sequence(key, from, stamp, now) {
                Sequenced::Deliver(then) => {
                    self.deliver_here(key, &entry.cell, &entry.kind, payload);
                    next = then.into_iter().find_map(|r| match r {
                        Release::Deliver(id) => self.held.remove(&id),
                        _ => None,
                    });
                    released |= next.is_some();
                }
                Sequenced::Wait(id) => {
                    self.held.insert(id, payload);
                    self.publish_hold();
                }
                Sequenced::Drop(why) => self.drop_cast(key, why),
                Sequenced::Refused(e) => self.refuse(key, payload, &e),
            }
        }
        if released {
            self.publish_hold();
        }
    }

    pub(super) fn deliver_here(
        &self,
        key: &ActorKey,
        cell: &ActorCell,
        kind: &std::sync::Arc<dyn crate::node::kind::ErasedKind>,
        payload: Payload,
    ) {
        match payload {
            Payload::Local(msg, _pending, _) => {
                let _ = kind.deliver_any(key, cell, msg);
            }
            Payload::Cast { variant, args, .. } => {
                let _ = kind.deliver(
                    &self.shared,
                    key,
                    cell,
                    SerializedMessage::Cast {
                        variant,
                        args,
                        metadata: None,
                    },
                );
            }
            Payload::Request {
                request: Request::Stop { .. },
                reply,
            } => {
                cell.stop(Some("stopped by request".to_string()));
                let _ = reply.send(wire::encode(&Response::Stopped));
            }
            Payload::Request { request, reply } => {
                if let Request::Call {
                    variant,
                    args,
                    timeout_ms,
                    ..
                } = request
                {
                    let (msg, rx, timeout) =
                        super::requests::call_message(variant, args, timeout_ms);
                    if let Err(e) = kind.deliver(&self.shared, key, cell, msg) {
                        let _ = reply.send(wire::encode(&Response::Err(e)));
                        return;
                    }
                    tokio::spawn(super::requests::relay_reply(
                        key.clone(),
                        rx,
                        reply,
                        timeout,
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::config::DistConfig;
    use crate::core::{HoldError, Incarnation};
    use crate::node::kind::Kinds;

    fn shared(per_name: usize) -> Arc<NodeShared> {
        let config = DistConfig {
            hold_per_name: per_name,
            ..DistConfig::for_tests("t", 1)
        };
        Arc::new(NodeShared::new(
            config,
            Kinds::default(),
            Incarnation(1),
            Arc::default(),
        ))
    }

    #[test]
    fn local_sends_are_refused_at_the_per_name_cap_until_one_is_taken() {
        let shared = shared(2);
        let key = ActorKey::from("x");
        assert_eq!(shared.local_send_admitted(&key), Ok(()));
        // Held by the supervisor: still pending for the name.
        let held = PendingLocal::new(&shared, &key);
        shared.local_send_done(&key);
        assert_eq!(shared.local_send_admitted(&key), Ok(()));
        assert_eq!(
            shared.local_send_admitted(&key),
            Err(HoldError::NameFull {
                key: key.clone(),
                cap: 2
            })
        );
        assert_eq!(shared.local_send_admitted(&ActorKey::from("y")), Ok(()));
        drop(held);
        assert_eq!(shared.local_send_admitted(&key), Ok(()));
    }

    #[test]
    fn a_published_full_queue_refuses_at_once() {
        let shared = shared(100);
        let key = ActorKey::from("x");
        shared.set_hold_full(vec![key.clone()], false);
        assert_eq!(
            shared.local_send_admitted(&key),
            Err(HoldError::NameFull {
                key: key.clone(),
                cap: 100
            })
        );
        assert!(
            !shared.local_send_pending(&key),
            "a refused send is not pending"
        );
        shared.set_hold_full(Vec::new(), true);
        assert_eq!(
            shared.local_send_admitted(&key),
            Err(HoldError::NodeFull { cap: 100_000 })
        );
        shared.set_hold_full(Vec::new(), false);
        assert_eq!(shared.local_send_admitted(&key), Ok(()));
    }
}
