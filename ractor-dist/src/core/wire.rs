//! Versioned envelopes exchanged between `DistSupervisor`s.
//!
//! ractor_cluster silently drops messages it cannot decode and never checks its own version
//! field, so the supervisors speak their own protocol inside two opaque byte fields: a
//! one-way [`Frame`] and a request/response pair ([`Request`], [`Response`]). Each encoding
//! starts with the two bytes of [`PROTOCOL_VERSION`] (little-endian) followed by a bincode
//! body with a size limit, so that a peer of another version, or plain garbage, gets a clear
//! [`WireError`] instead of a crash or a silent drop.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::order::{Stamp, Stream};
use super::{ActorKey, Hello, Incarnation, NodeName, Offer, Snapshot, Spec, ViewId};

/// The version of the supervisors' wire protocol. Peers of another version are refused.
pub const PROTOCOL_VERSION: u16 = 16;

/// A decoding problem with an envelope from a peer. Nothing was changed by the bad input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The envelope is shorter than its version header.
    #[error("envelope of {0} bytes is too short for a version header")]
    Truncated(usize),
    /// The peer speaks another protocol version.
    #[error("protocol version mismatch: peer speaks {peer}, this node speaks {ours}")]
    Version {
        /// The peer's version.
        peer: u16,
        /// Ours.
        ours: u16,
    },
    /// The body does not decode (garbage, truncation, or over the size limit).
    #[error("malformed envelope: {0}")]
    Malformed(String),
}

