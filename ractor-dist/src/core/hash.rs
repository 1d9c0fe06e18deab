//! The specified, stable hash functions that placement is built on.
//!
//! Every node must compute the same owner for the same name and membership, on every build
//! and platform, forever (or until [`HASH_VERSION`] changes). std's `DefaultHasher` (which
//! `rendezvous_hash` uses by default) promises none of that, and `Hash` for `usize` or `str`
//! is not specified either. So the byte streams and algorithms are fixed here:
//!
//! - a name is hashed once with XXH3-64 over its UTF-8 bytes, seeded with [`KEY_SEED`]
//!   ([`key_hash`]);
//! - a node's seed is XXH3-64 of its authenticated name, seeded with [`NODE_SEED`]
//!   ([`node_seed`]);
//! - the rendezvous score of (node, name) is [`score`]: a 64x64→128-bit multiply of the two,
//!   folded to 64 bits and finished with the MurmurHash3 `fmix64` avalanche.
//!
//! Golden-vector tests at the bottom pin all three; a change to any of them is a wire break
//! and must bump [`HASH_VERSION`].

use std::hash::Hasher;

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// The version of the placement hash. Nodes with different versions disagree on owners.
pub const HASH_VERSION: u32 = 1;

/// Seed of the XXH3 hash of actor names.
pub const KEY_SEED: u64 = 0x7261_6374_6f72_6b65; // "ractorke"
/// Seed of the XXH3 hash of node names.
pub const NODE_SEED: u64 = 0x7261_6374_6f72_6e6f; // "ractorno"

/// The 64-bit hash of an actor name, computed once per name.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct KeyHash(pub u64);

impl std::hash::Hash for KeyHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// Hashes an actor name (see the module docs for the specification).
pub fn key_hash(name: &str) -> KeyHash {
    KeyHash(xxh3_64_with_seed(name.as_bytes(), KEY_SEED))
}

/// Hashes a node name into the per-node seed used by [`score`].
pub fn node_seed(node: &str) -> u64 {
    xxh3_64_with_seed(node.as_bytes(), NODE_SEED)
}

/// MurmurHash3's 64-bit finalizer: a bijection with full avalanche.
pub fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// The rendezvous score of a node (by its [`node_seed`]) for a name (by its [`key_hash`]).
/// The node with the highest score owns the name.
#[inline]
pub fn score(node_seed: u64, key: KeyHash) -> u64 {
    let a = node_seed ^ 0xa076_1d64_78bd_642f;
    let b = key.0 ^ 0xe703_7ed1_a0b4_28db;
    let wide = u128::from(a) * u128::from(b);
    fmix64((wide as u64) ^ ((wide >> 64) as u64) ^ node_seed)
}

/// A [`Hasher`] with a specified byte stream, used to feed `rendezvous_hash`'s scoring.
///
/// `write_u64` (what [`KeyHash`] writes) folds the value with [`score`]; other writes are
/// hashed with XXH3 in little-endian order. It never depends on the platform's `usize` or
/// endianness.
#[derive(Debug, Clone)]
pub struct ScoreHasher {
    seed: u64,
    state: Option<u64>,
}

impl ScoreHasher {
    /// A hasher that scores items against a node with this [`node_seed`].
    pub fn new(node_seed: u64) -> Self {
        Self {
            seed: node_seed,
            state: None,
        }
    }

    fn fold(&mut self, v: u64) {
        let base = self.state.map_or(v, |s| fmix64(s ^ v));
        self.state = Some(base);
    }
}

impl Hasher for ScoreHasher {
    fn finish(&self) -> u64 {
        score(self.seed, KeyHash(self.state.unwrap_or(0)))
    }

    fn write(&mut self, bytes: &[u8]) {
        let h = xxh3_64_with_seed(bytes, KEY_SEED);
        self.fold(h);
    }

    fn write_u8(&mut self, i: u8) {
        self.fold(u64::from(i));
    }

    fn write_u16(&mut self, i: u16) {
        self.fold(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.fold(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.fold(i);
    }

    fn write_usize(&mut self, i: usize) {
        self.fold(i as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::Hash;

    // Golden vectors: these values are part of the placement specification. If one of these
    // assertions fails, owners changed for existing clusters; bump HASH_VERSION instead.
    #[test]
    fn key_hash_golden_vectors() {
        let got: Vec<u64> = ["", "a", "counter-1", "ünïcødé"]
            .iter()
            .map(|k| key_hash(k).0)
            .collect();
        assert_eq!(got, GOLDEN_KEYS, "key_hash changed: {got:#x?}");
    }

    #[test]
    fn node_seed_golden_vectors() {
        let got: Vec<u64> = ["a@127.0.0.1", "b@127.0.0.1", "node-10@10.0.0.1"]
            .iter()
            .map(|n| node_seed(n))
            .collect();
        assert_eq!(got, GOLDEN_NODES, "node_seed changed: {got:#x?}");
    }

    #[test]
    fn score_golden_vectors() {
        let got = [
            score(0, KeyHash(0)),
            score(1, KeyHash(2)),
            score(u64::MAX, KeyHash(u64::MAX)),
            score(node_seed("a@127.0.0.1"), key_hash("counter-1")),
        ];
        assert_eq!(got, GOLDEN_SCORES, "score changed: {got:#x?}");
    }

    #[test]
    fn score_hasher_matches_score_for_key_hashes() {
        let seed = node_seed("x@h");
        let key = key_hash("name");
        let mut h = ScoreHasher::new(seed);
        key.hash(&mut h);
        assert_eq!(h.finish(), score(seed, key));
    }

    const GOLDEN_KEYS: [u64; 4] = [
        15845993936337413676,
        7454200864224981025,
        9348901632001287268,
        15119471570977435605,
    ];
    const GOLDEN_NODES: [u64; 3] = [
        935401205835032863,
        14479055763733149261,
        13825901734436328534,
    ];
    const GOLDEN_SCORES: [u64; 4] = [
        3101241407191310920,
        11584966856965454519,
        2948363325074275296,
        14556567071089027781,
    ];
}
