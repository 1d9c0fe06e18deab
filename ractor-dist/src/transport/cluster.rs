//! The ractor_cluster transport: a `NodeServer` over TCP, peers' supervisors found through
//! a process group, session changes from the server's event subscription.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ractor::{ActorId, ActorRef};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{NetworkStream, NodeEventSubscription, NodeServerMessage};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::security::{bump, Security, Tls};
use super::{BoxFuture, Sessions, Transport};
use crate::core::NodeName;
use crate::node::supervisor::SupervisorMsg;

/// The ractor process group every node's supervisor joins; peers find supervisors through it.
// The process group name is part of the wire contract between nodes: it keeps the
// supervisors' old name.
const SUPERVISOR_GROUP: &str = "ractor_dist::gateways";

/// How long a read of the server's sessions may take.
const SESSIONS_TIMEOUT_MS: u64 = 2_000;

/// ractor_cluster's `NodeServer` as a [`Transport`].
pub(crate) struct ClusterTransport {
    server: ActorRef<NodeServerMessage>,
    /// Dial `addr` through another address (a forward or proxy), by `DistConfig::dial_via`.
    dial_via: BTreeMap<String, String>,
    book: Arc<Mutex<DialBook>>,
    security: Arc<Security>,
    /// The accept loops (see `listener`).
    accepting: Mutex<Vec<JoinHandle<()>>>,
}

impl ClusterTransport {
    /// Over `server`, accepting on `listeners` from now on.
    pub(crate) fn new(
        server: ActorRef<NodeServerMessage>,
        dial_via: BTreeMap<String, String>,
        security: Arc<Security>,
        listeners: Vec<TcpListener>,
    ) -> Self {
        let accepting = listeners
            .into_iter()
            .map(|l| security.serve(l, server.clone()))
            .collect();
        Self {
            server,
            dial_via,
            book: Arc::default(),
            security,
            accepting: Mutex::new(accepting),
        }
    }
}

/// What dials and sessions told about who is behind an address. A dial connects to one
/// socket address (the target resolved); the outgoing session on that socket then names
/// its peer. Joined, they say which node a target leads to, however it is spelled.
#[derive(Default)]
struct DialBook {
    /// The targets dialed and not forgotten since: a dial that returns after its target
    /// was forgotten records nothing.
    wanted: BTreeSet<String>,
    /// The socket address each target's last successful dial connected to.
    sockets: BTreeMap<String, String>,
    /// The socket addresses each target resolved to when last dialed.
    resolved: BTreeMap<String, Vec<String>>,
    /// The node each outgoing session's socket address named itself, newest first.
    names: BTreeMap<String, NodeName>,
    /// Authenticated sessions, by session actor, with their peer's name.
    live: HashMap<ActorId, String>,
    /// Live sessions replaced by a newer one to the same peer.
    replaced: u64,
    /// Sessions closed because the peer's certificate does not name it (until they end).
    rejected: std::collections::HashSet<ActorId>,
    /// Told when a finding completes a target's identity.
    supervisor: Option<ActorRef<SupervisorMsg>>,
}

impl DialBook {
    /// The outgoing session `info` named its peer (its socket is the one a dial connected to).
    fn note_name(&mut self, info: &NodeServerSessionInformation) {
        if let (false, Some(peer)) = (info.is_server, &info.peer_name) {
            self.names
                .insert(info.peer_addr.clone(), NodeName::new(peer.name.clone()));
        }
    }

    /// `target` resolved to `sockets` (nothing is recorded for a forgotten target).
    fn resolved_to(&mut self, target: &str, sockets: Vec<String>) {
        if self.wanted.contains(target) {
            self.resolved.insert(target.to_string(), sockets);
        }
    }

    /// A dial of `target` connected to `socket`. Returns true when the session there has
    /// already named itself (the supervisor is to read the sessions again). Nothing is
    /// recorded for a target forgotten while its dial was under way.
    fn connected(&mut self, target: String, socket: String) -> bool {
        if !self.wanted.contains(&target) {
            return false;
        }
        let known = self.names.contains_key(&socket);
        self.sockets.insert(target, socket);
        known
    }

    /// Keeps the names of sockets that a target still leads to (connected or resolved) or
    /// that a live outgoing session uses (`outgoing`): a name noted by a session of a
    /// forgotten target, or of a socket its target no longer resolves to, goes.
    fn prune(&mut self, outgoing: &BTreeSet<String>) {
        let Self {
            names,
            sockets,
            resolved,
            ..
        } = self;
        names.retain(|socket, _| {
            outgoing.contains(socket)
                || sockets.values().any(|s| s == socket)
                || resolved.values().any(|r| r.contains(socket))
        });
    }

