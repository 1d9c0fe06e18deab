//! A serialized actor state, and the codec of states and spawn arguments.
//!
//! States and spawn arguments travel as MessagePack with named struct fields
//! (`rmp-serde`): self-describing, so a field added with `#[serde(default)]` decodes from
//! bytes written before it existed, and unknown fields are skipped. The [`Snapshot`] carries
//! the state version of the node that wrote it so that a node of another version refuses it
//! with a clear error (or upgrades it) instead of misreading it.
//!
//! The node's own positional data (replicated values' deltas and files) keeps bincode 1:
//! `encode_fixed` and `decode_fixed`.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The error type of the codec helpers: the same type as ractor's `ActorProcessingErr`, so
/// that `?` works inside actor hooks.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A serialized actor state travelling with a [`crate::HandoffMode::Resume`] move, kept as
/// a checkpoint, or handed to [`crate::DistActor::merge`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// The [`crate::DistActor::STATE_VERSION`] of the node that wrote it.
    pub version: u32,
    /// The bytes [`crate::DistActor::snapshot`] returned.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
    /// Checkpoint deltas taken after `bytes` ([`crate::DistActor::checkpoint_delta`]), in
    /// order; the node applies them with [`crate::DistActor::apply_delta`] after
    /// `restore`, so the hooks never see any.
    pub(crate) deltas: Vec<serde_bytes::ByteBuf>,
}

impl Snapshot {
    /// The state `bytes` written by a node of state version `version`.
    pub fn new(version: u32, bytes: Vec<u8>) -> Self {
        Snapshot {
            version,
            bytes,
            deltas: Vec::new(),
        }
    }

    /// The same state, said to be of state version `version` (an upgrade in `restore`
    /// that re-labels bytes whose layout did not change).
    pub fn with_version(self, version: u32) -> Self {
        Snapshot { version, ..self }
    }

    /// Bytes it takes, deltas included.
    pub fn len(&self) -> usize {
        self.bytes.len() + self.deltas.iter().map(|d| d.len()).sum::<usize>()
    }

    /// True when it holds no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// This checkpoint followed by `delta` (its bytes; its own deltas, if any, after them).
    pub(crate) fn extend(&mut self, delta: Snapshot) {
        self.deltas.push(serde_bytes::ByteBuf::from(delta.bytes));
        self.deltas.extend(delta.deltas);
    }

    /// Splits off the deltas: the state to `restore`, and what to apply to it.
    pub(crate) fn take_deltas(&mut self) -> Vec<serde_bytes::ByteBuf> {
        std::mem::take(&mut self.deltas)
    }

    /// Encodes a serde state (MessagePack, structs as maps of field names): a ready-made
    /// body for [`crate::DistActor::snapshot`].
    ///
    /// # Schema evolution
    ///
    /// Adding a field with `#[serde(default)]` (or an `Option`) and adding an enum variant
    /// keep old snapshots decodable, and removing a field keeps them decodable too (it is
    /// skipped). Renaming a field or variant, or changing a field's type, does not: bump
    /// [`crate::DistActor::STATE_VERSION`] and upgrade the old layout in `restore`. Byte
    /// strings encode compactly with `serde_bytes` (a plain `Vec<u8>` is a list of numbers).
    ///
    /// # Errors
    ///
    /// When the state does not serialize.
    pub fn encode<T: Serialize + ?Sized>(state: &T) -> Result<Vec<u8>, BoxError> {
        encode_args(state).map_err(|e| format!("state does not serialize: {e}").into())
    }

    /// Decodes a state encoded with [`Snapshot::encode`], refusing another version.
    ///
    /// # Errors
    ///
    /// When `self.version != expected_version` or the bytes do not decode.
    pub fn decode<T: DeserializeOwned>(&self, expected_version: u32) -> Result<T, BoxError> {
        if self.version != expected_version {
            return Err(format!(
                "snapshot has state version {}, this node expects {expected_version}",
                self.version
            )
            .into());
        }
        decode_args(&self.bytes, usize::MAX)
            .map_err(|e| format!("snapshot does not decode: {e}").into())
    }
}

/// Encodes spawn arguments (and states): MessagePack with named struct fields.
pub(crate) fn encode_args<T: Serialize + ?Sized>(args: &T) -> Result<Vec<u8>, String> {
    rmp_serde::to_vec_named(args).map_err(|e| e.to_string())
}

/// Decodes what [`encode_args`] encoded: at most `limit` bytes, with nothing left over.
pub(crate) fn decode_args<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, String> {
    if bytes.len() > limit {
        return Err(format!(
            "{} bytes is over the limit of {limit}",
            bytes.len()
        ));
    }
    let mut de = rmp_serde::Deserializer::new(bytes);
    let value = T::deserialize(&mut de).map_err(|e| e.to_string())?;
    match de.get_ref().len() {
        0 => Ok(value),
        n => Err(format!("{n} bytes left over after the value")),
    }
}

/// Encodes the node's own positional data (bincode 1, fixed-width integers).
pub(crate) fn encode_fixed<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    bincode::serialize(value).map_err(|e| e.to_string())
}

