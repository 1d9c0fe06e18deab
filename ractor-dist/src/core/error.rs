//! [`DistError`]: what can go wrong when using a distributed actor.
//!
//! Every variant says whether anything changed, and whether it is **transient** (the same
//! operation may succeed if retried once the cluster settled: a move, a view change or a
//! restart was in the way) or **permanent** (retrying the same operation fails the same
//! way until something else changes: the code, the configuration or the arguments).
//! [`DistError::is_transient`] tells which.

use std::time::Duration;

use crate::core::config::ConfigError;
use crate::core::wire::RemoteError;
use crate::core::{ActorKey, NodeName};

/// An error of a ractor-dist operation. Each variant says whether anything changed and
/// whether it is transient or permanent ([`DistError::is_transient`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistError {
    /// The configuration is invalid; nothing was started. Permanent.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The node could not start (for example, the port is taken); nothing is running.
    /// Permanent (for this configuration).
    #[error("node failed to start: {0}")]
    Start(String),
    /// No actor of that name exists in the cluster (as far as its directory node knows).
    /// Nothing was delivered. Permanent: retrying does not bring the name back; spawn it.
    /// (One window is an exception: after the name's node crashed and before the name is
    /// respawned on a survivor, about the heartbeat deadline for a silent node, a name
    /// known to exist is not found; see the README's non-guarantees.)
    #[error("no actor named {0} in the cluster")]
    NotFound(ActorKey),
    /// The kind is not registered on the node that would host the actor; nothing was
    /// spawned. Permanent (register the kind on every node).
    #[error("unknown actor kind {0:?} (not registered on the hosting node)")]
    UnknownKind(String),
    /// The spawn arguments did not decode on the hosting node; nothing was spawned.
    /// Permanent.
    #[error("arguments for kind {kind:?} do not decode: {reason}")]
    BadArguments {
        /// The kind.
        kind: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// The message could not be encoded here or decoded by the actor's kind (another
    /// message type, or another version of it); it was not delivered. Permanent.
    #[error("message for {key} was refused: {reason}")]
    BadMessage {
        /// The actor.
        key: ActorKey,
        /// What went wrong.
        reason: String,
    },
    /// The actor's `pre_start` failed; it is not running. Permanent (for these arguments).
    #[error("actor {key} failed to start: {reason}")]
    SpawnFailed {
        /// The actor.
        key: ActorKey,
        /// The startup error.
        reason: String,
    },
    /// The actor lives under another message type than the one asked for; nothing was
    /// sent. Permanent.
    #[error("actor {0} handles another message type")]
    WrongType(ActorKey),
    /// No answer within the timeout. The request may or may not have been processed.
    /// Transient, but retry only what may be done twice (an idempotent request).
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The message is larger than the configured frame limit; nothing was sent. Permanent.
    #[error("message of {size} bytes exceeds the frame limit of {limit} bytes")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// `DistConfig::max_frame_bytes`.
        limit: usize,
    },
    /// The node that should handle the request is not reachable right now; nothing was
    /// delivered. Transient: retrying after the membership settles may succeed.
    #[error("node {0} is unreachable")]
    Unreachable(NodeName),
    /// The actor stopped (or was restarted) before it answered; the request may have been
    /// handled. Transient: a retry reaches the restarted actor, or fails with
    /// [`DistError::NotFound`] if the name is gone.
    #[error("actor {0} stopped before answering")]
    Stopped(ActorKey),
    /// The local node is shutting down or its supervisor is gone; nothing was sent.
    /// Permanent.
    #[error("the local ractor-dist node is not running")]
    NodeDown,
    /// The node holding messages for the actor while it moves (or while the node settles)
    /// already holds its cap of them ([`crate::DistConfig::hold_per_name`],
    /// [`crate::DistConfig::hold_per_node`]); this message was not delivered and the refusal
    /// was counted (`NodeStatus::hold_refused`). Transient: retrying once the move is over
    /// may succeed.
    #[error("message for {key} was refused: {reason}")]
    Overloaded {
        /// The actor.
        key: ActorKey,
        /// Which cap was reached.
        reason: String,
    },
    /// A peer answered with something this node cannot interpret (another version, or a
    /// bug). Permanent.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A replicated value was asked for as another type, or an update does not encode
    /// (nothing changed). Permanent.
    #[error(transparent)]
    Replica(crate::core::replicated::ReplicaError),
    /// The name already runs as another kind; nothing was spawned and the running actor
    /// is untouched. Permanent (stop it first, or use another name).
    #[error("actor {key} already runs as kind {running:?}, not {requested:?}")]
    KindMismatch {
        /// The actor.
        key: ActorKey,
        /// The kind it runs as.
        running: String,
        /// The kind the spawn asked for.
        requested: String,
    },
    /// This handle was decoded from a message where no node could take it: in a process
    /// running no ractor-dist node, or outside a node's delivery in a process running
    /// several (see [`crate::DistRef`], "In messages"); nothing was sent. Permanent.
    #[error("handle to {0} was decoded where no ractor-dist node runs")]
    Unbound(ActorKey),
}