    /// `target` is no longer dialed: its resolution and socket go, and the name of a
    /// socket no other target led to (a live outgoing session names it again at the next
    /// read of the sessions, until it ends).
    fn forget_target(&mut self, target: &str) {
        self.wanted.remove(target);
        self.resolved.remove(target);
        if let Some(socket) = self.sockets.remove(target) {
            if !self.sockets.values().any(|s| *s == socket) {
                self.names.remove(&socket);
            }
        }
    }

    /// Which node each target leads to: the node its dial's session named, or else the
    /// connected peer that advertises one of the addresses it resolves to (`connected`:
    /// peers and their advertised addresses).
    fn identified(&self, connected: &[(NodeName, String)]) -> Vec<(String, NodeName)> {
        let mut found = BTreeMap::new();
        for (target, sockets) in &self.resolved {
            if let Some((node, _)) = connected.iter().find(|(_, addr)| sockets.contains(addr)) {
                found.insert(target.clone(), node.clone());
            }
        }
        for (target, socket) in &self.sockets {
            if let Some(node) = self.names.get(socket) {
                found.insert(target.clone(), node.clone());
            }
        }
        found.into_iter().collect()
    }
}

fn lock(book: &Mutex<DialBook>) -> MutexGuard<'_, DialBook> {
    book.lock().unwrap_or_else(|e| e.into_inner())
}

struct SessionEvents {
    supervisor: ActorRef<SupervisorMsg>,
    book: Arc<Mutex<DialBook>>,
    security: Arc<Security>,
}

impl NodeEventSubscription for SessionEvents {
    fn node_session_opened(&self, info: NodeServerSessionInformation) {
        self.security.session_opened(&info);
    }

    fn node_session_disconnected(&self, info: NodeServerSessionInformation) {
        self.security.session_closed(&info);
        {
            let mut book = lock(&self.book);
            book.rejected.remove(&info.actor.get_id());
            book.live.remove(&info.actor.get_id());
            // A session that lost the duplicate-connection election still said who it is.
            book.note_name(&info);
        }
        let _ = self.supervisor.cast(SupervisorMsg::SessionEvent);
    }

    fn node_session_authenticated(&self, info: NodeServerSessionInformation) {
        let name = info.peer_name.as_ref().map(|p| p.name.clone());
        if !self
            .security
            .session_authenticated(&info, name.as_deref().unwrap_or_default())
        {
            lock(&self.book).rejected.insert(info.actor.get_id());
            return;
        }
        {
            let mut book = lock(&self.book);
            book.note_name(&info);
            if let Some(peer) = &info.peer_name {
                // The election stopped any other session to this peer in favour of this one.
                if book.live.values().any(|name| *name == peer.name) {
                    book.replaced += 1;
                    book.live.retain(|_, name| *name != peer.name);
                }
                book.live.insert(info.actor.get_id(), peer.name.clone());
            }
        }
        let _ = self.supervisor.cast(SupervisorMsg::SessionEvent);
    }

    fn node_session_ready(&self, _: NodeServerSessionInformation) {
        let _ = self.supervisor.cast(SupervisorMsg::SessionEvent);
    }
}

/// Connects to the first address `addr` resolves to that accepts, and returns it; notes
/// what `target` (dialed as `addr`) resolved to.
/// Opens a TLS connection to `socket` and hands it to `server` (the peer's certificate is
/// noted, to check against the name it authenticates with).
async fn connect_tls(
    server: &ActorRef<NodeServerMessage>,
    security: &Security,
    tls: &Tls,
    socket: SocketAddr,
) -> Result<(), String> {
    let stream = tokio::net::TcpStream::connect(socket)
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let local = stream.local_addr().map_err(|e| e.to_string())?;
    let stream = match tls.connector.connect(Tls::dial_name(), stream).await {
        Ok(s) => s,
        Err(e) => {
            let n = bump(&security.counters.tls_failures);
            tracing::warn!(%socket, error = %e, count = n, "TLS handshake failed");
            return Err(format!("TLS: {e}"));
        }
    };
    let cert = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.clone().into_owned());
    security.note_cert(socket.to_string(), cert);
    server
        .cast(NodeServerMessage::ConnectionOpened {
            stream: Box::new(NetworkStream::TlsClient {
                peer_addr: socket,
                local_addr: local,
                stream,
            }),
            is_server: false,
        })
        .map_err(|e| e.to_string())
}