/// Decodes what [`encode_fixed`] encoded, reading at most `limit` bytes.
pub(crate) fn decode_fixed<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, String> {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .reject_trailing_bytes()
        .with_limit(limit as u64)
        .deserialize(bytes)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// A session state as a kind wrote it before any field was added:
    /// `Session { user: "user-42", events: ["login", "cart"], channel: Channel::Mobile { app:
    /// "ios" }, seen: 2 }` with `enum Channel { Web, Mobile { app: String } }`, encoded by
    /// `Snapshot::encode` (rmp-serde 1.3, named fields). Pinned: the bytes a running
    /// cluster holds in its checkpoints must keep decoding.
    const SESSION_V1: [u8; 64] = [
        132, 164, 117, 115, 101, 114, 167, 117, 115, 101, 114, 45, 52, 50, 166, 101, 118, 101, 110,
        116, 115, 146, 165, 108, 111, 103, 105, 110, 164, 99, 97, 114, 116, 167, 99, 104, 97, 110,
        110, 101, 108, 129, 166, 77, 111, 98, 105, 108, 101, 129, 163, 97, 112, 112, 163, 105, 111,
        115, 164, 115, 101, 101, 110, 2,
    ];

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Channel {
        Web,
        Mobile {
            app: String,
        },
        /// Added since.
        Desktop,
    }

    /// The state of the same kind after two fields and a variant were added.
    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Session {
        user: String,
        events: Vec<String>,
        channel: Channel,
        seen: u64,
        #[serde(default)]
        logins: u32,
        #[serde(default)]
        referrer: Option<String>,
    }

    fn v1() -> Snapshot {
        Snapshot::new(1, SESSION_V1.to_vec())
    }

    #[test]
    fn a_snapshot_written_before_fields_were_added_decodes_with_their_defaults() {
        let session: Session = v1().decode(1).unwrap();
        assert_eq!(
            session,
            Session {
                user: "user-42".into(),
                events: vec!["login".into(), "cart".into()],
                channel: Channel::Mobile { app: "ios".into() },
                seen: 2,
                logins: 0,
                referrer: None,
            }
        );
    }

    #[test]
    fn a_state_encodes_as_it_did_when_the_old_bytes_were_pinned() {
        #[derive(Serialize)]
        struct SessionV1 {
            user: String,
            events: Vec<String>,
            channel: Channel,
            seen: u64,
        }
        let old = SessionV1 {
            user: "user-42".into(),
            events: vec!["login".into(), "cart".into()],
            channel: Channel::Mobile { app: "ios".into() },
            seen: 2,
        };
        assert_eq!(Snapshot::encode(&old).unwrap(), SESSION_V1);
    }

    #[test]
    fn a_field_removed_since_is_skipped() {
        #[derive(Debug, PartialEq, Deserialize)]
        struct Slim {
            user: String,
            seen: u64,
        }
        let slim: Slim = v1().decode(1).unwrap();
        assert_eq!(
            slim,
            Slim {
                user: "user-42".into(),
                seen: 2
            }
        );
    }

    #[test]
    fn a_renamed_or_retyped_field_is_refused_with_an_error() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Renamed {
            user: String,
            log: Vec<String>,
        }
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Retyped {
            user: String,
            seen: String,
        }
        let renamed = v1().decode::<Renamed>(1).unwrap_err().to_string();
        assert!(renamed.contains("missing field `log`"), "{renamed}");
        let retyped = v1().decode::<Retyped>(1).unwrap_err().to_string();
        assert!(retyped.contains("does not decode"), "{retyped}");
    }

    #[test]
    fn another_state_version_is_refused() {
        let error = v1().decode::<Session>(2).unwrap_err().to_string();
        assert_eq!(error, "snapshot has state version 1, this node expects 2");
    }

    #[test]
    fn garbage_truncation_and_trailing_bytes_are_errors() {
        let mut trailing = SESSION_V1.to_vec();
        trailing.push(0);
        for bytes in [
            trailing,
            SESSION_V1[..40].to_vec(),
            vec![0xc1; 16],
            vec![0xdd, 0xff, 0xff, 0xff, 0xff], // an array of 4 G elements, none present
            Vec::new(),
        ] {
            let snapshot = Snapshot::new(1, bytes);
            assert!(snapshot.decode::<Session>(1).is_err());
        }
        assert!(decode_args::<Session>(&SESSION_V1, 63).is_err());
    }

    #[test]
    fn states_arguments_and_fixed_data_round_trip() {
        let session = Session {
            user: "u".into(),
            events: vec!["e".into(); 3],
            channel: Channel::Desktop,
            seen: u64::MAX,
            logins: 7,
            referrer: Some("r".into()),
        };
        let snapshot = Snapshot::new(3, Snapshot::encode(&session).unwrap());
        assert_eq!(snapshot.decode::<Session>(3).unwrap(), session);
        let args = encode_args(&(1i64, "a".to_string())).unwrap();
        assert_eq!(
            decode_args::<(i64, String)>(&args, args.len()).unwrap(),
            (1, "a".to_string())
        );
        let fixed = encode_fixed(&(1u32, 2u64)).unwrap();
        assert_eq!(fixed.len(), 12);
        assert_eq!(decode_fixed::<(u32, u64)>(&fixed, 12).unwrap(), (1, 2));
    }
}
