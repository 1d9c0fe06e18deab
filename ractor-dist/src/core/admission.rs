//! Which frames from peers are acted on: identity per frame and the values peers supply.
//!
//! A frame names its sender (`from`), but that name is only a claim. What a node knows for
//! sure is which session a frame arrived over: the node layer tells it (the session token the
//! frame carries was issued by this node to one peer, over that peer's authenticated
//! session, see [`crate::core::tokens`]; with TLS, the peer's certificate names it). A frame is acted on only when its
//! claimed sender is that session's peer, and when the values it carries are within the
//! bounds the protocol can produce:
//!
//! - a `Hello` describes its own sender and incarnation, with a weight within
//!   [`MIN_WEIGHT`]..=[`MAX_WEIGHT`];
//! - generations and checkpoint sequence numbers stay below [`MAX_GENERATION`] and
//!   [`MAX_SEQ`], and a generation of a name this node knows jumps at most
//!   [`MAX_GENERATION_STEP`] past the one it knows (a forged huge generation would otherwise
//!   win every conflict and fence the real copy out forever);
//! - `Rehost` comes from the new host itself or from the host the specs name;
//! - `Yield` comes from the directory node (the placement owner) of each of its names.
//!
//! Everything here is a pure decision over what the engine knows ([`AdmitView`]); a refused
//! frame changes nothing and the node layer counts it.

use super::wire::{Frame, FrameBody, MigrateEntry, Req, Request};
use super::{ActorKey, NodeName};

/// The smallest placement weight a peer may claim (and a node may be configured with).
pub const MIN_WEIGHT: f64 = 0.001;
/// The largest placement weight a peer may claim (and a node may be configured with).
pub const MAX_WEIGHT: f64 = 1_000.0;
/// Generations at or above this are refused (one activation per respawn or conflict never
/// gets near it; it keeps `generation + 1` far from overflowing).
pub const MAX_GENERATION: u64 = 1 << 48;
/// How far past the generation this node knows of a name a peer's may be.
pub const MAX_GENERATION_STEP: u64 = 1 << 16;
/// Checkpoint sequence numbers at or above this are refused.
pub const MAX_SEQ: u64 = 1 << 48;

/// Why a frame from a peer was not acted on. Nothing changed because of it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// The frame carries no session token this node issued (or one it no longer honours).
    #[error("frame claiming to come from {claimed} arrived over no authenticated session")]
    Unauthenticated {
        /// The sender the frame names.
        claimed: NodeName,
    },
    /// The frame names another sender than the peer of the session it arrived over.
    #[error("frame claims to come from {claimed} but arrived over {session}'s session")]
    Impersonation {
        /// The sender the frame names.
        claimed: NodeName,
        /// The authenticated peer of the session.
        session: NodeName,
    },
    /// A hello that describes another node or incarnation than its frame's sender.
    #[error("hello from {from} describes {described}")]
    HelloForOther {
        /// The frame's sender.
        from: NodeName,
        /// Who the hello describes.
        described: NodeName,
    },
    /// A placement weight outside [`MIN_WEIGHT`]..=[`MAX_WEIGHT`] (or not a number).
    #[error("weight {0} is outside {MIN_WEIGHT}..={MAX_WEIGHT}")]
    Weight(f64),
    /// A generation over [`MAX_GENERATION`] or too far past the one known here.
    #[error("generation {generation} of {key} is past {limit}")]
    Generation {
        /// The name.
        key: ActorKey,
        /// The generation claimed.
        generation: u64,
        /// The largest accepted.
        limit: u64,
    },
    /// A checkpoint sequence number over [`MAX_SEQ`].
    #[error("sequence number {seq} of {key} is past {MAX_SEQ}")]
    Sequence {
        /// The name.
        key: ActorKey,
        /// The sequence number claimed.
        seq: u64,
    },
    /// A frame only another node may send about this name.
    #[error("{what} about {key} from {from}, which is not entitled to send it")]
    NotEntitled {
        /// The frame's kind.
        what: &'static str,
        /// The name.
        key: ActorKey,
        /// The frame's sender.
        from: NodeName,
    },
}

/// What the admission decision needs to know of this node's state.
pub trait AdmitView {
    /// The newest generation of `key` this node knows (it runs it or keeps its spec).
    fn known_generation(&self, key: &ActorKey) -> Option<u64>;
    /// The placement owner (directory node) of `key` in this node's current view.
    fn owner_of(&self, key: &ActorKey) -> Option<&NodeName>;
}

