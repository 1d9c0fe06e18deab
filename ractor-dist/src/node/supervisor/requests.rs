//! Frames and requests, from peers and from local handles.

use std::time::Duration;

use ractor::message::SerializedMessage;
use ractor::{ActorRef, RpcReplyPort};

use super::hold::Waited;
use super::{cid, Payload, SupervisorMsg, SupervisorState, Token};
use crate::core::admission::{self, Refused};
use crate::core::engine::{lookup_answer, not_here, Asks, Dispatch, Unsent};
use crate::core::tokens::PendingHello;
use crate::core::wire::{
    self, CastItem, Frame, FrameBody, RemoteError, Req, Request, Response, WireError,
};
use crate::core::{ActorKey, Context, Decision, Millis, NodeName};
use crate::node::shared::{Counters, EntryState};

impl SupervisorState {
    fn limit(&self) -> u64 {
        self.shared.config.max_frame_bytes as u64
    }

    fn count_bad_input(&self, what: &str, error: &WireError) {
        let n = match error {
            WireError::Version { .. } => Counters::bump(&self.shared.counters.version_mismatches),
            _ => Counters::bump(&self.shared.counters.bad_frames),
        };
        if crate::core::status::worth_logging(n) {
            tracing::warn!(%error, count = n, "rejected a malformed {what}");
        }
    }

    /// A peer's frame was refused by `core::admission`: counted and logged (the first few,
    /// then every 1000th).
    fn count_refused(&self, what: &str, refused: &Refused) {
        let n = Counters::bump(&self.shared.counters.frames_refused);
        if n <= 10 || n % 1000 == 0 {
            tracing::warn!(error = %refused, count = n, "refused a {what}");
        }
    }

    pub(super) async fn handle_frame(&mut self, bytes: &[u8], token: Token) {
        let frame: Frame = match wire::decode(bytes, self.limit()) {
            Ok(f) => f,
            Err(e) => return self.count_bad_input("frame", &e),
        };
        let session = self.tokens.session_of(token);
        if let Err(refused) = self.engine.admit(session, &frame) {
            if let Refused::Unauthenticated { claimed } = &refused {
                self.tokens.handle_refused(claimed);
            }
            return self.count_refused("frame", &refused);
        }
        let now = self.now();
        match frame.body {
            FrameBody::Token { token } => {
                self.tokens.handle_token(frame.from, token);
                self.run_tokens();
            }
            FrameBody::Hello { hello, reply } => {
                // Until this node can answer its sender (it is still confirming the
                // sender's session token), the hello waits in the tokens.
                let pending = PendingHello {
                    from: frame.from,
                    incarnation: frame.incarnation,
                    hello,
                    reply,
                };
                if let Some(pending) = self.tokens.handle_hello(pending) {
                    self.hello(pending);
                }
            }
            body => {
                self.engine
                    .handle_heard(&frame.from, frame.incarnation, now);
                self.handle_body(frame.from, body).await;
            }
        }
    }

    /// A hello whose sender's supervisor this node can send to.
    pub(super) fn hello(&mut self, pending: PendingHello) {
        let now = self.now();
        let PendingHello {
            from,
            incarnation,
            hello,
            reply,
        } = pending;
        let outcome = self
            .engine
            .handle_hello(&from, incarnation, hello, reply, now);
        if let Err(error) = outcome {
            let n = Counters::bump(&self.shared.counters.bad_frames);
            tracing::warn!(?error, count = n, "hello refused");
        }
    }

    /// A frame from `from`: the engine takes the control frames; casts and replicated
    /// values are handled here.
    pub(super) async fn handle_body(&mut self, from: NodeName, body: FrameBody) {
        let now = self.now();
        match self.engine.handle_frame(&from, body, now) {
            Some(FrameBody::Cast {
                key,
                variant,
                args,
                hops,
                stamp,
            }) => {
                let cast = Payload::cast(variant, args, hops, stamp);
                self.deliver_cast(&from, key, cast, now)
            }
            // One clock read per batch: its casts arrived together.
            Some(FrameBody::Casts(items)) => {
                for item in items {
                    let cast = Payload::cast(item.variant, item.args, 0, item.stamp);
                    self.deliver_cast(&from, item.key, cast, now);
                }
            }
            Some(FrameBody::Replica(msg)) => {
                self.shared.replicas.handle_msg(&self.shared, &from, msg)
            }
            _ => {}
        }
    }

