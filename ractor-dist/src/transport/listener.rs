//! The node's own listener, in front of ractor_cluster's `NodeServer`.
//!
//! ractor_cluster's listener binds every interface when it is given no IP, performs TLS
//! handshakes one after another on its accept loop (one silent client stalls every accept),
//! and leaves a session that never authenticates open forever. So a node accepts itself:
//!
//! - it listens on the addresses its `host` is (an IP literal, or every address a host name
//!   resolves to: never every interface because of a name);
//! - a connection accepted while `max_pending_connections` others are still opening is
//!   closed at once;
//! - each connection's TLS handshake runs on its own task within `handshake_timeout`;
//! - the opened stream goes to the `NodeServer`, and a session that has not authenticated
//!   `handshake_timeout` after it opened (a client that connects and sends nothing, or
//!   stops mid-challenge) is closed.
//!
//! Each refusal is counted in [`crate::SecurityStats`]. The `NodeServer` itself listens
//! only on an ephemeral loopback port that nothing dials (it always starts a listener).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use ractor::{ActorId, ActorRef};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{NetworkStream, NodeServerMessage};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::security::{bump, Security};
use crate::core::config::DistConfig;

/// Sessions still opening and incoming connections counted as pending, shared by the
/// accept loops and the session events.
#[derive(Default)]
pub(crate) struct Opening {
    /// Session actors not authenticated yet.
    sessions: HashSet<ActorId>,
    /// Peer addresses of incoming connections counted in `Security::pending`.
    incoming: HashSet<String>,
}

impl Opening {
    pub(crate) fn footprint(&self, f: &mut crate::core::Footprint) {
        f.add(
            "transport.opening",
            self.sessions.len() + self.incoming.len(),
        );
    }
}

fn lock(m: &Mutex<Opening>) -> std::sync::MutexGuard<'_, Opening> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The IP addresses to listen on: `config.listen` when set, else those `config.host` stands
/// for (itself when it is an IP literal, else every address it resolves to).
///
/// # Errors
///
/// When the name resolves to nothing.
pub(crate) async fn listen_ips(config: &DistConfig) -> Result<Vec<IpAddr>, String> {
    if let Some(ip) = config.listen_ip() {
        return Ok(vec![ip]);
    }
    let mut ips: Vec<IpAddr> = tokio::net::lookup_host((config.host.as_str(), config.port))
        .await
        .map_err(|e| format!("cannot resolve host {}: {e}", config.host))?
        .map(|a| a.ip())
        .collect();
    ips.sort();
    ips.dedup();
    if ips.is_empty() {
        return Err(format!("host {} resolves to no address", config.host));
    }
    Ok(ips)
}

/// Binds `port` on each of `ips` that can be bound.
///
/// # Errors
///
/// When none can.
pub(crate) async fn bind(ips: &[IpAddr], port: u16) -> Result<Vec<TcpListener>, String> {
    let mut listeners = Vec::new();
    let mut errors = Vec::new();
    for ip in ips {
        let addr = SocketAddr::new(*ip, port);
        match TcpListener::bind(addr).await {
            Ok(listener) => listeners.push(listener),
            Err(e) => errors.push(format!("cannot listen on {addr}: {e}")),
        }
    }
    // A name may resolve to an address this machine cannot bind (an IPv6 address without
    // IPv6): the others do.
    if listeners.is_empty() {
        return Err(errors.join("; "));
    }
    for error in errors {
        tracing::warn!(%error, "one of the host's addresses cannot be bound");
    }
    Ok(listeners)
}