/// A one-way envelope: the sender and what it says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Frame {
    pub(crate) from: NodeName,
    pub(crate) incarnation: Incarnation,
    pub(crate) body: FrameBody,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum FrameBody {
    /// Who the sender is; `reply` asks the receiver to say hello back.
    Hello { hello: Hello, reply: bool },
    /// Liveness, with the sender's known member addresses (gossip for the full mesh).
    Heartbeat { members: Vec<(NodeName, String)> },
    /// The sender is leaving the cluster.
    Leaving,
    /// A cast to a named actor.
    Cast {
        key: ActorKey,
        variant: String,
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
        hops: u8,
        /// Its place in its origin's stream to the name (see [`crate::core::order`]).
        stamp: Option<Stamp>,
    },
    /// Casts batched per destination node, in send order.
    Casts(Vec<CastItem>),
    /// The sender hosts these names (of these kinds); sent to the names' placement owner,
    /// their directory node.
    Register { entries: Vec<(ActorKey, String)> },
    /// The sender no longer hosts `key`.
    Unregister { key: ActorKey },
    /// The sender adopted this view (everything it routed by older views precedes this).
    ViewAdopted { view: ViewId },
    /// The sender finished its handoffs to the receiver for this view.
    HandoffsDone { view: ViewId },
    /// Actors handed off to the receiver; answered with `MigrateAck`.
    Migrate {
        batch: u64,
        entries: Vec<MigrateEntry>,
    },
    /// A batch arrived and its actors run on the sender now.
    /// `superseded`: names of the batch whose copy lost to one running at the receiver
    /// (a conflict resolved `KeepLocal`): messages held for them at the sender are older
    /// than what that copy took, and are dropped rather than forwarded.
    /// `refused`: names of the batch the sender cannot run (their kind is not registered
    /// there); they did not start, and the receiver keeps them or hands them on.
    MigrateAck {
        batch: u64,
        superseded: Vec<ActorKey>,
        refused: Vec<ActorKey>,
    },
    /// One piece of a snapshot too large for one frame; the entry follows in `Migrate`.
    StateChunk {
        batch: u64,
        key: ActorKey,
        /// The piece's position (0 starts a new snapshot).
        index: u32,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// The sender hosts these names: keep their specs (a replica).
    Replicate {
        specs: Vec<(ActorKey, Spec<Snapshot>)>,
    },
    /// The receiver keeps the specs of these names now (answers `Replicate`).
    SpecsKept { keys: Vec<ActorKey> },
    /// Drop the specs of these names that name these hosts (the name stopped, or its
    /// current holders have the spec).
    Unreplicate {
        keys: Vec<(ActorKey, NodeName)>,
        batch: u64,
    },
    /// These names (with the host their specs name) were handed off to `to`: specs kept of
    /// them name `to` from now on.
    Rehost {
        keys: Vec<(ActorKey, NodeName)>,
        to: NodeName,
        incarnation: Incarnation,
        batch: u64,
    },
    /// A newer checkpoint of a name the sender hosts (with `delta`, the change since
    /// checkpoint `seq - 1`; added in version 10).
    Checkpoint {
        key: ActorKey,
        generation: u64,
        seq: u64,
        snapshot: Snapshot,
        delta: bool,
    },
    /// These names lost their host; the receiver owns them now (or knows who does).
    Respawn {
        offers: Vec<(ActorKey, Offer<Snapshot>)>,
    },
    /// Another live copy of a name the receiver runs (it met the sender's copy while that
    /// one was moving here): resolve the conflict.
    Conflict { entry: MigrateEntry },
    /// Another copy of these names runs on the given nodes: hand yours over there.
    Yield { keys: Vec<(ActorKey, NodeName)> },
    /// Replicated values: deltas, digests and states (`core::replicated`). Added in
    /// version 4 (a version-3 node would refuse every one of them as malformed).
    Replica(super::replicated::ReplicaMsg),
    /// The sender has the respawn offers of these names: stop sending them again. Added in
    /// version 6.
    OffersTaken { keys: Vec<ActorKey> },
    /// The sender applied the `Unreplicate` or `Rehost` of this batch: stop sending it
    /// again. Added in version 8 (with the batch numbers of those two).
    NoticesTaken { batch: u64 },
    /// A session token: put it on every frame and request sent to this frame's sender,
    /// once that sender confirmed it (`Request::Confirm`) over its own session. Added in
    /// version 9.
    Token { token: u128 },
    /// The sender still has actors on their way to the receiver (sent every tick while it
    /// does): the receiver's barrier waits for a live, busy source rather than settling
    /// by deadline. Added in version 13.
    HandoffsBusy,
    /// The sender took the receiver's `Leaving` into its view: nothing it routed by an
    /// older view follows this frame, so once every peer said it the leaver can go without
    /// losing a cast on its way to it. Added in version 14.
    LeaveSeen,
}

impl From<super::RecoveryMsg<Snapshot>> for FrameBody {
    fn from(msg: super::RecoveryMsg<Snapshot>) -> Self {
        use super::RecoveryMsg as M;
        match msg {
            M::Replicate { specs } => FrameBody::Replicate { specs },
            M::SpecsKept { keys } => FrameBody::SpecsKept { keys },
            M::Unreplicate { keys, batch } => FrameBody::Unreplicate { keys, batch },
            M::Rehost {
                keys,
                to,
                incarnation,
                batch,
            } => FrameBody::Rehost {
                keys,
                to,
                incarnation,
                batch,
            },
            M::Checkpoint {
                key,
                generation,
                seq,
                snapshot,
                delta,
            } => FrameBody::Checkpoint {
                key,
                generation,
                seq,
                snapshot,
                delta,
            },
            M::Respawn { offers } => FrameBody::Respawn { offers },
            M::OffersTaken { keys } => FrameBody::OffersTaken { keys },
            M::NoticesTaken { batch } => FrameBody::NoticesTaken { batch },
        }
    }
}

/// One actor in a `Migrate` batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MigrateEntry {
    pub(crate) key: ActorKey,
    pub(crate) kind: String,
    #[serde(with = "serde_bytes")]
    pub(crate) args: Vec<u8>,
    pub(crate) snapshot: Option<Snapshot>,
    /// The snapshot came in this many `StateChunk` frames before the batch.
    pub(crate) chunks: u32,
    /// Its state version when chunked.
    pub(crate) version: u32,
    /// Its generation (activations of the name; a handoff keeps it).
    pub(crate) generation: u64,
    /// The node that activated this generation.
    pub(crate) origin: NodeName,
    /// Nodes keeping a spec of it, with the host that spec names.
    pub(crate) holders: Vec<(NodeName, NodeName)>,
    /// The sequence number of its last checkpoint (checkpoints continue from it).
    pub(crate) checkpoint_seq: u64,
    /// The next cast number it expects of each stream (see [`crate::core::order`]).
    pub(crate) order: Vec<(Stream, u64)>,
    /// Nodes that refused it on its way (they lack its kind): its next host keeps it
    /// rather than ask them again.
    pub(crate) refused: Vec<NodeName>,
    /// The state kept of a passivated name (nothing runs): its new owner keeps it for the
    /// name's next activation instead of starting it.
    pub(crate) passive: bool,
}