    /// Casts this node's outbox could not hand to a peer's session (it closed under them):
    /// routed again from here, parked until the sessions or the view change if their route
    /// is still that session. Their numbers are kept, so the host delivers them in order.
    pub(super) fn unsent(&mut self, items: Vec<CastItem>) {
        let me = self.shared.me.clone();
        let now = self.now();
        for item in items {
            let key = item.key.clone();
            let cast = Payload::cast(item.variant, item.args, 0, item.stamp);
            self.deliver_cast(&me, item.key, cast, now);
            // Counted as pending by the outbox that handed it back; sent, parked or
            // dropped now. (A parked one is no longer pending: the handles' next casts
            // are kept behind it by their numbers and by parked messages being released
            // before a view that lets handles send straight is adopted.)
            self.shared.local_send_done(&key);
        }
    }

    /// A cast for `key` from `from`, received `now`.
    pub(super) fn deliver_cast(
        &mut self,
        from: &NodeName,
        key: ActorKey,
        cast: Payload,
        now: Millis,
    ) {
        self.deliver_cast_admitted(from, key, cast, Waited::new(now), now)
    }

    /// As `deliver_cast`, for a cast (a [`Payload::Cast`]) that may have been parked
    /// before (`waited`).
    pub(super) fn deliver_cast_admitted(
        &mut self,
        from: &NodeName,
        key: ActorKey,
        cast: Payload,
        waited: Waited,
        now: Millis,
    ) {
        // One look at the hosted table per cast (this is the hot path of remote casts).
        let entry = self.shared.hosted(&key);
        let hosted = entry.as_ref().map(|e| e.state);
        let hops = match &cast {
            Payload::Cast { hops, .. } => *hops,
            _ => 0,
        };
        let (decision, entry) =
            match self
                .engine
                .dispatch_cast(&key, from, hops, hosted, waited.expired)
            {
                Dispatch::Activate { kind } => (Dispatch::Deliver, self.activate(&key, &kind)),
                decision => (decision, entry),
            };
        match decision {
            Dispatch::Hold => self.hold_moving(&key, from, cast),
            Dispatch::Park => self.hold_parked(&key, from, cast, waited.since),
            Dispatch::Deliver => {
                if let Some(entry) = entry {
                    self.deliver_ordered(&key, from, &entry, cast, now);
                }
            }
            Dispatch::Forward {
                to: next,
                hops: next_hops,
                ..
            } => {
                let Payload::Cast {
                    variant,
                    args,
                    stamp,
                    ..
                } = cast
                else {
                    return;
                };
                let body = FrameBody::Cast {
                    key: key.clone(),
                    variant,
                    args,
                    hops: next_hops,
                    stamp,
                };
                match self.try_send_frame(&next, body) {
                    Ok(()) => {
                        Counters::bump(&self.shared.counters.forwarded);
                        tracing::trace!(name = %key, to = %next, "cast forwarded");
                    }
                    // Not sent: it keeps the hops it came with.
                    Err(body) => self.unsent_cast(&key, from, *body, hops, waited),
                }
            }
            Dispatch::Drop(why) => self.drop_cast(&key, why),
            Dispatch::Answer(_) | Dispatch::Proceed | Dispatch::Activate { .. } => {
                self.drop_cast(&key, "no such actor")
            }
        }
    }

