//! The multicast announcement (Distable's UDP formation): its format, signature and
//! freshness, and which announced addresses are still current. The socket loop that sends
//! and hears them is [`crate::discovery::Multicast`].
//!
//! An announcement is `"RDMC"`, a version byte, the sender's clock in Unix milliseconds
//! (8 bytes, big-endian), the node's name and dial address (each a length byte and at most
//! 255 bytes of UTF-8), then an HMAC-SHA256 of all that under a key derived from the
//! cluster cookie. The caller passes every clock reading in.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::core::Millis;

const MAGIC: &[u8; 4] = b"RDMC";
const VERSION: u8 = 1;
const MAC_LEN: usize = 32;
/// Announcements older or newer than this (by the sender's clock) are refused: a recorded
/// announcement cannot be replayed for long.
pub(crate) const FRESH_MS: u64 = 60_000;
/// An announcement larger than this is not one of ours.
pub(crate) const MAX_DATAGRAM: usize = 1024;
/// An address is current while it was heard within this many announcement intervals.
const KEEP_INTERVALS: u64 = 5;

/// The key announcements are signed with: SHA-256 of a label and the cookie (the cookie
/// itself never keys anything but ractor_cluster's handshake).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct AnnouncementKey([u8; 32]);

impl std::fmt::Debug for AnnouncementKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AnnouncementKey(..)")
    }
}

impl AnnouncementKey {
    /// The key of the cluster whose cookie is `cookie`.
    pub(crate) fn new(cookie: &str) -> Self {
        let mut h = Sha256::new();
        h.update(b"ractor-dist multicast announcement v1\0");
        h.update(cookie.as_bytes());
        Self(h.finalize().into())
    }

    /// The announcement of node `name` dialed at `addr`, sent at `unix_ms`.
    pub(crate) fn sign(&self, name: &str, addr: &str, unix_ms: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&unix_ms.to_be_bytes());
        for field in [name, addr] {
            out.extend_from_slice(&(field.len().min(255) as u8).to_be_bytes());
            out.extend_from_slice(&field.as_bytes()[..field.len().min(255)]);
        }
        let mac = hmac(&self.0, &out);
        out.extend_from_slice(&mac);
        out
    }

    /// The name and address of a genuine announcement, fresh at `now_unix_ms`.
    ///
    /// # Errors
    ///
    /// Why `datagram` is refused (nothing else changes).
    pub(crate) fn verify(
        &self,
        datagram: &[u8],
        now_unix_ms: u64,
    ) -> Result<(String, String), Refused> {
        let body_len = datagram
            .len()
            .checked_sub(MAC_LEN)
            .ok_or(Refused::Malformed)?;
        let (body, mac) = datagram.split_at(body_len);
        let expected = hmac(&self.0, body);
        // Constant time: every byte is compared.
        if expected
            .iter()
            .zip(mac)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0
        {
            return Err(Refused::Signature);
        }
        let rest = body.strip_prefix(MAGIC).ok_or(Refused::Malformed)?;
        let (&version, rest) = rest.split_first().ok_or(Refused::Malformed)?;
        if version != VERSION {
            return Err(Refused::Version(version));
        }
        if rest.len() < 8 {
            return Err(Refused::Malformed);
        }
        let (sent, mut rest) = rest.split_at(8);
        let sent = u64::from_be_bytes(sent.try_into().map_err(|_| Refused::Malformed)?);
        if sent.abs_diff(now_unix_ms) > FRESH_MS {
            return Err(Refused::Stale);
        }
        let mut field = || {
            let (&len, tail) = rest.split_first()?;
            let (value, tail) = tail.split_at_checked(len as usize)?;
            rest = tail;
            String::from_utf8(value.to_vec()).ok()
        };
        let (name, addr) = (
            field().ok_or(Refused::Malformed)?,
            field().ok_or(Refused::Malformed)?,
        );
        if rest.is_empty() {
            Ok((name, addr))
        } else {
            Err(Refused::Malformed)
        }
    }
}

/// Why an announcement was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refused {
    /// Not signed with this cluster's cookie, or altered.
    #[error("bad signature")]
    Signature,
    /// Signed, but not an announcement of this format.
    #[error("malformed")]
    Malformed,
    /// Signed, in another version of the format.
    #[error("version {0}")]
    Version(u8),
    /// Sent more than a minute away from now (a replay, or a clock far off).
    #[error("not fresh")]
    Stale,
}

