//! A TCP proxy mesh on 127.0.0.1 that a test can cut, to partition a cluster for real.
//!
//! Every ordered pair of nodes (i, j) gets its own listener; node i is told (with
//! `--dial-via`) to reach node j through it. While the link between i and j is cut, bytes
//! on its connections are swallowed in both directions (the peers see silence, as in a real
//! partition, until their heartbeat deadline), and new connections are closed at once.
//!
//! A link can also lose frames without losing its session: while node i's frames to node j
//! are dropped ([`ProxyMesh::drop_frames`]), the proxy reads ractor_cluster's framing (a
//! big-endian `u64` length, then the payload) and swallows whole frames from i to j, so the
//! stream stays well formed and neither side sees the session close. To ractor-dist's
//! protocol this looks like frames lost with a replaced session (ractor_cluster's own
//! control frames, pings and group updates, are swallowed too, which a real replaced
//! session would resynchronize). Plaintext sessions only: a stream that does not parse as
//! that framing (TLS) is passed on as it comes, and its frames cannot be dropped.
//!
//! Every thread stops by itself when the mesh is dropped.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use anyhow::Result;

struct Shared {
    /// Unordered pairs (low, high) whose link is cut.
    cut: Mutex<BTreeSet<(usize, usize)>>,
    /// Ordered pairs (from, to) whose frames are swallowed whole.
    lossy: Mutex<BTreeSet<(usize, usize)>>,
    /// Frames swallowed on lossy links.
    dropped: AtomicU64,
    stop: AtomicBool,
}

impl Shared {
    fn is_cut(&self, a: usize, b: usize) -> bool {
        let pair = (a.min(b), a.max(b));
        self.cut
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&pair)
    }

    fn is_lossy(&self, from: usize, to: usize) -> bool {
        self.lossy
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&(from, to))
    }
}

/// The proxies between `n` nodes.
pub struct ProxyMesh {
    shared: Arc<Shared>,
    /// `via[i][j]`: the port node i dials to reach node j (0 on the diagonal).
    pub via: Vec<Vec<u16>>,
}