    /// A cast for `key` (from `from`, forwarded `hops` times before) that could not be
    /// handed to its next hop's session: parked until the sessions or the view change, or
    /// dropped once it has waited its whole park deadline (see `Engine::dispatch_unsent`).
    pub(super) fn unsent_cast(
        &mut self,
        key: &ActorKey,
        from: &NodeName,
        body: FrameBody,
        hops: u8,
        waited: Waited,
    ) {
        let FrameBody::Cast {
            variant,
            args,
            stamp,
            ..
        } = body
        else {
            return self.drop_cast(key, "next hop unreachable");
        };
        let stamped = stamp.is_some();
        let cast = Payload::cast(variant, args, hops, stamp);
        match self.engine.dispatch_unsent(from, stamped, waited.expired) {
            Unsent::Park => self.hold_parked(key, from, cast, waited.since),
            Unsent::Drop { why, retire_stream } => {
                if retire_stream {
                    self.shared.retire_stream(key);
                }
                self.drop_cast(key, why)
            }
        }
    }

    pub(super) fn drop_cast(&self, key: &ActorKey, why: &str) {
        let n = Counters::bump(&self.shared.counters.dropped_casts);
        if crate::core::status::worth_logging(n) {
            tracing::warn!(name = %key, reason = why, count = n, "cast dropped");
        }
    }

    pub(super) async fn handle_request(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        bytes: &[u8],
        token: Token,
        reply: RpcReplyPort<Vec<u8>>,
    ) {
        let request: Req = match wire::decode(bytes, self.limit()) {
            Ok(r) => r,
            Err(e) => {
                self.count_bad_input("request", &e);
                let _ = reply.send(wire::encode(&Response::Err(RemoteError::Malformed(
                    e.to_string(),
                ))));
                return;
            }
        };
        let _ = myself;
        if let Err(refused) = admission::admit_request(self.tokens.session_of(token), &request) {
            self.count_refused("request", &refused);
            let _ = reply.send(wire::encode(&Response::Err(RemoteError::Malformed(
                refused.to_string(),
            ))));
            return;
        }
        if let Request::Confirm { token } = request.body {
            let _ = reply.send(wire::encode(&self.token_owner(token)));
            return;
        }
        self.dispatch_request(request.from, request.body, reply)
            .await;
    }

    /// Handles a request, unless it must wait: buffered while its actor moves away, parked
    /// while the node is not settled and a handoff may still bring the actor.
    pub(super) async fn dispatch_request(
        &mut self,
        from: NodeName,
        request: Request,
        reply: RpcReplyPort<Vec<u8>>,
    ) {
        let waited = Waited::new(self.now());
        self.dispatch_request_admitted(from, request, reply, waited)
            .await
    }

    /// As `dispatch_request`, for a request that may have been parked before (`waited`).
    pub(super) async fn dispatch_request_admitted(
        &mut self,
        from: NodeName,
        request: Request,
        reply: RpcReplyPort<Vec<u8>>,
        waited: Waited,
    ) {
        let asks = Asks::of(&request).map(|(key, asks)| (key.clone(), asks));
        if let Some((key, asks)) = asks {
            let hosted = self.shared.hosted(&key).map(|e| e.state);
            match self
                .engine
                .dispatch_request(&key, &from, asks, hosted, waited.expired)
            {
                Dispatch::Hold => {
                    self.hold_moving(&key, &from, Payload::Request { request, reply });
                    return;
                }
                Dispatch::Park => {
                    let request = Payload::Request { request, reply };
                    self.hold_parked(&key, &from, request, waited.since);
                    self.publish_gauges();
                    return;
                }
                Dispatch::Answer(response) => {
                    let _ = reply.send(wire::encode(&response));
                    return;
                }
                Dispatch::Activate { kind } => {
                    self.activate(&key, &kind);
                }
                _ => {}
            }
        }
        let response = match request {
            Request::Spawn {
                key,
                kind,
                args,
                hops,
            } => {
                // Answered now, or once the actor's start ended.
                if let Some((response, reply)) = self.spawn_request(key, kind, args, hops, reply) {
                    let _ = reply.send(wire::encode(&response));
                }
                return;
            }
            Request::Lookup { key } => self.lookup(&key),
            Request::Call {
                key,
                variant,
                args,
                timeout_ms,
            } => {
                let key_for_relay = key.clone();
                match self.deliver_call(key, variant, args, timeout_ms) {
                    // The answer is sent by a task once the actor replies.
                    Ok(rx) => {
                        tokio::spawn(relay_reply(
                            key_for_relay,
                            rx,
                            reply,
                            Duration::from_millis(timeout_ms),
                        ));
                        return;
                    }
                    Err(response) => response,
                }
            }
            Request::Stop { key } => self.stop_request(&key),
            Request::Status => Response::Status(Box::new(self.shared.status())),
            Request::Confirm { token } => self.token_owner(token),
        };
        let _ = reply.send(wire::encode(&response));
    }