/// Decides whether `frame`, which arrived over the session of `session` (`None`: over no
/// session this node can name), is acted on.
///
/// # Errors
///
/// The first reason it is not; nothing was changed.
pub(crate) fn admit(
    session: Option<&NodeName>,
    frame: &Frame,
    view: &impl AdmitView,
) -> Result<(), Refused> {
    let from = &frame.from;
    // A session token is handed out in this frame: it acts only through a confirmation
    // asked of the claimed sender over its own session, so it needs no session yet.
    if let FrameBody::Token { .. } = frame.body {
        return Ok(());
    }
    match session {
        None => {
            return Err(Refused::Unauthenticated {
                claimed: from.clone(),
            })
        }
        Some(session) if session != from => {
            return Err(Refused::Impersonation {
                claimed: from.clone(),
                session: session.clone(),
            })
        }
        Some(_) => {}
    }
    match &frame.body {
        FrameBody::Hello { hello, .. } => {
            if hello.node != *from || hello.incarnation != frame.incarnation {
                return Err(Refused::HelloForOther {
                    from: from.clone(),
                    described: hello.node.clone(),
                });
            }
            weight(hello.weight)
        }
        FrameBody::Migrate { entries, .. } => entries.iter().try_for_each(|e| entry(e, view)),
        FrameBody::Conflict { entry: e } => entry(e, view),
        FrameBody::Checkpoint {
            key,
            generation,
            seq,
            ..
        } => {
            self::generation(key, *generation, view)?;
            sequence(key, *seq)
        }
        FrameBody::Replicate { specs } => specs.iter().try_for_each(|(key, spec)| {
            self::generation(key, spec.generation, view)?;
            sequence(key, spec.seq)
        }),
        FrameBody::Respawn { offers } => offers.iter().try_for_each(|(key, offer)| {
            self::generation(key, offer.spec.generation, view)?;
            sequence(key, offer.spec.seq)
        }),
        FrameBody::Rehost { keys, to, .. } => {
            if to == from {
                return Ok(());
            }
            match keys.iter().find(|(_, host)| host != from) {
                Some((key, _)) => Err(Refused::NotEntitled {
                    what: "rehost",
                    key: key.clone(),
                    from: from.clone(),
                }),
                None => Ok(()),
            }
        }
        FrameBody::Yield { keys } => match keys
            .iter()
            .find(|(key, _)| view.owner_of(key) != Some(from))
        {
            Some((key, _)) => Err(Refused::NotEntitled {
                what: "yield",
                key: key.clone(),
                from: from.clone(),
            }),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Decides whether a request naming `from` as its sender, which arrived over the session of
/// `session`, is acted on: only when `from` is that session's peer. (A token confirmation,
/// `Request::Confirm`, needs no session: it only tells the asker what it already holds.)
///
/// # Errors
///
/// [`Refused::Unauthenticated`] or [`Refused::Impersonation`]; nothing was changed.
pub(crate) fn admit_request(session: Option<&NodeName>, req: &Req) -> Result<(), Refused> {
    if let Request::Confirm { .. } = req.body {
        return Ok(());
    }
    match session {
        None => Err(Refused::Unauthenticated {
            claimed: req.from.clone(),
        }),
        Some(session) if *session != req.from => Err(Refused::Impersonation {
            claimed: req.from.clone(),
            session: session.clone(),
        }),
        Some(_) => Ok(()),
    }
}

/// A placement weight a node may have.
///
/// # Errors
///
/// [`Refused::Weight`] outside the bounds.
pub fn weight(weight: f64) -> Result<(), Refused> {
    if (MIN_WEIGHT..=MAX_WEIGHT).contains(&weight) {
        Ok(())
    } else {
        Err(Refused::Weight(weight))
    }
}

fn entry(e: &MigrateEntry, view: &impl AdmitView) -> Result<(), Refused> {
    generation(&e.key, e.generation, view)?;
    sequence(&e.key, e.checkpoint_seq)
}

fn generation(key: &ActorKey, generation: u64, view: &impl AdmitView) -> Result<(), Refused> {
    let limit = match view.known_generation(key) {
        Some(known) => known
            .saturating_add(MAX_GENERATION_STEP)
            .min(MAX_GENERATION - 1),
        None => MAX_GENERATION - 1,
    };
    if generation <= limit {
        Ok(())
    } else {
        Err(Refused::Generation {
            key: key.clone(),
            generation,
            limit,
        })
    }
}

fn sequence(key: &ActorKey, seq: u64) -> Result<(), Refused> {
    if seq < MAX_SEQ {
        Ok(())
    } else {
        Err(Refused::Sequence {
            key: key.clone(),
            seq,
        })
    }
}

#[cfg(any(test, feature = "fault-injection"))]
pub(crate) mod forged;
#[cfg(test)]
mod tests;
