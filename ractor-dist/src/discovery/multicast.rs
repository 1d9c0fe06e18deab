//! [`Multicast`]: nodes announce themselves on a LAN multicast group (Distable's UDP
//! formation), each announcement signed with a key derived from the cluster cookie.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use super::{BoxFuture, Discovery, DiscoveryError};
use crate::core::announcement::{AnnouncementKey, Heard, MAX_DATAGRAM};
use crate::core::Millis;

/// Nodes announce `name` and dial address on a multicast group and port every `interval`,
/// and dial whoever announced within the last five intervals. Each announcement carries
/// the time it was sent and an HMAC-SHA256 under a key derived from the cluster cookie:
/// a stranger's announcement (another cookie, altered, or older than a minute) is ignored
/// and counted ([`Multicast::refused`]). The cookie still guards every session, so a
/// replayed announcement can at most make a node dial a real member again.
///
/// An IPv4 group (`239.0.0.0/8` is the organisation-local scope) or an IPv6 one (`ff12::/16`
/// link-local, `ff15::/16` site-local; `ff11::/16` interface-local never leaves the
/// machine), hop limit 1 (the local network), looped back so that nodes of one machine hear
/// each other. IPv4 announcements go out of `interface` (the node's host when it is an IPv4
/// literal, else the system's default); IPv6 ones out of the interface numbered
/// `interface_index` (0: the system's default; the loopback interface carries no IPv6
/// multicast on Linux).
#[derive(Debug)]
pub struct Multicast {
    group: IpAddr,
    port: u16,
    interface: Ipv4Addr,
    interface_index: u32,
    interval: Duration,
    me: String,
    addr: String,
    key: AnnouncementKey,
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    /// When this source was made: the origin of the times in `heard`.
    origin: Instant,
    /// Announced dial addresses, with when they were last heard.
    heard: Mutex<Heard>,
    refused: AtomicU64,
    /// Why the socket could not be opened (reported by `discover`).
    failed: Mutex<Option<String>>,
}

impl Multicast {
    /// The node `name` dialed at `addr` announces itself on `group:port` every second,
    /// signing with `cookie` (`group`: an `Ipv4Addr`, an `Ipv6Addr` or an `IpAddr`).
    pub fn new(
        group: impl Into<IpAddr>,
        port: u16,
        name: impl Into<String>,
        addr: impl Into<String>,
        cookie: &str,
    ) -> Self {
        Self {
            group: group.into(),
            port,
            interface: Ipv4Addr::UNSPECIFIED,
            interface_index: 0,
            interval: Duration::from_secs(1),
            me: name.into(),
            addr: addr.into(),
            key: AnnouncementKey::new(cookie),
            shared: Arc::new(Shared {
                origin: Instant::now(),
                heard: Mutex::default(),
                refused: AtomicU64::new(0),
                failed: Mutex::new(None),
            }),
            task: Mutex::new(None),
        }
    }

    /// Announces and listens on `interface` (an IPv4 address of this machine; IPv4 groups).
    pub fn with_interface(mut self, interface: Ipv4Addr) -> Self {
        self.interface = interface;
        self
    }

    /// Announces and listens on the interface numbered `index` (as `ip link` lists them;
    /// IPv6 groups; 0, the default, lets the system choose).
    pub fn with_interface_index(mut self, index: u32) -> Self {
        self.interface_index = index;
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
        AnnouncementKey::new(cookie).sign(name, addr, unix_ms)
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
                let reason = format!("multicast {}: {e}", self.target());
                *self.shared.failed.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
                return;
            }
        };
        let shared = self.shared.clone();
        let (key, me, addr) = (self.key, self.me.clone(), self.addr.clone());
        let to = self.target();
        let interval = self.interval;
        *task = Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            let mut buf = vec![0u8; MAX_DATAGRAM];
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        let signed = key.sign(&me, &addr, unix_ms());
                        if let Err(error) = socket.send_to(&signed, to).await {
                            tracing::debug!(%error, "multicast announcement not sent");
                        }
                    }
                    received = socket.recv_from(&mut buf) => {
                        let Ok((n, from)) = received else { continue };
                        match key.verify(&buf[..n], unix_ms()) {
                            Ok((name, _)) if name == me => {}
                            Ok((name, peer)) => {
                                tracing::trace!(%name, %peer, %from, "multicast announcement");
                                let now = shared.now();
                                let mut heard = shared.heard.lock().unwrap_or_else(|e| e.into_inner());
                                heard.hear(peer, now);
                            }
                            Err(reason) => {
                                shared.refused.fetch_add(1, Ordering::Relaxed);
                                tracing::debug!(%from, %reason, "multicast announcement refused");
                            }
                        }
                    }
                }
            }
        }));
    }

    /// Where announcements go (an IPv6 group out of `interface_index`).
    fn target(&self) -> SocketAddr {
        match self.group {
            IpAddr::V4(group) => SocketAddr::from((group, self.port)),
            IpAddr::V6(group) => {
                SocketAddr::V6(SocketAddrV6::new(group, self.port, 0, self.interface_index))
            }
        }
    }

    fn open(&self) -> std::io::Result<UdpSocket> {
        use socket2::{Domain, Protocol, Socket, Type};
        let domain = match self.group {
            IpAddr::V4(_) => Domain::IPV4,
            IpAddr::V6(_) => Domain::IPV6,
        };
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        match self.group {
            IpAddr::V4(group) => {
                socket.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, self.port)).into())?;
                socket.join_multicast_v4(&group, &self.interface)?;
                socket.set_multicast_if_v4(&self.interface)?;
                socket.set_multicast_loop_v4(true)?;
                socket.set_multicast_ttl_v4(1)?;
            }
            IpAddr::V6(group) => {
                socket.set_only_v6(true)?;
                socket.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, self.port)).into())?;
                socket.join_multicast_v6(&group, self.interface_index)?;
                socket.set_multicast_if_v6(self.interface_index)?;
                socket.set_multicast_loop_v6(true)?;
                socket.set_multicast_hops_v6(1)?;
            }
        }
        socket.set_nonblocking(true)?;
        UdpSocket::from_std(socket.into())
    }
}

impl Shared {
    /// Milliseconds since this source was made.
    fn now(&self) -> Millis {
        Millis(u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX))
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
            let interval_ms = u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX);
            let now = self.shared.now();
            let mut heard = self.shared.heard.lock().unwrap_or_else(|e| e.into_inner());
            Ok(heard.current(now, interval_ms))
        })
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
