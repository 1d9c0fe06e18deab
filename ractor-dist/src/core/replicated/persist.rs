//! The file a replicated value is kept in on disk (with `DistConfig::data_dir`): a
//! versioned, checksummed encoding of its state and version vector. Writing and reading
//! the file is the node's job; deciding what it holds and refusing a bad one is here.
//!
//! Layout: the magic `RDRV`, the format version (2 bytes, little-endian), the bincode body
//! ([`Persisted`]), then the xxh3-64 (seed 0) of everything before it (8 bytes,
//! little-endian).

use serde::{Deserialize, Serialize};

use super::VersionVector;
use crate::core::snapshot::{decode_fixed, encode_fixed};

/// The first bytes of every value file.
pub const MAGIC: [u8; 4] = *b"RDRV";

/// The version of the value file format. Files of another version are refused.
pub const FORMAT_VERSION: u16 = 1;

/// A value as kept on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Persisted {
    /// The value's name.
    pub name: String,
    /// Its type ([`super::tag_hash`]).
    pub tag: u64,
    /// What the state contains.
    pub version: VersionVector,
    /// The encoded state.
    #[serde(with = "serde_bytes")]
    pub state: Vec<u8>,
}

/// Why a value file was refused. The file was left as it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PersistError {
    /// Not a value file (another magic, or too short).
    #[error("not a replicated value file")]
    NotAValueFile,
    /// A file of another format version.
    #[error("value file format {found}, this node reads {ours}")]
    OtherVersion {
        /// The file's version.
        found: u16,
        /// [`FORMAT_VERSION`].
        ours: u16,
    },
    /// The checksum does not match (a torn or corrupted file).
    #[error("value file checksum mismatch (corrupted)")]
    Checksum,
    /// The body does not decode.
    #[error("value file does not decode: {0}")]
    Malformed(String),
}

/// Encodes a value file.
pub fn encode_file(value: &Persisted) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    // plain data: serializing into a Vec cannot fail
    out.extend(encode_fixed(value).unwrap_or_default());
    let sum = xxhash_rust::xxh3::xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// Decodes a value file, checking its magic, version and checksum.
///
/// # Errors
///
/// A [`PersistError`] saying what is wrong with it.
pub fn decode_file(bytes: &[u8]) -> Result<Persisted, PersistError> {
    if bytes.len() < MAGIC.len() + 2 + 8 || bytes[..4] != MAGIC {
        return Err(PersistError::NotAValueFile);
    }
    let found = u16::from_le_bytes([bytes[4], bytes[5]]);
    if found != FORMAT_VERSION {
        return Err(PersistError::OtherVersion {
            found,
            ours: FORMAT_VERSION,
        });
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    let sum = u64::from_le_bytes(sum.try_into().map_err(|_| PersistError::NotAValueFile)?);
    if xxhash_rust::xxh3::xxh3_64(body) != sum {
        return Err(PersistError::Checksum);
    }
    decode_fixed(&body[6..], body.len()).map_err(PersistError::Malformed)
}

/// A file name for the value `name`: the name itself when it is made of ASCII letters,
/// digits, `-` and `_`, else `x` and the hex of its bytes; `.rdv` after it.
pub fn file_name(name: &str) -> String {
    let plain = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if plain && !name.starts_with('x') {
        format!("{name}.rdv")
    } else {
        let hex: String = name.bytes().map(|b| format!("{b:02x}")).collect();
        format!("x{hex}.rdv")
    }
}