impl DistError {
    /// True when the same operation may succeed if retried after a while (the cluster was
    /// moving the actor, changing its view, restarting the actor or holding too many
    /// messages): [`DistError::Timeout`], [`DistError::Unreachable`],
    /// [`DistError::Stopped`] and [`DistError::Overloaded`]. Every other error is
    /// permanent: retrying fails the same way.
    ///
    /// A timed-out call may have been handled: retry only requests that may be handled
    /// twice.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use ractor_dist::DistError;
    ///
    /// assert!(DistError::Timeout(Duration::from_secs(1)).is_transient());
    /// assert!(!DistError::NodeDown.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            DistError::Timeout(_)
            | DistError::Unreachable(_)
            | DistError::Stopped(_)
            | DistError::Overloaded { .. } => true,
            DistError::Config(_)
            | DistError::Start(_)
            | DistError::NotFound(_)
            | DistError::UnknownKind(_)
            | DistError::BadArguments { .. }
            | DistError::BadMessage { .. }
            | DistError::SpawnFailed { .. }
            | DistError::WrongType(_)
            | DistError::TooLarge { .. }
            | DistError::NodeDown
            | DistError::Protocol(_)
            | DistError::Replica(_)
            | DistError::KindMismatch { .. }
            | DistError::Unbound(_) => false,
        }
    }
}

/// A failed [`DistRef::cast`](crate::DistRef::cast): why ([`SendError::error`]), and the
/// message handed back, as tokio's `SendError<T>` and ractor's `MessagingErr::SendErr`
/// give it back, so that the caller may send it again or elsewhere.
///
/// The message comes back whenever this node still holds it: always when the cast failed
/// before the message was handed to an actor's mailbox or encoded for the network (the
/// name was not found, the node is down, a hold cap refused it, the handle is unbound),
/// and for a message refused after encoding (the frame limit, an unreachable node) by
/// decoding it again. It does not when the message failed to encode, or when a mailbox
/// refused it without handing it back.
///
/// `?` turns it into a [`DistError`] (or any `std::error::Error` box: it is `Send + Sync`
/// for every message type).
pub struct SendError<M> {
    error: DistError,
    /// A `Mutex` only so that the error is `Sync` whatever the message type (messages
    /// need only be `Send`), as boxed errors require.
    message: std::sync::Mutex<Option<M>>,
}

impl<M> SendError<M> {
    pub(crate) fn new(error: DistError, message: Option<M>) -> Self {
        Self {
            error,
            message: std::sync::Mutex::new(message),
        }
    }

    /// Why the cast failed.
    pub fn error(&self) -> &DistError {
        &self.error
    }

    /// Whether sending again may succeed ([`DistError::is_transient`]).
    pub fn is_transient(&self) -> bool {
        self.error.is_transient()
    }

    /// The message, when it could be handed back.
    pub fn into_message(self) -> Option<M> {
        self.into_parts().1
    }