impl ProxyMesh {
    /// Starts a proxy for every ordered pair of `ports` (the nodes' real ports).
    pub fn start(ports: &[u16]) -> Result<ProxyMesh> {
        let shared = Arc::new(Shared {
            cut: Mutex::new(BTreeSet::new()),
            lossy: Mutex::new(BTreeSet::new()),
            dropped: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let n = ports.len();
        let mut via = vec![vec![0u16; n]; n];
        for (i, row) in via.iter_mut().enumerate() {
            for (j, slot) in row.iter_mut().enumerate() {
                if i == j {
                    continue;
                }
                let listener = TcpListener::bind("127.0.0.1:0")?;
                listener.set_nonblocking(true)?;
                *slot = listener.local_addr()?.port();
                let target = ports[j];
                let shared = shared.clone();
                thread::spawn(move || accept_loop(listener, target, i, j, shared));
            }
        }
        Ok(ProxyMesh { shared, via })
    }

    /// The `--dial-via` arguments of node `i`.
    pub fn args_for(&self, i: usize, ports: &[u16]) -> Vec<String> {
        let mut args = Vec::new();
        for (j, port) in ports.iter().enumerate() {
            if i != j {
                args.push("--dial-via".to_string());
                args.push(format!("127.0.0.1:{port}=127.0.0.1:{}", self.via[i][j]));
            }
        }
        args
    }

    /// Cuts every link between a node of `a` and a node of `b`.
    pub fn partition(&self, a: &[usize], b: &[usize]) {
        let mut cut = self.shared.cut.lock().unwrap_or_else(|e| e.into_inner());
        for &x in a {
            for &y in b {
                cut.insert((x.min(y), x.max(y)));
            }
        }
    }

    /// Swallows every whole frame node `from` sends to node `to` from now on, until
    /// [`ProxyMesh::pass_frames`]; the session stays open (see the module docs).
    pub fn drop_frames(&self, from: usize, to: usize) {
        (self.shared.lossy.lock().unwrap_or_else(|e| e.into_inner())).insert((from, to));
    }

    /// Node `from`'s frames reach node `to` again.
    pub fn pass_frames(&self, from: usize, to: usize) {
        (self.shared.lossy.lock().unwrap_or_else(|e| e.into_inner())).remove(&(from, to));
    }

    /// Frames swallowed so far by [`ProxyMesh::drop_frames`].
    pub fn frames_dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Restores every link.
    pub fn heal(&self) {
        self.shared
            .cut
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl Drop for ProxyMesh {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

fn accept_loop(listener: TcpListener, target: u16, i: usize, j: usize, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((inbound, _)) => {
                if shared.is_cut(i, j) {
                    drop(inbound);
                    continue;
                }
                let Ok(outbound) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let _ = inbound.set_nonblocking(false);
                // Once cut, a connection stays silent: a healed link must not resume in the
                // middle of a frame.
                let poisoned = Arc::new(AtomicBool::new(false));
                for (from, to, sender, receiver) in [
                    (inbound.try_clone(), outbound.try_clone(), i, j),
                    (outbound.try_clone(), inbound.try_clone(), j, i),
                ] {
                    if let (Ok(from), Ok(to)) = (from, to) {
                        let shared = shared.clone();
                        let poisoned = poisoned.clone();
                        let link = Link {
                            pair: (i, j),
                            sender,
                            receiver,
                        };
                        thread::spawn(move || pump(from, to, link, shared, poisoned));
                    }
                }
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// The largest frame the proxy parses (ractor_cluster's default inbound limit is 16 MiB):
/// a length above it means the stream is not plaintext framing, and is passed on raw.
const MAX_FRAME: u64 = 64 << 20;

/// One direction of one proxied connection.
struct Link {
    /// The (dialer, dialed) pair the connection belongs to.
    pair: (usize, usize),
    /// The node whose bytes this direction carries, and the one they go to.
    sender: usize,
    receiver: usize,
}

/// Copies bytes from `from` to `to`, one whole ractor_cluster frame at a time, until either
/// closes; swallows them once the link was cut, and swallows whole frames while the
/// sender's frames to the receiver are dropped.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    link: Link,
    shared: Arc<Shared>,
    poisoned: Arc<AtomicBool>,
) {
    let (i, j) = link.pair;
    let _ = from.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = vec![0u8; 64 * 1024];
    // Bytes read but not yet forwarded: the start of a frame not yet complete.
    let mut pending: Vec<u8> = Vec::new();
    // Set once the stream does not look like ractor_cluster's plaintext framing (TLS, or a
    // length no frame has): bytes are passed on as they come, and frames cannot be dropped.
    let mut raw = false;
    'outer: while !shared.stop.load(Ordering::Relaxed) {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if shared.is_cut(i, j) {
                    poisoned.store(true, Ordering::Relaxed);
                }
                if poisoned.load(Ordering::Relaxed) {
                    continue;
                }
                if raw {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    continue;
                }
                pending.extend_from_slice(&buf[..n]);
                let mut start = 0;
                while pending.len() - start >= 8 {
                    let mut len = [0u8; 8];
                    len.copy_from_slice(&pending[start..start + 8]);
                    let len = u64::from_be_bytes(len);
                    if len > MAX_FRAME {
                        raw = true;
                        break;
                    }
                    let end = start + 8 + len as usize;
                    if pending.len() < end {
                        break;
                    }
                    if shared.is_lossy(link.sender, link.receiver) {
                        shared.dropped.fetch_add(1, Ordering::Relaxed);
                    } else if to.write_all(&pending[start..end]).is_err() {
                        break 'outer;
                    }
                    start = end;
                }
                pending.drain(..start);
                if raw && (pending.is_empty() || to.write_all(&pending).is_ok()) {
                    pending = Vec::new();
                } else if raw {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}
