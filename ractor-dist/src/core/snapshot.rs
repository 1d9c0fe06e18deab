//! A serialized actor state, and the codec of states and spawn arguments.
//!
//! States and arguments travel as bytes (bincode 1 with fixed-width integers); the
//! [`Snapshot`] carries the state version of the node that wrote it so that a node of
//! another version refuses it with a clear error instead of misreading it.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The error type of the codec helpers: the same type as ractor's `ActorProcessingErr`, so
/// that `?` works inside actor hooks.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A serialized actor state travelling with a [`crate::HandoffMode::Resume`] move.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Snapshot {
    /// The [`crate::DistActor::STATE_VERSION`] of the node that wrote it.
    pub version: u32,
    /// The bytes [`crate::DistActor::snapshot`] returned.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

impl Snapshot {
    /// Encodes a serde state (bincode, fixed-width integers): a ready-made body for
    /// [`crate::DistActor::snapshot`].
    ///
    /// # Errors
    ///
    /// When the state does not serialize.
    pub fn encode<T: Serialize>(state: &T) -> Result<Vec<u8>, BoxError> {
        bincode::serialize(state).map_err(|e| format!("state does not serialize: {e}").into())
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

/// Encodes spawn arguments (bincode, fixed-width integers).
pub(crate) fn encode_args<T: Serialize>(args: &T) -> Result<Vec<u8>, String> {
    bincode::serialize(args).map_err(|e| e.to_string())
}

pub(crate) fn decode_args<T: DeserializeOwned>(bytes: &[u8], limit: usize) -> Result<T, String> {
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .reject_trailing_bytes()
        .with_limit(limit as u64)
        .deserialize(bytes)
        .map_err(|e| e.to_string())
}
