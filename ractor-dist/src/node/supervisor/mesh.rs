//! Sessions, hellos, heartbeats, dialing and membership changes.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ractor::ActorRef;

use super::{SupervisorMsg, SupervisorState};
use crate::core::wire::{self, Frame, FrameBody};
use crate::core::{Millis, NodeName};

impl SupervisorState {
    pub(super) fn now(&self) -> Millis {
        Millis(self.shared.clock.now_ms())
    }

    pub(super) fn frame(&self, body: FrameBody) -> Vec<u8> {
        wire::encode(&Frame {
            from: self.shared.me.clone(),
            incarnation: self.shared.incarnation,
            body,
        })
    }

    pub(super) fn send_frame(&self, node: &NodeName, body: FrameBody) -> bool {
        self.try_send_frame(node, body).is_ok()
    }

    /// As `send_frame`, giving the body back when `node`'s session is gone.
    pub(super) fn try_send_frame(
        &self,
        node: &NodeName,
        body: FrameBody,
    ) -> Result<(), Box<FrameBody>> {
        let Some(gw) = self.supervisors.get(node) else {
            return Err(Box::new(body));
        };
        let frame = Frame {
            from: self.shared.me.clone(),
            incarnation: self.shared.incarnation,
            body,
        };
        match gw.frame(wire::encode(&frame)) {
            Ok(()) => Ok(()),
            Err(_) => Err(Box::new(frame.body)),
        }
    }

    /// Heartbeat timer: deadlines, heartbeats, hello retries and dialing (see
    /// `Engine::handle_tick`).
    pub(super) async fn tick(&mut self, _myself: &ActorRef<SupervisorMsg>) {
        let now = self.now();
        self.engine.handle_tick(now);
        self.tokens.handle_tick();
        self.run_tokens();
        self.passivate_idle();
        self.publish_dial_gauges();
        self.run().await;
        self.shared
            .under_replicated
            .store(self.engine.under_replicated() as u64, Ordering::Relaxed);
    }

    /// Discovery's latest answer (dialed from the next tick on).
    pub(super) fn discovered(&mut self, addrs: BTreeSet<String>, errors: u64) {
        if self.engine.shutting_down {
            return;
        }
        let counters = &self.shared.counters;
        counters.discovery_rounds.fetch_add(1, Ordering::Relaxed);
        counters
            .discovery_errors
            .fetch_add(errors, Ordering::Relaxed);
        if *self.engine.mesh.discovered() != addrs {
            tracing::info!(addrs = ?addrs, "discovered peers changed");
        }
        let now = self.now();
        self.engine.mesh.handle_discovered(addrs, now);
        self.publish_dial_gauges();
    }

    /// The mesh's dial targets and how many of them are known to lead to a node, for
    /// `DistNode::mesh_stats`.
    fn publish_dial_gauges(&self) {
        let counters = &self.shared.counters;
        let mesh = &self.engine.mesh;
        counters
            .discovered
            .store(mesh.discovered().len() as u64, Ordering::Relaxed);
        counters
            .dials_forgotten
            .store(mesh.forgotten(), Ordering::Relaxed);
        counters
            .dial_targets
            .store(mesh.dial_targets() as u64, Ordering::Relaxed);
        counters
            .dials_identified
            .store(mesh.identified().len() as u64, Ordering::Relaxed);
    }

    /// Rebuilds the map of peer supervisors and connection sets from the transport's sessions, and
    /// reports peers whose last session closed.
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
        for (target, node) in &sessions.identified {
            if self.engine.mesh.handle_dial_identified(target, node) {
                tracing::debug!(%target, peer = %node, "dial target identified");
            }
        }
        let counters = &self.shared.counters;
        counters
            .sessions_replaced
            .store(sessions.replaced, Ordering::Relaxed);
        self.publish_dial_gauges();
        // Only supervisors whose session token this node holds are sent to.
        let connected = sessions.connected;
        let plan = self.gateways(&sessions.supervisors, &connected);
        let reachable = self.supervisors.keys().cloned().collect();
        let now = self.now();
        self.engine
            .handle_sessions(connected.into_iter().collect(), reachable, &plan.fresh, now);
        // Hellos that waited for their sender to be reachable.
        for pending in plan.hellos {
            self.hello(pending);
        }
        self.run().await;
    }

    /// Announces the departure, stops the hosted actors and leaves the cluster.
    pub(super) async fn shutdown(&mut self, _myself: &ActorRef<SupervisorMsg>) {
        // The known node set's last change goes to disk before anything stops.
        self.engine.known.persist_dirty();
        self.run().await;
        self.engine.handle_shutdown();
        let peers: Vec<NodeName> = self.supervisors.keys().cloned().collect();
        for peer in &peers {
            self.send_frame(peer, FrameBody::Leaving);
        }
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