async fn connect(
    server: &ActorRef<NodeServerMessage>,
    security: &Security,
    book: &Mutex<DialBook>,
    target: &str,
    addr: &str,
) -> Result<SocketAddr, String> {
    let sockets: Vec<SocketAddr> = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| format!("cannot resolve: {e}"))?
        .collect();
    lock(book).resolved_to(target, sockets.iter().map(ToString::to_string).collect());
    let mut error = "resolves to no address".to_string();
    for socket in sockets {
        let connected = match &security.tls {
            Some(tls) => connect_tls(server, security, tls, socket).await,
            None => ractor_cluster::client_connect(server, socket)
                .await
                .map_err(|e| e.to_string()),
        };
        match connected {
            Ok(()) => return Ok(socket),
            Err(e) => error = format!("{socket}: {e}"),
        }
    }
    Err(error)
}

impl Transport for ClusterTransport {
    fn attach(&self, supervisor: &ActorRef<SupervisorMsg>) -> Result<(), String> {
        // Group changes reach the supervisor as `ProcessGroupChanged` supervision events.
        ractor::pg::join(SUPERVISOR_GROUP.to_string(), vec![supervisor.get_cell()]);
        ractor::pg::monitor(SUPERVISOR_GROUP.to_string(), supervisor.get_cell());
        lock(&self.book).supervisor = Some(supervisor.clone());
        self.server
            .cast(NodeServerMessage::SubscribeToEvents {
                id: "ractor_dist".to_string(),
                subscription: Box::new(SessionEvents {
                    supervisor: supervisor.clone(),
                    book: self.book.clone(),
                    security: self.security.clone(),
                }),
            })
            .map_err(|e| format!("cannot subscribe to session events: {e}"))
    }

