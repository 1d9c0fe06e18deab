//! Sessions, hellos, heartbeats, dialing and membership changes.

use std::time::Duration;

use ractor::ActorRef;

use super::{GatewayMsg, SupervisorState};
use crate::core::wire::{self, Frame, FrameBody};
use crate::core::{MembershipEvent, MeshCommand, Millis, NodeName};
use crate::node::shared::Counters;

impl SupervisorState {
    pub(super) fn now(&self) -> Millis {
        Millis(self.started.elapsed().as_millis() as u64)
    }

    pub(super) fn frame(&self, body: FrameBody) -> Vec<u8> {
        wire::encode(&Frame {
            from: self.shared.me.clone(),
            incarnation: self.shared.incarnation,
            body,
        })
    }

    pub(super) fn send_frame(&self, node: &NodeName, body: FrameBody) -> bool {
        match self.gateways.get(node) {
            Some(gw) => gw.cast(GatewayMsg::Frame(self.frame(body))).is_ok(),
            None => false,
        }
    }

    /// Heartbeat timer: deadlines, heartbeats, hello retries and dialing.
    pub(super) async fn tick(&mut self, _myself: &ActorRef<GatewayMsg>) {
        if self.engine.shutting_down {
            return;
        }
        let now = self.now();
        self.engine.mesh.handle_tick(now);
        self.run_mesh().await;
        // The fence may lift; once the view has been quiet (a view change moves many
        // holders at once, and peers may still be settling their handoffs), every replica
        // set is brought up to date.
        if self.recovery_tick().await {
            // Once more, now that every session of the view is established: a registration
            // lost with a replaced session (simultaneous dials after a heal) would leave a
            // duplicate `Stay` copy unnoticed.
            self.register_stays();
        }
        self.engine.handoff.handle_tick(now);
        self.run_handoff().await;
        if self.engine.hold.has_parked() {
            self.release_parked(true).await;
        }
    }

    /// Learns addresses gossiped by a peer.
    pub(super) fn learn_addrs(&mut self, members: &[(NodeName, String)]) {
        let now = self.now();
        self.engine.mesh.learn(members, now);
    }

