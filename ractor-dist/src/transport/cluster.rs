//! The ractor_cluster transport: a `NodeServer` over TCP, peers' supervisors found through
//! a process group, session changes from the server's event subscription.

use std::collections::HashMap;
use std::time::Duration;

use ractor::{ActorId, ActorRef};
use ractor_cluster::node::NodeServerSessionInformation;
use ractor_cluster::{NodeEventSubscription, NodeServerMessage};

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
    dial_via: std::collections::BTreeMap<String, String>,
}

impl ClusterTransport {
    pub(crate) fn new(
        server: ActorRef<NodeServerMessage>,
        dial_via: std::collections::BTreeMap<String, String>,
    ) -> Self {
        Self { server, dial_via }
    }
}

struct SessionEvents(ActorRef<SupervisorMsg>);

impl NodeEventSubscription for SessionEvents {
    fn node_session_opened(&self, _: NodeServerSessionInformation) {}

    fn node_session_disconnected(&self, _: NodeServerSessionInformation) {
        let _ = self.0.cast(SupervisorMsg::SessionEvent);
    }

    fn node_session_authenticated(&self, _: NodeServerSessionInformation) {
        let _ = self.0.cast(SupervisorMsg::SessionEvent);
    }

    fn node_session_ready(&self, _: NodeServerSessionInformation) {
        let _ = self.0.cast(SupervisorMsg::SessionEvent);
    }
}

impl Transport for ClusterTransport {
    fn attach(&self, supervisor: &ActorRef<SupervisorMsg>) -> Result<(), String> {
        // Group changes reach the supervisor as `ProcessGroupChanged` supervision events.
        ractor::pg::join(SUPERVISOR_GROUP.to_string(), vec![supervisor.get_cell()]);
        ractor::pg::monitor(SUPERVISOR_GROUP.to_string(), supervisor.get_cell());
        self.server
            .cast(NodeServerMessage::SubscribeToEvents {
                id: "ractor_dist".to_string(),
                subscription: Box::new(SessionEvents(supervisor.clone())),
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
            for (id, info) in &sessions {
                if let Some(peer) = &info.peer_name {
                    let name = NodeName::new(peer.name.clone());
                    by_id.insert(*id, name.clone());
                    out.connected.push((name, peer.connection_string.clone()));
                }
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

    fn dial(&self, addr: String, timeout: Duration) {
        let server = self.server.clone();
        // Through a forward or proxy when configured; the session still knows the peer by
        // the address it advertises.
        let addr = self.dial_via.get(&addr).cloned().unwrap_or(addr);
        tracing::trace!(%addr, "dialing");
        tokio::spawn(async move {
            let attempt = ractor_cluster::client_connect(&server, addr.as_str());
            match tokio::time::timeout(timeout, attempt).await {
                Ok(Ok(())) => tracing::debug!(%addr, "connected"),
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

    fn stop(&self) {
        self.server
            .stop(Some("ractor-dist node stopped".to_string()));
    }
}