impl Security {
    /// Accepts connections on `listener` until the task is aborted, handing each opened
    /// stream to `server` (see the module docs).
    pub(crate) fn serve(
        self: &Arc<Self>,
        listener: TcpListener,
        server: ActorRef<NodeServerMessage>,
    ) -> JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, addr)) => this.accepted(stream, addr, &server),
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        // Out of file descriptors, typically: let some close.
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    }
                }
            }
        })
    }

    fn accepted(
        self: &Arc<Self>,
        stream: TcpStream,
        addr: SocketAddr,
        server: &ActorRef<NodeServerMessage>,
    ) {
        let peer = addr.to_string();
        {
            let mut opening = lock(&self.opening);
            if self.pending.load(Ordering::Relaxed) >= self.max_pending {
                drop(opening);
                let n = bump(&self.counters.connections_over_cap);
                if n <= 10 || n % 1000 == 0 {
                    tracing::warn!(%peer, count = n, "connection closed: too many connections still opening");
                }
                return;
            }
            opening.incoming.insert(peer.clone());
            self.pending.fetch_add(1, Ordering::Relaxed);
            self.publish_pending();
        }
        let _ = stream.set_nodelay(true);
        let this = self.clone();
        let server = server.clone();
        tokio::spawn(async move {
            let Ok(local) = stream.local_addr() else {
                return this.release(&peer);
            };
            let stream = match &this.tls {
                None => NetworkStream::Raw {
                    peer_addr: addr,
                    local_addr: local,
                    stream,
                },
                Some(tls) => {
                    match tokio::time::timeout(this.handshake_timeout, tls.acceptor.accept(stream))
                        .await
                    {
                        Ok(Ok(stream)) => {
                            let cert = stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|c| c.clone().into_owned());
                            this.note_cert(peer.clone(), cert);
                            NetworkStream::TlsServer {
                                peer_addr: addr,
                                local_addr: local,
                                stream,
                            }
                        }
                        Ok(Err(e)) => {
                            let n = bump(&this.counters.tls_failures);
                            if n <= 10 || n % 1000 == 0 {
                                tracing::warn!(%peer, error = %e, count = n, "TLS handshake failed");
                            }
                            return this.release(&peer);
                        }
                        Err(_) => {
                            let n = bump(&this.counters.handshake_timeouts);
                            if n <= 10 || n % 1000 == 0 {
                                tracing::warn!(%peer, count = n, "TLS handshake timed out");
                            }
                            return this.release(&peer);
                        }
                    }
                }
            };
            let opened = NodeServerMessage::ConnectionOpened {
                stream: Box::new(stream),
                is_server: true,
            };
            if server.cast(opened).is_err() {
                this.release(&peer);
            }
        });
    }

    /// The incoming connection from `peer` stopped opening (it authenticated or closed).
    fn release(&self, peer: &str) {
        if lock(&self.opening).incoming.remove(peer) {
            self.pending.fetch_sub(1, Ordering::Relaxed);
            self.publish_pending();
        }
    }

    fn publish_pending(&self) {
        self.counters.pending.store(
            self.pending.load(Ordering::Relaxed) as u64,
            Ordering::Relaxed,
        );
    }

    /// A session opened (before authentication): closed if it has not authenticated
    /// within the handshake timeout.
    pub(crate) fn session_opened(self: &Arc<Self>, info: &NodeServerSessionInformation) {
        let id = info.actor.get_id();
        lock(&self.opening).sessions.insert(id);
        let this = self.clone();
        let actor = info.actor.clone();
        let peer = info.peer_addr.clone();
        tokio::spawn(async move {
            tokio::time::sleep(this.handshake_timeout).await;
            if lock(&this.opening).sessions.remove(&id) {
                let n = bump(&this.counters.handshake_timeouts);
                if n <= 10 || n % 1000 == 0 {
                    tracing::warn!(%peer, count = n, "session closed: not authenticated within the handshake timeout");
                }
                actor.stop(Some("ractor-dist: handshake timeout".to_string()));
                this.release(&peer);
            }
        });
    }

    /// A session authenticated as `node`: returns whether it is kept (see
    /// [`Security::admit_session`]); one that is not is closed.
    pub(crate) fn session_authenticated(
        &self,
        info: &NodeServerSessionInformation,
        node: &str,
    ) -> bool {
        lock(&self.opening).sessions.remove(&info.actor.get_id());
        self.release(&info.peer_addr);
        let ok = self.admit_session(&info.peer_addr, node);
        if !ok {
            info.actor.stop(Some(
                "ractor-dist: certificate does not name the peer".to_string(),
            ));
        }
        ok
    }

    /// A session closed.
    pub(crate) fn session_closed(&self, info: &NodeServerSessionInformation) {
        lock(&self.opening).sessions.remove(&info.actor.get_id());
        self.release(&info.peer_addr);
        self.forget(&info.peer_addr);
    }
}