    fn lookup(&self, key: &ActorKey) -> Response {
        let hosted = self.shared.hosted(key).map(|e| e.state);
        lookup_answer(key, self.route(key, Context::Lookup, hosted))
    }

    fn deliver_call(
        &self,
        key: ActorKey,
        variant: String,
        args: Vec<u8>,
        timeout_ms: u64,
    ) -> Result<tokio::sync::oneshot::Receiver<Vec<u8>>, Response> {
        let entry = self.shared.hosted(&key);
        let entry = match (
            self.route(&key, Context::Request, entry.as_ref().map(|e| e.state)),
            entry,
        ) {
            (Decision::Deliver, Some(entry)) => entry,
            (decision, _) => return Err(not_here(&key, decision)),
        };
        let (msg, rx, _) = call_message(variant, args, timeout_ms);
        match entry.kind.deliver(&self.shared, &key, &entry.cell, msg) {
            Ok(()) => Ok(rx),
            Err(e) => {
                if matches!(e, RemoteError::BadMessage { .. }) {
                    let n = Counters::bump(&self.shared.counters.bad_messages);
                    tracing::warn!(name = %key, error = ?e, count = n, "call not delivered");
                }
                Err(Response::Err(e))
            }
        }
    }

    /// Stops a hosted actor: its name is removed at once, and the answer does not wait for
    /// its exit (the actor may be the one asking, from inside its own handler; its exit
    /// finds it already forgotten). A spawn of the name waits for that exit.
    fn stop_request(&mut self, key: &ActorKey) -> Response {
        let entry = self.shared.hosted(key);
        let entry = match (
            self.route(key, Context::Request, entry.as_ref().map(|e| e.state)),
            entry,
        ) {
            (Decision::Deliver, Some(entry)) => entry,
            // A passivated name is stopped for good: its kept state goes.
            (_, None) if self.engine.take_passivated(key).is_some() => return Response::Stopped,
            (decision, _) => return not_here(key, decision),
        };
        debug_assert!(entry.state != EntryState::Moving);
        self.forget_child(key, &entry.cell);
        // A spawn of the name waits for this copy's exit.
        self.engine
            .handle_stop_requested(key, cid(&entry.cell.get_id()));
        entry.cell.stop(Some("stopped by request".to_string()));
        Response::Stopped
    }
}

/// A serialized call with a fresh reply port (at least 1 ms of timeout): the message, the
/// port's receiving end and the timeout.
pub(super) fn call_message(
    variant: String,
    args: Vec<u8>,
    timeout_ms: u64,
) -> (
    SerializedMessage,
    tokio::sync::oneshot::Receiver<Vec<u8>>,
    Duration,
) {
    let (tx, rx) = ractor::concurrency::oneshot();
    let timeout = Duration::from_millis(timeout_ms.max(1));
    let msg = SerializedMessage::Call {
        variant,
        args,
        reply: RpcReplyPort::from((tx, timeout)),
        metadata: None,
    };
    (msg, rx, timeout)
}

/// Waits for an actor's answer to a call and sends it back as a response envelope.
pub(super) async fn relay_reply(
    key: ActorKey,
    rx: tokio::sync::oneshot::Receiver<Vec<u8>>,
    reply: RpcReplyPort<Vec<u8>>,
    timeout: Duration,
) {
    let response = match tokio::time::timeout(timeout, rx).await {
        Ok(Ok(bytes)) => Response::Reply(bytes),
        Ok(Err(_)) => Response::Err(RemoteError::Dropped(key)),
        Err(_) => Response::Err(RemoteError::Timeout),
    };
    let _ = reply.send(wire::encode(&response));
}