/// A request with its sender.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Req {
    pub(crate) from: NodeName,
    pub(crate) body: Request,
}

/// One cast in a [`FrameBody::Casts`] batch.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CastItem {
    pub(crate) key: ActorKey,
    pub(crate) variant: String,
    #[serde(with = "serde_bytes")]
    pub(crate) args: Vec<u8>,
    /// Its place in this node's stream to the name (see [`crate::core::order`]).
    pub(crate) stamp: Option<Stamp>,
}

/// A request to a supervisor; answered with a [`Response`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Request {
    /// Spawn `key` of `kind` unless it exists (idempotent).
    Spawn {
        key: ActorKey,
        kind: String,
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
        hops: u8,
    },
    /// Where does `key` run?
    Lookup { key: ActorKey },
    /// A call (request/response message) to a named actor.
    Call {
        key: ActorKey,
        variant: String,
        #[serde(with = "serde_bytes")]
        args: Vec<u8>,
        timeout_ms: u64,
    },
    /// Stop `key`.
    Stop { key: ActorKey },
    /// Statistics of the receiving node.
    Status,
    /// To whom did the receiver issue this session token? Answered with
    /// `Response::TokenOwner`. Added in version 9.
    Confirm { token: u128 },
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) enum Response {
    /// The actor runs on `host` (`created` when this request started it).
    Spawned { host: NodeName, created: bool },
    /// The actor runs on `host`.
    Found { host: NodeName },
    /// Ask `host` instead.
    Redirect { host: NodeName },
    /// The reply of a call.
    Reply(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The actor was stopped.
    Stopped,
    /// Node statistics.
    Status(Box<super::NodeStatus>),
    /// The request failed.
    Err(RemoteError),
    /// The peer the token of a `Request::Confirm` was issued to (`None`: no such token).
    TokenOwner(Option<NodeName>),
}

/// An error reported by a remote supervisor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) enum RemoteError {
    NotFound(ActorKey),
    UnknownKind(String),
    BadArguments {
        kind: String,
        reason: String,
    },
    BadMessage {
        key: ActorKey,
        reason: String,
    },
    SpawnFailed {
        key: ActorKey,
        reason: String,
    },
    Timeout,
    /// The actor dropped the reply port (it stopped or panicked before answering).
    Dropped(ActorKey),
    Unavailable(String),
    Malformed(String),
    /// A hold queue for the name was at its cap (`HoldError`'s text); nothing was delivered.
    Overloaded {
        key: ActorKey,
        reason: String,
    },
    /// A spawn named an actor that runs here as another kind (`running`). Added last:
    /// every earlier variant keeps its encoding, so a peer of the same protocol version
    /// that lacks it only fails to decode this answer (it would have been a wrong `Ok`).
    KindMismatch {
        key: ActorKey,
        running: String,
    },
}

