//! [`Multicast`]: nodes announce themselves on a LAN multicast group (Distable's UDP
//! formation), each announcement signed with a key derived from the cluster cookie.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::{BoxFuture, Discovery, DiscoveryError};

const MAGIC: &[u8; 4] = b"RDMC";
const VERSION: u8 = 1;
const MAC_LEN: usize = 32;
/// Announcements older or newer than this (by the sender's clock) are refused: a recorded
/// announcement cannot be replayed for long.
const FRESH_MS: u64 = 60_000;
/// An announcement larger than this is not one of ours.
const MAX_DATAGRAM: usize = 1024;

/// Nodes announce `name` and dial address on a multicast group and port every `interval`,
/// and dial whoever announced within the last five intervals. Each announcement carries
/// the time it was sent and an HMAC-SHA256 under a key derived from the cluster cookie:
/// a stranger's announcement (another cookie, altered, or older than a minute) is ignored
/// and counted ([`Multicast::refused`]). The cookie still guards every session, so a
/// replayed announcement can at most make a node dial a real member again.
///
/// IPv4 groups only (`239.0.0.0/8` is the organisation-local scope), TTL 1 (the local
/// network), looped back so that nodes of one machine hear each other. Announcements go
/// out of `interface` (the node's host when it is an IPv4 literal, else the system's
/// default).
#[derive(Debug)]
pub struct Multicast {
    group: Ipv4Addr,
    port: u16,
    interface: Ipv4Addr,
    interval: Duration,
    me: String,
    addr: String,
    key: [u8; 32],
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Announced dial addresses, with when they were last heard.
    heard: Mutex<BTreeMap<String, Instant>>,
    refused: AtomicU64,
    /// Why the socket could not be opened (reported by `discover`).
    failed: Mutex<Option<String>>,
}

impl Multicast {
    /// The node `name` dialed at `addr` announces itself on `group:port` every second,
    /// signing with `cookie`.
    pub fn new(
        group: Ipv4Addr,
        port: u16,
        name: impl Into<String>,
        addr: impl Into<String>,
        cookie: &str,
    ) -> Self {
        Self {
            group,
            port,
            interface: Ipv4Addr::UNSPECIFIED,
            interval: Duration::from_secs(1),
            me: name.into(),
            addr: addr.into(),
            key: key(cookie),
            shared: Arc::default(),
            task: Mutex::new(None),
        }
    }

    /// Announces and listens on `interface` (an IPv4 address of this machine).
    pub fn with_interface(mut self, interface: Ipv4Addr) -> Self {
        self.interface = interface;
        self
    }

    /// Announces every `interval` (and forgets a node unheard for five of them).
    pub fn with_interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Announcements refused so far (bad signature, stale, malformed).
    pub fn refused(&self) -> u64 {
        self.shared.refused.load(Ordering::Relaxed)
    }

    /// The announcement of node `name` at `addr`, sent at `unix_ms`, signed with `cookie`
    /// (what every node sends; public for tools and tests).
    pub fn announcement(cookie: &str, name: &str, addr: &str, unix_ms: u64) -> Vec<u8> {
        sign(&key(cookie), name, addr, unix_ms)
    }

    /// Opens the socket and starts announcing and listening, once.
    fn start(&self) {
        let mut task = self.task.lock().unwrap_or_else(|e| e.into_inner());
        if task.is_some() {
            return;
        }
        let socket = match self.open() {
            Ok(socket) => socket,
            Err(e) => {
                let reason = format!("multicast {}:{}: {e}", self.group, self.port);
                *self.shared.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
                return;
            }
        };
        let shared = self.shared.clone();
        let (key, me, addr) = (self.key, self.me.clone(), self.addr.clone());
        let to = SocketAddr::new(IpAddr::V4(self.group), self.port);
        let interval = self.interval;
        *task = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let signed = sign(&key, &me, &addr, unix_ms());
                        if let Err(error) = socket.send_to(&signed, to).await {
                            tracing::debug!(%error, "multicast announcement not sent");
                        }
                    }
                    received = socket.recv_from(&mut buf) => {
                        let Ok((n, from)) = received else { continue };
                        match verify(&key, &buf[..n], unix_ms()) {
                            Some((name, _)) if name == me => {}
                            Some((name, peer)) => {
                                tracing::trace!(%name, %peer, %from, "multicast announcement");
                                let mut heard = shared.heard.lock().unwrap_or_else(|e| e.into_inner());
                                heard.insert(peer, Instant::now());
                            }
                            None => {
                                shared.refused.fetch_add(1, Ordering::Relaxed);
                                tracing::debug!(%from, "multicast announcement refused");
                            }
                        }
                    }
                }
            }
        }));
    }

    fn open(&self) -> std::io::Result<UdpSocket> {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, self.port)).into())?;
        socket.join_multicast_v4(&self.group, &self.interface)?;
        socket.set_multicast_if_v4(&self.interface)?;
        socket.set_multicast_loop_v4(true)?;
        socket.set_multicast_ttl_v4(1)?;
        socket.set_nonblocking(true)?;
        UdpSocket::from_std(socket.into())
    }
}

