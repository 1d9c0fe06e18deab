//! Where a message goes: the engine's decision for each cast, request and local message
//! the node's supervisor handles (its payload stays in the node layer).

use super::Engine;
use crate::core::wire::Response;
use crate::core::{ActorKey, Admission, Context, Decision, NodeName, Residence};

/// What to do with one message (see [`Engine::dispatch_cast`] and its siblings).
#[derive(Debug)]
pub(crate) enum Dispatch {
    /// Hand it to the actor hosted here.
    Deliver,
    /// The actor is moving away (or fenced): hold it until the move ends.
    Hold,
    /// The node is not settled and a handoff may still bring the actor, or earlier
    /// messages: park it until the node settles.
    Park,
    /// Send it on to `to`, with `hops` forwards counted; a local message is serialized with
    /// `kind`.
    Forward {
        /// The next node.
        to: NodeName,
        /// Forwards so far.
        hops: u8,
        /// The kind to serialize a local message with.
        kind: Option<String>,
    },
    /// A request answered now.
    Answer(Response),
    /// A request to handle now (spawn, lookup, call, stop).
    Proceed,
    /// Dropped (a cast or a local message), for this reason.
    Drop(&'static str),
}

/// What a request asks for, as far as holding it is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Asks {
    /// Start a name.
    Spawn,
    /// Find a name.
    Lookup,
    /// Call an actor.
    Call,
    /// Stop an actor.
    Stop,
}

impl Engine {
    /// A cast for `key` from `from`, forwarded `hops` times so far; `hosted`: the state of
    /// its local entry; `expired`: it was parked for the whole park deadline (it is handled
    /// without a further admission check).
    pub(crate) fn dispatch_cast(
        &self,
        key: &ActorKey,
        from: &NodeName,
        hops: u8,
        hosted: Option<Residence>,
        expired: bool,
    ) -> Dispatch {
        let decision = self.route(key, Context::Cast { hops }, hosted);
        if decision == Decision::Hold {
            return Dispatch::Hold;
        }
        if !expired && self.admit_hosted(key, from, hosted.is_some()) == Admission::Park {
            return Dispatch::Park;
        }
        match decision {
            Decision::Deliver if hosted.is_some() => Dispatch::Deliver,
            Decision::Forward { to, hops } => Dispatch::Forward {
                to,
                hops,
                kind: None,
            },
            Decision::HopLimit => Dispatch::Drop("too many hops"),
            _ => Dispatch::Drop("no such actor"),
        }
    }

    /// A request of `asks` for `key` from `from`; `hosted` and `expired` as for
    /// [`Engine::dispatch_cast`]. While the actor moves away, a call (and a stop before the
    /// target is known) is held; others are sent to the target.
    pub(crate) fn dispatch_request(
        &self,
        key: &ActorKey,
        from: &NodeName,
        asks: Asks,
        hosted: Option<Residence>,
        expired: bool,
    ) -> Dispatch {
        if hosted == Some(Residence::Moving) {
            match (asks, self.handoff.target_of(key).cloned()) {
                (Asks::Call, _) | (Asks::Stop, None) => return Dispatch::Hold,
                (Asks::Spawn, Some(host)) => {
                    return Dispatch::Answer(Response::Spawned {
                        host,
                        created: false,
                    })
                }
                (_, Some(host)) => return Dispatch::Answer(Response::Redirect { host }),
                (_, None) => {}
            }
        }
        if !expired && self.admit_hosted(key, from, hosted.is_some()) == Admission::Park {
            return Dispatch::Park;
        }
        Dispatch::Proceed
    }

    /// A typed message from a local handle for `key` that went through the supervisor
    /// (its actor moves or settles); `hosted` and `expired` as for
    /// [`Engine::dispatch_cast`].
    pub(crate) fn dispatch_local(
        &self,
        key: &ActorKey,
        hosted: Option<Residence>,
        expired: bool,
    ) -> Dispatch {
        let moving = hosted == Some(Residence::Moving);
        if !expired
            && !moving
            && self.admit_hosted(key, &self.me, hosted.is_some()) == Admission::Park
        {
            return Dispatch::Park;
        }
        match self.route(key, Context::Relay, hosted) {
            Decision::Hold => Dispatch::Hold,
            Decision::Deliver if hosted.is_some() => Dispatch::Deliver,
            // Only a name that was hosted here has the kind to serialize it with.
            Decision::Forward { to, hops } => match self.moved_kinds.get(key) {
                Some(kind) => Dispatch::Forward {
                    to,
                    hops,
                    kind: Some(kind.clone()),
                },
                None => Dispatch::Drop("gone"),
            },
            _ => Dispatch::Drop("gone"),
        }
    }
}