/// Encodes a value with the version header.
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    // Serializing our own plain data types into a Vec cannot fail.
    bincode::serialize_into(&mut out, value).unwrap_or_else(|e| unreachable!("encode: {e}"));
    out
}

/// Position of [`FrameBody::StateChunk`] among the variants (bincode encodes it); pinned by
/// a test against the derived encoding.
const STATE_CHUNK_VARIANT: u32 = 11;

/// Encodes the `StateChunk` frame of one snapshot piece straight from the snapshot: the same
/// bytes as encoding [`Frame`] with a [`FrameBody::StateChunk`], without first copying the
/// piece into the body (a resend copies each piece once, into its frame).
pub(crate) fn encode_state_chunk(
    from: &NodeName,
    incarnation: Incarnation,
    batch: u64,
    key: &ActorKey,
    index: u32,
    bytes: &[u8],
) -> Vec<u8> {
    struct Body<'a> {
        batch: u64,
        key: &'a ActorKey,
        index: u32,
        bytes: &'a [u8],
    }
    impl Serialize for Body<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeStructVariant;
            let mut v =
                s.serialize_struct_variant("FrameBody", STATE_CHUNK_VARIANT, "StateChunk", 4)?;
            v.serialize_field("batch", &self.batch)?;
            v.serialize_field("key", self.key)?;
            v.serialize_field("index", &self.index)?;
            v.serialize_field("bytes", serde_bytes::Bytes::new(self.bytes))?;
            v.end()
        }
    }
    #[derive(Serialize)]
    struct FrameRef<'a> {
        from: &'a NodeName,
        incarnation: Incarnation,
        body: Body<'a>,
    }
    let frame = FrameRef {
        from,
        incarnation,
        body: Body {
            batch,
            key,
            index,
            bytes,
        },
    };
    let mut out = Vec::with_capacity(bytes.len() + key.as_str().len() + from.as_str().len() + 64);
    out.extend_from_slice(&PROTOCOL_VERSION.to_le_bytes());
    bincode::serialize_into(&mut out, &frame).unwrap_or_else(|e| unreachable!("encode: {e}"));
    out
}