    /// Rebuilds the gateway map and connection sets from ractor_cluster's sessions and the
    /// gateway process group, and reports peers whose last session closed.
    pub(super) async fn reconcile(&mut self) {
        if self.engine.shutting_down {
            return;
        }
        let sessions = match self.transport.sessions().await {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(%error, "cannot read the sessions");
                return;
            }
        };
        let (connected, gateways) = (sessions.connected, sessions.gateways);
        let fresh: Vec<NodeName> = gateways
            .iter()
            .filter(|(n, gw)| {
                self.gateways
                    .get(*n)
                    .is_none_or(|old| old.get_id() != gw.get_id())
            })
            .map(|(n, _)| n.clone())
            .collect();
        self.gateways = gateways;
        let reachable = self.gateways.keys().cloned().collect();
        let now = self.now();
        self.engine
            .mesh
            .handle_sessions(connected, reachable, &fresh, now);
        if !self.run_mesh().await {
            self.publish_view();
            self.run_handoff().await;
        }
    }

    /// Executes the mesh's commands: hellos, heartbeats, dials, disconnects, membership
    /// events (logged, counted, published) and view changes. Returns true when the view
    /// changed.
    pub(super) async fn run_mesh(&mut self) -> bool {
        let mut changed = false;
        while let Some(command) = self.engine.mesh.poll_command() {
            match command {
                MeshCommand::SendHello { to, reply } => {
                    let hello = self.engine.mesh.membership().me().clone();
                    self.send_frame(&to, FrameBody::Hello { hello, reply });
                }
                MeshCommand::Heartbeat { to, members } => {
                    let frame = self.frame(FrameBody::Heartbeat { members });
                    for peer in to {
                        if let Some(gw) = self.gateways.get(&peer) {
                            let _ = gw.cast(GatewayMsg::Frame(frame.clone()));
                        }
                    }
                }
                MeshCommand::Dial(addr) => self.transport.dial(addr, self.engine.timing.dial()),
                MeshCommand::Disconnect(node) => {
                    Counters::bump(&self.shared.counters.peers_declared_down);
                    tracing::warn!(peer = %node, "peer missed its heartbeat deadline; disconnecting it");
                    self.disconnect(&node).await;
                }
                MeshCommand::Event { event, first } => self.report(event, first),
                MeshCommand::LeaverGone(peer) => {
                    tracing::debug!(%peer, "departed peer disconnected");
                    self.engine.handoff.handle_peer_gone(&peer);
                    self.engine.inbound.handle_peer_gone(&peer);
                    self.engine.routing.handle_peer_gone(&peer);
                    // Names it could not hand off (it crashed while leaving) are lost now.
                    self.offer_orphans();
                }
                MeshCommand::ViewChanged { lost } => {
                    self.on_view_change(&lost).await;
                    changed = true;
                }
            }
        }
        changed
    }

    /// Logs, counts and publishes a membership event.
    fn report(&self, event: MembershipEvent, first: bool) {
        match &event {
            MembershipEvent::Up {
                node,
                incarnation,
                epoch,
            } => {
                tracing::info!(peer = %node, incarnation = %incarnation, epoch = epoch.0, "member up");
            }
            MembershipEvent::Down {
                node,
                incarnation,
                reason,
                epoch,
            } => {
                tracing::info!(peer = %node, incarnation = %incarnation, ?reason, epoch = epoch.0, "member down");
            }
            MembershipEvent::Refused { node, reason } => {
                Counters::bump(&self.shared.counters.refused_peers);
                if reason.contains("protocol version") {
                    Counters::bump(&self.shared.counters.version_mismatches);
                }
                if first {
                    tracing::error!(peer = %node, %reason, "refused peer");
                }
            }
        }
        let _ = self.events.send(event);
    }

    /// Closes every session to `node`.
    async fn disconnect(&mut self, node: &NodeName) {
        self.transport.disconnect(node.clone()).await;
        self.gateways.remove(node);
        self.engine.mesh.handle_disconnected(node);
    }

    pub(super) fn publish_view(&mut self) {
        let view = self.new_view();
        self.shared.set_view(view);
    }

    /// A new membership view: publish it, forget what the departed hosted, hand directory
    /// entries to their new owners and register our names with theirs.
    async fn on_view_change(&mut self, downs: &[NodeName]) {
        for node in downs {
            self.engine.handoff.handle_peer_gone(node);
            self.engine.inbound.handle_peer_gone(node);
        }
        // Names that stay here but are owned elsewhere (`Stay`) are registered with their
        // directory node before this node announces the view, so that the owner knows them
        // before it settles.
        self.register_stays();
        // Respawn offers for the names of lost hosts go out before this node can tell any
        // owner that its handoffs are done, so that owners have them when they settle.
        self.offer_orphans();
        self.start_view().await;
        let view = self.shared.view();
        // Redirects are only good for the view they were made in; directory entries of
        // names no longer owned here, or whose host went down, go.
        self.engine.routing.handle_view_change(downs);
        self.shared.forget_hosts(downs);
        self.publish_routes();
        let pending: Vec<crate::core::ActorKey> = self
            .engine
            .moved_kinds
            .keys()
            .filter(|k| !self.shared.local_send_pending(k))
            .cloned()
            .collect();
        for key in pending {
            self.engine.moved_kinds.remove(&key);
        }
        tracing::info!(
            epoch = view.epoch().0,
            members = ?view.placement().members(),
            "membership view changed"
        );
    }

    /// Registers every `Stay` actor running here with its owner in the current view (its
    /// directory node, which also detects a second copy of it and asks one to yield).
    pub(super) fn register_stays(&self) {
        for (owner, entries) in self.engine.stays_by_owner() {
            for chunk in entries.chunks(4096) {
                self.send_frame(
                    &owner,
                    FrameBody::Register {
                        entries: chunk.to_vec(),
                    },
                );
            }
        }
    }

    /// Announces the departure, stops the hosted actors and leaves the cluster.
    pub(super) async fn shutdown(&mut self, _myself: &ActorRef<GatewayMsg>) {
        self.engine.shutting_down = true;
        self.engine.mesh.handle_stopping();
        let peers: Vec<NodeName> = self.gateways.keys().cloned().collect();
        for peer in &peers {
            self.send_frame(peer, FrameBody::Leaving);
        }
        for child in self.engine.children.values_mut() {
            child.stopping = true;
        }
        self.engine.child_ids.clear();
        let cells: Vec<_> = self
            .shared
            .hosted_mut()
            .drain()
            .map(|(_, e)| e.cell)
            .collect();
        // All at once, each on its own task: their `post_stop`s run side by side, and the
        // whole wait is bounded by one timeout.
        let exits: Vec<_> = cells
            .into_iter()
            .map(|cell| {
                tokio::spawn(async move {
                    let reason = Some("node shutting down".to_string());
                    let _ = cell
                        .stop_and_wait(reason, Some(Duration::from_secs(2)))
                        .await;
                })
            })
            .collect();
        for exit in exits {
            let _ = exit.await;
        }
        // Give the Leaving frames a moment to be written before the sessions close.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