    /// Why the cast failed, and the message when it could be handed back.
    pub fn into_parts(self) -> (DistError, Option<M>) {
        let message = self
            .message
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        (self.error, message)
    }
}

impl<M> From<SendError<M>> for DistError {
    fn from(e: SendError<M>) -> Self {
        e.error
    }
}

impl<M> std::fmt::Debug for SendError<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.message.lock().map_or(true, |m| m.is_some());
        f.debug_struct("SendError")
            .field("error", &self.error)
            .field("message", &if held { "handed back" } else { "lost" })
            .finish()
    }
}

impl<M> std::fmt::Display for SendError<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl<M: Send> std::error::Error for SendError<M> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.error)
    }
}

impl From<RemoteError> for DistError {
    fn from(e: RemoteError) -> Self {
        match e {
            RemoteError::NotFound(k) => DistError::NotFound(k),
            RemoteError::UnknownKind(k) => DistError::UnknownKind(k),
            RemoteError::BadArguments { kind, reason } => DistError::BadArguments { kind, reason },
            RemoteError::BadMessage { key, reason } => DistError::BadMessage { key, reason },
            RemoteError::SpawnFailed { key, reason } => DistError::SpawnFailed { key, reason },
            RemoteError::Timeout => DistError::Timeout(Duration::ZERO),
            RemoteError::Dropped(k) => DistError::Stopped(k),
            RemoteError::Unavailable(n) => DistError::Unreachable(NodeName::new(n)),
            RemoteError::Malformed(reason) => DistError::Protocol(reason),
            RemoteError::Overloaded { key, reason } => DistError::Overloaded { key, reason },
            // The requested kind is filled in by the spawning side, which knows it.
            RemoteError::KindMismatch { key, running } => DistError::KindMismatch {
                key,
                running,
                requested: String::new(),
            },
        }
    }
}

impl From<crate::core::replicated::ReplicaError> for DistError {
    fn from(e: crate::core::replicated::ReplicaError) -> Self {
        DistError::Replica(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_errors_a_settled_cluster_may_not_repeat_are_transient() {
        let key = || ActorKey::new("k");
        let transient = [
            DistError::Timeout(Duration::from_secs(1)),
            DistError::Unreachable(NodeName::new("b@h")),
            DistError::Stopped(key()),
            DistError::Overloaded {
                key: key(),
                reason: "cap".into(),
            },
        ];
        let permanent = [
            DistError::Start("port taken".into()),
            DistError::NotFound(key()),
            DistError::UnknownKind("x".into()),
            DistError::WrongType(key()),
            DistError::TooLarge { size: 2, limit: 1 },
            DistError::NodeDown,
            DistError::Protocol("?".into()),
            DistError::Unbound(key()),
            DistError::KindMismatch {
                key: key(),
                running: "a".into(),
                requested: "b".into(),
            },
        ];
        assert!(transient.iter().all(DistError::is_transient));
        assert!(!permanent.iter().any(DistError::is_transient));
        // A node shutting down answers spawns with `Unavailable`: worth retrying elsewhere.
        assert!(DistError::from(RemoteError::Unavailable("b@h".into())).is_transient());
    }

    #[test]
    fn a_send_error_hands_the_message_back_and_converts_to_its_cause() {
        // Not `Sync` itself: the error still is, so it boxes into any error type.
        let e = SendError::new(DistError::NodeDown, Some(std::cell::Cell::new(7)));
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
        assert_eq!(boxed.to_string(), DistError::NodeDown.to_string());
        let e = SendError::new(DistError::Unreachable(NodeName::new("b@h")), Some("hello"));
        assert!(e.is_transient());
        assert!(format!("{e:?}").contains("handed back"));
        let (error, message) = e.into_parts();
        assert!(matches!(error, DistError::Unreachable(_)));
        assert_eq!(message, Some("hello"));
        let lost = SendError::<&str>::new(DistError::NodeDown, None);
        assert!(format!("{lost:?}").contains("lost"));
        assert!(matches!(DistError::from(lost), DistError::NodeDown));
    }
}