    fn sessions(&self) -> BoxFuture<'_, Result<Sessions, String>> {
        Box::pin(async move {
            let sessions = ractor::call_t!(
                self.server,
                NodeServerMessage::GetSessions,
                SESSIONS_TIMEOUT_MS
            )
            .map_err(|e| format!("cannot read sessions from the NodeServer: {e}"))?;
            let mut by_id: HashMap<u64, NodeName> = HashMap::new();
            let mut out = Sessions::default();
            {
                let mut book = lock(&self.book);
                let outgoing: BTreeSet<String> = sessions
                    .values()
                    .filter(|info| !info.is_server)
                    .map(|info| info.peer_addr.clone())
                    .collect();
                book.prune(&outgoing);
                for (id, info) in &sessions {
                    if book.rejected.contains(&info.actor.get_id()) {
                        continue;
                    }
                    if let Some(peer) = &info.peer_name {
                        let name = NodeName::new(peer.name.clone());
                        by_id.insert(*id, name.clone());
                        out.connected.push((name, peer.connection_string.clone()));
                        book.note_name(info);
                    }
                }
                out.identified = book.identified(&out.connected);
                out.replaced = book.replaced;
            }
            for cell in ractor::pg::get_members(&SUPERVISOR_GROUP.to_string()) {
                if let ActorId::Remote { node_id, .. } = cell.get_id() {
                    if let Some(name) = by_id.get(&node_id) {
                        out.supervisors.insert(name.clone(), cell.into());
                    }
                }
            }
            Ok(out)
        })
    }

    fn dial(&self, target: String, timeout: Duration) {
        let server = self.server.clone();
        let book = self.book.clone();
        let security = self.security.clone();
        // Through a forward or proxy when configured; the session still knows the peer by
        // the address it advertises.
        let addr = self
            .dial_via
            .get(&target)
            .cloned()
            .unwrap_or(target.clone());
        tracing::trace!(%addr, "dialing");
        lock(&book).wanted.insert(target.clone());
        tokio::spawn(async move {
            let connecting = connect(&server, &security, &book, &target, &addr);
            match tokio::time::timeout(timeout, connecting).await {
                Ok(Ok(socket)) => {
                    tracing::debug!(%addr, %socket, "connected");
                    let mut book = lock(&book);
                    if book.connected(target, socket.to_string()) {
                        // The session named itself before this dial returned.
                        if let Some(supervisor) = &book.supervisor {
                            let _ = supervisor.cast(SupervisorMsg::SessionEvent);
                        }
                    }
                }
                Ok(Err(e)) => tracing::debug!(%addr, error = %e, "dial failed"),
                Err(_) => tracing::debug!(%addr, "dial timed out"),
            }
        });
    }

    fn disconnect(&self, node: NodeName) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let Ok(sessions) = ractor::call_t!(
                self.server,
                NodeServerMessage::GetSessions,
                SESSIONS_TIMEOUT_MS
            ) else {
                return;
            };
            for info in sessions.values() {
                if info
                    .peer_name
                    .as_ref()
                    .is_some_and(|p| p.name == node.as_str())
                {
                    info.actor
                        .stop(Some("ractor-dist: heartbeat deadline missed".to_string()));
                }
            }
        })
    }

    fn forget_target(&self, target: &str) {
        lock(&self.book).forget_target(target);
    }

    fn footprint(&self, f: &mut crate::core::Footprint) {
        {
            let book = self.book.lock().unwrap_or_else(|e| e.into_inner());
            f.add(
                "transport.dial_book",
                book.wanted.len() + book.sockets.len() + book.resolved.len() + book.names.len(),
            );
            f.add("transport.sessions", book.live.len() + book.rejected.len());
        }
        self.security.footprint(f);
    }

    fn stop(&self) {
        for task in self
            .accepting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
        self.server
            .stop(Some("ractor-dist node stopped".to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_identified_by_its_session_or_by_the_address_it_resolves_to() {
        let mut book = DialBook::default();
        let b = NodeName::new("b@127.0.0.1");
        let c = NodeName::new("c@svc");
        // "localhost:7101" resolved to the address b advertises.
        book.resolved
            .insert("localhost:7101".into(), vec!["127.0.0.1:7101".into()]);
        // "svc:7100" was dialed at 10.0.0.5:7100, whose session named itself c (c
        // advertises a host name, so resolution alone would not tell).
        book.resolved
            .insert("svc:7100".into(), vec!["10.0.0.5:7100".into()]);
        book.sockets
            .insert("svc:7100".into(), "10.0.0.5:7100".into());
        book.names.insert("10.0.0.5:7100".into(), c.clone());
        // Nothing known of a target that resolved to an address nobody advertises.
        book.resolved
            .insert("dead:1".into(), vec!["10.9.9.9:1".into()]);
        let connected = vec![
            (b.clone(), "127.0.0.1:7101".to_string()),
            (c.clone(), "svc-0.svc:7100".to_string()),
        ];
        assert_eq!(
            book.identified(&connected),
            vec![
                ("localhost:7101".to_string(), b),
                ("svc:7100".to_string(), c.clone())
            ]
        );
        // Targets no longer dialed are forgotten, with the name of a socket only they led
        // to; one another target shares keeps its name.
        book.sockets
            .insert("10.0.0.5:7100".into(), "10.0.0.5:7100".into());
        book.forget_target("svc:7100");
        book.forget_target("dead:1");
        assert_eq!(book.names.get("10.0.0.5:7100"), Some(&c));
        book.forget_target("10.0.0.5:7100");
        book.forget_target("localhost:7101");
        assert!(book.sockets.is_empty() && book.resolved.is_empty() && book.names.is_empty());
        assert!(book.identified(&connected).is_empty());
    }

    /// Review finding: the book refilled after a target was forgotten (a dial returning
    /// late, a session of a removed node naming itself again, a target that moved to
    /// another address leaving the old socket's name behind).
    #[test]
    fn the_book_keeps_nothing_of_forgotten_targets_or_old_addresses() {
        let mut book = DialBook::default();
        let b = NodeName::new("b");
        // A dial under way when its target is forgotten records nothing when it returns.
        book.wanted.insert("old:1".into());
        book.forget_target("old:1");
        book.resolved_to("old:1", vec!["10.0.0.1:1".into()]);
        assert!(!book.connected("old:1".into(), "10.0.0.1:1".into()));
        assert!(book.resolved.is_empty() && book.sockets.is_empty());

        // "svc:7100" led to 10.0.0.5, then (the pod moved) to 10.0.0.6: the old socket's
        // name goes once no session uses it.
        book.wanted.insert("svc:7100".into());
        book.resolved_to("svc:7100", vec!["10.0.0.5:7100".into()]);
        book.connected("svc:7100".into(), "10.0.0.5:7100".into());
        book.names.insert("10.0.0.5:7100".into(), b.clone());
        book.resolved_to("svc:7100", vec!["10.0.0.6:7100".into()]);
        assert!(!book.connected("svc:7100".into(), "10.0.0.6:7100".into()));
        book.names.insert("10.0.0.6:7100".into(), b.clone());
        book.prune(&BTreeSet::from(["10.0.0.5:7100".to_string()]));
        assert_eq!(
            book.names.len(),
            2,
            "a live session still uses the old socket"
        );
        book.prune(&BTreeSet::new());
        assert_eq!(book.names.keys().collect::<Vec<_>>(), vec!["10.0.0.6:7100"]);

        // The target is forgotten (its node was removed) while its session lives: the
        // session names itself again (at a read of the sessions, and when it closes) and
        // the name goes at the first read once it has ended.
        book.forget_target("svc:7100");
        book.names.insert("10.0.0.6:7100".into(), b.clone());
        book.prune(&BTreeSet::from(["10.0.0.6:7100".to_string()]));
        assert_eq!(book.names.len(), 1);
        book.prune(&BTreeSet::new());
        assert!(book.names.is_empty() && book.wanted.is_empty());
        assert!(book.sockets.is_empty() && book.resolved.is_empty());
    }
}