impl Drop for Multicast {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            task.abort();
        }
    }
}

impl Discovery for Multicast {
    fn discover(&self) -> BoxFuture<'_, Result<Vec<String>, DiscoveryError>> {
        self.start();
        Box::pin(async move {
            if let Some(reason) = self
                .shared
                .failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
            {
                return Err(DiscoveryError::Other(reason));
            }
            let keep = self.interval.saturating_mul(5);
            let mut heard = self.shared.heard.lock().unwrap_or_else(|e| e.into_inner());
            heard.retain(|_, at| at.elapsed() < keep);
            Ok(heard.keys().cloned().collect())
        })
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The announcement key: SHA-256 of a label and the cookie (the cookie itself never
/// keys anything but ractor_cluster's handshake).
fn key(cookie: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"ractor-dist multicast announcement v1\0");
    h.update(cookie.as_bytes());
    h.finalize().into()
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

fn sign(key: &[u8; 32], name: &str, addr: &str, unix_ms: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&unix_ms.to_be_bytes());
    for field in [name, addr] {
        out.extend_from_slice(&(field.len().min(255) as u8).to_be_bytes());
        out.extend_from_slice(&field.as_bytes()[..field.len().min(255)]);
    }
    let mac = hmac(key, &out);
    out.extend_from_slice(&mac);
    out
}

/// The name and address of a genuine, fresh announcement.
fn verify(key: &[u8; 32], datagram: &[u8], now_ms: u64) -> Option<(String, String)> {
    let body_len = datagram.len().checked_sub(MAC_LEN)?;
    let (body, mac) = datagram.split_at(body_len);
    let expected = hmac(key, body);
    // Constant time: every byte is compared.
    if expected
        .iter()
        .zip(mac)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        != 0
    {
        return None;
    }
    let rest = body.strip_prefix(MAGIC)?;
    let (&version, rest) = rest.split_first()?;
    if version != VERSION || rest.len() < 8 {
        return None;
    }
    let (sent, mut rest) = rest.split_at(8);
    let sent = u64::from_be_bytes(sent.try_into().ok()?);
    if sent.abs_diff(now_ms) > FRESH_MS {
        return None;
    }
    let mut field = || {
        let (&len, tail) = rest.split_first()?;
        let (value, tail) = tail.split_at_checked(len as usize)?;
        rest = tail;
        String::from_utf8(value.to_vec()).ok()
    };
    let (name, addr) = (field()?, field()?);
    rest.is_empty().then_some((name, addr))
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
        let good = Multicast::announcement("c", "a@h", "10.0.0.1:7100", now);
        let k = key("c");
        assert_eq!(
            verify(&k, &good, now + 5),
            Some(("a@h".into(), "10.0.0.1:7100".into()))
        );
        // Another cookie, a flipped byte, a truncation, a replay past a minute: refused.
        assert_eq!(verify(&key("other"), &good, now), None);
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 1;
            assert_eq!(verify(&k, &bad, now), None, "byte {i}");
        }
        assert_eq!(verify(&k, &good[..good.len() - 1], now), None);
        assert_eq!(verify(&k, &good, now + FRESH_MS + 1), None);
        assert_eq!(verify(&k, &[], now), None);
    }
}