/// HMAC-SHA256 (RFC 2104).
fn hmac(key: &[u8; 32], message: &[u8]) -> [u8; MAC_LEN] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let mut inner = Sha256::new();
    inner.update(pad(0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(pad(0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// The addresses announced by other nodes, with when each was last heard.
#[derive(Debug, Default)]
pub(crate) struct Heard {
    at: BTreeMap<String, Millis>,
}

impl Heard {
    /// `addr` was announced at `now`.
    pub(crate) fn hear(&mut self, addr: String, now: Millis) {
        self.at.insert(addr, now);
    }

    /// The addresses heard within the last [`KEEP_INTERVALS`] announcement intervals of
    /// `interval_ms` at `now`; older ones are forgotten.
    pub(crate) fn current(&mut self, now: Millis, interval_ms: u64) -> Vec<String> {
        let keep = interval_ms.saturating_mul(KEEP_INTERVALS);
        self.at.retain(|_, at| now.since(*at) < keep);
        self.at.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_test_case_2_shape() {
        // RFC 4231 case 2 uses the 4-byte key "Jefe": check our HMAC against it with the
        // key zero-padded to 32 bytes (HMAC pads keys shorter than the block with zeros,
        // so the result is the same).
        let mut key = [0u8; 32];
        key[..4].copy_from_slice(b"Jefe");
        let mac = hmac(&key, b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn only_fresh_announcements_signed_with_the_cookie_are_taken() {
        let now = 1_700_000_000_000;
        let k = AnnouncementKey::new("c");
        let good = k.sign("a@h", "10.0.0.1:7100", now);
        assert_eq!(
            k.verify(&good, now + 5),
            Ok(("a@h".into(), "10.0.0.1:7100".into()))
        );
        // Another cookie, a flipped byte, a truncation, a replay past a minute: refused.
        assert_eq!(
            AnnouncementKey::new("other").verify(&good, now),
            Err(Refused::Signature)
        );
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 1;
            assert_eq!(k.verify(&bad, now), Err(Refused::Signature), "byte {i}");
        }
        assert_eq!(
            k.verify(&good[..good.len() - 1], now),
            Err(Refused::Signature)
        );
        assert_eq!(k.verify(&good, now + FRESH_MS + 1), Err(Refused::Stale));
        assert_eq!(k.verify(&good, now - FRESH_MS - 1), Err(Refused::Stale));
        assert_eq!(
            k.verify(&good, now + FRESH_MS),
            Ok(("a@h".into(), "10.0.0.1:7100".into()))
        );
        assert_eq!(k.verify(&[], now), Err(Refused::Malformed));
    }

    #[test]
    fn a_signed_body_of_another_shape_is_refused_as_such() {
        let k = AnnouncementKey::new("c");
        let signed = |body: &[u8]| {
            let mut out = body.to_vec();
            out.extend_from_slice(&hmac(&k.0, body));
            out
        };
        let now: u64 = 1_000_000;
        let mut v2 = b"RDMC".to_vec();
        v2.push(2);
        v2.extend_from_slice(&now.to_be_bytes());
        let mut trailing = k.sign("a", "b:1", now);
        trailing.truncate(trailing.len() - MAC_LEN);
        trailing.push(0);
        for (body, refused) in [
            (b"XXXX".to_vec(), Refused::Malformed),
            (b"RDMC\x01\x00".to_vec(), Refused::Malformed),
            (v2, Refused::Version(2)),
            (trailing, Refused::Malformed),
        ] {
            assert_eq!(k.verify(&signed(&body), now), Err(refused));
        }
    }

    #[test]
    fn an_address_is_current_for_five_intervals_after_it_was_last_heard() {
        let mut heard = Heard::default();
        heard.hear("a:1".into(), Millis(0));
        heard.hear("b:1".into(), Millis(300));
        assert_eq!(heard.current(Millis(499), 100), ["a:1", "b:1"]);
        assert_eq!(heard.current(Millis(500), 100), ["b:1"]);
        heard.hear("b:1".into(), Millis(600));
        assert_eq!(heard.current(Millis(1000), 100), ["b:1"]);
        assert!(heard.current(Millis(1100), 100).is_empty());
    }
}
