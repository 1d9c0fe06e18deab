//! [`DistError`]: what can go wrong when using a distributed actor.

use std::time::Duration;

use crate::core::config::ConfigError;
use crate::core::wire::RemoteError;
use crate::core::{ActorKey, NodeName};

/// An error of a ractor-dist operation. Each variant says whether anything changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DistError {
    /// The configuration is invalid; nothing was started.
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// The node could not start (for example, the port is taken); nothing is running.
    #[error("node failed to start: {0}")]
    Start(String),
    /// No actor of that name exists in the cluster (as far as its directory node knows).
    /// Nothing was delivered.
    #[error("no actor named {0} in the cluster")]
    NotFound(ActorKey),
    /// The kind is not registered on the node that would host the actor; nothing was spawned.
    #[error("unknown actor kind {0:?} (not registered on the hosting node)")]
    UnknownKind(String),
    /// The spawn arguments did not decode on the hosting node; nothing was spawned.
    #[error("arguments for kind {kind:?} do not decode: {reason}")]
    BadArguments {
        /// The kind.
        kind: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// The message could not be encoded here or decoded by the actor's kind (another
    /// message type, or another version of it); it was not delivered.
    #[error("message for {key} was refused: {reason}")]
    BadMessage {
        /// The actor.
        key: ActorKey,
        /// What went wrong.
        reason: String,
    },
    /// The actor's `pre_start` failed; it is not running.
    #[error("actor {key} failed to start: {reason}")]
    SpawnFailed {
        /// The actor.
        key: ActorKey,
        /// The startup error.
        reason: String,
    },
    /// The actor lives under another message type than the one asked for; nothing was sent.
    #[error("actor {0} handles another message type")]
    WrongType(ActorKey),
    /// No answer within the timeout. The request may or may not have been processed.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The message is larger than the configured frame limit; nothing was sent.
    #[error("message of {size} bytes exceeds the frame limit of {limit} bytes")]
    TooLarge {
        /// Encoded size.
        size: usize,
        /// `DistConfig::max_frame_bytes`.
        limit: usize,
    },
    /// The node that should handle the request is not reachable right now; nothing was
    /// delivered. Retrying after the membership settles may succeed.
    #[error("node {0} is unreachable")]
    Unreachable(NodeName),
    /// The actor stopped (or was restarted) before it answered.
    #[error("actor {0} stopped before answering")]
    Stopped(ActorKey),
    /// The local node is shutting down or its supervisor is gone.
    #[error("the local ractor-dist node is not running")]
    NodeDown,
    /// The node holding messages for the actor while it moves (or while the node settles)
    /// already holds its cap of them ([`crate::DistConfig::hold_per_name`],
    /// [`crate::DistConfig::hold_per_node`]); this message was not delivered and the refusal
    /// was counted (`NodeStatus::hold_refused`). Retrying once the move is over may succeed.
    #[error("message for {key} was refused: {reason}")]
    Overloaded {
        /// The actor.
        key: ActorKey,
        /// Which cap was reached.
        reason: String,
    },
    /// A peer answered with something this node cannot interpret.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A replicated value was asked for as another type, or an update does not encode
    /// (nothing changed).
    #[error(transparent)]
    Replica(crate::core::replicated::ReplicaError),
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
        }
    }
}