/// Decodes a value, checking the version header and limiting the body to `limit` bytes.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], limit: u64) -> Result<T, WireError> {
    use bincode::Options;
    if bytes.len() < 2 {
        return Err(WireError::Truncated(bytes.len()));
    }
    let peer = u16::from_le_bytes([bytes[0], bytes[1]]);
    if peer != PROTOCOL_VERSION {
        return Err(WireError::Version {
            peer,
            ours: PROTOCOL_VERSION,
        });
    }
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(limit)
        .deserialize(&bytes[2..])
        .map_err(|e| WireError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_a_frame() {
        let f = Frame {
            from: "a@h".into(),
            incarnation: Incarnation(7),
            body: FrameBody::Cast {
                key: "k".into(),
                variant: "Add".into(),
                args: vec![1, 2, 3],
                hops: 1,
                stamp: Some(Stamp {
                    stream: Stream(4),
                    seq: 5,
                }),
            },
        };
        let back: Frame = decode(&encode(&f), 1 << 20).unwrap();
        assert!(matches!(back.body, FrameBody::Cast { hops: 1, .. }));
        let FrameBody::Cast { stamp: Some(s), .. } = back.body else {
            panic!("the stamp travels");
        };
        assert_eq!((s.stream, s.seq), (Stream(4), 5));
    }

    /// A tripwire: the envelopes' shape changed (`RemoteError::Overloaded`,
    /// `NodeStatus::hold_refused`) without a version bump once (5 added
    /// `NodeStatus::settled_by_deadline`; 7 spawn arguments in MessagePack; 8 numbered
    /// drops and rehosts; 9 added session tokens, `Request::Confirm`, `Response::TokenOwner`
    /// and `NodeStatus::frames_refused`; 10 delta checkpoints and snapshots with deltas;
    /// 11 cast stamps, `MigrateEntry::order` and `NodeStatus::gaps_skipped`; 12
    /// `MigrateAck::refused` and `NodeStatus::moves_refused`; 13 `MigrateEntry::refused` and `FrameBody::HandoffsBusy`; 14
    /// `FrameBody::LeaveSeen`; 15 `MigrateEntry::passive`; 16 `NodeStatus::under_replicated`).
    /// Whoever changes an
    /// envelope updates these bytes and bumps [`PROTOCOL_VERSION`] together.
    #[test]
    fn the_wire_shape_is_pinned_to_its_protocol_version() {
        let overloaded = encode(&Response::Err(RemoteError::Overloaded {
            key: "k".into(),
            reason: "r".into(),
        }));
        assert_eq!(PROTOCOL_VERSION, 16, "bump with the pinned bytes below");
        assert_eq!(
            overloaded,
            [
                16, 0, 6, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, b'k', 1, 0, 0, 0, 0, 0, 0,
                0, b'r'
            ]
        );
    }

    /// `RemoteError::KindMismatch` came after the others (added between two version bumps):
    /// it stays last, leaving every earlier answer's bytes as pinned above.
    #[test]
    fn the_kind_mismatch_answer_is_the_last_remote_error() {
        let mismatch = encode(&Response::Err(RemoteError::KindMismatch {
            key: "k".into(),
            running: "r".into(),
        }));
        assert_eq!(
            mismatch,
            [
                16, 0, 6, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, b'k', 1, 0, 0, 0, 0, 0, 0,
                0, b'r'
            ]
        );
        let back: Response = decode(&mismatch, 1 << 20).unwrap();
        assert!(matches!(
            back,
            Response::Err(RemoteError::KindMismatch { running, .. }) if running == "r"
        ));
    }

    #[test]
    fn rejects_other_versions_and_garbage_with_clear_errors() {
        let mut bytes = encode(&Request::Status);
        let other = PROTOCOL_VERSION + 1;
        bytes[..2].copy_from_slice(&other.to_le_bytes());
        assert_eq!(
            decode::<Request>(&bytes, 1 << 20).unwrap_err(),
            WireError::Version {
                peer: other,
                ours: PROTOCOL_VERSION
            }
        );
        assert_eq!(
            decode::<Request>(&[1], 1 << 20).unwrap_err(),
            WireError::Truncated(1)
        );
        let mut garbage = PROTOCOL_VERSION.to_le_bytes().to_vec();
        garbage.extend_from_slice(&[0xff; 8]);
        assert!(matches!(
            decode::<Frame>(&garbage, 1 << 20),
            Err(WireError::Malformed(_))
        ));
    }

    #[test]
    fn a_chunk_encoded_from_a_slice_equals_the_derived_encoding() {
        let derived = encode(&Frame {
            from: "a@h".into(),
            incarnation: Incarnation(3),
            body: FrameBody::StateChunk {
                batch: 9,
                key: "k".into(),
                index: 2,
                bytes: vec![1, 2, 3, 4],
            },
        });
        let direct = encode_state_chunk(
            &"a@h".into(),
            Incarnation(3),
            9,
            &"k".into(),
            2,
            &[1, 2, 3, 4],
        );
        assert_eq!(direct, derived);
        let back: Frame = decode(&direct, 1 << 20).unwrap();
        assert!(matches!(back.body, FrameBody::StateChunk { index: 2, .. }));
    }

    #[test]
    fn size_limit_stops_allocation_bombs() {
        // a length prefix claiming 2^40 bytes must not allocate
        let mut bytes = PROTOCOL_VERSION.to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0, 0, 0, 0]); // Frame.from: string length...
        bytes.extend_from_slice(&(1u64 << 40).to_le_bytes());
        assert!(matches!(
            decode::<Frame>(&bytes, 1 << 20),
            Err(WireError::Malformed(_))
        ));
    }
}
